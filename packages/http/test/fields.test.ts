/**
 * Form field names are the client's: `__proto__`, `constructor`, `toString`, `hasOwnProperty`
 * must be plain keys of `result.fields`, holding exactly what was sent (string or string[]).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fsStorage } from "@storages/fs";
import express from "express";
import { afterAll, describe, expect, it } from "vitest";
import {
  createUploadHandler,
  handleUpload,
  type RequestWithUpload,
  type UploadResult,
  uploadMiddleware,
} from "../src/index.js";
import { BOUNDARY, listen, multipart, type Part, png } from "./support/uploads.js";

const roots: string[] = [];
afterAll(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

async function storage() {
  const root = await mkdtemp(join(tmpdir(), "storages-http-fields-"));
  roots.push(root);
  return fsStorage({ root });
}

const PARTS: Part[] = [
  { field: "__proto__", body: "x" },
  { field: "constructor", body: "y" },
  { field: "toString", body: "z" },
  { field: "hasOwnProperty", body: "h" },
  { field: "constructor", body: "y2" },
  { field: "valueOf", body: "v" },
  { field: "plain", body: "p" },
  { field: "file", filename: "a.png", contentType: "image/png", body: png() },
];

/** What those parts must come out as: every name an own key, every value what the client sent. */
const EXPECTED: [string, string | string[]][] = [
  ["__proto__", "x"],
  ["constructor", ["y", "y2"]],
  ["toString", "z"],
  ["hasOwnProperty", "h"],
  ["valueOf", "v"],
  ["plain", "p"],
];

function expectFields(fields: Record<string, unknown>): void {
  expect(Object.entries(fields)).toEqual(EXPECTED);
  for (const [name, value] of EXPECTED) {
    expect(Object.hasOwn(fields, name), name).toBe(true);
    expect(fields[name], name).toEqual(value);
  }
  // The documented type: string or string[] of strings, nothing inherited or smuggled in.
  for (const value of Object.values(fields)) {
    const ok =
      typeof value === "string" || (Array.isArray(value) && value.every((v) => typeof v === "string"));
    expect(ok, JSON.stringify(value)).toBe(true);
  }
}

async function send(origin: string, path = "/"): Promise<{ status: number; text: string }> {
  const response = await fetch(`${origin}${path}`, {
    method: "POST",
    headers: { "content-type": `multipart/form-data; boundary=${BOUNDARY}` },
    body: new Uint8Array(multipart(PARTS)),
  });
  return { status: response.status, text: await response.text() };
}

describe("fields named like Object.prototype members are plain keys", () => {
  it("handleUpload: a null-prototype `fields`, `__proto__` kept as a value, `constructor` a string[]", async () => {
    const media = await storage();
    let result: UploadResult | undefined;
    const { server, origin } = await listen((req, res) => {
      handleUpload(req, media).then(
        (r) => {
          result = r;
          res.writeHead(201).end();
        },
        () => res.writeHead(500).end(),
      );
    });
    try {
      expect((await send(origin)).status).toBe(201);
      const fields = result!.fields;
      expect(Object.getPrototypeOf(fields)).toBe(null);
      expectFields(fields);
      expect(result!.files.map((f) => f.name)).toEqual(["a.png"]);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it("createUploadHandler: the JSON answer carries every field as sent", async () => {
    const media = await storage();
    const { server, origin } = await listen(createUploadHandler(media));
    try {
      const { status, text } = await send(origin);
      expect(status).toBe(201);
      // JSON.parse defines "__proto__" as an own property, as it does any other key.
      expectFields((JSON.parse(text) as UploadResult).fields);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it("Express uploadMiddleware: req.upload.fields and res.json() alike", async () => {
    const media = await storage();
    const app = express();
    let seen: Record<string, unknown> | undefined;
    app.post("/upload", uploadMiddleware(media), (req, res) => {
      seen = (req as RequestWithUpload).upload!.fields;
      res.status(201).json((req as RequestWithUpload).upload);
    });
    const { server, origin } = await listen(app);
    try {
      const { status, text } = await send(origin, "/upload");
      expect(status).toBe(201);
      expectFields(seen!);
      expectFields((JSON.parse(text) as UploadResult).fields);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
