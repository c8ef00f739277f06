/**
 * Crash safety with a real process: a writer saving version after version of the same names is
 * killed with SIGKILL at a random point, several times. After every kill, each name holds one
 * complete version — the last one the writer confirmed or the one it was writing — never a torn
 * or mixed one, and a checksum, when the listing or stat() gives one, is that version's. The next
 * driver to start on the root removes the temporary files the killed writer left.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { fsStorage } from "../src/index.js";
import { versionOf, versionSize } from "./fixtures/versions.js";
import { tempDir } from "./helpers.js";

const fixtures = fileURLToPath(new URL("./fixtures/", import.meta.url));
const KILLS = 8;

const dir = await tempDir("storages-crash-");
afterAll(() => dir.cleanup());

/** Starts the writer; resolves once it has confirmed `saves` saves, with the last version confirmed. */
function startWriter(root: string): {
  child: ChildProcess;
  confirmed: () => number;
  ready: (saves: number) => Promise<void>;
} {
  const child = spawn(
    process.execPath,
    [
      "--experimental-transform-types",
      "--no-warnings",
      "--import",
      join(fixtures, "sources.mjs"),
      join(fixtures, "crash-writer.ts"),
      root,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  let last = 0;
  const waiters: Array<{ saves: number; resolve: () => void }> = [];
  let buffered = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    buffered += chunk.toString("utf8");
    const lines = buffered.split("\n");
    buffered = lines.pop()!;
    for (const line of lines) {
      const match = /^saved (\d+)$/.exec(line);
      if (match) last = Number(match[1]);
    }
    for (const waiter of waiters) if (last >= waiter.saves) waiter.resolve();
  });
  return {
    child,
    confirmed: () => last,
    ready: (saves) =>
      new Promise((resolve, reject) => {
        waiters.push({ saves, resolve });
        child.once("exit", (code, signal) => {
          if (last < saves) reject(new Error(`writer exited (${code ?? signal}) after ${last} saves`));
        });
      }),
  };
}

function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}

const md5 = (bytes: Buffer) => createHash("md5").update(bytes).digest("hex");

async function temporaryFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile() && /^\.~storages-.*\.tmp$/.test(e.name)).map((e) => e.name);
}

describe("crash safety: SIGKILL mid-write", () => {
  it(`leaves the old version or the new one, never a torn one, and its temporary files are swept (${KILLS} kills)`, async () => {
    const root = join(dir.path, "root");
    let leftBehind = 0;
    for (let round = 0; round < KILLS; round++) {
      const writer = startWriter(root);
      // A random point: after 1–4 confirmed saves, then 0–40 ms into whatever comes next.
      await writer.ready(1 + Math.floor(Math.random() * 4));
      await new Promise((r) => setTimeout(r, Math.random() * 40));
      const confirmed = writer.confirmed();
      await kill(writer.child);

      leftBehind += (await temporaryFiles(root)).length;
      const victim = await readFile(join(root, "victim.bin"));
      const version = versionOf(victim);
      expect(version, `round ${round}: victim.bin is no complete version`).toBeDefined();
      // Versions restart at 1 with each writer: the file holds the last confirmed one or its successor.
      expect([confirmed, confirmed + 1]).toContain(version);

      const storage = fsStorage({ root, overwrite: true });
      const stat = await storage.stat("victim.bin");
      if (stat.checksums?.md5 !== undefined) expect(stat.checksums.md5).toBe(md5(victim));
      for await (const entry of storage.list("", { recursive: true })) {
        if (entry.type !== "file") continue;
        const bytes = await storage.readBytes(entry.name);
        if (entry.name.startsWith("exclusive/")) {
          const v = Number(bytes.readBigUInt64BE(0));
          expect(bytes.length, entry.name).toBe(Math.min(4096, versionSize(v)));
          expect(
            bytes.subarray(8).every((b) => b === v % 251),
            entry.name,
          ).toBe(true);
        }
        if (entry.checksums?.md5 !== undefined) expect(entry.checksums.md5, entry.name).toBe(md5(bytes));
      }

      // The next writer (the storage above) sweeps what the killed writer left, in the background
      // after its first change (reads alone start no sweep): a delete of a name never written.
      await storage.delete("never-written.bin");
      const deadline = Date.now() + 10_000;
      while ((await temporaryFiles(root)).length > 0) {
        expect(Date.now(), "temporary files still there 10 s after the next start").toBeLessThan(deadline);
        await new Promise((r) => setTimeout(r, 20));
      }
      await storage.close();
    }
    // The kills must have landed mid-save at least sometimes, or this test proves little.
    expect(leftBehind).toBeGreaterThan(0);
  });
});
