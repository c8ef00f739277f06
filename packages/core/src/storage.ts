/**
 * The Storage facade: the one API applications use, whatever the backend.
 *
 * Everything that is the same for every backend lives here, once: path rules, input conversion,
 * names and collisions, timeouts and AbortSignal, error context, URL rules and the gaps a driver
 * leaves (move = copy + delete, deleteMany one by one, ranges and checksums from the stream).
 */
import { Readable, Transform, type TransformCallback } from "node:stream";
import pLimit from "p-limit";
import { releaseStream, settleOnAbort, translateStreamErrors } from "./abort.js";
import { asReadStream, type BodySource, collectBytes, type ReadStream, toBodySource } from "./body.js";
import { digestStream } from "./checksum.js";
import { implicitVisibility } from "./config/visibility.js";
import {
  AbortedError,
  AlreadyExistsError,
  BackendError,
  InvalidArgumentError,
  type Operation,
  PartialFailureError,
  RETRYABLE_NETWORK_CODES,
  ReadOnlyError,
  StorageError,
  UnsupportedError,
  withContext,
} from "./errors.js";
import { contentDisposition, guessContentType } from "./headers.js";
import { alternativeName, NameCandidates } from "./naming.js";
import { checkOptionKeys } from "./options.js";
import { basename, joinUrl, normalizeName, normalizePrefix } from "./path.js";
import {
  type FailedAttempt,
  type ResolvedRetry,
  type RetryOptions,
  resolveRetry,
  withRetry,
} from "./retry.js";
import { CallScope } from "./scope.js";
import type {
  BodyInput,
  ByteRange,
  CallOptions,
  Capabilities,
  ChecksumAlgorithm,
  CopyOptions,
  DataProtection,
  Driver,
  DriverWriteOptions,
  DriverWriteResult,
  ListEntry,
  ListOptions,
  ListPage,
  ListPageOptions,
  ObjectStat,
  OpenOptions,
  SaveOptions,
  SaveResult,
  SignedUpload,
  SignedUploadMethod,
  SignedUploadOptions,
  SignedUrlOptions,
  StorageFeatures,
  StorageInfo,
  Visibility,
} from "./types.js";

export interface StorageOptions {
  /** Default visibility of saved files. Default: the driver's `defaultVisibility`, else "private". */
  visibility?: Visibility | undefined;
  /**
   * Default for `save()` and `signedUpload()`: false (a taken name gets a random suffix, decided
   * atomically by the backend). Static-file publishing sets true.
   */
  overwrite?: boolean | undefined;
  /** Default timeout of every call, in milliseconds. None by default. */
  timeout?: number | undefined;
  /** Default lifetime of signed URLs and uploads, in seconds. Default 3600. */
  signedUrlExpiresIn?: number | undefined;
  /** Base URL for public files (CDN or custom domain), e.g. "https://cdn.example.com/media/". */
  publicUrl?: string | undefined;
  /**
   * A read whose source sends nothing for this many milliseconds while the consumer waits ends in
   * a TimeoutError (a server that stalls mid-body). A slow consumer never trips it. Default 60 s;
   * 0 turns it off.
   */
  idleTimeout?: number | undefined;
  /**
   * The retry policy of every call (see retry.ts): retryable failures (throttling, 5xx, resets)
   * of operations that are safe to repeat are retried with jittered backoff. Default 4 attempts
   * within 30 s; false turns retries off. The drivers switch their SDKs' own retries off.
   */
  retry?: RetryOptions | false | undefined;
}

/** Every option of `new Storage(driver, options)` (the shortcuts split combined options by it). */
export const STORAGE_OPTION_KEYS = [
  "visibility",
  "overwrite",
  "timeout",
  "signedUrlExpiresIn",
  "publicUrl",
  "idleTimeout",
  "retry",
] as const satisfies readonly (keyof StorageOptions)[];

/** Whether a failed attempt may be repeated: always, never, or decided by the error. */
type Repeat = boolean | ((error: StorageError) => boolean);

/** The longest lifetime S3 and GCS accept for a v4 signature: 7 days. */
export const MAX_SIGNED_URL_EXPIRES_IN = 7 * 24 * 3600;
const DEFAULT_SIGNED_URL_EXPIRES_IN = 3600;
const DEFAULT_PAGE_SIZE = 1000;
/** The options of a save given none: shared rather than a new object per call (never changed). */
const NO_OPTIONS: SaveOptions = Object.freeze({});
/** Fallback deleteMany / copy parallelism for drivers without a batch call. */
const FALLBACK_CONCURRENCY = 16;
export const DEFAULT_IDLE_TIMEOUT = 60_000;
/** `Symbol.for`, so a Storage made by one copy of this package is recognised by another copy. */
const STORAGE_MARKER = Symbol.for("storages.storage");
/** Metadata keys every service accepts (S3/Azure headers, GCS): lower-case token characters. */
const METADATA_KEY = /^[a-z0-9][a-z0-9_-]*$/;

function isAbortLike(error: unknown): boolean {
  const name = (error as { name?: unknown })?.name;
  return name === "AbortError" || (error as { code?: unknown })?.code === "ABORT_ERR";
}

function looksRetryable(error: unknown): boolean {
  const e = error as {
    code?: unknown;
    statusCode?: unknown;
    status?: unknown;
  };
  // Drivers map their SDK's errors (and decide `retryable`) themselves; this is the guess for
  // whatever still gets through, from the fields HTTP libraries commonly set.
  const status = Number(e?.statusCode ?? e?.status);
  if (status === 429 || (status >= 500 && status < 600)) return true;
  return typeof e?.code === "string" && RETRYABLE_NETWORK_CODES.has(e.code);
}

