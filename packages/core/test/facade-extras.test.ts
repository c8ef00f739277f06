/**
 * The facade's smaller API: fake() URLs, deletePrefix, JSON helpers, path(), features/describe,
 * option checking and the shared name budget.
 */
import { describe, expect, it } from "vitest";
import { InvalidArgumentError, PartialFailureError, UnsupportedError } from "../src/errors.js";
import { fake } from "../src/fake.js";
import { MemoryDriver } from "../src/memory.js";
import { MAX_NAME_ATTEMPTS, NameCandidates } from "../src/naming.js";
import { Storage } from "../src/storage.js";
import type { Driver } from "../src/types.js";

describe("fake() URLs", () => {
  it("gives public URLs under its base, and signed URLs it verifies", async () => {
    const media = fake({ baseUrl: "https://cdn.test/media/", visibility: "public" });
    await media.save("a b/ü.png", "x");
    expect(await media.url("a b/ü.png")).toBe("https://cdn.test/media/a%20b/%C3%BC.png");
    const signed = await media.signedUrl("a b/ü.png", { expiresIn: 60, download: "photo.png" });
    const granted = media.verifyUrl(signed);
    expect(granted.name).toBe("a b/ü.png");
    expect(granted.contentDisposition).toContain("photo.png");
    expect(() => media.verifyUrl(signed.replace("%C3%BC", "u"))).toThrow(/tampered/);
    expect(() => media.verifyUrl(signed, "PUT")).toThrow(/signed for GET/);
  });

  it("a private fake's url() is signed; the default fake has URLs too", async () => {
    const docs = fake();
    await docs.save("invoice.pdf", "%PDF", { overwrite: true });
    const url = await docs.url("invoice.pdf");
    expect(url.startsWith("https://fake-storage.invalid/invoice.pdf?")).toBe(true);
    expect(docs.verifyUrl(url).name).toBe("invoice.pdf");
  });

  it("plays a signed upload end to end, enforcing size and content type", async () => {
    const uploads = fake();
    const upload = await uploads.signedUpload("avatars/me.png", {
      contentType: "image/png",
      maxBytes: 4,
      expiresIn: 60,
    });
    expect(upload.name).toMatch(/^avatars\/me_[A-Za-z0-9]{7}\.png$/);
    await expect(uploads.receiveUpload(upload, "12345")).rejects.toThrow(/at most 4/);
    await expect(uploads.receiveUpload(upload, "1234", { "content-type": "text/html" })).rejects.toThrow(
      /image\/png/,
    );
    const saved = await uploads.receiveUpload(upload, "1234");
    expect(saved.name).toBe(upload.name);
    await uploads.assertContent(upload.name, "1234");
    expect((await uploads.stat(upload.name)).contentType).toBe("image/png");
  });

  it("signed URLs of two fakes do not verify on each other", async () => {
    const a = fake();
    const b = fake();
    await a.save("x.txt", "x", { overwrite: true });
    const url = await a.signedUrl("x.txt");
    expect(() => b.verifyUrl(url)).toThrow(/tampered/);
  });

  it("the memory driver has no URLs without a base, and says how to get them", async () => {
    const bare = new Storage(new MemoryDriver());
    await expect(bare.signedUrl("x")).rejects.toSatisfy(UnsupportedError.isInstance);
    expect(() => new MemoryDriver({ signingKey: "k".repeat(32) })).toThrow(/needs a baseUrl/);
    expect(() => new MemoryDriver({ baseUrl: "https://x/", signingKey: "short" })).toThrow(/at least 32/);
  });
});

