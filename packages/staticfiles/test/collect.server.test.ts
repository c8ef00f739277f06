/**
 * collectStatic against a real S3 server (Ceph RGW in CI: `npm test` starts it; or whatever
 * STORAGES_TEST_S3_* points at), through a real HTTP proxy that counts every request the S3 client
 * sends. A no-change run must send exactly one: the GET of staticfiles.json; serveStatic from the
 * bucket fetches a hashed file once, then answers it from memory. Without a server these
 * tests fail with the command to run; none is skipped.
 */
import { execFile } from "node:child_process";
import { once } from "node:events";
import { readFile, writeFile } from "node:fs/promises";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Storage } from "@storages/core";
import { s3Storage } from "@storages/s3";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  connectionOf,
  findTestServer,
  requireTestServer,
  type S3TestServer,
  type TestBucket,
  testBucket,
} from "../../s3/test/support/server.js";
import {
  collectStatic,
  LOCK_NAME,
  MANIFEST_NAME,
  PublishLockedError,
  readManifest,
  staticRequestListener,
} from "../src/index.js";
import { collectOptions, site, tempDir, writeTree } from "./helpers.js";

let server: S3TestServer;
let testbucket: TestBucket | undefined;
let bucket: string;
let proxy: Server;
let proxyUrl: string;
/** `METHOD /bucket/key` of every request the proxy forwarded. */
let seen: string[];
let dir: { path: string; cleanup: () => Promise<void> };
let src: string;
let target: Storage;
let prefix: string;

/** A forwarding proxy: requests go to the server unchanged (signatures included), each one recorded. */
async function startProxy(upstream: string): Promise<void> {
  const to = new URL(upstream);
  proxy = createServer((req, res) => {
    // The SDK's own `?x-id=GetObject` markers are left out: the path says which object.
    seen.push(`${req.method} ${decodeURIComponent((req.url ?? "").split("?")[0]!)}`);
    const forwarded = request(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        upstreamRes.pipe(res);
      },
    );
    forwarded.on("error", () => res.destroy());
    req.pipe(forwarded);
  });
  proxy.listen(0, "127.0.0.1");
  await once(proxy, "listening");
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  server = requireTestServer();
  testbucket = testBucket(server, "static");
  bucket = testbucket.name;
  await testbucket.ready();
  seen = [];
  await startProxy(server.endpoint);
});

afterAll(async () => {
  proxy?.close();
  await testbucket?.remove();
});

beforeEach(async () => {
  dir = await tempDir();
  src = join(dir.path, "src");
  await writeTree(src, site());
  prefix = `static-${Math.random().toString(36).slice(2, 10)}`;
  target = s3Storage({
    bucket,
    prefix,
    ...connectionOf(server),
    endpoint: proxyUrl,
  });
  seen = [];
  return async () => {
    await target.deletePrefix("", { all: true });
    await target.close();
    await dir.cleanup();
  };
});

const run = (extra = {}) => collectStatic(collectOptions(src, target, dir.path, extra));