/**
 * Bytes `range` of a stream of the whole file: for drivers without ranged reads, and for a server
 * that ignored a Range header and sent everything. An error of the source ends the slice with it;
 * whoever stops reading the slice early releases the source too.
 */
export function sliceStream(full: Readable, range: ByteRange): Readable {
  let position = 0;
  const end = range.end ?? Number.POSITIVE_INFINITY;
  const sliced = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      const chunkStart = position;
      position += chunk.length;
      const from = Math.max(range.start - chunkStart, 0);
      const to = Math.min(end + 1 - chunkStart, chunk.length);
      callback(null, from < to ? chunk.subarray(from, to) : undefined);
    },
  });
  full.on("error", (error) => sliced.destroy(error));
  sliced.on("close", () => {
    if (!full.destroyed) full.destroy();
  });
  full.pipe(sliced);
  return sliced;
}

function emptyStream(): Readable {
  return Readable.from([], { objectMode: false });
}

export class Storage {
  /**
   * True for a Storage made by any copy of @storages/core (an app can end up with two, e.g. a
   * driver that bundles its own): use it instead of `instanceof`.
   */
  static isInstance(value: unknown): value is Storage {
    return (
      typeof value === "object" &&
      value !== null &&
      (value as Record<symbol, unknown>)[STORAGE_MARKER] === true
    );
  }

  readonly driver: Driver;
  readonly options: Readonly<StorageOptions>;
  /** Default visibility of this storage's files. */
  readonly visibility: Visibility;
  readonly overwrite: boolean;
  readonly timeout: number | undefined;
  readonly signedUrlExpiresIn: number;
  readonly publicBaseUrl: string | undefined;
  readonly idleTimeout: number;
  readonly retry: ResolvedRetry;

  constructor(driver: Driver, options: StorageOptions = {}) {
    if (!driver || typeof driver.write !== "function" || typeof driver.read !== "function") {
      throw new InvalidArgumentError(
        "new Storage(driver) needs a driver object implementing the Driver contract.",
      );
    }
    checkOptionKeys(options, STORAGE_OPTION_KEYS, "Storage options");
    const idleTimeout = options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT;
    if (!(Number.isFinite(idleTimeout) && idleTimeout >= 0)) {
      throw new InvalidArgumentError(
        `idleTimeout must be a number of milliseconds (0 turns it off), got ${options.idleTimeout}.`,
      );
    }
    this.idleTimeout = idleTimeout;
    this.retry = resolveRetry(options.retry);
    Object.defineProperty(this, STORAGE_MARKER, { value: true });
    if (
      options.visibility !== undefined &&
      options.visibility !== "public" &&
      options.visibility !== "private"
    ) {
      throw new InvalidArgumentError(
        `visibility must be "public" or "private", got ${JSON.stringify(options.visibility)}.`,
      );
    }
    if (options.timeout !== undefined && !(Number.isFinite(options.timeout) && options.timeout > 0)) {
      throw new InvalidArgumentError(
        `timeout must be a positive number of milliseconds, got ${options.timeout}.`,
      );
    }
    if (options.publicUrl !== undefined) {
      try {
        if (!/^(https?:\/\/|\/)/.test(options.publicUrl)) throw new Error("not absolute");
        if (!options.publicUrl.startsWith("/")) new URL(options.publicUrl);
      } catch {
        throw new InvalidArgumentError(
          `publicUrl must be an absolute http(s) URL or a path starting with "/", got ${JSON.stringify(options.publicUrl)}.`,
        );
      }
    }
    this.driver = driver;
    this.options = Object.freeze({ ...options });
    // The one visibility rule: explicit wins, else a public base URL makes it public, else the driver's default.
    this.visibility = implicitVisibility(options) ?? driver.defaultVisibility ?? "private";
    this.overwrite = options.overwrite ?? false;
    this.timeout = options.timeout;
    this.signedUrlExpiresIn = checkExpiresIn(options.signedUrlExpiresIn ?? DEFAULT_SIGNED_URL_EXPIRES_IN);
    this.publicBaseUrl = options.publicUrl;
  }

  get backend(): string {
    return this.driver.backend;
  }

  get capabilities(): Capabilities {
    return this.driver.capabilities;
  }

  /** What this storage can do, and whether the service does it or the facade fills it in. */
  get features(): StorageFeatures {
    const caps = this.capabilities;
    const d = this.driver;
    const has = (method: unknown): "native" | "facade" =>
      typeof method === "function" ? "native" : "facade";
    const all: readonly ChecksumAlgorithm[] = ["md5", "sha256", "crc32c"];
    return {
      rangeRead: caps.rangeRead ? "native" : "facade",
      createExclusive: caps.conditionalWrite ? "native" : "none",
      copy: has(d.copy),
      move: has(d.move),
      deleteMany: has(d.deleteMany),
      exists: has(d.exists),
      publicUrl:
        this.publicBaseUrl !== undefined ? "facade" : caps.publicUrl && d.publicUrl ? "native" : "none",
      signedUrl: caps.signedUrl && d.signedUrl ? "native" : "none",
      signedUpload: d.signedUpload ? caps.signedUpload : [],
      signedUploadMaxBytes: d.signedUpload ? caps.signedUploadMaxBytes : [],
      visibility: caps.visibility,
      metadata: caps.metadata,
      checksums: { stored: caps.checksums, computed: all.filter((a) => !caps.checksums.includes(a)) },
    };
  }

  /** Where the files are and what the storage does, for tools and startup logs: never a secret. */
  describe(): StorageInfo {
    return {
      backend: this.backend,
      location: this.driver.describe?.(),
      publicBaseUrl: this.publicBaseUrl,
      visibility: this.visibility,
      overwrite: this.overwrite,
      readOnly: this.driver.readOnly === true,
      features: this.features,
    };
  }

