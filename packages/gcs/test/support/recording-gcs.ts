/**
 * A loopback HTTP server speaking just enough of the GCS JSON API for unit tests, recording every
 * request. It exists to check what the driver SENDS (query parameters, headers, chunk sizes) in the
 * cases the Cloud Storage emulator cannot check: preconditions, ACLs, chunked resumable uploads.
 * It proves nothing about GCS itself; the conformance suite against a real server does that.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { crc32cUpdate } from "@storages/core";

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage["headers"];
  body: Buffer;
}

export interface StoredObject {
  data: Buffer;
  metadata: Record<string, unknown>;
}

/** A reply that replaces the default behaviour for one request. */
export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Announce the whole body but send only this many bytes, then reset the connection. */
  cutAfter?: number;
}

export type Hook = (request: RecordedRequest) => Reply | undefined | Promise<Reply | undefined>;

interface Session {
  name: string;
  metadata: Record<string, unknown>;
  query: URLSearchParams;
  chunks: Buffer[];
  received: number;
}

let generation = 1_700_000_000_000;

function crc32cBase64(data: Buffer): string {
  const value = crc32cUpdate(0, data);
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value >>> 0);
  return out.toString("base64");
}

export class RecordingGcs {
  readonly requests: RecordedRequest[] = [];
  readonly objects = new Map<string, StoredObject>();
  /** Consulted first for every request; return undefined for the default behaviour. */
  hook: Hook | undefined;
  private readonly sessions = new Map<string, Session>();
  private server: Server | undefined;
  endpoint = "";

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error) => {
        res.statusCode = 500;
        res.end(String(error));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  /** Requests whose path contains `part` (and, optionally, with this method). */
  find(part: string, method?: string): RecordedRequest[] {
    return this.requests.filter(
      (r) => r.path.includes(part) && (method === undefined || r.method === method),
    );
  }

  put(name: string, data: Buffer | string, metadata: Record<string, unknown> = {}): void {
    const bytes = Buffer.from(data);
    this.objects.set(name, { data: bytes, metadata: this.describe(name, bytes, metadata) });
  }

  private describe(name: string, data: Buffer, metadata: Record<string, unknown>): Record<string, unknown> {
    generation += 1;
    return {
      kind: "storage#object",
      bucket: "b",
      contentType: "application/octet-stream",
      ...metadata,
      name,
      size: String(data.length),
      generation: String(generation),
      metageneration: "1",
      etag: `etag-${generation}`,
      md5Hash: createHash("md5").update(data).digest("base64"),
      crc32c: crc32cBase64(data),
      timeCreated: new Date().toISOString(),
      updated: new Date().toISOString(),
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? "/", this.endpoint);
    const request: RecordedRequest = {
      method: req.method ?? "GET",
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      body: Buffer.concat(chunks),
    };
    this.requests.push(request);
    const reply = (await this.hook?.(request)) ?? this.route(request);
    res.statusCode = reply.status;
    for (const [name, value] of Object.entries(reply.headers ?? {})) res.setHeader(name, value);
    if (reply.body === undefined) {
      res.end();
    } else if (Buffer.isBuffer(reply.body) && reply.cutAfter !== undefined) {
      res.setHeader("content-length", String(reply.body.length));
      res.write(reply.body.subarray(0, reply.cutAfter), () => setTimeout(() => res.socket?.destroy(), 20));
    } else if (Buffer.isBuffer(reply.body)) {
      res.end(reply.body);
    } else {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(reply.body));
    }
  }

  private error(status: number, message: string): Reply {
    return { status, body: { error: { code: status, message, errors: [{ message, reason: "x" }] } } };
  }

  /** GCS's own create-exclusive check: ifGenerationMatch=0 fails when the name exists. */
  private preconditionFails(query: URLSearchParams, name: string): boolean {
    return query.get("ifGenerationMatch") === "0" && this.objects.has(name);
  }

  private route(r: RecordedRequest): Reply {
    const upload = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(r.path);
    if (upload && r.method === "POST" && r.query.get("uploadType") === "multipart") {
      const { metadata, data } = parseMultipart(r);
      const name = String(metadata.name ?? r.query.get("name"));
      if (this.preconditionFails(r.query, name))
        return this.error(412, "At least one of the pre-conditions you specified did not hold.");
      this.put(name, data, metadata);
      return { status: 200, body: this.objects.get(name)!.metadata };
    }
    if (upload && r.method === "POST" && r.query.get("uploadType") === "resumable") {
      const metadata = r.body.length ? JSON.parse(r.body.toString("utf8")) : {};
      // The SDK sends the content type as a header of the session request, not in the JSON.
      if (r.headers["x-upload-content-type"]) metadata.contentType = r.headers["x-upload-content-type"];
      const name = String(r.query.get("name") ?? metadata.name);
      if (this.preconditionFails(r.query, name))
        return this.error(412, "At least one of the pre-conditions you specified did not hold.");
      const id = `session-${this.sessions.size + 1}`;
      this.sessions.set(id, { name, metadata, query: r.query, chunks: [], received: 0 });
      return {
        status: 200,
        headers: {
          location: `${this.endpoint}/upload/storage/v1/b/${upload[1]}/o?uploadType=resumable&upload_id=${id}`,
        },
      };
    }
    if (upload && r.method === "PUT") {
      const session = this.sessions.get(r.query.get("upload_id") ?? "");
      if (!session) return this.error(404, "No such upload");
      const range0 = String(r.headers["content-range"] ?? "");
      // "bytes */*": how far did the session get? (asked before resuming after a failed chunk)
      if (r.body.length === 0 && /^bytes \*\/(\*|\d+)$/.test(range0)) {
        return {
          status: 308,
          headers: session.received > 0 ? { range: `bytes=0-${session.received - 1}` } : {},
        };
      }
      session.chunks.push(r.body);
      session.received += r.body.length;
      const range = String(r.headers["content-range"] ?? "");
      // "bytes 0-262143/*": a chunk of an upload whose end is not known yet.
      if (/^bytes \d+-\d+\/\*$/.test(range)) {
        return { status: 308, headers: { range: `bytes=0-${session.received - 1}` } };
      }
      const data = Buffer.concat(session.chunks);
      if (this.preconditionFails(session.query, session.name))
        return this.error(412, "precondition failed at finalisation");
      this.put(session.name, data, session.metadata);
      return { status: 200, body: this.objects.get(session.name)!.metadata };
    }
    const rewrite = /^\/storage\/v1\/b\/[^/]+\/o\/(.+)\/rewriteTo\/b\/[^/]+\/o\/(.+)$/.exec(r.path);
    if (rewrite && r.method === "POST") {
      const from = decodeURIComponent(rewrite[1]!);
      const to = decodeURIComponent(rewrite[2]!);
      const source = this.objects.get(from);
      if (!source) return this.error(404, `No such object: b/${from}`);
      if (this.preconditionFails(r.query, to)) return this.error(412, "precondition failed");
      const { name: _n, size: _s, generation: _g, etag: _e, ...kept } = source.metadata;
      this.put(to, source.data, kept);
      return {
        status: 200,
        body: {
          kind: "storage#rewriteResponse",
          done: true,
          objectSize: String(source.data.length),
          resource: this.objects.get(to)!.metadata,
        },
      };
    }
    const object = /^\/storage\/v1\/b\/[^/]+\/o\/(.+)$/.exec(r.path);
    if (object) {
      const name = decodeURIComponent(object[1]!);
      const stored = this.objects.get(name);
      if (r.method === "DELETE") {
        if (!stored) return this.error(404, `No such object: b/${name}`);
        this.objects.delete(name);
        return { status: 204 };
      }
      if (!stored) return this.error(404, `No such object: b/${name}`);
      if (r.method === "PATCH") {
        const patch = r.body.length ? JSON.parse(r.body.toString("utf8")) : {};
        Object.assign(stored.metadata, patch);
        const acl = r.query.get("predefinedAcl");
        if (acl) stored.metadata.acl = acl === "publicRead" ? [{ entity: "allUsers", role: "READER" }] : [];
        return { status: 200, body: stored.metadata };
      }
      if (r.query.get("alt") === "media") {
        const range = /^bytes=(\d+)-(\d*)$/.exec(String(r.headers.range ?? ""));
        if (range) {
          const start = Number(range[1]);
          if (start >= stored.data.length) return { status: 416, body: Buffer.from("") };
          const end = range[2] ? Math.min(Number(range[2]), stored.data.length - 1) : stored.data.length - 1;
          return {
            status: 206,
            body: stored.data.subarray(start, end + 1),
            headers: { "content-range": `bytes ${start}-${end}/${stored.data.length}` },
          };
        }
        return { status: 200, body: stored.data };
      }
      return { status: 200, body: stored.metadata };
    }
    return this.error(501, `not implemented in the recording server: ${r.method} ${r.path}`);
  }
}

/** The JSON metadata and the media of a multipart/related upload. */
export function parseMultipart(r: RecordedRequest): { metadata: Record<string, unknown>; data: Buffer } {
  const boundary = /boundary="?([^";]+)"?/.exec(String(r.headers["content-type"]))?.[1];
  if (!boundary) throw new Error("no multipart boundary");
  const parts: Buffer[] = [];
  const delimiter = Buffer.from(`--${boundary}`);
  let index = r.body.indexOf(delimiter);
  while (index !== -1) {
    const next = r.body.indexOf(delimiter, index + delimiter.length);
    if (next === -1) break;
    parts.push(r.body.subarray(index + delimiter.length, next));
    index = next;
  }
  const bodyOf = (part: Buffer) => {
    const start = part.indexOf("\r\n\r\n") + 4;
    return part.subarray(start, part.length - 2);
  };
  return { metadata: JSON.parse(bodyOf(parts[0]!).toString("utf8")), data: Buffer.from(bodyOf(parts[1]!)) };
}
