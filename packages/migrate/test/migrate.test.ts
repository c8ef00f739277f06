import { randomBytes } from "node:crypto";
import { BackendError, compareNames, MemoryDriver, Storage } from "@storages/core";
import { describe, expect, it } from "vitest";
import { copy, joinListings, type ListedFile, shardOf, sync, verify } from "../src/index.js";
import {
  allNames,
  BreakingDriver,
  FailingDriver,
  memory,
  RelistingDriver,
  ReorderedDriver,
  ResizedDriver,
  ReversingDriver,
} from "./support.js";

async function fill(storage: Storage, files: Record<string, string>) {
  for (const [name, body] of Object.entries(files)) await storage.save(name, body);
}

describe("copy", () => {
  it("copies what is missing, keeps headers and metadata, and a second run copies nothing", async () => {
    const src = memory();
    const dst = memory();
    await src.save("a.txt", "alpha", {
      contentType: "text/plain; charset=utf-8",
      cacheControl: "max-age=60",
      contentDisposition: 'attachment; filename="a.txt"',
      metadata: { owner: "ops" },
      visibility: "public",
    });
    await fill(src, { "b/c.bin": "x".repeat(70_000), "b/d.txt": "" });
    const first = await copy(src, dst);
    expect(first.copied).toEqual({ files: 3, bytes: 70_005 });
    expect(first.ok).toBe(true);
    const stat = await dst.stat("a.txt");
    expect(stat).toMatchObject({
      contentType: "text/plain; charset=utf-8",
      cacheControl: "max-age=60",
      contentDisposition: 'attachment; filename="a.txt"',
      metadata: { owner: "ops" },
      visibility: "public",
    });
    expect((await dst.readBytes("b/c.bin")).length).toBe(70_000);
    const second = await copy(src, dst);
    expect(second.copied.files).toBe(0);
    expect(second.equal.files).toBe(3);
    expect((await verify(src, dst)).ok).toBe(true);
  });

  it("copies a different file by default, leaves it with overwrite: never (and is then not ok)", async () => {
    const src = memory();
    const dst = memory();
    await fill(src, { "a.txt": "new content" });
    await fill(dst, { "a.txt": "old" });
    const never = await copy(src, dst, { overwrite: "never" });
    expect(never.different.files).toBe(1);
    expect(never.ok).toBe(false);
    expect(await dst.readText("a.txt")).toBe("old");
    const result = await copy(src, dst);
    expect(result.copied.files).toBe(1);
    expect(await dst.readText("a.txt")).toBe("new content");
  });

  it("compares hashes with checksum: true, size and time without", async () => {
    const src = memory();
    const dst = memory();
    await fill(src, { "a.txt": "AAAA" });
    await new Promise((resolve) => setTimeout(resolve, 5));
    await fill(dst, { "a.txt": "BBBB" }); // same size, newer: size and time call it the same
    expect((await copy(src, dst, { dryRun: true })).equal.files).toBe(1);
    const checked = await copy(src, dst, { checksum: true });
    expect(checked.copied.files).toBe(1);
    expect(await dst.readText("a.txt")).toBe("AAAA");
    // verify compares hashes by default
    await dst.save("a.txt", "CCCC");
    expect((await verify(src, dst)).different.files).toBe(1);
  });

  it("dry run reports and changes nothing", async () => {
    const src = memory();
    const dst = memory();
    await fill(src, { "a.txt": "a", "b.txt": "b" });
    await fill(dst, { "z.txt": "z" });
    const result = await sync(src, dst, { dryRun: true });
    expect(result).toMatchObject({ dryRun: true, copied: { files: 2 }, deleted: { files: 1 } });
    expect(dst.driver instanceof MemoryDriver && dst.driver.keys()).toEqual(["z.txt"]);
  });

  it("prefix, include and exclude select by the name relative to the endpoints", async () => {
    const src = memory();
    const dst = memory();
    await fill(src, {
      "media/2024/a.jpg": "1",
      "media/2024/b.png": "2",
      "media/2023/c.jpg": "3",
      "other.jpg": "4",
    });
    const result = await copy(
      { storage: src, prefix: "media" },
      { storage: dst, prefix: "backup/" },
      {
        prefix: "2024/",
        include: ["**/*.jpg", "**/*.png"],
        exclude: ["**/b.*"],
      },
    );
    expect(result.copied.files).toBe(1);
    expect((dst.driver as MemoryDriver).keys()).toEqual(["backup/2024/a.jpg"]);
  });

  it("reports a file that keeps failing after core's retries, copies the rest, is not ok", async () => {
    const failing = new FailingDriver(new Set(["bad.txt"]));
    const src = new Storage(failing, { overwrite: true, retry: { attempts: 3, baseDelay: 1, maxDelay: 2 } });
    const dst = memory();
    await fill(src, { "bad.txt": "x", "good.txt": "y" });
    const result = await copy(src, dst);
    expect(result.copied.files).toBe(1);
    expect(result.failed.files).toBe(1);
    expect(result.failures).toEqual([{ name: "bad.txt", code: "E_BACKEND", message: expect.any(String) }]);
    expect(failing.reads).toBe(3); // core's budget, once: no second retry loop on top
    expect(result.ok).toBe(false);
  });

  it("copies again from the start a file whose streamed body broke mid-way, within the retry policy", async () => {
    // Larger than the whole-read size, so the body streams from open() into save().
    const big = randomBytes(3 * 1024 * 1024);
    const breaking = new BreakingDriver(new Set(["big.bin"]), 2);
    const src = new Storage(breaking, { overwrite: true, retry: { attempts: 3, baseDelay: 1, maxDelay: 2 } });
    const dst = new Storage(new MemoryDriver(), { overwrite: true, retry: { attempts: 4, baseDelay: 1 } });
    await src.save("big.bin", big);
    await src.save("small.txt", "fine");
    const bytes: number[] = [];
    const result = await copy(src, dst, { onProgress: (p) => bytes.push(p.bytesDone) });
    expect(result.failures).toEqual([]);
    expect(result.copied).toEqual({ files: 2, bytes: big.length + 4 });
    expect(breaking.opens).toBe(3); // two broken streams, then a whole one
    expect(Buffer.compare(await dst.readBytes("big.bin"), big)).toBe(0);
    // Progress counts the bytes of the attempt that succeeded, not those of the broken ones too.
    expect(Math.max(...bytes)).toBeLessThanOrEqual(big.length + 4);

    // Broken on every attempt: reported after the stricter policy's attempts (3), nothing left.
    const always = new BreakingDriver(new Set(["big.bin"]), Number.POSITIVE_INFINITY);
    const src2 = new Storage(always, { overwrite: true, retry: { attempts: 3, baseDelay: 1, maxDelay: 2 } });
    const dst2 = memory();
    await src2.save("big.bin", big);
    const failed = await copy(src2, dst2);
    expect(failed.failures).toEqual([{ name: "big.bin", code: "E_BACKEND", message: expect.any(String) }]);
    expect(always.opens).toBe(1); // dst2 has retry: false — the stricter policy makes one attempt
    expect(await dst2.exists("big.bin")).toBe(false);
    const dst3 = new Storage(new MemoryDriver(), { overwrite: true, retry: { attempts: 4, baseDelay: 1 } });
    const failed3 = await copy(src2, dst3);
    expect(failed3.ok).toBe(false);
    expect(always.opens).toBe(1 + 3);
    expect(await dst3.exists("big.bin")).toBe(false);
  });

  it("stops on abort and says so", async () => {
    const src = memory();
    const dst = memory();
    await fill(src, Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`f${i}.txt`, "x"])));
    const controller = new AbortController();
    let seen = 0;
    const result = await copy(src, dst, {
      concurrency: 1,
      signal: controller.signal,
      onFile: () => {
        if (++seen === 5) controller.abort();
      },
    });
    expect(result.aborted).toBe(true);
    expect(result.ok).toBe(false);
    // An abort is not a listing failure, even when it stopped a listing.
    expect(result.listingFailed).toBeUndefined();
    expect((dst.driver as MemoryDriver).size).toBeLessThan(50);
  });

  it("refuses bad options with a typed error", async () => {
    const src = memory();
    await expect(copy(src, memory(), { concurrency: 0 })).rejects.toMatchObject({
      code: "E_INVALID_ARGUMENT",
    });
    await expect(copy(src, memory(), { shard: { index: 4, count: 4 } })).rejects.toMatchObject({
      code: "E_INVALID_ARGUMENT",
    });
    await expect(copy(src, memory(), { maxDelete: 3 })).rejects.toMatchObject({ code: "E_INVALID_ARGUMENT" });
  });
});

