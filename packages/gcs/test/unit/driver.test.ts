/**
 * What the driver sends, checked on a recording loopback server: the preconditions, ACLs, chunk
 * sizes and names the Cloud Storage emulator accepts without checking.
 */
import { Readable } from "node:stream";
import { Storage, StorageError } from "@storages/core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { GcsDriver, type GcsDriverOptions } from "../../src/index.js";
import { throwawayKey } from "../server.js";
import { parseMultipart, RecordingGcs } from "../support/recording-gcs.js";

const gcs = new RecordingGcs();
const key = throwawayKey();
const KiB = 1024;

beforeAll(async () => {
  await gcs.start();
});
afterAll(async () => {
  await gcs.stop();
});
afterEach(() => {
  gcs.requests.length = 0;
  gcs.objects.clear();
  gcs.hook = undefined;
});

function driver(options: Partial<GcsDriverOptions> = {}): GcsDriver {
  return new GcsDriver({
    bucket: "bkt",
    prefix: "root/",
    endpoint: gcs.endpoint,
    credentials: key,
    // No retry back-off in unit tests: the SDK would retry 5xx for seconds.
    ...options,
  });
}

const signal = () => new AbortController().signal;

/** A body that can be read once, like an HTTP request being proxied. */
function oneShot(chunks: Buffer[]): Readable {
  return Readable.from(
    (async function* () {
      for (const chunk of chunks) yield chunk;
    })(),
  );
}

