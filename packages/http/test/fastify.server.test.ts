/**
 * The Fastify plugin, with Fastify from the test tools (scripts/servers/tools: not installed by the
 * repository's `npm ci`, so this suite runs with `npm test`, which installs them, and fails when
 * they are missing — it never skips). Also: malformed part headers from a connected client (400,
 * not 499), and replyUploadError's 499 with its reason phrase.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Storage } from "@storages/core";
import { fsStorage } from "@storages/fs";
import { afterAll, describe, expect, it } from "vitest";
import {
  type FastifyUploadRequest,
  fastifyUploads,
  replyUploadError,
  UploadError,
  type UploadOptions,
} from "../src/index.js";
import { MALFORMED_BODIES } from "./support/malformed.js";
import { testTool } from "./support/tools.js";
import { BOUNDARY, names, png, post, SVG_WITH_SCRIPT, sendRaw } from "./support/uploads.js";

const roots: string[] = [];
afterAll(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

interface FastifyApp {
  register(plugin: unknown): Promise<void>;
  post(path: string, handler: (request: unknown, reply: unknown) => unknown): void;
  post(
    path: string,
    options: { errorHandler: (error: unknown, request: unknown, reply: unknown) => unknown },
    handler: (request: unknown, reply: unknown) => unknown,
  ): void;
  listen(options: { port: number; host: string }): Promise<string>;
  close(): Promise<void>;
}

/** A Fastify app with the plugin and an /upload route into a fresh fs storage (refusals answered typed). */
async function uploadApp(options?: UploadOptions): Promise<{ app: FastifyApp; media: Storage }> {
  const Fastify = (await testTool("fastify")) as (options?: object) => FastifyApp;
  const root = await mkdtemp(join(tmpdir(), "storages-http-fastify-"));
  roots.push(root);
  const media = fsStorage({ root });
  const app = Fastify();
  await app.register(fastifyUploads);
  // Fastify refuses a body no parser takes before the route runs: the route's errorHandler answers it.
  const errorHandler = (error: unknown, _request: unknown, reply: unknown) => {
    replyUploadError(reply as Parameters<typeof replyUploadError>[0], error);
    return reply;
  };
  app.post("/upload", { errorHandler }, async (request, reply) => {
    try {
      const result = await (request as FastifyUploadRequest).saveUpload(media, options);
      return (reply as { code(n: number): { send(body: unknown): unknown } }).code(201).send(result);
    } catch (error) {
      replyUploadError(reply as Parameters<typeof replyUploadError>[0], error);
      return reply;
    }
  });
  return { app, media };
}

describe("Fastify: fastifyUploads plugin (@fastify/multipart's habits)", () => {
  it("request.saveUpload() stores the files; replyUploadError answers a refusal with the typed JSON body", async () => {
    const { app, media } = await uploadApp({ uploadTo: "f/" });
    const origin = await app.listen({ port: 0, host: "127.0.0.1" });
    try {
      const ok = await post(origin, [
        { field: "file", filename: "x.png", contentType: "image/png", body: png() },
      ]);
      expect(ok.status).toBe(201);
      expect(ok.body.files!.map((f) => f.name)).toEqual(["f/x.png"]);
      const refused = await post(origin, [
        { field: "file", filename: "x.png", contentType: "image/png", body: SVG_WITH_SCRIPT },
      ]);
      expect(refused).toMatchObject({ status: 415, body: { error: { code: "E_UPLOAD_TYPE" } } });
      expect(await names(media)).toEqual(["f/x.png"]);
    } finally {
      await app.close();
    }
  });
});

describe("Fastify: a body that is not multipart", () => {
  it("which Fastify refuses before the route (its own untyped 415): the route's errorHandler answers it as the other adapters do, 400 E_UPLOAD_MALFORMED", async () => {
    const { app, media } = await uploadApp();
    const origin = await app.listen({ port: 0, host: "127.0.0.1" });
    try {
      for (const type of ["image/png", "application/octet-stream"]) {
        const response = await fetch(`${origin}/upload`, {
          method: "POST",
          headers: { "content-type": type },
          body: new Uint8Array(png()),
        });
        expect(response.status, type).toBe(400);
        expect(await response.json(), type).toEqual({
          error: {
            code: "E_UPLOAD_MALFORMED",
            message: expect.stringContaining("Send the upload as multipart/form-data"),
          },
        });
      }
      expect(await names(media)).toEqual([]);
    } finally {
      await app.close();
    }
  });
});

describe("Fastify: malformed part headers, and 499's reason phrase", () => {
  it("a connected client's malformed part headers: 400 E_UPLOAD_MALFORMED; replyUploadError's 499 reads Client Closed Request", async () => {
    const { app, media } = await uploadApp();
    app.post("/aborted", async (_request, reply) => {
      replyUploadError(
        reply as Parameters<typeof replyUploadError>[0],
        new UploadError("E_UPLOAD_ABORTED", "The client closed the connection before the upload ended."),
      );
      return reply;
    });
    const origin = await app.listen({ port: 0, host: "127.0.0.1" });
    try {
      for (const [label, body] of Object.entries(MALFORMED_BODIES)) {
        const answer = await sendRaw(`${origin}/upload`, { body });
        expect(answer.status, label).toBe(400);
        expect(JSON.parse(answer.text).error.code, label).toBe("E_UPLOAD_MALFORMED");
      }
      expect(await names(media)).toEqual([]);
      const ok = await post(origin, [
        { field: "f", filename: "ok.png", contentType: "image/png", body: png() },
      ]);
      expect(ok.status).toBe(201);
      const aborted = await sendRaw(`${origin}/aborted`, { body: Buffer.from(`--${BOUNDARY}--\r\n`) });
      expect([aborted.status, aborted.reason]).toEqual([499, "Client Closed Request"]);
      expect(JSON.parse(aborted.text).error.code).toBe("E_UPLOAD_ABORTED");
    } finally {
      await app.close();
    }
  });
});
