/**
 * `copy`, `sync` and `verify` between two storages (or two folders of them).
 *
 * - The two trees are compared by a streaming merge-join of their listings (join.ts): listings
 *   carry size, time and the checksums the service keeps, so a comparison costs listings, not a
 *   call per file, and memory stays flat whatever the number of files.
 * - Bodies stream from `open()` into `save()`; inside one service and account the copy is the
 *   service's own (`Storage.copy`), decided from `describe()`, never from a backend's name.
 * - A copy keeps content type, cache control, disposition, encoding, custom metadata and (where both
 *   sides have per-file visibility) visibility; the MD5 of the bytes sent is checked against the
 *   one recorded at the source and the one the destination reports.
 * - No state file: every driver writes atomically (a file is whole or absent), so a run killed at
 *   any moment and started again re-compares the listings and does only what is left.
 * - Every storage call already runs under core's one retry policy; the one retry here is of a file
 *   whose streamed body broke mid-way, which no single call can repeat (fileRetry). A file still
 *   failing after that is reported as failed, and makes the result not ok.
 */
import { createHash, hash } from "node:crypto";
import { getMaxListeners, setMaxListeners } from "node:events";
import { Transform } from "node:stream";
import { isDeepStrictEqual } from "node:util";
import {
  ChecksumMismatchError,
  type Checksums,
  InvalidArgumentError,
  normalizePrefix,
  type ObjectStat,
  PartialFailureError,
  type ResolvedRetry,
  type SaveOptions,
  type SaveResult,
  Storage,
  StorageError,
  type StorageLocation,
  type Visibility,
  withRetry,
} from "@storages/core";
import { type JoinStats, joinListings, type ListedFile } from "./join.js";
import { readAhead } from "./read-ahead.js";
import { type Selection, selector } from "./select.js";

/** A storage, or a folder of one (`prefix`: "" or "a/b/"; names are compared relative to it). */
export type Endpoint =
  | Storage
  | {
      storage: Storage;
      prefix?: string | undefined;
      /** Where the storage is (from the registry or `openStorageUrl`): lets a copy stay inside the service. */
      location?: StorageLocation | undefined;
    };

/**
 * What to do with a file that exists on both sides. `if-different` (the default) copies it when
 * the comparison finds it different; `never` leaves every existing file alone (a difference stays
 * reported); `always` copies every file.
 */
export type OverwritePolicy = "never" | "if-different" | "always";

export interface MigrationProgress {
  /** Files settled (compared, and copied or skipped). */
  filesDone: number;
  /** Files found in the source so far. */
  filesKnown: number;
  /** Bytes copied so far. */
  bytesDone: number;
  /** Bytes of the files found to copy so far. */
  bytesKnown: number;
  /** False while the source is still being listed (the totals may grow). */
  complete: boolean;
}

export type Outcome = "copied" | "equal" | "different" | "missing" | "extra" | "deleted" | "failed";

/** One file's outcome, as it happens (for logs and streamed reports). */
export interface FileEvent {
  name: string;
  outcome: Outcome;
  size: number;
  /** For "failed": the error (a StorageError, its stable code in `code`). */
  error?: StorageError | undefined;
}

export interface MigrationOptions extends Selection {
  /** A folder below both endpoints to compare ("2024/"): names stay relative to the endpoints. */
  prefix?: string | undefined;
  /** Files copied or compared at once (default 16). */
  concurrency?: number | undefined;
  /** Default "if-different". */
  overwrite?: OverwritePolicy | undefined;
  /**
   * Compare content hashes where both sides give comparable ones (the listing's, else the stored
   * ones `stat()` reports), else size and time. Default: true for verify, false for copy and sync
   * (which then compare size and time: a destination file older than its source is different).
   */
  checksum?: boolean | undefined;
  /** Milliseconds two times may differ and still count as the same (default 1000: S3 keeps seconds). */
  modifyWindow?: number | undefined;
  /** Compare and report what would be done, change nothing. */
  dryRun?: boolean | undefined;
  /** sync: delete nothing when more than this many destination files would be deleted. */
  maxDelete?: number | undefined;
  /** Set on every file written (default: the source file's visibility, where both sides have one). */
  visibility?: Visibility | undefined;
  /**
   * Check each copied file at the destination: the MD5 it reports (the upload's ETag when that is
   * the MD5, else `stat()`) against the bytes sent. Default true.
   */
  verifyDestination?: boolean | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((progress: MigrationProgress) => void) | undefined;
  onFile?: ((event: FileEvent) => void) | undefined;
}

