/**
 * The serving helper over real HTTP (node:http, Express, Fastify on port 0), serving what
 * collectStatic published to a folder.
 */
import { once } from "node:events";
import { writeFile } from "node:fs/promises";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { brotliDecompressSync, gunzipSync, zstdDecompressSync } from "node:zlib";
import { fsStorage } from "@storages/fs";
import express from "express";
import Fastify from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  collectStatic,
  expressStatic,
  fastifyStatic,
  type StaticManifest,
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

beforeAll(async () => {
  dir = await tempDir();
  out = join(dir.path, "out");
  await writeTree(join(dir.path, "src"), site());
  const target = fsStorage({ root: out });
  manifest = (
    await collectStatic({
      sources: [{ dir: join(dir.path, "src") }],
      target,
      cwd: dir.path,
      manifestOut: false,
    })
  ).manifest;
  await target.close();
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
