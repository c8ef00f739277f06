import { getEventListeners } from "node:events";
/**
 * Facade behaviour that does not depend on a backend: gap filling, call options, error context,
 * signed-upload method selection. The conformance suite covers the rest against every driver.
 */
import { Readable } from "node:stream";
import { describe, expect, it, vi } from "vitest";
import { createStorages } from "../src/config/index.js";
import { PrefixedDriver, prefixed, readOnly } from "../src/decorators.js";
import {
  AbortedError,
  InvalidArgumentError,
  NotFoundError,
  PartialFailureError,
  StorageError,
} from "../src/errors.js";
import { fake } from "../src/fake.js";
import { MemoryDriver } from "../src/memory.js";
import { mirror } from "../src/mirror.js";
import { Storage } from "../src/storage.js";
import type { Capabilities, Driver, DriverSignedUploadOptions, DriverWriteOptions } from "../src/types.js";

function slowStream(chunks: number, delayMs: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent++ >= chunks) return this.push(null);
      setTimeout(() => this.push(Buffer.alloc(1024, 1)), delayMs);
    },
  });
}

/** A memory driver with some capabilities switched off, to exercise the facade's fallbacks. */
function limitedDriver(overrides: Partial<Capabilities>, extra: Partial<Driver> = {}): Driver {
  const inner = new MemoryDriver();
  const driver: Driver = {
    backend: "limited",
    capabilities: { ...inner.capabilities, ...overrides },
    write: (k, b, o) => inner.write(k, b, o),
    read: (k, o) => inner.read(k, o),
    stat: (k, o) => inner.stat(k, o),
    listPage: (p, o) => inner.listPage(p, o),
    delete: (k) => inner.delete(k),
    ...extra,
  };
  return driver;
}