export interface OutcomeCount {
  files: number;
  bytes: number;
}

export interface FileFailure {
  name: string;
  code: string;
  message: string;
}

export interface MigrationResult {
  operation: "copy" | "sync" | "verify";
  dryRun: boolean;
  /** Copied now (with dryRun: would be copied). */
  copied: OutcomeCount;
  /** On both sides and the same: left alone. */
  equal: OutcomeCount;
  /** On both sides and different, and left so (verify, overwrite: "never"). */
  different: OutcomeCount;
  /** In the source only, and not copied (verify). */
  missing: OutcomeCount;
  /** In the destination only, and left there. */
  extra: OutcomeCount;
  /** In the destination only, and deleted (sync; with dryRun: would be deleted). */
  deleted: OutcomeCount;
  failed: OutcomeCount;
  /** The first failures (at most 1,000), each with the error's stable code. */
  failures: FileFailure[];
  /** The first names (at most 100 each) of what differs, for the report. */
  samples: { missing: string[]; different: string[]; extra: string[] };
  /** Why sync deleted nothing although it found extra files (copy errors, the maxDelete guard). */
  deletesSkipped?: { code: string; message: string } | undefined;
  /** Copies done inside the service (`Storage.copy`) rather than streamed through this process. */
  serverSideCopy: boolean;
  /** The order each listing came in, and the most entries the comparison held at once. */
  listing: JoinStats;
  aborted: boolean;
  /** True when the destination matches the source for every selected file and nothing failed. */
  ok: boolean;
  elapsedMs: number;
}

const MAX_FAILURES = 1000;
const MAX_SAMPLES = 100;
const DELETE_BATCH = 1000;
/** Listing pages read ahead per side. */
const READ_AHEAD = 2;
/** The first `limit` bytes of a file (all of it when it is shorter; an empty file is empty). */
async function readAtMost(storage: Storage, name: string, limit: number, signal: AbortSignal | undefined) {
  try {
    return await storage.readBytes(name, { signal, range: { start: 0, end: limit - 1 } });
  } catch (error) {
    // A range that starts past the end: the file is empty (now).
    if (StorageError.hasCode(error, "E_RANGE_NOT_SATISFIABLE")) return Buffer.alloc(0);
    throw error;
  }
}

/**
 * A body streamed from `open()` into `save()` spans two calls, and core cannot repeat either alone
 * once bytes flowed: a download reset mid-body, or an upload part refused, fails the save after one
 * attempt (core marks it `attempts: 1`). Such a file is copied again from its first byte, under the
 * stricter of the two storages' retry policies. Failures core retried already (a refused open(),
 * stat() or whole read) are not retried again, and neither is a changed source (no `attempts`).
 */
function fileRetry(source: Storage, destination: Storage): ResolvedRetry {
  return { ...destination.retry, attempts: Math.min(source.retry.attempts, destination.retry.attempts) };
}

function streamBroken(error: StorageError): boolean {
  return error.attempts === 1;
}

const NEVER_ABORTED = new AbortController().signal;

/**
 * Files up to this size are read whole and sent as bytes (see copyFile): most files of a media or
 * static tree, at a fraction of a stream's cost each; memory: concurrency × this at most.
 */
const WHOLE_READ_MAX = 1024 * 1024;

/** Copies every selected file of `source` that is missing or different at `destination`. */
export function copy(source: Endpoint, destination: Endpoint, options: MigrationOptions = {}) {
  return migrate("copy", source, destination, options);
}

