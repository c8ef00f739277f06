/**
 * What every server script needs to manage a background server: waiting, checking a pid, probing a
 * port, and the end of a log for error messages.
 */
import { readFileSync } from "node:fs";
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