describe("sync", () => {
  it("deletes extras after copying, and not beyond maxDelete", async () => {
    const src = memory();
    const dst = memory();
    await fill(src, { "a.txt": "a" });
    await fill(dst, { "x.txt": "x", "y.txt": "y" });
    const guarded = await sync(src, dst, { maxDelete: 1 });
    expect(guarded.deletesSkipped?.code).toBe("E_MAX_DELETE");
    expect(guarded.extra.files).toBe(2);
    expect(guarded.ok).toBe(false);
    expect((dst.driver as MemoryDriver).keys()).toEqual(["a.txt", "x.txt", "y.txt"]);
    const result = await sync(src, dst, { maxDelete: 2 });
    expect(result.deleted.files).toBe(2);
    expect(result.ok).toBe(true);
    expect((dst.driver as MemoryDriver).keys()).toEqual(["a.txt"]);
  });

  it("deletes nothing from an empty source (a mistyped path) unless maxDelete says how many may go", async () => {
    const dst = memory();
    await fill(dst, { "x.txt": "x", "y.txt": "y" });
    for (const dryRun of [false, true]) {
      const refused = await sync(memory(), dst, { dryRun });
      expect(refused.deletesSkipped).toMatchObject({
        code: "E_EMPTY_SOURCE",
        message: expect.stringContaining("--max-delete 2"),
      });
      expect(refused).toMatchObject({ ok: false, extra: { files: 2 }, deleted: { files: 0 } });
    }
    // A selection that leaves the source empty is refused the same way.
    const src = memory();
    await fill(src, { "a.jpg": "a" });
    expect((await sync(src, dst, { include: ["*.txt"] })).deletesSkipped?.code).toBe("E_EMPTY_SOURCE");
    expect((dst.driver as MemoryDriver).keys()).toEqual(["x.txt", "y.txt"]);
    const emptied = await sync(memory(), dst, { maxDelete: 2 });
    expect(emptied).toMatchObject({ ok: true, deleted: { files: 2 } });
    expect((dst.driver as MemoryDriver).keys()).toEqual([]);
  });

  it("deletes nothing when the source lists no files any more by the delete pass (E_SOURCE_CHANGED)", async () => {
    // The second listing (the delete pass's) is empty: an unmounted folder, an emptied bucket.
    const src = new Storage(
      new RelistingDriver((listing, _page, entries) => (listing === 1 ? entries : [])),
      { overwrite: true, retry: false },
    );
    await fill(src, { "a.txt": "a", "b.txt": "b" });
    const dst = memory();
    // More extras than a delete batch, so a guard counting extras alone would delete a batch
    // (a.txt and b.txt among them) before the count gave the change away.
    const extras = Object.fromEntries(Array.from({ length: 1200 }, (_, i) => [`x/${i}.txt`, "x"]));
    await fill(dst, { "a.txt": "a", ...extras });
    const result = await sync(src, dst);
    expect(result.copied.files).toBe(1);
    expect(result.deletesSkipped).toMatchObject({
      code: "E_SOURCE_CHANGED",
      message: expect.stringContaining("Check the source, then run sync again"),
    });
    expect(result).toMatchObject({ ok: false, deleted: { files: 0 } });
    expect((dst.driver as MemoryDriver).size).toBe(1202);
    expect(await dst.readText("b.txt")).toBe("b");
  });

  it("stops deleting when the source lists fewer files by the delete pass (E_SOURCE_CHANGED)", async () => {
    const src = new Storage(
      new RelistingDriver((listing, _page, entries) =>
        listing === 1 ? entries : entries.filter((entry) => entry.name !== "b.txt"),
      ),
      { overwrite: true, retry: false },
    );
    await fill(src, { "a.txt": "a", "b.txt": "b" });
    const dst = memory();
    await fill(dst, { "a.txt": "a", "b.txt": "b", "z.txt": "z" });
    const result = await sync(src, dst);
    expect(result.deletesSkipped?.code).toBe("E_SOURCE_CHANGED");
    expect(result).toMatchObject({ ok: false, deleted: { files: 0 } });
    expect((dst.driver as MemoryDriver).keys()).toEqual(["a.txt", "b.txt", "z.txt"]);
  });

  it("deletes only the files the comparison found extra, even when as many others went missing", async () => {
    // The comparison finds z/… extra; by the delete pass the source has lost as many a/…, which
    // come first in name order: a guard counting extras would send them in a delete batch (1,000)
    // before the count gave the change away.
    const lost = Array.from({ length: 1100 }, (_, i) => `a/${i}.txt`);
    const src = new Storage(
      new RelistingDriver((listing, _page, entries) =>
        listing === 1 ? entries : entries.filter((entry) => !lost.includes(entry.name)),
      ),
      { overwrite: true, retry: false },
    );
    // m.txt stays: the source still lists files, only fewer.
    await fill(src, { ...Object.fromEntries(lost.map((name) => [name, "a"])), "m.txt": "m" });
    const dst = memory();
    const extras = Object.fromEntries(Array.from({ length: 1100 }, (_, i) => [`z/${i}.txt`, "z"]));
    await fill(dst, { ...Object.fromEntries(lost.map((name) => [name, "a"])), "m.txt": "m", ...extras });
    const result = await sync(src, dst);
    expect(result.deletesSkipped?.code).toBe("E_SOURCE_CHANGED");
    expect(result).toMatchObject({ ok: false, deleted: { files: 0 } });
    expect((dst.driver as MemoryDriver).size).toBe(2201);
  });

  it("reports what it deleted when a listing fails during the delete pass", async () => {
    const src = memory();
    await fill(src, { "a.txt": "a" });
    // The destination's second listing (the delete pass's: a.txt and 1,500 extras) fails on its
    // third page of 501, after the first delete batch.
    const dst = new Storage(
      new RelistingDriver((listing, page, entries) => {
        if (listing === 2 && page === 3)
          throw new BackendError("the listing broke (test fault)", { retryable: false });
        return entries;
      }, 501),
      { overwrite: true, retry: false },
    );
    await fill(dst, Object.fromEntries(Array.from({ length: 1500 }, (_, i) => [`x/${i}.txt`, "x"])));
    const result = await sync(src, dst);
    // The first batch (1,000 files) went before the failure; nothing after it.
    expect(result).toMatchObject({ ok: false, copied: { files: 1 }, deleted: { files: 1000 } });
    expect(result.deletesSkipped).toMatchObject({
      code: "E_BACKEND",
      message: expect.stringMatching(/stopped deleting \(1000 deleted before\): the listing broke/),
    });
    expect((dst.driver as MemoryDriver).size).toBe(501);
  });

  it("deletes nothing when a copy failed", async () => {
    const src = new Storage(new FailingDriver(new Set(["bad.txt"])), { overwrite: true, retry: false });
    const dst = memory();
    await fill(src, { "bad.txt": "x" });
    await fill(dst, { "old.txt": "x" });
    const result = await sync(src, dst);
    expect(result.deletesSkipped?.code).toBe("E_COPY_FAILED");
    expect((dst.driver as MemoryDriver).keys()).toEqual(["old.txt"]);
  });
});

