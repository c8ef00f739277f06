/**
 * The Fastify plugin on malformed part headers from a connected client (400 E_UPLOAD_MALFORMED,
 * not 499), and replyUploadError's 499 with its reason phrase. Fastify comes from the test tools,
 * as in fastify.server.test.ts.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fsStorage } from "@storages/fs";
import { afterAll, describe, expect, it } from "vitest";
import { type FastifyUploadRequest, fastifyUploads, replyUploadError, UploadError } from "../src/index.js";
import { MALFORMED_BODIES } from "./support/malformed.js";
import { testTool } from "./support/tools.js";
import { BOUNDARY, names, png, post } from "./support/uploads.js";

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

function send(url: string, body: Buffer): Promise<{ status: number; reason: string; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: "POST",
        headers: {
          "content-type": `multipart/form-data; boundary=${BOUNDARY}`,
          "content-length": String(body.length),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode!,
            reason: res.statusMessage!,
            text: Buffer.concat(chunks).toString(),
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

describe("Fastify: malformed part headers, and 499's reason phrase", () => {
  it("a connected client's malformed part headers: 400 E_UPLOAD_MALFORMED; replyUploadError's 499 reads Client Closed Request", async () => {
    const Fastify = (await testTool("fastify")) as (options?: object) => FastifyApp;
    const root = await mkdtemp(join(tmpdir(), "storages-http-fastify-malformed-"));
    roots.push(root);
    const media = fsStorage({ root });
    const app = Fastify();
    await app.register(fastifyUploads);
    app.post("/upload", async (request, reply) => {
      try {
        const result = await (request as FastifyUploadRequest).saveUpload(media);
        return (reply as { code(n: number): { send(body: unknown): unknown } }).code(201).send(result);
      } catch (error) {
        replyUploadError(reply as Parameters<typeof replyUploadError>[0], error);
        return reply;
      }
    });
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
        const answer = await send(`${origin}/upload`, body);
        expect(answer.status, label).toBe(400);
        expect(JSON.parse(answer.text).error.code, label).toBe("E_UPLOAD_MALFORMED");
      }
      expect(await names(media)).toEqual([]);
      const ok = await post(origin, [
        { field: "f", filename: "ok.png", contentType: "image/png", body: png() },
      ]);
      expect(ok.status).toBe(201);
      const aborted = await send(`${origin}/aborted`, Buffer.from(`--${BOUNDARY}--\r\n`));
      expect([aborted.status, aborted.reason]).toEqual([499, "Client Closed Request"]);
      expect(JSON.parse(aborted.text).error.code).toBe("E_UPLOAD_ABORTED");
    } finally {
      await app.close();
    }
  });
});
