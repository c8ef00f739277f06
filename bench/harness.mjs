/**
 * What every benchmark shares: a synthetic body, a sink that counts, bounded parallelism, medians,
 * and running one case in a child process (so its peak RSS is its own): a Node script that reports
 * JSON (runJsonChild), or any command timed whole under GNU time (timedProcess).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";

export const MiB = 1024 * 1024;

// The project runs its scripts on its own Node (node_modules/.bin/node, ≥ 22: `npm run bench` puts
// it first on PATH). A bench started with an older system `node` measures another program (no
// compile cache: a no-change collectstatic took 0.137 s on Node 20 against 0.097 s on 24), so say
// so before any figure is taken for a result.
if (Number(process.versions.node.split(".")[0]) < 22) {
  process.stderr.write(
    `bench: running on Node ${process.version}, not the project's Node (≥ 22): run it through \`npm run bench\` or with node_modules/.bin first on PATH, or these figures will not compare with the recorded ones.\n`,
  );
}

let setAside = 0;
/**
 * Moves a previous case's output into `trash` (a folder on the same filesystem, removed by the
 * caller once the run is over) instead of deleting it between timed runs. ext4 will not reuse an
 * inode freed in the last ~30 s and checks each one it passes over (recently_deleted in
 * ext4_create, seen with perf): deleting 4,000 files before each case made every file creation of
 * the next runs slower and slower, for whichever case came next (collectstatic fresh: 0.8 s of
 * system time → 4 s over ten runs, for Django and ours alike).
 */
export async function discard(path, trash) {
  await mkdir(trash, { recursive: true });
  try {
    await rename(path, join(trash, `${process.pid}-${setAside++}`));
  } catch (error) {
    if (error.code !== "ENOENT") throw error;
  }
}

/** `dir`, empty: what was there set aside into `trash` (see discard). */
export async function emptyFolder(dir, trash) {
  await discard(dir, trash);
  await mkdir(dir, { recursive: true });
  return dir;
}

/** A stream of `bytes` bytes of unknown length (no size hint), repeating one random MiB. */
export function source(bytes) {
  const chunk = randomBytes(MiB);
  let sent = 0;
  return new Readable({
    highWaterMark: MiB,
    read() {
      if (sent >= bytes) return this.push(null);
      const n = Math.min(MiB, bytes - sent);
      sent += n;
      this.push(n === MiB ? chunk : chunk.subarray(0, n));
    },
  });
}

/** Reads a stream to the end, keeping nothing; resolves with the byte count. */
export async function drain(stream) {
  let total = 0;
  await pipeline(
    stream,
    new Writable({
      write(chunk, _encoding, callback) {
        total += chunk.length;
        callback();
      },
    }),
  );
  return total;
}

/** Runs task(0 … count-1) with at most `limit` in flight. */
export async function inParallel(count, limit, task) {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** How long a child may linger after printing its result before it is killed. */
const EXIT_GRACE_MS = 10_000;

/**
 * Runs `script` with `args` in a child process and resolves with the JSON object on the last line
 * of its stdout; rejects when it exits non-zero or prints nothing within `timeoutMs`.
 *
 * A child that has printed its result but does not exit is killed after a grace period and its
 * result kept: on this VM a Node process occasionally deadlocks in its own exit teardown (main
 * thread parked on a futex after `process.exit`, seen about once in 20 runs of the 1 GiB fs cases),
 * and that must not hang a whole benchmark run.
 */
export function runJsonChild(
  script,
  args,
  { env = process.env, label = args.join(" "), timeoutMs = 15 * 60_000 } = {},
) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [script, ...args], { env, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    let result;
    let graceTimer;
    const deadline = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`${label} printed no result within ${timeoutMs / 1000} s; killed`));
    }, timeoutMs);
    proc.stdout.on("data", (d) => {
      out += d;
      if (result !== undefined || !out.endsWith("\n")) return;
      try {
        result = JSON.parse(out.trim().split("\n").at(-1));
      } catch {
        return; // not a result line yet
      }
      clearTimeout(deadline);
      graceTimer = setTimeout(() => {
        console.error(
          `  (${label}: printed its result but did not exit within ${EXIT_GRACE_MS / 1000} s; killed)`,
        );
        proc.kill("SIGKILL");
      }, EXIT_GRACE_MS);
    });
    proc.on("exit", (code, signal) => {
      clearTimeout(deadline);
      clearTimeout(graceTimer);
      if (result !== undefined && (code === 0 || signal === "SIGKILL")) return resolve(result);
      if (code !== 0) return reject(new Error(`${label} exited with ${code ?? signal}`));
      try {
        resolve(JSON.parse(out.trim().split("\n").at(-1)));
      } catch {
        reject(new Error(`${label} printed no JSON result`));
      }
    });
  });
}

let timedRuns = 0;

/**
 * Runs one command to its end under GNU time (/usr/bin/time, Debian's package `time`), the way the
 * peers (rclone, Django's manage.py) and our CLI are compared: wall time from spawn to exit
 * (performance.now(): time's own %e has 10 ms steps, too coarse for a no-change run), CPU time
 * (user + system: what a loaded machine distorts least), peak RSS in MiB, and stdout when asked.
 * Rejects when the command exits non-zero, with the end of its stderr.
 */
export function timedProcess(command, args, { env = {}, cwd, stdout = false } = {}) {
  // Debian's package, not the repository's: say so, instead of a spawn ENOENT.
  if (!existsSync("/usr/bin/time"))
    return Promise.reject(
      new Error("/usr/bin/time is missing: the benchmarks need GNU time (apt-get install time)."),
    );
  const report = join(tmpdir(), `storages-bench-time-${process.pid}-${timedRuns++}.txt`);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn("/usr/bin/time", ["-f", "%U %S %M", "-o", report, command, ...args], {
      env: { ...process.env, ...env },
      cwd,
      stdio: ["ignore", stdout ? "pipe" : "ignore", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout?.on("data", (chunk) => {
      out += chunk;
    });
    child.stderr.on("data", (chunk) => {
      err += chunk;
    });
    child.on("error", reject);
    child.on("exit", async (code) => {
      const seconds = (performance.now() - started) / 1000;
      try {
        if (code !== 0) throw new Error(`${command} ${args.join(" ")} exited ${code}: ${err.slice(-2000)}`);
        // The last line: a command's own stderr may come first when time writes to a file.
        const [user, system, kb] = (await readFile(report, "utf8")).trim().split(/\s+/).slice(-3).map(Number);
        resolve({ seconds, cpuSeconds: user + system, rssMiB: kb / 1024, stdout: out });
      } catch (error) {
        reject(error);
      } finally {
        await rm(report, { force: true });
      }
    });
  });
}
