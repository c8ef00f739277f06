/**
 * `mirror(primary, ...secondaries)`: the dual-write phase of a migration.
 *
 * Writes, deletes, copies and visibility changes go to every storage; the primary decides the name
 * (collision suffixes included) and the secondaries store that exact name. A save that must not
 * overwrite picks a name free on every member, and never replaces a secondary's file. Reads, stats
 * and existence checks come from the primary and fall back to the secondaries on NotFound. Listing
 * and URLs come from the primary only.
 *
 * Caveats (see docs/configuration.md):
 * - Not atomic across backends. When a secondary fails after the primary succeeded, the call throws
 *   MirrorDivergedError naming the stored name and which storages have the change: the storages have
 *   diverged until that file is written again or reconciled (`storages verify` / `storages sync`).
 *   Nothing is rolled back: undoing an overwrite could destroy the previous version.
 * - A stream body is read back from the primary for each secondary (memory stays bounded; the
 *   primary pays one extra read per secondary).
 * - Signed uploads are refused: a browser uploading straight to the primary would bypass the mirror.
 * - `close()` does not close the member storages: whoever created them owns them.
 */
import type { Readable } from "node:stream";
import {
  AlreadyExistsError,
  InvalidArgumentError,
  NotFoundError,
  type Operation,
  PartialFailureError,
  StorageError,
  UnsupportedError,
} from "./errors.js";
import { Storage } from "./storage.js";
import type {
  Capabilities,
  Driver,
  DriverCallOptions,
  DriverCopyOptions,
  DriverListOptions,
  DriverReadOptions,
  DriverSignedUrlOptions,
  DriverWriteOptions,
  DriverWriteResult,
  ListPage,
  ObjectStat,
  SaveOptions,
  Visibility,
} from "./types.js";

export interface MirrorOptions {
  /**
   * What a failure on a secondary does once the primary succeeded. "throw" (default): the call fails
   * with MirrorDivergedError. A function: it is called with that error and the call succeeds (for a
   * dual-write phase where the new backend must not take production down); reconcile later.
   */
  onSecondaryError?: "throw" | ((error: MirrorDivergedError) => void) | undefined;
}

/** The primary has the change, some secondaries do not: the storages have diverged. */
export class MirrorDivergedError extends PartialFailureError {
  /** The storage-relative name concerned (the name actually stored, for a save). */
  readonly key: string;
  /** Members that have the change, e.g. ["primary (fs)", "secondary 2 (gcs)"]. */
  readonly succeeded: string[];
  /** Members that do not. */
  readonly failed: string[];

  constructor(
    operation: Operation,
    key: string,
    succeeded: string[],
    failures: Array<{ member: string; error: StorageError }>,
  ) {
    const failed = failures.map((f) => f.member);
    super(
      `mirror: ${operation} of "${key}" succeeded on ${succeeded.join(", ")} but failed on ${failures
        .map((f) => `${f.member}: ${f.error.message}`)
        .join("; ")}. The storages have diverged for this file: retry the ${operation}, or reconcile them ` +
        `(storages verify / sync) before relying on the secondaries.`,
      { operation, path: key, retryable: failures.every((f) => f.error.retryable) },
    );
    this.key = key;
    this.succeeded = succeeded;
    this.failed = failed;
    this.failures = failures.map((f) => ({ path: key, error: f.error }));
  }
}

function toStorageError(error: unknown): StorageError {
  if (StorageError.isInstance(error)) return error;
  return new StorageError("E_BACKEND", error instanceof Error ? error.message : String(error), {
    cause: error,
  });
}

export class MirrorDriver implements Driver {
  readonly backend: string;
  readonly capabilities: Capabilities;
  readonly defaultVisibility: Visibility;
  readonly primary: Storage;
  readonly secondaries: readonly Storage[];
  readonly #labels: string[];
  readonly #onSecondaryError: MirrorOptions["onSecondaryError"];

