/**
 * Writing and reading: every body type, empty and large files, ranges, stat, exists, checksums.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import type { BodyInput, ChecksumAlgorithm, ListEntry, SaveResult, Storage } from "@storages/core";
import { localFile } from "@storages/core";
import { describe, expect, it } from "vitest";
import type { SuiteContext } from "../context.js";
import {
  collect,
  crc32c,
  DeterministicBody,
  digest,
  digestsOf,
  hashStream,
  type LocalDigests,
  randomBytes,
} from "../helpers.js";

const MiB = 1024 * 1024;

/** Text with multi-byte characters, so chunk boundaries can fall inside a character. */
const TEXT = "héllo wörld ✓ 😀 — ".repeat(200);
const TEXT_BYTES = Buffer.from(TEXT, "utf8");

function webStreamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  let index = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = chunks[index++];
      if (chunk === undefined) controller.close();
      else controller.enqueue(chunk);
    },
  });
}

/** Splits bytes at odd offsets (inside multi-byte characters). */
function oddChunks(bytes: Uint8Array, size = 333): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.byteLength; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

async function* asyncIterableOf<T>(items: T[]): AsyncGenerator<T> {
  for (const item of items) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    yield item;
  }
}

/** Every body type save() accepts, each carrying TEXT_BYTES. */
function bodyCases(): Array<[string, () => BodyInput]> {
  return [
    ["string", () => TEXT],
    ["Uint8Array", () => new Uint8Array(TEXT_BYTES)],
    [
      "Uint8Array view at an offset into a larger buffer",
      () => {
        const big = new Uint8Array(TEXT_BYTES.byteLength + 64).fill(0x41);
        big.set(TEXT_BYTES, 32);
        return big.subarray(32, 32 + TEXT_BYTES.byteLength);
      },
    ],
    ["Buffer", () => Buffer.from(TEXT_BYTES)],
    [
      "ArrayBuffer",
      () => TEXT_BYTES.buffer.slice(TEXT_BYTES.byteOffset, TEXT_BYTES.byteOffset + TEXT_BYTES.byteLength),
    ],
    ["Blob", () => new Blob([TEXT_BYTES])],
    ["Node Readable of Buffers", () => Readable.from(oddChunks(TEXT_BYTES).map((c) => Buffer.from(c)))],
    ["Node Readable in object mode of strings", () => Readable.from(TEXT.match(/[\s\S]{1,100}/gu) ?? [])],
    [
      "Node PassThrough written asynchronously",
      () => {
        const pass = new PassThrough();
        const chunks = oddChunks(TEXT_BYTES, 500);
        (async () => {
          for (const chunk of chunks) {
            await new Promise<void>((resolve) => setImmediate(resolve));
            pass.write(chunk);
          }
          pass.end();
        })();
        return pass;
      },
    ],
    ["web ReadableStream", () => webStreamOf(oddChunks(TEXT_BYTES))],
    ["AsyncIterable of Uint8Array", () => asyncIterableOf(oddChunks(TEXT_BYTES))],
    ["AsyncIterable of strings", () => asyncIterableOf(TEXT.match(/[\s\S]{1,77}/gu) ?? [])],
    [
      "AsyncIterable mixing strings and bytes",
      () =>
        asyncIterableOf<string | Uint8Array>([
          "héllo wörld ✓ 😀 — ",
          TEXT_BYTES.subarray(Buffer.byteLength("héllo wörld ✓ 😀 — ")),
        ]),
    ],
  ];
}

function emptyCases(): Array<[string, () => BodyInput]> {
  return [
    ["empty string", () => ""],
    ["empty Uint8Array", () => new Uint8Array(0)],
    ["empty Blob", () => new Blob([])],
    ["empty Node Readable", () => Readable.from([])],
    ["empty web ReadableStream", () => webStreamOf([])],
    ["empty AsyncIterable", () => asyncIterableOf<Uint8Array>([])],
  ];
}

