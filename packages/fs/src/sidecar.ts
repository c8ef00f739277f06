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
 * The driver only goes through `needsRecord`/`writeRecord`/`readRecord`/`removeRecord`/`recordName`: where a
 * record lives (a sidecar today; xattrs or a per-root index later) is this module's business alone.
 */
import { createHash, randomBytes } from "node:crypto";
import { type BigIntStats, close as fsClose, open as fsOpen, read as fsRead } from "node:fs";
import { readFile, rename, unlink, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { type Checksums, guessContentType } from "@storages/core";
import { errnoCode, RESERVED_PREFIX } from "./paths.js";

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

export function tempPath(directory: string): string {
  return join(directory, `${RESERVED_PREFIX}${randomBytes(9).toString("base64url")}.tmp`);
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

/**
 * Writes the record of `dataPath` describing data with `stats` (a sidecar written to a temporary
 * file and renamed, so a reader sees the old or the new one, never half of one).
 */
export async function writeRecord(
  dataPath: string,
  stats: BigIntStats,
  meta: StoredMetadata,
  fileMode: number,
): Promise<void> {
  const content: SidecarFile = {
    v: 1,
    name: basename(dataPath),
    size: stats.size.toString(),
    mtimeNs: stats.mtimeNs.toString(),
    ...meta,
  };
  const temp = tempPath(dirname(dataPath));
  try {
    await writeFile(temp, JSON.stringify(content), { flag: "wx", mode: fileMode });
    await rename(temp, sidecarPath(dataPath));
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw error;
  }
}

/**
 * The directory entry that holds the record of the data file named `dataName` (same directory): a
 * listing that has read the directory anyway reads only the records that exist, with no failed
 * open per file.
 */
export function recordName(dataName: string): string {
  return basename(sidecarPath(dataName));
}

/** The record of the data `stats` describes, or undefined when there is none (or it is stale). */
export async function readRecord(dataPath: string, stats: BigIntStats): Promise<StoredMetadata | undefined> {
  let text: string;
  try {
    const path = sidecarPath(dataPath);
    let buffer = await readStart(path);
    if (buffer.byteLength === FIRST_READ_BYTES) buffer = await readFile(path); // a record with much metadata
    if (buffer.byteLength > MAX_SIDECAR_BYTES) return undefined;
    text = buffer.toString("utf8");
  } catch (error) {
    if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") return undefined;
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
