/**
 * The two ends of a migration: what a caller passes (`Endpoint`), what the comparison needs to know
 * about each (`Side`: its folder and what its backend keeps), whether the service can copy between
 * them itself (`sameService`), and each side's selected files, page by page (`listFiles`).
 *
 * Kept apart from migrate.ts so the copy and the delete phase of sync list a side the same way.
 */
import { isDeepStrictEqual } from "node:util";
import { InvalidArgumentError, normalizePrefix, Storage, type StorageLocation } from "@storages/core";
import type { ListedFile } from "./join.js";

/** A storage, or a folder of one (`prefix`: "" or "a/b/"; names are compared relative to it). */
export type Endpoint =
  | Storage
  | {
      storage: Storage;
      prefix?: string | undefined;
      /** Where the storage is (from the registry or `openStorageUrl`): lets a copy stay inside the service. */
      location?: StorageLocation | undefined;
    };

/** Listing pages read ahead per side. */
export const READ_AHEAD = 2;

export interface Side {
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
  /**
   * A folder of this side (relative to its root) that is the other side's tree: never listed, so
   * never copied from, compared or deleted (overlap.ts).
   */
  skip?: string | undefined;
}

export function side(endpoint: Endpoint, prefix: string, role: string): Side {
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
export async function* listFiles(
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
      if (!select(name) || (side.skip !== undefined && name.startsWith(side.skip))) continue;
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
