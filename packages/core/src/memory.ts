/**
 * An in-memory driver: for tests, examples and `fake()`. Behaves like a bucket (no empty
 * directories, atomic create-exclusive writes) so code tested against it behaves the same on S3.
 */
import { hash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { collectBytes } from "./body.js";
import {
  AbortedError,
  AlreadyExistsError,
  InvalidArgumentError,
  NotFoundError,
  RangeNotSatisfiableError,
  UnsupportedError,
} from "./errors.js";
import { checkOptionKeys } from "./options.js";
import { compareNames, joinUrl } from "./path.js";
import { unsafeUrlProblem } from "./storage-options.js";
import type {
  BackendDescription,
  Capabilities,
  Driver,
  DriverCallOptions,
  DriverCopyOptions,
  DriverDeleteManyResult,
  DriverListOptions,
  DriverReadOptions,
  DriverSignedUploadOptions,
  DriverSignedUrlOptions,
  DriverWriteOptions,
  DriverWriteResult,
  ListEntry,
  ListPage,
  ObjectStat,
  SignedUpload,
  Visibility,
} from "./types.js";
import { UrlSigner } from "./url-signer.js";

/**
 * One stored file. Kept small, with the stat fields built only when asked for (`stat`, `listPage`):
 * a save is the hot path (fake() in tests, every CPU-bound tool), and what each entry holds is
 * garbage-collector work for as long as the file is stored.
 */
interface MemoryObject {
  data: Buffer;
  md5: string;
  /** Milliseconds since the epoch. */
  modified: number;
  contentType: string | undefined;
  visibility: Visibility | undefined;
  /** The rarer fields, only when the save had one. */
  extra: MemoryExtra | undefined;
}

interface MemoryExtra {
  cacheControl: string | undefined;
  contentDisposition: string | undefined;
  contentEncoding: string | undefined;
  /** The driver's own copy. */
  metadata: Record<string, string> | undefined;
}

function extraOf(options: DriverWriteOptions): MemoryExtra | undefined {
  const metadata = copyMetadata(options.metadata);
  if (
    options.cacheControl === undefined &&
    options.contentDisposition === undefined &&
    options.contentEncoding === undefined &&
    metadata === undefined
  ) {
    return undefined;
  }
  return {
    cacheControl: options.cacheControl,
    contentDisposition: options.contentDisposition,
    contentEncoding: options.contentEncoding,
    metadata,
  };
}

function copyMetadata(metadata: Record<string, string> | undefined): Record<string, string> | undefined {
  if (metadata === undefined) return undefined;
  for (const _ in metadata) return { ...metadata };
  return undefined; // {}: nothing to keep
}

export interface MemoryDriverOptions {
  defaultVisibility?: Visibility | undefined;
  /**
   * Where the files would be served, e.g. "https://cdn.test/media/" or "/media/": gives public
   * URLs, and signed URLs and uploads (HMAC, checked by `verifySignedUrl()`). Default none.
   */
  baseUrl?: string | undefined;
  /** Key of the signed URLs (≥ 32 bytes). Default: a random key per driver. */
  signingKey?: string | Uint8Array | undefined;
}

function checkSignal(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new AbortedError();
}

/** Cursors are the last name returned; a directory cursor also skips everything under it. */
function encodeCursor(entry: ListEntry): string {
  return Buffer.from(JSON.stringify([entry.name, entry.type === "directory"])).toString("base64url");
}

function decodeCursor(cursor: string): { after: string; directory: boolean } {
  const [after, directory] = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as [
    string,
    boolean,
  ];
  return { after, directory };
}

export class MemoryDriver implements Driver {
  readonly backend = "memory";
  readonly capabilities: Capabilities;
  readonly defaultVisibility: Visibility | undefined;
  readonly baseUrl: string | undefined;
  /** Signs URLs under `baseUrl` (the key stays private to it). */
  readonly signer: UrlSigner | undefined;
  private readonly objects = new Map<string, MemoryObject>();

  constructor(options: MemoryDriverOptions = {}) {
    checkOptionKeys(options, ["defaultVisibility", "baseUrl", "signingKey"], "MemoryDriver options");
    this.defaultVisibility = options.defaultVisibility;
    if (
      options.baseUrl !== undefined &&
      (typeof options.baseUrl !== "string" || !/^(https?:\/\/|\/)/.test(options.baseUrl))
    ) {
      throw new InvalidArgumentError(
        `MemoryDriver baseUrl must be an absolute http(s) URL or a path starting with "/", got ${JSON.stringify(options.baseUrl)}.`,
      );
    }
    const unsafe = options.baseUrl === undefined ? undefined : unsafeUrlProblem(options.baseUrl);
    if (unsafe !== undefined) throw new InvalidArgumentError(`MemoryDriver baseUrl ${unsafe}.`);
    this.baseUrl = options.baseUrl;
    if (options.signingKey !== undefined && this.baseUrl === undefined) {
      throw new InvalidArgumentError("MemoryDriver signingKey needs a baseUrl: signed URLs point under it.");
    }
    this.signer =
      this.baseUrl === undefined
        ? undefined
        : new UrlSigner(options.signingKey ?? randomBytes(32), this.baseUrl, "MemoryDriver signingKey");
    const urls = this.signer !== undefined;
    this.capabilities = Object.freeze<Capabilities>({
      rangeRead: true,
      conditionalWrite: true,
      publicUrl: urls,
      signedUrl: urls,
      signedUpload: urls ? ["put"] : [],
      signedUploadMaxBytes: urls ? ["put"] : [],
      visibility: "object",
      metadata: true,
      checksums: ["md5"],
    });
  }

  /** Number of stored files (for assertions). */
  get size(): number {
    return this.objects.size;
  }

  /** Every stored name, sorted. */
  keys(): string[] {
    return [...this.objects.keys()].sort(compareNames);
  }

  clear(): void {
    this.objects.clear();
  }

  async write(key: string, body: Readable, options: DriverWriteOptions): Promise<DriverWriteResult> {
    checkSignal(options.signal);
    const data = options.bytes ? Buffer.from(options.bytes) : await collectWithSignal(body, options.signal);
    return this.#store(key, data, options);
  }

  async writeBytes(key: string, bytes: Uint8Array, options: DriverWriteOptions): Promise<DriverWriteResult> {
    // A copy: the caller may reuse its buffer after the save.
    return this.#store(key, Buffer.from(bytes), options);
  }

  #store(key: string, data: Buffer, options: DriverWriteOptions): DriverWriteResult {
    checkSignal(options.signal);
    let target = key;
    if (options.ifNotExists) {
      // The body is complete in memory, so a taken name costs nothing: commit under the next one.
      while (this.objects.has(target)) {
        if (!options.nextKey) throw new AlreadyExistsError(`"${target}" already exists.`, { path: target });
        target = options.nextKey();
      }
    }
    // The one-shot hash: the same MD5 as a Hash object's, without allocating one per save.
    const md5 = hash("md5", data, "hex");
    this.objects.set(target, {
      data,
      md5,
      modified: Date.now(),
      contentType: options.contentType,
      visibility: options.visibility,
      extra: extraOf(options),
    });
    return { key: target, size: data.length, etag: `"${md5}"` };
  }

  private get(key: string): MemoryObject {
    const object = this.objects.get(key);
    if (!object) throw new NotFoundError(`"${key}" does not exist.`, { path: key });
    return object;
  }

  async read(key: string, options: DriverReadOptions): Promise<Readable> {
    return Readable.from(chunksOf(this.#bytes(key, options)), { objectMode: false });
  }

  /** A view of the stored bytes of `key`, or of its range. */
  #bytes(key: string, options: DriverReadOptions): Buffer {
    checkSignal(options.signal);
    const { data } = this.get(key);
    if (!options.range) return data;
    if (options.range.start >= data.length) throw new RangeNotSatisfiableError(undefined, { path: key });
    return data.subarray(options.range.start, (options.range.end ?? data.length - 1) + 1);
  }

  async readBytes(key: string, options: DriverReadOptions): Promise<Uint8Array> {
    return Buffer.from(this.#bytes(key, options)); // a copy the caller may keep and change
  }

  async stat(key: string, options: DriverCallOptions): Promise<ObjectStat> {
    checkSignal(options.signal);
    const object = this.get(key);
    return {
      name: key,
      size: object.data.length,
      lastModified: new Date(object.modified),
      etag: `"${object.md5}"`,
      contentType: object.contentType,
      cacheControl: object.extra?.cacheControl,
      contentDisposition: object.extra?.contentDisposition,
      contentEncoding: object.extra?.contentEncoding,
      metadata: { ...object.extra?.metadata },
      checksums: { md5: object.md5 },
      visibility: object.visibility,
    };
  }

  async exists(key: string): Promise<boolean> {
    return this.objects.has(key);
  }

  async listPage(prefix: string, options: DriverListOptions): Promise<ListPage> {
    checkSignal(options.signal);
    const cursor = options.cursor ? decodeCursor(options.cursor) : undefined;
    const entries: ListEntry[] = [];
    let lastDirectory: string | undefined;
    for (const key of this.keys()) {
      if (!key.startsWith(prefix)) continue;
      if (
        cursor &&
        (compareNames(key, cursor.after) <= 0 || (cursor.directory && key.startsWith(`${cursor.after}/`)))
      )
        continue;
      const rest = key.slice(prefix.length);
      const slash = rest.indexOf("/");
      let entry: ListEntry;
      if (!options.recursive && slash !== -1) {
        const name = prefix + rest.slice(0, slash);
        if (name === lastDirectory) continue;
        lastDirectory = name;
        entry = { type: "directory", name };
      } else {
        const object = this.objects.get(key)!;
        entry = {
          type: "file",
          name: key,
          size: object.data.length,
          lastModified: new Date(object.modified),
          etag: `"${object.md5}"`,
          checksums: { md5: object.md5 },
        };
      }
      if (entries.length === options.pageSize) {
        return { entries, cursor: encodeCursor(entries[entries.length - 1]!) };
      }
      entries.push(entry);
    }
    return { entries };
  }

  async delete(key: string): Promise<void> {
    this.objects.delete(key);
  }

  async deleteMany(keys: string[]): Promise<DriverDeleteManyResult> {
    for (const key of keys) this.objects.delete(key);
    return { failures: [] };
  }

  async copy(from: string, to: string, options: DriverCopyOptions): Promise<void> {
    checkSignal(options.signal);
    const source = this.get(from);
    if (!options.overwrite && this.objects.has(to))
      throw new AlreadyExistsError(`"${to}" already exists.`, { path: to });
    const extra = source.extra && { ...source.extra, metadata: copyMetadata(source.extra.metadata) };
    this.objects.set(to, { ...source, modified: Date.now(), extra });
  }

  async move(from: string, to: string, options: DriverCopyOptions): Promise<void> {
    await this.copy(from, to, options);
    this.objects.delete(from);
  }

  describe(): BackendDescription {
    return { location: "memory://", settings: { files: this.objects.size }, publicUrl: this.baseUrl };
  }

  publicUrl(key: string): string {
    return joinUrl(this.#signerOrThrow(key).baseUrl, key);
  }

  async signedUrl(key: string, options: DriverSignedUrlOptions): Promise<string> {
    return this.#signerOrThrow(key).signedUrl(key, options);
  }

  async signedUpload(key: string, options: DriverSignedUploadOptions): Promise<Omit<SignedUpload, "name">> {
    return this.#signerOrThrow(key).signedUpload(key, options);
  }

  #signerOrThrow(key: string): UrlSigner {
    if (!this.signer) {
      throw new UnsupportedError(
        'This memory storage has no URLs: give it a baseUrl (e.g. fake({ baseUrl: "https://cdn.test/media/" })).',
        { path: key },
      );
    }
    return this.signer;
  }

  async setVisibility(key: string, visibility: Visibility): Promise<void> {
    this.get(key).visibility = visibility;
  }

  async getVisibility(key: string): Promise<Visibility> {
    return this.get(key).visibility ?? this.defaultVisibility ?? "private";
  }
}

/** Like a file or socket read, the stream delivers views of READ_CHUNK bytes (no copies), so an abort lands mid-read. */
const READ_CHUNK = 64 * 1024;

function chunksOf(data: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += READ_CHUNK) {
    chunks.push(data.subarray(offset, offset + READ_CHUNK));
  }
  return chunks;
}

async function collectWithSignal(body: Readable, signal: AbortSignal): Promise<Buffer> {
  const onAbort = () => body.destroy(signal.reason instanceof Error ? signal.reason : new AbortedError());
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    return await collectBytes(body);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}
