/**
 * The local filesystem driver.
 *
 * What it promises: nothing partial is ever visible under a file's name (every write goes to a
 * temporary file that is fsynced and renamed or linked into place), nothing outside the root is
 * ever touched (see paths.ts), and listing is a sorted walk with a resumable cursor that never
 * holds more than one directory in memory.
 */
import { createHash } from "node:crypto";
import type { BigIntStats } from "node:fs";
import { constants, ReadStream } from "node:fs";
import {
  chmod,
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
import { dirname, join } from "node:path";
import { addAbortSignal, type Readable, Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  AlreadyExistsError,
  type BackendDescription,
  type Capabilities,
  compareNames,
  type Driver,
  type DriverCallOptions,
  type DriverCopyOptions,
  type DriverDeleteManyResult,
  type DriverListOptions,
  type DriverReadOptions,
  type DriverSignedUploadOptions,
  type DriverSignedUrlOptions,
  type DriverWriteOptions,
  type DriverWriteResult,
  guessContentType,
  InvalidArgumentError,
  joinUrl,
  type ListEntry,
  type ListPage,
  NotFoundError,
  normalizeEtag,
  type ObjectStat,
  RangeNotSatisfiableError,
  type SignedUpload,
  StorageError,
  UnsupportedError,
  UrlSigner,
  type Visibility,
} from "@storages/core";
import { abortError, toStorageError } from "./errors.js";
import {
  describeFsOptions,
  type FsDriverOptions,
  type ResolvedFsOptions,
  resolveFsOptions,
} from "./options.js";
import { errnoCode, isReservedName, RootedPaths } from "./paths.js";
import {
  needsRecord,
  pickMetadata,
  readRecord,
  recordName,
  removeRecord,
  type StoredMetadata,
  tempPath,
  writeRecord,
} from "./sidecar.js";

/** Files per concurrent batch in deleteMany: enough to hide latency, few enough to spare file handles. */
const DELETE_CONCURRENCY = 16;
/**
 * Stream chunk size. Node's default (64 KiB) measured best here: as fast as 256 KiB, and peak RSS
 * stays ~30 MiB lower, because V8 collects external buffers later when they come in bigger pieces.
 */
const READ_CHUNK = 64 * 1024;
/** Files of a directory whose stat (and record) a listing fetches at once. */
const LIST_LOOKAHEAD = 16;
/** Attempts at creating the temporary file when a concurrent delete prunes its directory meanwhile. */
const PARENT_RETRIES = 5;

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
  const tag = createHash("sha1").update(`${stats.size}:${stats.mtimeNs}:${stats.ino}`).digest("hex");
  return normalizeEtag(tag.slice(0, 32))!;
}

/** Passes a body through unchanged, feeding every chunk to `hash` on the way. */
function hashing(hash: ReturnType<typeof createHash>): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      hash.update(chunk);
      callback(null, chunk);
    },
  });
}

/** Read size for hashing a whole file: large reads into one reused buffer, no garbage per chunk. */
const HASH_READ = 1024 * 1024;

