/**
 * Durability as a stated policy: "full" (the default) syncs the file, its record and its folder
 * before a save returns; "batch" syncs nothing per save and everything saved since at flush() or
 * close(). What gets synced is counted at node:fs (the real calls still run): every fsync, and
 * every file opened O_DSYNC (whose writes are synced as they happen: how a save writes its record);
 * and every `sync -f` a flush of many files runs, at node:child_process (run for real too, unless
 * a test makes it fail).
 */
import * as realFs from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { OptionError, type Storage } from "@storages/core";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { syncfsCommand } from "../src/durability.js";
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

/** Every path stat()ed through node:fs/promises. */
const statted: string[] = [];

vi.mock("node:fs/promises", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs/promises")>();
  const stat = (path: string, ...rest: unknown[]) => {
    statted.push(path);
    return (fs.stat as (...args: unknown[]) => unknown)(path, ...rest);
  };
  return { ...fs, stat, default: { ...fs, stat } };
});

/** The `sync -f` runs: command and arguments. */
const spawned: string[][] = [];
/** Set by a test: the next `sync -f` fails as a system without syncfs would (exit status 1). */
let syncfsFails = false;

vi.mock("node:child_process", async (importOriginal) => {
  const cp = await importOriginal<typeof import("node:child_process")>();
  const execFile = (
    command: string,
    args: string[],
    options: object,
    callback: (e: Error | null) => void,
  ) => {
    spawned.push([command, ...args]);
    if (syncfsFails) return cp.execFile("/bin/false", [], options, callback);
    return cp.execFile(command, args, options, callback);
  };
  return { ...cp, execFile, default: { ...cp, execFile } };
});

let root: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  const dir = await tempDir("storages-durability-");
  root = join(dir.path, "root");
  cleanup = dir.cleanup;
  synced.length = 0;
  spawned.length = 0;
  syncfsFails = false;
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

  it("a localFile() body is copied by the kernel: the source is never opened to be streamed", async () => {
    const { localFile } = await import("@storages/core");
    const source = join(root, "..", "source.bin");
    realFs.writeFileSync(source, Buffer.alloc(100_000, 3));
    const storage = fsStorage({ root, overwrite: true });
    opened.length = 0;
    const { size } = await storage.save("media/source.bin", localFile(source));
    expect(size).toBe(100_000);
    expect(realFs.readFileSync(join(root, "media/source.bin")).equals(Buffer.alloc(100_000, 3))).toBe(true);
    // Opened by copyFile inside libuv (and once more for its MD5), never by a stream of it.
    expect(opened.filter((p) => p === source).length).toBeLessThanOrEqual(1);
    const plain = fsStorage({ root: join(root, "plain"), overwrite: true, records: false });
    opened.length = 0;
    await plain.save("source.bin", localFile(source));
    expect(opened.filter((p) => p === source)).toEqual([]);
  });
});

describe("local files copied by the kernel", () => {
  const isTemporary = (path: string) => /\.~storages-.*\.tmp$/.test(path);

  it("the copy creates the temporary file: unsynced, the driver opens no file of the save", async () => {
    const { localFile } = await import("@storages/core");
    const source = join(root, "..", "source.css");
    realFs.writeFileSync(source, "body { color: red }");
    const storage = fsStorage({ root, overwrite: true, durability: "batch", records: false });
    opened.length = 0;
    await storage.save("static/a.css", localFile(source));
    await storage.save("static/a.css", localFile(source)); // over a file there: renamed over it
    expect(opened.filter(isTemporary)).toEqual([]);
    expect(realFs.readFileSync(join(root, "static/a.css"), "utf8")).toBe("body { color: red }");
    expect(await readdir(join(root, "static"))).toEqual(["a.css"]);
    await storage.close();
  });

  it("synced, the save opens its temporary file once (it fsyncs through it), and the copy fills it", async () => {
    const { localFile } = await import("@storages/core");
    const source = join(root, "..", "source.css");
    realFs.writeFileSync(source, "body { color: blue }");
    const storage = fsStorage({ root, overwrite: true, records: false });
    opened.length = 0;
    synced.length = 0;
    await storage.save("static/b.css", localFile(source));
    expect(opened.filter(isTemporary).length).toBe(1);
    const real = realFs.realpathSync(root);
    // The data (under its temporary name) and the folder.
    expect(synced.filter((p) => isTemporary(p)).length).toBe(1);
    expect(synced).toContain(join(real, "static"));
  });
});

describe("copies", () => {
  it("a copy finds its source through its folder: the source file is never opened for a link", async () => {
    const storage = fsStorage({ root, overwrite: true, durability: "batch", records: false });
    await storage.save("static/app.1a2b3c.css", "body {}");
    opened.length = 0;
    await storage.copy("static/app.1a2b3c.css", "static/app.css", { link: true });
    expect(opened.filter((p) => p.endsWith(".css"))).toEqual([]);
    expect(realFs.statSync(join(root, "static/app.css")).ino).toBe(
      realFs.statSync(join(root, "static/app.1a2b3c.css")).ino,
    );
    await storage.close();
  });

  it("a link made in its source's folder opens that folder once, for both names", async () => {
    const storage = fsStorage({ root, overwrite: true, durability: "batch", records: false });
    await storage.save("static/app.1a2b3c.css", "body {}");
    await storage.save("other/keep.txt", "folder exists");
    const folder = join(realFs.realpathSync(root), "static");
    opened.length = 0;
    await storage.copy("static/app.1a2b3c.css", "static/app.css", { link: true });
    expect(opened.filter((p) => p === folder).length).toBe(1);
    // Into another folder: each folder once.
    opened.length = 0;
    await storage.copy("static/app.1a2b3c.css", "other/app.css", { link: true });
    expect(opened.filter((p) => p === folder).length).toBe(1);
    expect(opened.filter((p) => p === join(realFs.realpathSync(root), "other")).length).toBe(1);
    expect(realFs.readFileSync(join(root, "other/app.css"), "utf8")).toBe("body {}");
    await storage.close();
  });
});

