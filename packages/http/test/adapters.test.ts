import { mkdtemp, rm } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Storage } from "@storages/core";
import { fsStorage } from "@storages/fs";
import express from "express";
import { afterAll, describe, expect, it } from "vitest";
import { createUploadHandler, type RequestWithUpload, uploadMiddleware } from "../src/index.js";
import { listen, names, png, post, SCRIPT_AS_JPG } from "./support/uploads.js";

const roots: string[] = [];
afterAll(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

async function storage() {
  const root = await mkdtemp(join(tmpdir(), "storages-http-express-"));
  roots.push(root);
  return fsStorage({ root });
}

describe("Express: uploadMiddleware (multer's habits)", () => {
  it("sets req.upload and calls next(); a refusal is answered with the typed JSON body", async () => {
    const media = await storage();
    const app = express();
    app.post("/upload", uploadMiddleware(media, { uploadTo: "photos/" }), (req, res) => {
      const { files, fields } = (req as RequestWithUpload).upload!;
      res.status(201).json({ files, fields, handledBy: "route" });
    });
    const { server, origin } = await listen(app);
    try {
      const ok = await post(origin, [
        { field: "caption", body: "hello" },
        { field: "photo", filename: "a.png", contentType: "image/png", body: png() },
      ]);
      expect(ok.status).toBe(201);
      expect(ok.body).toMatchObject({ fields: { caption: "hello" }, handledBy: "route" });
      expect(ok.body.files!.map((f) => f.name)).toEqual(["photos/a.png"]);
      const refused = await post(origin, [
        { field: "photo", filename: "b.jpg", contentType: "image/jpeg", body: SCRIPT_AS_JPG },
      ]);
      expect(refused).toMatchObject({ status: 415, body: { error: { code: "E_UPLOAD_TYPE" } } });
      expect(await names(media)).toEqual(["photos/a.png"]);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it("an error that is not the client's goes to next(error), with nothing kept", async () => {
    const media = await storage();
    const failing = new Proxy(media, {
      get(target, key, receiver) {
        if (key === "save") return async () => Promise.reject(new Error("disk on fire"));
        return Reflect.get(target, key, receiver);
      },
    });
    const app = express();
    const seen: unknown[] = [];
    app.post("/upload", uploadMiddleware(failing), (_req, res) => {
      res.status(201).end();
    });
    app.use((error: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      seen.push(error);
      res.status(500).json({ error: { code: "E_INTERNAL", message: "app's own handler" } });
    });
    const { server, origin } = await listen(app);
    try {
      const answer = await post(origin, [
        { field: "f", filename: "a.png", contentType: "image/png", body: png() },
      ]);
      expect(answer.status).toBe(500);
      expect(String(seen[0])).toMatch(/disk on fire/);
      expect(await names(media)).toEqual([]);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe("concurrency: saves at once across requests", () => {
  it("a route with concurrency 1 runs one save at a time, and every upload still lands", async () => {
    const media = await storage();
    let running = 0;
    let most = 0;
    const counting = new Proxy(media, {
      get(target, key, receiver) {
        if (key !== "save") return Reflect.get(target, key, receiver);
        return async (...args: Parameters<typeof media.save>) => {
          running++;
          most = Math.max(most, running);
          try {
            return await target.save(...args);
          } finally {
            running--;
          }
        };
      },
    });
    const { server, origin } = await listen(createUploadHandler(counting, { concurrency: 1 }));
    try {
      const answers = await Promise.all(
        [1, 2, 3, 4].map((n) =>
          post(origin, [{ field: "f", filename: `${n}.png`, contentType: "image/png", body: png(300_000) }]),
        ),
      );
      expect(answers.map((a) => a.status)).toEqual([201, 201, 201, 201]);
      expect(most).toBe(1);
      expect(await names(media)).toEqual(["1.png", "2.png", "3.png", "4.png"]);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

/** `media` whose save of `name` waits until `release()` (so it holds its slot meanwhile). */
function holdSave(media: Storage, name: string): { holding: Storage; release: () => void } {
  let release!: () => void;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const holding = new Proxy(media, {
    get(target, key, receiver) {
      if (key !== "save") return Reflect.get(target, key, receiver);
      return async (...args: Parameters<typeof media.save>) => {
        if (args[0] === name) await held;
        return target.save(...args);
      };
    },
  });
  return { holding, release };
}

describe("a refusal while a save waits for its slot", () => {
  it("is answered at once, not after the save ahead of it finishes", async () => {
    const media = await storage();
    const { holding, release } = holdSave(media, "hold.png");
    const { server, origin } = await listen(createUploadHandler(holding, { concurrency: 1, timeout: 1000 }));
    try {
      const first = post(origin, [
        { field: "f", filename: "hold.png", contentType: "image/png", body: png() },
      ]);
      await new Promise((r) => setTimeout(r, 200)); // the first save now holds the only slot
      // Held back by the slot, this one runs into its timeout: the 408 comes now, not after the first save.
      const refused = await post(origin, [
        { field: "f", filename: "b1.png", contentType: "image/png", body: png(300_000) },
      ]);
      expect(refused).toMatchObject({ status: 408, body: { error: { code: "E_UPLOAD_TIMEOUT" } } });
      release();
      // The first ran into the same timeout while its save was held: refused, nothing kept.
      expect((await first).status).toBe(408);
      expect(await names(media)).toEqual([]);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe("a request waiting for its save's slot", () => {
  it("is not read at all until the slot is free (its body waits with the client), then lands", async () => {
    const media = await storage();
    const { holding, release } = holdSave(media, "hold.png");
    const handler = createUploadHandler(holding, { concurrency: 1 });
    const requests: IncomingMessage[] = [];
    const { server, origin } = await listen((request, response) => {
      requests.push(request);
      handler(request, response);
    });
    try {
      const first = post(origin, [
        { field: "f", filename: "hold.png", contentType: "image/png", body: png() },
      ]);
      await new Promise((r) => setTimeout(r, 200)); // the first save now holds the only slot
      const second = post(origin, [
        { field: "f", filename: "b.png", contentType: "image/png", body: png(2_000_000) },
      ]);
      await new Promise((r) => setTimeout(r, 300));
      expect(requests).toHaveLength(2);
      // Never piped anywhere nor read: no parser, no file stream, no sniffed head buffered for it.
      expect(requests[1]!.readableFlowing).toBe(null);
      release();
      expect((await first).status).toBe(201);
      expect((await second).status).toBe(201);
      expect(await names(media)).toEqual(["b.png", "hold.png"]);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