/** Digests a migration can compare two copies by: of the whole content, not of parts. */
const STRONG: readonly ChecksumAlgorithm[] = ["md5", "sha256"];
/** An entity-tag as HTTP sends it (RFC 9110 §8.8.3): quoted, optionally weak. */
const QUOTED_ETAG = /^(W\/)?"[\x21\x23-\x7e\x80-\xff]*"$/;

/** The listing entry of `name`, from a one-level listing of its directory. */
async function listedFile(storage: Storage, name: string): Promise<Extract<ListEntry, { type: "file" }>> {
  const dir = name.slice(0, name.lastIndexOf("/") + 1);
  for await (const entry of storage.list(dir)) {
    if (entry.name === name && entry.type === "file") return entry;
  }
  return expect.fail(`${name} is not in the listing of "${dir}"`);
}

/**
 * What a migration relies on for a file the storage wrote: stat() reports a strong checksum, every
 * checksum reported (by stat or by the listing) is the digest of the bytes, and the etag has the
 * one quoted form, the same in the save result, stat and the listing.
 */
async function expectTrustworthy(
  storage: Storage,
  saved: SaveResult,
  local: LocalDigests,
  listing: "must carry a strong checksum" | "may carry checksums",
): Promise<void> {
  const { name } = saved;
  const stat = await storage.stat(name);
  const reported = stat.checksums ?? {};
  expect(
    STRONG.filter((algorithm) => reported[algorithm] !== undefined),
    `stat("${name}").checksums has md5 or sha256 (got ${JSON.stringify(reported)})`,
  ).not.toEqual([]);
  for (const [algorithm, value] of Object.entries(reported)) {
    expect(value, `stat().checksums.${algorithm}`).toBe(local[algorithm as ChecksumAlgorithm]);
  }
  const entry = await listedFile(storage, name);
  const listed = entry.checksums ?? {};
  for (const [algorithm, value] of Object.entries(listed)) {
    expect(value, `listing checksums.${algorithm}`).toBe(local[algorithm as ChecksumAlgorithm]);
  }
  if (listing === "must carry a strong checksum") {
    expect(
      STRONG.filter((algorithm) => listed[algorithm] !== undefined),
      `the listing entry of "${name}" has md5 or sha256 (got ${JSON.stringify(listed)})`,
    ).not.toEqual([]);
  }
  expect(stat.etag, "stat().etag in the quoted form").toMatch(QUOTED_ETAG);
  expect(entry.etag, "the listing's etag is stat's").toBe(stat.etag);
  if (saved.etag !== undefined) expect(saved.etag, "save()'s etag is stat's").toBe(stat.etag);
}

async function expectContent(storage: Storage, name: string, expected: Uint8Array): Promise<void> {
  const bytes = await storage.readBytes(name);
  expect(bytes.byteLength, `size of ${name}`).toBe(expected.byteLength);
  expect(Buffer.compare(Buffer.from(bytes), Buffer.from(expected)), `content of ${name}`).toBe(0);
}

