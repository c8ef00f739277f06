/**
 * Metadata sidecars: Content-Type, Cache-Control, Content-Disposition, Content-Encoding and custom
 * metadata that a filesystem cannot keep on the file itself.
 *
 * A sidecar is a small JSON file next to the data file, named from a hash of the file's name under
 * the driver's reserved prefix (so it is never listed or served, and its name always fits NAME_MAX).
 * Two files cannot be replaced in one atomic step, so a sidecar records the size and the nanosecond
 * mtime of the exact data it describes, and is ignored when they do not match: after a crash or a
 * concurrent write the metadata falls back to what the name implies, never to another file's.
 * Sidecars are only written when they say something the name does not (a plain `save("a.css", …)`
 * costs no second file).
 */
import { createHash, randomBytes } from "node:crypto";
import type { BigIntStats } from "node:fs";
import { readFile, rename, unlink, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { guessContentType } from "@storages/core";
import { errnoCode, RESERVED_PREFIX } from "./paths.js";

export interface StoredMetadata {
  contentType?: string | undefined;
  cacheControl?: string | undefined;
  contentDisposition?: string | undefined;
  contentEncoding?: string | undefined;
  metadata?: Record<string, string> | undefined;
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

export function sidecarPath(dataPath: string): string {
  const digest = createHash("sha256").update(basename(dataPath), "utf8").digest("hex").slice(0, 32);
  return join(dirname(dataPath), `${RESERVED_PREFIX}meta-${digest}.json`);
}

export function tempPath(directory: string): string {
  return join(directory, `${RESERVED_PREFIX}${randomBytes(9).toString("base64url")}.tmp`);
}

/** Keeps only the fields a sidecar stores, dropping empty ones. */
export function pickMetadata(source: StoredMetadata): StoredMetadata {
  const out: StoredMetadata = {};
  if (source.contentType) out.contentType = source.contentType;
  if (source.cacheControl) out.cacheControl = source.cacheControl;
  if (source.contentDisposition) out.contentDisposition = source.contentDisposition;
  if (source.contentEncoding) out.contentEncoding = source.contentEncoding;
  if (source.metadata && Object.keys(source.metadata).length > 0) out.metadata = { ...source.metadata };
  return out;
}

/** Whether `meta` says more than the key's extension does. */
export function needsSidecar(key: string, meta: StoredMetadata): boolean {
  return (
    (meta.contentType !== undefined && meta.contentType !== guessContentType(key)) ||
    meta.cacheControl !== undefined ||
    meta.contentDisposition !== undefined ||
    meta.contentEncoding !== undefined ||
    meta.metadata !== undefined
  );
}

/**
 * Writes the sidecar of `dataPath` describing data with `stats` (written to a temporary file and
 * renamed, so a reader sees the old or the new sidecar, never half of one).
 */
export async function writeSidecar(
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

/** The stored metadata of the data `stats` describes, or undefined when there is none (or it is stale). */
export async function readSidecar(dataPath: string, stats: BigIntStats): Promise<StoredMetadata | undefined> {
  let text: string;
  try {
    const buffer = await readFile(sidecarPath(dataPath));
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

export async function removeSidecar(dataPath: string): Promise<void> {
  try {
    await unlink(sidecarPath(dataPath));
  } catch (error) {
    if (errnoCode(error) !== "ENOENT" && errnoCode(error) !== "ENOTDIR") throw error;
  }
}