/** `copy`, then deletes destination files the source does not have (guarded by `maxDelete`). */
export function sync(source: Endpoint, destination: Endpoint, options: MigrationOptions = {}) {
  return migrate("sync", source, destination, options);
}

/** Compares the two trees and reports missing, different and extra files; changes nothing. */
export function verify(source: Endpoint, destination: Endpoint, options: MigrationOptions = {}) {
  return migrate("verify", source, destination, options);
}

interface Side {
  storage: Storage;
  /** The folder compared: the endpoint's prefix and the options' prefix. */
  root: string;
  /** The backend keeps checksums `stat()` reports. */
  hasStoredChecksums: boolean;
  /** Its files are local files (the driver has `path`): hashing one is a disk read, not a download. */
  localFiles: boolean;
  /**
   * As a destination: whether its saves report the MD5 of what they stored (`SaveResult.checksums`),
   * learnt from the first saves; while true, a copy does not hash the body a second time.
   */
  reportsMd5?: boolean | undefined;
}

function side(endpoint: Endpoint, prefix: string, role: string): Side {
  const { storage, prefix: base } = Storage.isInstance(endpoint)
    ? { storage: endpoint, prefix: "" }
    : endpoint;
  let root: string;
  try {
    root = normalizePrefix(`${normalizePrefix(base ?? "")}${prefix}`);
  } catch (error) {
    throw new InvalidArgumentError(
      `The ${role}'s prefix is not a valid folder name: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  return {
    storage,
    root,
    hasStoredChecksums: storage.features.checksums.stored.length > 0,
    localFiles: typeof storage.driver.path === "function",
  };
}

/**
 * Whether the service can copy between the two sides itself: they are one storage (or share one
 * driver), or both endpoints say where they are (`location`, as the configuration registry and
 * `openStorageUrl` give it) and it is the same bucket or folder — so a storage-relative name means
 * the same file on both. Decided from what storages declare, never from a backend's name; two
 * storages that merely look alike (two memory stores, one endpoint with two accounts) stream.
 */
export function sameService(a: Endpoint, b: Endpoint): boolean {
  const x = Storage.isInstance(a) ? { storage: a, location: undefined } : a;
  const y = Storage.isInstance(b) ? { storage: b, location: undefined } : b;
  if (y.storage.features.copy !== "native") return false;
  if (x.storage === y.storage || x.storage.driver === y.storage.driver) return true;
  return (
    x.location !== undefined &&
    x.location.kind !== "isolated" &&
    x.storage.backend === y.storage.backend &&
    isDeepStrictEqual(x.location, y.location)
  );
}

/** The side's files, page by page, names relative to its root, only the selected ones. */
async function* listFiles(
  side: Side,
  select: (name: string) => boolean,
  signal: AbortSignal | undefined,
  onEnd?: () => void,
): AsyncGenerator<ListedFile[]> {
  const cut = side.root.length;
  let cursor: string | undefined;
  do {
    const page = await side.storage.listPage(side.root, { recursive: true, cursor, signal });
    const files: ListedFile[] = [];
    for (const entry of page.entries) {
      if (entry.type !== "file") continue;
      const name = entry.name.slice(cut);
      if (!select(name)) continue;
      files.push({
        name,
        size: entry.size,
        lastModified: entry.lastModified,
        etag: entry.etag,
        checksums: entry.checksums,
      });
    }
    yield files;
    cursor = page.cursor;
  } while (cursor !== undefined);
  onEnd?.();
}

const HASHES = ["md5", "sha256", "crc32c"] as const;

/** true/false when both give a hash of one algorithm; undefined when they share none. */
function sameHashes(a: Checksums | undefined, b: Checksums | undefined): boolean | undefined {
  if (!a || !b) return undefined;
  for (const algorithm of HASHES) {
    const x = a[algorithm];
    const y = b[algorithm];
    if (x && y) return x === y;
  }
  return undefined;
}

function emptyCount(): OutcomeCount {
  return { files: 0, bytes: 0 };
}

function toStorageError(error: unknown): StorageError {
  if (StorageError.isInstance(error)) return error;
  return new StorageError("E_BACKEND", (error as Error)?.message ?? String(error), { cause: error });
}

/** A bounded set of tasks: `add` waits while `limit` run, so the listing never runs far ahead. */
class Pool {
  private readonly running = new Set<Promise<void>>();
  constructor(private readonly limit: number) {}
  async add(task: () => Promise<void>): Promise<void> {
    while (this.running.size >= this.limit) await Promise.race(this.running);
    const promise: Promise<void> = task().finally(() => this.running.delete(promise));
    this.running.add(promise);
  }
  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.race(this.running);
  }
}

function checkOptions(operation: string, options: MigrationOptions): void {
  const { concurrency, overwrite, maxDelete, modifyWindow } = options;
  if (
    concurrency !== undefined &&
    !(Number.isSafeInteger(concurrency) && concurrency >= 1 && concurrency <= 1024)
  )
    throw new InvalidArgumentError(`concurrency must be a whole number from 1 to 1024, got ${concurrency}.`);
  if (overwrite !== undefined && !["never", "if-different", "always"].includes(overwrite))
    throw new InvalidArgumentError(
      `overwrite must be "never", "if-different" or "always", got ${JSON.stringify(overwrite)}.`,
    );
  if (maxDelete !== undefined && !(Number.isSafeInteger(maxDelete) && maxDelete >= 0))
    throw new InvalidArgumentError(`maxDelete must be a whole number (0 or more), got ${maxDelete}.`);
  if (maxDelete !== undefined && operation !== "sync")
    throw new InvalidArgumentError(`maxDelete only applies to sync (${operation} never deletes).`);
  if (modifyWindow !== undefined && !(Number.isFinite(modifyWindow) && modifyWindow >= 0))
    throw new InvalidArgumentError(
      `modifyWindow must be a number of milliseconds (0 or more), got ${modifyWindow}.`,
    );
}

async function migrate(
  operation: "copy" | "sync" | "verify",
  sourceEndpoint: Endpoint,
  destinationEndpoint: Endpoint,
  options: MigrationOptions,
): Promise<MigrationResult> {
  const started = Date.now();
  checkOptions(operation, options);
  const prefix = options.prefix ?? "";
  const source = side(sourceEndpoint, prefix, "source");
  const destination = side(destinationEndpoint, prefix, "destination");
  const select = selector(options);
  const signal = options.signal;
  const dryRun = options.dryRun === true;
  const overwrite = options.overwrite ?? "if-different";
  const checksum = options.checksum ?? operation === "verify";
  const modifyWindow = options.modifyWindow ?? 1000;
  const writes = operation !== "verify" && !dryRun;
  const serverSide = operation !== "verify" && sameService(sourceEndpoint, destinationEndpoint);
  if (writes && destination.storage.describe().readOnly)
    throw new InvalidArgumentError(`The destination storage is read-only: ${operation} cannot write to it.`);

  const result: MigrationResult = {
    operation,
    dryRun,
    copied: emptyCount(),
    equal: emptyCount(),
    different: emptyCount(),
    missing: emptyCount(),
    extra: emptyCount(),
    deleted: emptyCount(),
    failed: emptyCount(),
    failures: [],
    samples: { missing: [], different: [], extra: [] },
    serverSideCopy: serverSide,
    listing: { sourceOrder: "either", destinationOrder: "either", peakPending: 0 },
    aborted: false,
    ok: false,
    elapsedMs: 0,
  };
  const progress: MigrationProgress = {
    filesDone: 0,
    filesKnown: 0,
    bytesDone: 0,
    bytesKnown: 0,
    complete: false,
  };
  let lastProgress = 0;
  const report = (force = false) => {
    if (!options.onProgress) return;
    const now = Date.now();
    if (!force && now - lastProgress < 100) return;
    lastProgress = now;
    options.onProgress({ ...progress });
  };
  const settle = (name: string, outcome: Outcome, size: number, error?: StorageError) => {
    const count = result[outcome];
    count.files++;
    count.bytes += size;
    if (outcome === "failed" && error && result.failures.length < MAX_FAILURES)
      result.failures.push({ name, code: error.code, message: error.message });
    if (
      (outcome === "missing" || outcome === "different" || outcome === "extra") &&
      result.samples[outcome].length < MAX_SAMPLES
    )
      result.samples[outcome].push(name);
    if (outcome !== "extra" && outcome !== "deleted") progress.filesDone++;
    options.onFile?.({ name, outcome, size, error });
    report();
  };

  const sameTime = (s: ListedFile, d: ListedFile) =>
    d.lastModified.getTime() + modifyWindow >= s.lastModified.getTime();
  /** Whether the two files hold the same content, from the listings alone; undefined: ask the stored hashes. */
  const compareListed = (s: ListedFile, d: ListedFile): boolean | undefined => {
    if (s.size !== d.size) return false;
    if (!checksum) return sameTime(s, d);
    return sameHashes(s.checksums, d.checksums);
  };
  /** Whether the two files hold the same content, from the stored hashes where the listings have none, else time. */
  const equalFiles = async (name: string, s: ListedFile, d: ListedFile): Promise<boolean> => {
    // The listing has no comparable hash for this file (an S3 multipart upload, a server that
    // lists none): the stored one, where the backend keeps one.
    const stored = async (side: Side, entry: ListedFile) =>
      entry.checksums && Object.keys(entry.checksums).length > 0
        ? entry.checksums
        : side.hasStoredChecksums
          ? (await side.storage.stat(side.root + name, { signal })).checksums
          : undefined;
    let [a, b] = await Promise.all([stored(source, s), stored(destination, d)]);
    // Still none on one side, and that side's files are local (a plain folder): hash the file, as
    // reading it costs a disk read, not a download. A remote side is never downloaded to compare.
    if (sameHashes(a, b) === undefined) {
      const local = async (
        side: Side,
        other: Side,
        mine: Checksums | undefined,
        theirs: Checksums | undefined,
      ) =>
        !mine?.md5 && side.localFiles && (theirs?.md5 || other.localFiles)
          ? { md5: await side.storage.checksum(side.root + name, "md5", { signal }) }
          : mine;
      [a, b] = await Promise.all([local(source, destination, a, b), local(destination, source, b, a)]);
    }
    return sameHashes(a, b) ?? sameTime(s, d);
  };
  const retry = fileRetry(source.storage, destination.storage);
  const transfer = async (name: string, entry: ListedFile) => {
    progress.bytesKnown += entry.size;
    if (dryRun) return settle(name, "copied", entry.size);
    try {
      let attemptBytes = 0;
      const bytes = await withRetry(
        retry,
        {
          operation: "copy",
          path: name,
          backend: destination.storage.backend,
          signal: signal ?? NEVER_ABORTED,
          toError: toStorageError,
          canRepeat: streamBroken,
        },
        () => {
          // A new attempt starts from byte 0: what the broken one counted is taken back.
          progress.bytesDone -= attemptBytes;
          attemptBytes = 0;
          return copyFile(source, destination, name, entry, {
            serverSide,
            signal,
            visibility: options.visibility,
            verifyDestination: options.verifyDestination ?? true,
            onBytes: (n) => {
              attemptBytes += n;
              progress.bytesDone += n;
              report();
            },
          });
        },
      );
      settle(name, "copied", bytes);
    } catch (error) {
      settle(name, "failed", entry.size, toStorageError(error));
    }
  };

  /** A file found on both sides, once compared: true when it is to be copied, else settled here. */
  const toCopy = (name: string, s: ListedFile, equal: boolean): boolean => {
    if (operation !== "verify" && (overwrite === "always" || (!equal && overwrite === "if-different")))
      return true;
    settle(name, equal ? "equal" : "different", s.size);
    return false;
  };

  const concurrency = options.concurrency ?? 16;
  // Every call in flight listens to the caller's signal: several per file, `concurrency` files.
  if (signal) setMaxListeners(Math.max(getMaxListeners(signal), concurrency * 4 + 16), signal);
  const pool = new Pool(concurrency);
  let extrasFound = 0;
  let listingError: unknown;
  try {
    for await (const batch of joinListings(
      // Once the source is listed, the totals stop growing: progress can show an ETA.
      readAhead(
        listFiles(source, select, signal, () => {
          progress.complete = true;
        }),
        READ_AHEAD,
      ),
      readAhead(listFiles(destination, select, signal), READ_AHEAD),
      result.listing,
    )) {
      for (const { name, source: s, destination: d } of batch) {
        if (signal?.aborted) break;
        if (s) progress.filesKnown++;
        if (s && !d) {
          if (operation === "verify") settle(name, "missing", s.size);
          else await pool.add(() => transfer(name, s));
        } else if (s && d) {
          if (overwrite === "always" && operation !== "verify") await pool.add(() => transfer(name, s));
          else {
            const known = compareListed(s, d);
            if (known !== undefined) {
              if (toCopy(name, s, known)) await pool.add(() => transfer(name, s));
            } else
              await pool.add(async () => {
                let equal: boolean;
                try {
                  equal = await equalFiles(name, s, d);
                } catch (error) {
                  return settle(name, "failed", s.size, toStorageError(error));
                }
                if (toCopy(name, s, equal)) await transfer(name, s);
              });
          }
        } else if (d) {
          extrasFound++;
          if (
            operation === "sync" &&
            dryRun &&
            (options.maxDelete === undefined || extrasFound <= options.maxDelete)
          )
            settle(name, "deleted", d.size);
          else settle(name, "extra", d.size);
        }
      }
      if (signal?.aborted) break;
    }
  } catch (error) {
    listingError = error;
  }
  await pool.drain();
  if (listingError !== undefined && !signal?.aborted) throw listingError;
  progress.complete = true;
  result.aborted = signal?.aborted === true;

  if (operation === "sync" && !dryRun && extrasFound > 0 && !result.aborted) {
    if (result.failed.files > 0) {
      result.deletesSkipped = {
        code: "E_COPY_FAILED",
        message: `${result.failed.files} file(s) failed to copy, so no destination file was deleted: fix the failures and run sync again.`,
      };
    } else if (options.maxDelete !== undefined && extrasFound > options.maxDelete) {
      result.deletesSkipped = {
        code: "E_MAX_DELETE",
        message: `sync would delete ${extrasFound} destination file(s), more than maxDelete (${options.maxDelete}): nothing was deleted. Check the source and destination, then raise maxDelete (--max-delete) if this is intended.`,
      };
    } else {
      await deleteExtras(source, destination, select, options, result, settle);
    }
  }
  if (dryRun && operation === "sync" && options.maxDelete !== undefined && extrasFound > options.maxDelete) {
    result.deletesSkipped = {
      code: "E_MAX_DELETE",
      message: `sync would delete ${extrasFound} destination file(s), more than maxDelete (${options.maxDelete}): it would delete none.`,
    };
    result.extra.files += result.deleted.files;
    result.extra.bytes += result.deleted.bytes;
    result.deleted = emptyCount();
  }
  result.ok =
    !result.aborted &&
    result.failed.files === 0 &&
    result.missing.files === 0 &&
    result.different.files === 0 &&
    (operation !== "sync" || result.extra.files === 0);
  result.elapsedMs = Date.now() - started;
  report(true);
  return result;
}

/**
 * The delete phase of sync, after every copy succeeded: the listings are compared again (memory
 * stays flat, and a file that appeared at the source meanwhile is not deleted), and destination
 * files the source does not have are deleted in batches, never more than maxDelete.
 */
async function deleteExtras(
  source: Side,
  destination: Side,
  select: (name: string) => boolean,
  options: MigrationOptions,
  result: MigrationResult,
  settle: (name: string, outcome: Outcome, size: number, error?: StorageError) => void,
): Promise<void> {
  const signal = options.signal;
  // The extras of the comparison pass are re-counted here as they are deleted (or fail).
  result.extra = emptyCount();
  let budget = options.maxDelete ?? Number.POSITIVE_INFINITY;
  let batch: ListedFile[] = [];
  const flush = async () => {
    const names = batch;
    batch = [];
    if (names.length === 0) return;
    const failedKeys = new Map<string, StorageError>();
    try {
      await destination.storage.deleteMany(
        names.map((entry) => destination.root + entry.name),
        { signal },
      );
    } catch (error) {
      if (PartialFailureError.isInstance(error)) {
        for (const failure of (error as PartialFailureError).failures)
          failedKeys.set(failure.path, failure.error);
      } else for (const entry of names) failedKeys.set(destination.root + entry.name, toStorageError(error));
    }
    for (const entry of names) {
      const failure = failedKeys.get(destination.root + entry.name);
      settle(entry.name, failure ? "failed" : "deleted", entry.size, failure);
    }
  };
  for await (const joined of joinListings(
    readAhead(listFiles(source, select, signal), READ_AHEAD),
    readAhead(listFiles(destination, select, signal), READ_AHEAD),
  )) {
    if (signal?.aborted) break;
    for (const { name, source: s, destination: d } of joined) {
      if (s || !d) continue;
      if (budget <= 0) {
        settle(name, "extra", d.size);
        continue;
      }
      budget--;
      batch.push(d);
      if (batch.length >= DELETE_BATCH) await flush();
    }
  }
  await flush();
  if (signal?.aborted) result.aborted = true;
}

interface CopyContext {
  serverSide: boolean;
  signal: AbortSignal | undefined;
  visibility: Visibility | undefined;
  verifyDestination: boolean;
  onBytes: (bytes: number) => void;
}

/**
 * Copies one file and checks it; returns its size. The destination write is one `save()` (or one
 * service-side copy), so the file is whole or absent at the destination whatever happens.
 */
async function copyFile(
  source: Side,
  destination: Side,
  name: string,
  listed: ListedFile,
  context: CopyContext,
): Promise<number> {
  const { signal } = context;
  const from = source.root + name;
  const to = destination.root + name;
  if (context.serverSide) {
    await destination.storage.copy(from, to, { signal, overwrite: true });
    context.onBytes(listed.size);
    return listed.size;
  }
  // The listing has no headers or metadata: one stat of the file being copied (not of every file
  // compared) — unless the source keeps neither (a plain folder), where the destination's guess of
  // the content type from the name is the one the source would give.
  const keepsHeaders = source.storage.features.metadata || source.storage.features.visibility === "object";
  const info: Pick<
    ObjectStat,
    | "size"
    | "contentType"
    | "cacheControl"
    | "contentDisposition"
    | "contentEncoding"
    | "metadata"
    | "checksums"
    | "visibility"
  > = keepsHeaders
    ? await source.storage.stat(from, { signal })
    : { size: listed.size, metadata: {}, checksums: listed.checksums };
  const target = destination.storage.features;
  const saveOptions: SaveOptions = {
    signal,
    overwrite: true,
    size: info.size,
    contentType: info.contentType,
    cacheControl: info.cacheControl,
    contentDisposition: info.contentDisposition,
    contentEncoding: info.contentEncoding,
    metadata: target.metadata && Object.keys(info.metadata).length > 0 ? info.metadata : undefined,
    visibility:
      context.visibility ??
      (target.visibility === "object" && source.storage.features.visibility === "object"
        ? info.visibility
        : undefined),
  };
  const mismatch = async (what: string) => {
    // What was written is not the source's content: remove it, so a rerun sees the file as missing.
    await destination.storage.delete(to, { signal }).catch(() => {});
    return new ChecksumMismatchError(
      `${what} "${name}" was not copied: run again (a file that changes while it is copied is copied on the next run).`,
      { path: name, retryable: true },
    );
  };
  const recorded = info.checksums?.md5 ?? listed.checksums?.md5;

  if (
    source.localFiles &&
    destination.localFiles &&
    (recorded === undefined || destination.hasStoredChecksums)
  ) {
    // Local file to local file: the body goes to the destination untouched, so the driver lets
    // the kernel copy it (copy_file_range) and takes the MD5 it records itself, from the source
    // file. Hashing here too would read nothing the destination does not: the check is the size,
    // and the MD5 the destination recorded against the one the source recorded.
    const body = await source.storage.open(from, { signal });
    const saved = await destination.storage.save(to, body, saveOptions);
    if (saved.size !== info.size)
      throw await mismatch("The source changed while it was read (its size differs from the listed one):");
    if (recorded !== undefined && context.verifyDestination) {
      const stored = saved.checksums?.md5 ?? (await destination.storage.stat(to, { signal })).checksums?.md5;
      if (stored !== recorded)
        throw await mismatch("The source changed while it was read (its MD5 differs from the one recorded):");
    }
    context.onBytes(saved.size);
    return saved.size;
  }

  /** Checks what was sent and stored: its size and MD5 against the source's and the destination's. */
  const check = async (sent: number, saved: SaveResult, digest: string | undefined, reported: boolean) => {
    if (sent !== info.size || (recorded !== undefined && digest !== undefined && recorded !== digest))
      throw await mismatch(
        reported
          ? "The MD5 the destination reports differs from the one the source recorded (the source changed while it was read, or the bytes were altered on the way):"
          : "The source changed while it was read (size or MD5 differs from the one recorded):",
      );
    if (saved.size !== sent) throw await mismatch("The destination stored another size than the bytes sent:");
    // A destination that keeps no checksum (a plain folder) has nothing to check beyond the size; a
    // local one that reported its MD5 recorded exactly that (stat would read it back). A service's
    // ETag that is the MD5 is its own digest of what it received: equal, nothing to ask.
    if (
      context.verifyDestination &&
      destination.hasStoredChecksums &&
      !(reported && destination.localFiles) &&
      (digest === undefined || saved.etag !== `"${digest}"`)
    ) {
      const written = await destination.storage.stat(to, { signal });
      const stored = written.checksums?.md5;
      const expected = digest ?? recorded;
      if (written.size !== sent || (stored !== undefined && expected !== undefined && stored !== expected))
        throw await mismatch("The destination reports another size or MD5 than the bytes sent:");
    }
  };

  if (info.size <= WHOLE_READ_MAX) {
    // A small file is read whole (one read, one buffer of its size) and sent as bytes: no stream,
    // no per-chunk buffers and copies, and the destination sends it in one request. Memory stays
    // bounded: at most `concurrency` such files at once.
    // One byte past the listed size at most, however much the file grew since it was listed: a
    // grown file is a changed one, refused before anything is written.
    const bytes = await readAtMost(source.storage, from, info.size + 1, signal);
    if (bytes.length !== info.size)
      throw await mismatch("The source changed while it was read (its size differs from the listed one):");
    const saved = await destination.storage.save(to, bytes, saveOptions);
    const reported = saved.checksums?.md5;
    await check(bytes.length, saved, reported ?? hash("md5", bytes, "hex"), reported !== undefined);
    context.onBytes(bytes.length);
    return bytes.length;
  }

  // The MD5 of the bytes sent: the destination's own when its saves report one (S3, fs with
  // records: computed on the way, like this one would be), else taken here.
  const md5 = destination.reportsMd5 === true ? undefined : createHash("md5");
  let sent = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      md5?.update(chunk);
      sent += chunk.length;
      context.onBytes(chunk.length);
      callback(null, chunk);
    },
  });
  const body = await source.storage.open(from, { signal });
  body.once("error", (error) => counted.destroy(error));
  counted.once("close", () => {
    if (!body.destroyed) body.destroy();
  });
  body.pipe(counted);
  const saved = await destination.storage.save(to, counted, saveOptions);
  const reported = saved.checksums?.md5;
  destination.reportsMd5 = reported !== undefined;
  await check(sent, saved, reported ?? md5?.digest("hex"), reported !== undefined);
  return sent;
}
