/**
 * serveMedia (streamed) honours conditional requests, in RFC 9110 §13.2.2's order: If-Match,
 * If-Unmodified-Since, If-None-Match, If-Modified-Since, then If-Range for a Range.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Storage } from "@storages/core";
import { fsStorage } from "@storages/fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveMedia } from "../src/index.js";
import { listen, png } from "./support/uploads.js";

const SIZE = 1000;
let root: string;
let media: Storage;
let origin: string;
let close: () => void;
/** The validators of the file as first served. */
let etag: string;
let lastModified: string;
let content: Buffer;

/** media whose stat() reports a weak ETag (W/ before the strong one), as some backends do. */
function weakEtags(storage: Storage): Storage {
  return new Proxy(storage, {
    get(target, key, receiver) {
      if (key !== "stat") return Reflect.get(target, key, receiver);
      return async (name: string) => {
        const stat = await target.stat(name);
        return { ...stat, etag: stat.etag && `W/${stat.etag}` };
      };
    },
  });
}

/** Versions media's file is replaced with, one at each open() of `replacing` (before it opens). */
let replaceOnOpen: Buffer[] = [];

/** media whose open() first replaces the file with the next of `replaceOnOpen`: a replace between stat and open. */
function replacing(storage: Storage): Storage {
  return new Proxy(storage, {
    get(target, key, receiver) {
      if (key !== "open") return Reflect.get(target, key, receiver);
      return async (name: string, options?: object) => {
        const next = replaceOnOpen.shift();
        if (next) await target.save(name, next, { overwrite: true });
        return target.open(name, options);
      };
    },
  });
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "storages-http-media-"));
  media = fsStorage({ root });
  const weak = weakEtags(media);
  const moving = replacing(media);
  const started = await listen((req, res) => {
    const url = new URL(req.url!, "http://x");
    const storage = url.pathname.startsWith("/weak/")
      ? weak
      : url.pathname.startsWith("/replacing/")
        ? moving
        : media;
    const name = decodeURIComponent(url.pathname.replace(/^\/(weak|private|replacing)\//, ""));
    serveMedia(req, res, storage, name, { mode: "stream" }).catch(() => res.writeHead(500).end());
  });
  origin = started.origin;
  close = () => {
    started.server.closeAllConnections();
    started.server.close();
  };
  content = png(SIZE);
  await media.save("c/photo.png", content);
  const first = await fetch(`${origin}/private/c/photo.png`);
  await first.arrayBuffer();
  etag = first.headers.get("etag")!;
  lastModified = first.headers.get("last-modified")!;
});
afterAll(async () => {
  close();
  await rm(root, { recursive: true, force: true });
});

async function get(
  headers: Record<string, string>,
  options: { method?: string; path?: string } = {},
): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const response = await fetch(`${origin}${options.path ?? "/private/c/photo.png"}`, {
    method: options.method ?? "GET",
    headers,
  });
  return {
    status: response.status,
    headers: response.headers,
    body: Buffer.from(await response.arrayBuffer()),
  };
}

const httpDate = (ms: number) => new Date(ms).toUTCString();