describe("writes", () => {
  it("a small in-memory body goes in one multipart request with ifGenerationMatch=0 and the private ACL", async () => {
    const s = new Storage(driver());
    const result = await s.save("a/b.txt", "hello", {
      cacheControl: "max-age=60",
      metadata: { owner: "42" },
    });
    expect(result).toMatchObject({ name: "a/b.txt", size: 5 });
    const [upload, ...others] = gcs.find("/upload/");
    expect(others).toEqual([]);
    expect(upload!.query.get("uploadType")).toBe("multipart");
    expect(upload!.query.get("ifGenerationMatch")).toBe("0");
    expect(upload!.query.get("predefinedAcl")).toBe("projectPrivate");
    const { metadata, data } = parseMultipart(upload!);
    expect(upload!.query.get("name")).toBe("root/a/b.txt");
    expect(metadata).toMatchObject({
      contentType: "text/plain; charset=utf-8",
      cacheControl: "max-age=60",
      metadata: { owner: "42" },
    });
    expect(data.toString()).toBe("hello");
  });

  it("public files get publicRead; overwrite: true sends no precondition", async () => {
    const s = new Storage(driver(), { visibility: "public", overwrite: true });
    await s.save("p.txt", "x");
    const [upload] = gcs.find("/upload/");
    expect(upload!.query.get("predefinedAcl")).toBe("publicRead");
    expect(upload!.query.has("ifGenerationMatch")).toBe(false);
  });

  it("uniform bucket-level access: no ACL parameter on any write, copy or signed upload", async () => {
    const d = driver({ uniformAccess: true });
    expect(d.capabilities.visibility).toBe("bucket");
    const s = new Storage(d, { visibility: "public" });
    await s.save("u.txt", "x");
    await s.save("big.bin", oneShot([Buffer.alloc(10)]));
    await s.copy("u.txt", "u2.txt");
    const post = await s.signedUpload("up.txt", { method: "post" });
    const put = await s.signedUpload("up.txt", { method: "put" });
    for (const r of gcs.requests) {
      expect(r.query.has("predefinedAcl"), `${r.method} ${r.path}`).toBe(false);
      expect(r.query.has("destinationPredefinedAcl"), `${r.method} ${r.path}`).toBe(false);
    }
    expect(post.fields.acl).toBeUndefined();
    expect(put.headers["x-goog-acl"]).toBeUndefined();
    await expect(s.setVisibility("u.txt", "private")).rejects.toMatchObject({ code: "E_UNSUPPORTED" });
  });

  it("a taken name in memory: 412 → AlreadyExists, and the facade retries under a fresh name", async () => {
    gcs.put("root/taken.txt", "old");
    const s = new Storage(driver());
    const result = await s.save("taken.txt", "new");
    expect(result.name).toMatch(/^taken_[A-Za-z0-9]{7}\.txt$/);
    expect(gcs.objects.get("root/taken.txt")!.data.toString()).toBe("old");
    expect(gcs.objects.get(`root/${result.name}`)!.data.toString()).toBe("new");
    const d = driver();
    const error = await d
      .write("taken.txt", Readable.from([]), {
        signal: signal(),
        contentType: "text/plain",
        visibility: "private",
        ifNotExists: true,
        bytes: Buffer.from("x"),
      })
      .catch((e) => e);
    expect(StorageError.hasCode(error, "E_ALREADY_EXISTS")).toBe(true);
  });

  it("a taken name for a one-shot stream is found at session creation: the stream goes, whole, under nextKey()", async () => {
    gcs.put("root/s.bin", "old");
    const body = Buffer.alloc(300 * KiB, 7);
    const names = ["s_1.bin", "s_2.bin"];
    gcs.put("root/s_1.bin", "also taken");
    const result = await driver().write(
      "s.bin",
      oneShot([body.subarray(0, 100 * KiB), body.subarray(100 * KiB)]),
      {
        signal: signal(),
        contentType: "application/octet-stream",
        visibility: "private",
        ifNotExists: true,
        nextKey: () => names.shift()!,
      },
    );
    expect(result.key).toBe("s_2.bin");
    expect(result.size).toBe(body.length);
    const sessions = gcs.find("/upload/", "POST");
    expect(
      sessions.map((r) => [
        r.query.get("name"),
        r.query.get("ifGenerationMatch"),
        r.query.get("predefinedAcl"),
      ]),
    ).toEqual([
      ["root/s.bin", "0", "projectPrivate"],
      ["root/s_1.bin", "0", "projectPrivate"],
      ["root/s_2.bin", "0", "projectPrivate"],
    ]);
    expect(Buffer.compare(gcs.objects.get("root/s_2.bin")!.data, body)).toBe(0);
    expect(gcs.objects.get("root/s.bin")!.data.toString()).toBe("old");
  });

  it("chunked resumable upload: every request carries at most chunkSize bytes, contiguous, and the object is whole", async () => {
    const chunkSize = 256 * KiB;
    const body = Buffer.from(Array.from({ length: 1024 * KiB + 100 }, (_, i) => (i * 31) % 251));
    const s = new Storage(driver({ chunkSize }));
    // Unknown length, odd piece sizes.
    const pieces: Buffer[] = [];
    for (let i = 0; i < body.length; i += 70_001) pieces.push(body.subarray(i, i + 70_001));
    const result = await s.save("chunked.bin", oneShot(pieces));
    expect(result.size).toBe(body.length);
    const puts = gcs.find("/upload/", "PUT");
    expect(puts.length).toBe(5);
    let offset = 0;
    for (const put of puts) {
      expect(put.body.length).toBeLessThanOrEqual(chunkSize);
      const range = /^bytes (\d+)-(\d+)\/(\*|\d+)$/.exec(String(put.headers["content-range"]));
      expect(range, String(put.headers["content-range"])).not.toBeNull();
      expect(Number(range![1])).toBe(offset);
      offset += put.body.length;
      expect(Number(range![2])).toBe(offset - 1);
    }
    expect(String(puts.at(-1)!.headers["content-range"])).toBe(
      `bytes ${body.length - 100}-${body.length - 1}/${body.length}`,
    );
    expect(Buffer.compare(gcs.objects.get("root/chunked.bin")!.data, body)).toBe(0);
  });

  it("chunked resumable upload: a 503 to a chunk mid-upload is resumed from where the session got, not failed", async () => {
    const chunkSize = 256 * KiB;
    const body = Buffer.from(Array.from({ length: 1024 * KiB }, (_, i) => (i * 7) % 253));
    const s = new Storage(driver({ chunkSize }), { retry: false });
    let chunks = 0;
    let refused = 0;
    gcs.hook = (r) => {
      if (r.method !== "PUT" || r.body.length === 0) return undefined;
      if (++chunks === 2) {
        refused += 1;
        return { status: 503, body: { error: { code: 503, message: "backend busy" } } };
      }
      return undefined;
    };
    for (const ifNotExists of [true, false]) {
      chunks = 0;
      const name = `resumed-${ifNotExists}.bin`;
      const result = await s.save(name, oneShot([body]), { overwrite: !ifNotExists });
      expect(result.size).toBe(body.length);
      expect(Buffer.compare(gcs.objects.get(`root/${name}`)!.data, body)).toBe(0);
    }
    expect(refused).toBe(2);
  }, 20_000);

  it.each([
    ["by default", {}],
    ["with chunkSize: 0", { chunkSize: 0 }],
  ])("a stream goes whole in one request %s, after the session", async (_label, options) => {
    const body = Buffer.from(Array.from({ length: 600 * KiB }, (_, i) => (i * 7) % 253));
    const result = await new Storage(driver(options)).save(
      "one.bin",
      oneShot([body.subarray(0, 1000), body.subarray(1000, 300 * KiB), body.subarray(300 * KiB)]),
    );
    expect(result.size).toBe(body.length);
    expect(gcs.find("/upload/").map((r) => [r.method, r.query.get("uploadType")])).toEqual([
      ["POST", "resumable"],
      ["PUT", "resumable"],
    ]);
    const [put] = gcs.find("/upload/", "PUT");
    // Length unknown when the request starts: the server learns it from the end of the body.
    expect(put!.headers["content-range"]).toBe("bytes 0-*/*");
    expect(Buffer.compare(put!.body, body)).toBe(0);
    expect(Buffer.compare(gcs.objects.get("root/one.bin")!.data, body)).toBe(0);
  });

  it("aborting a stream upload finalises nothing", async () => {
    const controller = new AbortController();
    const s = new Storage(driver({ chunkSize: 256 * KiB }));
    const body = Readable.from(
      (async function* () {
        yield Buffer.alloc(300 * KiB);
        controller.abort();
        await new Promise((resolve) => setTimeout(resolve, 50));
        yield Buffer.alloc(300 * KiB);
      })(),
    );
    const error = await s
      .save("aborted.bin", body, { signal: controller.signal, overwrite: true })
      .catch((e) => e);
    expect(StorageError.hasCode(error, "E_ABORTED")).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(gcs.objects.has("root/aborted.bin")).toBe(false);
  });
});

