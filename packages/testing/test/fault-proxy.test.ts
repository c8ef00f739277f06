/**
 * The fault proxy itself, against a plain local HTTP server: each fault does what it says, counts
 * itself, and lets go of a connection as soon as the client does.
 */
import { once } from "node:events";
import { createServer, get, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FaultProxy } from "../src/faults/proxy.js";

const BODY = Buffer.alloc(1024 * 1024, 7);
let upstream: Server;
let proxy: FaultProxy;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-length": String(BODY.length) });
      res.end(BODY);
    });
  });
  upstream.listen(0, "127.0.0.1");
  await once(upstream, "listening");
  proxy = await FaultProxy.start({
    upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
    dialect: "s3",
    classify: (r) => (r.method === "GET" ? "download" : "upload"),
  });
});
afterAll(async () => {
  await proxy.close();
  upstream.closeAllConnections();
  upstream.close();
});

function fetchBody(path = "/b/k"): Promise<{ status: number; bytes: number; error?: string }> {
  return new Promise((resolve) => {
    const req = get(`${proxy.url}${path}`, (res) => {
      let bytes = 0;
      res.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, bytes }));
      res.on("error", (error) => resolve({ status: res.statusCode ?? 0, bytes, error: String(error) }));
    });
    req.on("error", (error) => resolve({ status: 0, bytes: 0, error: String(error) }));
  });
}

describe("FaultProxy", () => {
  it("passes requests through untouched when no rule picks them", async () => {
    expect(await fetchBody()).toEqual({ status: 200, bytes: BODY.length });
  });

  it("answers a status in the dialect's form, with Retry-After, without asking the server", async () => {
    const handle = proxy.inject({ kind: "download", fault: { type: "status", status: 503, retryAfter: 2 } });
    const answer = await new Promise<{ status?: number; retryAfter?: string; body: string }>((resolve) =>
      get(`${proxy.url}/b/k`, (res) => {
        let body = "";
        res.on("data", (c) => {
          body += c;
        });
        res.on("end", () =>
          resolve({ status: res.statusCode, retryAfter: res.headers["retry-after"], body }),
        );
      }),
    );
    expect(answer.status).toBe(503);
    expect(answer.retryAfter).toBe("2");
    expect(answer.body).toContain("<Code>SlowDown</Code>");
    expect(handle.injected).toBe(1);
  });

  it("resets, truncates and cuts bodies as asked, and counts each", async () => {
    proxy.inject({ kind: "download", fault: { type: "reset" } });
    expect((await fetchBody()).error).toMatch(/ECONNRESET|socket hang up/);
    proxy.inject({ kind: "download", fault: { type: "truncate", afterBytes: 1000 } });
    const truncated = await fetchBody();
    expect(truncated.bytes).toBe(1000);
    expect(truncated.error).toBeDefined();
    proxy.inject({ kind: "download", fault: { type: "resetDownload", afterBytes: 5000 } });
    const reset = await fetchBody();
    expect(reset.bytes).toBeLessThanOrEqual(5000);
    expect(reset.error).toBeDefined();
  });

  it("resets an upload after the given bytes", async () => {
    proxy.inject({ kind: "upload", fault: { type: "resetUpload", afterBytes: 64 * 1024 } });
    const error = await new Promise<string>((resolve) => {
      const req = request(`${proxy.url}/b/k`, { method: "PUT" }, (res) => {
        res.resume();
        res.on("end", () => resolve("answered"));
      });
      req.on("error", (e) => resolve(String(e)));
      req.end(Buffer.alloc(1024 * 1024));
    });
    expect(error).toMatch(/ECONNRESET|EPIPE|socket hang up/);
  });

  it("a stalled connection is let go as soon as the client gives up, before or mid-body", async () => {
    for (const afterBytes of [undefined, 64 * 1024]) {
      proxy.inject({ kind: "download", fault: { type: "stall", ms: 20_000, afterBytes } });
      const req = get(`${proxy.url}/b/k`, (res) => res.resume());
      req.on("error", () => undefined);
      await sleep(300);
      expect(proxy.describeOpenConnections().some((c) => c.includes("[stall]"))).toBe(true);
      req.destroy();
      const until = Date.now() + 2_000;
      while (proxy.describeOpenConnections().some((c) => c.includes("[stall]")) && Date.now() < until)
        await sleep(20);
      expect(
        proxy.describeOpenConnections().filter((c) => c.includes("[stall]")),
        String(afterBytes),
      ).toEqual([]);
    }
  });
});