describe("serveMedia: conditional requests (RFC 9110 §13)", () => {
  it("sends a strong ETag and Last-Modified (what If-Range and If-Match compare against)", () => {
    expect(etag).toMatch(/^"[^"]+"$/);
    expect(Date.parse(lastModified)).not.toBeNaN();
  });

  it("If-Range with a stale ETag and a Range: 200 with the whole file, never a part of another version", async () => {
    const stale = await get({ range: "bytes=10-19", "if-range": '"stale"' });
    expect(stale.status).toBe(200);
    expect(stale.headers.get("content-range")).toBeNull();
    expect(stale.body.equals(content)).toBe(true);
    const current = await get({ range: "bytes=10-19", "if-range": etag });
    expect(current.status).toBe(206);
    expect(current.headers.get("content-range")).toBe(`bytes 10-19/${SIZE}`);
    expect(current.body.equals(content.subarray(10, 20))).toBe(true);
    // Strong comparison: the weak form of the current tag does not match.
    expect((await get({ range: "bytes=10-19", "if-range": `W/${etag}` })).status).toBe(200);
    // A date: a match only when it is exactly the Last-Modified.
    expect((await get({ range: "bytes=10-19", "if-range": lastModified })).status).toBe(206);
    const earlier = httpDate(Date.parse(lastModified) - 60_000);
    expect((await get({ range: "bytes=10-19", "if-range": earlier })).status).toBe(200);
    // A failed If-Range drops the Range altogether, an unsatisfiable one included.
    const whole = await get({ range: "bytes=5000-", "if-range": '"stale"' });
    expect([whole.status, whole.body.length]).toEqual([200, SIZE]);
  });

  it("If-None-Match with the current ETag: 304 without a body for GET and HEAD (weak comparison, lists, *)", async () => {
    for (const value of [etag, `W/${etag}`, `"other", ${etag}`, "*"]) {
      const answer = await get({ "if-none-match": value });
      expect(answer.status, value).toBe(304);
      expect(answer.body.length, value).toBe(0);
      expect(answer.headers.get("etag"), value).toBe(etag);
      expect(answer.headers.get("cache-control"), value).toBe("private, no-store");
      expect(answer.headers.get("last-modified"), value).toBe(lastModified);
      // No representation metadata: it would describe a body the 304 has not.
      for (const name of ["content-type", "content-length", "content-disposition", "accept-ranges"]) {
        expect(answer.headers.get(name), `${value} ${name}`).toBeNull();
      }
    }
    expect((await get({ "if-none-match": etag }, { method: "HEAD" })).status).toBe(304);
    const other = await get({ "if-none-match": '"other"' });
    expect([other.status, other.body.length]).toEqual([200, SIZE]);
  });

  it("If-Modified-Since: 304 when not modified since, 200 when modified; ignored with If-None-Match or when not a date", async () => {
    expect((await get({ "if-modified-since": lastModified })).status).toBe(304);
    // The obsolete asctime form (RFC 9110 §5.6.7) of the same instant.
    const [day, date, month, year, time] = lastModified.replace(",", "").split(" ");
    const asctime = `${day} ${month} ${date!.replace(/^0/, " ")} ${time} ${year}`;
    expect((await get({ "if-modified-since": asctime })).status).toBe(304);
    expect((await get({ "if-modified-since": httpDate(Date.parse(lastModified) + 60_000) })).status).toBe(
      304,
    );
    expect((await get({ "if-modified-since": httpDate(Date.parse(lastModified) - 60_000) })).status).toBe(
      200,
    );
    // RFC 9110 §13.1.3: If-None-Match present, If-Modified-Since is not looked at.
    const both = await get({ "if-none-match": '"other"', "if-modified-since": lastModified });
    expect([both.status, both.body.length]).toEqual([200, SIZE]);
    expect((await get({ "if-modified-since": "yesterday" })).status).toBe(200);
    expect((await get({ "if-modified-since": `${lastModified}, ${lastModified}` })).status).toBe(200);
  });

  it("If-Match that does not match: 412 with the typed body; the current tag or * passes (strong comparison)", async () => {
    const failed = await get({ "if-match": '"stale"' });
    expect(failed.status).toBe(412);
    expect(JSON.parse(failed.body.toString())).toMatchObject({ error: { code: "E_PRECONDITION_FAILED" } });
    expect((await get({ "if-match": `W/${etag}` })).status).toBe(412);
    expect((await get({ "if-match": etag })).status).toBe(200);
    expect((await get({ "if-match": `"a", ${etag}` })).status).toBe(200);
    expect((await get({ "if-match": "*" })).status).toBe(200);
    // With a Range it still decides first.
    expect((await get({ "if-match": '"stale"', range: "bytes=0-9" })).status).toBe(412);
    expect((await get({ "if-match": etag, range: "bytes=0-9" })).status).toBe(206);
  });

  it("If-Unmodified-Since: 412 when modified since; ignored when If-Match is present", async () => {
    const before = httpDate(Date.parse(lastModified) - 60_000);
    expect((await get({ "if-unmodified-since": before })).status).toBe(412);
    expect((await get({ "if-unmodified-since": lastModified })).status).toBe(200);
    expect((await get({ "if-unmodified-since": "not a date" })).status).toBe(200);
    expect((await get({ "if-match": etag, "if-unmodified-since": before })).status).toBe(200);
  });

  it("the order of §13.2.2: If-Match before If-None-Match; a missing file stays 404", async () => {
    expect((await get({ "if-match": '"stale"', "if-none-match": etag })).status).toBe(412);
    expect((await get({ "if-match": etag, "if-none-match": etag })).status).toBe(304);
    expect((await get({ "if-match": '"x"' }, { path: "/private/c/missing.png" })).status).toBe(404);
  });

  it("a weak ETag from the storage: If-None-Match still matches, If-Match and If-Range never do", async () => {
    const path = "/weak/c/photo.png";
    const plain = await get({}, { path });
    const weakTag = plain.headers.get("etag")!;
    expect(weakTag).toBe(`W/${etag}`);
    expect((await get({ "if-none-match": weakTag }, { path })).status).toBe(304);
    expect((await get({ "if-none-match": etag }, { path })).status).toBe(304);
    expect((await get({ "if-match": weakTag }, { path })).status).toBe(412);
    expect((await get({ "if-match": etag }, { path })).status).toBe(412);
    const ranged = await get({ range: "bytes=0-9", "if-range": weakTag }, { path });
    expect([ranged.status, ranged.body.length]).toEqual([200, SIZE]);
  });
});

describe("serveMedia: a file replaced between its stat and its open", () => {
  it("a Range under If-Range of the old version: the whole new file with its own ETag, never new bytes under the old tag", async () => {
    await media.save("c/moving.png", png(SIZE), { overwrite: true });
    const oldTag = (await get({}, { path: "/private/c/moving.png" })).headers.get("etag")!;
    const next = png(SIZE); // the same size: only the validators can tell the versions apart
    replaceOnOpen = [next];
    const answer = await get(
      { range: "bytes=10-19", "if-range": oldTag },
      { path: "/replacing/c/moving.png" },
    );
    expect(replaceOnOpen).toEqual([]);
    expect(answer.status).toBe(200);
    expect(answer.headers.get("content-range")).toBeNull();
    expect(answer.body.equals(next)).toBe(true);
    expect(answer.headers.get("etag")).toBe((await media.stat("c/moving.png")).etag);
    expect(answer.headers.get("etag")).not.toBe(oldTag);
  });

  it("a file replaced at every open: 503 E_FILE_CHANGING with Retry-After after three tries, nothing mixed", async () => {
    await media.save("c/moving.png", png(SIZE), { overwrite: true });
    replaceOnOpen = [png(SIZE), png(SIZE), png(SIZE)];
    const answer = await get({ range: "bytes=10-19" }, { path: "/replacing/c/moving.png" });
    expect(replaceOnOpen).toEqual([]);
    expect(answer.status).toBe(503);
    expect(answer.headers.get("retry-after")).toBe("1");
    expect(JSON.parse(answer.body.toString())).toMatchObject({ error: { code: "E_FILE_CHANGING" } });
  });
});