describe("reads", () => {
  it("a range is asked of the server", async () => {
    gcs.put("root/r.txt", "0123456789");
    const s = new Storage(driver());
    expect(await s.readText("r.txt", { range: { start: 2, end: 5 } })).toBe("2345");
    expect(gcs.find("/o/root%2Fr.txt", "GET").at(-1)!.headers.range).toBe("bytes=2-5");
  });

  it("a server that ignores Range (whole body, 200) is sliced locally; a start past the end reads nothing", async () => {
    gcs.put("root/r.txt", "0123456789");
    gcs.hook = (r) =>
      r.query.get("alt") === "media" ? { status: 200, body: gcs.objects.get("root/r.txt")!.data } : undefined;
    const s = new Storage(driver());
    expect(await s.readText("r.txt", { range: { start: 3, end: 4 } })).toBe("34");
    expect(await s.readText("r.txt", { range: { start: 7 } })).toBe("789");
    expect(await s.readText("r.txt", { range: { start: 10 } })).toBe("");
  });

  it("a connection reset mid-body fails the stream with a retryable StorageError, never a short file", async () => {
    const data = Buffer.alloc(256 * KiB, 3);
    gcs.put("root/cut.bin", data);
    gcs.hook = (r) =>
      r.query.get("alt") === "media" ? { status: 200, body: data, cutAfter: 64 * KiB } : undefined;
    const s = new Storage(driver());
    const error = await s.readBytes("cut.bin").catch((e) => e);
    expect(StorageError.isInstance(error), String(error)).toBe(true);
    expect(error).toMatchObject({ backend: "gcs", retryable: true });
  });

  it.each([
    ["a connection reset", { cutAfter: 64 * KiB }, "E_BACKEND"],
    [
      "a CRC32C mismatch",
      { headers: { "x-goog-hash": "crc32c=AAAAAA==", "x-goog-stored-content-encoding": "identity" } },
      "E_BACKEND",
    ],
  ])(
    "%s mid-body fails the open() stream itself with a StorageError (no facade helper in between)",
    async (_label, reply, code) => {
      const data = Buffer.alloc(256 * KiB, 5);
      gcs.put("root/bad.bin", data);
      gcs.hook = (r) => (r.query.get("alt") === "media" ? { status: 200, body: data, ...reply } : undefined);
      const stream = await new Storage(driver()).open("bad.bin");
      let received = 0;
      const error = await (async () => {
        for await (const chunk of stream) received += (chunk as Buffer).length;
      })().catch((e) => e);
      expect(StorageError.isInstance(error), String(error)).toBe(true);
      expect(error.code).toBe(code);
      expect(error.message).toContain("root/bad.bin");
      expect(received).toBeLessThanOrEqual(data.length);
    },
  );

  it("missing objects are E_NOT_FOUND, for read and stat", async () => {
    const s = new Storage(driver());
    await expect(s.readBytes("nope.txt")).rejects.toMatchObject({
      code: "E_NOT_FOUND",
      path: "nope.txt",
      backend: "gcs",
    });
    await expect(s.stat("nope.txt")).rejects.toMatchObject({ code: "E_NOT_FOUND" });
    expect(await s.exists("nope.txt")).toBe(false);
  });

  it("stat reports GCS's MD5 and CRC32C as hex", async () => {
    gcs.put("root/c.txt", "hello world");
    const stat = await new Storage(driver()).stat("c.txt");
    expect(stat.checksums).toEqual({ md5: "5eb63bbbe01eeed093cb22bb8f5acdc3", crc32c: "c99465aa" });
  });
});

