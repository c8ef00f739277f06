import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { constants, mkdirSync, open, rmSync, writeFileSync } from "node:fs";
import { lstat, mkdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { guessContentType, type Storage, StorageError } from "@storages/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FsDriver, fsStorage, RESERVED_PREFIX } from "../src/index.js";
import { records, tempDir, tree } from "./helpers.js";

function md5(data: string | Uint8Array): string {
  return createHash("md5").update(data).digest("hex");
}

let root: string;
let outside: string;
let cleanups: Array<() => Promise<void>> = [];
let storage: Storage;

beforeEach(async () => {
  const a = await tempDir();
  const b = await tempDir("storages-outside-");
  cleanups = [a.cleanup, b.cleanup];
  root = join(a.path, "root");
  outside = b.path;
  await writeFile(join(outside, "secret.txt"), "top secret");
  storage = fsStorage({ root, overwrite: true });
});

afterEach(async () => {
  for (const cleanup of cleanups) await cleanup();
});

/** A body that yields some bytes, then fails. */
function failingBody(afterBytes: number): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(Buffer.alloc(afterBytes, 7));
      } else {
        this.destroy(new Error("network cut"));
      }
    },
  });
}

/** Retries an assertion for up to 2 s (for cleanup that finishes after the call returned). */
async function eventually(assertion: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + 2000;
  for (;;) {
    try {
      return await assertion();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

async function code(action: Promise<unknown>): Promise<string | undefined> {
  try {
    await action;
    return undefined;
  } catch (error) {
    if (!StorageError.isInstance(error)) throw error;
    return error.code;
  }
}

/**
 * What `action` throws as a user who owns none of the files (undefined when it succeeds). Root
 * reads and writes every file whatever its mode: as root, the action runs as nobody (seteuid, in
 * this test process only: vitest runs each file in a process of its own). The root's folders are
 * made searchable by all, so that nobody reaches the storage at all.
 */
async function failureAsNobody(action: () => Promise<unknown>): Promise<StorageError | undefined> {
  const { chmod } = await import("node:fs/promises");
  await chmod(dirname(root), 0o755);
  await chmod(root, 0o755);
  const asRoot = process.getuid?.() === 0;
  if (asRoot) process.seteuid!(65534);
  try {
    return await action().then(
      () => undefined,
      (error: unknown) => error as StorageError,
    );
  } finally {
    if (asRoot) process.seteuid!(0);
  }
}

describe("configuration", () => {
  it("refuses a relative root, bad modes and short signing keys with ConfigError", () => {
    expect(() => new FsDriver({ root: "media" })).toThrow(/absolute/);
    expect(() => new FsDriver({ root: "/tmp/x", fileMode: 0o1000000 })).toThrow(/permission/);
    expect(() => new FsDriver({ root: "/tmp/x", signing: { key: "short", baseUrl: "/m/" } })).toThrow(
      /at least 32/,
    );
    expect(() => new FsDriver({ root: "/tmp/x", signing: { key: "k".repeat(32) } })).toThrow(/baseUrl/);
    expect(() => new FsDriver({ root: "/tmp/x", baseUrl: "ftp://x/" })).toThrow(/http/);
  });

  it("refuses a baseUrl (or signing.baseUrl) holding a line break, control character or space: the URLs it builds would hold them", () => {
    for (const options of [
      { root: "/tmp/x", baseUrl: "/media/\nlocation /" },
      { root: "/tmp/x", baseUrl: "https://cdn.example.com/my media/" },
      { root: "/tmp/x", signing: { key: "k".repeat(32), baseUrl: "/m/\u0000" } },
    ]) {
      expect(() => new FsDriver(options), JSON.stringify(options)).toThrow(
        expect.objectContaining({
          code: "E_CONFIG",
          message: expect.stringMatching(
            /baseUrl holds (a line break|a space|a control character) .*: percent-encode it/,
          ),
        }),
      );
    }
    expect(new FsDriver({ root: "/tmp/x", baseUrl: "/my%20media/" }).baseUrl).toBe("/my%20media/");
  });

  it("creates a missing root with the directory mode", async () => {
    const driver = new FsDriver({ root: join(root, "deep", "er"), directoryMode: 0o750 });
    const s = fsStorage({ root: driver.root });
    await s.save("a.txt", "x");
    expect((await stat(join(root, "deep", "er"))).isDirectory()).toBe(true);
  });

  it("never creates a root again once it is gone (a volume unmounted): a save says so and writes nothing", async () => {
    const gone = join(root, "volume");
    const s = fsStorage({ root: gone });
    await s.save("a.txt", "x");
    await rm(gone, { recursive: true });
    for (const name of ["b.txt", "deep/c.txt"]) {
      const error = await s.save(name, "y").catch((e: unknown) => e);
      expect(error).toMatchObject({ code: "E_NOT_FOUND", path: name });
      expect((error as Error).message).toContain(`The storage root ${gone} does not exist any more`);
    }
    await expect(stat(gone)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("is private without baseUrl and public with it, and says so in capabilities", () => {
    expect(new FsDriver({ root }).defaultVisibility).toBe("private");
    const pub = new FsDriver({ root, baseUrl: "/media" });
    expect(pub.defaultVisibility).toBe("public");
    expect(pub.publicUrl("a b/c.txt")).toBe("/media/a%20b/c.txt");
    expect(pub.capabilities.publicUrl).toBe(true);
    expect(pub.capabilities.signedUrl).toBe(false);
    expect(pub.capabilities.visibility).toBe("bucket");
  });

  it("never shows the signing key when the driver is printed", async () => {
    const { inspect } = await import("node:util");
    const key = "super-secret-signing-key-0123456789-abcdef";
    const driver = new FsDriver({ root, signing: { key, baseUrl: "/m/" } });
    expect(inspect(driver, { depth: 5, showHidden: true })).not.toContain(key);
    expect(JSON.stringify(driver)).not.toContain(key);
  });
});

describe("atomic writes", () => {
  it("a failing stream leaves neither the file nor a temporary file, nor the directories it created", async () => {
    expect(await code(storage.save("a/b/c.bin", failingBody(100_000)))).toBeDefined();
    expect(await tree(root)).toEqual([]);
  });

  it("a failing overwrite keeps the old content intact", async () => {
    await storage.save("keep.txt", "old content");
    expect(await code(storage.save("keep.txt", failingBody(50_000)))).toBeDefined();
    expect(await readFile(join(root, "keep.txt"), "utf8")).toBe("old content");
    expect(await tree(root)).toEqual(["keep.txt"]);
  });

  it("an abort mid-stream removes the temporary file and reports E_ABORTED", async () => {
    const controller = new AbortController();
    const body = new Readable({
      read() {
        this.push(Buffer.alloc(64 * 1024));
        controller.abort();
      },
    });
    expect(await code(storage.save("aborted.bin", body, { signal: controller.signal }))).toBe("E_ABORTED");
    // The facade answers the abort at once; the driver removes its temporary file right after.
    expect(await storage.exists("aborted.bin")).toBe(false);
    await eventually(async () => expect(await tree(root)).toEqual([]));
  });

  it("readers never see a partial file: the name appears only once complete", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    async function* slow() {
      yield Buffer.from("first half,");
      await gate;
      yield Buffer.from("second half");
    }
    const saving = storage.save("slow.txt", slow());
    await new Promise((r) => setTimeout(r, 50));
    expect(await storage.exists("slow.txt")).toBe(false);
    const listed = [];
    for await (const e of storage.list("", { recursive: true })) listed.push(e.name);
    expect(listed).toEqual([]);
    release();
    await saving;
    expect(await storage.readText("slow.txt")).toBe("first half,second half");
  });

  it("create-exclusive with a stream body picks a new name without re-reading the body", async () => {
    const s = fsStorage({ root });
    await s.save("taken.txt", "first");
    const { name } = await s.save("taken.txt", Readable.from([Buffer.from("second")]));
    expect(name).toMatch(/^taken_[A-Za-z0-9]{7}\.txt$/);
    expect(await s.readText("taken.txt")).toBe("first");
    expect(await s.readText(name)).toBe("second");
    expect((await tree(root)).filter((n) => n.startsWith(RESERVED_PREFIX))).toEqual([]);
  });

  it("concurrent create-exclusive saves of one name all land under distinct names", async () => {
    const s = fsStorage({ root });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => s.save("same.txt", Readable.from([Buffer.from(`body ${i}`)]))),
    );
    const names = new Set(results.map((r) => r.name));
    expect(names.size).toBe(20);
    const bodies = new Set(await Promise.all(results.map((r) => s.readText(r.name))));
    expect(bodies.size).toBe(20);
  });

  it("refuses names using the driver's reserved prefix", async () => {
    expect(await code(storage.save(`${RESERVED_PREFIX}x.tmp`, "x"))).toBe("E_INVALID_PATH");
    expect(await code(storage.save(`dir/${RESERVED_PREFIX}x/y.txt`, "x"))).toBe("E_INVALID_PATH");
    expect(await code(storage.open(`${RESERVED_PREFIX}x.tmp`))).toBe("E_INVALID_PATH");
  });

  it("a file where a directory is needed is an invalid path, not a crash", async () => {
    await storage.save("a", "file");
    expect(await code(storage.save("a/b.txt", "x"))).toBe("E_INVALID_PATH");
    await storage.save("d/x.txt", "x");
    expect(await code(storage.save("d", "x"))).toBe("E_INVALID_PATH");
  });
});

describe("permission modes", () => {
  it("applies fileMode and directoryMode exactly, whatever the umask", async () => {
    const previous = process.umask(0o077);
    try {
      const s = fsStorage({ root, fileMode: 0o640, directoryMode: 0o750, overwrite: true });
      await s.save("m/n/file.txt", "x");
      await s.copy("m/n/file.txt", "m/copy.txt");
      expect((await stat(join(root, "m/n/file.txt"))).mode & 0o777).toBe(0o640);
      expect((await stat(join(root, "m/copy.txt"))).mode & 0o777).toBe(0o640);
      expect((await stat(join(root, "m"))).mode & 0o777).toBe(0o750);
      expect((await stat(join(root, "m/n"))).mode & 0o777).toBe(0o750);
    } finally {
      process.umask(previous);
    }
  });

  it("defaults to 0644 files and 0755 directories", async () => {
    const previous = process.umask(0o022);
    try {
      await storage.save("x/y.txt", "x");
      expect((await stat(join(root, "x/y.txt"))).mode & 0o777).toBe(0o644);
      expect((await stat(join(root, "x"))).mode & 0o777).toBe(0o755);
    } finally {
      process.umask(previous);
    }
  });

  it("a file it may not open, save, delete or stat is E_PERMISSION_DENIED naming its key, and what to do", async () => {
    const { chmod } = await import("node:fs/promises");
    await storage.save("docs/private.txt", "p");
    await storage.save("locked/a.txt", "a");
    await chmod(join(root, "docs", "private.txt"), 0o600);
    await chmod(join(root, "locked"), 0o700);
    for (const [key, action] of [
      ["docs/private.txt", () => storage.readText("docs/private.txt")],
      ["docs/new.txt", () => storage.save("docs/new.txt", "n")],
      ["docs/private.txt", () => storage.delete("docs/private.txt")],
      ["locked/a.txt", () => storage.stat("locked/a.txt")],
    ] as const) {
      const error = await failureAsNobody(action);
      expect(error?.code, key).toBe("E_PERMISSION_DENIED");
      expect(error?.path, key).toBe(key);
      expect(error?.message, key).toContain(`refused access to "${key}"`);
      expect(error?.message, key).toContain("run as the owner of the files");
      // A key, not where the storage's root is on this machine.
      expect(error?.message, key).not.toContain(root);
    }
    // A root it may not create is named as the root, not by where it is.
    const uncreatable = fsStorage({ root: join(root, "locked", "root"), overwrite: true });
    const error = await failureAsNobody(() => uncreatable.exists("a.txt"));
    expect(error?.code).toBe("E_PERMISSION_DENIED");
    expect(error?.message).toContain("refused access to the storage's root folder");
    expect(error?.message).toContain("run as the owner of the files");
    expect(error?.message).not.toContain(root);
  });

  it("a metadata record it may not read is E_PERMISSION_DENIED naming the record and its file", async () => {
    const { chmod, readdir } = await import("node:fs/promises");
    await storage.save("r/report.csv", "a,b", { metadata: { owner: "ops" } });
    const [record] = (await readdir(join(root, "r"))).filter((name) => name.includes("-meta-"));
    await chmod(join(root, "r", record!), 0o600);
    // The file itself is readable: only its record is not.
    expect(await failureAsNobody(() => storage.readText("r/report.csv"))).toBeUndefined();
    const error = await failureAsNobody(() => storage.stat("r/report.csv"));
    expect(error?.code).toBe("E_PERMISSION_DENIED");
    expect(error?.path).toBe("r/report.csv");
    expect(error?.message).toContain(`the metadata record of "r/report.csv" (${record}, beside it)`);
    expect(error?.message).toContain("run as the owner of the files");
    expect(error?.message).not.toContain(root);
  });
});

/**
 * Where the system names an open descriptor's file (/proc/self/fd), the driver checks a file after
 * opening it; elsewhere (or for a link as the last segment) it resolves the path first. Both ways
 * must refuse the same links.
 */
function checkBeforeOpening(s: Storage): void {
  (s.driver as unknown as { paths: { fdPaths: boolean } }).paths.fdPaths = false;
}

for (const mode of ["checked after opening (/proc/self/fd)", "resolved before opening (realpath)"]) {
  describe(`root containment with real symlinks: ${mode}`, () => {
    const adapt = (s: Storage) => {
      if (mode.startsWith("resolved")) checkBeforeOpening(s);
    };
    beforeEach(async () => {
      await storage.save("inside.txt", "inside");
      adapt(storage);
      await symlink(outside, join(root, "escape-dir"));
      await symlink(join(outside, "secret.txt"), join(root, "escape-file.txt"));
      await symlink(join(root, "inside.txt"), join(root, "alias.txt"));
    });

    it("never reads through a link that leaves the root", async () => {
      expect(await code(storage.readText("escape-file.txt"))).toBe("E_PATH_TRAVERSAL");
      expect(await code(storage.readText("escape-dir/secret.txt"))).toBe("E_PATH_TRAVERSAL");
      expect(await code(storage.stat("escape-dir/secret.txt"))).toBe("E_PATH_TRAVERSAL");
      expect(await code(storage.exists("escape-file.txt"))).toBe("E_PATH_TRAVERSAL");
      expect(await code(storage.copy("escape-file.txt", "copied.txt"))).toBe("E_PATH_TRAVERSAL");
      expect(await code(storage.copy("escape-dir/secret.txt", "copied.txt"))).toBe("E_PATH_TRAVERSAL");
      for (const from of ["escape-file.txt", "escape-dir/secret.txt"])
        expect(await code(storage.copy(from, "linked.txt", { link: true })), from).toBe("E_PATH_TRAVERSAL");
      expect(await code(storage.move("escape-file.txt", "moved.txt"))).toBe("E_PATH_TRAVERSAL");
    });

    it("never writes through a link that leaves the root", async () => {
      expect(await code(storage.save("escape-dir/new.txt", "x"))).toBe("E_PATH_TRAVERSAL");
      expect(await code(storage.save("escape-dir/sub/new.txt", "x"))).toBe("E_PATH_TRAVERSAL");
      expect(await code(storage.save("escape-dir/a/b/c/new.txt", "x"))).toBe("E_PATH_TRAVERSAL");
      // A link further down, below a real folder: each level is checked as it is made.
      await mkdir(join(root, "deep"));
      await symlink(outside, join(root, "deep", "out"));
      expect(await code(storage.save("deep/out/a/b.txt", "x"))).toBe("E_PATH_TRAVERSAL");
      expect(await code(storage.save("deep/new/out-not/x.txt", "x"))).toBeUndefined();
      expect(await code(storage.copy("inside.txt", "escape-dir/copy.txt"))).toBe("E_PATH_TRAVERSAL");
      expect(await tree(outside)).toEqual(["secret.txt"]);
    });

    it("never deletes through a link that leaves the root", async () => {
      expect(await code(storage.delete("escape-dir/secret.txt"))).toBe("E_PATH_TRAVERSAL");
      expect(await code(storage.delete("escape-file.txt"))).toBe("E_PATH_TRAVERSAL");
      expect(await readFile(join(outside, "secret.txt"), "utf8")).toBe("top secret");
      expect((await lstat(join(root, "escape-file.txt"))).isSymbolicLink()).toBe(true);
    });

    it("lists neither links that leave the root nor what they point to", async () => {
      const names = [];
      for await (const e of storage.list("", { recursive: true })) names.push(e.name);
      expect(names).toEqual(["alias.txt", "inside.txt"]);
      expect(await code(storage.listPage("escape-dir/"))).toBe("E_PATH_TRAVERSAL");
    });

    it("follows links that stay inside the root", async () => {
      expect(await storage.readText("alias.txt")).toBe("inside");
      expect((await storage.open("alias.txt")).readable).toBe(true);
      await storage.copy("alias.txt", "alias-copy.txt");
      await storage.copy("alias.txt", "alias-link.txt", { link: true });
      expect(await storage.readText("alias-copy.txt")).toBe("inside");
      expect(await storage.readText("alias-link.txt")).toBe("inside");
      await mkdir(join(root, "real-dir"));
      await symlink(join(root, "real-dir"), join(root, "dir-alias"));
      await storage.save("dir-alias/through.txt", "through");
      expect(await readFile(join(root, "real-dir", "through.txt"), "utf8")).toBe("through");
      expect(await storage.readText("dir-alias/through.txt")).toBe("through");
    });

    it("a FIFO in the root is not a file, and reading it does not wait for a writer", async () => {
      const fifo = join(root, "pipe.bin");
      execFileSync("mkfifo", [fifo]);
      // A read that waited for a writer would hold a thread-pool thread forever: this valve plays
      // the writer after 1.5 s, so such a read fails the timing below instead of hanging the run.
      const valve = setTimeout(() => {
        for (let i = 0; i < 3; i++) open(fifo, constants.O_WRONLY | constants.O_NONBLOCK, () => {});
      }, 1500);
      const started = Date.now();
      try {
        expect(await code(storage.readBytes("pipe.bin"))).toBe("E_NOT_FOUND");
        expect(await code(storage.open("pipe.bin"))).toBe("E_NOT_FOUND");
        expect(await code(storage.stat("pipe.bin"))).toBe("E_NOT_FOUND");
      } finally {
        clearTimeout(valve);
      }
      expect(Date.now() - started).toBeLessThan(1000);
    });

    it("works when the root itself is reached through a symlink", async () => {
      const linked = join(outside, "root-link");
      await symlink(root, linked);
      const s = fsStorage({ root: linked, overwrite: true });
      await s.exists("nothing-yet.txt");
      adapt(s);
      await s.save("via-link.txt", "ok");
      expect(await readFile(join(root, "via-link.txt"), "utf8")).toBe("ok");
      expect(await code(s.readText("escape-file.txt"))).toBe("E_PATH_TRAVERSAL");
    });
  });
}

describe('links: "refuse", for a migration that may leave nothing out', () => {
  const listAll = async (s: Storage) => {
    const names: string[] = [];
    for await (const e of s.list("", { recursive: true })) names.push(e.name);
    return names;
  };
  const refusal = async (s: Storage) => {
    try {
      await listAll(s);
    } catch (error) {
      return error as StorageError;
    }
    throw new Error("expected the listing to fail");
  };
  let refusing: Storage;
  beforeEach(async () => {
    await storage.save("media/inside.txt", "inside");
    await mkdir(join(root, "media", "v2"));
    await storage.save("media/v2/photo.jpg", "photo");
    await mkdir(join(outside, "uploads"));
    await writeFile(join(outside, "uploads", "u.jpg"), "upload");
    refusing = fsStorage({ root, overwrite: true, links: "refuse" });
  });

  it("lists a link to a file inside the root, as the default does", async () => {
    await symlink(join(root, "media", "inside.txt"), join(root, "media", "alias.txt"));
    const expected = ["media/alias.txt", "media/inside.txt", "media/v2/photo.jpg"];
    expect(await listAll(refusing)).toEqual(expected);
    expect(await listAll(storage)).toEqual(expected);
  });

  it("refuses a link to a folder outside the root, naming it, its target and the two ways on", async () => {
    await symlink(join(outside, "uploads"), join(root, "media", "uploads"));
    expect(await listAll(storage)).toEqual(["media/inside.txt", "media/v2/photo.jpg"]);
    const error = await refusal(refusing);
    expect(error.code).toBe("E_UNSUPPORTED");
    expect(error.path).toBe("media/uploads");
    // Named by its key: the storage root's own path is never in a message.
    expect(error.message).toContain('The symbolic link "media/uploads" points to the folder');
    expect(error.message).not.toContain(root);
    expect(error.message).toContain(
      `points to the folder ${join(outside, "uploads")}, outside the storage's root`,
    );
    // The command to run, each argument one shell word.
    expect(error.message).toContain(
      `\`storages copy '${join(outside, "uploads")}' 'DESTINATION/media/uploads/'\``,
    );
    expect(error.message).toContain('links: "skip"');
    expect(error.message).toContain("--skip-links");
    // A listing of that folder alone fails the same way; one of a folder beside it does not.
    expect(await code(refusing.listPage("media/", { recursive: false }))).toBe("E_UNSUPPORTED");
    expect((await refusing.listPage("media/v2/", { recursive: true })).entries).toHaveLength(1);
  });

  it("refuses a link to a folder inside the root: the names under the link would be missing", async () => {
    await symlink(join(root, "media", "v2"), join(root, "media", "current"));
    expect(await listAll(storage)).toEqual(["media/inside.txt", "media/v2/photo.jpg"]);
    const error = await refusal(refusing);
    expect(error.code).toBe("E_UNSUPPORTED");
    expect(error.message).toContain('points to the folder "media/v2/" of this storage');
    expect(error.message).toContain('never under "media/current/"');
    // A link to the root itself (a loop of the whole tree) is refused the same way.
    await rm(join(root, "media", "current"));
    await symlink(root, join(root, "media", "all"));
    expect((await refusal(refusing)).message).toContain("points to the storage's root folder");
  });

  it("refuses a link to a file outside the root", async () => {
    await symlink(join(outside, "secret.txt"), join(root, "media", "notes.txt"));
    expect(await listAll(storage)).toEqual(["media/inside.txt", "media/v2/photo.jpg"]);
    const error = await refusal(refusing);
    expect(error.code).toBe("E_UNSUPPORTED");
    expect(error.message).toContain(
      `points to the file ${join(outside, "secret.txt")}, outside the storage's root`,
    );
    // Named, never read: the message holds no byte of it.
    expect(error.message).not.toContain("top secret");
  });

  it("refuses a dangling link (a disk not mounted looks like this)", async () => {
    await symlink("/mnt/not-mounted-disk/uploads", join(root, "media", "uploads"));
    expect(await listAll(storage)).toEqual(["media/inside.txt", "media/v2/photo.jpg"]);
    const error = await refusal(refusing);
    expect(error.code).toBe("E_UNSUPPORTED");
    expect(error.message).toContain("points to /mnt/not-mounted-disk/uploads, which does not exist");
  });

  it("leaves a link to something that is not a file (a FIFO) out, as it leaves the FIFO itself", async () => {
    execFileSync("mkfifo", [join(root, "media", "pipe")]);
    await symlink(join(root, "media", "pipe"), join(root, "media", "pipe-link"));
    expect(await listAll(refusing)).toEqual(["media/inside.txt", "media/v2/photo.jpg"]);
  });
});

describe("reads, stat and metadata", () => {
  it("reads ranges and refuses a start past the end", async () => {
    const driver = new FsDriver({ root });
    await storage.save("r.txt", "0123456789");
    expect(await storage.readText("r.txt", { range: { start: 2, end: 4 } })).toBe("234");
    expect(await storage.readText("r.txt", { range: { start: 8, end: 100 } })).toBe("89");
    expect(await storage.readText("r.txt", { range: { start: 7 } })).toBe("789");
    expect(
      await code(driver.read("r.txt", { signal: new AbortController().signal, range: { start: 10 } })),
    ).toBe("E_RANGE_NOT_SATISFIABLE");
  });

  it("keeps explicit metadata in a sidecar, never listed, and drops it when the data changes outside", async () => {
    await storage.save("doc", "hello", {
      contentType: "application/pdf",
      cacheControl: "max-age=60",
      contentDisposition: 'attachment; filename="a.pdf"',
      metadata: { owner: "me" },
    });
    const info = await storage.stat("doc");
    expect(info).toMatchObject({
      size: 5,
      contentType: "application/pdf",
      cacheControl: "max-age=60",
      contentDisposition: 'attachment; filename="a.pdf"',
      metadata: { owner: "me" },
    });
    expect((await storage.listPage("")).entries.map((e) => e.name)).toEqual(["doc"]);
    // Another program rewrites the file: its old metadata no longer applies.
    await writeFile(join(root, "doc"), "changed by hand");
    const after = await storage.stat("doc");
    expect(after.contentType).toBe(guessContentType("doc"));
    expect(after.metadata).toEqual({});
  });

  it("every save records its MD5 (one record per file), and an overwrite replaces the record", async () => {
    await storage.save("plain.css", "a{}");
    expect(await tree(root)).toEqual(["plain.css"]);
    expect((await records(root)).length).toBe(1);
    await storage.save("x.css", "a{}", { cacheControl: "max-age=1" });
    await storage.save("x.css", "b{}");
    expect(await tree(root)).toEqual(["plain.css", "x.css"]);
    expect((await records(root)).length).toBe(2);
    expect((await storage.stat("x.css")).cacheControl).toBeUndefined();
    expect((await storage.stat("x.css")).checksums).toEqual({ md5: md5("b{}") });
  });

  it("copy and move carry metadata; delete removes it", async () => {
    await storage.save("m.bin", "data", { contentType: "text/csv", metadata: { k: "v" } });
    await storage.copy("m.bin", "copy/m2.bin");
    expect(await storage.stat("copy/m2.bin")).toMatchObject({
      contentType: "text/csv",
      metadata: { k: "v" },
    });
    await storage.move("copy/m2.bin", "moved/m3.dat");
    expect(await storage.stat("moved/m3.dat")).toMatchObject({
      contentType: "text/csv",
      metadata: { k: "v" },
    });
    await storage.delete("moved/m3.dat");
    await storage.delete("m.bin");
    expect(await tree(root)).toEqual([]);
  });

  it("a copied file keeps the type of its source, not of its new extension", async () => {
    await storage.save("a.txt", "hello");
    await storage.copy("a.txt", "b.bin");
    expect((await storage.stat("b.bin")).contentType).toBe((await storage.stat("a.txt")).contentType);
  });

  it("etag changes when the file is replaced, and list reports the same etag as stat", async () => {
    await storage.save("e.txt", "one");
    const first = await storage.stat("e.txt");
    await storage.save("e.txt", "two");
    const second = await storage.stat("e.txt");
    expect(second.etag).not.toBe(first.etag);
    const [entry] = (await storage.listPage("")).entries;
    expect(entry).toMatchObject({ type: "file", name: "e.txt", size: 3, etag: second.etag });
  });

  it("directories are not files", async () => {
    await storage.save("dir/f.txt", "x");
    expect(await code(storage.stat("dir"))).toBe("E_NOT_FOUND");
    expect(await code(storage.readText("dir"))).toBe("E_NOT_FOUND");
    expect(await storage.exists("dir")).toBe(false);
    await storage.delete("dir");
    expect(await storage.exists("dir/f.txt")).toBe(true);
  });
});

describe("listing", () => {
  const names = ["a-b.txt", "a/x.txt", "a/y/z.txt", "a0.txt", "b.txt", "c/d/e/f.txt"];

  beforeEach(async () => {
    for (const name of names) await storage.save(name, name);
    // Clutter that must never show up.
    await writeFile(join(root, `${RESERVED_PREFIX}leftover.tmp`), "temp");
    await mkdir(join(root, "c", "d", "empty"), { recursive: true });
  });

  async function pages(prefix: string, recursive: boolean, pageSize: number): Promise<string[][]> {
    const out: string[][] = [];
    let cursor: string | undefined;
    do {
      const page = await storage.listPage(prefix, { recursive, pageSize, cursor });
      out.push(page.entries.map((e) => (e.type === "directory" ? `${e.name}/` : e.name)));
      cursor = page.cursor;
    } while (cursor);
    return out;
  }

  it("recursive listing is sorted and resumes across every page size", async () => {
    for (const size of [1, 2, 3, 5, 100]) {
      const all = (await pages("", true, size)).flat();
      expect(all, `pageSize ${size}`).toEqual([...names].sort());
    }
  });

  it("one-level listing shows directories once, without temp files", async () => {
    expect((await pages("", false, 2)).flat()).toEqual(["a-b.txt", "a/", "a0.txt", "b.txt", "c/"]);
    expect((await pages("a/", false, 1)).flat()).toEqual(["a/x.txt", "a/y/"]);
    expect((await pages("c/d/", false, 10)).flat()).toEqual(["c/d/e/", "c/d/empty/"]);
  });

  it("a missing prefix lists nothing; a bad cursor is an invalid argument", async () => {
    expect(await storage.listPage("nope/")).toEqual({ entries: [] });
    expect(await code(storage.listPage("", { cursor: "garbage" }))).toBe("E_INVALID_ARGUMENT");
    const first = await storage.listPage("", { recursive: true, pageSize: 1 });
    expect(await code(storage.listPage("a/", { recursive: true, cursor: first.cursor }))).toBe(
      "E_INVALID_ARGUMENT",
    );
  });

  it("refuses a name that is not UTF-8 (E_UNSUPPORTED, naming the folder and the bytes), never skips it", async () => {
    // Linux allows any bytes in a name; such a file read back as a string names no file at all.
    const bad = (folder: string, bytes: number[]) =>
      Buffer.concat([Buffer.from(join(root, folder, "/")), Buffer.from(bytes)]);
    writeFileSync(bad("a/y", [0xff, 0x2e, 0x74]), "latin-1");
    for (const [prefix, recursive] of [
      ["", true],
      ["a/", true],
      ["a/y/", false],
    ] as const) {
      const refused = await storage.listPage(prefix, { recursive }).catch((error: unknown) => error);
      expect(refused, prefix).toMatchObject({
        code: "E_UNSUPPORTED",
        path: "a/y/",
        message: expect.stringContaining(
          'The folder "a/y/" holds an entry whose name is not valid UTF-8 (its bytes: "\\xff.t")',
        ),
      });
      expect((refused as Error).message).toContain("convmv");
    }
    // A folder with such a name (and the files in it) is refused the same way, at the root.
    rmSync(bad("a/y", [0xff, 0x2e, 0x74]));
    mkdirSync(bad("", [0x64, 0xe9]));
    writeFileSync(Buffer.concat([bad("", [0x64, 0xe9]), Buffer.from("/in.txt")]), "x");
    await expect(storage.listPage("", { recursive: true })).rejects.toMatchObject({
      code: "E_UNSUPPORTED",
      message: expect.stringContaining(
        `The storage's root folder holds an entry whose name is not valid UTF-8 (its bytes: "d\\xe9")`,
      ),
    });
    // Outside the folder listed, it changes nothing; a real U+FFFD in a name is valid UTF-8.
    expect((await pages("a/", true, 10)).flat()).toEqual(["a/x.txt", "a/y/z.txt"]);
    rmSync(bad("", [0x64, 0xe9]), { recursive: true });
    await storage.save("c/\uFFFD.txt", "replacement character");
    expect((await pages("c/", true, 10)).flat()).toEqual(["c/d/e/f.txt", "c/\uFFFD.txt"]);
  });

  it("a cursor survives deletion of the entry it points at", async () => {
    const first = await storage.listPage("", { recursive: true, pageSize: 2 });
    expect(first.entries.map((e) => e.name)).toEqual(["a-b.txt", "a/x.txt"]);
    await storage.delete("a/x.txt");
    const second = await storage.listPage("", { recursive: true, pageSize: 2, cursor: first.cursor });
    expect(second.entries.map((e) => e.name)).toEqual(["a/y/z.txt", "a0.txt"]);
  });

  it("a folder it may not read is E_PERMISSION_DENIED naming that folder by its key, and what to do", async () => {
    const { chmod } = await import("node:fs/promises");
    await storage.save("c/d/secret/s.txt", "s");
    for (const folder of [join(root, "c"), join(root, "c", "d")]) await chmod(folder, 0o755);
    await chmod(join(root, "c", "d", "secret"), 0o000);
    const denied = failureAsNobody;
    try {
      for (const [prefix, recursive] of [
        ["", true],
        ["c/", true],
        ["c/d/secret/", false],
      ] as const) {
        const error = await denied(() => storage.listPage(prefix, { recursive, pageSize: 100 }));
        const what = `${prefix} ${recursive}`;
        expect(error?.code, what).toBe("E_PERMISSION_DENIED");
        expect(error?.path, what).toBe("c/d/secret/");
        expect(error?.message, what).toContain('the folder "c/d/secret/"');
        expect(error?.message, what).toContain("run as the owner of the files");
        // A key, not where the storage's root is on this machine.
        expect(error?.message, what).not.toContain(root);
      }
      // The folders beside it list as before.
      const beside = await denied(() => storage.listPage("a/", { recursive: true, pageSize: 100 }));
      expect(beside).toBeUndefined();
    } finally {
      await chmod(join(root, "c", "d", "secret"), 0o755);
    }
  });
});

describe("delete, copy, move", () => {
  it("delete is idempotent and removes emptied directories up to the root", async () => {
    await storage.save("p/q/r.txt", "x");
    await storage.save("p/keep.txt", "x");
    await storage.delete("p/q/r.txt");
    await storage.delete("p/q/r.txt");
    expect(await tree(root)).toEqual(["p/", "p/keep.txt"]);
    await storage.deleteMany(["p/keep.txt", "missing.txt"]);
    expect(await tree(root)).toEqual([]);
    expect((await stat(root)).isDirectory()).toBe(true);
  });

  it("copy with overwrite false refuses an existing destination atomically", async () => {
    await storage.save("src.txt", "src");
    await storage.save("dst.txt", "dst");
    expect(await code(storage.copy("src.txt", "dst.txt", { overwrite: false }))).toBe("E_ALREADY_EXISTS");
    expect(await storage.readText("dst.txt")).toBe("dst");
    await storage.copy("src.txt", "dst.txt");
    expect(await storage.readText("dst.txt")).toBe("src");
    expect((await tree(root)).filter((n) => n.includes(RESERVED_PREFIX))).toEqual([]);
  });

  it("move renames, refuses to replace when asked, and prunes the source directory", async () => {
    await storage.save("from/a.txt", "a");
    await storage.save("to/b.txt", "b");
    expect(await code(storage.move("from/a.txt", "to/b.txt", { overwrite: false }))).toBe("E_ALREADY_EXISTS");
    expect(await storage.readText("from/a.txt")).toBe("a");
    await storage.move("from/a.txt", "to/b.txt");
    expect(await storage.readText("to/b.txt")).toBe("a");
    expect(await tree(root)).toEqual(["to/", "to/b.txt"]);
    expect(await code(storage.move("from/a.txt", "x.txt"))).toBe("E_NOT_FOUND");
  });

  it("concurrent create-exclusive moves of one file: exactly one lands, the others leave no name behind", async () => {
    for (let round = 0; round < 5; round++) {
      await storage.save("staged/x.bin", "content");
      const outcomes = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) =>
          storage.move("staged/x.bin", `accepted/x-${round}-${i}.bin`, { overwrite: false }),
        ),
      );
      expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
      for (const o of outcomes)
        if (o.status === "rejected") expect((o.reason as StorageError).code).toBe("E_NOT_FOUND");
      const names = (await tree(root)).filter((n) => n.startsWith(`accepted/x-${round}-`));
      expect(names).toHaveLength(1);
      expect(await storage.readText(names[0]!)).toBe("content");
    }
  });

  it("moving a directory name is refused as not found (only files move)", async () => {
    await storage.save("dir/a.txt", "a");
    expect(await code(storage.move("dir", "other"))).toBe("E_NOT_FOUND");
    expect(await storage.exists("dir/a.txt")).toBe(true);
  });
});

