/**
 * One publishing run at a time per target (lock.ts): against the fs driver, whose exclusive create
 * is a hard link — two Storage handles on one folder are two runs as far as the lock can tell.
 * The same lock on RGW (If-None-Match) is in collect.server.test.ts.
 */
import { readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { MemoryDriver, Storage } from "@storages/core";
import { fsStorage } from "@storages/fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type CollectOptions,
  collectStatic,
  LOCK_NAME,
  MANIFEST_NAME,
  PublishLockedError,
  readManifest,
} from "../src/index.js";
import { collectOptions, site, tempDir, writeTree } from "./helpers.js";

let dir: { path: string; cleanup: () => Promise<void> };
let src: string;
let out: string;
const opened: Storage[] = [];

/** A Storage handle on the target folder: each run gets its own, as separate processes would. */
function handle(): Storage {
  const storage = fsStorage({ root: out });
  opened.push(storage);
  return storage;
}

function options(extra: Partial<CollectOptions> = {}, target = handle(), source = src): CollectOptions {
  return collectOptions(source, target, dir.path, { manifestOut: false, ...extra });
}

/** A lock as a run on another machine leaves it (that run is never renewing it here). */
const FOREIGN = JSON.stringify({
  owner: "other-run",
  host: "build-7",
  pid: 4242,
  startedAt: "2026-12-03T10:00:00.000Z",
  renewedAt: "2026-12-03T10:00:00.000Z",
});

async function holdForeignLock(): Promise<void> {
  await handle().save(LOCK_NAME, FOREIGN, { overwrite: true });
}

/** What is under .storages/ besides the release manifests: the lock, and no stray copy of it. */
async function lockFiles(): Promise<string[]> {
  const entries = await readdir(join(out, ".storages")).catch(() => [] as string[]);
  return entries.filter((name) => name.startsWith("lock")).sort();
}

beforeEach(async () => {
  dir = await tempDir();
  src = join(dir.path, "src");
  out = join(dir.path, "out");
  await writeTree(src, site());
});

afterEach(async () => {
  for (const storage of opened.splice(0)) await storage.close();
  await dir.cleanup();
});