/** Many files: what a flush syncs whole (syncfs) rather than file by file. */
const MANY = 70;

describe.runIf(syncfsCommand() !== undefined)("durability: batch, a flush of many files (syncfs)", () => {
  it("syncs the root's filesystem once, with one `sync -f`, and opens no file to fsync it", async () => {
    const storage = fsStorage({ root, overwrite: true, durability: "batch", records: false });
    for (let i = 0; i < MANY; i++) await storage.save(`static/m${i % 7}/file-${i}.css`, body(i));
    opened.length = 0;
    await storage.flush();
    expect(synced).toEqual([]);
    // One process, naming one folder: the root's filesystem holds all nine (seven, static, root).
    expect(spawned.length).toBe(1);
    const [command, flag, ...folders] = spawned[0]!;
    expect(command).toBe(syncfsCommand());
    expect(flag).toBe("-f");
    expect(folders.length).toBe(1);
    expect(folders[0]!.startsWith(realFs.realpathSync(root))).toBe(true);
    expect(opened.filter((p) => p.endsWith(".css"))).toEqual([]);
    spawned.length = 0;
    await storage.flush();
    expect(spawned).toEqual([]); // nothing left to sync
  });

  it("finds the filesystem through one folder its saves were on, not a stat of every folder", async () => {
    const storage = fsStorage({ root, overwrite: true, durability: "batch", records: false });
    // The folders made first (a folder made notes its parent, whose filesystem no save told).
    for (let i = 0; i < 7; i++) await storage.save(`static/m${i}/first.css`, body(i));
    await storage.flush();
    for (let i = 0; i < MANY; i++) await storage.save(`static/m${i % 7}/file-${i}.css`, body(i));
    statted.length = 0;
    spawned.length = 0;
    await storage.flush();
    const real = realFs.realpathSync(root);
    expect(statted.filter((p) => p.startsWith(real)).length).toBe(1); // of seven folders
    expect(spawned.length).toBe(1);
  });

  it("a folder removed since its saves is passed over for another on the same filesystem", async () => {
    const storage = fsStorage({ root, overwrite: true, durability: "batch", records: false });
    for (let i = 0; i < MANY; i++) await storage.save(`static/m${i % 7}/file-${i}.css`, body(i));
    // The first folder noted is emptied, and pruned with its last file.
    for (let i = 0; i < MANY; i += 7) await storage.delete(`static/m0/file-${i}.css`);
    expect(realFs.existsSync(join(root, "static/m0"))).toBe(false);
    await storage.flush();
    expect(spawned.length).toBe(1);
    const [, , ...folders] = spawned[0]!;
    expect(folders.length).toBe(1);
    expect(realFs.existsSync(folders[0]!)).toBe(true);
    // sync -f worked: this storage still syncs whole filesystems.
    for (let i = 0; i < MANY; i++) await storage.save(`static/again-${i}.css`, body(i));
    synced.length = 0;
    await storage.flush();
    expect(spawned.length).toBe(2);
    expect(synced).toEqual([]);
  });

  it("a `sync -f` that fails is replaced by syncing each file and folder, and not tried again", async () => {
    const storage = fsStorage({ root, overwrite: true, durability: "batch", records: false });
    for (let i = 0; i < MANY; i++) await storage.save(`static/file-${i}.css`, body(i));
    syncfsFails = true;
    await storage.flush();
    expect(spawned.length).toBe(1);
    const real = realFs.realpathSync(root);
    // Every file, then its folder, the one above it and the root.
    expect(synced.length).toBe(MANY + 2);
    expect(synced.slice(MANY).sort()).toEqual([join(real, "static"), real].sort());
    syncfsFails = false;
    for (let i = 0; i < MANY; i++) await storage.save(`static/again-${i}.css`, body(i));
    synced.length = 0;
    await storage.flush();
    expect(spawned.length).toBe(1); // this storage syncs file by file from now on
    expect(synced.length).toBe(MANY + 1);
  });
});

describe("syncfsCommand", () => {
  it("is only trusted on Linux from 5.8, where syncfs reports write errors", () => {
    expect(syncfsCommand("darwin", "23.1.0")).toBeUndefined();
    expect(syncfsCommand("win32", "10.0.19045")).toBeUndefined();
    expect(syncfsCommand("linux", "5.4.0-150-generic")).toBeUndefined();
    expect(syncfsCommand("linux", "4.19.0")).toBeUndefined();
    const here = ["/usr/bin/sync", "/bin/sync"].find((p) => realFs.existsSync(p));
    expect(syncfsCommand("linux", "5.8.0")).toBe(here);
    expect(syncfsCommand("linux", "6.1.0-27-cloud-amd64")).toBe(here);
  });
});
