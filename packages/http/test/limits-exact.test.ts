/**
 * Every limit admits what is exactly at it and refuses one over: a file of maxFileSize bytes, a
 * field of maxFieldSize bytes, a request with maxFiles files and maxFields fields. (Busboy's own
 * limits trip on reaching the number, not on passing it.)
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fsStorage } from "@storages/fs";
import { afterAll, describe, expect, it } from "vitest";
import { createUploadHandler } from "../src/index.js";
import { listen, names, type Part, png, post } from "./support/uploads.js";

const roots: string[] = [];
afterAll(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

const LIMITS = { maxFileSize: 64 * 1024, maxFieldSize: 100, maxFiles: 2, maxFields: 3 };

async function withRoute(run: (origin: string) => Promise<void>) {
  const root = await mkdtemp(join(tmpdir(), "storages-http-limits-"));
  roots.push(root);
  const media = fsStorage({ root });
  const { server, origin } = await listen(createUploadHandler(media, LIMITS));
  try {
    await run(origin);
  } finally {
    server.closeAllConnections();
    server.close();
  }
  return media;
}

const file = (n: number, size = 2048): Part => ({
  field: "file",
  filename: `${n}.png`,
  contentType: "image/png",
  body: png(size),
});

describe("limits: exactly at the limit is accepted, one over is refused", () => {
  it("maxFileSize", async () => {
    const media = await withRoute(async (origin) => {
      const at = await post(origin, [file(1, LIMITS.maxFileSize)]);
      expect(at.status, JSON.stringify(at.body)).toBe(201);
      expect(at.body.files![0]!.size).toBe(LIMITS.maxFileSize);
      const over = await post(origin, [file(2, LIMITS.maxFileSize + 1)]);
      expect(over).toMatchObject({ status: 413, body: { error: { code: "E_UPLOAD_TOO_LARGE" } } });
    });
    expect(await names(media)).toEqual(["1.png"]);
  });

  it("maxFieldSize", async () => {
    const media = await withRoute(async (origin) => {
      const at = await post(origin, [file(1), { field: "note", body: "y".repeat(LIMITS.maxFieldSize) }]);
      expect(at.status, JSON.stringify(at.body)).toBe(201);
      const over = await post(origin, [
        file(2),
        { field: "note", body: "y".repeat(LIMITS.maxFieldSize + 1) },
      ]);
      expect(over).toMatchObject({ status: 413, body: { error: { code: "E_UPLOAD_FIELD_TOO_LARGE" } } });
    });
    expect(await names(media)).toEqual(["1.png"]);
  });

  it("maxFiles and maxFields together (every part the limits allow)", async () => {
    const fields = (count: number): Part[] =>
      Array.from({ length: count }, (_, n) => ({ field: `f${n}`, body: "x" }));
    const media = await withRoute(async (origin) => {
      const at = await post(origin, [file(1), file(2), ...fields(LIMITS.maxFields)]);
      expect(at.status, JSON.stringify(at.body)).toBe(201);
      const overFiles = await post(origin, [file(3), file(4), file(5), ...fields(LIMITS.maxFields)]);
      expect(overFiles).toMatchObject({ status: 413, body: { error: { code: "E_UPLOAD_TOO_MANY_FILES" } } });
      const overFields = await post(origin, [file(6), file(7), ...fields(LIMITS.maxFields + 1)]);
      expect(overFields).toMatchObject({
        status: 413,
        body: { error: { code: "E_UPLOAD_TOO_MANY_FIELDS" } },
      });
    });
    expect(await names(media)).toEqual(["1.png", "2.png"]);
  });
});
