/**
 * A tiny upload service. It names storages, never backends: the environment decides whether
 * `default` is a local folder or a bucket.
 *
 *   PUT    /api/media/<name>     save a public upload        → 201 { name, size, url }
 *   GET    /api/media/<name>     stream it back through the app
 *   DELETE /api/media/<name>
 *   PUT    /api/private/<name>   save a private document     → 201 { name, size, url } (signed, 5 minutes)
 *   GET    /api/static/<name>    read a published static file (the app cannot write them)
 *   PUT    /api/static/<name>    refused: 403 E_READ_ONLY
 *   GET    /api/config           which backend each storage runs on (no secrets)
 *
 * When a storage is a local folder, this process also serves its URLs (public files under their
 * baseUrl, private ones only with a valid signature) with @storages/fs's handler. In production a
 * web server or the bucket itself serves them.
 */
import { PassThrough } from "node:stream";
import { storages as processStorages, StorageError } from "@storages/core";
import { createFsHandler } from "@storages/fs";

const STATUS = {
  E_NOT_FOUND: 404,
  E_INVALID_PATH: 400,
  E_PATH_TRAVERSAL: 400,
  E_INVALID_ARGUMENT: 400,
  E_READ_ONLY: 403,
  E_ALREADY_EXISTS: 409,
  E_RANGE_NOT_SATISFIABLE: 416,
};

function sendJson(response, status, body) {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  response.end(text);
}

function sendError(response, error) {
  if (StorageError.isInstance(error) && STATUS[error.code]) {
    // These messages are written for users and never carry secrets.
    return sendJson(response, STATUS[error.code], { code: error.code, message: error.message });
  }
  // Anything else is ours or the backend's: log it, tell the client only the code.
  console.error(error);
  const code = StorageError.isInstance(error) ? error.code : "E_INTERNAL";
  return sendJson(response, StorageError.isInstance(error) && error.retryable ? 503 : 500, { code });
}

/** The storage name in a route: percent-decoded; the Storage facade refuses traversal and bad names. */
function nameFrom(pathname, prefix) {
  try {
    return decodeURIComponent(pathname.slice(prefix.length));
  } catch {
    return "\u0000"; // undecodable: let the facade refuse it as an invalid name
  }
}

/**
 * Builds the request handler. `registry` is the process-wide `storages` (configured from the
 * environment); tests may pass another registry, e.g. one from `storages.fake()`.
 */
export async function createApp(registry = processStorages) {
  // Fail at boot, with every configuration problem listed, rather than on the first upload.
  await registry.load();
  const media = await registry.get("default");
  const documents = await registry.get("private");
  const assets = await registry.get("staticfiles");

  const fileServers = [];
  if (media.backend === "fs" && media.publicBaseUrl?.startsWith("/")) {
    fileServers.push(createFsHandler(media, { basePath: media.publicBaseUrl }));
  }
  if (documents.backend === "fs" && documents.capabilities.signedUrl) {
    fileServers.push(createFsHandler(documents));
  }

  async function api(request, response, pathname) {
    const method = request.method ?? "GET";
    if (pathname === "/api/config" && method === "GET") {
      return sendJson(response, 200, { mode: await registry.mode(), storages: await registry.describe() });
    }
    const route = [
      ["/api/media/", media],
      ["/api/private/", documents],
      ["/api/static/", assets],
    ].find(([prefix]) => pathname.startsWith(prefix));
    if (!route) return sendJson(response, 404, { code: "E_NO_ROUTE" });
    const [prefix, storage] = route;
    const name = nameFrom(pathname, prefix);

    if (method === "PUT") {
      const length = Number(request.headers["content-length"]);
      // Through a PassThrough: a refused save (read-only storage, bad name) destroys the body it was
      // given, and destroying the request itself would reset the connection before the 4xx is sent.
      const saved = await storage.save(name, request.pipe(new PassThrough()), {
        contentType: request.headers["content-type"],
        size: Number.isSafeInteger(length) ? length : undefined,
      });
      const url =
        storage === documents
          ? await storage.signedUrl(saved.name, { expiresIn: 300 })
          : await storage.url(saved.name);
      return sendJson(response, 201, { ...saved, url });
    }
    if (method === "GET") {
      const stat = await storage.stat(name);
      const stream = await storage.open(name);
      response.writeHead(200, {
        "content-type": stat.contentType ?? "application/octet-stream",
        "content-length": stat.size,
      });
      stream.on("error", (error) => response.destroy(error));
      return stream.pipe(response);
    }
    if (method === "DELETE") {
      await storage.delete(name);
      response.writeHead(204);
      return response.end();
    }
    return sendJson(response, 405, { code: "E_METHOD" });
  }

  return function handle(request, response) {
    const { pathname } = new URL(request.url ?? "/", "http://app.invalid");
    const run = pathname.startsWith("/api/")
      ? api(request, response, pathname)
      : serveFiles(fileServers, request, response);
    Promise.resolve(run).catch((error) => {
      if (response.headersSent) response.destroy(error);
      else sendError(response, error);
    });
  };
}

/** Tries each fs handler in turn (each calls next() for requests outside its mount). */
function serveFiles(handlers, request, response, index = 0) {
  const handler = handlers[index];
  if (!handler) return sendJson(response, 404, { code: "E_NO_ROUTE" });
  handler(request, response, (error) => {
    if (error) sendError(response, error);
    else serveFiles(handlers, request, response, index + 1);
  });
}
