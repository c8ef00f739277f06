import { once } from "node:events";
import { writeFile } from "node:fs/promises";
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { Readable } from "node:stream";
import type { Storage } from "@storages/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFsHandler, FsDriver, fsStorage, signUrl } from "../src/index.js";
import { SIGNING_KEY, tempDir, tree } from "./helpers.js";

let server: Server;
let base: string;
let root: string;
let outside: string;
let publicStorage: Storage;
let privateStorage: Storage;
const errors: unknown[] = [];
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  const dir = await tempDir();
  const other = await tempDir("storages-outside-");
  cleanups.push(dir.cleanup, other.cleanup);
  root = dir.path;
  outside = other.path;
  await writeFile(join(outside, "secret.txt"), "top secret");
  server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  publicStorage = fsStorage({
    root: join(root, "public"),
    baseUrl: `${base}/pub/`,
    signing: { key: SIGNING_KEY },
    overwrite: true,
  });
  privateStorage = fsStorage({
    root: join(root, "private"),
    signing: { key: SIGNING_KEY, baseUrl: `${base}/priv/` },
    overwrite: true,
  });
  const onError = (error: unknown) => errors.push(error);
  const pub = createFsHandler(publicStorage, { onError });
  const priv = createFsHandler(privateStorage, { onError });
  server.on("request", (req, res) => {
    // Chain like Connect middleware: each handler passes on requests outside its mount.
    pub(req, res, () =>
      priv(req, res, () => {
        res.statusCode = 418;
        res.end();
      }),
    );
  });
  await publicStorage.save("hello.txt", "Hello, world!");
  await publicStorage.save("dir/a b.txt", "spaces", { cacheControl: "public, max-age=60" });
  await publicStorage.save("empty.txt", "");
  await privateStorage.save("doc.pdf", "private bytes", { cacheControl: "public, max-age=600" });
});

afterAll(async () => {
  server.close();
  for (const cleanup of cleanups) await cleanup();
});

