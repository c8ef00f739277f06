/**
 * sendBody over real HTTP (node:http on port 0): the client gets exactly the promised bytes, or a
 * cut connection, never a reply that hangs or overflows; the body is closed however it ends.
 */
import { once } from "node:events";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { PassThrough, Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { sendBody } from "../src/index.js";

let server: Server | undefined;

afterEach(() => {
  server?.closeAllConnections();
  server?.close();
  server = undefined;
});

/** A server answering every request with `body()`, Content-Length `length`; resolves its port and a log of each send's end. */
async function serve(body: () => Readable, length: number) {
  const bodies: Readable[] = [];
  const sends: Promise<void>[] = [];
  server = createServer((_req, res) => {
    const stream = body();
    bodies.push(stream);
    res.writeHead(200, { "content-length": String(length) });
    sends.push(sendBody(stream, res, length));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { port: (server.address() as AddressInfo).port, bodies, sends };
}

/** The reply's bytes, or the error that cut it. */
function get(port: number): Promise<Buffer | Error> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path: "/" }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve(Buffer.concat(chunks)));
      res.on("error", resolve);
    });
    req.on("error", resolve);
    req.end();
  });
}

const chunks =
  (...parts: string[]) =>
  () =>
    Readable.from(parts.map((p) => Buffer.from(p)));

describe("sendBody", () => {
  it("sends a body of the promised length, in chunks, and ends the reply", async () => {
    const { port, sends } = await serve(chunks("hello ", "world"), 11);
    expect(String(await get(port))).toBe("hello world");
    await Promise.all(sends);
  });

  it("cuts the connection when the body is shorter than promised (the client does not wait forever)", async () => {
    const { port, sends } = await serve(chunks("short"), 11);
    expect(await get(port)).toBeInstanceOf(Error);
    await Promise.all(sends);
  });

  it("never writes more than promised when the body is longer", async () => {
    const { port, sends } = await serve(chunks("hello ", "world", " and more"), 11);
    const reply = await get(port);
    // Cut as soon as the body overflows: what arrived is at most the promised bytes.
    if (reply instanceof Buffer) expect(String(reply)).toBe("hello world");
    else expect(reply).toBeInstanceOf(Error);
    await Promise.all(sends);
  });

  it("closes the body and resolves when the body fails", async () => {
    const { port, bodies, sends } = await serve(
      () =>
        new Readable({
          read() {
            this.push(Buffer.from("part"));
            this.destroy(new Error("disk failed"));
          },
        }),
      11,
    );
    expect(await get(port)).toBeInstanceOf(Error);
    await Promise.all(sends);
    expect(bodies[0]!.destroyed).toBe(true);
  });

  it("closes the body when the client goes away mid-reply", async () => {
    let pushed = 0;
    const { port, bodies, sends } = await serve(
      () =>
        new Readable({
          read() {
            // An endless body: only the client's leaving ends this reply.
            pushed += 1;
            this.push(Buffer.alloc(64 * 1024, 1));
          },
        }),
      Number.MAX_SAFE_INTEGER,
    );
    await new Promise<void>((resolve) => {
      const req = request({ host: "127.0.0.1", port, path: "/" }, (res) => {
        res.once("data", () => {
          req.destroy();
          resolve();
        });
      });
      req.on("error", () => {});
      req.end();
    });
    await Promise.all(sends);
    expect(bodies[0]!.destroyed).toBe(true);
    expect(pushed).toBeGreaterThan(0);
  });

  it("closes the body at once when the response is already gone", async () => {
    const body = Readable.from([Buffer.from("x")]);
    const response = new PassThrough();
    response.destroy();
    await sendBody(body, response, 1);
    expect(body.destroyed).toBe(true);
  });
});
