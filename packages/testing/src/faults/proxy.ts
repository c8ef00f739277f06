/**
 * A fault-injecting HTTP proxy for tests: it sits between a driver and its real server (RGW,
 * Azurite, the GCS emulator) and, on the requests a rule picks, does what a bad network or a busy
 * service does. toxiproxy's toxics are the model — latency, reset_peer, timeout (a stall), slicer
 * (a body cut short) — plus the HTTP answers a service gives when it is overloaded (500, 503,
 * SlowDown with Retry-After), a body rewritten on the way (metadata a server left out), and an
 * error that echoes the request back (what a careless server or proxy does with credentials).
 *
 * It listens on 127.0.0.1 only, on a port of its own. Everything it does is bounded in time: a
 * stall ends by closing the connection, and `close()` destroys every connection at once.
 *
 * It works at the HTTP level (node:http), so it can answer with a status of its own and count body
 * bytes; the request line and headers reach the server unchanged (Host included, so SigV4 and
 * SharedKey signatures still verify and the server builds URLs that point back at the proxy).
 */
import { once } from "node:events";
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { CLASSIFIERS } from "./classify.js";

/** What a request is for: the fault suite's backends each say how to tell (`classify`). */
export type RequestKind = "download" | "upload" | "metadata" | "list" | "delete" | "copy" | "other";

export interface ProxiedRequest {
  method: string;
  /** Path and query, as sent. */
  url: string;
  headers: IncomingHttpHeaders;
  kind: RequestKind;
}

/** The longest a stall may last before the proxy closes the connection itself. */
export const MAX_STALL_MS = 30_000;

export type Fault =
  /** An error answer of the service's own form (the dialect's body), without asking the server. */
  | {
      type: "status";
      status: number;
      code?: string | undefined;
      /** Seconds, sent as Retry-After. */
      retryAfter?: number | undefined;
      /** A body of its own instead of the dialect's (a load balancer's HTML page, an empty one). */
      body?: string | undefined;
    }
  /** The connection is reset before any answer (toxiproxy reset_peer). */
  | { type: "reset" }
  /** The server gets `afterBytes` bytes of the request body, then the connection is reset. */
  | { type: "resetUpload"; afterBytes: number }
  /** The answer's head and `afterBytes` bytes of its body arrive, then the connection is reset. */
  | { type: "resetDownload"; afterBytes: number }
  /** The answer's body ends after `afterBytes` bytes: the connection is closed cleanly (slicer). */
  | { type: "truncate"; afterBytes: number }
  /** The request reaches the server `ms` late (toxiproxy latency). */
  | { type: "latency"; ms: number }
  /**
   * Nothing more for `ms` (at most MAX_STALL_MS), then the connection is closed (toxiproxy
   * timeout): before the answer's head, or after `afterBytes` bytes of its body.
   */
  | { type: "stall"; ms: number; afterBytes?: number | undefined }
  /** The answer's body, changed on the way (the whole body is read first; for small answers). */
  | { type: "rewrite"; transform: (body: Buffer, request: ProxiedRequest) => Buffer }
  /** A 500 whose message quotes the request: its URL (signatures) and headers (Authorization…). */
  | { type: "echo" };

export type FaultType = Fault["type"];

export interface FaultRule {
  /** Which kinds of request; default: any. */
  kind?: RequestKind | readonly RequestKind[] | undefined;
  /** Which methods; default: any. */
  method?: string | readonly string[] | undefined;
  /** A further test of the request. */
  match?: ((request: ProxiedRequest) => boolean) | undefined;
  /** Matching requests let through untouched before the first fault. Default 0. */
  skip?: number | undefined;
  /** How many matching requests get the fault. Default 1; Infinity for all. */
  times?: number | undefined;
  fault: Fault;
}

/** A rule in force: how many requests it matched and how many it faulted. */
export interface FaultHandle {
  readonly rule: FaultRule;
  readonly matched: number;
  readonly injected: number;
  remove(): void;
}

/** Random faults on a share of requests (the soak): deterministic for a given seed. */
export interface ChaosOptions {
  /** Share of requests that get a fault, 0–1. */
  rate: number;
  /** Chosen from uniformly; each is applied only to requests of its kinds (default: any). */
  faults: ReadonlyArray<{ fault: Fault; kind?: RequestKind | readonly RequestKind[] | undefined }>;
  seed?: number | undefined;
}

/** How a service words its errors: the body and headers of a status answer. */
export type Dialect = "s3" | "gcs" | "azure";