describe("deletePrefix", () => {
  it("deletes every file below a prefix, page by page, and nothing else", async () => {
    const s = fake({ overwrite: true });
    for (let i = 0; i < 2_300; i++) await s.save(`tmp/${i % 7}/f${i}.txt`, "x");
    await s.save("tmpfile.txt", "keep");
    await s.save("keep/a.txt", "keep");
    expect(await s.deletePrefix("tmp/")).toEqual({ deleted: 2_300 });
    expect(s.files()).toEqual(["keep/a.txt", "tmpfile.txt"]);
    expect(await s.deletePrefix("nothing-here/")).toEqual({ deleted: 0 });
  });

  it("refuses the root unless told, and refuses invalid prefixes", async () => {
    const s = fake({ overwrite: true });
    await s.save("a.txt", "x");
    await expect(s.deletePrefix("")).rejects.toThrow(/all: true/);
    await expect(s.deletePrefix("../")).rejects.toMatchObject({
      code: expect.stringMatching(/E_INVALID_PATH|E_PATH_TRAVERSAL/),
    });
    expect(s.files()).toEqual(["a.txt"]);
    expect(await s.deletePrefix("", { all: true })).toEqual({ deleted: 1 });
  });

  it("tries every file and reports the ones that failed", async () => {
    const inner = new MemoryDriver();
    const driver: Driver = {
      backend: "flaky",
      capabilities: inner.capabilities,
      write: (k, b, o) => inner.write(k, b, o),
      read: (k, o) => inner.read(k, o),
      stat: (k, o) => inner.stat(k, o),
      listPage: (p, o) => inner.listPage(p, o),
      delete: async (k) => {
        if (k.endsWith("locked.txt")) throw new Error("EACCES");
        return inner.delete(k);
      },
    };
    const s = new Storage(driver, { overwrite: true });
    await s.save("d/a.txt", "x");
    await s.save("d/locked.txt", "x");
    await s.save("d/z.txt", "x");
    const error = await s.deletePrefix("d/").catch((e: unknown) => e);
    expect(PartialFailureError.isInstance(error)).toBe(true);
    expect((error as PartialFailureError).failures.map((f) => f.path)).toEqual(["d/locked.txt"]);
    expect(inner.keys()).toEqual(["d/locked.txt"]);
  });
});

describe("readJson / writeJson", () => {
  it("round-trips, sets the type, and names a file that is not JSON", async () => {
    const s = fake({ overwrite: true });
    await s.writeJson("m.json", { a: [1, "b"] });
    expect(await s.readJson("m.json")).toEqual({ a: [1, "b"] });
    expect((await s.stat("m.json")).contentType).toBe("application/json");
    await s.save("bad.json", "{nope");
    await expect(s.readJson("bad.json")).rejects.toThrow(/"bad.json" is not valid JSON/);
    await expect(s.writeJson("u.json", undefined)).rejects.toSatisfy(InvalidArgumentError.isInstance);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(s.writeJson("c.json", cyclic)).rejects.toSatisfy(InvalidArgumentError.isInstance);
    expect(s.files()).toEqual(["bad.json", "m.json"]);
  });
});

describe("features and describe()", () => {
  it("tells native from facade-provided, and holds no secret", async () => {
    const s = fake({ signingKey: "super-secret-signing-key-0123456789abcdef" });
    const info = s.describe();
    expect(info.backend).toBe("memory");
    expect(info.location?.location).toBe("memory://");
    expect(info.features).toMatchObject({
      copy: "native",
      move: "native",
      deleteMany: "native",
      rangeRead: "native",
      signedUrl: "native",
    });
    expect(info.features.checksums).toEqual({ stored: ["md5"], computed: ["sha256", "crc32c"] });
    expect(JSON.stringify(info)).not.toContain("super-secret");
    const inner = new MemoryDriver();
    const bare = new Storage({
      backend: "minimal",
      capabilities: { ...inner.capabilities, rangeRead: false },
      write: (k, b, o) => inner.write(k, b, o),
      read: (k, o) => inner.read(k, o),
      stat: (k, o) => inner.stat(k, o),
      listPage: (p, o) => inner.listPage(p, o),
      delete: (k) => inner.delete(k),
    });
    expect(bare.features).toMatchObject({
      rangeRead: "facade",
      copy: "facade",
      move: "facade",
      deleteMany: "facade",
    });
  });

  it("path() is refused by storages without local files", () => {
    expect(() => fake().path("a.txt")).toThrow(/keeps no local files/);
  });
});

