/**
 * The Storage facade: the one API applications use, whatever the backend.
 *
 * Everything that is the same for every backend lives here, once: path rules, input conversion,
 * names and collisions, timeouts and AbortSignal, error context, URL rules and the gaps a driver
 * leaves (move = copy + delete, deleteMany one by one, ranges and checksums from the stream).
 *
 * This file holds the class, its public calls and the call wrapper (`run`) every call goes
 * through; each call delegates the work of its own subject: storage-options.ts (options, defaults),
 * error-mapping.ts and retrying.ts (failures and retried steps), argument-checks.ts, saving.ts
 * (a save's sends and name loop), driver-reads.ts (streams and ranges), driver-fallbacks.ts
 * (exists, copy, move where the driver has none), bulk-delete.ts, storage-urls.ts and
 * storage-features.ts.
 */
import { Readable } from "node:stream";
import { releaseStream, settleOnAbort } from "./abort.js";
import { checkExpiresIn, checkRange, idleTimeoutOf, resolveVisibility } from "./argument-checks.js";
import { asReadStream, collectBytes, type ReadStream } from "./body.js";
import { deleteAll, deleteBelow } from "./bulk-delete.js";
import { digestStream } from "./checksum.js";
import { implicitVisibility } from "./config/visibility.js";
import { driverExists, moveByCopy, streamCopy } from "./driver-fallbacks.js";
import { openStream, readBytesDirect } from "./driver-reads.js";
import { toStorageError } from "./error-mapping.js";
import {
  AlreadyExistsError,
  InvalidArgumentError,
  type Operation,
  ReadOnlyError,
  type StorageError,
  UnsupportedError,
} from "./errors.js";
import { alternativeName } from "./naming.js";
import { checkOptionKeys } from "./options.js";
import { normalizeName, normalizePrefix } from "./path.js";
import { type ResolvedRetry, resolveRetry } from "./retry.js";
import { type Repeat, retrying } from "./retrying.js";
import { writeSave } from "./saving.js";
import { CallScope } from "./scope.js";
import { featuresOf } from "./storage-features.js";
import {
  checkStorageOptions,
  DEFAULT_PAGE_SIZE,
  DEFAULT_SIGNED_URL_EXPIRES_IN,
  idleTimeoutOption,
  STORAGE_OPTION_KEYS,
  type StorageOptions,
} from "./storage-options.js";
import { publicUrlOf, signUpload, signUrl } from "./storage-urls.js";
import type {
  BodyInput,
  ByteRange,
  CallOptions,
  Capabilities,
  ChecksumAlgorithm,
  CopyOptions,
  DataProtection,
  Driver,
  ListEntry,
  ListOptions,
  ListPage,
  ListPageOptions,
  ObjectStat,
  OpenOptions,
  SaveOptions,
  SaveResult,
  SignedUpload,
  SignedUploadOptions,
  SignedUrlOptions,
  StorageFeatures,
  StorageInfo,
  Visibility,
} from "./types.js";

export { sliceStream } from "./driver-reads.js";
export {
  DEFAULT_IDLE_TIMEOUT,
  MAX_SIGNED_URL_EXPIRES_IN,
  STORAGE_OPTION_KEYS,
  type StorageOptions,
  unsafeUrlProblem,
} from "./storage-options.js";

/** The options of a save given none: shared rather than a new object per call (never changed). */
const NO_OPTIONS: SaveOptions = Object.freeze({});
/** `Symbol.for`, so a Storage made by one copy of this package is recognised by another copy. */
const STORAGE_MARKER = Symbol.for("storages.storage");

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
    this.idleTimeout = idleTimeoutOption(options);
    this.retry = resolveRetry(options.retry);
    Object.defineProperty(this, STORAGE_MARKER, { value: true });
    checkStorageOptions(options);
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
    return featuresOf(this);
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
    return toStorageError(error, operation, path, this.backend);
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
          : retrying(
              this.backend,
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

  // -------------------------------------------------------------------------------------------
  // Writing

  /**
   * Stores a body under `name` and returns the name actually used. With `overwrite: false` (the
   * default) a taken name gets a random suffix; the backend decides atomically which name is free.
   * With `exclusive: true` a taken name is an AlreadyExistsError instead.
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
      // exclusive never overwrites (writeSave refuses it beside an explicit overwrite: true).
      overwrite = options.exclusive === true ? false : (options.overwrite ?? this.overwrite);
      visibility = resolveVisibility(this, "save", key, options.visibility);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.run(
      "save",
      key,
      options,
      (signal, _scope, policy) =>
        writeSave(this.driver, key, body, options, overwrite, visibility, signal, policy),
      false,
    );
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
    const idleTimeout = idleTimeoutOf(this, "open", key, options.idleTimeout);
    return this.run("open", key, options, async (signal, scope) => {
      const stream = await openStream(this.driver, "open", key, range, signal, scope);
      scope.watchStream(stream, idleTimeout, false);
      return asReadStream(stream);
    });
  }

  /** The whole file (or range) in memory. The call's timeout covers the whole read. */
  async readBytes(name: string, options: OpenOptions = {}): Promise<Buffer> {
    const key = this.name("read", name);
    const range = this.range("read", key, options.range);
    const idleTimeout = idleTimeoutOf(this, "read", key, options.idleTimeout);
    return this.run("read", key, options, async (signal, scope) => {
      if (this.driver.readBytes && (range === undefined || this.capabilities.rangeRead)) {
        return readBytesDirect(this.driver, key, range, signal);
      }
      const stream = await openStream(this.driver, "read", key, range, signal, scope);
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

  async exists(name: string, options: CallOptions = {}): Promise<boolean> {
    const key = this.name("exists", name);
    return this.run("exists", key, options, (signal) => driverExists(this.driver, key, signal));
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
        await streamCopy(this.driver, source, target, overwrite, this.visibility, signal);
        // Copying again is harmless when it replaces the destination; without overwrite, a lost
        // answer would turn a retry into a false "already exists".
      },
      overwrite,
    );
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
        await moveByCopy(this, source, target, overwrite, signal, policy);
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
    return this.run("deleteMany", undefined, options, (signal) => deleteAll(this.driver, keys, signal));
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
    return this.run("deletePrefix", dir, options, (signal) => deleteBelow(this.driver, dir, signal));
  }

  // -------------------------------------------------------------------------------------------
  // URLs

  /** The unsigned URL of a file: the configured public base (CDN) or the service's own URL. */
  publicUrl(name: string): string {
    return publicUrlOf(this, this.name("url", name));
  }

  /** The URL to hand a browser: public storages get the public URL, private ones a signed one. */
  async url(name: string, options: SignedUrlOptions = {}): Promise<string> {
    if (this.visibility === "public") return this.publicUrl(name);
    return this.signedUrl(name, options);
  }

  /** A signed, expiring GET URL; `download` makes browsers save it (with that file name). */
  async signedUrl(name: string, options: SignedUrlOptions = {}): Promise<string> {
    const key = this.name("signedUrl", name);
    return this.run("signedUrl", key, options, (signal) => signUrl(this, key, options, signal));
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
    return this.run("signedUpload", key, options, (signal) => signUpload(this, key, options, signal));
  }

  // -------------------------------------------------------------------------------------------
  // Visibility

  async setVisibility(name: string, visibility: Visibility, options: CallOptions = {}): Promise<void> {
    const key = this.name("setVisibility", name);
    this.refuseIfReadOnly("setVisibility", key);
    const wanted = resolveVisibility(this, "setVisibility", key, visibility);
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
