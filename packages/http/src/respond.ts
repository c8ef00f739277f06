/**
 * Answers for upload routes, the same for every adapter: JSON bodies, and a refused request's
 * connection closed once the answer is out (the client may still be sending a body nobody reads).
 */
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from "node:http";
import { uploadErrorResponse } from "./errors.js";

/** After a refusal, how long the rest of a body is read (and dropped) so the client sees the answer. */
const LINGER_MS = 2000;
/** …and at most how many bytes of it. */
const LINGER_BYTES = 4 * 1024 * 1024;

export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": String(Buffer.byteLength(text)),
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    ...headers,
  });
  response.end(text);
}

/**
 * Reason phrases Node does not know (it would send "499 unknown"). 499, nginx's "client closed
 * request", is written only when an app answers an E_UPLOAD_ABORTED of its own on a connection that
 * is still open (an onUpload or a Fastify route that throws one): handleUpload's own aborts never
 * reach the wire, since Node destroys the socket with the request (a reset, or a half-close: its
 * parser fails on the missing body) and sendUploadError then writes nothing. Kept for that case,
 * which the public sendUploadError/replyUploadError allow and the tests exercise.
 */
const REASON_PHRASES: Readonly<Record<number, string>> = { 499: "Client Closed Request" };

/**
 * Sends the typed JSON refusal for `error` (an UploadError's status and reason, or a 500 without
 * detail): every refusal of an upload route goes out here, its status from UPLOAD_REJECTIONS. A
 * body still arriving is dropped for a moment so the client reads the answer instead of a reset,
 * then the connection is closed. Nothing happens when the client is already gone.
 */
export function sendUploadError(request: IncomingMessage, response: ServerResponse, error: unknown): void {
  if (response.destroyed || request.socket?.destroyed) return;
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const { status, body, headers } = uploadErrorResponse(error);
  const unread = !request.complete;
  if (STATUS_CODES[status] === undefined && REASON_PHRASES[status] !== undefined)
    response.statusMessage = REASON_PHRASES[status];
  sendJson(response, status, body, unread ? { ...headers, connection: "close" } : headers);
  if (!unread) return;
  let drained = 0;
  const close = () => request.socket?.destroy();
  const timer = setTimeout(close, LINGER_MS);
  timer.unref();
  request.on("data", (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > LINGER_BYTES) close();
  });
  request.once("end", () => clearTimeout(timer));
  request.once("close", () => clearTimeout(timer));
  request.resume();
}