describe("a listing that fails while the two sides are compared", () => {
  const files = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`f${i}.txt`, `file ${i}`]));
  /** A storage listing pages of 2 whose first listing fails on its third page (after 4 files). */
  const failingOnPage3 = () =>
    new Storage(
      new RelistingDriver((listing, page, entries) => {
        if (listing === 1 && page === 3)
          throw new BackendError("the listing broke (test fault)", { retryable: false });
        return entries;
      }, 2),
      { overwrite: true, retry: false },
    );
  /** A memory destination whose saves take a while: copies are still in flight when the listing fails. */
  class SlowDriver extends MemoryDriver {
    override async writeBytes(...args: Parameters<MemoryDriver["writeBytes"]>) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      return super.writeBytes(...args);
    }
  }

  it("copy returns the copies made before (in flight ones included), not ok, with the listing's error", async () => {
    const src = failingOnPage3();
    await fill(src, files);
    const dst = new Storage(new SlowDriver(), { overwrite: true, retry: false });
    const result = await copy(src, dst);
    expect(result).toMatchObject({ ok: false, aborted: false, copied: { files: 4 }, failed: { files: 0 } });
    expect(result.listingFailed).toEqual({
      side: "source",
      code: "E_BACKEND",
      message: expect.stringMatching(
        /^Listing the source failed, so copy stopped comparing .*: the listing broke \(test fault\)\. Fix it, then run copy again: it does only what is left\.$/,
      ),
    });
    // Every copy counted is whole at the destination, and none started after the failure.
    expect((dst.driver as MemoryDriver).keys()).toEqual(["f0.txt", "f1.txt", "f2.txt", "f3.txt"]);
    // Run again once the source lists: the rest is copied, the first four are equal.
    const again = await copy(src, dst);
    expect(again).toMatchObject({ ok: true, copied: { files: 6 }, equal: { files: 4 } });
    expect(again.listingFailed).toBeUndefined();
  });

  it("verify names the destination when its listing fails", async () => {
    const src = memory();
    await fill(src, files);
    const dst = failingOnPage3();
    await fill(dst, files);
    const result = await verify(src, dst);
    expect(result).toMatchObject({ ok: false, equal: { files: 4 } });
    expect(result.listingFailed).toMatchObject({ side: "destination", code: "E_BACKEND" });
    expect(result.listingFailed?.message).toMatch(/^Listing the destination failed, so verify stopped/);
  });

  it("sync deletes none of the extras it found before the failure, and says why", async () => {
    for (const dryRun of [false, true]) {
      const src = failingOnPage3();
      await fill(src, files);
      const dst = memory();
      await fill(dst, { "e.txt": "extra" }); // sorts before f0.txt: found extra on the first page
      const result = await sync(src, dst, { dryRun });
      expect(result).toMatchObject({
        ok: false,
        copied: { files: 4 },
        extra: { files: 1 },
        deleted: { files: 0 },
        listingFailed: { side: "source", code: "E_BACKEND" },
        deletesSkipped: { code: "E_BACKEND" },
      });
      expect(result.deletesSkipped?.message).toMatch(
        /source's listing failed before sync compared every file/,
      );
      expect(await dst.exists("e.txt")).toBe(true);
    }
  });
});

