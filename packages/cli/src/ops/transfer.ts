/**
 * `transfer(src, dst)`: copies a file, a folder (recursive) or a stream between two addresses, with
 * `cp` semantics — what `storages put` and `storages get` do, callable from a script.
 *
 * - A file into a folder keeps its name (`put photo.jpg default:avatars/` → avatars/photo.jpg);
 *   into anything else it takes that name.
 * - A folder (with `recursive`) copies everything below it, relative names kept, under the
 *   destination folder.
 * - Bodies stream end to end (memory stays bounded whatever the size); a listing is consumed as it
 *   arrives, with bounded concurrency.
 * - Each write is a single `save()`: a file is either completely written or not at all (fs writes a
 *   temporary file and renames it, buckets commit the upload at the end). The AbortSignal stops the
 *   writes in progress and starts no new one; the result says what was done.
 */
import type { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  NotFoundError,
  type ObjectStat,
  type SaveOptions,
  StorageError,
  type Visibility,
} from "@storages/core";
import pLimit from "p-limit";
import type { Location } from "../address.js";
import { isUsageError, UsageError } from "../errors.js";
import type { ProgressState } from "../progress.js";

/** A transfer end: a resolved address, or a stream (`-`). */
export type Endpoint = Location | { kind: "stdio"; text: string; stream: Readable | Writable };

export interface TransferOptions {
  /** Copy what a folder holds (required to copy a folder). */
  recursive?: boolean | undefined;
  /** Replace existing files (default, as cp does); false: a taken name gets a fresh suffix (the storage's rule). */
  overwrite?: boolean | undefined;
  /**
   * Carry content type, cache control, disposition, encoding and custom metadata over from the
   * source. Default: only between storages, never into or out of a plain local path (a folder
   * keeps no such metadata, and writing it there would leave sidecar files among the user's own).
   */
  keepMetadata?: boolean | undefined;
  /** Set on every file written (overrides what is kept). */
  contentType?: string | undefined;
  cacheControl?: string | undefined;
  visibility?: Visibility | undefined;
  metadata?: Record<string, string> | undefined;
  /** Files copied at once (default 4). */
  concurrency?: number | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((state: ProgressState) => void) | undefined;
  /** Each file once written (for streaming reports). */
  onFile?: ((file: TransferredFile) => void) | undefined;
  onFailure?: ((failure: TransferFailure) => void) | undefined;
}

export interface TransferredFile {
  /** The source, as people see it (`photos/a.jpg`, `default:a.jpg`, `-`). */
  from: string;
  /** The file written, as people see it (`default:avatars/a.jpg`): its actual name. */
  to: string;
  /** The storage-relative name written (differs from the requested one only with overwrite: false). */
  name: string;
  size: number;
}

export interface TransferFailure {
  from: string;
  to: string;
  error: StorageError;
}

export interface TransferResult {
  files: number;
  bytes: number;
  /** Files that could not be copied (nothing was written for them), or a listing that failed. */
  failures: TransferFailure[];
  /** The signal stopped the transfer: only the files reported by onFile were written. */
  aborted: boolean;
}

const DEFAULT_CONCURRENCY = 4;

function joinName(folder: string, name: string): string {
  if (folder === "") return name;
  return folder.endsWith("/") ? `${folder}${name}` : `${folder}/${name}`;
}

function asPrefix(path: string): string {
  return path === "" || path.endsWith("/") ? path : `${path}/`;
}

function asStorageError(error: unknown): StorageError {
  if (StorageError.isInstance(error)) return error;
  return new StorageError("E_BACKEND", error instanceof Error ? error.message : String(error), {
    cause: error,
  });
}

/** Streams `source` through, counting bytes. */
async function* counting(
  source: AsyncIterable<Buffer>,
  onBytes: (n: number) => void,
): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    onBytes(chunk.length);
    yield chunk;
  }
}

class Tally {
  readonly state: ProgressState = {
    bytesDone: 0,
    bytesKnown: 0,
    filesDone: 0,
    filesKnown: 0,
    complete: false,
  };
  constructor(private readonly report: ((state: ProgressState) => void) | undefined) {}
  found(size: number | undefined): void {
    this.state.filesKnown++;
    if (size === undefined) this.state.bytesKnown = undefined;
    else if (this.state.bytesKnown !== undefined) this.state.bytesKnown += size;
    this.emit();
  }
  bytes(n: number): void {
    this.state.bytesDone += n;
    this.emit();
  }
  /** A file ended: written, or not (its bytes no longer count as being done). */
  ended(written: boolean, streamed: number): void {
    if (written) this.state.filesDone++;
    else this.state.bytesDone -= streamed;
    this.emit();
  }
  listed(): void {
    this.state.complete = true;
    this.emit();
  }
  emit(): void {
    this.report?.({ ...this.state });
  }
}

