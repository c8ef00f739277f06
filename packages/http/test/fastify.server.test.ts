/**
 * The Fastify plugin, with Fastify from the test tools (scripts/servers/tools: not installed by the
 * repository's `npm ci`, so this suite runs with `npm test`, which installs them, and fails when
 * they are missing — it never skips).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fsStorage } from "@storages/fs";
import { afterAll, describe, expect, it } from "vitest";
import { type FastifyUploadRequest, fastifyUploads, replyUploadError } from "../src/index.js";
import { testTool } from "./support/tools.js";
import { names, png, post, SVG_WITH_SCRIPT } from "./support/uploads.js";

const roots: string[] = [];
afterAll(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

interface FastifyApp {
  register(plugin: unknown): Promise<void>;
  post(path: string, handler: (request: unknown, reply: unknown) => unknown): void;
  listen(options: { port: number; host: string }): Promise<string>;
  close(): Promise<void>;
}

describe("Fastify: fastifyUploads plugin (@fastify/multipart's habits)", () => {
  it("request.saveUpload() stores the files; replyUploadError answers a refusal with the typed JSON body", async () => {
    const Fastify = (await testTool("fastify")) as (options?: object) => FastifyApp;
    const root = await mkdtemp(join(tmpdir(), "storages-http-fastify-"));
    roots.push(root);
    const media = fsStorage({ root });
    const app = Fastify();
    await app.register(fastifyUploads);
    app.post("/upload", async (request, reply) => {
      try {
        const result = await (request as FastifyUploadRequest).saveUpload(media, { uploadTo: "f/" });
        return (reply as { code(n: number): { send(body: unknown): unknown } }).code(201).send(result);
      } catch (error) {
        replyUploadError(reply as Parameters<typeof replyUploadError>[0], error);
        return reply;
      }
    });
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