export function registerIo(ctx: SuiteContext): void {
  describe("save and read every body type", () => {
    for (const [label, make] of bodyCases()) {
      it(`${label} round-trips byte for byte`, async () => {
        const s = ctx.main;
        const name = ctx.unique("bodies");
        const result = await s.save(name, make());
        expect(result.name).toBe(name);
        expect(result.size).toBe(TEXT_BYTES.byteLength);
        await expectContent(s, name, TEXT_BYTES);
        expect(await s.readText(name)).toBe(TEXT);
        expect((await s.stat(name)).size).toBe(TEXT_BYTES.byteLength);
        await s.delete(name);
      });
    }

    for (const [label, make] of emptyCases()) {
      it(`${label} gives an empty file`, async () => {
        const s = ctx.main;
        const name = ctx.unique("empty");
        const result = await s.save(name, make());
        expect(result.size).toBe(0);
        expect(await s.exists(name)).toBe(true);
        expect((await s.stat(name)).size).toBe(0);
        expect((await s.readBytes(name)).byteLength).toBe(0);
        expect(await s.readText(name)).toBe("");
        const listed = [];
        for await (const entry of s.list(name.slice(0, name.lastIndexOf("/") + 1))) {
          if (entry.name === name) listed.push(entry);
        }
        expect(listed).toHaveLength(1);
        expect(listed[0]).toMatchObject({ type: "file", name, size: 0 });
        await s.delete(name);
      });
    }

    it("a body of an unsupported type is refused with E_INVALID_ARGUMENT and writes nothing", async () => {
      const s = ctx.main;
      const name = ctx.unique("bodies");
      for (const bad of [42, null, undefined, { not: "a body" }, Symbol("x")]) {
        await ctx.expectError(() => s.save(name, bad as unknown as BodyInput), ["E_INVALID_ARGUMENT"]);
      }
      expect(await s.exists(name)).toBe(false);
    });

    it("a stream yielding something other than bytes or strings fails the save and leaves no file", async () => {
      const s = ctx.main;
      const name = ctx.unique("bodies");
      await ctx.expectError(
        () => s.save(name, asyncIterableOf<unknown>(["ok", 42]) as AsyncIterable<string>),
        ["E_INVALID_ARGUMENT"],
      );
      expect(await s.exists(name)).toBe(false);
    });

    it("a multi-MiB Buffer round-trips (readBytes and open)", async () => {
      const s = ctx.main;
      const name = ctx.unique("multi-mib", ".bin");
      const body = randomBytes(6 * MiB + 7);
      const result = await s.save(name, body);
      expect(result.size).toBe(body.byteLength);
      await expectContent(s, name, body);
      const streamed = await hashStream(await s.open(name));
      expect(streamed).toEqual({ sha256: digest(body, "sha256"), size: body.byteLength });
      await s.delete(name);
    });

    it("a multi-MiB Node Readable of unknown length round-trips", async () => {
      const s = ctx.main;
      const name = ctx.unique("multi-mib", ".bin");
      const body = new DeterministicBody(7 * MiB + 3, 2);
      const result = await s.save(name, body.stream(256 * 1024));
      expect(result.size).toBe(body.size);
      expect(await hashStream(await s.open(name))).toEqual({ sha256: body.sha256(), size: body.size });
      await s.delete(name);
    });

    ctx.verify(
      `a large file (largeFileSize: ${ctx.largeFileSize} bytes) streams in and out intact, ranges across part boundaries included`,
      ["largeMultipart"],
      async () => {
        const s = ctx.main;
        const name = ctx.unique("large", ".bin");
        const body = new DeterministicBody(ctx.largeFileSize, 3);
        const result = await s.save(name, body.stream());
        expect(result.name).toBe(name);
        expect(result.size).toBe(body.size);
        expect((await s.stat(name)).size).toBe(body.size);
        expect(await hashStream(await s.open(name))).toEqual({ sha256: body.sha256(), size: body.size });
        // 5 MiB and 8 MiB are common part sizes: read across them, and the last bytes.
        for (const boundary of [5 * MiB, 8 * MiB, body.size - 1]) {
          if (boundary >= body.size) continue;
          const start = Math.max(0, boundary - 100);
          const range = await (await s.open(name, { range: { start, end: boundary + 99 } })).bytes();
          expect(Buffer.compare(range, body.slice(start, boundary + 100)), `range around ${boundary}`).toBe(
            0,
          );
        }
        const stat = await s.stat(name);
        // Only real digests may be reported (a multipart ETag is not an MD5).
        if (stat.checksums?.sha256 !== undefined) expect(stat.checksums.sha256).toBe(body.sha256());
        if (stat.checksums?.md5 !== undefined) {
          const md5 = createHash("md5");
          for await (const chunk of body.stream()) md5.update(chunk as Buffer);
          expect(stat.checksums.md5).toBe(md5.digest("hex"));
        }
        await s.delete(name);
      },
      300_000,
    );
  });

  describe("read helpers", () => {
    it("open() gives a Node Readable with bytes(), text() and toWeb()", async () => {
      const s = ctx.main;
      const name = ctx.unique("read");
      await s.save(name, TEXT);
      expect(Buffer.compare(await (await s.open(name)).bytes(), TEXT_BYTES)).toBe(0);
      expect(await (await s.open(name)).text()).toBe(TEXT);
      expect(Buffer.compare(await collect((await s.open(name)).toWeb()), TEXT_BYTES)).toBe(0);
      const stream = await s.open(name);
      expect(stream).toBeInstanceOf(Readable);
      expect(Buffer.compare(await collect(stream), TEXT_BYTES)).toBe(0);
      await s.delete(name);
    });
  });

  describe("ranges", () => {
    const body = randomBytes(1000);
    const cases: Array<[string, { start: number; end?: number }, Buffer]> = [
      ["first bytes", { start: 0, end: 9 }, body.subarray(0, 10)],
      ["one byte", { start: 500, end: 500 }, body.subarray(500, 501)],
      ["the middle", { start: 100, end: 199 }, body.subarray(100, 200)],
      ["open-ended", { start: 990 }, body.subarray(990)],
      ["the whole file", { start: 0 }, body],
      ["end past EOF clamps to the end", { start: 990, end: 5000 }, body.subarray(990)],
      ["the last byte", { start: 999, end: 999 }, body.subarray(999)],
      ["start at EOF is empty", { start: 1000 }, Buffer.alloc(0)],
      ["start past EOF is empty", { start: 5000, end: 6000 }, Buffer.alloc(0)],
    ];
    for (const [label, range, expected] of cases) {
      it(`${label}: ${JSON.stringify(range)}`, async () => {
        const s = ctx.main;
        const name = ctx.unique("ranges", ".bin");
        await s.save(name, body);
        const got = await (await s.open(name, { range })).bytes();
        expect(got.byteLength).toBe(expected.byteLength);
        expect(Buffer.compare(got, expected)).toBe(0);
        await s.delete(name);
      });
    }

    it("any range of an empty file is empty", async () => {
      const s = ctx.main;
      const name = ctx.unique("ranges", ".bin");
      await s.save(name, "");
      for (const range of [{ start: 0 }, { start: 0, end: 0 }, { start: 0, end: 10 }, { start: 5 }]) {
        const got = await (await s.open(name, { range })).bytes();
        expect(got.byteLength, JSON.stringify(range)).toBe(0);
      }
      await s.delete(name);
    });

    it("an invalid range (negative, start after end, not an integer) is E_INVALID_ARGUMENT", async () => {
      const s = ctx.main;
      const name = ctx.unique("ranges", ".bin");
      await s.save(name, body);
      for (const range of [{ start: -1 }, { start: 10, end: 5 }, { start: 1.5 }, { start: Number.NaN }]) {
        await ctx.expectError(() => s.open(name, { range }), "E_INVALID_ARGUMENT");
      }
      await s.delete(name);
    });
  });

  describe("stat and exists", () => {
    it("stat reports size, a recent lastModified, an etag and the name", async () => {
      const s = ctx.main;
      const name = ctx.unique("stat");
      const before = Date.now();
      await s.save(name, TEXT);
      const stat = await s.stat(name);
      expect(stat.name).toBe(name);
      expect(stat.size).toBe(TEXT_BYTES.byteLength);
      expect(stat.lastModified).toBeInstanceOf(Date);
      // Generous bounds: the server's clock and second-granularity timestamps.
      expect(stat.lastModified.getTime()).toBeGreaterThan(before - 5 * 60_000);
      expect(stat.lastModified.getTime()).toBeLessThan(Date.now() + 5 * 60_000);
      expect(typeof stat.etag).toBe("string");
      expect(stat.etag?.length).toBeGreaterThan(0);
      expect(stat.metadata).toBeTypeOf("object");
      await s.delete(name);
    });

    it("the etag changes when the content changes", async () => {
      const s = ctx.main;
      const name = ctx.unique("stat");
      await s.save(name, "first version");
      const first = (await s.stat(name)).etag;
      await s.save(name, "second version, longer", { overwrite: true });
      const second = (await s.stat(name)).etag;
      expect(second).not.toBe(first);
      await s.delete(name);
    });

    it("an explicit contentType, cacheControl and contentDisposition are stored", async () => {
      const s = ctx.main;
      const name = ctx.unique("stat", ".bin");
      await s.save(name, "{}", {
        contentType: "application/vnd.storages.test+json",
        cacheControl: "public, max-age=31536000, immutable",
        contentDisposition: 'attachment; filename="report.json"',
      });
      const stat = await s.stat(name);
      expect(stat.contentType).toBe("application/vnd.storages.test+json");
      expect(stat.cacheControl).toBe("public, max-age=31536000, immutable");
      expect(stat.contentDisposition).toBe('attachment; filename="report.json"');
      await s.delete(name);
    });

    it("contentType is guessed from the extension, else application/octet-stream", async () => {
      const s = ctx.main;
      const cases: Array<[string, RegExp]> = [
        [".png", /^image\/png$/],
        [".json", /^application\/json(;\s*charset=utf-8)?$/i],
        [".html", /^text\/html(;\s*charset=utf-8)?$/i],
        [".css", /^text\/css(;\s*charset=utf-8)?$/i],
        [".pdf", /^application\/pdf$/],
        [".unknown-ext-xyz", /^application\/octet-stream$/],
        ["", /^application\/octet-stream$/],
      ];
      for (const [ext, expected] of cases) {
        const name = ctx.unique("guess", ext);
        await s.save(name, "x");
        expect((await s.stat(name)).contentType, `contentType of ${name}`).toMatch(expected);
        await s.delete(name);
      }
    });

    it("contentEncoding is stored and the bytes are returned as stored (not decoded)", async () => {
      const s = ctx.main;
      const name = ctx.unique("encoding", ".json");
      const gz = gzipSync(Buffer.from(JSON.stringify({ hello: "world" })));
      await s.save(name, gz, { contentEncoding: "gzip", contentType: "application/json" });
      expect((await s.stat(name)).contentEncoding).toBe("gzip");
      await expectContent(s, name, gz);
      await s.delete(name);
    });

    it(`custom metadata round-trips (capabilities.metadata: ${ctx.caps.metadata})`, async () => {
      const s = ctx.main;
      const name = ctx.unique("metadata");
      const metadata = { owner: "alice", "trace-id": "abc-123", empty: "" };
      if (!ctx.caps.metadata) {
        await ctx.expectError(() => s.save(name, "x", { metadata }), "E_UNSUPPORTED", { operation: "save" });
        expect(await s.exists(name)).toBe(false);
        return;
      }
      await s.save(name, "x", { metadata: { owner: "alice", "trace-id": "abc-123" } });
      expect((await s.stat(name)).metadata).toEqual({ owner: "alice", "trace-id": "abc-123" });
      await s.delete(name);
    });

    it("exists is true for a file, false for a missing one and for a directory", async () => {
      const s = ctx.main;
      const dir = ctx.unique("exists", "");
      await s.save(`${dir}/inner/a.txt`, "a");
      expect(await s.exists(`${dir}/inner/a.txt`)).toBe(true);
      expect(await s.exists(`${dir}/inner/b.txt`)).toBe(false);
      expect(await s.exists(`${dir}/inner`)).toBe(false);
      expect(await s.exists(dir)).toBe(false);
      await ctx.expectError(s.stat(`${dir}/inner`), "E_NOT_FOUND", { operation: "stat" });
      await ctx.expectError(async () => (await s.open(`${dir}/inner`)).bytes(), "E_NOT_FOUND");
      await s.delete(`${dir}/inner/a.txt`);
    });

    it("missing files give E_NOT_FOUND with operation, path and backend", async () => {
      const s = ctx.main;
      const missing = ctx.unique("missing");
      const target = ctx.unique("missing");
      await ctx.expectError(s.stat(missing), "E_NOT_FOUND", { operation: "stat", path: missing });
      await ctx.expectError(async () => (await s.open(missing)).bytes(), "E_NOT_FOUND", {
        operation: "open",
        path: missing,
      });
      await ctx.expectError(s.readBytes(missing), "E_NOT_FOUND", {
        operation: ["open", "read"],
        path: missing,
      });
      await ctx.expectError(s.readText(missing), "E_NOT_FOUND", {
        operation: ["open", "read"],
        path: missing,
      });
      await ctx.expectError(s.copy(missing, target), "E_NOT_FOUND", { operation: "copy", path: missing });
      await ctx.expectError(s.move(missing, target), "E_NOT_FOUND", { operation: "move", path: missing });
      await ctx.expectError(s.checksum(missing, "sha256"), "E_NOT_FOUND", {
        operation: "checksum",
        path: missing,
      });
      expect(await s.exists(target)).toBe(false);
    });
  });

  describe("checksums", () => {
    for (const algorithm of ["md5", "sha256", "crc32c"] as const) {
      it(`checksum("${algorithm}") matches the locally computed digest`, async () => {
        const s = ctx.main;
        const name = ctx.unique("checksum", ".bin");
        const body = randomBytes(300_001);
        await s.save(name, body);
        const expected = algorithm === "crc32c" ? crc32c(body) : digest(body, algorithm);
        expect(await s.checksum(name, algorithm)).toBe(expected);
        await s.delete(name);
      });
    }

    describe("checksums a migration can trust, whatever the upload path", () => {
      const small = randomBytes(200_003);
      const smallDigests = digestsOf([small]);

      it("bytes in memory (one request): stat and the listing carry a strong checksum of the bytes, one etag form", async () => {
        const s = ctx.main;
        const saved = await s.save(ctx.unique("trusted", ".bin"), small);
        await expectTrustworthy(s, saved, smallDigests, "must carry a strong checksum");
        await s.delete(saved.name);
      });

      it("a stream of unknown length: stat and the listing carry a strong checksum of the bytes", async () => {
        const s = ctx.main;
        const chunks = oddChunks(small, 65_537).map((chunk) => Buffer.from(chunk));
        const saved = await s.save(ctx.unique("trusted", ".bin"), Readable.from(chunks));
        await expectTrustworthy(s, saved, smallDigests, "must carry a strong checksum");
        await s.delete(saved.name);
      });

      it("a read stream of a whole local file, and localFile(path) (the fs driver's kernel copy): a strong checksum of the bytes", async () => {
        const s = ctx.main;
        const dir = await mkdtemp(join(tmpdir(), "storages-conformance-"));
        try {
          const path = join(dir, "source.bin");
          await writeFile(path, small);
          const saved = await s.save(ctx.unique("trusted", ".bin"), createReadStream(path));
          await expectTrustworthy(s, saved, smallDigests, "must carry a strong checksum");
          await s.delete(saved.name);
          // The same file as localFile(path): opened only if the driver streams it.
          const named = await s.save(ctx.unique("trusted", ".bin"), localFile(path));
          await expectTrustworthy(s, named, smallDigests, "must carry a strong checksum");
          await s.delete(named.name);
          // Over 1 MiB: the fs driver copies it by the kernel and hashes it beside the copy, where
          // a smaller one is read once into a buffer of its size.
          const large = randomBytes(1_500_007);
          await writeFile(path, large);
          const big = await s.save(ctx.unique("trusted", ".bin"), localFile(path));
          await expectTrustworthy(s, big, digestsOf([large]), "must carry a strong checksum");
          await s.delete(big.name);
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      });

      it("a localFile() body that cannot be read (missing, a folder) is E_INVALID_ARGUMENT naming that file, and nothing is stored", async () => {
        const s = ctx.main;
        const dir = await mkdtemp(join(tmpdir(), "storages-conformance-"));
        try {
          for (const path of [join(dir, "missing.bin"), dir]) {
            const name = ctx.unique("unreadable-body", ".bin");
            const error = await s.save(name, localFile(path)).catch((e: unknown) => e);
            expect(error, "must refuse the body as the caller's input").toMatchObject({
              code: "E_INVALID_ARGUMENT",
              retryable: false,
            });
            expect((error as Error).message).toContain(path);
            expect(await s.exists(name)).toBe(false);
          }
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      });

      it("an empty file has the checksums of nothing", async () => {
        const s = ctx.main;
        const saved = await s.save(ctx.unique("trusted", ".bin"), Readable.from([]));
        await expectTrustworthy(s, saved, digestsOf([]), "must carry a strong checksum");
        await s.delete(saved.name);
      });

      ctx.verify(
        `a large stream (largeFileSize: ${ctx.largeFileSize} bytes; multipart, staged blocks, resumable): stat has a strong checksum of the bytes, and the listing only real ones`,
        ["largeMultipart"],
        async () => {
          const s = ctx.main;
          const body = new DeterministicBody(ctx.largeFileSize, 5);
          const saved = await s.save(ctx.unique("trusted-large", ".bin"), body.stream(256 * 1024 + 3));
          expect(saved.size).toBe(body.size);
          await expectTrustworthy(s, saved, body.digests(), "may carry checksums");
          await s.delete(saved.name);
        },
        300_000,
      );

      ctx.verify(
        `a large body in memory (largeFileSize: ${ctx.largeFileSize} bytes): stat has a strong checksum of the bytes`,
        ["largeMultipart"],
        async () => {
          const s = ctx.main;
          const body = new DeterministicBody(ctx.largeFileSize, 6);
          const bytes = body.slice(0, body.size);
          const saved = await s.save(ctx.unique("trusted-large", ".bin"), bytes);
          await expectTrustworthy(s, saved, digestsOf([bytes]), "may carry checksums");
          await s.delete(saved.name);
        },
        300_000,
      );

      it("a copy carries a strong checksum of its bytes", async () => {
        const s = ctx.main;
        const from = await s.save(ctx.unique("trusted-copy", ".bin"), small);
        const to = ctx.unique("trusted-copy", ".bin");
        await s.copy(from.name, to);
        await expectTrustworthy(s, { name: to, size: small.length }, smallDigests, "may carry checksums");
        await s.deleteMany([from.name, to]);
      });

      it("etags have one form: quoted as HTTP sends them, the same in save(), stat() and list()", async () => {
        const s = ctx.main;
        const name = ctx.unique("etag");
        const saved = await s.save(name, "etag form");
        const stat = await s.stat(name);
        const entry = await listedFile(s, name);
        expect(stat.etag).toMatch(QUOTED_ETAG);
        expect(entry.etag).toBe(stat.etag);
        if (saved.etag !== undefined) expect(saved.etag).toBe(stat.etag);
        const replaced = await s.save(name, "etag form, replaced", { overwrite: true });
        const after = await s.stat(name);
        expect(after.etag).toMatch(QUOTED_ETAG);
        expect(after.etag).not.toBe(stat.etag);
        if (replaced.etag !== undefined) expect(replaced.etag).toBe(after.etag);
        await s.delete(name);
      });
    });

    it("checksums reported by stat are real digests of the content", async () => {
      const s = ctx.main;
      const name = ctx.unique("checksum", ".bin");
      const body = randomBytes(70_000);
      await s.save(name, body);
      const reported = (await s.stat(name)).checksums ?? {};
      const local = { md5: digest(body, "md5"), sha256: digest(body, "sha256"), crc32c: crc32c(body) };
      // What a save of a stream says it computed on the way is the digest of the body too.
      const streamed = ctx.unique("checksum-streamed", ".bin");
      const saved = await s.save(streamed, Readable.from([body.subarray(0, 30_000), body.subarray(30_000)]));
      for (const [algorithm, value] of Object.entries(saved.checksums ?? {})) {
        expect(value, `save().checksums.${algorithm}`).toBe(local[algorithm as keyof typeof local]);
      }
      await s.delete(streamed);
      for (const [algorithm, value] of Object.entries(reported)) {
        expect(value, `stat().checksums.${algorithm}`).toBe(local[algorithm as keyof typeof local]);
      }
      for (const algorithm of ctx.caps.checksums) {
        expect(reported[algorithm], `capabilities.checksums lists ${algorithm}`).toBe(local[algorithm]);
      }
      await s.delete(name);
    });
  });
}
