/**
 * Thin adapters over `handleUpload` for node:http, Express (multer's habits: a middleware that
 * puts the result on the request) and Fastify (@fastify/multipart's: a plugin, a request method).
 * None imports its framework: they use the Node request and response every framework exposes.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Storage } from "@storages/core";
import { UploadError } from "./errors.js";
import { notMultipart } from "./not-multipart.js";
import { sendJson, sendUploadError } from "./respond.js";
import { createSaveLimiter, handleUpload, type UploadOptions, type UploadResult } from "./upload.js";

/** How many saves an adapter's route runs at once by default (memory: see `saveLimiter`). */
export const DEFAULT_UPLOAD_CONCURRENCY = 8;

export interface RouteOptions extends UploadOptions {
  /** Saves this route runs at once, across its requests. Default 8 (DEFAULT_UPLOAD_CONCURRENCY). */
  concurrency?: number | undefined;
}

/** The route's options with its own save limiter, unless one was given. */
function routeOptions({ concurrency, ...options }: RouteOptions): UploadOptions {
  return {
    ...options,
    saveLimiter: options.saveLimiter ?? createSaveLimiter(concurrency ?? DEFAULT_UPLOAD_CONCURRENCY),
  };
}

export interface UploadHandlerOptions extends RouteOptions {
  /** Answers a stored upload. Default: 201 with `{ files, fields }` as JSON. */
  onUpload?:
    | ((result: UploadResult, request: IncomingMessage, response: ServerResponse) => unknown)
    | undefined;
  /** Hears errors that are not the client's fault (the client got a 500 without detail). */
  onError?: ((error: unknown, request: IncomingMessage) => void) | undefined;
}

/**
 * 405 E_METHOD_NOT_ALLOWED (with `Allow: POST`), the way every refusal goes out; a body the client
 * is sending (a PUT of a file) is dropped for a moment, as after any refusal.
 */
function methodNotAllowed(request: IncomingMessage, response: ServerResponse): void {
  const method = (request.method ?? "").slice(0, 20);
  sendUploadError(
    request,
    response,
    new UploadError(
      "E_METHOD_NOT_ALLOWED",
      `Send uploads with POST (multipart/form-data), not ${JSON.stringify(method)}.`,
    ),
  );
}

/**
 * `(request, response) => void` for `http.createServer` or any router: the whole upload route.
 * Uploads are POSTs: any other method is answered 405 (`Allow: POST`,
 * `{ "error": { "code": "E_METHOD_NOT_ALLOWED", … } }`) and nothing is stored.
 */
export function createUploadHandler(
  storage: Storage,
  options: UploadHandlerOptions = {},
): (request: IncomingMessage, response: ServerResponse) => void {
  const { onUpload, onError, ...rest } = options;
  const uploadOptions = routeOptions(rest);
  return (request, response) => {
    if (request.method !== "POST") {
      methodNotAllowed(request, response);
      return;
    }
    handleUpload(request, storage, uploadOptions)
      .then((result) => (onUpload ? onUpload(result, request, response) : sendJson(response, 201, result)))
      .catch((error: unknown) => {
        if (!UploadError.isInstance(error)) onError?.(error, request);
        sendUploadError(request, response, error);
      });
  };
}

/** The request Express hands a middleware, as far as the upload needs it. */
export type RequestWithUpload = IncomingMessage & { upload?: UploadResult };

/**
 * Express middleware (multer style): stores the files, sets `req.upload` (`{ files, fields }`) and
 * calls `next()`. A refused upload is answered here with the typed JSON body; any other error goes
 * to `next(error)`, after the files of this request were removed.
 */
export function uploadMiddleware(
  storage: Storage,
  routeOptionsGiven: RouteOptions = {},
): (request: IncomingMessage, response: ServerResponse, next: (error?: unknown) => void) => void {
  const options = routeOptions(routeOptionsGiven);
  return (request, response, next) => {
    handleUpload(request, storage, options).then(
      (result) => {
        (request as RequestWithUpload).upload = result;
        next();
      },
      (error: unknown) => {
        if (UploadError.isInstance(error)) sendUploadError(request, response, error);
        else next(error);
      },
    );
  };
}

/** The parts of a Fastify instance, request and reply the plugin uses (no import of fastify itself). */
interface FastifyLike {
  addContentTypeParser(
    type: string,
    parser: (request: unknown, payload: unknown, done: (error: Error | null, body?: unknown) => void) => void,
  ): void;
  decorateRequest(name: string, value: unknown): void;
}
interface FastifyRequestLike {
  raw: IncomingMessage;
}

/** What the plugin adds to every Fastify request. */
export interface FastifyUploadRequest {
  /** Streams the request's files into `storage` (handleUpload); throws UploadError when refused. */
  saveUpload(storage: Storage, options?: UploadOptions): Promise<UploadResult>;
}

/**
 * Fastify plugin (@fastify/multipart style): `app.register(fastifyUploads)`, then in a route
 * `const { files } = await request.saveUpload(storage, options)`. It leaves multipart bodies
 * unparsed for `saveUpload`, and is not encapsulated (like fastify-plugin), so every route sees it.
 * Answer a refusal with `replyUploadError(reply, error)` in the route, and in the route's
 * `errorHandler` too: a body that is not multipart is refused by Fastify before the route runs.
 */
export function fastifyUploads(
  fastify: FastifyLike,
  pluginOptions: { concurrency?: number | undefined } | undefined,
  done: (error?: Error) => void,
): void {
  // One limiter for every route of the app: saves at once, across requests.
  const saveLimiter = createSaveLimiter(pluginOptions?.concurrency ?? DEFAULT_UPLOAD_CONCURRENCY);
  fastify.addContentTypeParser("multipart/form-data", (_request, _payload, parsed) => parsed(null));
  fastify.decorateRequest(
    "saveUpload",
    function (this: FastifyRequestLike, storage: Storage, options?: UploadOptions) {
      return handleUpload(this.raw, storage, { saveLimiter, ...options });
    },
  );
  done();
}
// What fastify-plugin sets: the decorations belong to the parent scope, not a child context.
Object.assign(fastifyUploads, {
  [Symbol.for("skip-override")]: true,
  [Symbol.for("fastify.display-name")]: "@storages/http",
});

interface FastifyReplyLike {
  hijack(): void;
  raw: ServerResponse;
  request: FastifyRequestLike;
}

/**
 * Answers `error` on a Fastify reply the way the other adapters do (typed JSON; the connection
 * closed after a refusal whose body was not read). Rethrow anything that is not an UploadError
 * instead if Fastify's own error handling should see it.
 *
 * A body that is not multipart/form-data (an image/png, an octet-stream) never reaches the route:
 * Fastify refuses it first with its own untyped 415 (FST_ERR_CTP_INVALID_MEDIA_TYPE). Given that
 * error — in the upload route's `errorHandler` — this answers it as every adapter answers such a
 * body: 400 E_UPLOAD_MALFORMED, typed.
 */
export function replyUploadError(reply: FastifyReplyLike, error: unknown): void {
  reply.hijack();
  const refused = (error as { code?: unknown } | null)?.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE";
  sendUploadError(reply.request.raw, reply.raw, refused ? notMultipart(error) : error);
}