describe("copy, visibility, delete", () => {
  it("copy is a rewrite that makes the copy private, with ifGenerationMatch=0 when overwrite is false", async () => {
    gcs.put("root/src.txt", "s");
    gcs.put("root/dst.txt", "d");
    const s = new Storage(driver());
    await s.copy("src.txt", "new.txt", { overwrite: false });
    const [rewrite] = gcs.find("/rewriteTo/");
    expect(rewrite!.path).toBe("/storage/v1/b/bkt/o/root%2Fsrc.txt/rewriteTo/b/bkt/o/root%2Fnew.txt");
    expect(rewrite!.query.get("ifGenerationMatch")).toBe("0");
    expect(rewrite!.query.get("destinationPredefinedAcl")).toBe("projectPrivate");
    await expect(s.copy("src.txt", "dst.txt", { overwrite: false })).rejects.toMatchObject({
      code: "E_ALREADY_EXISTS",
    });
    await s.copy("src.txt", "dst.txt");
    expect(gcs.find("/rewriteTo/").at(-1)!.query.has("ifGenerationMatch")).toBe(false);
    await expect(s.copy("missing.txt", "x.txt")).rejects.toMatchObject({ code: "E_NOT_FOUND" });
  });

  it("setVisibility replaces the ACL in one PATCH; getVisibility reads allUsers from the full projection", async () => {
    gcs.put("root/v.txt", "v");
    const s = new Storage(driver());
    await s.setVisibility("v.txt", "public");
    const [patch] = gcs.find("/o/root%2Fv.txt", "PATCH");
    expect(patch!.query.get("predefinedAcl")).toBe("publicRead");
    expect(await s.getVisibility("v.txt")).toBe("public");
    expect(gcs.find("/o/root%2Fv.txt", "GET").at(-1)!.query.get("projection")).toBe("full");
    await s.setVisibility("v.txt", "private");
    expect(gcs.find("/o/root%2Fv.txt", "PATCH").at(-1)!.query.get("predefinedAcl")).toBe("projectPrivate");
    expect(await s.getVisibility("v.txt")).toBe("private");
  });

  it("getVisibility never guesses when GCS withholds the ACL", async () => {
    gcs.put("root/v.txt", "v");
    await expect(new Storage(driver()).getVisibility("v.txt")).rejects.toMatchObject({
      code: "E_PERMISSION_DENIED",
    });
  });

  it("deleteMany runs at most deleteConcurrency deletes at once, ignores missing names and reports failures", async () => {
    for (let i = 0; i < 20; i++) gcs.put(`root/d${i}`, "x");
    let inFlight = 0;
    let peak = 0;
    gcs.hook = async (r) => {
      if (r.method !== "DELETE") return undefined;
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 20));
      inFlight -= 1;
      if (r.path.endsWith("root%2Fd7"))
        return { status: 403, body: { error: { code: 403, message: "denied" } } };
      return undefined;
    };
    const s = new Storage(driver({ deleteConcurrency: 3 }));
    const names = [...Array.from({ length: 20 }, (_, i) => `d${i}`), "missing"];
    const error = await s.deleteMany(names).catch((e) => e);
    expect(peak).toBeLessThanOrEqual(3);
    expect(peak).toBeGreaterThan(1);
    expect(error).toMatchObject({ code: "E_PARTIAL_FAILURE" });
    expect(error.failures.map((f: { path: string; error: StorageError }) => [f.path, f.error.code])).toEqual([
      ["d7", "E_PERMISSION_DENIED"],
    ]);
    expect([...gcs.objects.keys()]).toEqual(["root/d7"]);
  });
});

