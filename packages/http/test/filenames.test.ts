/**
 * File names as hostile and ordinary clients send them, in the raw bytes of a part header: UTF-8
 * (what browsers send), RFC 2231 `filename*`, and names meant to escape the folder, hide an
 * extension or break a header. Each is stored under a clean name, or refused with a typed code.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fsStorage } from "@storages/fs";
import { afterAll, describe, expect, it } from "vitest";
import { createUploadHandler } from "../src/index.js";
import { BOUNDARY, listen, names, png, sendRaw } from "./support/uploads.js";

const roots: string[] = [];
afterAll(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

/** A one-file multipart body whose Content-Disposition is `disposition`, byte for byte (UTF-8). */
function withDisposition(disposition: string, content: Buffer = png()): Buffer {
  return Buffer.concat([
    Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: ${disposition}\r\nContent-Type: image/png\r\n\r\n`),
    content,
    Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
  ]);
}

/** The answer to that one-file upload (`content`: the file's bytes), on a fresh route and storage. */
async function upload(disposition: string, content?: Buffer) {
  const root = await mkdtemp(join(tmpdir(), "storages-http-names-"));
  roots.push(root);
  const media = fsStorage({ root });
  const { server, origin } = await listen(createUploadHandler(media));
  try {
    const answer = await sendRaw(`${origin}/upload`, { body: withDisposition(disposition, content) });
    const body = JSON.parse(answer.text) as {
      files?: Array<{ name: string; originalName: string; field: string }>;
      error?: { code: string };
    };
    return { status: answer.status, body, stored: await names(media) };
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

describe("file names in part headers", () => {
  it("a browser's UTF-8 file name (and field name) is read as UTF-8, not Latin-1", async () => {
    const { status, body, stored } = await upload('form-data; name="Datei-ü"; filename="日本語 café.png"');
    expect(status).toBe(201);
    expect(body.files![0]).toMatchObject({
      field: "Datei-ü",
      originalName: "日本語 café.png",
      name: "日本語_café.png",
    });
    expect(stored).toEqual(["日本語_café.png"]);
  });

  it("RFC 2231 filename* is decoded, then cleaned like any other name", async () => {
    const { status, body } = await upload(
      `form-data; name="f"; filename*=UTF-8''%CE%95%CE%BB%CE%BB%CE%AC%CE%B4%CE%B1%20rates.png`,
    );
    expect(status).toBe(201);
    expect(body.files![0]).toMatchObject({ originalName: "Ελλάδα rates.png", name: "Ελλάδα_rates.png" });
  });

  it.each([
    ["../ in the name", 'filename="../../../etc/passwd.png"', "passwd.png"],
    ["backslashes", 'filename="..\\\\..\\\\win.png"', "win.png"],
    ["../ percent-encoded in filename*", "filename*=UTF-8''%2e%2e%2f%2e%2e%2fevil.png", "evil.png"],
    ["a right-to-left override hiding .exe", 'filename="a\u202egnp.exe"', "agnp.png"],
    ["CR LF in filename*", "filename*=UTF-8''a%0d%0aSet-Cookie.png", "a_Set-Cookie.png"],
    ["a NUL in filename*", "filename*=UTF-8''a%00b.png", "ab.png"],
    ["a name of only dots", 'filename=".."', "upload.png"],
  ])("%s: stored under a clean name in the root", async (_label, param, expected) => {
    const { status, stored } = await upload(`form-data; name="f"; ${param}`);
    expect(status).toBe(201);
    expect(stored).toEqual([expected]);
  });

  it("a 1,000-character name is cut to a valid length, its extension kept", async () => {
    const { status, stored } = await upload(`form-data; name="f"; filename="${"a".repeat(1000)}.png"`);
    expect(status).toBe(201);
    expect(stored).toHaveLength(1);
    expect(stored[0]!.length).toBeLessThanOrEqual(255);
    expect(stored[0]).toMatch(/^a+\.png$/);
  });

  it("a refusal names a 1,000-character file at most by its first 100 characters (an empty file too)", async () => {
    for (const content of [Buffer.alloc(0), Buffer.from("<html></html>")]) {
      const disposition = `form-data; name="f"; filename="${"n".repeat(1000)}.png"`;
      const { status, body, stored } = await upload(disposition, content);
      expect(status).toBe(415);
      expect(JSON.stringify(body)).not.toContain("n".repeat(101));
      expect(stored).toEqual([]);
    }
  });

  it("a raw NUL or a 90 KB header line: 400 E_UPLOAD_MALFORMED, nothing stored", async () => {
    for (const param of ['filename="a\0b.png"', `filename="${"b".repeat(90_000)}.png"`]) {
      const { status, body, stored } = await upload(`form-data; name="f"; ${param}`);
      expect(status).toBe(400);
      expect(body.error!.code).toBe("E_UPLOAD_MALFORMED");
      expect(stored).toEqual([]);
    }
  });
});