  constructor(primary: Storage, secondaries: readonly Storage[], options: MirrorOptions = {}) {
    this.primary = primary;
    this.secondaries = secondaries;
    this.backend = "mirror";
    this.defaultVisibility = primary.visibility;
    this.#onSecondaryError = options.onSecondaryError ?? "throw";
    this.#labels = [
      `primary (${primary.backend})`,
      ...secondaries.map((s, i) => `secondary ${i + 1} (${s.backend})`),
    ];
    const p = primary.capabilities;
    const all = [primary, ...secondaries].map((s) => s.capabilities);
    this.capabilities = Object.freeze<Capabilities>({
      ...p,
      // Ranges are served by the members' own facades, whatever their drivers can do.
      rangeRead: true,
      publicUrl: primary.publicBaseUrl !== undefined || p.publicUrl,
      // A browser uploading straight to one backend would bypass the mirror.
      signedUpload: [],
      signedUploadMaxBytes: [],
      metadata: all.every((c) => c.metadata),
      // stat() may answer from a secondary: claim no stored checksum (the facade computes them).
      checksums: [],
    });
    // The members are whole Storages whose errors already name their own backend and operation;
    // callers of the mirror must see the mirror's (its facade fills them in), as with any driver.
    const methods = [
      "write",
      "read",
      "stat",
      "listPage",
      "delete",
      "exists",
      "copy",
      "setVisibility",
      "getVisibility",
    ];
    for (const method of methods) {
      const own = (this as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>)[method]!;
      (this as unknown as Record<string, unknown>)[method] = (...args: unknown[]) =>
        own.apply(this, args).catch((error: unknown) => {
          if (StorageError.isInstance(error)) {
            error.backend = undefined;
            error.operation = undefined;
          }
          throw error;
        });
    }
    if (this.capabilities.publicUrl) this.publicUrl = (key) => primary.publicUrl(key);
    if (p.signedUrl && primary.driver.signedUrl) {
      this.signedUrl = (key, o) => primary.driver.signedUrl!(key, o);
    }
  }

  publicUrl?: (key: string) => string;
  signedUrl?: (key: string, options: DriverSignedUrlOptions) => Promise<string>;

  async write(key: string, body: Readable, options: DriverWriteOptions): Promise<DriverWriteResult> {
    const { signal, contentType, cacheControl, contentDisposition, contentEncoding, metadata, visibility } =
      options;
    const common = {
      signal,
      contentType,
      cacheControl,
      contentDisposition,
      contentEncoding,
      metadata,
      visibility,
    };
    let candidate = key;
    if (options.ifNotExists) {
      // A save that must not overwrite must not overwrite on any member: the name has to be free on
      // the secondaries too (a migration's old storage holds files the new primary lacks).
      // nextKey() ends the search (AlreadyExistsError) once the save's name budget is spent; an
      // exclusive save (no nextKey) has this one name only.
      while (await this.#onSomeSecondary(candidate, signal)) {
        if (!options.nextKey) {
          body.destroy();
          throw new AlreadyExistsError(`"${candidate}" already exists (on a secondary).`, {
            path: candidate,
          });
        }
        candidate = options.nextKey();
      }
    }
    let saved: Awaited<ReturnType<Storage["save"]>>;
    try {
      // The primary's facade applies its own collision handling: it decides the final name (an
      // exclusive save: that name or AlreadyExistsError).
      saved = await this.primary.save(candidate, options.bytes ?? body, {
        ...common,
        size: options.size,
        ...(options.ifNotExists && !options.nextKey
          ? { exclusive: true }
          : { overwrite: !options.ifNotExists }),
      });
    } finally {
      body.destroy();
    }
    await this.#fanOut("save", saved.name, async (secondary) => {
      const source = options.bytes ?? (await this.primary.open(saved.name, { signal }));
      await this.#saveExactly(secondary, saved.name, source, {
        ...common,
        size: saved.size,
        overwrite: !options.ifNotExists,
      });
    });
    return { key: saved.name, size: saved.size, etag: saved.etag };
  }

  read(key: string, options: DriverReadOptions): Promise<Readable> {
    return this.#withFallback((s) => s.open(key, { signal: options.signal, range: options.range }));
  }

  async stat(key: string, options: DriverCallOptions): Promise<ObjectStat> {
    return this.#withFallback((s) => s.stat(key, { signal: options.signal }));
  }

  async exists(key: string, options: DriverCallOptions): Promise<boolean> {
    for (const s of [this.primary, ...this.secondaries]) {
      if (await s.exists(key, { signal: options.signal })) return true;
    }
    return false;
  }

  listPage(prefix: string, options: DriverListOptions): Promise<ListPage> {
    return this.primary.listPage(prefix, options);
  }

  async delete(key: string, options: DriverCallOptions): Promise<void> {
    await this.#all("delete", key, (s) => s.delete(key, { signal: options.signal }));
  }

  async copy(from: string, to: string, options: DriverCopyOptions): Promise<void> {
    await this.primary.copy(from, to, {
      signal: options.signal,
      overwrite: options.overwrite,
      link: options.link,
    });
    await this.#fanOut("copy", to, async (secondary) => {
      try {
        await secondary.copy(from, to, {
          signal: options.signal,
          overwrite: options.overwrite,
          link: options.link,
        });
      } catch (error) {
        if (!NotFoundError.isInstance(error)) throw error;
        // Not backfilled yet on this secondary: send it the primary's copy.
        const stat = await this.primary.stat(to, { signal: options.signal });
        const source = await this.primary.open(to, { signal: options.signal });
        await this.#saveExactly(secondary, to, source, {
          signal: options.signal,
          contentType: stat.contentType,
          cacheControl: stat.cacheControl,
          contentDisposition: stat.contentDisposition,
          contentEncoding: stat.contentEncoding,
          metadata: stat.metadata,
          visibility: stat.visibility,
          size: stat.size,
          overwrite: options.overwrite,
        });
      }
    });
  }

  async setVisibility(key: string, visibility: Visibility, options: DriverCallOptions): Promise<void> {
    await this.primary.setVisibility(key, visibility, { signal: options.signal });
    await this.#fanOut("setVisibility", key, (s) =>
      s.setVisibility(key, visibility, { signal: options.signal }),
    );
  }

  getVisibility(key: string, options: DriverCallOptions): Promise<Visibility> {
    return this.#withFallback((s) => s.getVisibility(key, { signal: options.signal }));
  }

  async signedUpload(): Promise<never> {
    throw new UnsupportedError(
      "A mirrored storage cannot hand out signed uploads: the browser would upload to one backend only. " +
        "Upload through the server (save()), or sign uploads on the primary and copy the file afterwards.",
    );
  }

  /** Every member makes its saves durable (whether it defers them is its own policy). */
  async flush(options: DriverCallOptions): Promise<void> {
    await Promise.all([this.primary, ...this.secondaries].map((s) => s.flush({ signal: options.signal })));
  }

  /** The members belong to whoever created them: closing the mirror leaves them open. */
  async close(): Promise<void> {}

  // -------------------------------------------------------------------------------------------

  async #onSomeSecondary(key: string, signal: AbortSignal): Promise<boolean> {
    for (const s of this.secondaries) if (await s.exists(key, { signal })) return true;
    return false;
  }

  /**
   * Stores `name` on a secondary under exactly that name. Without overwrite, a file that appeared
   * there meanwhile is never replaced: the secondary's facade would pick another name, so that stray
   * copy is removed and the conflict reported (a divergence), never resolved by overwriting.
   */
  async #saveExactly(
    secondary: Storage,
    name: string,
    body: Uint8Array | Readable,
    options: SaveOptions,
  ): Promise<void> {
    try {
      const result = await secondary.save(name, body, options);
      if (result.name !== name) {
        await secondary.delete(result.name, { signal: options.signal }).catch(() => undefined);
        throw new AlreadyExistsError(
          `"${name}" already exists there (written by something else): it was not overwritten.`,
          {
            path: name,
          },
        );
      }
    } finally {
      if (!(body instanceof Uint8Array)) body.destroy();
    }
  }

  async #withFallback<T>(run: (s: Storage) => Promise<T>): Promise<T> {
    let firstMiss: unknown;
    for (const s of [this.primary, ...this.secondaries]) {
      try {
        return await run(s);
      } catch (error) {
        if (!NotFoundError.isInstance(error)) throw error;
        firstMiss ??= error;
      }
    }
    throw firstMiss;
  }

  /** Runs on every secondary (the primary already succeeded); reports a divergence. */
  async #fanOut(operation: Operation, key: string, run: (s: Storage) => Promise<unknown>): Promise<void> {
    const results = await Promise.allSettled(this.secondaries.map((s) => run(s)));
    this.#report(operation, key, [true, ...results.map((r) => r.status === "fulfilled")], results);
  }

  /** Runs on every member at once (delete): when all fail, the primary's error is thrown as is. */
  async #all(operation: Operation, key: string, run: (s: Storage) => Promise<unknown>): Promise<void> {
    const results = await Promise.allSettled([this.primary, ...this.secondaries].map((s) => run(s)));
    const [first] = results;
    if (results.every((r) => r.status === "rejected")) throw (first as PromiseRejectedResult).reason;
    if (first?.status === "rejected") {
      // The primary still has the file while some secondaries lost it: that is a divergence too.
      throw new MirrorDivergedError(
        operation,
        key,
        this.#labels.filter((_, i) => results[i]?.status === "fulfilled"),
        this.#labels.flatMap((member, i) => {
          const r = results[i];
          return r?.status === "rejected" ? [{ member, error: toStorageError(r.reason) }] : [];
        }),
      );
    }
    this.#report(
      operation,
      key,
      results.map((r) => r.status === "fulfilled"),
      results.slice(1),
    );
  }

  #report(
    operation: Operation,
    key: string,
    ok: boolean[],
    secondaryResults: PromiseSettledResult<unknown>[],
  ): void {
    const failures = secondaryResults.flatMap((r, i) =>
      r.status === "rejected" ? [{ member: this.#labels[i + 1]!, error: toStorageError(r.reason) }] : [],
    );
    if (failures.length === 0) return;
    const error = new MirrorDivergedError(
      operation,
      key,
      this.#labels.filter((_, i) => ok[i]),
      failures,
    );
    if (this.#onSecondaryError === "throw") throw error;
    this.#onSecondaryError?.(error);
  }
}

/**
 * A Storage that writes to `primary` and every secondary, and reads from the primary with fallback.
 * Options may be passed last: `mirror(primary, secondary, { onSecondaryError })`.
 */
export function mirror(primary: Storage, ...rest: Array<Storage | MirrorOptions>): Storage {
  const last = rest.at(-1);
  const options = last !== undefined && !Storage.isInstance(last) ? (rest.pop() as MirrorOptions) : {};
  const secondaries = rest as Storage[];
  if (!Storage.isInstance(primary) || secondaries.some((s) => !Storage.isInstance(s))) {
    throw new InvalidArgumentError(
      "mirror() takes Storage instances: mirror(primary, ...secondaries[, options]).",
    );
  }
  if (secondaries.length === 0) {
    throw new InvalidArgumentError(
      "mirror() needs at least one secondary storage: mirror(primary, secondary).",
    );
  }
  if (new Set([primary, ...secondaries]).size !== secondaries.length + 1) {
    throw new InvalidArgumentError(
      "mirror() got the same storage twice: each member must be a different storage.",
    );
  }
  return new Storage(new MirrorDriver(primary, secondaries, options), {
    visibility: primary.visibility,
    overwrite: primary.overwrite,
    timeout: primary.timeout,
    signedUrlExpiresIn: primary.signedUrlExpiresIn,
    // Each member's own facade already retries its calls: retrying here as well would multiply
    // the attempts, and repeat saves the primary already took.
    retry: false,
  });
}
