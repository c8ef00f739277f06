/**
 * Durability as a stated policy: "full" (the default) syncs the file, its record and its folder
 * before a save returns; "batch" syncs nothing per save and everything saved since at flush() or
 * close(). What gets synced is counted at node:fs (the real calls still run): every fsync, and
 * every file opened O_DSYNC (whose writes are synced as they happen: how a save writes its record).
 */
import * as realFs from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { OptionError, type Storage } from "@storages/core";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { fsStorage } from "../src/index.js";
import { records, tempDir, tree } from "./helpers.js";

/** What was synced: the real path of each fsynced descriptor or O_DSYNC-opened file, in order. */
const synced: string[] = [];
/** Every path opened through node:fs's callback API. */
const opened: string[] = [];

vi.mock("node:fs", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs")>();
  const fsync = (fd: number, callback: (error: NodeJS.ErrnoException | null) => void) => {
    try {
      synced.push(fs.readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      synced.push(`fd ${fd}`);
    }
    return fs.fsync(fd, callback);
  };
  const open = (path: string, flags: unknown, ...rest: unknown[]) => {
    opened.push(path);
    if (typeof flags === "number" && (flags & fs.constants.O_DSYNC) !== 0) {
      synced.push(join(fs.realpathSync(dirname(path)), basename(path)));
    }
    return (fs.open as (...args: unknown[]) => void)(path, flags, ...rest);
  };
  return { ...fs, fsync, open, default: { ...fs, fsync, open } };
});

let root: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  const dir = await tempDir("storages-durability-");
  root = join(dir.path, "root");
  cleanup = dir.cleanup;
  synced.length = 0;
});

afterEach(() => cleanup());

const body = (i: number) => `file number ${i}`;

async function saveMany(storage: Storage, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await storage.save(`static/css/file-${i}.css`, body(i));
}

describe("durability: full (the default)", () => {
  it("syncs each file, its record and its folder before the save returns", async () => {
    const storage = fsStorage({ root, overwrite: true });
    expect(storage.describe().location?.settings?.durability).toBe("full");
    await saveMany(storage, 3);
    const real = realFs.realpathSync(root);
    const folder = join(real, "static/css");
    // The folder once per save, and two files per save (the data and its record, synced while they
    // still had their temporary names).
    expect(synced.filter((p) => p === folder).length).toBe(3);
    const filesSynced = synced.filter((p) => p.startsWith(`${folder}/`));
    expect(filesSynced.length).toBe(6);
    await storage.flush(); // nothing was deferred
    expect(synced.filter((p) => p.startsWith(`${folder}/`)).length).toBe(6);
  });

  it("a new folder's entry is synced in the folder that holds it, level by level, before the save returns", async () => {
    const storage = fsStorage({ root, overwrite: true });
    await storage.save("a.txt", "in the root, which exists");
    const real = realFs.realpathSync(root);
    synced.length = 0;
    await storage.save("new/deeper/file.txt", "x");
    // The root holds "new", new holds "deeper", deeper holds the file (synced by the save itself).
    expect(synced.filter((p) => !p.startsWith(`${real}/new/deeper/`))).toEqual(
      expect.arrayContaining([real, join(real, "new"), join(real, "new/deeper")]),
    );
    expect(synced.filter((p) => p === real || p === join(real, "new")).length).toBe(2);
    synced.length = 0;
    await storage.save("new/deeper/second.txt", "y");
    expect(synced).not.toContain(real); // nothing new above: only the folder of the file
    expect(synced).not.toContain(join(real, "new"));
  });

  it("create-exclusive saves sync the same way", async () => {
    const storage = fsStorage({ root });
    await storage.save("a.txt", "one");
    const { name } = await storage.save("a.txt", "two");
    expect(name).not.toBe("a.txt");
    // data, record, folder — twice; the second save's record was prepared for "a.txt" and is
    // written again for the name it got.
    expect(synced.length).toBe(7);
  });
});