describe("copy with link: true (a second name of the same content)", () => {
  /** Both kinds of folder: with the driver's records, and plain. */
  const LAYOUTS: Array<[string, { records?: boolean }]> = [
    ["with records", {}],
    ["on a plain folder", { records: false }],
  ];
  const inode = async (key: string) => (await stat(join(root, key))).ino;

  it("makes a hard link, replaces like a save, and refuses an existing name when asked", async () => {
    await storage.save("css/app.1234.css", "body{}", { cacheControl: "immutable" });
    await storage.save("css/app.css", "old");
    await storage.copy("css/app.1234.css", "css/app.css", { link: true });
    expect(await inode("css/app.css")).toBe(await inode("css/app.1234.css"));
    expect(await storage.readText("css/app.css")).toBe("body{}");
    // Its own record, with the source's metadata and checksum.
    const copied = await storage.stat("css/app.css");
    expect(copied.cacheControl).toBe("immutable");
    expect(copied.checksums?.md5).toBe(md5("body{}"));
    expect(
      await code(storage.copy("css/app.1234.css", "css/app.css", { link: true, overwrite: false })),
    ).toBe("E_ALREADY_EXISTS");
    await storage.copy("css/app.1234.css", "new/dir/app.css", { link: true, overwrite: false });
    expect(await inode("new/dir/app.css")).toBe(await inode("css/app.1234.css"));
    // Replacing one name writes a new file: the other keeps its content.
    await storage.save("css/app.css", "replaced");
    expect(await storage.readText("css/app.1234.css")).toBe("body{}");
    expect((await tree(root)).filter((n) => n.includes(RESERVED_PREFIX))).toEqual([]);
  });

  it("a source without a recorded checksum is copied (and hashed), not linked", async () => {
    await mkdir(root, { recursive: true });
    await writeFile(join(root, "foreign.txt"), "put there by another program");
    await storage.copy("foreign.txt", "copy.txt", { link: true });
    expect(await inode("copy.txt")).not.toBe(await inode("foreign.txt"));
    expect((await storage.stat("copy.txt")).checksums?.md5).toBe(md5("put there by another program"));
  });

  it("on a plain folder (records: false) the link is the whole copy; a missing source is not found", async () => {
    const plain = fsStorage({ root: join(root, "plain"), records: false });
    await plain.save("a.js", "x()");
    await plain.copy("a.js", "b.js", { link: true });
    expect((await stat(join(root, "plain/b.js"))).ino).toBe((await stat(join(root, "plain/a.js"))).ino);
    expect(await code(plain.copy("missing.js", "c.js", { link: true }))).toBe("E_NOT_FOUND");
    expect(await tree(join(root, "plain"))).toEqual(["a.js", "b.js"]);
  });

  it.each(LAYOUTS)(
    "linking a name to the file it already names changes nothing and leaves no temporary name (%s)",
    async (_label, options) => {
      const storage = fsStorage({ root: join(root, "again"), ...options });
      await storage.save("app.1234.js", "x()");
      await storage.save("other.js", "y()");
      for (let i = 0; i < 3; i++) {
        await storage.copy("app.1234.js", "app.js", { link: true });
        // rename() of two names of one file does nothing: a temporary name would have stayed.
        expect((await tree(join(root, "again"))).filter((n) => n.includes(RESERVED_PREFIX))).toEqual([]);
      }
      expect((await stat(join(root, "again/app.js"))).ino).toBe(
        (await stat(join(root, "again/app.1234.js"))).ino,
      );
      // Replacing a name that holds another file still replaces it.
      await storage.copy("other.js", "app.js", { link: true });
      expect(await storage.readText("app.js")).toBe("y()");
      expect(await storage.readText("app.1234.js")).toBe("x()");
      expect((await tree(join(root, "again"))).filter((n) => n.includes(RESERVED_PREFIX))).toEqual([]);
      await storage.close();
    },
  );

  it.each(LAYOUTS)(
    "a move onto a name of the same file (a hard link) removes the source name (%s)",
    async (_label, options) => {
      const storage = fsStorage({ root: join(root, "onto"), ...options });
      await storage.save("app.1234.js", "x()", { cacheControl: "immutable" });
      await storage.copy("app.1234.js", "app.js", { link: true });
      await storage.move("app.1234.js", "app.js");
      // rename() of two names of one file does nothing: the source would have stayed.
      expect(await storage.exists("app.1234.js")).toBe(false);
      expect(await storage.readText("app.js")).toBe("x()");
      expect(await tree(join(root, "onto"))).toEqual(["app.js"]);
      if (!("records" in options)) expect((await storage.stat("app.js")).cacheControl).toBe("immutable");
      await storage.close();
    },
  );
});

