/**
 * A static file server for apps without nginx (whitenoise's idea, for node:http, Express and
 * Fastify): serves what collectstatic published, from a local folder or from a Storage.
 *
 * - hashed names: `Cache-Control: public, max-age=31536000, immutable`; other names short;
 * - `br`/`zstd`/`gzip` from the precompressed siblings, by the client's Accept-Encoding, with
 *   `Vary: Accept-Encoding`; a Range request gets the identity bytes;
 * - strong ETags from the manifest's SHA-256 (no stat per request for files it lists), 304 on
 *   If-None-Match, single byte ranges (206/416, If-Range), HEAD;
 * - small content-hashed files (and their siblings) answered from memory after their first
 *   request: a hashed name never changes content, so the copy cannot go stale (ContentCache);
 * - no directory listing, nothing outside the root (`..`, encoded slashes, NUL, backslashes are
 *   refused), no dot files (the `.storages/` release manifests are not served).
 *
 * Static files are the app's own build output, so they are served as what they are (JS runs, SVG
 * renders) — unlike media, which core's active-content rule turns into attachments.
 */
import { open, realpath, stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join, resolve, sep } from "node:path";
import type { Readable } from "node:stream";
import {
  guessContentType,
  InvalidArgumentError,
  isWithin,
  NotFoundError,
  notModifiedHeaders,
  planFileResponse,
  Storage,
  sendBody,
} from "@storages/core";
import { LRUCache } from "lru-cache";
import {
  ENCODING_SUFFIX,
  type Encoding,
  MANIFEST_NAME,
  type ManifestEntry,
  type StaticManifest,
} from "./manifest.js";
import { CACHE_IMMUTABLE, CACHE_SHORT } from "./names.js";

export interface ServeStaticOptions {
  /** The manifest of what is served (the app's copy): ETags, sizes and siblings without a stat. */
  manifest?: StaticManifest | undefined;
  /** URL path the files are under: `/static/`. Default `/`. */
  prefix?: string | undefined;
  /** Serve names the manifest does not list (found by a stat). Default: true without a manifest, false with one. */
  unlisted?: boolean | undefined;
  /** Cache-Control of names that are not content-hashed. Default `public, max-age=60`. */
  shortCacheControl?: string | undefined;
  /**
   * Content-hashed files the manifest lists, and their compressed siblings, kept in memory after
   * their first request when no larger than `maxFileSize`, up to `maxBytes` in all (least recently
   * used dropped first). Default 16 MiB of files up to 256 KiB; `false` reads every request from
   * the root. Names that are not hashed are always read from the root: they change on a deploy.
   */
  memoryCache?: { maxBytes?: number | undefined; maxFileSize?: number | undefined } | false | undefined;
}

const MEMORY_CACHE_DEFAULTS = { maxBytes: 16 * 1024 * 1024, maxFileSize: 256 * 1024 };

/** Resolves true when it answered the request, false when the request is not for it (wrong method or prefix, not found). */
export type StaticHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

interface Found {
  size: number;
  etag: string;
  contentType: string;
  cacheControl: string;
  encodings: Partial<Record<Encoding, number>>;
  lastModified?: Date | undefined;
  /** Content-hashed: its bytes (and its siblings') never change, so memory may keep them. */
  immutable: boolean;
}

interface Source {
  lookup(name: string): Promise<{ size: number; mtime?: Date | undefined } | undefined>;
  /** `length`: the bytes it will give (the range's, else the file's). */
  open(name: string, range: { start: number; end: number } | undefined, length: number): Promise<Readable>;
  /**
   * The file's bytes for the memory cache, at most `size` + 1 of them: a file that has grown past
   * the manifest's size is found out without reading it all (a wrong file in the root, however
   * large, costs one small read per request, never its whole size).
   */
  readSmall(name: string, size: number): Promise<Buffer>;
}

/** Stream reads of a small file allocate its size, not a 64 KiB buffer per request. */
const READ_CHUNK = 64 * 1024;

