/**
 * Writing a body into an HTTP response whose Content-Length is already promised: for every place
 * storages serves bytes itself (the fs handler, the media route, the static file server).
 */
import type { Readable, Writable } from "node:stream";

/**
 * Writes `body` to `response`: exactly `length` bytes, as Content-Length promised. A body that
 * turns out shorter or longer (the file or object changed between its stat and its read) cuts the
 * connection: sent short, the client would wait for the rest forever; sent long, the extra bytes
 * would run into the next reply on the connection. A client that goes away, or a body that fails,
 * closes both. Never rejects: it resolves when the response is over, however it ended.
 *
 * Not stream.pipeline: its AbortController, the AbortError it makes for every call and its
 * listeners took ~8 % of serving a small file (bench/static-serve.mjs, profiled).
 */
export function sendBody(body: Readable, response: Writable, length: number): Promise<void> {
  const cut = () => {
    body.destroy();
    response.destroy();
  };
  // Gone while the body was opened: its close event has been and will not come again.
  if (response.destroyed || response.closed) {
    cut();
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    let sent = 0;
    body.on("data", (chunk: Buffer) => {
      sent += chunk.length;
      if (sent > length) cut();
      else if (!response.write(chunk)) body.pause();
    });
    response.on("drain", () => body.resume());
    body.once("end", () => (sent === length ? response.end() : cut()));
    body.on("error", cut);
    response.once("close", () => {
      body.destroy();
      resolve();
    });
  });
}