  /**
   * The absolute local path of a file, for tools that need a real file (fs storages only). The
   * file need not exist. Its own calls refuse symlinks out of the root; a tool opening this path
   * itself should not follow symlinks either.
   */
  path(name: string): string {
    const key = this.name("path", name);
    if (!this.driver.path) {
      throw this.toStorageError(
        new UnsupportedError(
          `The ${this.backend} backend keeps no local files: read them with open() or readBytes(), or copy them to an fs storage.`,
        ),
        "path",
        key,
      );
    }
    return this.driver.path(key);
  }

  // -------------------------------------------------------------------------------------------
  // The call wrapper: signal + timeout, error context, wrapping of foreign errors.

  private toStorageError(error: unknown, operation: Operation, path: string | undefined): StorageError {
    const context = { operation, path, backend: this.backend };
    if (StorageError.isInstance(error)) return withContext(error, context);
    if (isAbortLike(error)) return new AbortedError(undefined, { ...context, cause: error });
    const message = error instanceof Error ? error.message : String(error);
    return new BackendError(`${this.backend} ${operation} failed: ${message}`, {
      ...context,
      cause: error,
      retryable: looksRetryable(error),
    });
  }

  /**
   * The error of a stream that broke after open() returned. Nothing of ours aborted it (that would
   * be `scope.fired`), so an SDK's "AbortError" here means it gave up on the connection: a broken
   * body, worth reading again, not the caller's abort.
   */
  private bodyError(error: unknown, operation: Operation, key: string): StorageError {
    if (this.driver.streamError)
      return this.toStorageError(this.driver.streamError(error, key), operation, key);
    if (!isAbortLike(error)) return this.toStorageError(error, operation, key);
    const message = error instanceof Error ? error.message : String(error);
    return new BackendError(
      `${this.backend} ${operation} failed: the body broke off before its end (${message}).`,
      {
        operation,
        path: key,
        backend: this.backend,
        cause: error,
        retryable: true,
      },
    );
  }

  /**
   * Every call goes through here: one scope (signal + timeout) for all its attempts, the retry
   * policy for the attempts (when `repeat` allows: the operation is safe to do again), and errors
   * with their context.
   */
  private async run<T>(
    operation: Operation,
    path: string | undefined,
    options: CallOptions | undefined,
    body: (signal: AbortSignal, scope: CallScope, policy: ResolvedRetry) => Promise<T>,
    repeat: Repeat = true,
  ): Promise<T> {
    const timeout = options?.timeout ?? this.timeout;
    // Reads hand out a stream their scope watches (idle timeout, caller's signal): theirs is their own.
    const scope =
      options?.signal === undefined && timeout === undefined && operation !== "open" && operation !== "read"
        ? CallScope.inert
        : new CallScope(options?.signal, timeout, operation, path, this.backend);
    let keepScope = false;
    try {
      if (scope.fired) throw scope.fired;
      const policy = options?.retry === undefined ? this.retry : resolveRetry(options.retry);
      // A body that is not safe to repeat as a whole (repeat: false) retries its own steps, under
      // the same policy: the call's `retry` option, else the storage's.
      const attempts =
        repeat === false || policy.attempts === 1
          ? body(scope.signal, scope, policy)
          : this.retrying(
              operation,
              path,
              scope.signal,
              () => body(scope.signal, scope, policy),
              repeat,
              policy,
            );
      // The call settles when the signal or timeout fires even if the driver, or a body stream
      // stalled inside an async generator, does not react to it; a stream the work yields late is
      // released, never leaked, and never left to crash the process with an unheard 'error'.
      // Without a signal and a timeout nothing can fire before the work settles (the idle timeout
      // only watches a stream the work has already handed out, and ends it itself), so there is
      // nothing to race: the hot path of bulk jobs skips the race's promise and listener.
      const result =
        options?.signal === undefined && timeout === undefined
          ? await attempts
          : await settleOnAbort(attempts, scope.signal, (late) => {
              if (late instanceof Readable) releaseStream(late, scope.fired);
            });
      keepScope = result instanceof Readable;
      return result;
    } catch (error) {
      throw this.toStorageError(scope.fired ?? error, operation, path);
    } finally {
      if (!keepScope) scope.dispose();
    }
  }

  /** One step of a call under the retry policy (the steps of a composite operation retry on their own). */
  private retrying<T>(
    operation: Operation,
    path: string | undefined,
    signal: AbortSignal,
    attempt: () => Promise<T>,
    repeat: Repeat = true,
    policy: ResolvedRetry = this.retry,
    firstAttempt?: FailedAttempt,
  ): Promise<T> {
    return withRetry(
      policy,
      {
        operation,
        path,
        backend: this.backend,
        signal,
        toError: (error) => this.toStorageError(error, operation, path),
        canRepeat: typeof repeat === "function" ? repeat : () => repeat,
      },
      attempt,
      firstAttempt,
    );
  }

  /** Validation errors thrown before a call starts still carry operation and backend. */
  private name(operation: Operation, name: unknown): string {
    try {
      return normalizeName(name);
    } catch (error) {
      throw this.toStorageError(error, operation, typeof name === "string" ? name : undefined);
    }
  }

  /**
   * Writes to a read-only storage are refused here, before any body is read or the service asked:
   * an HTTP request being piped in gets a clean error, and no no-op write "succeeds".
   */
  private refuseIfReadOnly(operation: Operation, key: string | undefined): void {
    if (!this.driver.readOnly) return;
    throw this.toStorageError(
      new ReadOnlyError(
        `This storage is read-only (${operation} refused). Static files are written at deploy time through the writer storage, not by the application.`,
      ),
      operation,
      key,
    );
  }

