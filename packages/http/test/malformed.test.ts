/**
 * A complete request whose part headers are malformed, sent by a client that is still there, is a
 * 400 E_UPLOAD_MALFORMED (not 499 "aborted"); a client that really goes away is still an abort;
 * 499 goes out with a reason phrase; createUploadHandler takes POST only (405, Allow: POST).
 */

import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import type { RequestListener } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fsStorage } from "@storages/fs";
import express from "express";
import { afterAll, describe, expect, it } from "vitest";
import {
  createUploadHandler,
  handleUpload,
  sendUploadError,
  UPLOAD_REJECTIONS,
  UploadError,
  uploadErrorResponse,
  uploadMiddleware,
} from "../src/index.js";
import { MALFORMED_BODIES } from "./support/malformed.js";
import {
  BOUNDARY,
  disconnectMidFile,
  listen,
  names,
  partHead,
  png,
  post,
  sendRaw,
  sleep,
} from "./support/uploads.js";

const roots: string[] = [];
afterAll(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

async function storage() {
  const root = await mkdtemp(join(tmpdir(), "storages-http-malformed-"));
  roots.push(root);
  return fsStorage({ root });
}

/** sendRaw at `origin` + path (default /upload). */
const send = (
  origin: string,
  options: { method?: string; path?: string; body?: Buffer; headers?: Record<string, string> } = {},
) => sendRaw(`${origin}${options.path ?? "/upload"}`, options);

async function withServer(listener: RequestListener, run: (origin: string) => Promise<void>): Promise<void> {
  const { server, origin } = await listen(listener);
  try {
    await run(origin);
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

describe("malformed part headers from a connected client: 400 E_UPLOAD_MALFORMED", () => {
  it("node:http createUploadHandler", async () => {
    const media = await storage();
    await withServer(createUploadHandler(media), async (origin) => {
      for (const [label, body] of Object.entries(MALFORMED_BODIES)) {
        const answer = await send(origin, { body });
        expect(answer.status, label).toBe(400);
        expect(JSON.parse(answer.text), label).toEqual({
          error: { code: "E_UPLOAD_MALFORMED", message: "The multipart body is malformed." },
        });
      }
      expect(await names(media)).toEqual([]);
      const ok = await post(origin, [
        { field: "f", filename: "ok.png", contentType: "image/png", body: png() },
      ]);
      expect(ok.status).toBe(201);
    });
  });

  it("Express uploadMiddleware", async () => {
    const media = await storage();
    const app = express();
    app.post("/upload", uploadMiddleware(media), (_req, res) => {
      res.status(201).end();
    });
    await withServer(app, async (origin) => {
      for (const [label, body] of Object.entries(MALFORMED_BODIES)) {
        const answer = await send(origin, { body });
        expect(answer.status, label).toBe(400);
        expect(JSON.parse(answer.text).error.code, label).toBe("E_UPLOAD_MALFORMED");
      }
      expect(await names(media)).toEqual([]);
    });
  });

  it("a client that really goes away mid-body is still E_UPLOAD_ABORTED, nothing kept", async () => {
    const media = await storage();
    const errors: unknown[] = [];
    await withServer(
      (req, res) => {
        handleUpload(req, media).then(
          () => res.writeHead(201).end(),
          (error: unknown) => {
            errors.push(error);
            res.destroy();
          },
        );
      },
      async (origin) => {
        await disconnectMidFile(origin);
        for (let i = 0; i < 50 && errors.length === 0; i++) await sleep(50);
        expect(errors).toHaveLength(1);
        expect(UploadError.isInstance(errors[0])).toBe(true);
        expect((errors[0] as UploadError).reason).toBe("E_UPLOAD_ABORTED");
        for (let i = 0; i < 50 && (await names(media)).length > 0; i++) await sleep(50);
        expect(await names(media)).toEqual([]);
      },
    );
  });
});

describe("499 goes out with a reason phrase", () => {
  it("handleUpload's own aborts are never answered: a client that resets or half-closes mid-body gets no 499", async () => {
    const media = await storage();
    for (const leave of ["destroy", "end"] as const) {
      let refused!: (outcome: { error: unknown; headersSent: boolean }) => void;
      const outcome = new Promise<{ error: unknown; headersSent: boolean }>((resolve) => {
        refused = resolve;
      });
      const { server, origin } = await listen((req, res) => {
        handleUpload(req, media).catch((error: unknown) => {
          sendUploadError(req, res, error);
          refused({ error, headersSent: res.headersSent });
        });
      });
      try {
        const head = partHead({ field: "f", filename: "gone.png", contentType: "image/png", body: "" });
        const socket = connect(Number(new URL(origin).port), "127.0.0.1");
        const received: Buffer[] = [];
        socket.on("data", (chunk: Buffer) => received.push(chunk));
        socket.on("error", () => {});
        const closed = once(socket, "close");
        socket.write(
          `POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=${BOUNDARY}\r\n` +
            `Content-Length: ${head.length + 100_000}\r\n\r\n`,
        );
        socket.write(Buffer.concat([head, png(20_000)]), () => socket[leave]());
        const { error, headersSent } = await outcome;
        await closed;
        expect((error as UploadError).reason, leave).toBe("E_UPLOAD_ABORTED");
        // Gone, or (half-closed) answered by Node's own parser error, never by the refusal.
        expect(headersSent, leave).toBe(false);
        expect(Buffer.concat(received).toString("latin1"), leave).not.toMatch(/^HTTP\/1\.1 499/);
        expect(await names(media), leave).toEqual([]);
      } finally {
        server.closeAllConnections();
        server.close();
      }
    }
  });

  it('an E_UPLOAD_ABORTED answer reads "499 Client Closed Request", not "499 unknown"', async () => {
    const media = await storage();
    const handler = createUploadHandler(media, {
      onUpload: () => {
        throw new UploadError(
          "E_UPLOAD_ABORTED",
          "The client closed the connection before the upload ended.",
        );
      },
    });
    await withServer(handler, async (origin) => {
      const body = Buffer.concat([
        partHead({ field: "f", filename: "a.png", contentType: "image/png", body: "" }),
        png(),
        Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
      ]);
      const answer = await send(origin, { body });
      expect(answer.status).toBe(499);
      expect(answer.reason).toBe("Client Closed Request");
      expect(JSON.parse(answer.text).error.code).toBe("E_UPLOAD_ABORTED");
      // Other statuses keep Node's own phrase.
      const none = await send(origin, { body: Buffer.from(`--${BOUNDARY}--\r\n`) });
      expect([none.status, none.reason]).toEqual([400, "Bad Request"]);
    });
  });
});

describe("createUploadHandler takes POST only", () => {
  it("PUT, GET, DELETE, HEAD: 405 with Allow: POST and the typed body; nothing stored", async () => {
    const media = await storage();
    await withServer(createUploadHandler(media), async (origin) => {
      const file = Buffer.concat([
        partHead({ field: "f", filename: "put.png", contentType: "image/png", body: "" }),
        png(),
        Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
      ]);
      for (const [method, body] of [
        ["PUT", file],
        ["GET", undefined],
        ["DELETE", undefined],
        ["PATCH", file],
      ] as const) {
        const answer = await send(origin, { method, body });
        expect(answer.status, method).toBe(405);
        expect(answer.headers.allow, method).toBe("POST");
        expect(JSON.parse(answer.text).error.code, method).toBe("E_METHOD_NOT_ALLOWED");
      }
      const head = await send(origin, { method: "HEAD" });
      expect([head.status, head.headers.allow, head.text]).toEqual([405, "POST", ""]);
      // A large PUT body: the client still reads the answer, not a reset.
      const big = Buffer.concat([
        partHead({ field: "f", filename: "big.png", contentType: "image/png", body: "" }),
        png(3_000_000),
        Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
      ]);
      const refused = await send(origin, { method: "PUT", body: big });
      expect(refused.status).toBe(405);
      expect(await names(media)).toEqual([]);
      const ok = await post(origin, [
        { field: "f", filename: "ok.png", contentType: "image/png", body: png() },
      ]);
      expect(ok.status).toBe(201);
      expect(await names(media)).toEqual(["ok.png"]);
    });
  });
});

describe("405 is a refusal like the others", () => {
  it("E_METHOD_NOT_ALLOWED is in UPLOAD_REJECTIONS, and its answer names the method upload routes take", () => {
    expect(UPLOAD_REJECTIONS.E_METHOD_NOT_ALLOWED).toBe(405);
    const error = new UploadError("E_METHOD_NOT_ALLOWED", 'Send uploads with POST, not "PUT".');
    expect([error.code, error.status]).toEqual(["E_UPLOAD_REJECTED", 405]);
    expect(uploadErrorResponse(error)).toEqual({
      status: 405,
      body: { error: { code: "E_METHOD_NOT_ALLOWED", message: 'Send uploads with POST, not "PUT".' } },
      headers: { allow: "POST" },
    });
    // Only a 405 carries Allow.
    expect(uploadErrorResponse(new UploadError("E_UPLOAD_TYPE", "x")).headers).toEqual({});
    expect(uploadErrorResponse(new Error("disk full")).headers).toEqual({});
  });
});