describe("the merge-join", () => {
  // Code point order puts U+FF21 (Ａ) before U+1F600 (😀); UTF-16 order, the other way round.
  const names = ["a/😀.txt", "a/Ａ.txt", "a/z.txt", "b😀", "bＡ", "b", "c/\uE000", "c/😀😀", "d"];

  it("never reports a file missing because one side lists in UTF-16 order", async () => {
    const src = memory();
    const dst = new Storage(new ReorderedDriver((a, b) => (a < b ? -1 : a > b ? 1 : 0)), { overwrite: true });
    for (const name of names) {
      await src.save(name, name);
      await dst.save(name, name);
    }
    const result = await verify(src, dst);
    expect(result).toMatchObject({ ok: true, missing: { files: 0 }, extra: { files: 0 } });
    expect(result.equal.files).toBe(names.length);
    expect(result.listing).toMatchObject({ sourceOrder: "code-point", destinationOrder: "utf-16" });
  });

  it("stops with a typed error on a listing in no known order, rather than report wrong results", async () => {
    const src = memory();
    const dst = new Storage(new ReorderedDriver((a, b) => compareNames(b, a)), { overwrite: true });
    for (const name of names) await src.save(name, name);
    for (const name of names.slice(2)) await dst.save(name, name);
    await expect(verify(src, dst)).rejects.toMatchObject({ code: "E_UNSUPPORTED" });
  });

  it("holds only the window between the two listings", async () => {
    async function* listing(count: number, skip: (i: number) => boolean): AsyncGenerator<ListedFile[]> {
      for (let page = 0; page < count; page += 1000) {
        const files: ListedFile[] = [];
        for (let i = page; i < Math.min(count, page + 1000); i++)
          if (!skip(i))
            files.push({ name: `f${String(i).padStart(7, "0")}`, size: 1, lastModified: new Date(0) });
        yield files;
      }
    }
    const stats = { sourceOrder: "either" as const, destinationOrder: "either" as const, peakPending: 0 };
    let missing = 0;
    let both = 0;
    for await (const batch of joinListings(
      listing(20_000, () => false),
      listing(20_000, (i) => i % 7 === 0),
      stats,
    ))
      for (const joined of batch) {
        if (joined.destination === undefined) missing++;
        else both++;
      }
    expect(missing).toBe(Math.ceil(20_000 / 7));
    expect(both).toBe(20_000 - missing);
    expect(stats.peakPending).toBeLessThanOrEqual(1000); // one page
  });
});