describe("Storage facade", () => {
  it("serves ranges from a full stream when the driver cannot range-read", async () => {
    const storage = new Storage(limitedDriver({ rangeRead: false }));
    await storage.save("r.bin", "0123456789");
    expect(await storage.readText("r.bin", { range: { start: 2, end: 4 } })).toBe("234");
    expect(await storage.readText("r.bin", { range: { start: 7 } })).toBe("789");
    expect(await storage.readText("r.bin", { range: { start: 50 } })).toBe("");
  });

  it("a stream that breaks after open() returned fails with a StorageError, not the driver's raw error", async () => {
    const reset = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
    const storage = new Storage(
      limitedDriver(
        {},
        {
          read: async () => {
            let sent = false;
            return new Readable({
              read() {
                // One chunk, then the connection resets.
                if (sent) return;
                sent = true;
                this.push(Buffer.alloc(1024));
                setImmediate(() => this.destroy(reset));
              },
            });
          },
        },
      ),
    );
    const stream = await storage.open("any.bin");
    const error = await new Promise<unknown>((resolve) => {
      stream.on("error", resolve);
      stream.resume();
    });
    expect(StorageError.isInstance(error), String(error)).toBe(true);
    expect(error).toMatchObject({ code: "E_BACKEND", retryable: true, operation: "open", path: "any.bin" });
    expect((error as Error).cause).toBe(reset);
  });

  it("moves with copy + delete and deletes many one by one when the driver has no native calls", async () => {
    const storage = new Storage(limitedDriver({}), {
      overwrite: true,
    });
    await storage.save("a.txt", "A", { contentType: "text/x-a" });
    await storage.move("a.txt", "b.txt");
    expect(await storage.exists("a.txt")).toBe(false);
    expect(await storage.readText("b.txt")).toBe("A");
    expect((await storage.stat("b.txt")).contentType).toBe("text/x-a");
    await storage.deleteMany(["b.txt", "never-existed.txt"]);
    expect(await storage.exists("b.txt")).toBe(false);
  });

  it("reports the files deleteMany could not delete, with context", async () => {
    const storage = new Storage(
      limitedDriver(
        {},
        {
          delete: async (key) => {
            if (key === "locked.txt") throw new Error("EACCES");
          },
        },
      ),
    );
    const error = await storage.deleteMany(["ok.txt", "locked.txt"]).catch((e) => e);
    expect(PartialFailureError.isInstance(error)).toBe(true);
    expect((error as PartialFailureError).failures.map((f) => f.path)).toEqual(["locked.txt"]);
    expect((error as PartialFailureError).failures[0]!.error).toMatchObject({
      code: "E_BACKEND",
      operation: "delete",
    });
  });

  it("validates every name before deleting any", async () => {
    const storage = fake();
    await storage.save("keep.txt", "x");
    await expect(storage.deleteMany(["keep.txt", "../etc"])).rejects.toMatchObject({
      code: "E_PATH_TRAVERSAL",
    });
    expect(await storage.exists("keep.txt")).toBe(true);
  });

  it("wraps foreign errors as E_BACKEND with operation, path and backend, and no secret", async () => {
    const storage = new Storage(
      limitedDriver(
        {},
        {
          stat: async () => {
            throw Object.assign(new Error("GET https://h/x?X-Amz-Signature=SECRET failed"), {
              statusCode: 503,
            });
          },
        },
      ),
    );
    const error = (await storage.stat("x.txt").catch((e) => e)) as StorageError;
    expect(error).toMatchObject({
      code: "E_BACKEND",
      operation: "stat",
      path: "x.txt",
      backend: "limited",
      retryable: true,
    });
    expect(error.message).not.toContain("SECRET");
  });

  it("aborts a save in flight with AbortedError and stores nothing", async () => {
    const storage = fake();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);
    const error = await storage
      .save("big.bin", slowStream(1000, 5), { signal: controller.signal })
      .catch((e) => e);
    expect(AbortedError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ operation: "save", path: "big.bin" });
    storage.assertCount(0);
  });

  it("times out with E_TIMEOUT (retryable)", async () => {
    const storage = fake({ timeout: 30 });
    const error = await storage.save("slow.bin", slowStream(1000, 5)).catch((e) => e);
    expect(error).toMatchObject({ code: "E_TIMEOUT", retryable: true, operation: "save" });
  });

  it("aborts a stream being read with AbortedError", async () => {
    const storage = fake();
    await storage.save("f.bin", Buffer.alloc(1 << 20));
    const controller = new AbortController();
    const stream = await storage.open("f.bin", { signal: controller.signal });
    controller.abort();
    await expect(stream.bytes()).rejects.toMatchObject({ code: "E_ABORTED" });
  });

  it("a save that fails its checks rejects; it never throws synchronously", async () => {
    const storage = new Storage(new MemoryDriver());
    const calls = [
      () => storage.save("../escape.txt", "x"),
      () => readOnly(storage).save("a.txt", "x"),
      () => storage.save("a.txt", "x", { visibility: "everyone" as never }),
    ];
    for (const call of calls) {
      let promise: Promise<unknown> | undefined;
      expect(() => {
        promise = call();
      }).not.toThrow();
      await expect(promise).rejects.toBeInstanceOf(StorageError);
    }
  });

  it("refuses header options with control characters: none may end its header and start another", async () => {
    const storage = new Storage(new MemoryDriver());
    for (const options of [
      { cacheControl: "public\r\nSet-Cookie: a=b" },
      { contentType: "image/png\nX-Evil: 1" },
      { contentDisposition: "attachment\u0000" },
      // Beyond Latin-1: stored, it would make every response that sends it fail (ERR_INVALID_CHAR).
      { contentDisposition: 'attachment; filename="日本.pdf"' },
      { contentEncoding: 5 as unknown as string },
    ]) {
      await expect(storage.save("h.txt", "x", options), JSON.stringify(options)).rejects.toMatchObject({
        code: "E_INVALID_ARGUMENT",
      });
    }
    expect(await storage.exists("h.txt")).toBe(false);
    await storage.save("h.txt", "x", { cacheControl: "public,\tmax-age=60" });
    await storage.save("h.txt", "x", { contentDisposition: 'inline; filename="caf\u00e9.pdf"' });
  });

  it("refuses a signed URL's or upload's contentType that no header can carry, before anything is signed", async () => {
    const storage = fake({ overwrite: true });
    await storage.save("h.txt", "x");
    for (const contentType of [
      "text/plain\r\nSet-Cookie: a=b",
      "image/png\u0000",
      "text/日本",
      5 as unknown as string,
    ]) {
      const shown = JSON.stringify(contentType);
      await expect(storage.signedUrl("h.txt", { contentType }), shown).rejects.toMatchObject({
        code: "E_INVALID_ARGUMENT",
        operation: "signedUrl",
        path: "h.txt",
        message: expect.stringContaining("contentType must be a header value"),
      });
      await expect(storage.signedUpload("up.txt", { contentType }), shown).rejects.toMatchObject({
        code: "E_INVALID_ARGUMENT",
        operation: "signedUpload",
        path: "up.txt",
      });
    }
    // What a header may carry is still signed, and a download name of any script needs no care.
    const url = await storage.signedUrl("h.txt", {
      contentType: "text/plain; charset=utf-8",
      download: "日本\n.txt",
    });
    expect(storage.verifyUrl(url).name).toBe("h.txt");
    const upload = await storage.signedUpload("up.txt", { contentType: "text/plain; charset=\u00e9" });
    expect(upload.headers["content-type"]).toBe("text/plain; charset=\u00e9");
  });

  it("calls nothing can end early share a signal that never aborts and keeps no listener a driver leaves on it", async () => {
    const driver = new MemoryDriver();
    const seen: AbortSignal[] = [];
    const writeBytes = driver.writeBytes.bind(driver);
    driver.writeBytes = (key, bytes, options) => {
      seen.push(options.signal);
      options.signal.addEventListener("abort", () => {}); // a driver that never removes its listener
      options.signal.onabort = () => {};
      return writeBytes(key, bytes, options);
    };
    const storage = new Storage(driver, { overwrite: true });
    await Promise.all([storage.save("a.txt", "a"), storage.save("b.txt", "b")]);
    // A call with a signal or a timeout has one of its own.
    await storage.save("c.txt", "c", { signal: new AbortController().signal });
    await expect(storage.save("d.txt", "d", { timeout: 1000 })).resolves.toMatchObject({ name: "d.txt" });
    await storage.save("e.txt", "e");
    expect(seen).toHaveLength(5);
    const [a, b, c, d, e] = seen;
    expect(a).toBe(b);
    expect(a).toBe(e);
    expect(new Set([a, c, d]).size).toBe(3);
    expect(a!.aborted).toBe(false);
    expect(getEventListeners(a!, "abort")).toHaveLength(0);
    expect(a!.onabort).toBeNull();
  });

  it("refuses an already-aborted signal before touching the backend", async () => {
    const storage = fake();
    await expect(storage.save("x", "y", { signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: "E_ABORTED",
    });
    storage.assertCount(0);
  });

  it("gives a stream body a fresh name when the name is taken", async () => {
    const storage = fake();
    await storage.save("a.txt", "first");
    const { name } = await storage.save("a.txt", Readable.from(["sec", "ond"]));
    expect(name).toMatch(/^a_[A-Za-z0-9]{7}\.txt$/);
    await storage.assertContent(name, "second");
    await storage.assertContent("a.txt", "first");
  });

  it("fails a save whose stream errors before anything reads it, without an unhandled error", async () => {
    const { createReadStream } = await import("node:fs");
    const storage = fake();
    await storage.save("taken.bin", "x"); // so the facade awaits a name check before consuming
    const missing = createReadStream("/nonexistent/storages-test/missing.bin");
    const error = await storage.save("taken.bin", missing).catch((e) => e);
    expect(StorageError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ operation: "save" });
    storage.assertCount(1);
  });

  it("accepts every body type", async () => {
    const storage = fake({ overwrite: true });
    const bodies: unknown[] = [
      "text",
      new TextEncoder().encode("text"),
      Buffer.from("text"),
      new TextEncoder().encode("text").buffer,
      new Blob(["te", "xt"]),
      Readable.from([Buffer.from("te"), Buffer.from("xt")]),
      Readable.from(["te", "xt"]),
      new Response("text").body,
      (async function* () {
        yield "te";
        yield new TextEncoder().encode("xt");
      })(),
    ];
    for (const body of bodies) {
      await storage.save("b.txt", body as string);
      expect(await storage.readText("b.txt")).toBe("text");
    }
    await expect(storage.save("b.txt", 42 as unknown as string)).rejects.toMatchObject({
      code: "E_INVALID_ARGUMENT",
    });
    await expect(storage.save("b.txt", Readable.from([1, 2]) as Readable)).rejects.toMatchObject({
      code: "E_INVALID_ARGUMENT",
    });
  });

  it("refuses non-portable metadata and per-file visibility a backend cannot do", async () => {
    const storage = fake();
    await expect(storage.save("m", "x", { metadata: { "Bad Key": "v" } })).rejects.toMatchObject({
      code: "E_INVALID_ARGUMENT",
    });
    await expect(storage.save("m", "x", { metadata: { k: "naïve" } })).rejects.toMatchObject({
      code: "E_INVALID_ARGUMENT",
    });
    const bucketLevel = new Storage(limitedDriver({ visibility: "bucket" }), { visibility: "private" });
    await expect(bucketLevel.save("p", "x", { visibility: "public" })).rejects.toMatchObject({
      code: "E_UNSUPPORTED",
    });
  });

  describe("signedUpload method selection", () => {
    function uploadDriver(methods: ("put" | "post")[], limited: ("put" | "post")[]) {
      const calls: DriverSignedUploadOptions[] = [];
      const driver = limitedDriver(
        { signedUpload: methods, signedUploadMaxBytes: limited },
        {
          signedUpload: async (_key, options) => {
            calls.push(options);
            return {
              method: options.method === "put" ? "PUT" : "POST",
              url: "http://x",
              headers: {},
              fields: {},
              expiresAt: new Date(),
            };
          },
        },
      );
      return { storage: new Storage(driver), calls };
    }

    it("uses PUT by default, POST when only POST can enforce maxBytes", async () => {
      const { storage, calls } = uploadDriver(["put", "post"], ["post"]);
      await storage.signedUpload("a.txt");
      await storage.signedUpload("a.txt", { maxBytes: 10 });
      expect(calls.map((c) => c.method)).toEqual(["put", "post"]);
    });

    it("refuses maxBytes where no method enforces it, naming the alternatives", async () => {
      const { storage } = uploadDriver(["put"], []);
      await expect(storage.signedUpload("a.txt", { maxBytes: 10 })).rejects.toMatchObject({
        code: "E_UNSUPPORTED",
      });
      await expect(storage.signedUpload("a.txt", { method: "post" })).rejects.toMatchObject({
        code: "E_UNSUPPORTED",
      });
    });

    it("gives the upload a fresh name unless overwrite is allowed", async () => {
      const { storage } = uploadDriver(["put"], []);
      expect((await storage.signedUpload("u/a.txt")).name).toMatch(/^u\/a_[A-Za-z0-9]{7}\.txt$/);
      expect((await storage.signedUpload("u/a.txt", { overwrite: true })).name).toBe("u/a.txt");
    });

    it("bounds expiresIn to what S3 and GCS accept", async () => {
      const { storage } = uploadDriver(["put"], []);
      await expect(storage.signedUpload("a", { expiresIn: 0 })).rejects.toMatchObject({
        code: "E_INVALID_ARGUMENT",
      });
      await expect(storage.signedUpload("a", { expiresIn: 8 * 86400 })).rejects.toMatchObject({
        code: "E_INVALID_ARGUMENT",
      });
    });
  });

  it("builds public URLs from a configured base, encoding the name", () => {
    const storage = fake({ publicUrl: "https://cdn.example.com/media" });
    expect(storage.publicUrl("a b/ü#1.png")).toBe("https://cdn.example.com/media/a%20b/%C3%BC%231.png");
    expect(() => new Storage(new MemoryDriver()).publicUrl("x")).toThrow(
      expect.objectContaining({ code: "E_UNSUPPORTED" }),
    );
    expect(() => fake({ publicUrl: "cdn.example.com" })).toThrow(
      expect.objectContaining({ code: "E_INVALID_ARGUMENT" }),
    );
  });

  it("refuses a publicUrl holding a line break, a control character or white space (new URL would hide them)", () => {
    for (const [publicUrl, what] of [
      [
        "https://cdn.example.com/media/\nadd_header X evil;",
        "a line break (U+000A) at character 31: percent-encode it (%0A)",
      ],
      ["/media/\r\n", "a line break (U+000D) at character 8"],
      ["/media\u2028/", "a line break (U+2028)"],
      ["https://cdn.example.com/my media/", "a space (U+0020) at character 27: percent-encode it (%20)"],
      ["\thttps://cdn.example.com/", "a control character (U+0009) at character 1"],
      ["/media/\u0000", "a control character (U+0000)"],
      ["/media/\u0085", "a line break (U+0085)"],
      ["/media/\u009b", "a control character (U+009B)"],
      ["https://cdn.example.com/\u00a0/", "white space (U+00A0) at character 25: percent-encode it (%C2%A0)"],
      ["https://cdn.example.com/media/ ", "a space (U+0020)"],
    ] as const) {
      let error: unknown;
      try {
        fake({ publicUrl });
      } catch (e) {
        error = e;
      }
      expect(error, JSON.stringify(publicUrl)).toBeInstanceOf(InvalidArgumentError);
      expect((error as InvalidArgumentError).code).toBe("E_INVALID_ARGUMENT");
      expect((error as Error).message, JSON.stringify(publicUrl)).toContain(`publicUrl holds ${what}`);
      expect((error as Error).message).toMatch(/cannot hold line breaks, control characters or spaces\.$/);
      expect((error as Error).message).not.toContain("evil");
    }
    expect(() => new MemoryDriver({ baseUrl: "/media/\n" })).toThrow(
      /^MemoryDriver baseUrl holds a line break/,
    );
    // The documented forms, percent-encoded names and non-ASCII ones (browsers encode them) stay valid.
    for (const publicUrl of [
      "https://cdn.example.com/media/",
      "https://cdn.example.com/media",
      "http://localhost:8000/media/",
      "/media/",
      "/storages/staticfiles/",
      "https://cdn.example.com/my%20media/",
      "https://cdn.example.com/médias/",
      "https://cdn.example.com/static/?v=2",
    ]) {
      expect(fake({ publicUrl }).publicUrl("a.txt"), publicUrl).toContain("a.txt");
    }
  });
});

