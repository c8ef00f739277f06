/**
 * A file's record: Content-Type, Cache-Control, Content-Disposition, Content-Encoding, custom
 * metadata and the MD5 of its content — what a filesystem cannot keep on the file itself.
 *
 * Stored today as a sidecar: a small JSON file next to the data file, named from a hash of the
 * file's name under the driver's reserved prefix (so it is never listed or served, and its name
 * always fits NAME_MAX). Two files cannot be replaced in one atomic step, so a record names the size
 * and the nanosecond mtime of the exact data it describes, and is ignored when they do not match:
 * after a crash, a concurrent write or an edit by another program, the metadata falls back to what
 * the name implies and the checksum to none, never to another file's.
 *
 * A save prepares its file's record while the data syncs (`prepareRecord`: a temporary file, synced
 * too when the save is durable) and renames it into place next to the data (`placeRecord`); the one
 * directory fsync that makes the data's rename durable makes the record's durable too.
 *
 * Why a second file, and not an extended attribute of the data file (which would cost no extra
 * inode): Node has no xattr call, the maintained native modules ship per-platform binary packages
 * (which the project's lockfile cannot carry, see docs/architecture.md), and many filesystems the
 * driver runs on (some NFS, SMB and FUSE mounts) have none — a sidecar would be needed anyway.
 *
 * The driver only goes through `needsRecord`/`prepareRecord`/`placeRecord`/`discardRecord`/
 * `writeRecord`/`readRecord`/`removeRecord`/`recordName`: where a record lives is this module's
 * business alone.
 */
import { createHash } from "node:crypto";
import { type BigIntStats, constants, close as fsClose, open as fsOpen, read as fsRead } from "node:fs";
import { readFile, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { type Checksums, guessContentType } from "@storages/core";
import { accessRefused } from "./errors.js";
import { closeFd, closeQuietly, openFd, writeAll } from "./io.js";
import { errnoCode, RESERVED_PREFIX } from "./paths.js";
import { tempPath } from "./temporary.js";

export interface StoredMetadata {
  contentType?: string | undefined;
  cacheControl?: string | undefined;
  contentDisposition?: string | undefined;
  contentEncoding?: string | undefined;
  metadata?: Record<string, string> | undefined;
  /** Digests of the content, computed while it was written (lower-case hex). */
  checksums?: Checksums | undefined;
}

interface SidecarFile extends StoredMetadata {
  v: 1;
  /** The data file's basename, to catch a (theoretical) hash collision. */
  name: string;
  size: string;
  mtimeNs: string;
}

/** Largest sidecar read back: anything bigger was not written by this driver. */
const MAX_SIDECAR_BYTES = 256 * 1024;
/** Most records (name, size, mtime, MD5, a content type) fit in this: one read gets them whole. */
const FIRST_READ_BYTES = 4096;

/**
 * The first FIRST_READ_BYTES of a file in three calls (open, read, close) on the callback API:
 * fs.promises.readFile takes five trips through the thread pool, and a listing reads one record per
 * file (measured for 10,000 records: 19 µs each this way, 32 µs with readFile).
 */
function readStart(path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    fsOpen(path, "r", (openError, fd) => {
      if (openError) return reject(openError);
      const buffer = Buffer.allocUnsafe(FIRST_READ_BYTES);
      fsRead(fd, buffer, 0, FIRST_READ_BYTES, 0, (readError, bytesRead) => {
        fsClose(fd, (closeError) => {
          if (readError ?? closeError) reject(readError ?? closeError);
          else resolve(buffer.subarray(0, bytesRead));
        });
      });
    });
  });
}

export function sidecarPath(dataPath: string): string {
  const digest = createHash("sha256").update(basename(dataPath), "utf8").digest("hex").slice(0, 32);
  return join(dirname(dataPath), `${RESERVED_PREFIX}meta-${digest}.json`);
}

const MD5_HEX = /^[0-9a-f]{32}$/;

/** Keeps only the fields a record stores, dropping empty ones (and a checksum that is not one). */
export function pickMetadata(source: StoredMetadata): StoredMetadata {
  const out: StoredMetadata = {};
  if (source.contentType) out.contentType = source.contentType;
  if (source.cacheControl) out.cacheControl = source.cacheControl;
  if (source.contentDisposition) out.contentDisposition = source.contentDisposition;
  if (source.contentEncoding) out.contentEncoding = source.contentEncoding;
  if (source.metadata && Object.keys(source.metadata).length > 0) out.metadata = { ...source.metadata };
  const md5 = source.checksums?.md5;
  if (typeof md5 === "string" && MD5_HEX.test(md5)) out.checksums = { md5 };
  return out;
}

/** Whether `meta` says more than the key's extension does (a checksum always does). */
export function needsRecord(key: string, meta: StoredMetadata): boolean {
  return (
    (meta.contentType !== undefined && meta.contentType !== guessContentType(key)) ||
    meta.cacheControl !== undefined ||
    meta.contentDisposition !== undefined ||
    meta.contentEncoding !== undefined ||
    meta.metadata !== undefined ||
    meta.checksums !== undefined
  );
}

/** A record's temporary file, created and open, not yet written. */
export interface OpenRecord {
  temp: string;
  fd: number;
  fileMode: number;
  /** Opened with O_DSYNC: its one write returns once it is on disk. */
  synced: boolean;
}

/** A record written to its temporary file, not yet in place. */
export interface PreparedRecord {
  temp: string;
  /** The data file it names (its basename). */
  name: string;
  stats: BigIntStats;
  meta: StoredMetadata;
  fileMode: number;
  synced: boolean;
}

