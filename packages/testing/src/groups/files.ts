/**
 * Names and the files behind them: listing, copy, move, delete, overwrite and collision-safe names.
 */
import { Readable } from "node:stream";
import type { ListEntry, Storage } from "@storages/core";
import pLimit from "p-limit";
import { describe, expect, it } from "vitest";
import { listAllNames, type SuiteContext } from "../context.js";
import { awkwardNames } from "../names.js";

/** Bounded concurrency for bulk object creation: fast on a remote server, gentle on a small one. */
const CONCURRENCY = 16;

async function listEntries(storage: Storage, prefix: string, recursive: boolean): Promise<ListEntry[]> {
  const entries: ListEntry[] = [];
  for await (const entry of storage.list(prefix, { recursive })) entries.push(entry);
  return entries;
}

function summary(entries: ListEntry[]): string[] {
  return entries.map((e) => `${e.type}:${e.name}`).sort();
}

function sameDirAndExtension(original: string, got: string): void {
  const dir = original.slice(0, original.lastIndexOf("/") + 1);
  const ext = original.slice(original.lastIndexOf("."));
  expect(got).not.toBe(original);
  expect(got.startsWith(dir), `${got} keeps the directory ${dir}`).toBe(true);
  expect(got.endsWith(ext), `${got} keeps the extension ${ext}`).toBe(true);
  expect(got.slice(dir.length).includes("/"), `${got} adds no directory`).toBe(false);
}