describe("saves racing deletes that prune their folders", () => {
  it("a save never fails because a concurrent delete removed the (then empty) folder it is making", async () => {
    // Each delete removes its file's folders up to the root when they are empty, which can land
    // between a save's check of a parent folder and its mkdir inside it, at every depth.
    const worker = async (key: string) => {
      for (let i = 0; i < 150; i++) {
        await storage.save(key, String(i));
        await storage.delete(key);
      }
    };
    // A linked copy prepares its folder the same way (prepareParent).
    await storage.save("source.txt", "s");
    const linker = async () => {
      for (let i = 0; i < 150; i++) {
        await storage.copy("source.txt", "race/a/b/linked.txt", { link: true });
        await storage.delete("race/a/b/linked.txt");
      }
    };
    await Promise.all([
      worker("race/a/one.txt"),
      worker("race/a/b/two.txt"),
      worker("race/a/b/c/three.txt"),
      worker("race/four.txt"),
      linker(),
    ]);
    expect(await tree(root)).toEqual(["source.txt"]);
  });

  it("nor does a local file's save, whose kernel copy creates its temporary file", async () => {
    const { localFile } = await import("@storages/core");
    const source = join(outside, "local.txt");
    await writeFile(source, "from a local file");
    const plain = fsStorage({ root, records: false, durability: "batch", overwrite: true });
    const saver = async (key: string) => {
      for (let i = 0; i < 150; i++) {
        await plain.save(key, localFile(source));
        await plain.delete(key);
      }
    };
    const worker = async (key: string) => {
      for (let i = 0; i < 150; i++) {
        await plain.save(key, String(i));
        await plain.delete(key);
      }
    };
    await Promise.all([
      saver("race/a/one.txt"),
      saver("race/a/b/two.txt"),
      worker("race/a/b/c/three.txt"),
      worker("race/four.txt"),
    ]);
    await plain.close();
    expect(await tree(root)).toEqual([]);
  });
});

