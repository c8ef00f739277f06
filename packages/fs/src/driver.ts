/**
 * The local filesystem driver.
 *
 * What it promises: nothing partial is ever visible under a file's name (every write goes to a
 * temporary file that is renamed or linked into place), nothing outside the root is ever touched
 * (see paths.ts), every file it writes has its MD5 recorded (sidecar.ts), and listing is a sorted
 * walk with a resumable cursor that never holds more than one directory in memory.
 *
 * Durability is a stated policy per storage (`durability` option): "full" (the default, for media)
 * syncs the file, its record and its folder before a save returns; "batch" (rebuildable files such
 * as collectstatic output) syncs nothing per save and everything saved since at `flush()`/`close()`.
 *
 * The class routes each call to the module that holds its concern: saves in save.ts, listings in
 * listing.ts, copies and moves in copy-move.ts, deletes in removal.ts, the lookup of an existing
 * file in lookup.ts; reads, which are short, stay here.
 */
import { hash } from "node:crypto";
import type { BigIntStats } from "node:fs";
import { createReadStream } from "node:fs";
import { type FileHandle, open, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import {
  abortError,
  type BackendDescription,
  type Capabilities,
  type Driver,
  type DriverCallOptions,
  type DriverCopyOptions,
  type DriverListOptions,
  type DriverReadOptions,
  type DriverSignedUploadOptions,
  type DriverSignedUrlOptions,
  type DriverWriteOptions,
  type DriverWriteResult,
  guessContentType,
  joinUrl,
  type ListPage,
  NotFoundError,
  type ObjectStat,
  RangeNotSatisfiableError,
  type SignedUpload,
  StorageError,
  UnsupportedError,
  UrlSigner,
  unreadableLocalFile,
  type Visibility,
} from "@storages/core";
import type { DriverContext } from "./context.js";
import { copyStoredFile, moveStoredFile } from "./copy-move.js";
import { PendingSyncs, syncPath } from "./durability.js";
import { toStorageError } from "./errors.js";
import { closeQuietly, fstatFd, openFd, readFd, writeAll } from "./io.js";
import { listingPage } from "./listing.js";
import { localCopyFill, untouchedFileSource, wholeFileStreams } from "./local-copy.js";
import { etagOf, existingFile, notFound, openToRead } from "./lookup.js";
import {
  type Durability,
  describeFsOptions,
  type FsDriverOptions,
  type LinkPolicy,
  type ResolvedFsOptions,
  resolveFsOptions,
} from "./options.js";
import { errnoCode, OPEN_DIRECTORY, RootedPaths } from "./paths.js";
import { deleteStoredFile } from "./removal.js";
import { save, saveOptions } from "./save.js";
import { readRecord } from "./sidecar.js";
import { writeBody } from "./stream-write.js";
import { sweepTemporaryFiles } from "./temporary.js";

/**
 * Stream chunk size. Node's default (64 KiB) measured best here: as fast as 256 KiB, and peak RSS
 * stays ~30 MiB lower, because V8 collects external buffers later when they come in bigger pieces.
 */
const READ_CHUNK = 64 * 1024;

function rangeNotSatisfiable(key: string, start: number, size: number): RangeNotSatisfiableError {
  return new RangeNotSatisfiableError(
    `The range starts at byte ${start} but "${key.slice(0, 200)}" is ${size} bytes long.`,
    { path: key },
  );
}

const openHandle = (path: string, flags: number): Promise<FileHandle> => open(path, flags);
const closeHandle = (handle: FileHandle): void => {
  handle.close().catch(() => {});
};

/**
 * `stream` destroyed with the abort error when `signal` fires before it closes. What
 * `stream.addAbortSignal` does, without its end-of-stream watcher: that one builds a
 * premature-close error (a stack trace, ~45 µs) for every stream destroyed unread — every file a
 * local copy hands to the kernel (untouchedFileSource).
 */
function destroyedOnAbort<T extends Readable>(signal: AbortSignal, stream: T): T {
  if (signal.aborted) {
    stream.destroy(abortError(signal));
    return stream;
  }
  const onAbort = () => stream.destroy(abortError(signal));
  signal.addEventListener("abort", onAbort, { once: true });
  stream.once("close", () => signal.removeEventListener("abort", onAbort));
  return stream;
}

export class FsDriver implements Driver {
  readonly backend = "fs";
  readonly capabilities: Capabilities;
  readonly defaultVisibility: Visibility;
  readonly root: string;
  readonly baseUrl: string | undefined;
  /** Signs URLs for where createFsHandler is mounted (signing.baseUrl, else baseUrl); the key stays private to it. */
  readonly signer: UrlSigner | undefined;
  readonly fileMode: number;
  readonly directoryMode: number;
  readonly durability: Durability;
  /** Whether files get a record (MD5, content type, metadata); false: a plain folder. */
  readonly records: boolean;
  /** Whether createFsHandler may serve active content (HTML, SVG…) inline; false: attachment + CSP sandbox. */
  readonly inlineActiveContent: boolean;
  /** What a listing does with a link it does not follow: leave it out ("skip") or fail ("refuse"). */
  readonly links: LinkPolicy;

  private readonly paths: RootedPaths;
  /** The options as resolved (the signing key among them stays in this private field). */
  readonly #resolved: ResolvedFsOptions;
  private ready: Promise<void> | undefined;
  private initialized = false;
  /** The sweep of temporary files killed writers left, started by the first change (startSweep). */
  private sweeping: Promise<unknown> | undefined;
  private readonly sweepStop = new AbortController();
  /** Batch durability: what flush() has to sync. */
  private readonly pending = new PendingSyncs();
  /** What the modules holding the operations share (context.ts). */
  private readonly context: DriverContext;

  constructor(options: FsDriverOptions) {
    const resolved = resolveFsOptions(options);
    this.#resolved = resolved;
    this.root = resolved.root;
    this.baseUrl = resolved.baseUrl;
    this.fileMode = resolved.fileMode;
    this.directoryMode = resolved.directoryMode;
    this.durability = resolved.durability;
    this.records = resolved.records;
    this.inlineActiveContent = resolved.inlineActiveContent;
    this.links = resolved.links;
    if (resolved.signingKey !== undefined && resolved.signingBaseUrl !== undefined) {
      this.signer = new UrlSigner(resolved.signingKey, resolved.signingBaseUrl, "fs option signing.key");
    }
    this.defaultVisibility = resolved.defaultVisibility;
    const canSign = this.signer !== undefined;
    this.capabilities = {
      rangeRead: true,
      conditionalWrite: true,
      publicUrl: this.baseUrl !== undefined,
      signedUrl: canSign,
      signedUpload: canSign ? ["put"] : [],
      signedUploadMaxBytes: canSign ? ["put"] : [],
      visibility: "bucket",
      metadata: this.records,
      // Recorded at write time (sidecar.ts); a file put in the root by another program has none,
      // and a plain folder (records: false) keeps none at all.
      checksums: this.records ? ["md5"] : [],
    };
    this.paths = new RootedPaths(this.root, this.directoryMode, async (parent) => {
      // A new folder's entry in its parent: synced like the entries a save makes.
      if (this.durability === "full") await syncPath(parent, OPEN_DIRECTORY);
      else this.pending.add(parent);
    });
    this.context = {
      paths: this.paths,
      fileMode: this.fileMode,
      durability: this.durability,
      records: this.records,
      pending: this.pending,
      startSweep: () => this.startSweep(),
    };
  }

  /** Creates the root on first use (a failed attempt is retried by the next call). */
  private async init(): Promise<void> {
    this.ready ??= this.paths.init().then(
      () => {
        this.initialized = true;
      },
      (error: unknown) => {
        this.ready = undefined;
        throw toStorageError(error, undefined);
      },
    );
    await this.ready;
  }

  /**
   * Removes the temporary files that writers killed mid-save left under the root (see
   * temporary.ts for how a live writer's file is told apart); returns how many. The first call of
   * every driver runs it in the background; tools may run it themselves.
   */
  async removeStaleTemporaryFiles(signal?: AbortSignal): Promise<number> {
    if (!this.initialized) await this.init();
    return sweepTemporaryFiles(this.paths.real, signal);
  }

  /**
   * Starts, once, the sweep of the temporary files killed writers left (in the background: a big
   * tree takes a while, and nothing waits for it; close() stops it). Started by the first change
   * (save, copy, move, delete), not by reads: what a killed writer left is invisible to readers, and
   * a storage only read (the source of a migration, a server's static files) would otherwise walk
   * its whole tree for nothing (a second walk beside a listing's).
   */
  private startSweep(): void {
    this.sweeping ??= this.removeStaleTemporaryFiles(this.sweepStop.signal).catch(() => {});
  }

  /** Runs `action`, translating whatever it throws into a StorageError. */
  private async run<T>(
    key: string | undefined,
    signal: AbortSignal | undefined,
    action: () => Promise<T>,
  ): Promise<T> {
    try {
      if (signal?.aborted) throw abortError(signal);
      if (!this.initialized) await this.init();
      return await action();
    } catch (error) {
      const storageError = toStorageError(error, key, signal);
      if (storageError.code === "E_NOT_FOUND" && !StorageError.isInstance(error) && (await this.rootIsGone()))
        throw new NotFoundError(
          `The storage root ${this.root} does not exist any more (deleted, or its volume is not mounted): restore or remount it. It is created only on a storage's first use, never again, so that files are not written where a volume should be.`,
          { path: key, cause: error },
        );
      throw storageError;
    }
  }

  /** True when the root folder was removed (or unmounted) after this storage created or found it. */
  private async rootIsGone(): Promise<boolean> {
    try {
      return !(await stat(this.paths.real)).isDirectory();
    } catch (error) {
      return errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR";
    }
  }

  // -------------------------------------------------------------------------------------------
  // write

  /** A body already in memory: one write, no stream (what the facade gives small files). */
  async writeBytes(key: string, bytes: Uint8Array, options: DriverWriteOptions): Promise<DriverWriteResult> {
    return this.run(key, options.signal, () =>
      save(this.context, key, saveOptions(options), {
        write: async ({ fd }) => {
          await writeAll(fd, bytes);
          return this.records ? hash("md5", bytes, "hex") : undefined;
        },
      }),
    );
  }

  async write(key: string, body: Readable, options: DriverWriteOptions): Promise<DriverWriteResult> {
    if (options.bytes !== undefined) return this.writeBytes(key, options.bytes, options);
    const sourcePath = untouchedFileSource(body);
    if (sourcePath === undefined) {
      // The MD5 is taken on the way to the disk (stream-write.ts): the bytes are never read a
      // second time. A plain folder keeps no checksum, so it takes none.
      return this.run(key, options.signal, () =>
        save(this.context, key, saveOptions(options), {
          write: ({ fd }) => writeBody(body, fd, options.signal, this.records),
        }),
      );
    }
    // The body is a whole local file nobody has read yet: let the kernel copy it. The stream is
    // never read: its own pending open may still fail (a missing file) and must not surface as an
    // unhandled 'error'; the copy reports the failure. A stream on a descriptor keeps it open for
    // the copy, and is destroyed (closing it) after.
    body.on("error", () => {});
    try {
      return await this.run(key, options.signal, async () => {
        try {
          const fill = await localCopyFill(sourcePath, options.signal, this.records);
          return await save(this.context, key, saveOptions(options), fill);
        } catch (error) {
          // The body's own file failed (missing, unreadable, a folder): the caller's input.
          if ((error as NodeJS.ErrnoException).path === sourcePath)
            throw unreadableLocalFile(sourcePath, error);
          throw error;
        }
      });
    } finally {
      body.destroy();
    }
  }

  /**
   * Makes every save so far durable. With durability "full" there is nothing left to do; with
   * "batch", this syncs every file (and record) saved since the last flush, then their folders.
   * close() calls it too.
   */
  async flush(options?: DriverCallOptions): Promise<void> {
    if (this.pending.empty) return;
    await this.run(undefined, options?.signal, () => this.pending.flush());
  }

  // -------------------------------------------------------------------------------------------
  // read, stat

  /**
   * An open handle on a file and the stat of that very version (size, ETag and metadata come from
   * the handle, so a concurrent replace cannot mix two versions). The caller closes the handle.
   * createFsHandler serves files with it.
   */
  async openFile(key: string, options: DriverCallOptions): Promise<{ handle: FileHandle; stat: ObjectStat }> {
    return this.run(key, options.signal, async () => {
      const { opened: handle, path } = await openToRead(
        this.paths,
        key,
        openHandle,
        (h) => h.fd,
        closeHandle,
      );
      try {
        const stats = await handle.stat({ bigint: true });
        if (!stats.isFile()) throw notFound(key);
        return { handle, stat: await this.statOf(key, path, stats) };
      } catch (error) {
        await handle.close();
        throw error;
      }
    });
  }

  /**
   * A stream of the file (or range). Reads no record: a stream needs only the size. On a plain
   * descriptor (open, fstat: two thread-pool trips, no FileHandle objects), which the stream closes.
   */
  async read(key: string, options: DriverReadOptions): Promise<Readable> {
    const { fd, size } = await this.run(key, options.signal, async () => {
      const { opened } = await openToRead(this.paths, key, openFd, (d) => d, closeQuietly);
      try {
        const stats = await fstatFd(opened);
        if (!stats.isFile()) throw notFound(key);
        return { fd: opened, size: Number(stats.size) };
      } catch (error) {
        closeQuietly(opened);
        throw error;
      }
    });
    let start = 0;
    let end: number | undefined;
    if (options.range) {
      if (options.range.start >= size) {
        closeQuietly(fd);
        throw rangeNotSatisfiable(key, options.range.start, size);
      }
      start = options.range.start;
      end = Math.min(options.range.end ?? size - 1, size - 1);
    }
    const stream = createReadStream("", { fd, start, end, highWaterMark: READ_CHUNK, autoClose: true });
    if (options.range === undefined) wholeFileStreams.add(stream);
    return destroyedOnAbort(options.signal, stream);
  }

  /**
   * The whole file (or range) in memory: open, fstat, read, close — the calls readFile makes — and
   * no record (the bytes need none).
   */
  async readBytes(key: string, options: DriverReadOptions): Promise<Uint8Array> {
    return this.run(key, options.signal, async () => {
      const { opened: fd } = await openToRead(this.paths, key, openFd, (d) => d, closeQuietly);
      try {
        const stats = await fstatFd(fd);
        if (!stats.isFile()) throw notFound(key);
        const size = Number(stats.size);
        let start = 0;
        let end = size - 1;
        if (options.range) {
          if (options.range.start >= size) throw rangeNotSatisfiable(key, options.range.start, size);
          start = options.range.start;
          end = Math.min(options.range.end ?? end, end);
        }
        const buffer = Buffer.allocUnsafe(end - start + 1);
        let filled = 0;
        while (filled < buffer.length) {
          if (options.signal.aborted) throw abortError(options.signal);
          const n = await readFd(fd, buffer, filled, buffer.length - filled, start + filled);
          if (n === 0) break; // truncated meanwhile: what there is
          filled += n;
        }
        return filled < buffer.length ? buffer.subarray(0, filled) : buffer;
      } finally {
        closeQuietly(fd);
      }
    });
  }

  private async statOf(key: string, path: string, stats: BigIntStats): Promise<ObjectStat> {
    const meta = (await readRecord(key, path, stats)) ?? {};
    return {
      name: key,
      size: Number(stats.size),
      lastModified: stats.mtime,
      etag: etagOf(stats),
      contentType: meta.contentType ?? guessContentType(key),
      cacheControl: meta.cacheControl,
      contentDisposition: meta.contentDisposition,
      contentEncoding: meta.contentEncoding,
      metadata: meta.metadata ?? {},
      checksums: meta.checksums,
      visibility: this.defaultVisibility,
    };
  }

  async stat(key: string, options: DriverCallOptions): Promise<ObjectStat> {
    return this.run(key, options.signal, async () => {
      const { path, stats } = await existingFile(this.paths, key);
      return this.statOf(key, path, stats);
    });
  }

  async exists(key: string, options: DriverCallOptions): Promise<boolean> {
    try {
      await this.run(key, options.signal, () => existingFile(this.paths, key));
      return true;
    } catch (error) {
      if (StorageError.hasCode(error, "E_NOT_FOUND")) return false;
      throw error;
    }
  }

  // -------------------------------------------------------------------------------------------
  // list

  async listPage(prefix: string, options: DriverListOptions): Promise<ListPage> {
    return this.run(prefix || undefined, options.signal, () =>
      listingPage(this.paths, prefix, options, this.links),
    );
  }

  // -------------------------------------------------------------------------------------------
  // copy, move, delete

  async copy(from: string, to: string, options: DriverCopyOptions): Promise<void> {
    await this.run(to, options.signal, () => copyStoredFile(this.context, from, to, options));
  }

  async move(from: string, to: string, options: DriverCopyOptions): Promise<void> {
    await this.run(to, options.signal, () => moveStoredFile(this.context, this, from, to, options));
  }

  async delete(key: string, options: DriverCallOptions): Promise<void> {
    await this.run(key, options.signal, () => deleteStoredFile(this.context, key));
  }

  // -------------------------------------------------------------------------------------------
  // URLs

  publicUrl(key: string): string {
    if (this.baseUrl === undefined) {
      throw new UnsupportedError(
        'This fs storage has no baseUrl, so its files have no public URL. Set baseUrl (e.g. "/media/") and serve the root with createFsHandler or your web server.',
        { path: key },
      );
    }
    return joinUrl(this.baseUrl, key);
  }

  path(key: string): string {
    return join(this.root, key);
  }

  describe(): BackendDescription {
    return describeFsOptions(this.#resolved);
  }

  private signerOrThrow(key: string): UrlSigner {
    if (this.signer === undefined) {
      throw new UnsupportedError(
        "This fs storage cannot sign URLs: configure signing: { key, baseUrl } (a key of at least 32 bytes and where createFsHandler is mounted).",
        { path: key },
      );
    }
    return this.signer;
  }

  async signedUrl(key: string, options: DriverSignedUrlOptions): Promise<string> {
    return this.signerOrThrow(key).signedUrl(key, options);
  }

  async signedUpload(key: string, options: DriverSignedUploadOptions): Promise<Omit<SignedUpload, "name">> {
    return this.signerOrThrow(key).signedUpload(key, options);
  }

  /** Syncs what a batch storage has not yet synced, and stops the sweep of temporary files. */
  async close(): Promise<void> {
    this.sweepStop.abort();
    await this.sweeping;
    await this.flush();
  }
}