export function registerFiles(ctx: SuiteContext): void {
  describe("awkward but legal names", () => {
    it(`all ${awkwardNames.length} names save, stat, read, list, copy and delete exactly`, async () => {
      const s = await ctx.fresh();
      const limit = pLimit(CONCURRENCY);
      await Promise.all(
        awkwardNames.map((name, i) =>
          limit(async () => {
            const result = await s.save(name, `content of #${i}: ${name}`);
            expect(result.name, "names are stored as given").toBe(name);
          }),
        ),
      );
      // NFC and NFD spellings, "+" and " ", "%41" and "A" are all different names.
      expect(await listAllNames(s)).toEqual([...awkwardNames].sort());
      for (const [i, name] of awkwardNames.entries()) {
        expect(await s.exists(name), `exists(${JSON.stringify(name)})`).toBe(true);
        const stat = await s.stat(name);
        expect(stat.name).toBe(name);
        expect(await s.readText(name), `content of ${JSON.stringify(name)}`).toBe(
          `content of #${i}: ${name}`,
        );
      }
      await Promise.all(
        awkwardNames.map((name, i) =>
          limit(async () => {
            const copy = `copies/${name}`;
            await s.copy(name, copy);
            expect(await s.readText(copy), `copy of ${JSON.stringify(name)}`).toBe(
              `content of #${i}: ${name}`,
            );
          }),
        ),
      );
      const oneLevel = summary(await listEntries(s, "unicode/", false));
      expect(oneLevel).toEqual(
        awkwardNames
          .filter((n) => n.startsWith("unicode/"))
          .map((n) => `file:${n}`)
          .sort(),
      );
      await s.deleteMany([...awkwardNames, ...awkwardNames.map((n) => `copies/${n}`)]);
      expect(await listAllNames(s)).toEqual([]);
    });
  });

  describe("list", () => {
    ctx.verify(
      "lists in code point order (the names' UTF-8 byte order), the same on every backend, across pages",
      ["listingOrder"],
      async () => {
        const s = await ctx.fresh();
        // UTF-16 order would put the emoji (a surrogate pair) before U+E000 and the fullwidth Ａ.
        const names = [
          "order/a.txt",
          "order/\u{E000}.txt",
          "order/\u{FF21}.txt",
          "order/\u{1F600}.txt",
          "order/\u{1F600}/x.txt",
        ];
        await Promise.all(names.map((name) => s.save(name, "x", { overwrite: true })));
        const byBytes = [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
        const all: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await s.listPage("order/", { recursive: true, pageSize: 1, cursor });
          all.push(...page.entries.map((e) => e.name));
          cursor = page.cursor;
        } while (cursor !== undefined);
        expect(all).toEqual(byBytes);
        await s.deleteMany(names);
      },
    );

    const tree = [
      "list/a.txt",
      "list/z.txt",
      "list/b/c.txt",
      "list/b/d/e.txt",
      "list/f g/h.txt",
      "list-sibling.txt",
      "listing/other.txt",
      "top.txt",
    ];

    async function withTree(): Promise<Storage> {
      const s = await ctx.fresh();
      await Promise.all(tree.map((name) => s.save(name, name)));
      return s;
    }

    it("one level lists files and directories (no trailing slash, full names)", async () => {
      const s = await withTree();
      const entries = await listEntries(s, "list/", false);
      expect(summary(entries)).toEqual(
        ["file:list/a.txt", "file:list/z.txt", "directory:list/b", "directory:list/f g"].sort(),
      );
      const a = entries.find((e) => e.name === "list/a.txt");
      expect(a).toMatchObject({ type: "file", size: "list/a.txt".length });
      if (a?.type === "file") expect(a.lastModified).toBeInstanceOf(Date);
      // "list" without the slash is the same directory, and never matches "list-sibling.txt"/"listing/".
      expect(summary(await listEntries(s, "list", false))).toEqual(summary(entries));
    });

    it("recursive lists every file below the prefix, and only files", async () => {
      const s = await withTree();
      const entries = await listEntries(s, "list/", true);
      expect(summary(entries)).toEqual(
        ["list/a.txt", "list/z.txt", "list/b/c.txt", "list/b/d/e.txt", "list/f g/h.txt"]
          .map((n) => `file:${n}`)
          .sort(),
      );
      for (const entry of entries) {
        if (entry.type === "file") expect(entry.size).toBe(entry.name.length);
      }
      expect(summary(await listEntries(s, "list/b/d", true))).toEqual(["file:list/b/d/e.txt"]);
    });

    it("the root lists this storage's files and directories only", async () => {
      const s = await withTree();
      expect(summary(await listEntries(s, "", false))).toEqual(
        ["directory:list", "directory:listing", "file:list-sibling.txt", "file:top.txt"].sort(),
      );
      expect(await listAllNames(s)).toEqual([...tree].sort());
      // No listed name carries the driver's root or prefix.
      for (const name of await listAllNames(s)) expect(name.startsWith("conformance-")).toBe(false);
    });

    it("a new storage, a missing prefix and a file name used as a prefix list nothing", async () => {
      const s = await ctx.fresh();
      expect(await listEntries(s, "", true)).toEqual([]);
      expect(await listEntries(s, "", false)).toEqual([]);
      expect(await s.listPage("", {})).toMatchObject({ entries: [] });
      await s.save("present/file.txt", "x");
      expect(await listEntries(s, "absent/", true)).toEqual([]);
      expect(await listEntries(s, "absent/", false)).toEqual([]);
      const page = await s.listPage("absent/", { recursive: true });
      expect(page.entries).toEqual([]);
      expect(page.cursor).toBeUndefined();
      expect(await listEntries(s, "present/file.txt", false)).toEqual([]);
    });

    it("two storages do not see each other's files", async () => {
      const a = await ctx.fresh();
      const b = await ctx.fresh();
      await a.save("only-in-a.txt", "a");
      expect(await listAllNames(b)).toEqual([]);
      expect(await b.exists("only-in-a.txt")).toBe(false);
      expect(await listAllNames(a)).toEqual(["only-in-a.txt"]);
    });

    it("2,500 files: exact listing past 1,000 keys, no duplicates, listPage cursors chain", async () => {
      const s = await ctx.fresh();
      const flat = Array.from({ length: 2400 }, (_, i) => `many/f-${String(i).padStart(5, "0")}.txt`);
      const nested = Array.from(
        { length: 100 },
        (_, i) => `many/sub-${String(i % 20).padStart(2, "0")}/n-${i}.txt`,
      );
      const all = [...flat, ...nested];
      const limit = pLimit(CONCURRENCY);
      await Promise.all(all.map((name) => limit(() => s.save(name, "x"))));

      const recursive = (await listEntries(s, "many/", true)).map((e) => e.name);
      expect(recursive.length).toBe(2500);
      expect(new Set(recursive).size).toBe(2500);
      expect([...recursive].sort()).toEqual([...all].sort());

      const shallow = await listEntries(s, "many/", false);
      expect(shallow.length).toBe(2420);
      expect(new Set(shallow.map((e) => e.name)).size).toBe(2420);
      expect(
        shallow
          .filter((e) => e.type === "directory")
          .map((e) => e.name)
          .sort(),
      ).toEqual(Array.from({ length: 20 }, (_, i) => `many/sub-${String(i).padStart(2, "0")}`));

      // Pages of at most 1,000 entries, chained by cursors; cursors are plain strings.
      const paged: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await s.listPage("many/", { recursive: true, pageSize: 1000, cursor });
        pages += 1;
        expect(page.entries.length).toBeLessThanOrEqual(1000);
        paged.push(...page.entries.map((e) => e.name));
        cursor = page.cursor;
        if (cursor !== undefined) expect(typeof JSON.parse(JSON.stringify(cursor))).toBe("string");
        expect(pages).toBeLessThan(100);
      } while (cursor !== undefined);
      expect(pages).toBeGreaterThanOrEqual(3);
      expect(paged.length).toBe(2500);
      expect([...paged].sort()).toEqual([...all].sort());

      // Small pages, one level: the union of pages is exactly the one-level listing.
      const small: string[] = [];
      cursor = undefined;
      pages = 0;
      do {
        const page = await s.listPage("many/sub-03/", { recursive: false, pageSize: 2, cursor });
        pages += 1;
        small.push(...page.entries.map((e) => e.name));
        cursor = page.cursor;
        expect(pages).toBeLessThan(100);
      } while (cursor !== undefined);
      expect(small.sort()).toEqual(nested.filter((n) => n.startsWith("many/sub-03/")).sort());
      expect(pages).toBeGreaterThanOrEqual(3);

      // Listing reflects deletes.
      await s.deleteMany(flat.slice(0, 1500));
      const after = (await listEntries(s, "many/", true)).map((e) => e.name).sort();
      expect(after).toEqual([...flat.slice(1500), ...nested].sort());
      await s.deleteMany(after);
      expect(await listEntries(s, "many/", true)).toEqual([]);
      expect(await listEntries(s, "", false)).toEqual([]);
    }, 600_000);
  });

  describe("copy, move, delete", () => {
    it("copy keeps content and contentType and leaves the source", async () => {
      const s = ctx.main;
      const from = ctx.unique("copy", ".bin");
      const to = ctx.unique("copy/nested/deeper", ".bin");
      await s.save(from, "copied content", {
        contentType: "application/x-conformance",
        cacheControl: "no-store",
      });
      await s.copy(from, to);
      expect(await s.readText(to)).toBe("copied content");
      expect((await s.stat(to)).contentType).toBe("application/x-conformance");
      expect(await s.readText(from)).toBe("copied content");
      await s.deleteMany([from, to]);
    });

    it("copy with link: true (a hard link where the backend can) reads as a copy, and replacing either name leaves the other", async () => {
      const s = ctx.main;
      const from = ctx.unique("copy-link", ".css");
      const to = ctx.unique("copy-link/nested", ".css");
      await s.save(from, "body{}", {
        contentType: "text/css",
        cacheControl: "public, max-age=31536000, immutable",
      });
      await s.save(to, "old content");
      await s.copy(from, to, { link: true });
      expect(await s.readText(to)).toBe("body{}");
      const copied = await s.stat(to);
      expect(copied.size).toBe(6);
      expect(copied.contentType).toBe("text/css");
      await s.save(to, "replaced", { overwrite: true });
      expect(await s.readText(from)).toBe("body{}");
      await s.save(from, "source replaced", { overwrite: true });
      expect(await s.readText(to)).toBe("replaced");
      await s.deleteMany([from, to]);
    });

    it("copy replaces an existing destination by default", async () => {
      const s = ctx.main;
      const from = ctx.unique("copy");
      const to = ctx.unique("copy");
      await s.save(from, "new");
      await s.save(to, "old content");
      await s.copy(from, to);
      expect(await s.readText(to)).toBe("new");
      await s.deleteMany([from, to]);
    });

    ctx.verify(
      "copy with overwrite:false refuses an existing destination with E_ALREADY_EXISTS and keeps it",
      ["conditionalWrite"],
      async () => {
        const s = ctx.main;
        const from = ctx.unique("copy");
        const to = ctx.unique("copy");
        await s.save(from, "new");
        await s.save(to, "old content");
        await ctx.expectError(s.copy(from, to, { overwrite: false }), "E_ALREADY_EXISTS", {
          operation: "copy",
        });
        expect(await s.readText(to)).toBe("old content");
        const fresh = ctx.unique("copy");
        await s.copy(from, fresh, { overwrite: false });
        expect(await s.readText(fresh)).toBe("new");
        await s.deleteMany([from, to, fresh]);
      },
    );

    it("copy onto itself leaves the file intact", async () => {
      const s = ctx.main;
      const name = ctx.unique("copy");
      await s.save(name, "self");
      try {
        await s.copy(name, name);
      } catch (error) {
        // Refusing is fine; losing the file is not.
        expect((error as { code?: string }).code).toMatch(/^E_/);
      }
      expect(await s.readText(name)).toBe("self");
      await s.delete(name);
    });

    it("move puts the content at the destination and removes the source", async () => {
      const s = ctx.main;
      const from = ctx.unique("move", ".json");
      const to = ctx.unique("move/elsewhere", ".json");
      await s.save(from, '{"moved":true}', { contentType: "application/json" });
      await s.move(from, to);
      expect(await s.exists(from)).toBe(false);
      expect(await s.readText(to)).toBe('{"moved":true}');
      expect((await s.stat(to)).contentType).toBe("application/json");
      await ctx.expectError(s.stat(from), "E_NOT_FOUND");
      await s.delete(to);
    });

    it("delete removes a file and is idempotent", async () => {
      const s = ctx.main;
      const name = ctx.unique("delete");
      await s.save(name, "x");
      await s.delete(name);
      expect(await s.exists(name)).toBe(false);
      await s.delete(name);
      await s.delete(ctx.unique("delete"));
      expect(await s.exists(name)).toBe(false);
    });

    it("delete of a directory name never removes the files inside it", async () => {
      const s = ctx.main;
      const dir = ctx.unique("delete-dir", "");
      await s.save(`${dir}/keep.txt`, "keep");
      try {
        await s.delete(dir);
      } catch (error) {
        expect((error as { code?: string }).code).toMatch(/^E_/);
      }
      expect(await s.readText(`${dir}/keep.txt`)).toBe("keep");
      await s.delete(`${dir}/keep.txt`);
    });

    it("deleteMany removes existing names, ignores missing ones, and listing reflects it", async () => {
      const s = await ctx.fresh();
      const names = Array.from({ length: 30 }, (_, i) => `batch/${i}.txt`);
      await Promise.all(names.map((n) => s.save(n, n)));
      await s.save("batch/keep.txt", "keep");
      await s.deleteMany([...names, "batch/missing-1.txt", "never/existed.txt"]);
      expect(await listAllNames(s)).toEqual(["batch/keep.txt"]);
      await s.deleteMany([]);
      await s.deleteMany(["batch/keep.txt", "batch/keep.txt"]);
      expect(await listAllNames(s)).toEqual([]);
    });
  });

  describe("overwrite and collision-safe names", () => {
    it("overwrite:true replaces the file, its content type and keeps the name", async () => {
      const s = ctx.main;
      const name = ctx.unique("overwrite", ".txt");
      await s.save(name, "first", { contentType: "text/plain" });
      const result = await s.save(name, "second, longer", { overwrite: true, contentType: "text/x-second" });
      expect(result.name).toBe(name);
      expect(await s.readText(name)).toBe("second, longer");
      expect((await s.stat(name)).contentType).toBe("text/x-second");
      expect(await listAllNames(s, name.slice(0, name.lastIndexOf("/") + 1))).toEqual([name]);
      await s.delete(name);
    });

    it("a storage created with overwrite:true replaces by default", async () => {
      const s = await ctx.fresh({ overwrite: true });
      await s.save("same.txt", "first");
      const result = await s.save("same.txt", "second");
      expect(result.name).toBe("same.txt");
      expect(await s.readText("same.txt")).toBe("second");
      expect(await listAllNames(s)).toEqual(["same.txt"]);
    });

    if (!ctx.caps.conditionalWrite) {
      it("overwrite:false is E_UNSUPPORTED without create-exclusive writes, and writes nothing", async () => {
        const s = await ctx.fresh({ overwrite: false });
        await ctx.expectError(s.save("taken.txt", "x"), "E_UNSUPPORTED", { operation: "save" });
        await ctx.expectError(s.save("taken.txt", "x", { overwrite: false }), "E_UNSUPPORTED");
        await ctx.expectError(s.save("taken.txt", "x", { exclusive: true }), "E_UNSUPPORTED");
        expect(await listAllNames(s)).toEqual([]);
      });
      return;
    }

    ctx.verify(
      "exclusive: a taken name is E_ALREADY_EXISTS, the file there untouched and no copy under another name",
      ["conditionalWrite"],
      async () => {
        const s = await ctx.fresh({ overwrite: true });
        const name = "locks/job.json";
        expect((await s.save(name, "first", { exclusive: true })).name).toBe(name);
        await ctx.expectError(s.save(name, "second", { exclusive: true }), "E_ALREADY_EXISTS", {
          operation: "save",
        });
        // A stream is refused before it is sent, or by the write itself: either way nothing lands.
        await ctx.expectError(
          s.save(name, Readable.from([Buffer.from("third")]), { exclusive: true }),
          "E_ALREADY_EXISTS",
        );
        await ctx.expectError(s.save(name, "x", { exclusive: true, overwrite: true }), "E_INVALID_ARGUMENT");
        expect(await s.readText(name)).toBe("first");
        expect(await listAllNames(s)).toEqual([name]);
      },
    );

    ctx.verify(
      "20 concurrent exclusive saves of one name: exactly one stores, every other is E_ALREADY_EXISTS",
      ["conditionalWrite"],
      async () => {
        const s = await ctx.fresh();
        const name = "race/lock.json";
        const outcomes = await Promise.allSettled(
          Array.from({ length: 20 }, (_, i) => s.save(name, `writer ${i}`, { exclusive: true })),
        );
        const stored = outcomes.flatMap((o, i) => (o.status === "fulfilled" ? [i] : []));
        expect(stored).toHaveLength(1);
        for (const o of outcomes) {
          if (o.status === "rejected") expect((o.reason as { code?: string }).code).toBe("E_ALREADY_EXISTS");
        }
        expect(await s.readText(name)).toBe(`writer ${stored[0]}`);
        expect(await listAllNames(s)).toEqual([name]);
      },
      180_000,
    );

    ctx.verify(
      "overwrite:false (the default) stores a taken name under a new name in the same directory, same extension",
      ["conditionalWrite"],
      async () => {
        const s = await ctx.fresh({ overwrite: false });
        const name = "avatars/me.profile.jpg";
        expect((await s.save(name, "original")).name).toBe(name);
        const second = await s.save(name, "second");
        sameDirAndExtension(name, second.name);
        const third = await s.save(name, "third", { overwrite: false });
        sameDirAndExtension(name, third.name);
        expect(third.name).not.toBe(second.name);
        expect(await s.readText(name)).toBe("original");
        expect(await s.readText(second.name)).toBe("second");
        expect(await s.readText(third.name)).toBe("third");
        expect(await listAllNames(s)).toEqual([name, second.name, third.name].sort());
      },
    );

    ctx.verify(
      "overwrite:false with a stream body on a taken name still lands, under a new name",
      ["conditionalWrite"],
      async () => {
        const s = ctx.main;
        const name = ctx.unique("collide-stream", ".csv");
        await s.save(name, "original");
        const result = await s.save(name, Readable.from([Buffer.from("a,b\n"), Buffer.from("1,2\n")]), {
          overwrite: false,
        });
        sameDirAndExtension(name, result.name);
        expect(await s.readText(result.name)).toBe("a,b\n1,2\n");
        expect(await s.readText(name)).toBe("original");
        const iterable = (async function* () {
          yield "from an async iterable";
        })();
        const again = await s.save(name, iterable, { overwrite: false });
        sameDirAndExtension(name, again.name);
        expect(await s.readText(again.name)).toBe("from an async iterable");
        await s.deleteMany([name, result.name, again.name]);
      },
    );

    ctx.verify(
      "50 concurrent saves of one name with overwrite:false give 50 distinct names, each with its own content",
      ["conditionalWrite"],
      async () => {
        const s = await ctx.fresh();
        const name = "race/upload.bin";
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) => s.save(name, `writer ${i}`, { overwrite: false })),
        );
        const names = results.map((r) => r.name);
        expect(new Set(names).size).toBe(50);
        expect(names).toContain(name);
        for (const [i, result] of results.entries()) {
          if (result.name !== name) sameDirAndExtension(name, result.name);
          expect(await s.readText(result.name), `content under ${result.name}`).toBe(`writer ${i}`);
        }
        expect(await listAllNames(s)).toEqual([...names].sort());
      },
      180_000,
    );
  });
}