const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;

/**
 * Creates a record's temporary file in `directory` (a save does it while its data is being
 * written: the record's content needs the data's final size and mtime, its file does not). With
 * `sync`, the file is opened O_DSYNC, so writing it is also syncing it: one call, not two.
 */
export async function openRecord(directory: string, fileMode: number, sync: boolean): Promise<OpenRecord> {
  const temp = tempPath(directory);
  const fd = await openFd(temp, sync ? CREATE | constants.O_DSYNC : CREATE, fileMode);
  return { temp, fd, fileMode, synced: sync };
}

/** Gives up an open record (the save failed): closed and removed. */
export async function abandonRecord(record: OpenRecord): Promise<void> {
  closeQuietly(record.fd);
  await unlink(record.temp).catch(() => {});
}

/** Writes the record of the data `stats` describes (the data file named `name`) and closes it. */
export async function fillRecord(
  record: OpenRecord,
  name: string,
  stats: BigIntStats,
  meta: StoredMetadata,
): Promise<PreparedRecord> {
  const content: SidecarFile = {
    v: 1,
    name,
    size: stats.size.toString(),
    mtimeNs: stats.mtimeNs.toString(),
    ...meta,
  };
  try {
    await writeAll(record.fd, Buffer.from(JSON.stringify(content), "utf8"));
    await closeFd(record.fd);
  } catch (error) {
    await abandonRecord(record);
    throw error;
  }
  return { temp: record.temp, name, stats, meta, fileMode: record.fileMode, synced: record.synced };
}

/**
 * Writes the record of the data `stats` describes, for the data file named `name` in `directory`,
 * to a temporary file there (synced when `sync`): `placeRecord` then puts it in place.
 */
export async function prepareRecord(
  directory: string,
  name: string,
  stats: BigIntStats,
  meta: StoredMetadata,
  fileMode: number,
  sync: boolean,
): Promise<PreparedRecord> {
  return fillRecord(await openRecord(directory, fileMode, sync), name, stats, meta);
}

/**
 * Renames a prepared record into place as the record of `dataPath` (a reader sees the old record
 * or the new one, never half of one). Returns the record's path. A record prepared for another
 * name (a create-exclusive save that had to take the next candidate) is written again first.
 */
export async function placeRecord(record: PreparedRecord, dataPath: string): Promise<string> {
  let temp = record.temp;
  if (basename(dataPath) !== record.name) {
    const again = await prepareRecord(
      dirname(dataPath),
      basename(dataPath),
      record.stats,
      record.meta,
      record.fileMode,
      record.synced,
    );
    await discardRecord(record);
    temp = again.temp;
  }
  const path = sidecarPath(dataPath);
  try {
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw error;
  }
  return path;
}

/** Removes a prepared record that will not be placed (the save failed). */
export async function discardRecord(record: PreparedRecord): Promise<void> {
  await unlink(record.temp).catch(() => {});
}

/**
 * Writes the record of `dataPath` describing data with `stats` in one go (copy and move, which
 * have no data write to overlap it with).
 */
export async function writeRecord(
  dataPath: string,
  stats: BigIntStats,
  meta: StoredMetadata,
  fileMode: number,
  sync = false,
): Promise<string> {
  return placeRecord(
    await prepareRecord(dirname(dataPath), basename(dataPath), stats, meta, fileMode, sync),
    dataPath,
  );
}

/**
 * The directory entry that holds the record of the data file named `dataName` (same directory): a
 * listing that has read the directory anyway reads only the records that exist, with no failed
 * open per file.
 */
export function recordName(dataName: string): string {
  return basename(sidecarPath(dataName));
}

/**
 * The record of the data `stats` describes, or undefined when there is none (or it is stale).
 * `key` names the file in the error of a record this process may not read.
 */
export async function readRecord(
  key: string,
  dataPath: string,
  stats: BigIntStats,
): Promise<StoredMetadata | undefined> {
  let text: string;
  const path = sidecarPath(dataPath);
  try {
    let buffer = await readStart(path);
    if (buffer.byteLength === FIRST_READ_BYTES) buffer = await readFile(path); // a record with much metadata
    if (buffer.byteLength > MAX_SIDECAR_BYTES) return undefined;
    text = buffer.toString("utf8");
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    // A record written by another user (a deploy run as root, a shell's umask): the file itself
    // may be readable, so the key alone would send whoever reads the message to the wrong file.
    if (code === "EACCES" || code === "EPERM")
      throw accessRefused(
        code,
        {
          what: `the metadata record of "${key.slice(0, 200)}" (${basename(path)}, beside it)`,
          effect: "its content type, metadata and checksum cannot be read",
          fix: "read permission on that record (chown it to that user, or chmod it)",
        },
        { path: key, cause: error },
      );
    throw error;
  }
  let parsed: SidecarFile;
  try {
    parsed = JSON.parse(text) as SidecarFile;
  } catch {
    return undefined; // torn by a crash before the rename reached the disk: treat as absent
  }
  if (
    typeof parsed !== "object" ||
    parsed === null ||
    parsed.v !== 1 ||
    parsed.name !== basename(dataPath) ||
    parsed.size !== stats.size.toString() ||
    parsed.mtimeNs !== stats.mtimeNs.toString()
  ) {
    return undefined;
  }
  return pickMetadata(parsed);
}

export async function removeRecord(dataPath: string): Promise<void> {
  try {
    await unlink(sidecarPath(dataPath));
  } catch (error) {
    if (errnoCode(error) !== "ENOENT" && errnoCode(error) !== "ENOTDIR") throw error;
  }
}