/** Raw request: fetch() would normalise `..` and encoded dots away before sending. */
function raw(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: Buffer | string,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("GET and HEAD", () => {
  it("serves a public file with the headers a bucket sends", async () => {
    const res = await fetch(publicStorage.publicUrl("hello.txt"));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("Hello, world!");
    expect(res.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(res.headers.get("content-length")).toBe("13");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("accept-ranges")).toBe("bytes");
    expect(res.headers.get("etag")).toMatch(/^"[0-9a-f]+"$/);
    expect(new Date(res.headers.get("last-modified")!).getTime()).toBeGreaterThan(0);
  });

  it("serves names with spaces and stored Cache-Control", async () => {
    const res = await fetch(publicStorage.publicUrl("dir/a b.txt"));
    expect(await res.text()).toBe("spaces");
    expect(res.headers.get("cache-control")).toBe("public, max-age=60");
  });

  it("HEAD sends headers only; an empty file is a 200 with length 0", async () => {
    const head = await raw("HEAD", "/pub/hello.txt");
    expect(head.status).toBe(200);
    expect(head.headers["content-length"]).toBe("13");
    expect(head.body).toBe("");
    const empty = await fetch(publicStorage.publicUrl("empty.txt"));
    expect(empty.status).toBe(200);
    expect(await empty.text()).toBe("");
  });

  it("answers ranges with 206 and Content-Range, and 416 past the end", async () => {
    const url = publicStorage.publicUrl("hello.txt");
    const part = await fetch(url, { headers: { range: "bytes=7-11" } });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe("bytes 7-11/13");
    expect(await part.text()).toBe("world");
    const suffix = await fetch(url, { headers: { range: "bytes=-6" } });
    expect(await suffix.text()).toBe("world!");
    const open = await fetch(url, { headers: { range: "bytes=7-" } });
    expect(await open.text()).toBe("world!");
    const past = await fetch(url, { headers: { range: "bytes=13-" } });
    expect(past.status).toBe(416);
    expect(past.headers.get("content-range")).toBe("bytes */13");
    const multi = await fetch(url, { headers: { range: "bytes=0-1,3-4" } });
    expect(multi.status).toBe(200);
    expect(await multi.text()).toBe("Hello, world!");
  });

  it("answers If-None-Match and If-Modified-Since with 304", async () => {
    const url = publicStorage.publicUrl("hello.txt");
    const first = await fetch(url);
    const etag = first.headers.get("etag")!;
    const again = await fetch(url, { headers: { "if-none-match": etag } });
    expect(again.status).toBe(304);
    expect(again.headers.get("etag")).toBe(etag);
    expect(again.headers.get("last-modified")).toBe(first.headers.get("last-modified"));
    // No representation metadata: it would describe a body the 304 has not.
    for (const name of ["content-type", "content-length", "accept-ranges", "x-content-type-options"]) {
      expect(again.headers.get(name), name).toBeNull();
    }
    const weak = await fetch(url, { headers: { "if-none-match": `"other", W/${etag}` } });
    expect(weak.status).toBe(304);
    const since = await fetch(url, { headers: { "if-modified-since": first.headers.get("last-modified")! } });
    expect(since.status).toBe(304);
    const changed = await fetch(url, { headers: { "if-none-match": '"nope"' } });
    expect(changed.status).toBe(200);
  });

  it("ignores a Range whose If-Range names another version", async () => {
    const res = await fetch(publicStorage.publicUrl("hello.txt"), {
      headers: { range: "bytes=0-4", "if-range": '"old"' },
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("Hello, world!");
  });

  it("honours a current If-Range (206), and If-Match / If-Unmodified-Since with 412 (core's one evaluation)", async () => {
    const url = publicStorage.publicUrl("hello.txt");
    const etag = (await fetch(url)).headers.get("etag")!;
    const partial = await fetch(url, { headers: { range: "bytes=0-4", "if-range": etag } });
    expect(partial.status).toBe(206);
    expect(await partial.text()).toBe("Hello");
    expect((await fetch(url, { headers: { "if-match": '"other"' } })).status).toBe(412);
    expect((await fetch(url, { headers: { "if-match": etag } })).status).toBe(200);
    const past = new Date(Date.now() - 86_400_000).toUTCString();
    expect((await fetch(url, { headers: { "if-unmodified-since": past } })).status).toBe(412);
  });

  it("passes on other routes' URLs, even ones it could not decode (an encoded separator is their business)", async () => {
    for (const path of ["/api/confirm%2F", "/private/docs%2Fhello.txt", "/x/%zz"]) {
      expect((await raw("GET", path)).status, path).toBe(418);
    }
    expect((await raw("GET", "/pub/docs%2Fhello.txt")).status).toBe(400);
  });

  it("has no directory listings", async () => {
    for (const path of ["/pub/", "/pub/dir/", "/pub/dir", "/pub"]) {
      const res = await raw("GET", path);
      expect([403, 404, 418], path).toContain(res.status);
      expect(res.body, path).not.toContain("a b.txt");
    }
  });

  it("refuses other methods with 405", async () => {
    const res = await raw("DELETE", "/pub/hello.txt");
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe("GET, HEAD, PUT");
    expect(await publicStorage.exists("hello.txt")).toBe(true);
  });
});

describe("private files", () => {
  it("refuse unsigned access with 403, whether or not the file exists", async () => {
    expect((await raw("GET", "/priv/doc.pdf")).status).toBe(403);
    expect((await raw("GET", "/priv/missing.pdf")).status).toBe(403);
  });

  it("serve a signed URL, with overrides and a Cache-Control no shared cache may keep", async () => {
    const url = await privateStorage.signedUrl("doc.pdf", {
      download: "report.pdf",
      contentType: "application/x-test",
    });
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("private bytes");
    expect(res.headers.get("content-disposition")).toBe('attachment; filename="report.pdf"');
    expect(res.headers.get("content-type")).toBe("application/x-test");
    expect(res.headers.get("cache-control")).toBe("private, no-store");
  });

  it("refuse tampered, expired and malformed signatures with 403 and a body without the signature", async () => {
    const url = await privateStorage.signedUrl("doc.pdf");
    const sig = new URL(url).searchParams.get("sig")!;
    const tampered = await fetch(url.replace("doc.pdf", "doc.pdfx"));
    expect(tampered.status).toBe(403);
    const tamperedText = await tampered.text();
    expect(tamperedText).toMatch(/does not match/);
    expect(tamperedText).not.toContain(sig);
    const expired = signUrl(`${base}/priv/doc.pdf`, SIGNING_KEY, {
      method: "GET",
      expires: Math.floor(Date.now() / 1000) - 1,
    });
    const expiredRes = await fetch(expired);
    expect(expiredRes.status).toBe(403);
    expect(await expiredRes.text()).toMatch(/expired/);
    const malformed = await fetch(`${base}/priv/doc.pdf?sig=zz`);
    expect(malformed.status).toBe(403);
    expect(await malformed.text()).toMatch(/malformed/);
  });

  it("a URL signed with another key is refused", async () => {
    const other = signUrl(`${base}/priv/doc.pdf`, "another-key-another-key-another-key!", {
      method: "GET",
      expires: Math.floor(Date.now() / 1000) + 60,
    });
    expect((await fetch(other)).status).toBe(403);
  });

  it("a signed URL of a missing file is a 404", async () => {
    expect((await fetch(await privateStorage.signedUrl("missing.pdf"))).status).toBe(404);
  });
});

describe("signed uploads (PUT)", () => {
  it("stores the body atomically, with the bound content type", async () => {
    const up = await privateStorage.signedUpload("uploads/pic.png", {
      contentType: "image/png",
      maxBytes: 1000,
    });
    expect(up.method).toBe("PUT");
    const res = await fetch(up.url, { method: "PUT", headers: up.headers, body: Buffer.alloc(500, 1) });
    expect(res.status).toBe(200);
    expect(res.headers.get("etag")).toMatch(/^"/);
    expect((await privateStorage.stat(up.name)).size).toBe(500);
    expect((await privateStorage.stat(up.name)).contentType).toBe("image/png");
  });

  it("refuses a body over maxBytes with 413 and keeps nothing, declared or streamed", async () => {
    const up = await privateStorage.signedUpload("uploads/big.bin", { maxBytes: 100 });
    const declared = await fetch(up.url, { method: "PUT", headers: up.headers, body: Buffer.alloc(101) });
    expect(declared.status).toBe(413);
    // Chunked: no Content-Length, so the limit is enforced while streaming.
    async function* chunks() {
      for (let i = 0; i < 10; i++) yield new Uint8Array(64);
    }
    const streamed = await fetch(up.url, {
      method: "PUT",
      headers: up.headers,
      body: Readable.toWeb(Readable.from(chunks())),
      duplex: "half",
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expect(await privateStorage.exists(up.name)).toBe(false);
    const leftovers = (await tree(join(root, "private"))).filter(
      (n) => n.includes("big") || n.endsWith(".tmp"),
    );
    expect(leftovers).toEqual([]);
  });

  it("refuses a wrong content type, a GET-signed URL and an unsigned PUT", async () => {
    const up = await privateStorage.signedUpload("uploads/t.png", { contentType: "image/png" });
    const wrongType = await fetch(up.url, {
      method: "PUT",
      headers: { "content-type": "text/html" },
      body: "<script>",
    });
    expect(wrongType.status).toBe(403);
    const getUrl = await privateStorage.signedUrl("uploads/t.png");
    expect((await fetch(getUrl, { method: "PUT", body: "x" })).status).toBe(403);
    expect((await raw("PUT", "/pub/new.txt", {}, "x")).status).toBe(403);
    const asGet = await fetch(up.url);
    expect(asGet.status).toBe(403);
    expect(await privateStorage.exists(up.name)).toBe(false);
  });
});

describe("hostile paths", () => {
  const attempts = [
    "/pub/../private/doc.pdf",
    "/pub/%2e%2e/private/doc.pdf",
    "/pub/%2E%2E%2Fprivate%2Fdoc.pdf",
    "/pub/dir%2fa%20b.txt",
    "/pub/..%5c..%5csecret.txt",
    "/pub/%00hello.txt",
    "/pub/%E0%A4%A",
    "/pub/.~storages-x.tmp",
    "/pub//hello.txt",
    "/pub/./hello.txt",
  ];

  it("never serve a file outside the root, and never crash", async () => {
    for (const path of attempts) {
      const res = await raw("GET", path);
      expect([400, 403, 404], path).toContain(res.status);
      expect(res.body, path).not.toContain("private bytes");
      expect(res.body, path).not.toContain("top secret");
    }
    expect((await fetch(publicStorage.publicUrl("hello.txt"))).status).toBe(200);
  });

  it("never serve a symlink out of the root", async () => {
    const { symlink } = await import("node:fs/promises");
    await symlink(join(outside, "secret.txt"), join(root, "public", "link.txt"));
    const res = await raw("GET", "/pub/link.txt");
    expect(res.status).toBe(400);
    expect(res.body).not.toContain("top secret");
  });

  it("reports nothing unexpected to onError", () => {
    expect(errors).toEqual([]);
  });
});

describe("construction", () => {
  it("mounts at the storage's publicUrl when the driver has no baseUrl (storages built from config)", async () => {
    const other = createServer();
    other.listen(0, "127.0.0.1");
    await once(other, "listening");
    const origin = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    const storage = fsStorage({
      root: join(root, "cfg"),
      publicUrl: `${origin}/files/`,
      visibility: "public",
    });
    other.on("request", createFsHandler(storage));
    try {
      await storage.save("a.txt", "from config");
      const res = await fetch(await storage.url("a.txt"));
      expect(res.status).toBe(200);
      expect(await res.text()).toBe("from config");
    } finally {
      other.close();
    }
  });

  it("accepts a driver and refuses other backends", async () => {
    const driver = new FsDriver({ root: join(root, "d"), baseUrl: "/d/" });
    expect(typeof createFsHandler(driver)).toBe("function");
    const { MemoryDriver, Storage } = await import("@storages/core");
    expect(() => createFsHandler(new Storage(new MemoryDriver()))).toThrow(/fs storages only/);
  });
});

describe("active content (HTML, SVG, XML) is never served inline", () => {
  const svg = '<svg xmlns="http://www.w3.org/2000/svg"><script>parent.pwned=1</script></svg>';
  const cases: Array<[name: string, body: string, type?: string]> = [
    ["active/page.html", "<!doctype html><script>alert(1)</script>"],
    ["active/image.svg", svg],
    ["active/doc.xhtml", '<html xmlns="http://www.w3.org/1999/xhtml"><script>1</script></html>'],
    ["active/feed.xml", "<?xml version='1.0'?><x/>"],
    // The stored type decides, not the extension: an HTML body saved as text/html under .txt.
    ["active/renamed.txt", "<script>alert(1)</script>", "text/html; charset=utf-8"],
  ];

  it("a public fs storage serves HTML, XHTML, SVG and XML as sandboxed attachments", async () => {
    for (const [name, body, contentType] of cases) {
      await publicStorage.save(name, body, contentType ? { contentType } : {});
      const res = await fetch(publicStorage.publicUrl(name));
      expect(res.status, name).toBe(200);
      expect(res.headers.get("content-disposition"), name).toMatch(/^attachment; filename="/);
      expect(res.headers.get("content-security-policy"), name).toMatch(/^sandbox\b/);
      expect(res.headers.get("x-content-type-options"), name).toBe("nosniff");
      expect(await res.text()).toBe(body);
    }
  });

  it("a signed URL of a private SVG is an attachment in a sandbox too, keeping an asked download name", async () => {
    await privateStorage.save("active/logo.svg", svg);
    const plain = await fetch(await privateStorage.signedUrl("active/logo.svg"));
    expect(plain.headers.get("content-disposition")).toBe('attachment; filename="logo.svg"');
    expect(plain.headers.get("content-security-policy")).toMatch(/^sandbox\b/);
    const named = await fetch(await privateStorage.signedUrl("active/logo.svg", { download: "brand.svg" }));
    expect(named.headers.get("content-disposition")).toBe('attachment; filename="brand.svg"');
    expect(named.headers.get("content-security-policy")).toMatch(/^sandbox\b/);
    // A signed URL may not turn a harmless file into an inline page either.
    await privateStorage.save("active/plain.txt", "<script>alert(1)</script>");
    const retyped = await fetch(
      await privateStorage.signedUrl("active/plain.txt", { contentType: "text/html" }),
    );
    expect(retyped.headers.get("content-type")).toBe("text/html");
    expect(retyped.headers.get("content-security-policy")).toMatch(/^sandbox\b/);
  });

  it("images and text stay inline, without a sandbox", async () => {
    await publicStorage.save("active/photo.png", new Uint8Array([0x89, 0x50, 0x4e, 0x47]));
    for (const name of ["active/photo.png", "hello.txt"]) {
      const res = await fetch(publicStorage.publicUrl(name));
      expect(res.headers.get("content-disposition"), name).toBeNull();
      expect(res.headers.get("content-security-policy"), name).toBeNull();
    }
  });

  it("inlineActiveContent (driver option or handler option) serves them inline as stored", async () => {
    const dir = await tempDir();
    cleanups.push(dir.cleanup);
    const trusted = fsStorage({ root: dir.path, baseUrl: "/trusted/", inlineActiveContent: true });
    await trusted.save("page.html", "<!doctype html><p>built by the app");
    const byOption = createFsHandler(fsStorage({ root: dir.path, baseUrl: "/trusted/" }), {
      inlineActiveContent: true,
    });
    for (const handler of [createFsHandler(trusted), byOption]) {
      const local = createServer((req, res) => handler(req, res));
      local.listen(0, "127.0.0.1");
      await once(local, "listening");
      try {
        const res = await fetch(
          `http://127.0.0.1:${(local.address() as AddressInfo).port}/trusted/page.html`,
        );
        expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
        expect(res.headers.get("content-disposition")).toBeNull();
        expect(res.headers.get("content-security-policy")).toBeNull();
      } finally {
        local.close();
      }
    }
  });
});