export interface FaultProxyOptions {
  /** The real server, e.g. "http://127.0.0.1:7480". */
  upstream: string;
  dialect: Dialect;
  /** Tells what a request is for (each backend's URLs differ). Default: the dialect's (classify.ts). */
  classify?: ((request: Omit<ProxiedRequest, "kind">) => RequestKind) | undefined;
}

export interface FaultStats {
  requests: number;
  /** Requests by kind. */
  byKind: Record<RequestKind, number>;
  /** Faults injected in all, and by type. */
  injected: number;
  byType: Partial<Record<FaultType, number>>;
}

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  // Node's server already answered "100 Continue" to the client; the server gets the body at once.
  "expect",
]);

function withoutHopByHop(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!HOP_BY_HOP.has(name.toLowerCase())) out[name] = value;
  }
  return out;
}

function listOf<T extends string>(value: T | readonly T[] | undefined): readonly T[] | undefined {
  return value === undefined ? undefined : typeof value === "string" ? [value as T] : (value as readonly T[]);
}

/** mulberry32: small, fast, seeded; the soak's faults (and its choices) are the same on every run of a seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const XML_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" };
const xml = (text: string) => text.replace(/[&<>"]/g, (c) => XML_ESCAPES[c]!);

/** The service's error code for a status, when the fault does not name one. */
function defaultCode(dialect: Dialect, status: number): string {
  if (dialect === "s3")
    return status === 503 ? "SlowDown" : status === 500 ? "InternalError" : `Status${status}`;
  if (dialect === "azure")
    return status === 503 ? "ServerBusy" : status === 500 ? "InternalError" : `Status${status}`;
  return status === 429 ? "rateLimitExceeded" : "backendError";
}

