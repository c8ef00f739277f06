/**
 * Finding a key's existing file: its real path through the root's checks (paths.ts), as a regular
 * file or NotFoundError, and the ETag that names the version found.
 *
 * Separate from the driver because reads, stat, copy and move all start here (driver.ts and
 * copy-move.ts), and listings and saves report the same ETag (listing.ts, save.ts).
 */
import { hash } from "node:crypto";
import type { BigIntStats } from "node:fs";
import { stat } from "node:fs/promises";
import { NotFoundError, normalizeEtag } from "@storages/core";
import { errnoCode, type RootedPaths } from "./paths.js";

/** Stable validator for ETags: size, modification time and inode identify one version of a file. */
export function etagOf(stats: BigIntStats): string {
  return normalizeEtag(hash("sha1", `${stats.size}:${stats.mtimeNs}:${stats.ino}`, "hex").slice(0, 32))!;
}

export function notFound(key: string): NotFoundError {
  return new NotFoundError(`"${key.slice(0, 200)}" does not exist.`, { path: key });
}

/** Real path and stats of an existing regular file, else NotFoundError. */
export async function existingFile(
  paths: RootedPaths,
  key: string,
): Promise<{ path: string; stats: BigIntStats }> {
  let path: string;
  try {
    path = await paths.resolveExisting(key);
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

/** `paths.openExisting`, with a missing file as NotFoundError. */
export async function openToRead<T>(
  paths: RootedPaths,
  key: string,
  opener: (path: string, flags: number) => Promise<T>,
  fdOf: (opened: T) => number,
  release: (opened: T) => void,
): Promise<{ opened: T; path: string }> {
  try {
    return await paths.openExisting(key, opener, fdOf, release);
  } catch (error) {
    if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") {
      throw new NotFoundError(`"${key.slice(0, 200)}" does not exist.`, { path: key, cause: error });
    }
    throw error;
  }
}