describe("durability: batch", () => {
  it("syncs nothing per save, then every file, record and folder once at flush()", async () => {
    const storage = fsStorage({ root, overwrite: true, durability: "batch" });
    expect(storage.describe().location?.settings?.durability).toBe("batch");
    await saveMany(storage, 20);
    await storage.save("static/js/app.js", "js", { cacheControl: "public, max-age=31536000, immutable" });
    expect(synced).toEqual([]);
    // Atomic all the same: every file complete under its name, no temporary file left over.
    expect(await readFile(join(root, "static/css/file-7.css"), "utf8")).toBe(body(7));
    expect((await tree(root)).filter((p) => p.includes(".tmp"))).toEqual([]);
    expect((await records(root)).length).toBe(21);

    await storage.flush();
    const real = realFs.realpathSync(root);
    const files = (await readdir(join(root, "static/css"))).map((n) => join(real, "static/css", n));
    files.push(...(await readdir(join(root, "static/js"))).map((n) => join(real, "static/js", n)));
    expect(files.length).toBe(42); // 21 files and their records
    // …and the folders that got new entries: static/css and static/js (files), static (the two
    // folders), the root (static).
    const folders = [join(real, "static/css"), join(real, "static/js"), join(real, "static"), real];
    expect([...synced].sort()).toEqual([...files, ...folders].sort());
    // Files (data and records) are synced before the folders that name them.
    const firstFolder = synced.findIndex((p) => folders.includes(p));
    expect(firstFolder).toBe(42);

    synced.length = 0;
    await storage.flush();
    expect(synced).toEqual([]); // nothing left to sync
  });

  it("close() flushes", async () => {
    const storage = fsStorage({ root, overwrite: true, durability: "batch" });
    await saveMany(storage, 2);
    expect(synced).toEqual([]);
    await storage.close();
    expect(synced.length).toBe(7); // two files, two records, their new folder, and the two above it
  });

  it("a file deleted before the flush is simply not synced", async () => {
    const storage = fsStorage({ root, overwrite: true, durability: "batch" });
    await saveMany(storage, 2);
    await storage.delete("static/css/file-0.css");
    await storage.flush();
    expect(synced.filter((p) => p.endsWith("file-0.css"))).toEqual([]);
    expect(synced.filter((p) => p.endsWith("file-1.css")).length).toBe(1);
  });

  it("moves and copies follow the policy too", async () => {
    const storage = fsStorage({ root, overwrite: true, durability: "batch" });
    await storage.save("a/one.txt", "1");
    await storage.copy("a/one.txt", "b/two.txt");
    await storage.move("a/one.txt", "c/three.txt");
    expect(synced).toEqual([]);
    await storage.flush();
    const real = realFs.realpathSync(root);
    expect(synced).toEqual(
      expect.arrayContaining([join(real, "b/two.txt"), join(real, "b"), join(real, "c")]),
    );
  });

  it("a linked copy (copy with link: true) syncs its folder, and no data of its own", async () => {
    const storage = fsStorage({ root, overwrite: true, durability: "batch", records: false });
    await storage.save("static/app.1234.js", "js");
    await storage.copy("static/app.1234.js", "static/app.js", { link: true });
    await storage.copy("static/app.1234.js", "other/app.js", { link: true });
    expect(synced).toEqual([]);
    await storage.flush();
    const real = realFs.realpathSync(root);
    // One inode, synced once under the name it was saved as; the folders that got new names.
    expect([...synced].sort()).toEqual(
      [join(real, "static/app.1234.js"), join(real, "static"), join(real, "other"), real].sort(),
    );
  });

  it("is an option with two values, never a default", () => {
    expect(() => fsStorage({ root, durability: "none" as never })).toThrow(OptionError);
    expect(fsStorage({ root }).describe().location?.settings?.durability).toBe("full");
  });
});

describe("reads", () => {
  it("readBytes and open() read no record (the bytes need none); stat() reads it", async () => {
    const storage = fsStorage({ root, overwrite: true });
    await storage.save("docs/a.pdf", "%PDF", { contentType: "application/pdf" });
    const isRecord = (path: string) => basename(path).startsWith(".~storages-meta-");
    opened.length = 0;
    expect((await storage.readBytes("docs/a.pdf")).toString()).toBe("%PDF");
    expect(await (await storage.open("docs/a.pdf", { range: { start: 1 } })).text()).toBe("PDF");
    expect(opened.filter(isRecord)).toEqual([]);
    expect((await storage.stat("docs/a.pdf")).contentType).toBe("application/pdf");
    expect(opened.filter(isRecord).length).toBe(1);
  });
});