describe("shards", () => {
  it("split the names into disjoint parts that cover them, by a documented stable hash", async () => {
    // sha1("photos/a.jpg") starts with 0x… : the number is fixed by the name alone.
    expect(shardOf("photos/a.jpg", 1 << 30)).toBe(shardOf("photos/a.jpg", 1 << 30));
    expect(shardOf("", 4)).toBe(0xda39a3ee % 4); // sha1("") = da39a3ee…
    const src = memory();
    const names = Array.from({ length: 200 }, (_, i) => `dir${i % 7}/file-${i}.txt`);
    await fill(src, Object.fromEntries(names.map((n) => [n, n])));
    const dst = memory();
    const counts = [];
    for (let index = 0; index < 4; index++) {
      const result = await copy(src, dst, { shard: { index, count: 4 } });
      counts.push(result.copied.files);
    }
    expect(counts.reduce((a, b) => a + b, 0)).toBe(200);
    expect(counts.every((n) => n > 20)).toBe(true);
    expect((await verify(src, dst)).ok).toBe(true);
  });
});

describe("verify of a plain local folder", () => {
  it("hashes local files that record no checksum, so a same-size, older-looking change is found", async () => {
    const { mkdtemp, writeFile, utimes, rm } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { openStorageUrl } = await import("@storages/core");
    const { pathToFileURL } = await import("node:url");
    const dir = await mkdtemp(join(tmpdir(), "migrate-plain-"));
    try {
      await writeFile(join(dir, "a.txt"), "AAAA");
      const { storage: plain } = await openStorageUrl(`${pathToFileURL(dir).href}?records=false`);
      const dst = memory();
      await dst.save("a.txt", "BBBB"); // same size, newer: size and time would call it equal
      await utimes(join(dir, "a.txt"), new Date(0), new Date(0));
      expect((await verify(plain, dst, { checksum: false })).equal.files).toBe(1);
      const checked = await verify(plain, dst);
      expect(checked.different.files).toBe(1);
      await dst.save("a.txt", "AAAA");
      expect((await verify(plain, dst)).ok).toBe(true);
      await plain.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("copy between local folders", () => {
  it("copies through the kernel, and still refuses a source whose bytes no longer match its recorded MD5", async () => {
    const { mkdtemp, writeFile, stat, rm, readdir } = await import("node:fs/promises");
    const { execFileSync } = await import("node:child_process");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { openStorageUrl } = await import("@storages/core");
    const { pathToFileURL } = await import("node:url");
    const dir = await mkdtemp(join(tmpdir(), "migrate-local-"));
    const open = async (name: string, query = "") =>
      (await openStorageUrl(`${pathToFileURL(join(dir, name)).href}/${query}`)).storage;
    try {
      const src = await open("src");
      await src.save("ok.txt", "fine", { metadata: { owner: "ops" } });
      await src.save("a/tampered.txt", "AAAA");
      // Another program rewrites the bytes and puts size and mtime back: the record still
      // matches, its MD5 no longer does.
      const path = join(dir, "src", "a", "tampered.txt");
      const { mtimeNs } = await stat(path, { bigint: true });
      await writeFile(path, "BBBB");
      const ns = String(mtimeNs % 1_000_000_000n).padStart(9, "0");
      execFileSync("touch", ["-m", "-d", `@${mtimeNs / 1_000_000_000n}.${ns}`, path]);
      expect((await src.stat("a/tampered.txt")).checksums?.md5).toBeDefined();
      for (const [dst, label] of [
        [await open("records"), "a storage with records"],
        [await open("plain", "?records=false"), "a plain folder"],
      ] as const) {
        const result = await copy(src, dst);
        expect(result.copied.files, label).toBe(1);
        expect(result.failures, label).toEqual([
          expect.objectContaining({ name: "a/tampered.txt", code: "E_CHECKSUM_MISMATCH" }),
        ]);
        expect(await dst.readText("ok.txt"), label).toBe("fine");
        expect(await dst.exists("a/tampered.txt"), label).toBe(false);
        await dst.close();
      }
      expect(await readdir(join(dir, "plain"))).toEqual(["ok.txt"]); // no record in a plain folder
      await src.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("a destination that reports the MD5 of what it stored", () => {
  it("has that MD5 checked against the source's: a corrupting destination is caught", async () => {
    const src = memory();
    await fill(src, { "a.txt": "palindromes are not", "b.txt": "abba", "c.txt": "xyz" });
    // Past the size read whole: streamed, the destination's MD5 learnt from the saves before.
    const big = Buffer.alloc(1024 * 1024 + 7, "abc");
    await src.save("d.bin", big);
    const driver = new ReversingDriver();
    const dst = new Storage(driver, { overwrite: true, retry: false });
    const result = await copy(src, dst, { concurrency: 1 });
    expect(driver.saves).toBe(4);
    // Reversed, only the palindrome is still the source's content.
    expect(result.copied.files).toBe(1);
    expect(result.failures.map((f) => [f.name, f.code])).toEqual([
      ["a.txt", "E_CHECKSUM_MISMATCH"],
      ["c.txt", "E_CHECKSUM_MISMATCH"],
      ["d.bin", "E_CHECKSUM_MISMATCH"],
    ]);
    // An honest destination gets the big file whole, streamed.
    const plain = memory();
    expect((await copy(src, plain)).ok).toBe(true);
    expect((await plain.readBytes("d.bin")).equals(big)).toBe(true);
    expect((await dst.listPage("", { recursive: true })).entries.map((e) => e.name)).toEqual(["b.txt"]);
  });
});

describe("a small file that grew after it was listed", () => {
  it("is refused as changed, reading at most one byte past its listed size, and leaves nothing", async () => {
    const { MemoryDriver: Base } = await import("@storages/core");
    const ranges: Array<{ start: number; end?: number | undefined } | undefined> = [];
    /** Lists and stats grown.bin at 4 bytes while it holds 256 KiB (it grew meanwhile). */
    class GrowingDriver extends Base {
      override async listPage(...args: Parameters<MemoryDriver["listPage"]>) {
        const page = await super.listPage(...args);
        return {
          ...page,
          entries: page.entries.map((e) => (e.name === "grown.bin" ? { ...e, size: 4 } : e)),
        };
      }
      override async stat(...args: Parameters<MemoryDriver["stat"]>) {
        const stat = await super.stat(...args);
        return stat.name === "grown.bin" ? { ...stat, size: 4 } : stat;
      }
      override async readBytes(...args: Parameters<MemoryDriver["readBytes"]>) {
        ranges.push(args[1].range);
        return super.readBytes(...args);
      }
    }
    const src = new Storage(new GrowingDriver(), { overwrite: true, retry: false });
    const dst = memory();
    await src.save("grown.bin", new Uint8Array(256 * 1024));
    await src.save("ok.txt", "fine");
    const result = await copy(src, dst);
    expect(result.failures).toEqual([
      expect.objectContaining({ name: "grown.bin", code: "E_CHECKSUM_MISMATCH" }),
    ]);
    expect(await dst.exists("grown.bin")).toBe(false);
    expect(await dst.readText("ok.txt")).toBe("fine");
    // Every read was bounded (before: the whole 256 KiB was read, and sent, before the size check).
    expect(ranges).toHaveLength(2);
    for (const range of ranges) expect(range).toEqual({ start: 0, end: 4 });
  });
});

describe("a small file whose size changed after it was listed", () => {
  it("is refused as changed before anything is written: the destination's older copy stays", async () => {
    // grown.txt is listed at 3 bytes and holds 11; shrunk.txt is listed at 20 and holds 7.
    const sizes = new Map([
      ["grown.txt", 3],
      ["shrunk.txt", 20],
    ]);
    const src = new Storage(new ResizedDriver(sizes), { overwrite: true, retry: false });
    const dst = memory();
    // Of other sizes than the listed ones: different, so copied.
    await fill(dst, { "grown.txt": "old!", "shrunk.txt": "old copy" });
    await fill(src, { "grown.txt": "new content", "shrunk.txt": "shrunk!" });
    const result = await copy(src, dst);
    expect(result.failures.map((f) => [f.name, f.code])).toEqual([
      ["grown.txt", "E_CHECKSUM_MISMATCH"],
      ["shrunk.txt", "E_CHECKSUM_MISMATCH"],
    ]);
    expect(result.ok).toBe(false);
    expect(await dst.readText("grown.txt")).toBe("old!");
    expect(await dst.readText("shrunk.txt")).toBe("old copy");
  });
});

describe("overlapping folders", () => {
  const refused = { code: "E_INVALID_ARGUMENT" };

  it("refuses a copy into a folder of its own source, unless that folder is left out", async () => {
    const s = memory();
    await fill(s, { "a.txt": "a", "b/c.txt": "c" });
    const backup = { storage: s, prefix: "backup/" };
    await expect(copy(s, backup)).rejects.toMatchObject(refused);
    await expect(copy(s, backup, { dryRun: true })).rejects.toThrow(/source's folder "backup\/"/);
    // An exclude that covers the folder: allowed, and the folder is never listed. One that only
    // covers its direct children does not.
    await expect(copy(s, backup, { exclude: ["backup/*"] })).rejects.toMatchObject(refused);
    for (const exclude of ["backup/**", "**/backup/**"]) {
      const first = await copy(s, backup, { exclude: [exclude] });
      expect(first.ok).toBe(true);
      expect((await copy(s, backup, { exclude: [exclude] })).copied.files).toBe(0);
    }
    expect(await allNames(s)).toEqual(["a.txt", "b/c.txt", "backup/a.txt", "backup/b/c.txt"]);
    // verify changes nothing: never refused.
    expect((await verify(s, backup)).missing.files).toBeGreaterThan(0);
  });

  it("refuses a sync from a folder of its destination, which would delete the source", async () => {
    const s = memory();
    await fill(s, { "f.txt": "f", "sub/s.txt": "s" });
    const sub = { storage: s, prefix: "sub/" };
    await expect(sync(sub, s)).rejects.toThrow(/delete the source's own files/);
    await expect(copy(sub, s)).rejects.toMatchObject(refused);
    expect(await s.exists("sub/s.txt")).toBe(true);
    const result = await sync(sub, s, { exclude: ["sub/**"] });
    expect(result).toMatchObject({ ok: true, deleted: { files: 1 } });
    expect(await allNames(s)).toEqual(["s.txt", "sub/s.txt"]);
  });

  it("refuses the same folder, through views of one storage too", async () => {
    const { prefixed, readOnly } = await import("@storages/core");
    const s = memory();
    await fill(s, { "a/b.txt": "b" });
    await expect(sync(s, s)).rejects.toThrow(/same folder/);
    await expect(copy(readOnly(prefixed(s, "a/")), { storage: s, prefix: "a/" })).rejects.toThrow(
      /same folder/,
    );
    await expect(copy(readOnly(s), prefixed(s, "a/x/"))).rejects.toMatchObject(refused);
    // Two folders side by side are fine.
    expect((await copy(prefixed(s, "a/"), prefixed(s, "c/"))).copied.files).toBe(1);
  });

  it("tells two buckets apart by the locations the endpoints give", async () => {
    const at = (prefix: string) => ({
      kind: "bucket" as const,
      service: "s3",
      namespace: "http://127.0.0.1:7480",
      bucket: "media",
      prefix,
    });
    const outer = memory();
    await fill(outer, { "x.txt": "x" });
    const inner = memory();
    await expect(
      copy({ storage: outer, location: at("") }, { storage: inner, location: at("old/") }),
    ).rejects.toMatchObject(refused);
    await expect(
      copy({ storage: outer, location: at("a/") }, { storage: inner, location: at("b/") }),
    ).resolves.toMatchObject({ ok: true });
    // Without locations nothing says they overlap: two storages are taken as apart.
    await expect(copy(outer, memory())).resolves.toMatchObject({ ok: true });
  });

  it("compares local folders by their real paths", async () => {
    const { mkdtemp, mkdir, rm, symlink } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { openStorageUrl } = await import("@storages/core");
    const { pathToFileURL } = await import("node:url");
    const dir = await mkdtemp(join(tmpdir(), "migrate-overlap-"));
    const open = async (path: string) =>
      (await openStorageUrl(`${pathToFileURL(path).href}/?records=false`)).storage;
    try {
      await mkdir(join(dir, "media", "inside"), { recursive: true });
      await symlink(join(dir, "media", "inside"), join(dir, "link"));
      const media = await open(join(dir, "media"));
      await media.save("a.txt", "a");
      const link = await open(join(dir, "link"));
      await expect(sync(link, media)).rejects.toThrow(/source is the destination's folder "inside\/"/);
      await expect(copy(media, await open(join(dir, "media", "new", "deeper")))).rejects.toThrow(
        /"new\/deeper\/"/,
      );
      await expect(sync(media, await open(join(dir, "media")))).rejects.toThrow(/same folder/);
      expect((await copy(media, await open(join(dir, "beside")))).copied.files).toBe(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
