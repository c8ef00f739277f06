/**
 * Runs the real `storages` binary as a child process — the workspace's node_modules/.bin/storages,
 * what `npx storages` runs in this repository — with an environment of the test's choosing
 * (nothing leaks in from the runner's STORAGES_* variables).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";

export const ROOT = join(import.meta.dirname, "..", "..", "..");
export const BIN = join(ROOT, "node_modules", ".bin", "storages");

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout as one JSON document (tests check its shape with expect). */
  // biome-ignore lint/suspicious/noExplicitAny: parsed JSON, checked by each test.
  json<T = any>(): T;
  /** stdout as NDJSON. */
  // biome-ignore lint/suspicious/noExplicitAny: parsed JSON, checked by each test.
  lines<T = any>(): T[];
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Written to stdin, then closed (default: stdin closed at once). */
  input?: string | Buffer;
}

export function baseEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string> = {
    PATH: `${dirname(process.execPath)}:${process.env.PATH ?? "/usr/bin:/bin"}`,
    HOME: process.env.HOME ?? "/tmp",
    TMPDIR: process.env.TMPDIR ?? "/tmp",
  };
  // The runner's marker, so the test runner can find anything a test left running.
  if (process.env.STORAGES_TEST_RUN) env.STORAGES_TEST_RUN = process.env.STORAGES_TEST_RUN;
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

/** What a child printed and how it ended, once it has (for children spawned by a test itself). */
export function finished(child: ChildProcess): Promise<Run> {
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => (stdout += d));
  child.stderr?.on("data", (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) =>
      resolve({
        code,
        signal,
        stdout,
        stderr,
        json: () => {
          try {
            return JSON.parse(stdout);
          } catch {
            throw new Error(`stdout is not one JSON document:\n${stdout}\nstderr:\n${stderr}`);
          }
        },
        lines: () =>
          stdout
            .split("\n")
            .filter((l) => l !== "")
            .map((l) => JSON.parse(l)),
      }),
    );
  });
}

export function spawnCli(args: string[], options: RunOptions = {}): ChildProcess {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm install at the repository root.`);
  // `-qec` runs the binary under `script`, which gives it a terminal (see the progress test).
  const [command, argv] = args[0] === "-qec" ? ["script", args] : [BIN, args];
  return spawn(command, argv, {
    cwd: options.cwd ?? ROOT,
    env: options.env ?? baseEnv(),
    stdio: ["pipe", "pipe", "pipe"],
  });
}

export async function cli(args: string[], options: RunOptions = {}): Promise<Run> {
  const child = spawnCli(args, options);
  const done = finished(child);
  child.stdin!.on("error", () => {});
  child.stdin!.end(options.input ?? "");
  return done;
}

/** A child and the promise of its end, for tests that interact with it while it runs. */
export function start(args: string[], options: RunOptions = {}): { child: ChildProcess; done: Promise<Run> } {
  const child = spawnCli(args, options);
  child.stdin!.on("error", () => {});
  return { child, done: finished(child) };
}

/** Feeds a child's stdin slowly — `chunk` at a time with a pause — until `total` bytes went through. */
export async function writeSlowly(
  child: ChildProcess,
  total: number,
  chunk: Buffer,
  pauseMs: number,
): Promise<void> {
  let sent = 0;
  while (sent < total) {
    if (!child.stdin!.write(chunk)) await new Promise((resolve) => child.stdin!.once("drain", resolve));
    sent += chunk.length;
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
}

/** Resolves once a child's stderr has shown `text` (a --verbose note: the command is under way). */
export function stderrShows(child: ChildProcess, text: string): Promise<void> {
  return new Promise<void>((resolve) =>
    child.stderr!.on("data", (d: Buffer) => {
      if (d.toString().includes(text)) resolve();
    }),
  );
}

/** A folder of `count` files f00.bin, f01.bin… of `size` random bytes each (a transfer to interrupt). */
export async function writeTree(folder: string, count: number, size: number): Promise<void> {
  await mkdir(folder);
  for (let i = 0; i < count; i++)
    await writeFile(`${folder}/f${String(i).padStart(2, "0")}.bin`, randomBytes(size));
}
