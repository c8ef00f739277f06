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
 */
import { hash } from "node:crypto";
import type { BigIntStats, Dirent } from "node:fs";
import { constants, createReadStream } from "node:fs";
import {
  copyFile,
  type FileHandle,
  link,
  lstat,
  open,
  readdir,
  realpath,
  rename,
  rmdir,
  stat,
  unlink,
} from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Readable } from "node:stream";
import {
  AlreadyExistsError,
  abortError,
  type BackendDescription,
  type Capabilities,
  compareNames,
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
  type ListEntry,
  type ListPage,
  NotFoundError,
  normalizeEtag,
  type ObjectStat,
  RangeNotSatisfiableError,
  type SignedUpload,
  StorageError,
  settleOnAbort,
  UnsupportedError,
  UrlSigner,
  unreadableLocalFile,
  type Visibility,
} from "@storages/core";
import { PendingSyncs, syncDescriptor, syncPath } from "./durability.js";
import { toStorageError } from "./errors.js";
import { closeFd, closeQuietly, fchmodFd, fstatFd, fsyncFd, openFd, readFd, writeAll } from "./io.js";
import { decodeCursor, encodeCursor } from "./list-cursor.js";
import { copyAndHash, untouchedFileSource, wholeFileStreams } from "./local-copy.js";
import {
  type Durability,
  describeFsOptions,
  type FsDriverOptions,
  type ResolvedFsOptions,
  resolveFsOptions,
} from "./options.js";
import { errnoCode, isReservedName, OPEN_DIRECTORY, RootedPaths } from "./paths.js";
import {
  abandonRecord,
  discardRecord,
  fillRecord,
  needsRecord,
  type OpenRecord,
  openRecord,
  type PreparedRecord,
  pickMetadata,
  placeRecord,
  readRecord,
  recordName,
  removeRecord,
  type StoredMetadata,
  writeRecord,
} from "./sidecar.js";
import { writeBody } from "./stream-write.js";
import { sweepTemporaryFiles, tempPath } from "./temporary.js";

/**
 * Stream chunk size. Node's default (64 KiB) measured best here: as fast as 256 KiB, and peak RSS
 * stays ~30 MiB lower, because V8 collects external buffers later when they come in bigger pieces.
 */
const READ_CHUNK = 64 * 1024;
/** Files of a directory whose stat (and record) a listing fetches at once. */
const LIST_LOOKAHEAD = 16;
/** Sub-folders of a directory whose listing a recursive listing reads ahead. */
const LIST_LOOKAHEAD_FOLDERS = 4;
/** Attempts at creating a file (temporary, or a link) in a folder a concurrent delete prunes meanwhile. */
const PARENT_RETRIES = 5;

const CREATE_EXCLUSIVE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;

/** link() errors meaning the filesystem has no hard links (some FUSE, SMB and FAT mounts). */
const NO_HARD_LINKS = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS"]);

function noHardLinks(key: string, cause: unknown): UnsupportedError {
  return new UnsupportedError(
    "This filesystem has no hard links, which create-exclusive writes (overwrite: false) and moves without overwrite rely on. Use overwrite: true with names that are unique by construction, or another filesystem.",
    { path: key, cause },
  );
}

/** Stable validator for ETags: size, modification time and inode identify one version of a file. */
function etagOf(stats: BigIntStats): string {
  return normalizeEtag(hash("sha1", `${stats.size}:${stats.mtimeNs}:${stats.ino}`, "hex").slice(0, 32))!;
}

function notFound(key: string): NotFoundError {
  return new NotFoundError(`"${key.slice(0, 200)}" does not exist.`, { path: key });
}

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

/** How a save publishes: create-exclusive or replace, and the record it writes for the MD5 of the content. */
interface SaveOptions {
  signal: AbortSignal;
  exclusive: boolean;
  nextKey?: (() => string) | undefined;
  meta: (md5: string) => StoredMetadata;
}

function saveOptions(options: DriverWriteOptions): SaveOptions {
  return {
    signal: options.signal,
    exclusive: options.ifNotExists,
    nextKey: options.nextKey,
    meta: (md5) => pickMetadata({ ...options, checksums: { md5 } }),
  };
}