function folderSource(root: string): Source {
  const base = resolve(root);
  const full = (name: string) => {
    const path = join(base, name);
    if (!path.startsWith(base + sep)) throw new NotFoundError();
    return path;
  };
  let realBase: Promise<string> | undefined;
  return {
    async lookup(name) {
      try {
        const path = full(name);
        // A link that leads out of the root is not a static file of it.
        realBase ??= realpath(base);
        if (!isWithin(await realBase, await realpath(path))) return undefined;
        const info = await stat(path);
        return info.isFile() ? { size: info.size, mtime: info.mtime } : undefined;
      } catch {
        return undefined;
      }
    },
    async open(name, range, length) {
      // Opened before the response is committed: a file the root has lost is a 404, not a cut reply.
      const fd = await open(full(name)).catch((error: unknown) => {
        throw isMissingFile(error) ? new NotFoundError(`${name} is not in the static root.`) : error;
      });
      const highWaterMark = Math.max(1, Math.min(length, READ_CHUNK));
      return fd.createReadStream(range ? { ...range, highWaterMark } : { highWaterMark });
    },
    async readSmall(name, size) {
      const fd = await open(full(name)).catch((error: unknown) => {
        throw isMissingFile(error) ? new NotFoundError(`${name} is not in the static root.`) : error;
      });
      try {
        // Its own memory, not a slice of Node's shared pool: the cache keeps it.
        const bytes = Buffer.allocUnsafeSlow(size + 1);
        let filled = 0;
        for (;;) {
          const { bytesRead } = await fd.read(bytes, filled, bytes.length - filled, filled);
          if (bytesRead === 0) break;
          filled += bytesRead;
          if (filled === bytes.length) break;
        }
        return bytes.subarray(0, filled);
      } finally {
        await fd.close();
      }
    },
  };
}

function storageSource(storage: Storage): Source {
  return {
    async lookup(name) {
      try {
        const info = await storage.stat(name);
        return { size: info.size, mtime: info.lastModified };
      } catch (error) {
        if (NotFoundError.isInstance(error)) return undefined;
        throw error;
      }
    },
    async open(name, range) {
      return storage.open(name, range ? { range } : {});
    },
    readSmall: (name, size) => storage.readBytes(name, { range: { start: 0, end: size } }),
  };
}

/**
 * The bytes of small immutable files, least recently used dropped first (lru-cache, bounded in
 * bytes). Only content-hashed names go in (a new content gets a new name), so nothing here is ever
 * stale and nothing is checked again; a file whose length is not the manifest's is not kept
 * (served from the root each time). Concurrent first requests for one name share one read.
 */
class ContentCache {
  readonly #files: LRUCache<string, Buffer, { size: number; read: () => Promise<Buffer> }>;

  constructor(maxBytes: number, maxFileSize: number) {
    this.#files = new LRUCache({
      maxSize: maxBytes,
      maxEntrySize: Math.min(maxFileSize, maxBytes),
      sizeCalculation: (bytes) => Math.max(1, bytes.length),
      fetchMethod: async (_name, _stale, { context }) => {
        const bytes = await context.read();
        return bytes.length === context.size ? bytes : undefined;
      },
    });
  }

  /** Whether a file of `size` bytes may be kept (else it is not even read whole). */
  fits(size: number): boolean {
    return size <= this.#files.maxEntrySize;
  }

  /** The file's bytes, read through `read` on the first call; undefined when they are not `size` long. */
  get(name: string, size: number, read: () => Promise<Buffer>): Buffer | Promise<Buffer | undefined> {
    return this.#files.get(name) ?? this.#files.fetch(name, { context: { size, read } });
  }
}

function memoryCacheOf(option: ServeStaticOptions["memoryCache"]): ContentCache | undefined {
  if (option === false) return undefined;
  const limits = {
    maxBytes: option?.maxBytes ?? MEMORY_CACHE_DEFAULTS.maxBytes,
    maxFileSize: option?.maxFileSize ?? MEMORY_CACHE_DEFAULTS.maxFileSize,
  };
  for (const [key, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new InvalidArgumentError(
        `serveStatic's memoryCache.${key} must be a number of bytes (0 or more), not ${value}; memoryCache: false turns the cache off.`,
      );
    }
  }
  // Zero: nothing could be kept.
  if (limits.maxBytes === 0 || limits.maxFileSize === 0) return undefined;
  return new ContentCache(limits.maxBytes, limits.maxFileSize);
}

/** The client's acceptable encodings, best first by our preference (br, zstd, gzip). */
function accepted(header: string | undefined): Set<Encoding> {
  const out = new Set<Encoding>();
  if (!header) return out;
  const q = new Map<string, number>();
  for (const part of header.split(",")) {
    const [token, ...params] = part.trim().toLowerCase().split(";");
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    q.set(token!.trim(), qParam ? Number(qParam.slice(2)) : 1);
  }
  const star = q.get("*");
  for (const e of ["br", "zstd", "gzip"] as const) {
    const value = q.get(e) ?? (e === "gzip" ? q.get("x-gzip") : undefined) ?? star;
    if (value !== undefined && value > 0) out.add(e);
  }
  return out;
}