function saveOptions(
  options: TransferOptions,
  stat: ObjectStat | undefined,
  keep: boolean,
  signal: AbortSignal | undefined,
): SaveOptions {
  const kept = keep && stat ? stat : undefined;
  const metadata = options.metadata ?? kept?.metadata;
  return {
    signal,
    overwrite: options.overwrite ?? true,
    size: stat?.size,
    contentType: options.contentType ?? kept?.contentType,
    cacheControl: options.cacheControl ?? kept?.cacheControl,
    contentDisposition: kept?.contentDisposition,
    contentEncoding: kept?.contentEncoding,
    metadata: metadata && Object.keys(metadata).length > 0 ? metadata : undefined,
    visibility: options.visibility,
  };
}

/** Saves a body into `dst`, counting its bytes for the progress; `from` names the source. */
async function saveCounted(
  body: AsyncIterable<Buffer>,
  from: string,
  dst: Location,
  dstKey: string,
  options: SaveOptions,
  tally: Tally,
): Promise<TransferredFile> {
  let streamed = 0;
  let written = false;
  try {
    const saved = await dst.storage.save(
      dstKey,
      counting(body, (n) => {
        streamed += n;
        tally.bytes(n);
      }),
      options,
    );
    written = true;
    return { from, to: dst.display(saved.name), name: saved.name, size: saved.size };
  } finally {
    tally.ended(written, streamed);
  }
}

/** One file from a storage to a storage, streamed. */
async function copyFile(
  src: Location,
  srcKey: string,
  dst: Location,
  dstKey: string,
  options: TransferOptions,
  tally: Tally,
  known: { size?: number | undefined } = {},
): Promise<TransferredFile> {
  const keep = options.keepMetadata ?? (src.kind !== "path" && dst.kind !== "path");
  const signal = options.signal;
  const stat = keep || known.size === undefined ? await src.storage.stat(srcKey, { signal }) : undefined;
  if (known.size === undefined) tally.found(stat!.size);
  const body = await src.storage.open(srcKey, { signal });
  try {
    return await saveCounted(
      body,
      src.display(srcKey),
      dst,
      dstKey,
      {
        ...saveOptions(options, stat, keep, signal),
        size: stat?.size ?? known.size,
      },
      tally,
    );
  } finally {
    // A save refused before reading its body (a read-only storage, a bad name) leaves the source open.
    body.destroy();
  }
}

/** A stream (stdin) into one file. */
function copyStream(
  stream: Readable,
  dst: Location,
  dstKey: string,
  options: TransferOptions,
  tally: Tally,
): Promise<TransferredFile> {
  tally.found(undefined);
  tally.listed();
  return saveCounted(stream, "-", dst, dstKey, saveOptions(options, undefined, false, options.signal), tally);
}

/** One file to a stream (stdout). */
async function copyToStream(
  src: Location,
  srcKey: string,
  stream: Writable,
  options: TransferOptions,
  tally: Tally,
) {
  const stat = await src.storage.stat(srcKey, { signal: options.signal });
  tally.found(stat.size);
  tally.listed();
  const body = await src.storage.open(srcKey, { signal: options.signal });
  let streamed = 0;
  await pipeline(
    counting(body, (n) => {
      streamed += n;
      tally.bytes(n);
    }),
    stream,
    { end: false, signal: options.signal },
  );
  tally.ended(true, streamed);
  return { from: src.display(srcKey), to: "-", name: srcKey, size: streamed };
}

/**
 * A folder copied into a folder of its own would copy its copies again (a listing that sees them
 * may never end): refused, as cp refuses it. Loaded here only: other commands do not pay for it.
 */
async function refuseCopyIntoItself(src: Location, from: string, dst: Location, to: string): Promise<void> {
  const { overlapOf } = await import("@storages/migrate");
  const overlap = await overlapOf(
    { storage: src.storage, prefix: from, location: src.place },
    { storage: dst.storage, prefix: to, location: dst.place },
  );
  if (overlap?.kind === "nested" && overlap.outer === "source")
    throw new UsageError(
      `${dst.text} is inside ${src.text}, so the copies would be copied again: give a destination outside the folder copied.`,
    );
}