describe("decorators", () => {
  it("readOnly refuses every write with E_READ_ONLY and still reads", async () => {
    const writer = fake({ overwrite: true });
    await writer.save("app.css", "body{}");
    const reader = readOnly(writer);
    expect(await reader.readText("app.css")).toBe("body{}");
    for (const attempt of [
      () => reader.save("x.css", "x"),
      () => reader.delete("app.css"),
      () => reader.deleteMany(["app.css"]),
      () => reader.copy("app.css", "b.css"),
      () => reader.move("app.css", "b.css"),
    ]) {
      await expect(attempt()).rejects.toMatchObject({ code: "E_READ_ONLY" });
    }
    expect(writer.files()).toEqual(["app.css"]);
  });

  it("prefixed confines a storage to a directory and hides the prefix", async () => {
    const root = fake({ publicUrl: "https://cdn/x/" });
    const media = prefixed(root, "media");
    expect(media.driver).toBeInstanceOf(PrefixedDriver);
    const { name } = await media.save("a.txt", "1");
    expect(name).toBe("a.txt");
    const second = await media.save("a.txt", "2");
    expect(second.name).toMatch(/^a_[A-Za-z0-9]{7}\.txt$/);
    expect(root.files()).toEqual(["media/a.txt", `media/${second.name}`].sort());
    expect((await media.stat("a.txt")).name).toBe("a.txt");
    const names = [];
    for await (const entry of media.list("", { recursive: true })) names.push(entry.name);
    expect(names.sort()).toEqual(["a.txt", second.name].sort());
    expect(media.publicUrl("a.txt")).toBe("https://cdn/x/media/a.txt");
    await expect(media.stat("../a.txt")).rejects.toMatchObject({ code: "E_PATH_TRAVERSAL" });
  });
});