/** An error answer in the dialect's own form. */
export function errorAnswer(
  dialect: Dialect,
  status: number,
  message: string,
  code = defaultCode(dialect, status),
): { headers: Record<string, string>; body: string } {
  if (dialect === "gcs") {
    return {
      headers: { "content-type": "application/json; charset=UTF-8" },
      body: JSON.stringify({
        error: { code: status, message, errors: [{ message, domain: "global", reason: code }] },
      }),
    };
  }
  const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${xml(code)}</Code><Message>${xml(message)}</Message><RequestId>fault-proxy</RequestId></Error>`;
  return {
    headers: {
      "content-type": "application/xml",
      ...(dialect === "azure" && { "x-ms-error-code": code, "x-ms-request-id": "fault-proxy" }),
    },
    body,
  };
}

class Handle implements FaultHandle {
  matched = 0;
  injected = 0;
  constructor(
    readonly rule: FaultRule,
    private readonly owner: FaultProxy,
  ) {}
  remove(): void {
    this.owner.remove(this);
  }
}

export class FaultProxy {
  readonly options: FaultProxyOptions;
  readonly stats: FaultStats = {
    requests: 0,
    byKind: { download: 0, upload: 0, metadata: 0, list: 0, delete: 0, copy: 0, other: 0 },
    injected: 0,
    byType: {},
  };
  /** Every request seen, oldest first (bounded: the last 2,000). */
  readonly log: ProxiedRequest[] = [];
  private server: Server | undefined;
  private readonly upstream: URL;
  private agent = new Agent({ keepAlive: true, maxSockets: 64 });
  private readonly sockets = new Set<Socket>();
  /** The last request each connection carried, and its fault: what a leaked connection was doing. */
  private readonly lastOnSocket = new WeakMap<Socket, string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private rules: Handle[] = [];
  private chaosState: { options: ChaosOptions; random: () => number } | undefined;
  #url: string | undefined;

  constructor(options: FaultProxyOptions) {
    this.options = options;
    this.upstream = new URL(options.upstream);
    if (this.upstream.protocol !== "http:") {
      throw new TypeError(`FaultProxy: the upstream must be an http:// server, got ${options.upstream}.`);
    }
  }

  /** Starts a proxy and waits until it listens. */
  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const proxy = new FaultProxy(options);
    await proxy.listen();
    return proxy;
  }

  /** "http://127.0.0.1:<port>": point the driver's endpoint here. */
  get url(): string {
    if (this.#url === undefined) throw new Error("FaultProxy: not listening (call start()).");
    return this.#url;
  }

  /** Client connections open now (a driver that leaks sockets keeps them open after close()). */
  get openConnections(): number {
    return this.sockets.size;
  }

  /** What each open connection last carried ("GET download /b/k [truncate]"), for a leak's message. */
  describeOpenConnections(): string[] {
    return [...this.sockets].map(
      (socket) =>
        `${this.lastOnSocket.get(socket) ?? "no request"}${socket.writableEnded ? " (closed by the proxy, not by the client)" : ""}`,
    );
  }

  async listen(): Promise<void> {
    const server = createServer({ keepAliveTimeout: 5_000 }, (req, res) => {
      this.handle(req, res).catch(() => res.destroy());
    });
    server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
    });
    // A client that goes away mid-request is not the proxy's error.
    server.on("clientError", (_error, socket) => socket.destroy());
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    this.server = server;
    this.#url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** Adds a rule; rules are tried in the order they were added. */
  inject(rule: FaultRule): FaultHandle {
    const handle = new Handle(rule, this);
    this.rules.push(handle);
    return handle;
  }

  remove(handle: FaultHandle): void {
    this.rules = this.rules.filter((h) => h !== handle);
  }

  /** Random faults on a share of the requests no rule picked, until `chaos(undefined)`. */
  chaos(options: ChaosOptions | undefined): void {
    this.chaosState = options && { options, random: seededRandom(options.seed ?? 1) };
  }

  /** Removes every rule and stops chaos. */
  clear(): void {
    this.rules = [];
    this.chaosState = undefined;
  }

  /** Closes the proxy's idle connections to the server (so process handle counts show the driver's). */
  releaseUpstream(): void {
    this.agent.destroy();
    this.agent = new Agent({ keepAlive: true, maxSockets: 64 });
  }

  async close(): Promise<void> {
    this.clear();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const server = this.server;
    this.server = undefined;
    if (server) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      for (const socket of this.sockets) socket.destroy();
      await closed;
    }
    this.agent.destroy();
  }

  private later(ms: number, action: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      action();
    }, ms);
    this.timers.add(timer);
  }

  private pick(request: ProxiedRequest): Fault | undefined {
    for (const handle of this.rules) {
      const { rule } = handle;
      const kinds = listOf(rule.kind);
      const methods = listOf(rule.method);
      if (kinds && !kinds.includes(request.kind)) continue;
      if (methods && !methods.includes(request.method)) continue;
      if (rule.match && !rule.match(request)) continue;
      handle.matched += 1;
      if (handle.matched <= (rule.skip ?? 0)) continue;
      if (handle.injected >= (rule.times ?? 1)) continue;
      handle.injected += 1;
      return rule.fault;
    }
    const chaos = this.chaosState;
    if (chaos && chaos.random() < chaos.options.rate) {
      const fitting = chaos.options.faults.filter((f) => {
        const kinds = listOf(f.kind);
        return !kinds || kinds.includes(request.kind);
      });
      if (fitting.length > 0) return fitting[Math.floor(chaos.random() * fitting.length)]!.fault;
    }
    return undefined;
  }

  private count(fault: Fault): void {
    this.stats.injected += 1;
    this.stats.byType[fault.type] = (this.stats.byType[fault.type] ?? 0) + 1;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const base = { method: req.method ?? "GET", url: req.url ?? "/", headers: req.headers };
    const request: ProxiedRequest = {
      ...base,
      kind: (this.options.classify ?? CLASSIFIERS[this.options.dialect])(base),
    };
    this.stats.requests += 1;
    this.stats.byKind[request.kind] += 1;
    this.log.push(request);
    if (this.log.length > 2_000) this.log.splice(0, this.log.length - 2_000);
    const fault = this.pick(request);
    if (fault) this.count(fault);
    this.lastOnSocket.set(
      req.socket,
      `${request.method} ${request.kind} ${request.url.slice(0, 120)}${fault ? ` [${fault.type}]` : ""}`,
    );

    switch (fault?.type) {
      case "status":
      case "echo": {
        const status = fault.type === "status" ? fault.status : 500;
        const message =
          fault.type === "echo"
            ? `Internal error while handling ${request.method} ${request.url} ${JSON.stringify(request.headers)}`
            : `Injected by the fault proxy (${status}).`;
        const answer = errorAnswer(
          this.options.dialect,
          status,
          message,
          fault.type === "status" ? fault.code : undefined,
        );
        const custom = fault.type === "status" ? fault.body : undefined;
        if (custom !== undefined) {
          answer.body = custom;
          answer.headers = { "content-type": "text/html; charset=UTF-8" };
        }
        const headers: Record<string, string> = { ...answer.headers };
        if (fault.type === "status" && fault.retryAfter !== undefined)
          headers["retry-after"] = String(fault.retryAfter);
        // The request body is read (and dropped) first, as a server does before it answers.
        req.resume();
        await once(req, "end").catch(() => undefined);
        const body = request.method === "HEAD" ? "" : answer.body;
        res.writeHead(status, { ...headers, "content-length": Buffer.byteLength(answer.body) });
        res.end(body);
        return;
      }
      case "reset":
        resetConnection(req.socket);
        return;
      case "latency":
        await new Promise<void>((resolve) => this.later(Math.max(0, fault.ms), resolve));
        break;
      case "stall":
        if (fault.afterBytes === undefined) {
          req.resume();
          this.later(Math.min(Math.max(0, fault.ms), MAX_STALL_MS), () => req.socket.destroy());
          return;
        }
        break;
    }
    this.forward(request, req, res, fault);
  }

  private forward(
    request: ProxiedRequest,
    req: IncomingMessage,
    res: ServerResponse,
    fault: Fault | undefined,
  ): void {
    const upstream = httpRequest({
      host: this.upstream.hostname,
      port: this.upstream.port || 80,
      method: request.method,
      path: request.url,
      headers: withoutHopByHop(req.headers),
      agent: this.agent,
    });
    const abandon = () => {
      upstream.destroy();
      if (!res.writableFinished) res.destroy();
    };
    // The client went away (it aborted, or timed out): so does the request to the server.
    res.once("close", () => {
      if (!res.writableFinished) upstream.destroy();
    });
    upstream.once("error", abandon);

    // The request body, counted on the way for a reset mid-upload.
    let sent = 0;
    req.on("data", (chunk: Buffer) => {
      if (fault?.type === "resetUpload" && sent + chunk.length > fault.afterBytes) {
        const part = chunk.subarray(0, Math.max(0, fault.afterBytes - sent));
        sent += part.length;
        req.pause();
        const reset = () => {
          upstream.destroy();
          resetConnection(req.socket);
        };
        if (part.length === 0) reset();
        else upstream.write(part, reset);
        return;
      }
      sent += chunk.length;
      if (!upstream.write(chunk)) {
        req.pause();
        upstream.once("drain", () => req.resume());
      }
    });
    req.once("end", () => upstream.end());
    req.once("error", abandon);

    upstream.once("response", (answer) => {
      const status = answer.statusCode ?? 502;
      const headers = withoutHopByHop(answer.headers);
      if (fault?.type === "rewrite") {
        const chunks: Buffer[] = [];
        answer.on("data", (chunk: Buffer) => chunks.push(chunk));
        answer.once("end", () => {
          const body = fault.transform(Buffer.concat(chunks), request);
          res.writeHead(status, answer.statusMessage, {
            ...headers,
            "content-length": String(body.length),
          });
          res.end(request.method === "HEAD" ? undefined : body);
        });
        answer.once("error", abandon);
        return;
      }
      res.writeHead(status, answer.statusMessage, headers);
      const cutAt =
        fault?.type === "resetDownload" || fault?.type === "truncate" || fault?.type === "stall"
          ? (fault.afterBytes ?? 0)
          : undefined;
      // The head goes out now, so a cut at 0 bytes is a body cut short, not a missing answer.
      if (cutAt !== undefined) res.flushHeaders();
      let received = 0;
      answer.on("data", (chunk: Buffer) => {
        if (cutAt !== undefined && received + chunk.length > cutAt) {
          const part = chunk.subarray(0, Math.max(0, cutAt - received));
          received = cutAt;
          answer.pause();
          answer.removeAllListeners("data");
          const cut = () => this.cut(fault!, res, () => answer.destroy());
          if (part.length === 0) cut();
          else res.write(part, cut);
          return;
        }
        received += chunk.length;
        if (!res.write(chunk)) {
          answer.pause();
          res.once("drain", () => answer.resume());
        }
      });
      answer.once("end", () => {
        if (cutAt !== undefined && received <= cutAt) {
          // The whole body fitted before the cut: the fault still ends the answer early.
          this.cut(fault!, res, () => undefined);
          return;
        }
        res.end();
      });
      answer.once("error", abandon);
    });
  }

  /** Ends an answer mid-body as the fault says. */
  private cut(fault: Fault, res: ServerResponse, stopUpstream: () => void): void {
    stopUpstream();
    const socket = res.socket;
    if (!socket) return;
    if (fault.type === "resetDownload") resetConnection(socket);
    else if (fault.type === "truncate") socket.end();
    else if (fault.type === "stall")
      this.later(Math.min(Math.max(0, fault.ms), MAX_STALL_MS), () => socket.destroy());
  }
}

/**
 * Resets a connection (RST). One already shutting down (the client went away first, so the server
 * ended it) cannot be: libuv refuses with EINVAL and never closes the handle, a "connection left
 * open" that would be the proxy's own. That one is destroyed instead.
 */
function resetConnection(socket: Socket): void {
  if (socket.writableEnded || socket.destroyed) socket.destroy();
  else socket.resetAndDestroy();
}