  private resolveVisibility(
    operation: Operation,
    path: string,
    requested: Visibility | undefined,
  ): Visibility {
    if (requested === undefined || requested === this.visibility) return this.visibility;
    if (requested !== "public" && requested !== "private") {
      throw this.toStorageError(
        new InvalidArgumentError(
          `visibility must be "public" or "private", got ${JSON.stringify(requested)}.`,
        ),
        operation,
        path,
      );
    }
    if (this.capabilities.visibility !== "object") {
      throw this.toStorageError(
        new UnsupportedError(
          `The ${this.backend} backend has one visibility for the whole storage (${this.visibility}); it cannot make one file ${requested}. Configure a separate ${requested} storage (e.g. named "${requested}").`,
        ),
        operation,
        path,
      );
    }
    return requested;
  }

  // -------------------------------------------------------------------------------------------
  // Writing

  /**
   * Stores a body under `name` and returns the name actually used. With `overwrite: false` (the
   * default) a taken name gets a random suffix; the backend decides atomically which name is free.
   */
  save(name: string, body: BodyInput, options: SaveOptions = NO_OPTIONS): Promise<SaveResult> {
    // Not an async function: bulk jobs make millions of saves, and an async wrapper around the call
    // below would add a promise and two ticks to each. What these checks throw still rejects.
    let key: string;
    let overwrite: boolean;
    let visibility: Visibility;
    try {
      key = this.name("save", name);
      this.refuseIfReadOnly("save", key);
      overwrite = options.overwrite ?? this.overwrite;
      visibility = this.resolveVisibility("save", key, options.visibility);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.run(
      "save",
      key,
      options,
      async (signal, _scope, policy) => {
        checkMetadata(options.metadata, this.capabilities);
        if (options.size !== undefined && !(Number.isSafeInteger(options.size) && options.size >= 0)) {
          throw new InvalidArgumentError(`size must be a non-negative integer, got ${options.size}.`);
        }
        if (!overwrite && !this.capabilities.conditionalWrite) {
          throw new UnsupportedError(
            `The ${this.backend} backend cannot create files exclusively, so overwrite: false cannot be guaranteed. Pass overwrite: true, or generate unique names yourself.`,
          );
        }
        const source = toBodySource(body);
        const names = overwrite ? undefined : new NameCandidates(key);
        const base = {
          signal,
          contentType: options.contentType ?? guessContentType(key),
          cacheControl: options.cacheControl,
          contentDisposition: options.contentDisposition,
          contentEncoding: options.contentEncoding,
          metadata: options.metadata,
          visibility,
          size: options.size ?? source.size,
          bytes: source.bytes,
          ifNotExists: !overwrite,
          nextKey: names && (() => names.next()),
        };
        if (!names) {
          // Overwriting (bulk jobs, most uploads): the first attempt goes straight to the driver;
          // the retry state is set up only when it fails. Per-call cost is what small files pay.
          const started = Date.now();
          let result: DriverWriteResult;
          try {
            result = await this.send(key, source, base);
          } catch (error) {
            result = await this.retrying(
              "save",
              key,
              signal,
              () => this.send(key, source, base),
              () => source.canResend(),
              policy,
              { started, error },
            );
          }
          return { name: result.key, size: result.size, etag: result.etag, checksums: result.checksums };
        }
        let candidate = key;
        // A stream can be sent once: when the name is visibly taken, start from a fresh one rather
        // than upload it all for a refusal. (Only a hint: the write below still decides atomically.)
        if (
          names &&
          !source.replayable &&
          (await this.retrying("save", key, signal, () => this.driverExists(key, signal), true, policy))
        )
          candidate = names.next();
        let sent = 0;
        const writeOnce = async (target: string): Promise<SaveResult> => {
          // Resending without overwrite: the last attempt may have stored the file and lost only its
          // answer. If the name now holds exactly these bytes, that file is this save's.
          if (sent++ > 0 && source.bytes && (await this.holds(target, source.bytes, signal))) {
            return { name: target, size: source.bytes.byteLength };
          }
          const result = await this.send(target, source, base);
          return { name: result.key, size: result.size, etag: result.etag, checksums: result.checksums };
        };
        for (;;) {
          try {
            // A failed send is repeated while the body can be sent again (in memory, or a stream
            // the service refused before reading any of it).
            // A taken name is an answer, not a fault: it goes to the name loop below, never to a retry.
            return await this.retrying(
              "save",
              candidate,
              signal,
              () => writeOnce(candidate),
              (error) => error.code !== "E_ALREADY_EXISTS" && source.canResend(),
              policy,
            );
          } catch (error) {
            if (!StorageError.hasCode(error, "E_ALREADY_EXISTS")) throw error;
            if (!source.replayable) {
              throw new AlreadyExistsError(
                `Another writer created "${candidate}" while this stream was being uploaded, and a stream cannot be sent twice. Retry the save: it will pick a new name.`,
                { cause: error, retryable: true, path: candidate },
              );
            }
            candidate = names.next(error);
          }
        }
      },
      false,
    );
  }

  /** One write of a save's body: bytes in memory straight to the driver when it takes them. */
  private send(target: string, source: BodySource, options: DriverWriteOptions): Promise<DriverWriteResult> {
    return source.bytes && this.driver.writeBytes
      ? this.driver.writeBytes(target, source.bytes, options)
      : this.driver.write(target, source.stream(), options);
  }

  /** Whether `key` holds exactly `bytes` (checked by size, then by content). */
  private async holds(key: string, bytes: Uint8Array, signal: AbortSignal): Promise<boolean> {
    try {
      const stat = await this.driver.stat(key, { signal });
      if (stat.size !== bytes.byteLength) return false;
      const stored = await (this.driver.readBytes
        ? this.driver.readBytes(key, { signal })
        : collectBytes(await this.driver.read(key, { signal })));
      return (
        Buffer.compare(Buffer.from(stored), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) ===
        0
      );
    } catch {
      return false;
    }
  }

  /** Saves a value as JSON (UTF-8, `application/json` unless the options say otherwise). */
  async writeJson(name: string, value: unknown, options: SaveOptions = {}): Promise<SaveResult> {
    let text: string | undefined;
    try {
      text = JSON.stringify(value);
    } catch (error) {
      throw this.toStorageError(
        new InvalidArgumentError(`writeJson: the value cannot be serialised (${(error as Error).message}).`),
        "save",
        typeof name === "string" ? name : undefined,
      );
    }
    if (text === undefined) {
      throw this.toStorageError(
        new InvalidArgumentError(
          `writeJson: ${typeof value} has no JSON form; pass an object, array, string, number, boolean or null.`,
        ),
        "save",
        typeof name === "string" ? name : undefined,
      );
    }
    return this.save(name, text, { contentType: "application/json", ...options });
  }

  // -------------------------------------------------------------------------------------------
  // Reading

  /**
   * A stream of the file (or of a byte range: `end` inclusive, clamped; a start past the end reads
   * nothing). The call's timeout covers getting the stream; the caller's signal and the idle
   * timeout keep covering the reading of it.
   */
  async open(name: string, options: OpenOptions = {}): Promise<ReadStream> {
    const key = this.name("open", name);
    const range = this.range("open", key, options.range);
    const idleTimeout = this.idleTimeoutOf("open", key, options.idleTimeout);
    return this.run("open", key, options, async (signal, scope) => {
      const stream = await this.openStream("open", key, range, signal, scope);
      scope.watchStream(stream, idleTimeout, false);
      return asReadStream(stream);
    });
  }

  /** The whole file (or range) in memory. The call's timeout covers the whole read. */
  async readBytes(name: string, options: OpenOptions = {}): Promise<Buffer> {
    const key = this.name("read", name);
    const range = this.range("read", key, options.range);
    const idleTimeout = this.idleTimeoutOf("read", key, options.idleTimeout);
    return this.run("read", key, options, async (signal, scope) => {
      if (this.driver.readBytes && (range === undefined || this.capabilities.rangeRead)) {
        return this.readBytesDirect(key, range, signal);
      }
      const stream = await this.openStream("read", key, range, signal, scope);
      scope.watchStream(stream, idleTimeout, true);
      return collectBytes(stream);
    });
  }

  async readText(name: string, options: OpenOptions = {}): Promise<string> {
    return (await this.readBytes(name, options)).toString("utf8");
  }

  /** Reads and parses a JSON file; a file that is not JSON is an InvalidArgumentError naming it. */
  async readJson<T = unknown>(name: string, options: OpenOptions = {}): Promise<T> {
    const text = await this.readText(name, options);
    try {
      return JSON.parse(text) as T;
    } catch (error) {
      throw this.toStorageError(
        new InvalidArgumentError(`"${name}" is not valid JSON (${(error as Error).message}).`, {
          cause: error,
        }),
        "read",
        name,
      );
    }
  }

  private range(operation: Operation, key: string, range: ByteRange | undefined): ByteRange | undefined {
    if (range !== undefined) checkRange(range, (error) => this.toStorageError(error, operation, key));
    return range;
  }

  private idleTimeoutOf(operation: Operation, key: string, requested: number | undefined): number {
    if (requested === undefined) return this.idleTimeout;
    if (Number.isFinite(requested) && requested >= 0) return requested;
    throw this.toStorageError(
      new InvalidArgumentError(
        `idleTimeout must be a number of milliseconds (0 turns it off), got ${requested}.`,
      ),
      operation,
      key,
    );
  }

  private async readBytesDirect(
    key: string,
    range: ByteRange | undefined,
    signal: AbortSignal,
  ): Promise<Buffer> {
    let bytes: Uint8Array;
    try {
      bytes = await this.driver.readBytes!(key, { signal, range });
    } catch (error) {
      if (!StorageError.hasCode(error, "E_RANGE_NOT_SATISFIABLE")) throw error;
      return Buffer.alloc(0);
    }
    return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /**
   * The driver's stream of a file or range (sliced here for drivers that cannot), failing with
   * StorageErrors only.
   */
  private async openStream(
    operation: Operation,
    key: string,
    range: ByteRange | undefined,
    signal: AbortSignal,
    scope: CallScope,
  ): Promise<Readable> {
    const stream = await this.driverStream(key, range, signal);
    translateStreamErrors(stream, (error) => scope.fired ?? this.bodyError(error, operation, key));
    return stream;
  }

  private async driverStream(
    key: string,
    range: ByteRange | undefined,
    signal: AbortSignal,
  ): Promise<Readable> {
    if (range && !this.capabilities.rangeRead)
      return sliceStream(await this.driver.read(key, { signal }), range);
    try {
      return await this.driver.read(key, { signal, range });
    } catch (error) {
      if (!StorageError.hasCode(error, "E_RANGE_NOT_SATISFIABLE")) throw error;
      return emptyStream();
    }
  }

  private async driverExists(key: string, signal: AbortSignal): Promise<boolean> {
    if (this.driver.exists) return this.driver.exists(key, { signal });
    try {
      await this.driver.stat(key, { signal });
      return true;
    } catch (error) {
      if (StorageError.hasCode(error, "E_NOT_FOUND")) return false;
      throw error;
    }
  }

  async exists(name: string, options: CallOptions = {}): Promise<boolean> {
    const key = this.name("exists", name);
    return this.run("exists", key, options, (signal) => this.driverExists(key, signal));
  }

  async stat(name: string, options: CallOptions = {}): Promise<ObjectStat> {
    const key = this.name("stat", name);
    return this.run("stat", key, options, (signal) => this.driver.stat(key, { signal }));
  }

  /**
   * A checksum of the file, lower-case hex: the one the backend stores when it has it, else
   * computed by streaming the file through the hash.
   */
  async checksum(name: string, algorithm: ChecksumAlgorithm, options: CallOptions = {}): Promise<string> {
    const key = this.name("checksum", name);
    if (algorithm !== "md5" && algorithm !== "sha256" && algorithm !== "crc32c") {
      throw this.toStorageError(
        new InvalidArgumentError(
          `checksum algorithm must be "md5", "sha256" or "crc32c", got ${JSON.stringify(algorithm)}.`,
        ),
        "checksum",
        key,
      );
    }
    return this.run("checksum", key, options, async (signal) => {
      if (this.capabilities.checksums.includes(algorithm)) {
        const stored = (await this.driver.stat(key, { signal })).checksums?.[algorithm];
        if (stored) return stored;
      }
      return digestStream(await this.driver.read(key, { signal }), algorithm);
    });
  }

  // -------------------------------------------------------------------------------------------
  // Listing

  /** One page of a listing; pass the returned cursor back for the next. Cursors can be persisted. */
  async listPage(prefix = "", options: ListPageOptions = {}): Promise<ListPage> {
    let dir: string;
    try {
      dir = normalizePrefix(prefix);
    } catch (error) {
      throw this.toStorageError(error, "list", typeof prefix === "string" ? prefix : undefined);
    }
    const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
    if (!Number.isSafeInteger(pageSize) || pageSize < 1 || pageSize > DEFAULT_PAGE_SIZE) {
      throw this.toStorageError(
        new InvalidArgumentError(
          `pageSize must be an integer from 1 to ${DEFAULT_PAGE_SIZE}, got ${pageSize}.`,
        ),
        "list",
        dir,
      );
    }
    return this.run("list", dir, options, (signal) =>
      this.driver.listPage(dir, {
        signal,
        recursive: options.recursive ?? false,
        pageSize,
        cursor: options.cursor,
      }),
    );
  }

  /**
   * Every entry below `prefix`: one level by default (sub-directories as entries), everything with
   * `recursive: true`. Fetched page by page, so memory stays bounded by the page size.
   */
  async *list(prefix = "", options: ListOptions = {}): AsyncGenerator<ListEntry> {
    let cursor: string | undefined;
    do {
      const page = await this.listPage(prefix, { ...options, cursor });
      yield* page.entries;
      cursor = page.cursor;
    } while (cursor !== undefined);
  }

  // -------------------------------------------------------------------------------------------
  // Copy, move, delete

  /** Copies a file (inside the service when it can). Replaces the destination unless overwrite: false. */
  async copy(from: string, to: string, options: CopyOptions = {}): Promise<void> {
    const source = this.name("copy", from);
    const target = this.name("copy", to);
    this.refuseIfReadOnly("copy", target);
    const overwrite = options.overwrite ?? true;
    return this.run(
      "copy",
      source,
      options,
      async (signal) => {
        if (source === target) {
          await this.driver.stat(source, { signal }); // a self-copy is a no-op, but of an existing file
          if (!overwrite) throw new AlreadyExistsError(`"${target}" already exists.`, { path: target });
          return;
        }
        if (this.driver.copy)
          return this.driver.copy(source, target, { signal, overwrite, link: options.link === true });
        await this.streamCopy(source, target, overwrite, signal);
        // Copying again is harmless when it replaces the destination; without overwrite, a lost
        // answer would turn a retry into a false "already exists".
      },
      overwrite,
    );
  }

  private async streamCopy(
    source: string,
    target: string,
    overwrite: boolean,
    signal: AbortSignal,
  ): Promise<void> {
    const stat = await this.driver.stat(source, { signal });
    const body = await this.driver.read(source, { signal });
    await this.driver.write(target, body, {
      signal,
      contentType: stat.contentType ?? guessContentType(target),
      cacheControl: stat.cacheControl,
      contentDisposition: stat.contentDisposition,
      contentEncoding: stat.contentEncoding,
      metadata: stat.metadata,
      visibility: stat.visibility ?? this.visibility,
      size: stat.size,
      ifNotExists: !overwrite,
    });
  }

  /** Moves a file: a native rename where the service has one, else copy then delete. */
  async move(from: string, to: string, options: CopyOptions = {}): Promise<void> {
    const source = this.name("move", from);
    const target = this.name("move", to);
    this.refuseIfReadOnly("move", source);
    const overwrite = options.overwrite ?? true;
    return this.run(
      "move",
      source,
      options,
      async (signal, _scope, policy) => {
        if (source === target) {
          await this.driver.stat(source, { signal });
          return;
        }
        // A rename that may have happened cannot be repeated blindly; copy then delete can, step by step.
        if (this.driver.move) return this.driver.move(source, target, { signal, overwrite });
        await this.retrying(
          "move",
          source,
          signal,
          () =>
            this.driver.copy
              ? this.driver.copy(source, target, { signal, overwrite })
              : this.streamCopy(source, target, overwrite, signal),
          overwrite,
          policy,
        );
        await this.retrying(
          "move",
          source,
          signal,
          () => this.driver.delete(source, { signal }),
          true,
          policy,
        );
      },
      false,
    );
  }

  /** Deletes a file. Deleting a missing file succeeds. */
  async delete(name: string, options: CallOptions = {}): Promise<void> {
    const key = this.name("delete", name);
    this.refuseIfReadOnly("delete", key);
    return this.run("delete", key, options, (signal) => this.driver.delete(key, { signal }));
  }

  /**
   * Deletes many files (missing ones are fine). Every name is validated before anything is deleted.
   * Throws PartialFailureError listing the ones that could not be deleted.
   */
  async deleteMany(names: Iterable<string>, options: CallOptions = {}): Promise<void> {
    const keys = [...new Set(Array.from(names, (name) => this.name("deleteMany", name)))];
    this.refuseIfReadOnly("deleteMany", undefined);
    if (keys.length === 0) return;
    return this.run("deleteMany", undefined, options, async (signal) => {
      const failures = await this.deleteKeys(keys, signal);
      if (failures.length > 0) throw this.partialFailure("deleteMany", failures, keys.length);
    });
  }

  /**
   * Deletes every file below a directory prefix ("avatars/2024/"), page by page, so memory stays
   * bounded whatever the count; returns how many were deleted. The root ("") is refused unless
   * `all: true` says so. Throws PartialFailureError listing the files that could not be deleted
   * (after trying every other one).
   */
  async deletePrefix(
    prefix: string,
    options: CallOptions & { all?: boolean } = {},
  ): Promise<{ deleted: number }> {
    let dir: string;
    try {
      dir = normalizePrefix(prefix);
    } catch (error) {
      throw this.toStorageError(error, "deletePrefix", typeof prefix === "string" ? prefix : undefined);
    }
    if (dir === "" && options.all !== true) {
      throw this.toStorageError(
        new InvalidArgumentError(
          'deletePrefix("") would delete every file of the storage: pass { all: true } if that is what you mean.',
        ),
        "deletePrefix",
        dir,
      );
    }
    this.refuseIfReadOnly("deletePrefix", dir);
    return this.run("deletePrefix", dir, options, async (signal) => {
      let deleted = 0;
      let attempted = 0;
      const failures: Array<{ key: string; error: unknown }> = [];
      let cursor: string | undefined;
      do {
        const page = await this.driver.listPage(dir, {
          signal,
          recursive: true,
          pageSize: DEFAULT_PAGE_SIZE,
          cursor,
        });
        const keys = page.entries.filter((e) => e.type === "file").map((e) => e.name);
        const failed = keys.length ? await this.deleteKeys(keys, signal) : [];
        attempted += keys.length;
        deleted += keys.length - failed.length;
        failures.push(...failed);
        cursor = page.cursor;
      } while (cursor !== undefined);
      if (failures.length > 0) throw this.partialFailure("deletePrefix", failures, attempted);
      return { deleted };
    });
  }

  /** One batch of deletes: the driver's batch call, else one by one with bounded concurrency. */
  private async deleteKeys(
    keys: string[],
    signal: AbortSignal,
  ): Promise<Array<{ key: string; error: unknown }>> {
    if (this.driver.deleteMany) return (await this.driver.deleteMany(keys, { signal })).failures;
    const limit = pLimit(FALLBACK_CONCURRENCY);
    const failures: Array<{ key: string; error: unknown }> = [];
    await Promise.all(
      keys.map((key) =>
        limit(async () => {
          try {
            await this.driver.delete(key, { signal });
          } catch (error) {
            failures.push({ key, error });
          }
        }),
      ),
    );
    return failures;
  }

  private partialFailure(
    operation: Operation,
    failures: Array<{ key: string; error: unknown }>,
    total: number,
  ): PartialFailureError {
    const error = new PartialFailureError(
      `${failures.length} of ${total} files could not be deleted (first: "${failures[0]!.key}").`,
    );
    error.failures = failures.map(({ key, error: cause }) => ({
      path: key,
      error: this.toStorageError(cause, "delete", key),
    }));
    error.retryable = error.failures.every((f) => f.error.retryable);
    return withContext(error, { operation, backend: this.backend });
  }

  // -------------------------------------------------------------------------------------------
  // URLs

  /** The unsigned URL of a file: the configured public base (CDN) or the service's own URL. */
  publicUrl(name: string): string {
    const key = this.name("url", name);
    if (this.publicBaseUrl !== undefined) return joinUrl(this.publicBaseUrl, key);
    if (this.driver.publicUrl && this.capabilities.publicUrl) {
      try {
        return this.driver.publicUrl(key);
      } catch (error) {
        throw this.toStorageError(error, "url", key);
      }
    }
    throw this.toStorageError(
      new UnsupportedError(
        `The ${this.backend} storage has no public URL for files. Configure publicUrl (a CDN or web server base URL), or use signedUrl().`,
      ),
      "url",
      key,
    );
  }

  /** The URL to hand a browser: public storages get the public URL, private ones a signed one. */
  async url(name: string, options: SignedUrlOptions = {}): Promise<string> {
    if (this.visibility === "public") return this.publicUrl(name);
    return this.signedUrl(name, options);
  }

  /** A signed, expiring GET URL; `download` makes browsers save it (with that file name). */
  async signedUrl(name: string, options: SignedUrlOptions = {}): Promise<string> {
    const key = this.name("signedUrl", name);
    return this.run("signedUrl", key, options, async (signal) => {
      if (!this.capabilities.signedUrl || !this.driver.signedUrl) {
        throw new UnsupportedError(`The ${this.backend} backend cannot sign URLs.`);
      }
      const expiresIn = checkExpiresIn(options.expiresIn ?? this.signedUrlExpiresIn);
      let responseContentDisposition: string | undefined;
      if (options.download === true) responseContentDisposition = contentDisposition(basename(key));
      else if (typeof options.download === "string" && options.download !== "") {
        responseContentDisposition = contentDisposition(options.download);
      }
      return this.driver.signedUrl(key, {
        signal,
        expiresIn,
        responseContentDisposition,
        responseContentType: options.contentType,
      });
    });
  }

  /**
   * A signed upload a browser (or any HTTP client) can use without credentials. With `maxBytes`,
   * only methods whose server enforces the limit are used. With overwrite false (the default) the
   * name gets a random suffix now: an upload cannot be checked against concurrent ones later.
   */
  async signedUpload(name: string, options: SignedUploadOptions = {}): Promise<SignedUpload> {
    const requested = this.name("signedUpload", name);
    this.refuseIfReadOnly("signedUpload", requested);
    const overwrite = options.overwrite ?? this.overwrite;
    const key = overwrite ? requested : alternativeName(requested);
    return this.run("signedUpload", key, options, async (signal) => {
      const { signedUpload: methods, signedUploadMaxBytes: limited } = this.capabilities;
      if (methods.length === 0 || !this.driver.signedUpload) {
        throw new UnsupportedError(`The ${this.backend} backend has no signed uploads.`);
      }
      const { maxBytes } = options;
      if (maxBytes !== undefined && !(Number.isSafeInteger(maxBytes) && maxBytes >= 0)) {
        throw new InvalidArgumentError(`maxBytes must be a non-negative integer, got ${maxBytes}.`);
      }
      let method: SignedUploadMethod | undefined = options.method;
      if (method !== undefined && !methods.includes(method)) {
        throw new UnsupportedError(
          `The ${this.backend} backend has no signed ${method.toUpperCase()} uploads (it has: ${methods.join(", ")}).`,
        );
      }
      if (maxBytes !== undefined) {
        method ??= limited[0];
        if (method === undefined || !limited.includes(method)) {
          throw new UnsupportedError(
            `The ${this.backend} backend cannot enforce maxBytes on a signed ${(method ?? methods[0] ?? "").toUpperCase()} upload${limited.length ? ` (it can with: ${limited.join(", ")})` : ""}. Upload through your server, or check the size after upload.`,
          );
        }
      }
      method ??= methods.includes("put") ? "put" : methods[0]!;
      const signed = await this.driver.signedUpload(key, {
        signal,
        method,
        expiresIn: checkExpiresIn(options.expiresIn ?? this.signedUrlExpiresIn),
        contentType: options.contentType,
        maxBytes,
        visibility: this.visibility,
      });
      return { ...signed, name: key };
    });
  }

  // -------------------------------------------------------------------------------------------
  // Visibility

  async setVisibility(name: string, visibility: Visibility, options: CallOptions = {}): Promise<void> {
    const key = this.name("setVisibility", name);
    this.refuseIfReadOnly("setVisibility", key);
    const wanted = this.resolveVisibility("setVisibility", key, visibility);
    return this.run("setVisibility", key, options, async (signal) => {
      if (this.capabilities.visibility === "object" && this.driver.setVisibility) {
        return this.driver.setVisibility(key, wanted, { signal });
      }
      await this.driver.stat(key, { signal }); // same visibility as the storage: nothing to change
    });
  }

  async getVisibility(name: string, options: CallOptions = {}): Promise<Visibility> {
    const key = this.name("getVisibility", name);
    return this.run("getVisibility", key, options, async (signal) => {
      if (this.capabilities.visibility === "object" && this.driver.getVisibility) {
        return this.driver.getVisibility(key, { signal });
      }
      const stat = await this.driver.stat(key, { signal });
      return stat.visibility ?? this.visibility;
    });
  }

  /**
   * Makes every save so far durable. Nothing to do for backends whose saves are durable when they
   * return (the clouds, memory, fs by default); an fs storage with `durability: "batch"` syncs here
   * what it deferred. Bulk jobs (collectstatic) call it once at the end; close() does it too.
   */
  async flush(options: CallOptions = {}): Promise<void> {
    const driver = this.driver;
    if (!driver.flush) return;
    return this.run("flush", undefined, options, (signal) => driver.flush!({ signal }));
  }

  /**
   * Whether deleted or overwritten files stay recoverable (bucket versioning, soft delete): for
   * deployment checks. Undefined when the backend cannot tell (or these credentials may not ask).
   */
  async dataProtection(options: CallOptions = {}): Promise<DataProtection | undefined> {
    const driver = this.driver;
    if (!driver.dataProtection) return undefined;
    return this.run("dataProtection", undefined, options, (signal) => driver.dataProtection!({ signal }));
  }

  /** Releases the driver's sockets and handles. */
  async close(): Promise<void> {
    await this.driver.close?.();
  }
}

function checkExpiresIn(expiresIn: number): number {
  if (!Number.isSafeInteger(expiresIn) || expiresIn < 1 || expiresIn > MAX_SIGNED_URL_EXPIRES_IN) {
    throw new InvalidArgumentError(
      `expiresIn must be a whole number of seconds from 1 to ${MAX_SIGNED_URL_EXPIRES_IN} (7 days), got ${expiresIn}.`,
    );
  }
  return expiresIn;
}

function checkRange(range: ByteRange, wrap: (error: unknown) => StorageError): void {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || start < 0) {
    throw wrap(new InvalidArgumentError(`range.start must be a non-negative integer, got ${start}.`));
  }
  if (end !== undefined && (!Number.isSafeInteger(end) || end < start)) {
    throw wrap(
      new InvalidArgumentError(`range.end must be an integer >= range.start (${start}), got ${end}.`),
    );
  }
}

function checkMetadata(metadata: Record<string, string> | undefined, capabilities: Capabilities): void {
  if (metadata === undefined) return;
  const entries = Object.entries(metadata);
  if (entries.length === 0) return;
  if (!capabilities.metadata) {
    throw new UnsupportedError(
      "This backend does not store custom metadata. Remove `metadata` from the save options.",
    );
  }
  for (const [key, value] of entries) {
    if (!METADATA_KEY.test(key)) {
      throw new InvalidArgumentError(
        `Metadata key ${JSON.stringify(key)} is not portable: use lower-case letters, digits, "-" and "_", starting with a letter or digit.`,
      );
    }
    if (typeof value !== "string" || !/^[\x20-\x7e]*$/.test(value)) {
      throw new InvalidArgumentError(
        `Metadata value for ${JSON.stringify(key)} must be printable ASCII (it travels in an HTTP header); encode other text, e.g. with encodeURIComponent.`,
      );
    }
  }
}