describe("names that cannot exist on disk", () => {
  it("copy or move under a file name is an invalid path", async () => {
    await storage.save("f", "file");
    await storage.save("g.txt", "g");
    expect(await code(storage.copy("g.txt", "f/g.txt"))).toBe("E_INVALID_PATH");
    expect(await code(storage.move("g.txt", "f/g.txt"))).toBe("E_INVALID_PATH");
    expect(await storage.readText("g.txt")).toBe("g");
  });
});

describe("bodies that are local files", () => {
  it("an untouched createReadStream is stored byte for byte with the storage's file mode", async () => {
    const { createReadStream } = await import("node:fs");
    const { chmod } = await import("node:fs/promises");
    const source = join(outside, "big.bin");
    const bytes = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31) % 251;
    await writeFile(source, bytes);
    await chmod(source, 0o600);
    const s = fsStorage({ root, fileMode: 0o644 });
    const { name, size } = await s.save("copied/big.bin", createReadStream(source));
    expect(size).toBe(bytes.length);
    expect((await readFile(join(root, name))).equals(bytes)).toBe(true);
    expect((await stat(join(root, name))).mode & 0o777).toBe(0o644);
    // A ranged or already-started stream is streamed, so only its bytes are stored.
    const ranged = await s.save("copied/part.bin", createReadStream(source, { start: 10, end: 19 }));
    expect((await readFile(join(root, ranged.name))).equals(bytes.subarray(10, 20))).toBe(true);
    expect(await tree(root)).toEqual(["copied/", "copied/big.bin", "copied/part.bin"]);
  });

  it.runIf(process.platform === "linux")(
    "a file opened from another fs storage is copied by the kernel, never read through the stream, with its MD5",
    async () => {
      const other = await tempDir("storages-other-");
      cleanups.push(other.cleanup);
      const from = fsStorage({ root: other.path, overwrite: true });
      const bytes = Buffer.alloc(1024 * 1024 + 3);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 13) % 241;
      await from.save("src/a.bin", bytes);
      const body = await from.open("src/a.bin");
      const { size, checksums } = await storage.save("copied/a.bin", body);
      expect(checksums).toEqual({ md5: md5(bytes) }); // the save reports the MD5 it recorded
      expect(size).toBe(bytes.length);
      // The kernel copied it: the stream (an fs.ReadStream) was never read.
      expect((body as unknown as { bytesRead: number }).bytesRead).toBe(0);
      expect((await readFile(join(root, "copied", "a.bin"))).equals(bytes)).toBe(true);
      expect((await storage.stat("copied/a.bin")).checksums).toEqual({ md5: md5(bytes) });
      await eventually(async () => expect(body.destroyed).toBe(true)); // its descriptor is closed
      // A plain folder keeps no MD5, so it does not compute one.
      const plain = fsStorage({ root: join(root, "plain"), records: false, overwrite: true });
      expect(plain.capabilities.checksums).toEqual([]);
      expect((await plain.save("a.bin", await from.open("src/a.bin"))).checksums).toBeUndefined();
      expect((await readFile(join(root, "plain", "a.bin"))).equals(bytes)).toBe(true);
    },
  );

  it("a descriptor stream without a start reads from where the descriptor is: it is streamed", async () => {
    const { open: openHandle } = await import("node:fs/promises");
    const source = join(outside, "part.bin");
    await writeFile(source, "0123456789");
    const handle = await openHandle(source);
    await handle.read(Buffer.alloc(4), 0, 4, null); // the descriptor is now at byte 4
    await storage.save("rest.bin", handle.createReadStream());
    expect(await storage.readText("rest.bin")).toBe("456789");
  });

  it("into a plain folder (records: false, batch), a local file gets the storage's file mode", async () => {
    const { chmod } = await import("node:fs/promises");
    const { localFile } = await import("@storages/core");
    const source = join(outside, "private.txt");
    await writeFile(source, "mine");
    await chmod(source, 0o600);
    const plain = fsStorage({ root, fileMode: 0o644, records: false, durability: "batch", overwrite: true });
    await plain.save("copied/private.txt", localFile(source));
    expect((await stat(join(root, "copied/private.txt"))).mode & 0o777).toBe(0o644);
    expect(await plain.readText("copied/private.txt")).toBe("mine");
    await plain.close();
  });

  it("a missing or unreadable local file fails as the caller's input, whatever the storage, and leaves nothing", async () => {
    const { localFile } = await import("@storages/core");
    for (const options of [{}, { records: false }, { records: false, durability: "batch" as const }]) {
      const s = fsStorage({ root, overwrite: true, ...options });
      expect(await code(s.save("x/missing.bin", localFile(join(outside, "nope.bin"))))).toBe(
        "E_INVALID_ARGUMENT",
      );
      // A folder is no file: the kernel's copy refuses it.
      expect(await code(s.save("x/folder.bin", localFile(outside)))).toBe("E_INVALID_ARGUMENT");
      expect(await tree(root)).toEqual([]);
      await s.close();
    }
  });

  it("a local file's save aborted at any point leaves nothing behind, its kernel copy included", async () => {
    const { localFile } = await import("@storages/core");
    const source = join(outside, "large.bin");
    await writeFile(source, Buffer.alloc(16 * 1024 * 1024, 5));
    const plain = fsStorage({ root, records: false, durability: "batch", overwrite: true });
    for (let delay = 0; delay < 6; delay++) {
      const controller = new AbortController();
      const saving = plain.save(`aborted/${delay}.bin`, localFile(source), { signal: controller.signal });
      setTimeout(() => controller.abort(), delay);
      const outcome = await saving.then(
        () => "saved",
        (error: unknown) => (error as StorageError).code,
      );
      expect(["saved", "E_ABORTED"]).toContain(outcome);
    }
    // A copy abandoned mid-way removes the temporary file it created once it finishes.
    await eventually(async () =>
      expect((await tree(root)).filter((path) => path.includes(RESERVED_PREFIX))).toEqual([]),
    );
    await plain.close();
  });

  it("a missing source file fails the save and leaves nothing", async () => {
    const { createReadStream } = await import("node:fs");
    expect(
      await code(storage.save("x/missing.bin", createReadStream(join(outside, "nope.bin")))),
    ).toBeDefined();
    expect(await tree(root)).toEqual([]);
  });
});

