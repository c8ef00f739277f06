/**
 * The serving helper over real HTTP (node:http, Express, Fastify on port 0), serving what
 * collectStatic published to a folder.
 */
import { once } from "node:events";
import { readdirSync } from "node:fs";
import { readFile, rm, symlink, writeFile } from "node:fs/promises";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { brotliDecompressSync, gunzipSync, zstdDecompressSync } from "node:zlib";
import { fsStorage } from "@storages/fs";
import express from "express";
import Fastify from "fastify";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  collectStatic,
  expressStatic,
  fastifyStatic,
  type StaticManifest,
  serveStatic,
  staticRequestListener,
} from "../src/index.js";
import { site, tempDir, writeTree } from "./helpers.js";

let dir: { path: string; cleanup: () => Promise<void> };
let out: string;
let manifest: StaticManifest;
const servers: Server[] = [];

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A raw request (no client-side path normalisation, so traversal attempts reach the server as typed). */
function get(
  base: string,
  path: string,
  headers: Record<string, string> = {},
  method = "GET",
): Promise<Reply> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      // A reply cut before its Content-Length was sent.
      res.on("error", reject);
      res.on("data", (c) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

async function listen(server: Server): Promise<string> {
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

let plain: string;

/** The test site (written under dir/src) collected into a folder of its own. */
async function publish(root: string): Promise<StaticManifest> {
  const target = fsStorage({ root });
  try {
    const run = await collectStatic({
      sources: [{ dir: join(dir.path, "src") }],
      target,
      cwd: dir.path,
      manifestOut: false,
    });
    return run.manifest;
  } finally {
    await target.close();
  }
}

beforeAll(async () => {
  dir = await tempDir();
  out = join(dir.path, "out");
  await writeTree(join(dir.path, "src"), site());
  manifest = await publish(out);
  await writeFile(join(out, "secret.txt"), "not in the manifest");
  plain = await listen(createServer(staticRequestListener(out, { manifest, prefix: "/static/" })));
});

afterAll(async () => {
  for (const s of servers) s.close();
  await dir.cleanup();
});

const js = () => manifest.files["js/app.js"]!;

describe("serveStatic on node:http", () => {
  it("serves a hashed name with immutable caching and a strong ETag from the manifest", async () => {
    const r = await get(plain, `/static/${js().name}`);
    expect(r.status).toBe(200);
    expect(r.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expect(r.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(r.headers.etag).toBe(`"${js().sha256.slice(0, 32)}"`);
    expect(r.headers.vary).toBe("Accept-Encoding");
    expect(r.body.length).toBe(js().size);
  });

  it("serves the original name with a short cache", async () => {
    const r = await get(plain, "/static/js/app.js");
    expect(r.status).toBe(200);
    expect(r.headers["cache-control"]).toBe("public, max-age=60");
  });

  it.each([
    ["br, gzip, zstd", "br"],
    ["gzip, zstd", "zstd"],
    ["gzip", "gzip"],
    ["br;q=0, gzip", "gzip"],
    ["*", "br"],
    ["identity", undefined],
  ])("negotiates Accept-Encoding %j → %s from the siblings", async (accept, expected) => {
    const r = await get(plain, `/static/${js().name}`, { "accept-encoding": accept });
    expect(r.status).toBe(200);
    expect(r.headers["content-encoding"]).toBe(expected);
    expect(r.headers.vary).toBe("Accept-Encoding");
    const body =
      expected === "br"
        ? brotliDecompressSync(r.body)
        : expected === "gzip"
          ? gunzipSync(r.body)
          : expected === "zstd"
            ? zstdDecompressSync(r.body)
            : r.body;
    expect(body.length).toBe(js().size);
    if (expected) expect(r.body.length).toBe(js().encodings[expected as "br"]);
  });

  it("304 on a matching If-None-Match, per encoding", async () => {
    const first = await get(plain, `/static/${js().name}`, { "accept-encoding": "br" });
    const again = await get(plain, `/static/${js().name}`, {
      "accept-encoding": "br",
      "if-none-match": first.headers.etag as string,
    });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    // What a 200 would carry for caches (RFC 9110 §15.4.5), nothing that describes a body.
    expect(again.headers.etag).toBe(first.headers.etag);
    expect(again.headers["cache-control"]).toBe(first.headers["cache-control"]);
    expect(again.headers.vary).toBe("Accept-Encoding");
    expect(again.headers["content-type"]).toBeUndefined();
    expect(again.headers["content-encoding"]).toBeUndefined();
    const other = await get(plain, `/static/${js().name}`, {
      "accept-encoding": "gzip",
      "if-none-match": first.headers.etag as string,
    });
    expect(other.status).toBe(200);
  });

  it("byte ranges: 206, suffix ranges, 416, and If-Range", async () => {
    const full = await get(plain, `/static/${js().name}`);
    const r = await get(plain, `/static/${js().name}`, { range: "bytes=10-19", "accept-encoding": "br" });
    expect(r.status).toBe(206);
    expect(r.headers["content-encoding"]).toBeUndefined();
    expect(r.headers["content-range"]).toBe(`bytes 10-19/${js().size}`);
    expect(r.body.equals(full.body.subarray(10, 20))).toBe(true);
    const tail = await get(plain, `/static/${js().name}`, { range: "bytes=-5" });
    expect(tail.body.equals(full.body.subarray(-5))).toBe(true);
    const bad = await get(plain, `/static/${js().name}`, { range: `bytes=${js().size}-` });
    expect(bad.status).toBe(416);
    expect(bad.headers["content-range"]).toBe(`bytes */${js().size}`);
    const stale = await get(plain, `/static/${js().name}`, { range: "bytes=0-0", "if-range": '"other"' });
    expect(stale.status).toBe(200);
  });

  it("HEAD: headers, no body", async () => {
    const r = await get(plain, `/static/${js().name}`, {}, "HEAD");
    expect(r.status).toBe(200);
    expect(Number(r.headers["content-length"])).toBe(js().size);
    expect(r.body.length).toBe(0);
  });

  it.each([
    "/static/",
    "/static/js/",
    "/static/js",
    "/static/../out/secret.txt",
    "/static/%2e%2e/secret.txt",
    "/static/js%2f..%2f..%2fsecret.txt",
    "/static/js/..%5c..%5csecret.txt",
    "/static/js/app.js%00.png",
    "/static/.storages/releases/x.json",
    "/static/staticfiles.json",
    "/static/secret.txt",
    "/static/nope.css",
    "/other/js/app.js",
  ])("refuses %s (no listing, no traversal, nothing unlisted)", async (path) => {
    const r = await get(plain, path);
    expect(r.status).toBe(404);
    expect(r.body.toString()).not.toContain("not in the manifest");
  });

  it("405 for other methods", async () => {
    const r = await get(plain, `/static/${js().name}`, {}, "POST");
    expect(r.status).toBe(405);
  });

  it("without a manifest: serves by stat, siblings found on disk, weak ETag", async () => {
    const base = await listen(createServer(staticRequestListener(out)));
    const r = await get(base, `/${js().name}`, { "accept-encoding": "br" });
    expect(r.status).toBe(200);
    expect(r.headers["content-encoding"]).toBe("br");
    expect(String(r.headers.etag)).toMatch(/^W\//);
    expect((await get(base, "/.storages/releases/x.json")).status).toBe(404);
    // The manifest (it names the build's folders), encoded separators, and links out of the root.
    expect((await get(base, "/staticfiles.json")).status).toBe(404);
    expect((await get(base, `/${js().name.replace("/", "%2F")}`)).status).toBe(404);
    await writeFile(join(dir.path, "outside.txt"), "outside the root");
    await symlink(join(dir.path, "outside.txt"), join(out, "js", "link.txt"));
    const link = await get(base, "/js/link.txt");
    expect(link.status).toBe(404);
    expect(link.body.toString()).not.toContain("outside the root");
  });

  it("serves from a Storage too", async () => {
    const storage = fsStorage({ root: out });
    const base = await listen(createServer(staticRequestListener(storage, { manifest, prefix: "/static" })));
    const r = await get(base, `/static/${js().name}`, { "accept-encoding": "gzip" });
    expect(r.status).toBe(200);
    expect(gunzipSync(r.body).length).toBe(js().size);
    const part = await get(base, `/static/${js().name}`, { range: "bytes=0-3" });
    expect(part.status).toBe(206);
    expect(part.body.length).toBe(4);
  });
});

describe("reading: small hashed files from memory, the rest from the root", () => {
  let root: string;
  let files: StaticManifest;
  const hashedJs = () => files.files["js/app.js"]!;
  /** The published file rewritten in place with other bytes of the same length (never done by collectstatic). */
  const tamper = async (name: string) => {
    const path = join(root, name);
    const bytes = await readFile(path);
    await writeFile(path, Buffer.alloc(bytes.length, "#"));
  };

  beforeEach(async () => {
    root = join(dir.path, `cache-${Math.random().toString(36).slice(2)}`);
    files = await publish(root);
  });

  it("answers a hashed name from memory after its first request, ranges and siblings too", async () => {
    const base = await listen(createServer(staticRequestListener(root, { manifest: files })));
    const path = `/${hashedJs().name}`;
    const first = await get(base, path);
    const firstBr = await get(base, path, { "accept-encoding": "br" });
    await tamper(hashedJs().name);
    await tamper(`${hashedJs().name}.br`);
    const again = await get(base, path);
    expect(again.status).toBe(200);
    expect(again.body.equals(first.body)).toBe(true);
    expect(again.headers["content-length"]).toBe(String(hashedJs().size));
    const part = await get(base, path, { range: "bytes=5-9" });
    expect(part.status).toBe(206);
    expect(part.body.equals(first.body.subarray(5, 10))).toBe(true);
    const br = await get(base, path, { "accept-encoding": "br" });
    expect(br.body.equals(firstBr.body)).toBe(true);
    expect(brotliDecompressSync(br.body).equals(first.body)).toBe(true);
    // The original name is not content-hashed (a deploy changes what it holds): read each time.
    await get(base, "/js/app.js");
    await tamper("js/app.js");
    const original = await get(base, "/js/app.js");
    expect(original.body.equals(Buffer.alloc(hashedJs().size, "#"))).toBe(true);
  });

  it("reads every request from the root with memoryCache: false", async () => {
    const base = await listen(
      createServer(staticRequestListener(root, { manifest: files, memoryCache: false })),
    );
    const path = `/${hashedJs().name}`;
    await get(base, path);
    await tamper(hashedJs().name);
    const again = await get(base, path);
    expect(again.body.equals(Buffer.alloc(hashedJs().size, "#"))).toBe(true);
  });

  it("keeps at most maxBytes, dropping the least recently used; larger files are never kept", async () => {
    const [large, middle, small] = Object.values(files.files)
      .filter((entry) => entry.hashed)
      .sort((a, b) => b.size - a.size);
    expect(large!.size).toBeGreaterThan(middle!.size);
    const base = await listen(
      createServer(
        staticRequestListener(root, {
          manifest: files,
          // Room for the middle file or the small one, not both; none for the large one.
          memoryCache: { maxBytes: middle!.size + small!.size - 1, maxFileSize: middle!.size },
        }),
      ),
    );
    for (const entry of [middle!, small!, large!]) await get(base, `/${entry.name}`);
    for (const entry of [middle!, small!, large!]) await tamper(entry.name);
    const body = async (name: string) => (await get(base, `/${name}`)).body;
    // The middle file was dropped for the small one, and the large one was never kept.
    expect((await body(small!.name)).equals(Buffer.alloc(small!.size, "#"))).toBe(false);
    expect((await body(middle!.name)).equals(Buffer.alloc(middle!.size, "#"))).toBe(true);
    expect((await body(large!.name)).equals(Buffer.alloc(large!.size, "#"))).toBe(true);
  });

  it("keeps nothing whose length is not the manifest's, and answers 404 for a lost file", async () => {
    const base = await listen(createServer(staticRequestListener(root, { manifest: files })));
    const path = `/${hashedJs().name}`;
    const css = files.files["css/app.css"]!;
    await writeFile(join(root, css.name), "shorter");
    // The manifest's length was promised and the file is shorter: the reply is cut, never left
    // waiting for bytes that will not come.
    await expect(get(base, `/${css.name}`)).rejects.toThrow();
    // Longer: never more than the promised bytes (the rest would run into the next reply); the
    // connection is cut, which may come before the client has read them all.
    await writeFile(join(root, css.name), `${"x".repeat(css.size)}and more`);
    const long = await get(base, `/${css.name}`).catch(() => undefined);
    if (long) expect(long.body.toString()).toBe("x".repeat(css.size));
    // Much larger: still cut, and read only one byte past the promised size (readSmall).
    await writeFile(join(root, css.name), Buffer.alloc(8 * 1024 * 1024, "y"));
    const huge = await get(base, `/${css.name}`).catch(() => undefined);
    if (huge) expect(huge.body.toString()).toBe("y".repeat(css.size));
    await writeFile(join(root, css.name), "x".repeat(css.size));
    expect((await get(base, `/${css.name}`)).body.toString()).toBe("x".repeat(css.size));
    await rm(join(root, hashedJs().name));
    expect((await get(base, path)).status).toBe(404);
    const off = await listen(
      createServer(staticRequestListener(root, { manifest: files, memoryCache: false })),
    );
    const lost = await get(off, path);
    expect(lost.status).toBe(404);
    // None of the lost file's headers: its length, and its year-long Cache-Control on a 404.
    expect(lost.headers["content-length"]).toBe("0");
    expect(lost.headers["cache-control"]).toBeUndefined();
    expect(lost.headers.etag).toBeUndefined();
  });

  it("a client that goes away mid-file closes the file, and the server goes on", async () => {
    await writeFile(join(root, "big.bin"), Buffer.alloc(8 * 1024 * 1024, 7));
    const base = await listen(createServer(staticRequestListener(root)));
    const openFiles = () => readdirSync("/proc/self/fd").length;
    const before = openFiles();
    const url = new URL(`${base}/big.bin`);
    await new Promise<void>((resolve) => {
      const req = request({ host: url.hostname, port: url.port, path: url.pathname }, (res) => {
        res.once("data", () => {
          req.destroy();
          resolve();
        });
      });
      req.on("error", () => {});
      req.end();
    });
    await expect.poll(openFiles, { timeout: 2000 }).toBeLessThanOrEqual(before);
    const next = await get(base, `/${hashedJs().name}`);
    expect(next.status).toBe(200);
  });

  it.each([{ maxBytes: -1 }, { maxFileSize: Number.NaN }, { maxBytes: 1.5 }])(
    "refuses memoryCache %j with a typed error",
    (memoryCache) => {
      expect(() => serveStatic(root, { manifest: files, memoryCache })).toThrow(
        expect.objectContaining({ code: "E_INVALID_ARGUMENT" }),
      );
    },
  );

  it("reads a file once for concurrent first requests", async () => {
    const storage = fsStorage({ root });
    let reads = 0;
    const ranges: unknown[] = [];
    const readBytes = storage.readBytes.bind(storage);
    storage.readBytes = (name, options) => {
      reads += 1;
      ranges.push(options?.range);
      return readBytes(name, options);
    };
    const base = await listen(createServer(staticRequestListener(storage, { manifest: files })));
    const replies = await Promise.all(Array.from({ length: 8 }, () => get(base, `/${hashedJs().name}`)));
    expect(replies.every((r) => r.status === 200 && r.body.length === hashedJs().size)).toBe(true);
    expect(reads).toBe(1);
    // One byte past the manifest's size, never the whole object: a grown file shows without being read.
    expect(ranges).toEqual([{ start: 0, end: hashedJs().size }]);
    await storage.close();
  });
});

describe("adapters", () => {
  it("Express middleware: serves under a mount path, next() for the rest", async () => {
    const app = express();
    app.use("/static", expressStatic(out, { manifest }));
    app.use((_req, res) => res.status(418).end("fell through"));
    const base = await listen(createServer(app));
    const r = await get(base, `/static/${js().name}`, { "accept-encoding": "br" });
    expect(r.status).toBe(200);
    expect(r.headers["content-encoding"]).toBe("br");
    expect((await get(base, "/static/nope.css")).status).toBe(418);
  });

  it("Fastify plugin", async () => {
    const app = Fastify();
    await app.register(fastifyStatic, { root: out, prefix: "/static/", manifest });
    await app.listen({ port: 0, host: "127.0.0.1" });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    try {
      const r = await get(base, `/static/${js().name}`, { "accept-encoding": "zstd" });
      expect(r.status).toBe(200);
      expect(r.headers["content-encoding"]).toBe("zstd");
      expect(r.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
      expect((await get(base, "/static/nope.css")).status).toBe(404);
      expect((await get(base, `/static/${js().name}`, {}, "HEAD")).status).toBe(200);
    } finally {
      await app.close();
    }
  });
});