/** MD5 of a whole file. */
async function md5OfFile(path: string, signal: AbortSignal): Promise<string> {
  const handle = await open(path, "r");
  try {
    const hash = createHash("md5");
    const buffer = Buffer.allocUnsafe(HASH_READ);
    for (;;) {
      if (signal.aborted) throw abortError(signal);
      const { bytesRead } = await handle.read(buffer, 0, HASH_READ, null);
      if (bytesRead === 0) return hash.digest("hex");
      hash.update(buffer.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
}

function sameVersion(a: BigIntStats, b: BigIntStats): boolean {
  return a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

/**
 * Kernel copy of `source` to `temp` (copy_file_range, a reflink where the filesystem has them),
 * hashed by reading the source at the same time, so the copy costs the time of the slower of the
 * two rather than their sum. A source changed meanwhile is a copy of no single version: then the
 * MD5 is taken of what was copied, which is what gets published.
 */
async function copyAndHash(source: string, temp: string, signal: AbortSignal): Promise<string> {
  const before = await stat(source, { bigint: true });
  const reading = new AbortController(); // a failed copy stops the hashing read too
  const hashed = md5OfFile(source, AbortSignal.any([signal, reading.signal]));
  hashed.catch(() => {}); // awaited below; a copy failure must not leave it unhandled
  try {
    await settleOnAbort(copyFile(source, temp), signal);
  } catch (error) {
    reading.abort();
    throw error;
  }
  const md5 = await settleOnAbort(hashed, signal);
  const after = await stat(source, { bigint: true });
  return sameVersion(before, after) ? md5 : settleOnAbort(md5OfFile(temp, signal), signal);
}

/**
 * Rejects as soon as `signal` aborts, without waiting for `work` to wind down: a body stalled
 * inside an async generator cannot be interrupted until it yields, and a timeout must not wait for
 * it. The abandoned work still fails on its own (pipeline destroyed both streams); its result is
 * ignored and the caller removes the temporary file.
 */
function settleOnAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.reject(abortError(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      work.catch(() => {});
      reject(abortError(signal));
    };
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/**
 * The path of a body that is an `fs.createReadStream(path)` of a whole file, not yet started:
 * such a body can be copied by the kernel (copy_file_range) instead of through this process.
 */
function untouchedFileSource(body: Readable): string | undefined {
  if (!(body instanceof ReadStream)) return undefined;
  const stream = body as ReadStream & { start?: number; end?: number };
  const whole =
    (stream.start === undefined || stream.start === 0) &&
    (stream.end === undefined || stream.end === Infinity);
  if (!whole || typeof stream.path !== "string" || stream.bytesRead !== 0) return undefined;
  if (stream.readableFlowing !== null || stream.readableLength > 0 || stream.destroyed) return undefined;
  return stream.path;
}

async function syncFile(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

interface Candidate {
  entry: ListEntry;
  /** Position in the listing order: the name, with a trailing "/" for directories. */
  sortKey: string;
}

function encodeCursor(prefix: string, after: string): string {
  return Buffer.from(JSON.stringify({ v: 1, p: prefix, a: after }), "utf8").toString("base64url");
}

function decodeCursor(cursor: string, prefix: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as {
      v?: unknown;
      p?: unknown;
      a?: unknown;
    };
    if (
      parsed.v === 1 &&
      parsed.p === prefix &&
      typeof parsed.a === "string" &&
      parsed.a.startsWith(prefix)
    ) {
      return parsed.a;
    }
  } catch {
    // fall through
  }
  throw new InvalidArgumentError(
    "Invalid list cursor: pass back the cursor returned by the previous page of the same listing (same prefix).",
  );
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

  private readonly paths: RootedPaths;
  /** The options as resolved (the signing key among them stays in this private field). */
  readonly #resolved: ResolvedFsOptions;
  private ready: Promise<void> | undefined;

  constructor(options: FsDriverOptions) {
    const resolved = resolveFsOptions(options);
    this.#resolved = resolved;
    this.root = resolved.root;
    this.baseUrl = resolved.baseUrl;
    this.fileMode = resolved.fileMode;
    this.directoryMode = resolved.directoryMode;
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
      metadata: true,
      // Recorded at write time (sidecar.ts); a file put in the root by another program has none.
      checksums: ["md5"],
    };
    this.paths = new RootedPaths(this.root, this.directoryMode);
  }

  /** Creates the root on first use (a failed attempt is retried by the next call). */
  private async init(): Promise<void> {
    this.ready ??= this.paths.init().catch((error: unknown) => {
      this.ready = undefined;
      throw toStorageError(error, undefined);
    });
    await this.ready;
  }

  /** Runs `action`, translating whatever it throws into a StorageError. */
  private async run<T>(
    key: string | undefined,
    signal: AbortSignal | undefined,
    action: () => Promise<T>,
  ): Promise<T> {
    try {
      if (signal?.aborted) throw abortError(signal);
      await this.init();
      return await action();
    } catch (error) {
      throw toStorageError(error, key, signal);
    }
  }

  // -------------------------------------------------------------------------------------------
  // write

  async write(key: string, body: Readable, options: DriverWriteOptions): Promise<DriverWriteResult> {
    return this.run(key, options.signal, async () => {
      const { directory, temp, handle } = await this.createTemp(key);
      try {
        const sourcePath = untouchedFileSource(body);
        let md5: string;
        if (sourcePath !== undefined) {
          // The body is a whole local file nobody has read yet: let the kernel copy it.
          await handle.close();
          // The stream is never read: its own pending open may still fail (a missing file) and
          // must not surface as an unhandled 'error'; copyFile below reports the failure.
          body.on("error", () => {});
          body.destroy();
          md5 = await copyAndHash(sourcePath, temp, options.signal);
          await chmod(temp, this.fileMode); // copyFile gives the copy its source's mode
          await syncFile(temp);
        } else {
          // flush: fsync before close, so the rename below never publishes data still in the page cache.
          const sink = handle.createWriteStream({ flush: true, highWaterMark: READ_CHUNK });
          // The MD5 is taken on the way to the disk: the bytes are never read a second time.
          const hash = createHash("md5");
          await settleOnAbort(
            pipeline(body, hashing(hash), sink, { signal: options.signal }),
            options.signal,
          );
          md5 = hash.digest("hex");
        }
        const stats = await stat(temp, { bigint: true });
        // The caller has already been told "aborted" (the facade does not wait): publish nothing.
        if (options.signal.aborted) throw abortError(options.signal);
        const record = pickMetadata({ ...options, checksums: { md5 } });
        const committed = await this.commit(temp, directory, key, stats, record, {
          exclusive: options.ifNotExists,
          nextKey: options.nextKey,
        });
        return { key: committed, size: Number(stats.size), etag: etagOf(stats) };
      } catch (error) {
        await handle.close().catch(() => {});
        await this.discard(temp);
        throw error;
      }
    });
  }

  /** A new, empty temporary file in the key's directory, open for writing, with the file mode applied exactly. */
  private async createTemp(key: string): Promise<{ directory: string; temp: string; handle: FileHandle }> {
    for (let attempt = 1; ; attempt++) {
      const directory = await this.paths.prepareParent(key);
      const temp = tempPath(directory);
      let handle: FileHandle;
      try {
        handle = await open(temp, "wx", this.fileMode);
      } catch (error) {
        if (errnoCode(error) === "ENOTDIR") throw this.paths.fileInTheWay(key, error);
        // A concurrent delete removed the (then empty) directory between mkdir and open: redo both.
        if (errnoCode(error) !== "ENOENT" || attempt >= PARENT_RETRIES) throw error;
        continue;
      }
      try {
        await handle.chmod(this.fileMode); // open()'s mode is filtered by the umask
      } catch (error) {
        await handle.close().catch(() => {});
        await this.discard(temp);
        throw error;
      }
      return { directory, temp, handle };
    }
  }

  /** Removes a temporary file after a failure, and the directories the write created for it if now empty. */
  private async discard(temp: string): Promise<void> {
    await unlink(temp).catch(() => {});
    await this.prune(dirname(temp));
  }

  /**
   * Publishes a complete temporary file under `key`: rename (replace) or link (create-exclusive,
   * trying `nextKey()` names on EEXIST so the body is never needed twice). Returns the key used.
   */
  private async commit(
    temp: string,
    directory: string,
    key: string,
    stats: BigIntStats,
    meta: StoredMetadata,
    mode: { exclusive: boolean; nextKey?: (() => string) | undefined },
  ): Promise<string> {
    if (!mode.exclusive) {
      const target = join(directory, this.basenameOf(key));
      const withRecord = needsRecord(key, meta);
      // The record goes first: it only applies once the data it names (same size and mtime) is in place.
      if (withRecord) await writeRecord(target, stats, meta, this.fileMode);
      await rename(temp, target);
      if (!withRecord) await removeRecord(target);
      await this.syncDirectory(directory);
      return key;
    }
    let current = key;
    let currentDirectory = directory;
    for (;;) {
      const target = join(currentDirectory, this.basenameOf(current));
      try {
        await link(temp, target);
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
        currentDirectory = await this.paths.prepareParent(current);
      }
    }
    const target = join(currentDirectory, this.basenameOf(current));
    await unlink(temp);
    // Written after the link: before it, the name could still belong to someone else's file.
    if (needsRecord(current, meta)) {
      try {
        await writeRecord(target, stats, meta, this.fileMode);
      } catch (error) {
        // Keep the promise "saved with its metadata, or not saved": take the file back.
        await unlink(target).catch(() => {});
        throw error;
      }
    }
    await this.syncDirectory(currentDirectory);
    return current;
  }

  private basenameOf(key: string): string {
    const slash = key.lastIndexOf("/");
    return slash === -1 ? key : key.slice(slash + 1);
  }

  /** fsync of the directory makes the rename/link itself durable. */
  private async syncDirectory(directory: string): Promise<void> {
    const handle = await open(directory, "r");
    try {
      await handle.sync();
    } catch (error) {
      // Some filesystems (and platforms) cannot fsync a directory; the rename is still atomic.
      if (errnoCode(error) !== "EINVAL" && errnoCode(error) !== "EBADF" && errnoCode(error) !== "EISDIR")
        throw error;
    } finally {
      await handle.close();
    }
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
   * An open handle on a file and the stat of that very version (size, ETag and metadata come from
   * the handle, so a concurrent replace cannot mix two versions). The caller closes the handle.
   * createFsHandler serves files with it.
   */
  async openFile(key: string, options: DriverCallOptions): Promise<{ handle: FileHandle; stat: ObjectStat }> {
    return this.run(key, options.signal, async () => {
      const { path } = await this.existingFile(key);
      const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        const stats = await handle.stat({ bigint: true });
        if (!stats.isFile()) throw new NotFoundError(`"${key.slice(0, 200)}" does not exist.`, { path: key });
        return { handle, stat: await this.statOf(key, path, stats) };
      } catch (error) {
        await handle.close();
        throw error;
      }
    });
  }

  async read(key: string, options: DriverReadOptions): Promise<Readable> {
    const { handle, stat: info } = await this.openFile(key, options);
    let start = 0;
    let end: number | undefined;
    if (options.range) {
      if (options.range.start >= info.size) {
        await handle.close();
        throw new RangeNotSatisfiableError(
          `The range starts at byte ${options.range.start} but "${key.slice(0, 200)}" is ${info.size} bytes long.`,
          { path: key },
        );
      }
      start = options.range.start;
      end = Math.min(options.range.end ?? info.size - 1, info.size - 1);
    }
    const stream = handle.createReadStream({ start, end, highWaterMark: READ_CHUNK, autoClose: true });
    return addAbortSignal(options.signal, stream);
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
      for await (const candidate of this.walk(directory, prefix, after, options.recursive, options.signal)) {
        found.push(candidate);
        if (found.length > pageSize) break;
      }
      if (found.length <= pageSize) return { entries: found.map((c) => c.entry) };
      found.pop();
      const last = found[found.length - 1]!;
      return { entries: found.map((c) => c.entry), cursor: encodeCursor(prefix, last.sortKey) };
    });
  }

  /**
   * Yields the entries under `directory` in name order, skipping everything up to and including
   * `after`. Order: entries sorted by name with "/" appended to directories, which makes a
   * depth-first walk produce the same order as sorting all keys.
   */
  private async *walk(
    directory: string,
    keyPrefix: string,
    after: string | undefined,
    recursive: boolean,
    signal: AbortSignal,
  ): AsyncGenerator<Candidate> {
    if (signal.aborted) throw abortError(signal);
    let dirents: import("node:fs").Dirent[];
    try {
      dirents = await readdir(directory, { withFileTypes: true });
    } catch (error) {
      if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") return;
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
    for (const [index, item] of items.entries()) {
      const name = `${keyPrefix}${item.name}`;
      if (item.isDirectory) {
        const wholeSubtreeSeen =
          after !== undefined && compareNames(item.sortKey, after) <= 0 && !after.startsWith(item.sortKey);
        if (wholeSubtreeSeen) continue;
        if (recursive) {
          yield* this.walk(item.path, item.sortKey, after, true, signal);
        } else if (after === undefined || compareNames(item.sortKey, after) > 0) {
          yield { entry: { type: "directory", name }, sortKey: item.sortKey };
        }
        continue;
      }
      if (after !== undefined && compareNames(item.sortKey, after) <= 0) continue;
      const entry = await lookup(index);
      if (entry !== undefined) yield { entry, sortKey: item.sortKey };
    }
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
    // file's record sits next to its target, which this directory does not show).
    const record =
      item.linked || reserved.has(recordName(item.name)) ? await readRecord(item.path, stats) : undefined;
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
      const source = await this.existingFile(from);
      const meta = await this.metadataOf(from, source.path, source.stats);
      const { directory, temp, handle } = await this.createTemp(to);
      await handle.close();
      try {
        if (meta.checksums?.md5 !== undefined) {
          await settleOnAbort(copyFile(source.path, temp), options.signal);
        } else {
          // A file put in the root by another program: its copy is written here, so it gets a checksum.
          meta.checksums = { md5: await copyAndHash(source.path, temp, options.signal) };
        }
        await chmod(temp, this.fileMode); // copyFile gives the copy its source's mode
        await syncFile(temp);
        const stats = await stat(temp, { bigint: true });
        if (options.signal.aborted) throw abortError(options.signal);
        await this.commit(temp, directory, to, stats, meta, { exclusive: !options.overwrite });
      } catch (error) {
        await this.discard(temp);
        throw error;
      }
    });
  }

  async move(from: string, to: string, options: DriverCopyOptions): Promise<void> {
    await this.run(to, options.signal, async () => {
      const source = await this.existingFile(from);
      if (from === to) return;
      const entry = await this.paths.resolveForDelete(from);
      if (entry === undefined)
        throw new NotFoundError(`"${from.slice(0, 200)}" does not exist.`, { path: from });
      const meta = await this.metadataOf(from, source.path, source.stats);
      const directory = await this.paths.prepareParent(to);
      const target = join(directory, this.basenameOf(to));
      const withRecord = needsRecord(to, meta);
      try {
        if (options.overwrite) {
          if (withRecord) await writeRecord(target, source.stats, meta, this.fileMode);
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
            if (withRecord) await writeRecord(target, source.stats, meta, this.fileMode);
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
      await this.syncDirectory(directory);
      if (dirname(entry) !== directory) await this.syncDirectory(dirname(entry));
      await this.prune(dirname(entry));
    });
  }

  async delete(key: string, options: DriverCallOptions): Promise<void> {
    await this.run(key, options.signal, async () => {
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

  async deleteMany(keys: string[], options: DriverCallOptions): Promise<DriverDeleteManyResult> {
    const failures: DriverDeleteManyResult["failures"] = [];
    let next = 0;
    const worker = async () => {
      while (next < keys.length) {
        const key = keys[next++]!;
        try {
          await this.delete(key, options);
        } catch (error) {
          failures.push({ key, error: toStorageError(error, key, options.signal) });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(DELETE_CONCURRENCY, keys.length) }, worker));
    return { failures };
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

  async close(): Promise<void> {}
}