/** The storage-relative name of a URL path below the prefix, or undefined when it is not one to serve. */
function nameOf(url: string, prefix: string): string | undefined {
  const q = url.indexOf("?");
  const path = q < 0 ? url : url.slice(0, q);
  if (!path.startsWith(prefix)) return undefined;
  const rest = path.slice(prefix.length);
  if (rest === "" || rest.endsWith("/")) return undefined; // folders: no listing
  // An encoded separator would name another path than the one the URL shows.
  if (/%2f|%5c/i.test(rest)) return undefined;
  let decoded: string;
  try {
    decoded = decodeURIComponent(rest);
  } catch {
    return undefined;
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL and control characters are refused
  if (/[\\\u0000-\u001f]/.test(decoded)) return undefined;
  const segments = decoded.split("/");
  if (segments.some((s) => s === "" || s === "." || s === ".." || s.startsWith("."))) return undefined;
  // The manifest names the build's source folders: the app reads it, browsers have no use for it.
  if (decoded === MANIFEST_NAME) return undefined;
  return decoded;
}

export function serveStatic(
  rootOrStorage: string | Storage,
  options: ServeStaticOptions = {},
): StaticHandler {
  const source = Storage.isInstance(rootOrStorage)
    ? storageSource(rootOrStorage as Storage)
    : folderSource(rootOrStorage as string);
  const prefix = (() => {
    const p = options.prefix ?? "/";
    const lead = p.startsWith("/") ? p : `/${p}`;
    return lead.endsWith("/") ? lead : `${lead}/`;
  })();
  const short = options.shortCacheControl ?? CACHE_SHORT;
  const listed = new Map<string, Found>();
  const fromEntry = (entry: ManifestEntry, immutable: boolean): Found => ({
    size: entry.size,
    etag: `"${entry.sha256.slice(0, 32)}"`,
    contentType: entry.contentType,
    cacheControl: immutable ? CACHE_IMMUTABLE : short,
    encodings: entry.encodings,
    immutable,
  });
  const memory = memoryCacheOf(options.memoryCache);
  if (options.manifest) {
    const originals = new Set(options.manifest.originals ?? []);
    for (const [original, entry] of Object.entries(options.manifest.files)) {
      listed.set(entry.name, fromEntry(entry, true));
      if (entry.hashed && originals.has(original)) listed.set(original, fromEntry(entry, false));
    }
  }
  const unlisted = options.unlisted ?? options.manifest === undefined;

  async function find(name: string): Promise<Found | undefined> {
    const known = listed.get(name);
    if (known) return known;
    if (!unlisted) return undefined;
    const info = await source.lookup(name);
    if (!info) return undefined;
    const encodings: Partial<Record<Encoding, number>> = {};
    for (const e of ["br", "zstd", "gzip"] as const) {
      const sibling = await source.lookup(name + ENCODING_SUFFIX[e]);
      if (sibling) encodings[e] = sibling.size;
    }
    return {
      size: info.size,
      etag: `W/"${info.size.toString(16)}-${(info.mtime?.getTime() ?? 0).toString(16)}"`,
      contentType: guessContentType(name),
      cacheControl: short,
      encodings,
      lastModified: info.mtime,
      immutable: false,
    };
  }

  /** 404 for a file the manifest lists but the root has lost (none of its headers were sent). */
  const lost = (res: ServerResponse) => {
    res.statusCode = 404;
    res.end();
  };

  return async function handle(req, res) {
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    const name = nameOf(req.url ?? "/", prefix);
    if (name === undefined) return false;
    const file = await find(name);
    if (!file) return false;
    const hasSiblings = Object.keys(file.encodings).length > 0;
    const rangeHeader = req.headers.range;
    let encoding: Encoding | undefined;
    if (hasSiblings && rangeHeader === undefined) {
      const ok = accepted(req.headers["accept-encoding"]);
      encoding = (["br", "zstd", "gzip"] as const).find((e) => ok.has(e) && file.encodings[e] !== undefined);
    }
    const etag = encoding ? `${file.etag.slice(0, -1)}-${encoding}"` : file.etag;
    const headers: Record<string, string> = {
      "content-type": file.contentType,
      "cache-control": file.cacheControl,
      etag,
      "accept-ranges": "bytes",
      "x-content-type-options": "nosniff",
    };
    if (hasSiblings) headers.vary = "Accept-Encoding";
    if (file.lastModified) headers["last-modified"] = file.lastModified.toUTCString();
    // Conditional requests in RFC 9110's order: If-None-Match by weak comparison, If-Range by
    // strong comparison with the identity variant's ETag (a range is only ever of the identity
    // variant: a sibling is chosen only without a Range header). Core's one plan.
    const plan = planFileResponse(req.method ?? "GET", req.headers, {
      etag,
      lastModified: file.lastModified,
      // A sibling's own size: chosen only without a Range header, it is always sent whole.
      size: encoding ? file.encodings[encoding]! : file.size,
    });
    if (plan.status === 304) {
      res.writeHead(304, notModifiedHeaders(headers));
      res.end();
      return true;
    }
    // Neither carries the file's headers: a cache must not keep them (Cache-Control) for a refusal.
    if (plan.status === 412) {
      res.writeHead(412);
      res.end();
      return true;
    }
    if (plan.status === 416) {
      res.writeHead(416, { "content-range": plan.contentRange, "accept-ranges": "bytes" });
      res.end();
      return true;
    }
    const range = plan.status === 206 ? { start: plan.start, end: plan.end } : undefined;
    const servedName = encoding ? name + ENCODING_SUFFIX[encoding] : name;
    const { length } = plan;
    if (encoding) headers["content-encoding"] = encoding;
    if (plan.contentRange) headers["content-range"] = plan.contentRange;
    headers["content-length"] = String(length);
    if (!plan.body) {
      res.writeHead(plan.status, headers);
      res.end();
      return true;
    }
    // The headers go out once the bytes are at hand: a file the root has lost is a plain 404.
    // The whole file's length, for the memory cache (a range is cut from the whole).
    const whole = encoding ? length : file.size;
    if (memory && file.immutable && memory.fits(whole)) {
      let bytes: Buffer | undefined;
      try {
        bytes = await memory.get(servedName, whole, () => source.readSmall(servedName, whole));
      } catch (error) {
        if (!NotFoundError.isInstance(error)) throw error;
        lost(res);
        return true;
      }
      if (bytes) {
        res.writeHead(plan.status, headers);
        res.end(range ? bytes.subarray(range.start, range.end + 1) : bytes);
        return true;
      }
    }
    let stream: Readable;
    try {
      stream = await source.open(servedName, range, length);
    } catch (error) {
      if (NotFoundError.isInstance(error)) {
        lost(res);
        return true;
      }
      throw error;
    }
    res.writeHead(plan.status, headers);
    await sendBody(stream, res, length);
    return true;
  };
}

/** The fs error for a name that is not there (the folder source; a Storage says NotFoundError). */
function isMissingFile(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR";
}

/** node:http: `http.createServer(staticRequestListener("./public", { manifest }))`; 404 for anything else. */
export function staticRequestListener(
  rootOrStorage: string | Storage,
  options: ServeStaticOptions = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  const handle = serveStatic(rootOrStorage, options);
  return (req, res) => {
    handle(req, res).then(
      (handled) => {
        if (handled) return;
        res.statusCode = req.method === "GET" || req.method === "HEAD" ? 404 : 405;
        if (res.statusCode === 405) res.setHeader("Allow", "GET, HEAD");
        res.end();
      },
      () => {
        if (!res.headersSent) res.statusCode = 500;
        res.end();
      },
    );
  };
}

/** Express (or Connect) middleware: answers what it serves, `next()` for the rest. */
export function expressStatic(
  rootOrStorage: string | Storage,
  options: ServeStaticOptions = {},
): (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void {
  const handle = serveStatic(rootOrStorage, options);
  return (req, res, next) => {
    // Express strips a mount path from req.url and keeps the original in req.originalUrl.
    handle(req, res).then((handled) => {
      if (!handled) next();
    }, next);
  };
}

/** The parts of Fastify this plugin uses (so the package needs no Fastify dependency). */
interface FastifyLike {
  route(options: {
    method: string[];
    url: string;
    handler: (
      request: { raw: IncomingMessage },
      reply: { raw: ServerResponse; hijack(): void; callNotFound(): void; sent?: boolean },
    ) => Promise<void>;
  }): unknown;
}

/**
 * A Fastify plugin: `fastify.register(fastifyStatic, { root: "./public", prefix: "/static/", manifest })`.
 * Requests it does not serve go to Fastify's not-found handler.
 */
export async function fastifyStatic(
  fastify: FastifyLike,
  options: ServeStaticOptions & { root: string | Storage },
): Promise<void> {
  const prefix = options.prefix ?? "/";
  const handle = serveStatic(options.root, options);
  fastify.route({
    method: ["GET", "HEAD"],
    url: `${prefix.endsWith("/") ? prefix : `${prefix}/`}*`,
    async handler(request, reply) {
      reply.hijack();
      const handled = await handle(request.raw, reply.raw).catch(() => {
        if (!reply.raw.headersSent) reply.raw.statusCode = 500;
        reply.raw.end();
        return true;
      });
      if (!handled) {
        reply.raw.statusCode = 404;
        reply.raw.end();
      }
    },
  });
}
// Fastify skips encapsulation for plugins marked like this, so the route is the app's own.
(fastifyStatic as unknown as Record<symbol, boolean>)[Symbol.for("skip-override")] = true;
