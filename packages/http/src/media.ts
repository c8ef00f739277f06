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
  inertContentHeaders,
  isActiveContentType,
  NotFoundError,
  notModifiedHeaders,
  type ObjectStat,
  planFileResponse,
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
    // The stat the answer is judged by must be that of the bytes sent: core's open() says nothing of
    // the version it opened, so the file is stat'ed again once open, and a file replaced meanwhile
    // is answered from its new version (a resumed download then gets the whole new file, never a
    // range of it under the old ETag). Strong ETags change with every version (an ETag that comes
    // back names the same bytes), so two equal stats around the open pin the version opened.
    let current = stat;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const changed = await streamVersion(request, response, storage, name, current, options);
      if (changed === undefined) return;
      current = changed;
    }
    sendJson(
      response,
      503,
      {
        error: {
          code: "E_FILE_CHANGING",
          message: "The file kept being replaced while it was read; try again in a moment.",
        },
      },
      { "retry-after": "1" },
    );
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

/** Opens of a file that keeps being replaced before serveMedia gives up (503 E_FILE_CHANGING). */
const MAX_ATTEMPTS = 3;

function sameVersion(a: ObjectStat, b: ObjectStat): boolean {
  return a.etag === b.etag && a.size === b.size && a.lastModified.getTime() === b.lastModified.getTime();
}

/**
 * Answers the request from `stat` (conditional requests, Range, the body), and sends the body only
 * if the file opened is still that version: else sends nothing and returns the stat of the new one.
 */
async function streamVersion(
  request: IncomingMessage,
  response: ServerResponse,
  storage: Storage,
  name: string,
  stat: ObjectStat,
  options: MediaOptions,
): Promise<ObjectStat | undefined> {
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
  const plan = planFileResponse(request.method ?? "GET", request.headers, stat);
  if (plan.status === 304) {
    response.writeHead(304, notModifiedHeaders(headers));
    response.end();
    return undefined;
  }
  if (plan.status === 412) {
    sendJson(response, 412, {
      error: {
        code: "E_PRECONDITION_FAILED",
        message: "The file is not the version the request's conditions name.",
      },
    });
    return undefined;
  }
  if (plan.status === 416) {
    response.writeHead(416, { "content-range": plan.contentRange, "accept-ranges": "bytes" });
    response.end();
    return undefined;
  }
  if (plan.contentRange) headers["content-range"] = plan.contentRange;
  headers["content-length"] = String(plan.length);
  // No body to read: the answer is the stat's alone, so there is no second version to mix in.
  if (!plan.body) {
    response.writeHead(plan.status, headers);
    response.end();
    return undefined;
  }
  const body = await storage.open(
    name,
    plan.status === 206 ? { range: { start: plan.start, end: plan.end } } : {},
  );
  let now: ObjectStat;
  try {
    now = await storage.stat(name);
  } catch (error) {
    body.destroy();
    throw error;
  }
  if (!sameVersion(stat, now)) {
    body.destroy();
    return now;
  }
  response.writeHead(plan.status, headers);
  await sendBody(body, response, plan.length);
  return undefined;
}