describe("options passed from JavaScript", () => {
  it("a misspelled Storage option is an error naming the closest valid one", () => {
    expect(() => new Storage(new MemoryDriver(), { visibilty: "public" } as never)).toThrow(
      /did you mean "visibility"/,
    );
    expect(() => new MemoryDriver({ baseURL: "/m/" } as never)).toThrow(/did you mean "baseUrl"/);
  });
});

describe("the name budget", () => {
  it("is shared: alternatives stop after MAX_NAME_ATTEMPTS names in all", () => {
    const names = new NameCandidates("a/b.txt");
    const seen = new Set<string>();
    for (let i = 1; i < MAX_NAME_ATTEMPTS; i++) seen.add(names.next());
    expect(seen.size).toBe(MAX_NAME_ATTEMPTS - 1);
    for (const n of seen) expect(n).toMatch(/^a\/b_[A-Za-z0-9]{7}\.txt$/);
    expect(() => names.next()).toThrow(/after 10 attempts/);
  });

  it("a driver that keeps finding names taken ends in a retryable AlreadyExistsError", async () => {
    const inner = new MemoryDriver();
    let commits = 0;
    const driver: Driver = {
      backend: "crowded",
      capabilities: inner.capabilities,
      read: (k, o) => inner.read(k, o),
      stat: (k, o) => inner.stat(k, o),
      listPage: (p, o) => inner.listPage(p, o),
      delete: (k) => inner.delete(k),
      // Every name is taken by a concurrent writer: the driver retries through nextKey, as fs does.
      write: async (_k, body, o) => {
        body.resume();
        for (;;) {
          commits++;
          o.nextKey!();
        }
      },
    };
    const s = new Storage(driver);
    await expect(s.save("x.txt", "x")).rejects.toMatchObject({ code: "E_ALREADY_EXISTS", retryable: true });
    expect(commits).toBe(MAX_NAME_ATTEMPTS);
  });
});

describe("the visibility rule in code", () => {
  it("a public base URL makes new Storage(…) public unless visibility says otherwise", () => {
    expect(new Storage(new MemoryDriver(), { publicUrl: "https://cdn.test/m/" }).visibility).toBe("public");
    expect(
      new Storage(new MemoryDriver(), { publicUrl: "https://cdn.test/m/", visibility: "private" }).visibility,
    ).toBe("private");
    expect(new Storage(new MemoryDriver()).visibility).toBe("private");
  });
});

describe("flush()", () => {
  /** A memory driver that defers durability the way fs "batch" does, and counts its flushes. */
  class DeferringDriver extends MemoryDriver {
    flushes = 0;
    failNext = false;
    async flush(options: { signal: AbortSignal }): Promise<void> {
      expect(options.signal).toBeInstanceOf(AbortSignal);
      if (this.failNext) {
        this.failNext = false;
        throw Object.assign(new Error("disk gone"), { code: "EIO" });
      }
      this.flushes++;
    }
  }

  it("calls the driver's flush, through prefixed() and mirror(); a driver without one needs none", async () => {
    const { prefixed } = await import("../src/decorators.js");
    const { mirror } = await import("../src/mirror.js");
    const primary = new DeferringDriver();
    const secondary = new DeferringDriver();
    const storage = new Storage(primary);
    await storage.flush();
    await prefixed(storage, "tenant/").flush();
    await mirror(storage, new Storage(secondary)).flush();
    expect(primary.flushes).toBe(3);
    expect(secondary.flushes).toBe(1);
    await new Storage(new MemoryDriver()).flush(); // durable already: nothing to do
  });

  it("a failed flush is a StorageError of operation flush", async () => {
    const driver = new DeferringDriver();
    driver.failNext = true;
    const error = await new Storage(driver, { retry: false }).flush().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as { operation?: string }).operation).toBe("flush");
    expect((error as { code?: string }).code).toBe("E_BACKEND");
  });
});