describe("checksums recorded at write time", () => {
  const bytes = Buffer.alloc(2 * 1024 * 1024 + 5);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) % 253;

  it("a stream, bytes and a whole local file (kernel copy) all get the MD5 of their content", async () => {
    const { createReadStream } = await import("node:fs");
    const source = join(outside, "whole.bin");
    await writeFile(source, bytes);
    await storage.save("stream.bin", Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]));
    await storage.save("bytes.bin", bytes);
    await storage.save("file.bin", createReadStream(source));
    for (const name of ["stream.bin", "bytes.bin", "file.bin"]) {
      expect((await storage.stat(name)).checksums, name).toEqual({ md5: md5(bytes) });
    }
  });

  it("streams in many odd-sized chunks, saved at once, each get the MD5 of their own content", async () => {
    // Chunks of 1..70,000 bytes cross the driver's 256 KiB write batches at every offset.
    const bodies = Array.from({ length: 6 }, (_, n) => {
      const content = Buffer.alloc(1024 * 1024 + n * 99_991);
      for (let i = 0; i < content.length; i++) content[i] = (i * (n + 3)) % 251;
      const chunks: Buffer[] = [];
      for (let at = 0, size = 1 + n; at < content.length; at += size, size = (size * 37 + 11) % 70_000 || 1)
        chunks.push(content.subarray(at, at + size));
      return { content, chunks };
    });
    await Promise.all(bodies.map((b, n) => storage.save(`many/${n}.bin`, Readable.from(b.chunks))));
    for (const [n, b] of bodies.entries()) {
      expect((await readFile(join(root, "many", `${n}.bin`))).equals(b.content), `${n}`).toBe(true);
      expect((await storage.stat(`many/${n}.bin`)).checksums, `${n}`).toEqual({ md5: md5(b.content) });
    }
  });

  it("a stream that fails after several write batches leaves nothing, and the next one saves", async () => {
    const big = bytes.subarray(0, 1024 * 1024);
    const failing = new Readable({
      read() {
        this.push(big);
        this.destroy(new Error("the client went away"));
      },
    });
    await expect(storage.save("gone.bin", Readable.from([big, big, failing]))).rejects.toBeDefined();
    expect(await tree(root)).toEqual([]);
    await storage.save("next.bin", Readable.from([big, big]));
    expect((await storage.stat("next.bin")).checksums).toEqual({ md5: md5(Buffer.concat([big, big])) });
  });

  it("listings carry the recorded MD5, and none for a file another program put in the root", async () => {
    await storage.save("a/one.txt", "one");
    await mkdir(join(root, "a"), { recursive: true });
    await writeFile(join(root, "a", "foreign.txt"), "written by hand");
    const entries = (await storage.listPage("a/")).entries;
    expect(entries).toEqual([
      expect.objectContaining({ name: "a/foreign.txt", checksums: undefined }),
      expect.objectContaining({ name: "a/one.txt", checksums: { md5: md5("one") } }),
    ]);
    expect((await storage.stat("a/foreign.txt")).checksums).toBeUndefined();
  });

  it("a record no longer applies once another program changes the file", async () => {
    await storage.save("edited.txt", "original");
    await writeFile(join(root, "edited.txt"), "changed by hand, longer");
    expect((await storage.stat("edited.txt")).checksums).toBeUndefined();
    const [entry] = (await storage.listPage("")).entries;
    expect(entry).toMatchObject({ name: "edited.txt" });
    expect(entry?.type === "file" && entry.checksums).toBeFalsy();
  });

  it("copy carries the MD5, and gives one to the copy of a file that had none; move keeps it", async () => {
    await storage.save("src.bin", bytes);
    await storage.copy("src.bin", "copied.bin");
    expect((await storage.stat("copied.bin")).checksums).toEqual({ md5: md5(bytes) });
    await writeFile(join(root, "foreign.bin"), bytes);
    await storage.copy("foreign.bin", "foreign-copy.bin");
    expect((await storage.stat("foreign-copy.bin")).checksums).toEqual({ md5: md5(bytes) });
    await storage.move("copied.bin", "moved/here.bin");
    expect((await storage.stat("moved/here.bin")).checksums).toEqual({ md5: md5(bytes) });
  });

  it("etags are quoted, and the same in the save result, stat and the listing", async () => {
    const saved = await storage.save("q.txt", "quoted");
    const info = await storage.stat("q.txt");
    const [entry] = (await storage.listPage("")).entries;
    expect(saved.etag).toMatch(/^"[0-9a-f]{32}"$/);
    expect(info.etag).toBe(saved.etag);
    expect(entry?.type === "file" && entry.etag).toBe(saved.etag);
  });
});