describe("listing", () => {
  const item = (name: string) => ({ name, size: "1", updated: "2024-01-01T00:00:00.000Z", etag: "e" });

  it("asks one page with the root prefix, delimiter and page size; strips the root from names", async () => {
    gcs.hook = (r) =>
      r.path === "/storage/v1/b/bkt/o"
        ? {
            status: 200,
            body: {
              items: [item("root/dir/a.txt"), item("root/dir/")],
              prefixes: ["root/dir/sub/"],
              nextPageToken: "T1",
            },
          }
        : undefined;
    const page = await new Storage(driver()).listPage("dir/", { pageSize: 2 });
    const [list] = gcs.find("/storage/v1/b/bkt/o", "GET");
    expect([list!.query.get("prefix"), list!.query.get("delimiter"), list!.query.get("maxResults")]).toEqual([
      "root/dir/",
      "/",
      "2",
    ]);
    expect(page.entries.map((e) => [e.type, e.name])).toEqual([
      ["file", "dir/a.txt"],
      ["directory", "dir/sub"],
    ]);
    expect(page.cursor).toBeTypeOf("string");
  });

  it("listed files carry GCS's MD5 and CRC32C as hex, and the etag quoted (the JSON API sends it bare)", async () => {
    gcs.hook = (r) =>
      r.path === "/storage/v1/b/bkt/o"
        ? {
            status: 200,
            body: {
              items: [
                {
                  ...item("root/a.txt"),
                  md5Hash: "XrY7u+Ae7tCTyyK7j1rNww==",
                  crc32c: "yZRlqg==",
                  etag: "CKih16Gj",
                },
                { ...item("root/composite.bin"), crc32c: "yZRlqg==" },
              ],
            },
          }
        : undefined;
    const page = await new Storage(driver()).listPage("", { recursive: true });
    expect(page.entries).toMatchObject([
      {
        name: "a.txt",
        etag: '"CKih16Gj"',
        checksums: { md5: "5eb63bbbe01eeed093cb22bb8f5acdc3", crc32c: "c99465aa" },
      },
      { name: "composite.bin", etag: '"e"', checksums: { crc32c: "c99465aa" } },
    ]);
  });

  it("directories a server repeats on later pages are returned once; cursors chain GCS's page tokens", async () => {
    // The Cloud Storage emulator returns every prefix on every page.
    const pages: Record<string, unknown> = {
      "": { items: [item("root/a1")], prefixes: ["root/x/", "root/y/"], nextPageToken: "T1" },
      T1: { items: [item("root/a2")], prefixes: ["root/x/", "root/y/"], nextPageToken: "T2" },
      T2: { items: [item("root/a3")], prefixes: ["root/x/", "root/y/", "root/z/"] },
    };
    gcs.hook = (r) =>
      r.path === "/storage/v1/b/bkt/o"
        ? { status: 200, body: pages[r.query.get("pageToken") ?? ""] }
        : undefined;
    const s = new Storage(driver());
    const names: string[] = [];
    for await (const entry of s.list("", { pageSize: 1 })) names.push(entry.name);
    expect(names).toEqual(["a1", "x", "y", "a2", "a3", "z"]);
    expect(gcs.find("/storage/v1/b/bkt/o", "GET").map((r) => r.query.get("pageToken"))).toEqual([
      null,
      "T1",
      "T2",
    ]);
    await expect(s.listPage("", { cursor: "gcs1.not-json" })).rejects.toMatchObject({
      code: "E_INVALID_ARGUMENT",
    });
  });
});
