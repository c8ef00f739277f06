/**
 * What the upload tests share: file fixtures, multipart bodies (whole, or written by hand on a raw
 * socket for stalled and aborted clients), a server around a handler, and the rejection cases that
 * run against every storage (fs here, RGW in the server suite).
 */
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type RequestListener,
  type Server,
} from "node:http";
import { type AddressInfo, connect, type Socket } from "node:net";
import { deflateSync } from "node:zlib";
import type { Storage } from "@storages/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUploadHandler, type UploadHandlerOptions } from "../../src/index.js";

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const IHDR = Buffer.from("0000000d49484452000000010000000108060000001f15c489", "hex");

/** A PNG header followed by `size` bytes in total (enough for any sniffer, and any size). */
export function png(size = 2048): Buffer {
  // Signature, IHDR, then one IDAT chunk holding the rest (random bytes), as a real PNG would.
  const fixed = PNG_SIGNATURE.length + IHDR.length + 12;
  const data = randomBytes(Math.max(0, size - fixed));
  const idat = Buffer.alloc(8);
  idat.writeUInt32BE(data.length, 0);
  idat.write("IDAT", 4, "latin1");
  return Buffer.concat([PNG_SIGNATURE, IHDR, idat, data, Buffer.alloc(4)]);
}

/** A real, decodable PNG (random pixels, so it does not compress): what a browser can show. */
export function picture(width = 120, height = 120): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (bytes: Buffer) => {
    let c = 0xffffffff;
    for (const byte of bytes) c = crcTable[(c ^ byte) & 0xff]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([length, body, sum]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const rows = Buffer.concat(
    Array.from({ length: height }, () => Buffer.concat([Buffer.from([0]), randomBytes(width * 3)])),
  );
  return Buffer.concat([
    PNG_SIGNATURE,
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(rows)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

export function jpeg(size = 2048): Buffer {
  const head = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01]);
  return Buffer.concat([head, randomBytes(Math.max(0, size - head.length))]);
}

export const SCRIPT_AS_JPG = Buffer.from("<script>fetch('/steal?c='+document.cookie)</script>\n");
export const SVG_WITH_SCRIPT = Buffer.from(
  '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>document.title="pwned"</script><rect width="10" height="10"/></svg>\n',
);

export interface Part {
  field: string;
  /** A file part when set. */
  filename?: string;
  contentType?: string;
  body: Buffer | string;
}

export const BOUNDARY = "----storages-test-boundary-7d3f";

export function partHead(part: Part): Buffer {
  const disposition =
    part.filename !== undefined
      ? `form-data; name="${part.field}"; filename="${part.filename}"`
      : `form-data; name="${part.field}"`;
  const type =
    part.filename !== undefined ? `\r\nContent-Type: ${part.contentType ?? "application/octet-stream"}` : "";
  return Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: ${disposition}${type}\r\n\r\n`);
}

export function multipart(parts: Part[]): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) chunks.push(partHead(part), Buffer.from(part.body), Buffer.from("\r\n"));
  chunks.push(Buffer.from(`--${BOUNDARY}--\r\n`));
  return Buffer.concat(chunks);
}

export interface Answer {
  status: number;
  body: {
    error?: { code: string; message: string };
    files?: Array<{ name: string; size: number; contentType: string }>;
  };
}

/** Posts a multipart body; a server that answers early and closes still gives its answer. */
export async function post(origin: string, parts: Part[], path = "/upload"): Promise<Answer> {
  const body = multipart(parts);
  const response = await fetch(`${origin}${path}`, {
    method: "POST",
    headers: { "content-type": `multipart/form-data; boundary=${BOUNDARY}` },
    body: new Uint8Array(body),
  });
  return { status: response.status, body: (await response.json()) as Answer["body"] };
}

/** A raw connection that writes the request head and `body` as told; resolves with the answer, if any. */
export function rawUpload(
  origin: string,
  script: (socket: Socket) => Promise<void>,
  headers: Record<string, string> = {},
): { answer: Promise<{ status: number; text: string } | undefined>; socket: Socket } {
  const { hostname, port } = new URL(origin);
  const socket = connect(Number(port), hostname);
  socket.on("error", () => {});
  const head = [
    "POST /upload HTTP/1.1",
    `Host: ${hostname}:${port}`,
    `Content-Type: multipart/form-data; boundary=${BOUNDARY}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    "",
    "",
  ].join("\r\n");
  let received = "";
  socket.on("data", (chunk: Buffer) => {
    received += chunk.toString("latin1");
  });
  // Listened for from the start: the server may close the connection while the script still runs.
  const closed = once(socket, "close");
  const answer = (async () => {
    await once(socket, "connect");
    socket.write(head);
    await script(socket);
    await closed;
    const status = /^HTTP\/1\.1 (\d{3})/.exec(received)?.[1];
    if (!status) return undefined;
    return { status: Number(status), text: received.slice(received.indexOf("\r\n\r\n") + 4) };
  })();
  return { answer, socket };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A request over node:http (fetch hides the reason phrase): status, reason, headers, body. A
 * multipart Content-Type with BOUNDARY unless `headers` says otherwise.
 */
export function sendRaw(
  url: string,
  options: { method?: string; body?: Buffer; headers?: Record<string, string> } = {},
): Promise<{ status: number; reason: string; headers: IncomingMessage["headers"]; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: options.method ?? "POST",
        headers: {
          "content-type": `multipart/form-data; boundary=${BOUNDARY}`,
          ...(options.body ? { "content-length": String(options.body.length) } : {}),
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode!,
            reason: res.statusMessage!,
            headers: res.headers,
            text: Buffer.concat(chunks).toString(),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

/** A client that sends part of a file, then goes away: resolves once the socket is gone (no answer). */
export async function disconnectMidFile(origin: string): Promise<void> {
  const head = partHead({ field: "file", filename: "gone.png", contentType: "image/png", body: "" });
  const { answer } = rawUpload(
    origin,
    async (socket) => {
      socket.write(head);
      socket.write(png(150_000));
      await sleep(150);
      socket.destroy();
    },
    { "Content-Length": String(head.length + 400_000) },
  );
  if ((await answer) !== undefined) throw new Error("the server answered a client that went away");
}

export async function listen(listener: RequestListener): Promise<{ server: Server; origin: string }> {
  const server = createServer(listener);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

export async function names(storage: Storage, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of storage.list(prefix, { recursive: true })) out.push(entry.name);
  return out.sort();
}

export interface RejectionTarget {
  /** A fresh, empty storage for one test (its own prefix or folder). */
  storage: () => Promise<Storage>;
  /** Whatever else the backend could leave behind (temporary files, open multipart uploads). */
  leftovers: (storage: Storage) => Promise<string[]>;
}

const LIMITS: UploadHandlerOptions = {
  maxFileSize: 256 * 1024,
  maxFiles: 2,
  maxTotalSize: 8 * 1024 * 1024,
  maxFields: 3,
  maxFieldSize: 128,
  idleTimeout: 1500,
};

/**
 * Every refusal the issue names, each with nothing left in the storage and the server still
 * storing a good upload afterwards (and, for the stalled client, at the same time).
 */
export function describeRejections(label: string, target: RejectionTarget): void {
  describe(`uploads refused on ${label}: nothing kept, the server keeps serving`, () => {
    let storage: Storage;
    let origin: string;
    let server: Server;
    const unexpected: unknown[] = [];

    beforeAll(async () => {
      storage = await target.storage();
      const handler = createUploadHandler(storage, {
        ...LIMITS,
        uploadTo: "uploads/%Y/",
        onError: (error) => unexpected.push(error),
      });
      ({ server, origin } = await listen(handler));
    });
    afterAll(async () => {
      server.closeAllConnections();
      server.close();
    });

    async function expectEmpty(): Promise<void> {
      expect(await names(storage)).toEqual([]);
      expect(await target.leftovers(storage)).toEqual([]);
      expect(unexpected).toEqual([]);
    }

    /** A good upload still works: the server was not wedged by the refusal. */
    async function expectStillServing(): Promise<void> {
      const ok = await post(origin, [
        { field: "file", filename: "ok.png", contentType: "image/png", body: png() },
      ]);
      expect(ok.status, JSON.stringify(ok.body)).toBe(201);
      const stored = ok.body.files![0]!;
      expect(stored.name).toMatch(/^uploads\/\d{4}\/ok(_\w+)?\.png$/);
      expect((await storage.stat(stored.name)).contentType).toBe("image/png");
      await storage.delete(stored.name);
    }

    it("stores good files with their sniffed type, under uploadTo, extension fixed to the content", async () => {
      const answer = await post(origin, [
        { field: "title", body: "holiday" },
        { field: "file", filename: "../../etc/photo one.jpg", contentType: "image/jpeg", body: jpeg(5000) },
        { field: "file", filename: "really-a-png.jpg", contentType: "image/jpeg", body: png(300_000 / 2) },
      ]);
      expect(answer.status).toBe(201);
      const files = answer.body.files!;
      expect(files.map((f) => [f.name.replace(/\d{4}/, "YYYY"), f.contentType, f.size])).toEqual([
        ["uploads/YYYY/photo_one.jpg", "image/jpeg", 5000],
        ["uploads/YYYY/really-a-png.png", "image/png", 150_000],
      ]);
      expect((await storage.stat(files[1]!.name)).contentType).toBe("image/png");
      await storage.deleteMany(files.map((f) => f.name));
      await expectEmpty();
    });

    it("an oversize file: 413 E_UPLOAD_TOO_LARGE, and the file saved before it in the same request is removed too", async () => {
      const answer = await post(origin, [
        { field: "file", filename: "first.png", contentType: "image/png", body: png(10_000) },
        { field: "file", filename: "big.png", contentType: "image/png", body: png(LIMITS.maxFileSize! + 1) },
      ]);
      expect(answer).toMatchObject({ status: 413, body: { error: { code: "E_UPLOAD_TOO_LARGE" } } });
      await expectEmpty();
      await expectStillServing();
    });

    it("a request over maxTotalSize by its Content-Length: 413 before a byte is read", async () => {
      const { answer } = rawUpload(origin, async () => {}, {
        "Content-Length": String(LIMITS.maxTotalSize! + 1),
      });
      expect((await answer)?.status).toBe(413);
      await expectEmpty();
      await expectStillServing();
    });

    it("a script renamed .jpg: 415 E_UPLOAD_TYPE", async () => {
      const answer = await post(origin, [
        { field: "file", filename: "cat.jpg", contentType: "image/jpeg", body: SCRIPT_AS_JPG },
      ]);
      expect(answer).toMatchObject({ status: 415, body: { error: { code: "E_UPLOAD_TYPE" } } });
      expect(answer.body.error!.message).toMatch(/text\/html/);
      await expectEmpty();
      await expectStillServing();
    });

    it("an SVG with a script, sent as a PNG: 415 E_UPLOAD_TYPE", async () => {
      const answer = await post(origin, [
        { field: "file", filename: "logo.png", contentType: "image/png", body: SVG_WITH_SCRIPT },
      ]);
      expect(answer).toMatchObject({ status: 415, body: { error: { code: "E_UPLOAD_TYPE" } } });
      expect(answer.body.error!.message).toMatch(/image\/svg\+xml/);
      await expectEmpty();
      await expectStillServing();
    });

    it("too many files: 413 E_UPLOAD_TOO_MANY_FILES, none of them kept", async () => {
      const file = (n: number): Part => ({
        field: "file",
        filename: `${n}.png`,
        contentType: "image/png",
        body: png(),
      });
      const answer = await post(origin, [file(1), file(2), file(3)]);
      expect(answer).toMatchObject({ status: 413, body: { error: { code: "E_UPLOAD_TOO_MANY_FILES" } } });
      await expectEmpty();
      await expectStillServing();
    });

    it("too many fields, a field too large: 413", async () => {
      const field = (n: number): Part => ({ field: `f${n}`, body: "x" });
      const file: Part = { field: "file", filename: "a.png", contentType: "image/png", body: png() };
      const many = await post(origin, [file, field(1), field(2), field(3), field(4)]);
      expect(many).toMatchObject({ status: 413, body: { error: { code: "E_UPLOAD_TOO_MANY_FIELDS" } } });
      const large = await post(origin, [file, { field: "note", body: "y".repeat(LIMITS.maxFieldSize! + 1) }]);
      expect(large).toMatchObject({ status: 413, body: { error: { code: "E_UPLOAD_FIELD_TOO_LARGE" } } });
      await expectEmpty();
    });

    it("not multipart, no file, a broken body: 400 E_UPLOAD_MALFORMED", async () => {
      const json = await fetch(`${origin}/upload`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      expect(json.status).toBe(400);
      expect(((await json.json()) as Answer["body"]).error!.code).toBe("E_UPLOAD_MALFORMED");
      const none = await post(origin, [{ field: "title", body: "no file" }]);
      expect(none).toMatchObject({ status: 400, body: { error: { code: "E_UPLOAD_MALFORMED" } } });
      const broken = await fetch(`${origin}/upload`, {
        method: "POST",
        headers: { "content-type": `multipart/form-data; boundary=${BOUNDARY}` },
        body: Buffer.concat([
          partHead({ field: "file", filename: "a.png", contentType: "image/png", body: "" }),
          png(5000),
        ]),
      });
      expect(broken.status).toBe(400);
      await expectEmpty();
    });

    it("a slow-loris client (a real socket that stops sending mid-file): 408 E_UPLOAD_TIMEOUT, while another upload is stored", async () => {
      const head = partHead({ field: "file", filename: "slow.png", contentType: "image/png", body: "" });
      const data = png(200_000);
      const { answer } = rawUpload(
        origin,
        async (socket) => {
          socket.write(head);
          // A trickle first (each byte well within idleTimeout), then nothing at all.
          for (let i = 0; i < 4; i++) {
            socket.write(data.subarray(i * 50_000, i * 50_000 + 10_000));
            await sleep(200);
          }
        },
        { "Content-Length": String(head.length + data.length + 100) },
      );
      // Meanwhile the server serves others.
      await expectStillServing();
      const result = await answer;
      expect(result?.status).toBe(408);
      expect(JSON.parse(result!.text)).toMatchObject({
        error: { code: "E_UPLOAD_TIMEOUT" },
      });
      await expectEmpty();
    });

    it("an aborted upload (the client disconnects mid-file): nothing kept, no crash", async () => {
      await disconnectMidFile(origin);
      // The refusal is processed after the disconnect: give the cleanup its moment.
      for (let i = 0; i < 50 && (await names(storage)).length > 0; i++) await sleep(100);
      await expectEmpty();
      await expectStillServing();
    });
  });
}
