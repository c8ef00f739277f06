import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StorageError } from "@storages/core";
import { fsStorage } from "@storages/fs";
import { afterAll, describe, expect, it } from "vitest";
import { createUploadHandler, handleUpload } from "../src/index.js";
import {
  BOUNDARY,
  describeRejections,
  listen,
  multipart,
  names,
  partHead,
  png,
  post,
  rawUpload,
  sleep,
} from "./support/uploads.js";

const roots: string[] = [];
afterAll(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

/** Every file under the root, the driver's own temporary files and records included. */
async function everything(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(root.length + 1));
}

describeRejections("fs", {
  storage: async () => {
    const root = await mkdtemp(join(tmpdir(), "storages-http-"));
    roots.push(root);
    return fsStorage({ root });
  },
  leftovers: async (storage) => everything((storage.driver as unknown as { root: string }).root),
});

describe("the whole-upload timeout, the caller's signal, accepted file fields", () => {
  it("a client trickling bytes (never idle) past `timeout` gets 408, and nothing is kept", async () => {
    const root = await mkdtemp(join(tmpdir(), "storages-http-"));
    roots.push(root);
    const storage = fsStorage({ root });
    const { server, origin } = await listen(
      createUploadHandler(storage, { timeout: 500, idleTimeout: 5000 }),
    );
    try {
      const head = partHead({ field: "file", filename: "t.png", contentType: "image/png", body: "" });
      const data = png(100_000);
      const { answer } = rawUpload(
        origin,
        async (socket) => {
          socket.write(head);
          for (let i = 0; i < 20 && !socket.destroyed; i++) {
            socket.write(data.subarray(i * 5000, (i + 1) * 5000));
            await sleep(100);
          }
        },
        { "Content-Length": String(head.length + data.length + 100) },
      );
      expect((await answer)?.status).toBe(408);
      expect(await names(storage)).toEqual([]);
      expect(await everything(root)).toEqual([]);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it("files in a field not listed in fileFields are refused (400), the caller's signal aborts", async () => {
    const root = await mkdtemp(join(tmpdir(), "storages-http-"));
    roots.push(root);
    const storage = fsStorage({ root });
    const { server, origin } = await listen(createUploadHandler(storage, { fileFields: ["avatar"] }));
    try {
      const answer = await post(origin, [
        { field: "other", filename: "a.png", contentType: "image/png", body: png() },
      ]);
      expect(answer).toMatchObject({ status: 400, body: { error: { code: "E_UPLOAD_MALFORMED" } } });
      const ok = await post(origin, [
        { field: "avatar", filename: "a.png", contentType: "image/png", body: png() },
      ]);
      expect(ok.status).toBe(201);
    } finally {
      server.closeAllConnections();
      server.close();
    }
    const controller = new AbortController();
    controller.abort();
    const { server: second, origin: url } = await listen((req, res) => {
      handleUpload(req, storage, { signal: controller.signal }).then(
        () => res.writeHead(201).end(),
        (error: unknown) => res.writeHead(StorageError.hasCode(error, "E_ABORTED") ? 499 : 500).end(),
      );
    });
    try {
      const answer = await fetch(url, {
        method: "POST",
        headers: { "content-type": `multipart/form-data; boundary=${BOUNDARY}` },
        body: new Uint8Array(
          multipart([{ field: "f", filename: "b.png", contentType: "image/png", body: png() }]),
        ),
      }).catch(() => undefined);
      expect(answer?.status ?? 499).toBe(499);
      expect(await names(storage)).toEqual(["a.png"]);
    } finally {
      second.closeAllConnections();
      second.close();
    }
  });
});
