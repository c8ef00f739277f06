/**
 * Which temporary files the sweep may remove: a killed writer's (same host, no such process), or
 * anyone's once older than STALE_AFTER_MS; never a live writer's.
 */
import { spawnSync } from "node:child_process";
import { mkdir, readdir, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { fsStorage } from "../src/index.js";
import { isStale, STALE_AFTER_MS, sweepTemporaryFiles, tempPath } from "../src/temporary.js";
import { tempDir } from "./helpers.js";

let cleanup: (() => Promise<void>) | undefined;
afterEach(() => cleanup?.());

/** A pid that existed and has exited (a finished child's). */
function deadPid(): number {
  return spawnSync(process.execPath, ["-e", ""]).pid!;
}

describe("temporary files", () => {
  it("name their writer; a dead writer's are stale at once, a live one's only when old", () => {
    const mine = tempPath("/x").slice(3);
    expect(mine).toMatch(new RegExp(`^\\.~storages-[A-Za-z0-9_-]{6}-${process.pid}-[A-Za-z0-9_-]+\\.tmp$`));
    expect(isStale(mine, 1000)).toBe(false); // this process is alive
    const host = mine.split("-")[1];
    const dead = `.~storages-${host}-${deadPid()}-abcdefgh.tmp`;
    expect(isStale(dead, 0)).toBe(true);
    const otherHost = `.~storages-zzzzzz-${deadPid()}-abcdefgh.tmp`;
    expect(isStale(otherHost, 1000)).toBe(false); // its pid means nothing here
    expect(isStale(otherHost, STALE_AFTER_MS + 1)).toBe(true);
    expect(isStale(".~storages-abcdefghijkl.tmp", 1000)).toBe(false); // the older form: by age only
    expect(isStale(".~storages-abcdefghijkl.tmp", STALE_AFTER_MS + 1)).toBe(true);
  });

  it("the sweep removes stale ones anywhere under the root and nothing else", async () => {
    const dir = await tempDir("storages-sweep-");
    cleanup = dir.cleanup;
    const host = tempPath("/x").slice(3).split("-")[1];
    await mkdir(join(dir.path, "a/b"), { recursive: true });
    const dead = `.~storages-${host}-${deadPid()}-abcdefgh.tmp`;
    const live = tempPath(join(dir.path, "a")).split("/").pop()!;
    const old = ".~storages-abcdefghijkl.tmp";
    await writeFile(join(dir.path, "a/b", dead), "x");
    await writeFile(join(dir.path, "a", live), "x");
    await writeFile(join(dir.path, old), "x");
    const longAgo = (Date.now() - STALE_AFTER_MS - 60_000) / 1000;
    await utimes(join(dir.path, old), longAgo, longAgo);
    await writeFile(join(dir.path, "a/b/user-file.tmp"), "mine");
    await writeFile(join(dir.path, ".~storages-meta-0123456789abcdef0123456789abcdef.json"), "{}");
    expect(await sweepTemporaryFiles(dir.path)).toBe(2);
    const left = (await readdir(dir.path, { recursive: true })).sort();
    expect(left).toEqual(
      [
        ".~storages-meta-0123456789abcdef0123456789abcdef.json",
        "a",
        `a/${live}`,
        "a/b",
        "a/b/user-file.tmp",
      ].sort(),
    );
  });

  it("a storage sweeps from its first change on, not while it is only read", async () => {
    const dir = await tempDir("storages-sweep-start-");
    cleanup = dir.cleanup;
    const host = tempPath("/x").slice(3).split("-")[1];
    const dead = `.~storages-${host}-${deadPid()}-abcdefgh.tmp`;
    await mkdir(join(dir.path, "a"), { recursive: true });
    await writeFile(join(dir.path, "a", dead), "left by a killed writer");
    await writeFile(join(dir.path, "a", "file.txt"), "x");
    const storage = fsStorage({ root: dir.path, records: false });
    try {
      // Reads, a listing, a stat: what a migration's source or a file server does.
      expect(await storage.readText("a/file.txt")).toBe("x");
      for await (const _ of storage.list("", { recursive: true }));
      await storage.stat("a/file.txt");
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await readdir(join(dir.path, "a"))).toContain(dead);
      // The first change starts the sweep (in the background).
      await storage.delete("never-written.txt");
      const deadline = Date.now() + 10_000;
      while ((await readdir(join(dir.path, "a"))).includes(dead)) {
        expect(Date.now(), "the sweep did not remove the dead writer's file").toBeLessThan(deadline);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    } finally {
      await storage.close();
    }
  });
});