/** A save's temporary file, open, in the folder it will be published in. */
interface TempFile {
  /** The real path of the folder (the key's parent), and an open descriptor of it. */
  directory: string;
  directoryFd: number;
  temp: string;
  fd: number;
}

interface Candidate {
  entry: ListEntry;
  /** Position in the listing order: the name, with a trailing "/" for directories. */
  sortKey: string;
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
      throw toStorageError(error, key, signal);
    }
  }

  // -------------------------------------------------------------------------------------------
  // write

  /** A body already in memory: one write, no stream (what the facade gives small files). */
  async writeBytes(key: string, bytes: Uint8Array, options: DriverWriteOptions): Promise<DriverWriteResult> {
    return this.run(key, options.signal, () =>
      this.save(key, saveOptions(options), async ({ fd }) => {
        await writeAll(fd, bytes);
        return this.records ? hash("md5", bytes, "hex") : undefined;
      }),
    );
  }

  async write(key: string, body: Readable, options: DriverWriteOptions): Promise<DriverWriteResult> {
    if (options.bytes !== undefined) return this.writeBytes(key, options.bytes, options);
    return this.run(key, options.signal, () =>
      this.save(key, saveOptions(options), async ({ fd, temp }) => {
        const sourcePath = untouchedFileSource(body);
        if (sourcePath !== undefined) {
          // The body is a whole local file nobody has read yet: let the kernel copy it (into the
          // same inode our descriptor is open on).
          // The stream is never read: its own pending open may still fail (a missing file) and
          // must not surface as an unhandled 'error'; copyFile reports the failure. A stream on a
          // descriptor keeps it open for the copy, and is destroyed (closing it) after.
          body.on("error", () => {});
          try {
            return await copyAndHash(sourcePath, temp, options.signal, this.records);
          } catch (error) {
            // The body's own file failed (missing, unreadable, a folder): the caller's input.
            if ((error as NodeJS.ErrnoException).path === sourcePath)
              throw unreadableLocalFile(sourcePath, error);
            throw error;
          } finally {
            body.destroy();
          }
        }
        // The MD5 is taken on the way to the disk (stream-write.ts): the bytes are never read a
        // second time. A plain folder keeps no checksum, so it takes none.
        return writeBody(body, fd, options.signal, this.records);
      }),
    );
  }

  /**
   * One save: a temporary file in the key's folder, filled by `fill` (which returns the MD5 of
   * what it wrote; undefined when the storage keeps no records), its record prepared while it
   * syncs, both renamed (or linked) into place, the folder synced — or, with batch durability, all
   * of it left for flush().
   */
  private async save(
    key: string,
    options: SaveOptions,
    fill: (file: TempFile) => Promise<string | undefined>,
  ): Promise<DriverWriteResult> {
    this.startSweep();
    const durable = this.durability === "full";
    const { file, opening } = await this.createTemp(key, durable);
    let dataOpen = true;
    let record: PreparedRecord | undefined;
    let published = false;
    try {
      const md5 = await fill(file);
      const stats = await fstatFd(file.fd);
      // The mode given to open() is filtered by the umask (copyFile sets the source's): set it exactly.
      if (Number(stats.mode & 0o7777n) !== this.fileMode) await fchmodFd(file.fd, this.fileMode);
      // The caller has already been told "aborted" (the facade does not wait): publish nothing.
      if (options.signal.aborted) throw abortError(options.signal);
      // The data is synced while the record is written (and synced: O_DSYNC): the disk merges the two.
      // (A storage with records has every fill return the MD5.)
      const [, prepared] = await Promise.all([
        durable ? fsyncFd(file.fd) : undefined,
        opening?.then((open) => fillRecord(open, basename(key), stats, options.meta(md5 as string))),
      ]);
      record = prepared;
      dataOpen = false;
      // Synced: nothing can fail in a close any more, so it need not be waited for. Unsynced, a
      // close may still report a write error (NFS does): wait for it.
      if (durable) closeQuietly(file.fd);
      else await closeFd(file.fd);
      if (options.signal.aborted) throw abortError(options.signal);
      const committed = await this.commit(file, key, record, options);
      published = true;
      if (durable && committed.directory === file.directory) await syncDescriptor(file.directoryFd);
      else
        await this.published(
          committed.directory,
          committed.path,
          ...(committed.recordPath === undefined ? [] : [committed.recordPath]),
        );
      return {
        key: committed.key,
        size: Number(stats.size),
        etag: etagOf(stats),
        checksums: md5 === undefined ? undefined : { md5 },
      };
    } catch (error) {
      if (dataOpen) closeQuietly(file.fd);
      if (!published) {
        if (record) await discardRecord(record);
        else await opening?.then(abandonRecord, () => {});
        await this.discard(file.temp);
      }
      throw error;
    } finally {
      closeQuietly(file.directoryFd);
    }
  }

  /**
   * Makes a change to `directory` durable as the storage's policy says: synced now ("full"), or
   * noted, with the files named, for the next flush ("batch").
   */
  private async published(directory: string, ...files: string[]): Promise<void> {
    if (this.durability === "full") {
      await syncPath(directory, OPEN_DIRECTORY);
      return;
    }
    this.pending.add(directory, ...files);
    if (this.pending.full) await this.pending.flush();
  }

  /**
   * A new, empty temporary file in the key's folder (created when missing), open for writing, in a
   * folder checked to be inside the root; and the record's temporary file, being created at the
   * same time (creating a file is most of a small save's cost on a busy disk: the two overlap).
   */
  private async createTemp(
    key: string,
    durable: boolean,
  ): Promise<{ file: TempFile; opening: Promise<OpenRecord> | undefined }> {
    for (let attempt = 1; ; attempt++) {
      const { directory, fd: directoryFd } = await this.paths.openParent(key);
      const temp = tempPath(directory);
      const opening = this.records ? openRecord(directory, this.fileMode, durable) : undefined;
      opening?.catch(() => {}); // awaited by the save, or abandoned with it
      try {
        const fd = await openFd(temp, CREATE_EXCLUSIVE, this.fileMode);
        return { file: { directory, directoryFd, temp, fd }, opening };
      } catch (error) {
        closeQuietly(directoryFd);
        await opening?.then(abandonRecord, () => {});
        if (errnoCode(error) === "ENOTDIR") throw this.paths.fileInTheWay(key, error);
        // A concurrent delete removed the (then empty) directory between mkdir and open: redo both.
        if (errnoCode(error) !== "ENOENT" || attempt >= PARENT_RETRIES) throw error;
      }
    }
  }

  /** Removes a temporary file after a failure, and the directories the write created for it if now empty. */
  private async discard(temp: string): Promise<void> {
    await unlink(temp).catch(() => {});
    await this.prune(dirname(temp));
  }

  /**
   * Publishes a complete temporary file and its record under `key`: rename (replace) or link
   * (create-exclusive, trying `nextKey()` names on EEXIST so the body is never needed twice).
   */
  private async commit(
    file: TempFile,
    key: string,
    record: PreparedRecord | undefined,
    mode: SaveOptions,
  ): Promise<{ key: string; directory: string; path: string; recordPath: string | undefined }> {
    if (!mode.exclusive) {
      const target = join(file.directory, basename(key));
      // Both renames at once: each is atomic, and a record only applies to the data it names (same
      // size and mtime), so in no order does a reader see a wrong checksum.
      const [recordPath] = await Promise.all([
        record && placeRecord(record, target),
        rename(file.temp, target),
      ]);
      return { key, directory: file.directory, path: target, recordPath };
    }
    let current = key;
    let directory = file.directory;
    for (;;) {
      const target = join(directory, basename(current));
      try {
        await link(file.temp, target);
        break;
      } catch (error) {
        if (NO_HARD_LINKS.has(errnoCode(error) ?? "")) throw noHardLinks(current, error);
        if (errnoCode(error) !== "EEXIST") throw error;
        if (!mode.nextKey) {
          throw new AlreadyExistsError(`"${current.slice(0, 200)}" already exists.`, {
            path: current,
            cause: error,
          });
        }
        current = mode.nextKey();
        directory = await this.paths.prepareParent(current);
      }
    }
    const target = join(directory, basename(current));
    // Placed after the link: before it, the name could still belong to someone else's file.
    const [recordPath] = await Promise.all([
      record &&
        placeRecord(record, target).catch(async (error: unknown) => {
          // Keep the promise "saved with its checksum, or not saved": take the file back.
          await unlink(target).catch(() => {});
          throw error;
        }),
      unlink(file.temp),
    ]);
    return { key: current, directory, path: target, recordPath };
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

  /** Removes now-empty directories from `directory` up to (not including) the root. */
  private async prune(directory: string): Promise<void> {
    let current = directory;
    while (current !== this.paths.real && this.paths.contains(current)) {
      try {
        await rmdir(current);
      } catch {
        return; // not empty (or already gone, or not ours to remove): stop climbing
      }
      current = dirname(current);
    }
  }

  // -------------------------------------------------------------------------------------------
  // read, stat

  /** Real path and stats of an existing regular file, else NotFoundError. */
  private async existingFile(key: string): Promise<{ path: string; stats: BigIntStats }> {
    let path: string;
    try {
      path = await this.paths.resolveExisting(key);
    } catch (error) {
      if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") {
        throw new NotFoundError(`"${key.slice(0, 200)}" does not exist.`, { path: key, cause: error });
      }
      throw error;
    }
    const stats = await stat(path, { bigint: true });
    if (!stats.isFile())
      throw new NotFoundError(`"${key.slice(0, 200)}" does not exist (it is a directory).`, { path: key });
    return { path, stats };
  }

  /**
   * The real path and stat of a file to copy from, checked through a descriptor of it (an open, a
   * readlink of /proc/self/fd and an fstat, instead of a realpath of every segment and a stat).
   */
  private async fileToCopy(key: string): Promise<{ path: string; stats: BigIntStats }> {
    const { opened: fd, path } = await this.openToRead(key, openFd, (d) => d, closeQuietly);
    try {
      const stats = await fstatFd(fd);
      if (!stats.isFile()) throw notFound(key);
      return { path, stats };
    } finally {
      closeQuietly(fd);
    }
  }

  /**
   * An open handle on a file and the stat of that very version (size, ETag and metadata come from
   * the handle, so a concurrent replace cannot mix two versions). The caller closes the handle.
   * createFsHandler serves files with it.
   */
  async openFile(key: string, options: DriverCallOptions): Promise<{ handle: FileHandle; stat: ObjectStat }> {
    return this.run(key, options.signal, async () => {
      const { opened: handle, path } = await this.openToRead(key, openHandle, (h) => h.fd, closeHandle);
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

  /** `paths.openExisting`, with a missing file as NotFoundError. */
  private async openToRead<T>(
    key: string,
    opener: (path: string, flags: number) => Promise<T>,
    fdOf: (opened: T) => number,
    release: (opened: T) => void,
  ): Promise<{ opened: T; path: string }> {
    try {
      return await this.paths.openExisting(key, opener, fdOf, release);
    } catch (error) {
      if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") {
        throw new NotFoundError(`"${key.slice(0, 200)}" does not exist.`, { path: key, cause: error });
      }
      throw error;
    }
  }

  /**
   * A stream of the file (or range). Reads no record: a stream needs only the size. On a plain
   * descriptor (open, fstat: two thread-pool trips, no FileHandle objects), which the stream closes.
   */
  async read(key: string, options: DriverReadOptions): Promise<Readable> {
    const { fd, size } = await this.run(key, options.signal, async () => {
      const { opened } = await this.openToRead(key, openFd, (d) => d, closeQuietly);
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
      const { opened: fd } = await this.openToRead(key, openFd, (d) => d, closeQuietly);
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
    const meta = (await readRecord(path, stats)) ?? {};
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
      const { path, stats } = await this.existingFile(key);
      return this.statOf(key, path, stats);
    });
  }

  async exists(key: string, options: DriverCallOptions): Promise<boolean> {
    try {
      await this.run(key, options.signal, () => this.existingFile(key));
      return true;
    } catch (error) {
      if (StorageError.hasCode(error, "E_NOT_FOUND")) return false;
      throw error;
    }
  }

  // -------------------------------------------------------------------------------------------
  // list

  async listPage(prefix: string, options: DriverListOptions): Promise<ListPage> {
    return this.run(prefix || undefined, options.signal, async () => {
      const after = options.cursor === undefined ? undefined : decodeCursor(options.cursor, prefix);
      let directory: string;
      try {
        directory = await this.paths.resolveExisting(prefix, this.paths.dirOf(prefix));
      } catch (error) {
        if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") return { entries: [] };
        throw error;
      }
      const pageSize = Math.max(1, Math.floor(options.pageSize));
      const found: Candidate[] = [];
      // One more than the page tells whether another page follows.
      await this.walk(directory, prefix, after, options.recursive, options.signal, found, pageSize + 1);
      if (found.length <= pageSize) return { entries: found.map((c) => c.entry) };
      found.pop();
      const last = found[found.length - 1]!;
      return { entries: found.map((c) => c.entry), cursor: encodeCursor(prefix, last.sortKey) };
    });
  }

  /**
   * Appends the entries under `directory` to `found` in name order, skipping everything up to and
   * including `after`, until `found` holds `limit`; returns whether it does. Order: entries sorted
   * by name with "/" appended to directories, which makes a depth-first walk produce the same order
   * as sorting all keys. (An array filled in place, not an async generator: a generator handed each
   * entry up through every level of the recursion, a promise per level, and that was most of a
   * listing's own CPU time.)
   */
  private async walk(
    directory: string,
    keyPrefix: string,
    after: string | undefined,
    recursive: boolean,
    signal: AbortSignal,
    found: Candidate[],
    limit: number,
    listing?: Promise<Dirent[]>,
  ): Promise<boolean> {
    if (signal.aborted) throw abortError(signal);
    let dirents: Dirent[];
    try {
      dirents = await (listing ?? readdir(directory, { withFileTypes: true }));
    } catch (error) {
      if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") return false;
      throw error;
    }
    const items: Array<{
      name: string;
      path: string;
      isDirectory: boolean;
      linked?: boolean;
      sortKey: string;
    }> = [];
    /** The driver's own entries of this directory: records say which files have a checksum. */
    const reserved = new Set<string>();
    for (const dirent of dirents) {
      if (isReservedName(dirent.name)) {
        reserved.add(dirent.name);
        continue;
      }
      let path = join(directory, dirent.name);
      let isDirectory: boolean;
      let linked = false;
      if (dirent.isFile()) isDirectory = false;
      else if (dirent.isDirectory()) isDirectory = true;
      else if (dirent.isSymbolicLink()) {
        // Links to files inside the root are listed; links to directories are not followed (no
        // cycles), and links that leave the root are invisible.
        try {
          const target = await realpath(path);
          if (!this.paths.contains(target) || !(await stat(target)).isFile()) continue;
          path = target;
          isDirectory = false;
          linked = true;
        } catch {
          continue;
        }
      } else continue; // sockets, FIFOs, devices: not files a storage holds
      items.push({
        name: dirent.name,
        path,
        isDirectory,
        linked,
        sortKey: `${keyPrefix}${dirent.name}${isDirectory ? "/" : ""}`,
      });
    }
    // Code point order, as every backend lists (a migration compares two listings side by side).
    items.sort((a, b) => compareNames(a.sortKey, b.sortKey));
    // A file's entry costs a stat and, when it has one, a read of its record: both are started a
    // few files ahead, so the thread pool works on several at once instead of one after another.
    const lookups = new Map<number, Promise<ListEntry | undefined>>();
    const lookup = (index: number): Promise<ListEntry | undefined> => {
      for (let next = index; next < Math.min(items.length, index + LIST_LOOKAHEAD); next++) {
        const item = items[next]!;
        if (
          item.isDirectory ||
          lookups.has(next) ||
          (after !== undefined && compareNames(item.sortKey, after) <= 0)
        )
          continue;
        const pending = this.fileEntry(`${keyPrefix}${item.name}`, item, reserved);
        pending.catch(() => {}); // awaited in order below, or dropped with the page
        lookups.set(next, pending);
      }
      const pending = lookups.get(index)!;
      lookups.delete(index);
      return pending;
    };
    const wholeSubtreeSeen = (item: { sortKey: string }) =>
      after !== undefined && compareNames(item.sortKey, after) <= 0 && !after.startsWith(item.sortKey);
    // Folders hold few files in many trees: the listings of the next few sub-folders are read
    // ahead too, so the walk does not wait for one folder's listing after another.
    const listings = new Map<number, Promise<Dirent[]>>();
    const listingOf = (index: number): Promise<Dirent[]> => {
      for (let next = index, ahead = 0; next < items.length && ahead < LIST_LOOKAHEAD_FOLDERS; next++) {
        const item = items[next]!;
        if (!item.isDirectory) continue;
        ahead++;
        if (listings.has(next) || wholeSubtreeSeen(item)) continue;
        const pending = readdir(item.path, { withFileTypes: true });
        pending.catch(() => {}); // awaited by the walk into it, or dropped with the page
        listings.set(next, pending);
      }
      const pending = listings.get(index)!;
      listings.delete(index);
      return pending;
    };
    for (const [index, item] of items.entries()) {
      const name = `${keyPrefix}${item.name}`;
      if (item.isDirectory) {
        if (wholeSubtreeSeen(item)) continue;
        if (recursive) {
          const listing = listingOf(index);
          if (await this.walk(item.path, item.sortKey, after, true, signal, found, limit, listing))
            return true;
        } else if (after === undefined || compareNames(item.sortKey, after) > 0) {
          found.push({ entry: { type: "directory", name }, sortKey: item.sortKey });
          if (found.length >= limit) return true;
        }
        continue;
      }
      if (after !== undefined && compareNames(item.sortKey, after) <= 0) continue;
      const entry = await lookup(index);
      if (entry === undefined) continue;
      found.push({ entry, sortKey: item.sortKey });
      if (found.length >= limit) return true;
    }
    return false;
  }

  /** The listing entry of one file, or undefined when it was deleted while we listed. */
  private async fileEntry(
    name: string,
    item: { name: string; path: string; linked?: boolean | undefined },
    reserved: ReadonlySet<string>,
  ): Promise<ListEntry | undefined> {
    let stats: BigIntStats;
    try {
      stats = await stat(item.path, { bigint: true });
    } catch (error) {
      if (errnoCode(error) === "ENOENT") return undefined;
      throw error;
    }
    // The checksum comes from the file's record, read only when the directory holds one (a linked
    // file's record sits next to its target, which this directory does not show). A directory with
    // no driver file at all (a plain folder) needs no record name computed (a SHA-256 per file).
    const record =
      item.linked || (reserved.size > 0 && reserved.has(recordName(item.name)))
        ? await readRecord(item.path, stats)
        : undefined;
    return {
      type: "file",
      name,
      size: Number(stats.size),
      lastModified: stats.mtime,
      etag: etagOf(stats),
      checksums: record?.checksums,
    };
  }

  // -------------------------------------------------------------------------------------------
  // copy, move, delete

  /** Stored metadata of a file, or what its name implies when it has none. */
  private async metadataOf(key: string, path: string, stats: BigIntStats): Promise<StoredMetadata> {
    return (await readRecord(path, stats)) ?? { contentType: guessContentType(key) };
  }

  async copy(from: string, to: string, options: DriverCopyOptions): Promise<void> {
    await this.run(to, options.signal, async () => {
      const source = await this.fileToCopy(from);
      if (options.link && !this.records && (await this.linkCopy(source.path, to, undefined, options))) return;
      const meta = await this.metadataOf(from, source.path, source.stats);
      const known = meta.checksums?.md5;
      // A record must carry the checksum of what it names: a file without one is copied (and hashed).
      if (options.link && known !== undefined && (await this.linkCopy(source.path, to, meta, options)))
        return;
      await this.save(
        to,
        {
          signal: options.signal,
          exclusive: !options.overwrite,
          meta: (md5) => ({ ...meta, checksums: { md5 } }),
        },
        async ({ temp }) => {
          if (known === undefined) {
            // A file put in the root by another program: its copy is written here, so it gets a checksum.
            return copyAndHash(source.path, temp, options.signal, this.records);
          }
          await settleOnAbort(copyFile(source.path, temp), options.signal);
          return known;
        },
      );
    });
  }

  /**
   * `to` as a second name (hard link) of the file at `sourcePath`, with the source's metadata in
   * its own record (`meta`, undefined when the storage keeps none); false when the folder cannot
   * hold a link (another filesystem, no hard links): the caller copies. The content is the
   * source's inode, already synced or pending a flush: only the folder has news.
   */
  private async linkCopy(
    sourcePath: string,
    to: string,
    meta: StoredMetadata | undefined,
    options: DriverCopyOptions,
  ): Promise<boolean> {
    this.startSweep();
    for (let attempt = 1; ; attempt++) {
      const { directory, fd: directoryFd } = await this.paths.openParent(to);
      try {
        const target = join(directory, basename(to));
        // Replacing: linked under a temporary name, then renamed over the old file (atomic, like a save).
        const linked = options.overwrite ? tempPath(directory) : target;
        try {
          await link(sourcePath, linked);
        } catch (error) {
          const code = errnoCode(error) ?? "";
          if (code === "EXDEV" || NO_HARD_LINKS.has(code)) return false; // the caller's copy fills the folder
          // The folder pruned by a concurrent delete since it was opened (as in createTemp): again.
          if (code === "ENOENT" && attempt < PARENT_RETRIES) continue;
          await this.prune(directory); // made for this name, perhaps: not left behind empty
          if (code === "EEXIST" && !options.overwrite)
            throw new AlreadyExistsError(`"${to.slice(0, 200)}" already exists.`, { path: to, cause: error });
          throw error;
        }
        const durable = this.durability === "full";
        let recordPath: string | undefined;
        try {
          if (meta !== undefined) {
            const stats = await stat(linked, { bigint: true });
            recordPath = await writeRecord(target, stats, meta, this.fileMode, durable);
          }
          if (linked !== target) await rename(linked, target);
        } catch (error) {
          await unlink(linked).catch(() => {});
          await this.prune(directory);
          throw error;
        }
        if (durable) await syncDescriptor(directoryFd);
        else await this.published(directory, ...(recordPath === undefined ? [] : [recordPath]));
        return true;
      } finally {
        closeQuietly(directoryFd);
      }
    }
  }

  async move(from: string, to: string, options: DriverCopyOptions): Promise<void> {
    await this.run(to, options.signal, async () => {
      this.startSweep();
      const source = await this.existingFile(from);
      if (from === to) return;
      const entry = await this.paths.resolveForDelete(from);
      if (entry === undefined)
        throw new NotFoundError(`"${from.slice(0, 200)}" does not exist.`, { path: from });
      const meta = await this.metadataOf(from, source.path, source.stats);
      const directory = await this.paths.prepareParent(to);
      const target = join(directory, basename(to));
      const withRecord = this.records && needsRecord(to, meta);
      const durable = this.durability === "full";
      let recordPath: string | undefined;
      try {
        if (options.overwrite) {
          if (withRecord) recordPath = await writeRecord(target, source.stats, meta, this.fileMode, durable);
          await rename(entry, target);
          if (!withRecord) await removeRecord(target);
        } else {
          try {
            await link(entry, target);
          } catch (error) {
            if (NO_HARD_LINKS.has(errnoCode(error) ?? "")) throw noHardLinks(to, error);
            if (errnoCode(error) === "EEXIST") {
              throw new AlreadyExistsError(`"${to.slice(0, 200)}" already exists.`, {
                path: to,
                cause: error,
              });
            }
            throw error;
          }
          try {
            if (withRecord)
              recordPath = await writeRecord(target, source.stats, meta, this.fileMode, durable);
          } catch (error) {
            await unlink(target).catch(() => {}); // keep one name for the file, the original
            throw error;
          }
          await unlink(entry);
        }
      } catch (error) {
        if (errnoCode(error) !== "EXDEV") {
          await this.prune(directory);
          throw error;
        }
        // A mount point inside the root: no rename across filesystems, so copy then delete.
        await this.copy(from, to, options);
        await this.delete(from, options);
        return;
      }
      await removeRecord(entry);
      await this.published(directory, ...(recordPath === undefined ? [] : [recordPath]));
      if (dirname(entry) !== directory) await this.published(dirname(entry));
      await this.prune(dirname(entry));
    });
  }

  async delete(key: string, options: DriverCallOptions): Promise<void> {
    await this.run(key, options.signal, async () => {
      this.startSweep();
      const entry = await this.paths.resolveForDelete(key);
      if (entry === undefined) return;
      try {
        await unlink(entry);
      } catch (error) {
        const code = errnoCode(error);
        if (code === "ENOENT") return;
        // A directory is not a file of this storage: like deleting a missing key, nothing to do.
        if ((code === "EISDIR" || code === "EPERM") && (await lstat(entry)).isDirectory()) return;
        throw error;
      }
      await removeRecord(entry);
      await this.prune(dirname(entry));
    });
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
