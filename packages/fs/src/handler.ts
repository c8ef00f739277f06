/**
 * `createFsHandler`: serves an fs storage over HTTP the way a cloud bucket would.
 *
 * GET/HEAD with ranges and conditional requests; public storages serve plain URLs, private ones
 * only signed URLs; PUT accepts signed uploads (size limit and content type enforced, written
 * atomically through the Storage facade). No directory listings. Bad input gets a 4xx with a short
 * body that never echoes a secret or a filesystem path; nothing a client sends can crash the process.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  InvalidArgumentError,
  inertContentHeaders,
  normalizeName,
  notModifiedHeaders,
  type ObjectStat,
  planFileResponse,
  Storage,
  StorageError,
  sendBody,
  type Visibility,
} from "@storages/core";
import { FsDriver } from "./driver.js";
import { decodeUrlPath, UrlSigner, type VerifyResult } from "./signer.js";

export interface FsHandlerOptions {
  /** Key that signed URLs were signed with. Default: the driver's `signing.key`. */
  signingKey?: string | Uint8Array | undefined;
  /**
   * URL path the handler is mounted at, e.g. "/media/". Default: the path of the driver's signing
   * base URL, else of its baseUrl, else of the storage's publicUrl, else "/". Requests outside it go to `next()` (Connect/Express)
   * or get a 404. Express mounts (`app.use("/media", handler)`) work: `req.originalUrl` is used.
   */
  basePath?: string | undefined;
  /** "public" serves unsigned GETs. Default: the storage's visibility. */
  visibility?: Visibility | undefined;
  /**
   * Serve active content (HTML, SVG, XML, scripts) inline. Default: the driver's
   * `inlineActiveContent` option (false): such files go out as attachments with
   * `Content-Security-Policy: sandbox`, so a stored page never runs on this origin.
   */
  inlineActiveContent?: boolean | undefined;
  /** Called with unexpected errors (the client got a 500). Default: none (no logging). */
  onError?: ((error: unknown, request: IncomingMessage) => void) | undefined;
}

export type FsRequestHandler = (
  request: IncomingMessage,
  response: ServerResponse,
  next?: (error?: unknown) => void,
) => void;

const ALLOW = "GET, HEAD, PUT";
/** Size of read chunks when streaming a response. */
const RESPONSE_CHUNK = 64 * 1024;

/** Thrown inside the upload pipeline when the body passes the signed size limit. */
class BodyTooLarge extends Error {}

/** A response decided before any file is touched. */
class HttpRefusal extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(body);
  }
}

function refuse(status: number, body: string, headers?: Record<string, string>): never {
  throw new HttpRefusal(status, body, headers);
}

function sameMediaType(a: string, b: string): boolean {
  const normalize = (value: string) => value.toLowerCase().replace(/\s+/g, "");
  return normalize(a) === normalize(b);
}

/** Cache-Control for a response: private files never get a header that lets a shared cache keep them. */
function cacheControlFor(stat: ObjectStat, isPrivate: boolean): string | undefined {
  if (!isPrivate) return stat.cacheControl;
  if (stat.cacheControl && !/\bpublic\b|\bs-maxage\b/i.test(stat.cacheControl)) return stat.cacheControl;
  return "private, no-store";
}

function statusOf(error: unknown): number {
  if (!StorageError.isInstance(error)) return 500;
  switch (error.code) {
    case "E_NOT_FOUND":
      return 404;
    case "E_INVALID_PATH":
    case "E_PATH_TRAVERSAL":
    case "E_INVALID_ARGUMENT":
      return 400;
    case "E_ALREADY_EXISTS":
      return 409;
    case "E_RANGE_NOT_SATISFIABLE":
      return 416;
    case "E_TIMEOUT":
      return 503;
    default:
      return 500;
  }
}

const STATUS_TEXT: Record<number, string> = {
  400: "Bad request",
  404: "Not found",
  409: "Conflict",
  416: "Range not satisfiable",
  500: "Internal error",
  503: "Service unavailable",
};

function send(
  response: ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string> = {},
): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const text = `${body}\n`;
  response.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": String(Buffer.byteLength(text)),
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
    ...headers,
  });
  response.end(response.req?.method === "HEAD" ? undefined : text);
}

/**
 * A Node `http` request handler (also Connect/Express middleware) serving an fs storage.
 * `target` is a Storage over an FsDriver, or the FsDriver itself.
 */