describe("the publishing lock", () => {
  it("is taken for the run and gone after it", async () => {
    let seen: Promise<string[]> | undefined;
    const result = await collectStatic(
      options({
        onProgress: (p) => {
          if (p.phase === "publish") seen ??= lockFiles();
        },
      }),
    );
    expect(result.copied).toBe(10);
    expect(await seen).toEqual(["lock.json"]);
    expect(await lockFiles()).toEqual([]);
  });

  it("held by another run, with no wait: a typed, retryable error that names the holder; nothing written", async () => {
    await holdForeignLock();
    const error = await collectStatic(options({ lockWaitMs: 0 })).catch((e) => e);
    expect(PublishLockedError.isInstance(error)).toBe(true);
    expect(error.code).toBe("E_ALREADY_EXISTS");
    expect(error.retryable).toBe(true);
    expect(error.message).toContain("pid 4242 on build-7");
    expect(error.message).toContain("--break-lock");
    await expect(stat(join(out, MANIFEST_NAME))).rejects.toMatchObject({ code: "ENOENT" });
    // The other run's lock is left as it was, and this run's attempt left no copy of its own.
    expect(await lockFiles()).toEqual(["lock.json"]);
    expect(await handle().readText(LOCK_NAME)).toBe(FOREIGN);
  });

  it("two runs at once: one publishes, the other waits and then finds nothing changed", async () => {
    const waits: unknown[] = [];
    const onLockWait = (holder: unknown) => waits.push(holder);
    const results = await Promise.all([
      collectStatic(options({ onLockWait })),
      collectStatic(options({ onLockWait })),
    ]);
    expect(results.map((r) => r.nothingChanged).sort()).toEqual([false, true]);
    expect(results.map((r) => r.copied).sort()).toEqual([0, 10]);
    expect(waits).toHaveLength(1);
    expect(waits[0]).toMatchObject({ pid: process.pid });
    expect(await lockFiles()).toEqual([]);
  });

  it("runs of different versions at once, keeping one release: the current manifest names only files that exist", async () => {
    await collectStatic(options({ keep: 1 }));
    const versions = ["v2", "v3", "v4"];
    const sources = await Promise.all(
      versions.map(async (v) => {
        const dirOf = join(dir.path, `src-${v}`);
        await writeTree(dirOf, { ...site(), "img/bg.png": `png-bg-${v}`, [`img/${v}.png`]: v });
        return dirOf;
      }),
    );
    await Promise.all(sources.map((s) => collectStatic(options({ keep: 1 }, handle(), s))));
    const current = await readManifest(handle());
    for (const entry of Object.values(current.files)) {
      await expect(stat(join(out, entry.name))).resolves.toBeDefined();
    }
    expect(await lockFiles()).toEqual([]);
  });

  it("a killed run's lock is taken over once it has gone unrenewed for a lease", async () => {
    await holdForeignLock();
    const waits: unknown[] = [];
    const result = await collectStatic(
      options({ lockLeaseMs: 150, lockWaitMs: 10_000, onLockWait: (h) => waits.push(h) }),
    );
    expect(result.copied).toBe(10);
    expect(waits).toEqual([
      {
        host: "build-7",
        pid: 4242,
        startedAt: "2026-12-03T10:00:00.000Z",
        renewedAt: "2026-12-03T10:00:00.000Z",
      },
    ]);
    expect(await lockFiles()).toEqual([]);
  });

  it("breakLock removes a dead run's lock at once", async () => {
    await holdForeignLock();
    const result = await collectStatic(options({ lockWaitMs: 0, breakLock: true }));
    expect(result.copied).toBe(10);
    expect(await lockFiles()).toEqual([]);
  });

  it("breakLock on a run with nothing to publish still removes the lock; a dry run leaves it", async () => {
    await collectStatic(options());
    await holdForeignLock();
    expect((await collectStatic(options({ breakLock: true, dryRun: true, lockWaitMs: 0 }))).dryRun).toBe(
      true,
    );
    expect(await lockFiles()).toEqual(["lock.json"]);
    expect((await collectStatic(options({ breakLock: true }))).nothingChanged).toBe(true);
    expect(await lockFiles()).toEqual([]);
  });

  it("a no-change run and a dry run take no lock", async () => {
    await collectStatic(options());
    await holdForeignLock();
    const unchanged = await collectStatic(options({ lockWaitMs: 0 }));
    expect(unchanged.nothingChanged).toBe(true);
    await writeFile(join(src, "img/bg.png"), "changed");
    const dry = await collectStatic(options({ lockWaitMs: 0, dryRun: true }));
    expect(dry.copied).toBeGreaterThan(0);
    expect(await handle().readText(LOCK_NAME)).toBe(FOREIGN);
  });

  it("a run whose lock is taken over stops before making its release current", async () => {
    const first = await collectStatic(options());
    await writeFile(join(src, "img/bg.png"), "changed");
    const slow = handle();
    // Every published file takes 40 ms: the lock (renewed every 10 ms) is checked many times meanwhile.
    const slowed = new Proxy(slow, {
      get(t, prop, receiver) {
        const value = Reflect.get(t, prop, receiver);
        if (prop !== "save" || typeof value !== "function") return value;
        return async (name: string, ...rest: unknown[]) => {
          if (!name.startsWith(".storages/")) await new Promise((r) => setTimeout(r, 40));
          return value.apply(t, [name, ...rest]);
        };
      },
    });
    // Another run takes the lock over, and keeps writing its own record: a renewal racing one of
    // those writes may put this run's back once, never every time.
    const thief = handle();
    let stealing: ReturnType<typeof setInterval> | undefined;
    const error = await collectStatic(
      options(
        {
          lockLeaseMs: 40,
          concurrency: 1,
          onProgress: (p) => {
            if (p.phase === "publish" && !stealing) {
              stealing = setInterval(() => void thief.save(LOCK_NAME, FOREIGN, { overwrite: true }), 5);
            }
          },
        },
        slowed,
      ),
    )
      .catch((e) => e)
      .finally(() => clearInterval(stealing));
    await new Promise((r) => setTimeout(r, 50)); // the thief's last write lands
    expect(PublishLockedError.isInstance(error)).toBe(true);
    expect(error.message).toContain("taken over");
    expect((await readManifest(handle())).release).toBe(first.release);
    expect(await handle().readText(LOCK_NAME)).toBe(FOREIGN); // the other run's, left alone
  });

  it("a target that cannot create files exclusively: published with an `unlocked` warning", async () => {
    const driver = new MemoryDriver();
    Object.defineProperty(driver, "capabilities", {
      value: { ...driver.capabilities, conditionalWrite: false },
    });
    const target = new Storage(driver);
    const result = await collectStatic(options({}, target));
    expect(result.copied).toBe(10);
    expect(result.warnings.map((w) => w.code)).toContain("unlocked");
    expect(await target.exists(LOCK_NAME)).toBe(false);
  });

  it("lock durations are checked", async () => {
    await expect(collectStatic(options({ lockWaitMs: -1 }))).rejects.toMatchObject({
      code: "E_INVALID_ARGUMENT",
    });
    await expect(collectStatic(options({ lockLeaseMs: 1.5 }))).rejects.toMatchObject({
      code: "E_INVALID_ARGUMENT",
    });
  });
});