describe("fake()", () => {
  it("asserts with readable messages", async () => {
    const storage = fake();
    await storage.save("a.txt", "hello");
    await storage.assertContent("a.txt", "hello");
    await expect(storage.assertContent("a.txt", "bye")).rejects.toThrow(/Expected "a.txt" to hold 3 bytes/);
    await expect(storage.assertExists("b.txt")).rejects.toThrow(/it holds: "a.txt"/);
    expect(() => storage.assertCount(2)).toThrow(/Expected 2 files/);
    await expect(storage.stat("b.txt")).rejects.toBeInstanceOf(NotFoundError);
  });
});

// Keeps the write-options type in view for readers of the stub above.
export type { DriverWriteOptions };

describe("two copies of @storages/core in one app", () => {
  it("a Storage made by one copy is recognised by the other (isInstance, mirror, the registry)", async () => {
    // A second module instance, as npm makes when a driver ends up with its own nested copy of core.
    vi.resetModules();
    const other = (await import("../src/index.js")) as typeof import("../src/index.js");
    const { Storage: OtherStorage, MemoryDriver: OtherMemory } = other;
    expect(OtherStorage).not.toBe(Storage);
    const foreign = new OtherStorage(new OtherMemory(), { overwrite: true });
    expect(foreign instanceof Storage).toBe(false);
    expect(Storage.isInstance(foreign)).toBe(true);
    expect(Storage.isInstance({ driver: {} })).toBe(false);
    const both = mirror(new Storage(new MemoryDriver(), { overwrite: true }), foreign as unknown as Storage);
    await both.save("m.txt", "x");
    expect(await foreign.readText("m.txt")).toBe("x");
    const registry = createStorages({ storages: { default: foreign as unknown as Storage }, env: {} });
    expect(await (await registry.get("default")).readText("m.txt")).toBe("x");
  });
});
