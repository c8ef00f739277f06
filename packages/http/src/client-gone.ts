/**
 * Whether a request's client went away, for every route that reads a body (uploads, the direct-
 * upload endpoints). Internal: not exported from the package.
 */
import type { IncomingMessage } from "node:http";

/**
 * Whether the client went away before its request body ended: the request destroyed (an aborted
 * client, a reset) or its connection closed, with the body incomplete. Not `!request.complete` alone,
 * which is also true while a connected client is still sending (a parser that fails early).
 */
export function clientGone(request: IncomingMessage): boolean {
  if (request.complete) return false;
  // Node destroys a request whose client aborted (ECONNRESET "aborted") or whose socket closed.
  return request.destroyed || request.socket?.destroyed === true;
}
