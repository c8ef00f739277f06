/**
 * The direct-upload endpoints meet a client that goes away mid-body: its refusal is the client's
 * (E_UPLOAD_ABORTED), never an error the app's onError hears as its own.
 */
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fsStorage } from "@storages/fs";
import { afterAll, describe, expect, it } from "vitest";
import { directUploadRoutes } from "../src/index.js";
import { listen, names } from "./support/uploads.js";

const roots: string[] = [];
afterAll(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

describe("a client that goes away while sending the JSON body", () => {
  it("issue and confirm: E_UPLOAD_ABORTED, not an error for onError; nothing stored; the server keeps answering", async () => {
    const root = await mkdtemp(join(tmpdir(), "storages-http-direct-routes-"));
    roots.push(root);
    const media = fsStorage({ root, signing: { key: randomBytes(32), baseUrl: "http://localhost/files/" } });
    const heard: unknown[] = [];
    const routes = directUploadRoutes(media, {
      secret: randomBytes(32),
      onError: (error) => heard.push(error),
    });
    const handled: Array<Promise<unknown>> = [];
    const { server, origin } = await listen((request: IncomingMessage, response: ServerResponse) => {
      // Not events.once: it would reject with the request's own "aborted" error.
      handled.push(new Promise((resolve) => request.on("close", resolve)));
      (request.url === "/confirm" ? routes.confirm : routes.issue)(request, response);
    });
    try {
      const { port } = new URL(origin);
      for (const path of ["/issue", "/confirm"]) {
        const socket = connect(Number(port), "127.0.0.1");
        socket.on("error", () => {});
        await once(socket, "connect");
        socket.write(
          `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"filena`,
        );
        while (handled.length === 0) await new Promise((resolve) => setImmediate(resolve));
        socket.destroy();
        await handled.shift();
      }
      // Past the request's close, the route's refusal has been made: let its catch run.
      const answer = await fetch(`${origin}/issue`, {
        method: "POST",
        body: JSON.stringify({ filename: "a.png", contentType: "image/png" }),
      });
      expect(answer.status).toBe(201);
      expect(heard).toEqual([]);
      expect(await names(media)).toEqual([]);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