export function createFsHandler(
  target: Storage | FsDriver,
  options: FsHandlerOptions = {},
): FsRequestHandler {
  const storage = Storage.isInstance(target) ? target : new Storage(target);
  if (!(storage.driver instanceof FsDriver)) {
    throw new InvalidArgumentError(
      "createFsHandler() serves fs storages only: pass a Storage whose driver is an FsDriver.",
    );
  }
  const driver: FsDriver = storage.driver;
  const visibility = options.visibility ?? storage.visibility;
  const basePath = decodeUrlPath(
    options.basePath ??
      new URL(
        driver.signer?.baseUrl ?? driver.baseUrl ?? storage.publicBaseUrl ?? "/",
        "http://placeholder.invalid",
      ).pathname,
  );
  if (basePath === undefined || !basePath.startsWith("/")) {
    throw new InvalidArgumentError(
      'createFsHandler() basePath must be a URL path starting with "/", e.g. "/media/".',
    );
  }
  const inlineActiveContent = options.inlineActiveContent ?? driver.inlineActiveContent;
  const mount = basePath.endsWith("/") ? basePath : `${basePath}/`;
  const signer =
    options.signingKey !== undefined
      ? new UrlSigner(options.signingKey, mount, "createFsHandler signingKey")
      : driver.signer;

  /** The storage key a request names, or undefined when the request is not for this handler. */
  function keyOf(rawPath: string): { key: string; path: string } | undefined {
    const path = decodeUrlPath(rawPath);
    if (path === undefined) {
      // Outside the mount, another route's URL (mounted app-wide, the handler sees them all).
      if (!rawPath.startsWith(mount)) return undefined;
      refuse(400, "Bad request: the URL path cannot be decoded or hides an encoded separator.");
    }
    if (!path.startsWith(mount)) return undefined;
    const name = path.slice(mount.length);
    // The mount itself and anything ending in "/" would be a directory: there are no listings.
    if (name === "" || name.endsWith("/")) refuse(404, "Not found");
    try {
      return { key: normalizeName(name), path };
    } catch {
      refuse(400, "Bad request: invalid file name.");
    }
  }

  function checkSignature(path: string, query: string, method: "GET" | "PUT"): VerifyResult & { ok: true } {
    if (!signer) refuse(403, "Forbidden: this server does not accept signed URLs.");
    const result = signer.verifyRequest(path, query);
    if (!result.ok) {
      const reason =
        result.reason === "expired"
          ? "Forbidden: the signed URL has expired."
          : result.reason === "tampered"
            ? "Forbidden: the signature does not match this URL."
            : "Forbidden: the signed URL is malformed.";
      refuse(403, reason);
    }
    if (result.method !== method)
      refuse(403, `Forbidden: this URL is signed for ${result.method}, not ${method}.`);
    return result;
  }

  async function serve(
    request: IncomingMessage,
    response: ServerResponse,
    key: string,
    signed: (VerifyResult & { ok: true }) | undefined,
  ): Promise<void> {
    const abort = new AbortController();
    const { handle, stat } = await driver.openFile(key, { signal: abort.signal });
    let handedOver = false;
    try {
      // Quoted by the driver, as every driver's etags are (normalizeEtag).
      const etag = stat.etag ?? '""';
      const lastModified = stat.lastModified.toUTCString();
      const headers: Record<string, string> = {
        etag,
        "last-modified": lastModified,
        "accept-ranges": "bytes",
        "x-content-type-options": "nosniff",
        "content-type": signed?.contentType ?? stat.contentType ?? "application/octet-stream",
      };
      const cacheControl = cacheControlFor(stat, visibility === "private");
      if (cacheControl) headers["cache-control"] = cacheControl;
      const disposition = signed?.contentDisposition ?? stat.contentDisposition;
      if (disposition) headers["content-disposition"] = disposition;
      if (stat.contentEncoding) headers["content-encoding"] = stat.contentEncoding;
      // An uploaded page or SVG must never run as this origin: download it, in a sandbox. A
      // download asked for by a signed URL keeps its own file name.
      if (!inlineActiveContent) {
        const inert = inertContentHeaders(key, headers["content-type"]);
        const asked = headers["content-disposition"];
        Object.assign(headers, inert);
        if (asked && inert["content-disposition"] && /^\s*attachment\b/i.test(asked)) {
          headers["content-disposition"] = asked;
        }
      }

      // Conditional requests in RFC 9110's order, then a range where one applies (core's one plan).
      const plan = planFileResponse(request.method ?? "GET", request.headers, {
        etag,
        lastModified: stat.lastModified,
        size: stat.size,
      });
      if (plan.status === 304) {
        response.writeHead(304, notModifiedHeaders(headers));
        response.end();
        return;
      }
      if (plan.status === 412) {
        send(response, 412, "Precondition failed: the file is not the version the request names.");
        return;
      }
      if (plan.status === 416) {
        send(response, 416, "Range not satisfiable", {
          "content-range": plan.contentRange,
          "accept-ranges": "bytes",
        });
        return;
      }
      const { start, end, length } = plan;
      if (plan.contentRange) headers["content-range"] = plan.contentRange;
      headers["content-length"] = String(length);
      response.writeHead(plan.status, headers);
      if (!plan.body) {
        response.end();
        return;
      }
      handedOver = true;
      const stream = handle.createReadStream({ start, end, highWaterMark: RESPONSE_CHUNK, autoClose: true });
      await sendBody(stream, response, length);
    } finally {
      if (!handedOver) await handle.close();
    }
  }

  async function upload(
    request: IncomingMessage,
    response: ServerResponse,
    key: string,
    signed: VerifyResult & { ok: true },
  ): Promise<void> {
    const sentType = request.headers["content-type"];
    if (
      signed.contentType !== undefined &&
      (sentType === undefined || !sameMediaType(sentType, signed.contentType))
    ) {
      refuse(403, `Forbidden: this upload must be sent with Content-Type: ${signed.contentType}.`);
    }
    const limit = signed.maxBytes;
    const declared = request.headers["content-length"];
    if (limit !== undefined && declared !== undefined && Number(declared) > limit) {
      refuse(413, `Payload too large: the limit is ${limit} bytes.`, { connection: "close" });
    }
    let received = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback: TransformCallback) {
        received += chunk.length;
        if (limit !== undefined && received > limit) callback(new BodyTooLarge());
        else callback(null, chunk);
      },
    });
    const feeding = pipeline(request, counter).catch(() => {});
    try {
      const result = await storage.save(key, counter, {
        contentType: signed.contentType ?? sentType,
        cacheControl: signed.cacheControl,
        overwrite: true,
      });
      await feeding;
      response.writeHead(200, {
        etag: result.etag ?? '""',
        "content-length": "0",
        "x-content-type-options": "nosniff",
      });
      response.end();
    } catch (error) {
      counter.destroy();
      const cause = StorageError.isInstance(error) ? error.cause : error;
      if (cause instanceof BodyTooLarge || error instanceof BodyTooLarge) {
        refuse(413, `Payload too large: the limit is ${limit} bytes.`, { connection: "close" });
      }
      if (request.destroyed || request.readableAborted) return; // the client went away; nothing was kept
      throw error;
    }
  }

  async function handle(
    request: IncomingMessage,
    response: ServerResponse,
    next?: (error?: unknown) => void,
  ) {
    const url = (request as IncomingMessage & { originalUrl?: string }).originalUrl ?? request.url ?? "";
    if (!url.startsWith("/")) refuse(400, "Bad request: expected a path.");
    const queryAt = url.indexOf("?");
    const rawPath = queryAt === -1 ? url : url.slice(0, queryAt);
    const query = queryAt === -1 ? "" : url.slice(queryAt + 1);
    const target = keyOf(rawPath);
    if (target === undefined) {
      if (next) return next();
      refuse(404, "Not found");
    }
    const method = request.method ?? "GET";
    const isSigned = new URLSearchParams(query).has("sig");
    if (method === "GET" || method === "HEAD") {
      const signed = isSigned ? checkSignature(target.path, query, "GET") : undefined;
      if (!signed && visibility !== "public")
        refuse(403, "Forbidden: this file is private; use a signed URL.");
      return serve(request, response, target.key, signed);
    }
    if (method === "PUT") {
      if (!isSigned) refuse(403, "Forbidden: uploads need a signed URL.");
      return upload(request, response, target.key, checkSignature(target.path, query, "PUT"));
    }
    refuse(405, "Method not allowed", { allow: ALLOW });
  }

  return (request, response, next) => {
    handle(request, response, next).catch((error: unknown) => {
      if (error instanceof HttpRefusal) {
        send(response, error.status, error.body, error.headers);
        if (error.headers.connection === "close") response.once("finish", () => request.destroy());
        return;
      }
      const status = statusOf(error);
      if (status === 500) options.onError?.(error, request);
      send(response, status, STATUS_TEXT[status] ?? "Error");
    });
  };
}
