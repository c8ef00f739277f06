/**
 * What every server script needs to manage a background server: waiting, checking a pid, probing a
 * port, and the end of a log for error messages; and what the test runner needs to find and stop
 * whatever a run left behind.
 */
import { readdirSync, readFileSync } from "node:fs";
import { createConnection } from "node:net";

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The process exists (signal 0 checks without sending anything). */
export function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Something accepts TCP connections on 127.0.0.1:port within a second. */
export function tcpListening(port, host = "127.0.0.1") {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    socket.setTimeout(1000);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(false));
  });
}

/** The last 20 lines of a log file, for an error message; "(no log)" when there is none. */
export function logTail(file) {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-20).join("\n");
  } catch {
    return "(no log)";
  }
}

/**
 * Processes whose environment holds `name=value`, this one excepted: every descendant of a run that
 * set the variable, even those that were orphaned (reparented) or detached into their own process
 * group. Reads /proc; elsewhere it finds nothing.
 */
export function processesWithEnv(name, value) {
  const needle = `${name}=${value}`;
  const found = [];
  let entries = [];
  try {
    entries = readdirSync("/proc");
  } catch {
    return found;
  }
  for (const entry of entries) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (!readFileSync(`/proc/${pid}/environ`, "latin1").split("\0").includes(needle)) continue;
      const command = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
      // A zombie has exited already: it holds no resources and its parent reaps it.
      if (/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"))) continue;
      found.push({ pid, command });
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/** SIGTERM, then SIGKILL after `graceMs` for whatever is still alive. */
export async function terminate(pids, graceMs = 3000) {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGTERM");
    } catch {}
  }
  const deadline = Date.now() + graceMs;
  while (pids.some(isAlive) && Date.now() < deadline) await sleep(50);
  for (const pid of pids.filter(isAlive)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  }
}