describe(`collectstatic on ${findTestServer()?.label ?? "S3 (no server configured)"}`, () => {
  it("publishes, then a no-change run sends one request: the GET of the manifest", async () => {
    const fresh = await run();
    expect(fresh.copied).toBe(10);
    const puts = seen.filter((r) => r.startsWith("PUT "));
    // 10 hashed files + 10 originals + 3 siblings × 3 contents × 2 names + 2 manifests + the lock.
    expect(puts.length).toBe(10 + 10 + 18 + 2 + 1);
    expect(puts).toContain(`PUT /${bucket}/${prefix}/${LOCK_NAME}`);
    expect(seen).toContain(`DELETE /${bucket}/${prefix}/${LOCK_NAME}`);
    const stored = await readManifest(target);
    expect(stored.release).toBe(fresh.release);
    // What was published is what the manifest says (read back through the server).
    const css = await target.readText(fresh.manifest.files["css/base.css"]!.name);
    expect(css).toContain(fresh.manifest.files["img/logo.png"]!.name.split("/").pop());
    const stat = await target.stat(fresh.manifest.files["js/app.js"]!.name);
    expect(stat.cacheControl).toBe("public, max-age=31536000, immutable");
    const br = await target.stat(`${fresh.manifest.files["js/app.js"]!.name}.br`);
    expect(br.contentEncoding).toBe("br");

    seen = [];
    const again = await run();
    expect(again.nothingChanged).toBe(true);
    expect(again.written).toBe(0);
    expect(seen).toEqual([`GET /${bucket}/${prefix}/${MANIFEST_NAME}`]);
  });

  it("after one change, uploads only that file and the files that reference it", async () => {
    const first = await run();
    await writeFile(join(src, "img/logo.png"), "png-logo-v2");
    seen = [];
    const second = await run();
    expect(second.copied).toBe(3); // logo.png, base.css (names it), app.css (imports base.css)
    const puts = seen.filter((r) => r.startsWith("PUT "));
    const changed = ["img/logo.png", "css/base.css", "css/app.css"];
    const expected = new Set<string>([
      `PUT /${bucket}/${prefix}/${LOCK_NAME}`,
      `PUT /${bucket}/${prefix}/.storages/releases/${second.release}.json`,
      `PUT /${bucket}/${prefix}/${MANIFEST_NAME}`,
    ]);
    for (const name of changed) {
      const entry = second.manifest.files[name]!;
      for (const published of [entry.name, name]) {
        expected.add(`PUT /${bucket}/${prefix}/${published}`);
        for (const suffix of Object.keys(entry.encodings).map(
          (e) => ({ br: ".br", gzip: ".gz", zstd: ".zst" })[e],
        ))
          expected.add(`PUT /${bucket}/${prefix}/${published}${suffix}`);
      }
    }
    expect(new Set(puts)).toEqual(expected);
    expect(puts.length).toBe(expected.size);
    // The first release's files are all still there (rollback).
    for (const entry of Object.values(first.manifest.files))
      expect(await target.exists(entry.name)).toBe(true);
  });

  it("two runs at once (two clients): one publishes, the other waits for its lock, then finds nothing changed", async () => {
    const other = s3Storage({ bucket, prefix, ...connectionOf(server) });
    try {
      const waits: unknown[] = [];
      const onLockWait = (holder: unknown) => waits.push(holder);
      const results = await Promise.all([
        run({ onLockWait, lockLeaseMs: 2000 }),
        collectStatic(
          collectOptions(src, other, dir.path, { onLockWait, lockLeaseMs: 2000, manifestOut: false }),
        ),
      ]);
      expect(results.map((r) => r.nothingChanged).sort()).toEqual([false, true]);
      expect(waits).toHaveLength(1);
      // The loser's exclusive create (If-None-Match: *) was refused by the server: no copy under another name.
      const left: string[] = [];
      for await (const entry of target.list(".storages/", { recursive: false })) left.push(entry.name);
      expect(left.filter((n) => !n.startsWith(".storages/releases"))).toEqual([]);

      // Held by the other client, with no wait: refused, nothing written.
      await other.save(
        LOCK_NAME,
        JSON.stringify({ owner: "x", host: "h", pid: 1, startedAt: "t", renewedAt: "t" }),
      );
      await writeFile(join(src, "img/logo.png"), "png-logo-v2");
      seen = [];
      const error = await run({ lockWaitMs: 0 }).catch((e) => e);
      expect(PublishLockedError.isInstance(error)).toBe(true);
      expect(seen.filter((r) => r.startsWith("PUT ") && !r.includes("/.storages/lock"))).toEqual([]);
      const broken = await run({ lockWaitMs: 0, breakLock: true });
      expect(broken.copied).toBe(3);
      expect(await target.exists(LOCK_NAME)).toBe(false);
    } finally {
      await other.close();
    }
  });

  it("the storages collectstatic command publishes to a named storage on the server", async () => {
    const bin = join(import.meta.dirname, "..", "..", "..", "node_modules", ".bin", "storages");
    const query = new URLSearchParams({ endpoint: proxyUrl, region: server.region, profile: server.profile });
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TMPDIR: process.env.TMPDIR,
      STORAGES_TEST_RUN: process.env.STORAGES_TEST_RUN,
      STORAGES_STATICFILES: `s3://${bucket}/${prefix}?${query}&visibility=public`,
      STORAGES_STATICFILES_ACCESS_KEY_ID: server.accessKeyId,
      STORAGES_STATICFILES_SECRET_ACCESS_KEY: server.secretAccessKey,
    };
    const cli = (args: string[]) =>
      promisify(execFile)(bin, ["collectstatic", "--source", src, "--json", ...args], { cwd: dir.path, env });
    const first = JSON.parse((await cli([])).stdout);
    expect(first).toMatchObject({ found: 10, copied: 10, nothingChanged: false });
    const manifest = JSON.parse(await readFile(join(dir.path, "staticfiles.json"), "utf8"));
    expect(manifest.release).toBe(first.release);
    seen = [];
    const second = JSON.parse((await cli([])).stdout);
    expect(second).toMatchObject({ nothingChanged: true, written: 0 });
    expect(seen).toEqual([`GET /${bucket}/${prefix}/${MANIFEST_NAME}`]);
  });

  it("serveStatic from the bucket: a hashed file and its sibling are fetched once, then answered from memory", async () => {
    const { manifest } = await run();
    const app = createServer(staticRequestListener(target, { manifest }));
    app.listen(0, "127.0.0.1");
    await once(app, "listening");
    const base = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
    try {
      const js = manifest.files["js/app.js"]!;
      const expected = await target.readBytes(js.name);
      seen = [];
      for (let i = 0; i < 3; i++) {
        const plain = await fetch(`${base}/${js.name}`, { headers: { "accept-encoding": "identity" } });
        expect(plain.status).toBe(200);
        expect(Buffer.from(await plain.arrayBuffer()).equals(expected)).toBe(true);
        const part = await fetch(`${base}/${js.name}`, { headers: { range: "bytes=2-5" } });
        expect(part.status).toBe(206);
        expect(Buffer.from(await part.arrayBuffer()).equals(expected.subarray(2, 6))).toBe(true);
        // fetch decodes br itself: what it hands back is the identity bytes.
        const br = await fetch(`${base}/${js.name}`, { headers: { "accept-encoding": "br" } });
        expect(br.headers.get("content-encoding")).toBe("br");
        expect(Buffer.from(await br.arrayBuffer()).equals(expected)).toBe(true);
      }
      expect(seen.sort()).toEqual([
        `GET /${bucket}/${prefix}/${js.name}`,
        `GET /${bucket}/${prefix}/${js.name}.br`,
      ]);
      // An original name is not content-hashed: every request goes to the bucket.
      seen = [];
      for (let i = 0; i < 2; i++) expect((await fetch(`${base}/js/app.js`)).status).toBe(200);
      expect(seen.filter((r) => r.startsWith("GET ")).length).toBe(2);
    } finally {
      app.close();
    }
  });
});