/** Copies `src` to `dst` with cp semantics (see the module comment). */
export async function transfer(
  src: Endpoint,
  dst: Endpoint,
  options: TransferOptions = {},
): Promise<TransferResult> {
  const tally = new Tally(options.onProgress);
  const result: TransferResult = { files: 0, bytes: 0, failures: [], aborted: false };
  const done = (file: TransferredFile) => {
    result.files++;
    result.bytes += file.size;
    options.onFile?.(file);
  };
  const failed = (from: string, to: string, error: unknown) => {
    if (options.signal?.aborted) result.aborted = true;
    const failure = { from, to, error: asStorageError(error) };
    result.failures.push(failure);
    options.onFailure?.(failure);
  };

  if (src.kind === "stdio" && dst.kind === "stdio")
    throw new UsageError("Source and destination cannot both be -.");
  if (src.kind === "stdio") {
    const d = dst as Location;
    if (d.directory) {
      throw new UsageError(
        `Reading stdin needs a file name to write to, and ${d.text} is a folder: add one, e.g. ${d.display(joinName(d.path, "upload.bin"))}.`,
      );
    }
    try {
      done(await copyStream(src.stream as Readable, d, d.path, options, tally));
    } catch (error) {
      failed("-", d.display(d.path), error);
    }
    return result;
  }
  if (src.directory && !options.recursive) {
    throw new UsageError(`${src.text} is a folder: add -r to copy what it holds.`);
  }
  if (dst.kind === "stdio") {
    if (src.directory || options.recursive)
      throw new UsageError("Only one file can be written to stdout (-): drop -r.");
    try {
      done(await copyToStream(src, src.path, dst.stream as Writable, options, tally));
    } catch (error) {
      failed(src.display(src.path), "-", error);
    }
    return result;
  }

  // A single file: a plain local file, or a name without -r.
  if (!options.recursive || (src.kind === "path" && !src.directory)) {
    const target = dst.directory ? joinName(dst.path, src.basename) : dst.path;
    tally.listed();
    try {
      done(await copyFile(src, src.path, dst, target, options, tally));
    } catch (error) {
      failed(src.display(src.path), dst.display(target), error);
    }
    return result;
  }

  // A folder: everything below the source prefix, under the destination prefix.
  const from = asPrefix(src.path);
  const to = asPrefix(dst.path);
  await refuseCopyIntoItself(src, from, dst, to);
  const limit = pLimit(Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY));
  const running = new Set<Promise<void>>();
  let found = 0;
  try {
    for await (const entry of src.storage.list(from, { recursive: true, signal: options.signal })) {
      if (options.signal?.aborted) break;
      if (entry.type !== "file") continue;
      // A local file as destination: every copy would fail on it, one error per file. Asked once a
      // file is found: `get -r default:a.txt x` with nothing below a.txt means that one file.
      if (found === 0 && dst.kind === "path" && !dst.directory && (await dst.storage.exists(dst.path)))
        throw new UsageError(
          `${dst.text} is a file, and a folder is copied into a folder: give a folder (a new name is created as one).`,
        );
      found++;
      const target = `${to}${entry.name.slice(from.length)}`;
      tally.found(entry.size);
      const task: Promise<void> = limit(async () => {
        if (options.signal?.aborted) return;
        try {
          done(await copyFile(src, entry.name, dst, target, options, tally, { size: entry.size }));
        } catch (error) {
          failed(src.display(entry.name), dst.display(target), error);
        }
      }).finally(() => running.delete(task));
      running.add(task);
      // Bounded: the listing waits while enough files are queued.
      if (running.size >= limit.concurrency * 2) await Promise.race(running);
    }
    tally.listed();
  } catch (error) {
    if (isUsageError(error)) throw error;
    failed(src.display(from), dst.display(to), error);
  }
  await Promise.all(running);
  if (found === 0 && result.failures.length === 0 && src.path !== "" && src.kind !== "path") {
    // Nothing below the name: `get -r default:a.txt` means that file; a bucket has no empty folders.
    if (!src.path.endsWith("/")) {
      const target = dst.directory ? joinName(dst.path, src.basename) : dst.path;
      try {
        done(await copyFile(src, src.path, dst, target, options, tally));
      } catch (error) {
        failed(src.display(src.path), dst.display(target), error);
      }
    } else {
      failed(
        src.display(from),
        dst.display(to),
        new NotFoundError(`Nothing below ${src.text}: no file to copy.`, { operation: "list", path: from }),
      );
    }
  }
  if (options.signal?.aborted) result.aborted = true;
  return result;
}