describe("records: false (a plain folder)", () => {
  it("writes nothing but the files: no record, no checksum, no metadata", async () => {
    const { mkdtemp, readdir, rm } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const root = await mkdtemp(join(tmpdir(), "storages-plain-"));
    try {
      const { fsStorage } = await import("../src/index.js");
      const plain = fsStorage({ root, records: false, overwrite: true });
      await plain.save("a/b.txt", "hello");
      await plain.copy("a/b.txt", "c.txt");
      await plain.move("c.txt", "d.txt");
      // A stream of several write batches (it is written without a hash: none is kept).
      const big = Buffer.alloc(3 * 1024 * 1024 + 17);
      for (let i = 0; i < big.length; i++) big[i] = i % 241;
      await plain.save("e.bin", Readable.from([big.subarray(0, 70_001), big.subarray(70_001)]));
      expect((await readFile(join(root, "e.bin"))).equals(big)).toBe(true);
      await rm(join(root, "e.bin"));
      expect((await readdir(root, { recursive: true })).sort()).toEqual(["a", "a/b.txt", "d.txt"]);
      expect(await plain.readText("a/b.txt")).toBe("hello");
      expect((await plain.stat("a/b.txt")).checksums?.md5).toBeUndefined();
      expect(plain.capabilities.metadata).toBe(false);
      await expect(plain.save("m.txt", "x", { metadata: { a: "b" } })).rejects.toMatchObject({
        code: "E_UNSUPPORTED",
      });
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
