/**
 * The write path: one save, published atomically — a temporary file in the key's folder, filled,
 * synced while its record is prepared, then renamed over the name (replace) or linked to it
 * (create-exclusive, trying the next candidate name on a collision), and its folder synced, or
 * all of it left for the next flush (batch durability).
 *
 * Separate from the driver because writes and copies both save through it (driver.ts,
 * copy-move.ts), and because its order of syscalls is what makes a save atomic and durable.
 */
import { type BigIntStats, constants } from "node:fs";
import { chmod, link, lstat, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import {
  AlreadyExistsError,
  abortError,
  BackendError,
  type DriverWriteOptions,
  type DriverWriteResult,
  UnsupportedError,
} from "@storages/core";
import type { DriverContext } from "./context.js";
import { makeDurable, syncDescriptor } from "./durability.js";
import { closeDirectory, closeFd, closeQuietly, fchmodFd, fstatFd, fsyncFd, openFd } from "./io.js";
import { etagOf } from "./lookup.js";
import { errnoCode, type RootedPaths } from "./paths.js";
import { prune } from "./removal.js";
import {
  abandonRecord,
  discardRecord,
  fillRecord,
  type OpenRecord,
  openRecord,
  type PreparedRecord,
  pickMetadata,
  placeRecord,
  type StoredMetadata,
} from "./sidecar.js";
import { tempPath } from "./temporary.js";

/** Attempts at creating a file (temporary, or a link) in a folder a concurrent delete prunes meanwhile. */
export const PARENT_RETRIES = 5;

const CREATE_EXCLUSIVE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;

/** link() errors meaning the filesystem has no hard links (some FUSE, SMB and FAT mounts). */
export const NO_HARD_LINKS = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS"]);

export function noHardLinks(key: string, cause: unknown): UnsupportedError {
  return new UnsupportedError(
    "This filesystem has no hard links, which create-exclusive writes (overwrite: false) and moves without overwrite rely on. Use overwrite: true with names that are unique by construction, or another filesystem.",
    { path: key, cause },
  );
}

/** How a save publishes: create-exclusive or replace, and the record it writes for the MD5 of the content. */
export interface SaveOptions {
  signal: AbortSignal;
  exclusive: boolean;
  nextKey?: (() => string) | undefined;
  meta: (md5: string) => StoredMetadata;
}

export function saveOptions(options: DriverWriteOptions): SaveOptions {
  return {
    signal: options.signal,
    exclusive: options.ifNotExists,
    nextKey: options.nextKey,
    meta: (md5) => pickMetadata({ ...options, checksums: { md5 } }),
  };
}

/** A save's temporary file, open, in the folder it will be published in. */
export interface TempFile {
  /** The real path of the folder (the key's parent), and an open descriptor of it. */
  directory: string;
  directoryFd: number;
  temp: string;
  fd: number;
}

/**
 * What fills a save's temporary file, returning the MD5 of what it wrote (undefined when the
 * storage keeps no records): `write`, through the file's open descriptor; or `copy`, a kernel copy
 * that creates the file itself (`create`: exclusively, as the save would; an unsynced save, which
 * needs no descriptor of it) — one call where opening it, closing it and the copy's opening it
 * again by name were three. Given `create` false, `copy` fills the empty file already there: a
 * synced save's (it fsyncs through its descriptor), or the retry of a failed creating copy, so that
 * the destination's errors (the save's own open) are told from the source's (the copy's: Node's
 * copy errors name both files, whichever failed).
 */
export type Fill =
  | { write: (file: TempFile) => Promise<string | undefined> }
  | { copy: (temp: string, create: boolean) => Promise<string | undefined> };

/** A copy's folder was removed under it (a concurrent delete pruned it): the save starts again. */
class FolderPruned extends Error {}

/**
 * One save: a temporary file in the key's folder, filled (see Fill), its record prepared while it
 * syncs, both renamed (or linked) into place, the folder synced — or, with batch durability, all
 * of it left for flush().
 */
export async function save(
  context: DriverContext,
  key: string,
  options: SaveOptions,
  fill: Fill,
): Promise<DriverWriteResult> {
  context.startSweep();
  for (let attempt = 1; ; attempt++) {
    try {
      return await saveOnce(context, key, options, fill);
    } catch (error) {
      if (!(error instanceof FolderPruned)) throw error;
      if (attempt >= PARENT_RETRIES) throw error.cause;
    }
  }
}

async function saveOnce(
  context: DriverContext,
  key: string,
  options: SaveOptions,
  fill: Fill,
): Promise<DriverWriteResult> {
  const durable = context.durability === "full";
  // Unsynced, a copy creates the file itself and the save needs no descriptor of it. Synced, the
  // save opens it first (it fsyncs through that descriptor) and the copy fills it.
  const creating = "copy" in fill && !durable;
  const { file, opening } = await createTemp(context, key, durable, !creating);
  let dataOpen = !creating;
  let record: PreparedRecord | undefined;
  let published = false;
  try {
    let md5: string | undefined;
    if (creating) {
      md5 = await copyCreating(context, key, file, fill, options.signal);
      dataOpen = file.fd >= 0;
    } else {
      md5 = "write" in fill ? await fill.write(file) : await fill.copy(file.temp, false);
    }
    const stats = dataOpen ? await fstatFd(file.fd) : await createdByCopy(key, file.temp);
    // The mode given to open() is filtered by the umask (copyFile sets the source's): set it exactly.
    if (Number(stats.mode & 0o7777n) !== context.fileMode) {
      if (dataOpen) await fchmodFd(file.fd, context.fileMode);
      else await chmod(file.temp, context.fileMode);
    }
    // The caller has already been told "aborted" (the facade does not wait): publish nothing.
    if (options.signal.aborted) throw abortError(options.signal);
    // The data is synced while the record is written (and synced: O_DSYNC): the disk merges the two.
    // (A storage with records has every fill return the MD5.)
    const [, prepared] = await Promise.all([
      durable ? fsyncFd(file.fd) : undefined,
      opening?.then((open) => fillRecord(open, basename(key), stats, options.meta(md5 as string))),
    ]);
    record = prepared;
    // Synced: nothing can fail in a close any more, so it need not be waited for. Unsynced, a
    // close may still report a write error (NFS does): wait for it. (A copy that created the file
    // closed it itself, and reported what its close did.)
    if (dataOpen) {
      dataOpen = false;
      if (durable) closeQuietly(file.fd);
      else await closeFd(file.fd);
    }
    if (options.signal.aborted) throw abortError(options.signal);
    const committed = await commit(context.paths, file, key, record, options);
    published = true;
    if (durable && committed.directory === file.directory) await syncDescriptor(file.directoryFd);
    else
      await makeDurable(
        context,
        committed.directory,
        committed.recordPath === undefined ? [committed.path] : [committed.path, committed.recordPath],
        stats.dev,
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
      await discard(context.paths, file.temp);
    }
    throw error;
  } finally {
    closeDirectory(file.directoryFd);
  }
}

/**
 * The stat of the temporary file a copy created, by its name (what the rename then publishes),
 * checked to be that regular file still: a chmod by that name then reaches it, never through a link.
 */
async function createdByCopy(key: string, temp: string): Promise<BigIntStats> {
  const stats = await lstat(temp, { bigint: true });
  if (!stats.isFile()) {
    throw new BackendError(
      `The temporary file of "${key.slice(0, 200)}" was replaced while it was written, so nothing was published. Another program writes into the storage root: keep it writable only by the application's user.`,
      { path: key },
    );
  }
  return stats;
}

/**
 * A copy fill run: creating the temporary file; when that fails, the file is created as a write's
 * would be (its errors are the destination's: a folder pruned meanwhile starts the save again)
 * and the copy run into it (its errors are the source's, or the copy's), its descriptor left open
 * in `file.fd`. -1 there: the copy created the file, and no descriptor of it is open.
 */
async function copyCreating(
  context: DriverContext,
  key: string,
  file: TempFile,
  fill: Extract<Fill, { copy: unknown }>,
  signal: AbortSignal,
): Promise<string | undefined> {
  try {
    return await fill.copy(file.temp, true);
  } catch (error) {
    if (signal.aborted) throw error;
  }
  try {
    file.fd = await openFd(file.temp, CREATE_EXCLUSIVE, context.fileMode);
  } catch (error) {
    if (errnoCode(error) === "ENOTDIR") throw context.paths.fileInTheWay(key, error);
    if (errnoCode(error) === "ENOENT") throw new FolderPruned(undefined, { cause: error });
    throw error;
  }
  return fill.copy(file.temp, false);
}

/**
 * A new temporary file's name in the key's folder (created when missing), checked to be inside
 * the root; the file created and open for writing (`open`; else the save's copy creates it); and
 * the record's temporary file, being created at the same time (creating a file is most of a small
 * save's cost on a busy disk: the two overlap).
 */
async function createTemp(
  context: DriverContext,
  key: string,
  durable: boolean,
  open: boolean,
): Promise<{ file: TempFile; opening: Promise<OpenRecord> | undefined }> {
  for (let attempt = 1; ; attempt++) {
    const { directory, fd: directoryFd } = await context.paths.openParent(key);
    const temp = tempPath(directory);
    const opening = context.records ? openRecord(directory, context.fileMode, durable) : undefined;
    opening?.catch(() => {}); // awaited by the save, or abandoned with it
    try {
      const fd = open ? await openFd(temp, CREATE_EXCLUSIVE, context.fileMode) : -1;
      return { file: { directory, directoryFd, temp, fd }, opening };
    } catch (error) {
      closeDirectory(directoryFd);
      await opening?.then(abandonRecord, () => {});
      if (errnoCode(error) === "ENOTDIR") throw context.paths.fileInTheWay(key, error);
      // A concurrent delete removed the (then empty) directory between mkdir and open: redo both.
      if (errnoCode(error) !== "ENOENT" || attempt >= PARENT_RETRIES) throw error;
    }
  }
}

/** Removes a temporary file after a failure, and the directories the write created for it if now empty. */
async function discard(paths: RootedPaths, temp: string): Promise<void> {
  await unlink(temp).catch(() => {});
  await prune(paths, dirname(temp));
}

/**
 * Publishes a complete temporary file and its record under `key`: rename (replace) or link
 * (create-exclusive, trying `nextKey()` names on EEXIST so the body is never needed twice).
 */
async function commit(
  paths: RootedPaths,
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
      directory = await paths.prepareParent(current);
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
