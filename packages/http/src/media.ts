/**
 * Private media through the app: the route checks whatever the app checks (who may see the file),
 * then either redirects to a short-lived signed URL on the storage's own origin, or — when the
 * storage has no such URL (local storage) — streams the file itself, with Range support. Either
 * way active content (HTML, SVG, XML: core's `isActiveContentType`) is never served inline: a
 * download on the storage's origin, or an attachment in a CSP sandbox on the app's.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  basename,
  evaluatePreconditions,
  inertContentHeaders,
  isActiveContentType,
  NotFoundError,
  notModifiedHeaders,
  parseRangeHeader,
  type Storage,
  StorageError,
  sendBody,
} from "@storages/core";
import { sendJson } from "./respond.js";

export interface MediaOptions {
  /**
   * "redirect": 302 to a signed URL valid `expiresIn` seconds; "stream": the app sends the bytes.
   * Default: redirect when the storage signs URLs for another origin (a bucket), else stream.
   */
  mode?: "redirect" | "stream" | undefined;
  /** Seconds a redirect's signed URL stays valid. Default 60. */
  expiresIn?: number | undefined;
  /** Serve active content inline (only for files the app wrote itself). Default false. */
  inlineActiveContent?: boolean | undefined;
}

function notFound(response: ServerResponse): void {
  sendJson(response, 404, { error: { code: "E_NOT_FOUND", message: "No such file." } });
}

/**
 * Serves the stored file `name` for this request. A missing or invalid name is a 404 (the same
 * answer, so names cannot be probed); other failures a 500 without detail (`onError` hears them).
 */
export async function serveMedia(
  request: IncomingMessage,
  response: ServerResponse,
  storage: Storage,
  name: string,
  options: MediaOptions = {},
): Promise<void> {
  try {
    const stat = await storage.stat(name);
    const active = !options.inlineActiveContent && isActiveContentType(stat.contentType);
    let mode = options.mode;
    let signedUrl: string | undefined;
    if (mode !== "stream" && storage.features.signedUrl !== "none") {
      signedUrl = await storage.signedUrl(name, {
        expiresIn: options.expiresIn ?? 60,
        ...(active ? { download: basename(name) } : {}),
      });
      mode ??= /^https?:\/\//i.test(signedUrl) ? "redirect" : "stream";
    }
    if (mode === "redirect" && signedUrl) {
      response.writeHead(302, { location: signedUrl, "cache-control": "private, no-store" });
      response.end();
      return;
    }
    const headers: Record<string, string> = {
      "content-type": stat.contentType ?? "application/octet-stream",
      "accept-ranges": "bytes",
      "cache-control": "private, no-store",
      "last-modified": stat.lastModified.toUTCString(),
      ...(stat.etag ? { etag: stat.etag } : {}),
      ...(options.inlineActiveContent
        ? { "x-content-type-options": "nosniff" }
        : inertContentHeaders(name, stat.contentType)),
    };
    const decided = evaluatePreconditions(request.method ?? "GET", request.headers, {
      etag: stat.etag,
      lastModified: stat.lastModified,
    });
    if (decided.status === 304) {
      response.writeHead(304, notModifiedHeaders(headers));
      response.end();
      return;
    }
    if (decided.status === 412) {
      sendJson(response, 412, {
        error: {
          code: "E_PRECONDITION_FAILED",
          message: "The file is not the version the request's conditions name.",
        },
      });
      return;
    }
    const range = parseRangeHeader(decided.range ? request.headers.range : undefined, stat.size);
    if (range.kind === "unsatisfiable") {
      response.writeHead(416, { "content-range": `bytes */${stat.size}`, "accept-ranges": "bytes" });
      response.end();
      return;
    }
    let status = 200;
    let length = stat.size;
    if (range.kind === "partial") {
      status = 206;
      length = range.end - range.start + 1;
      headers["content-range"] = `bytes ${range.start}-${range.end}/${stat.size}`;
    }
    headers["content-length"] = String(length);
    if (request.method === "HEAD" || length === 0) {
      response.writeHead(status, headers);
      response.end();
      return;
    }
    const body = await storage.open(
      name,
      range.kind === "partial" ? { range: { start: range.start, end: range.end } } : {},
    );
    response.writeHead(status, headers);
    await sendBody(body, response, length);
  } catch (error) {
    if (response.headersSent) {
      response.destroy();
      return;
    }
    if (
      NotFoundError.isInstance(error) ||
      StorageError.hasCode(error, "E_INVALID_PATH") ||
      StorageError.hasCode(error, "E_PATH_TRAVERSAL")
    ) {
      notFound(response);
      return;
    }
    throw error;
  }
}
