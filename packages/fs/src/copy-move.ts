/**
 * Copy, move and link: a file under a second name. A copy is a hard link when asked (`link: true`)
 * and the folder can hold one, else a kernel copy saved like a write (save.ts); a move is a rename
 * (replace) or a link and an unlink (create-exclusive), with the file's record moved along.
 *
 * Separate from the driver because the three share their own rules: which metadata travels with
 * the file, when a link is allowed (a record must carry the checksum of what it names), and what
 * falls back to what (no hard links, another filesystem).
 */
import type { BigIntStats } from "node:fs";
import { link, lstat, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import {
  AlreadyExistsError,
  type Driver,
  type DriverCopyOptions,
  guessContentType,
  NotFoundError,
} from "@storages/core";
import type { DriverContext } from "./context.js";
import { makeDurable, syncDescriptor } from "./durability.js";
import { closeDirectory, closeQuietly, fstatFd, openFd } from "./io.js";
import { kernelCopy, localCopyFill } from "./local-copy.js";
import { existingFile, notFound, openToRead } from "./lookup.js";
import { errnoCode, type RootedPaths } from "./paths.js";
import { prune } from "./removal.js";
import { type Fill, NO_HARD_LINKS, noHardLinks, PARENT_RETRIES, save } from "./save.js";
import { needsRecord, readRecord, removeRecord, type StoredMetadata, writeRecord } from "./sidecar.js";
import { tempPath } from "./temporary.js";

/** Stored metadata of a file, or what its name implies when it has none. */
async function metadataOf(key: string, path: string, stats: BigIntStats): Promise<StoredMetadata> {
  return (await readRecord(key, path, stats)) ?? { contentType: guessContentType(key) };
}

/** A copy's source: its real path and stat, and (when it was found that way) its folder, open. */
interface CopySource {
  path: string;
  stats: BigIntStats;
  folder?: { directory: string; fd: number } | undefined;
}

/**
 * The real path and stat of a file to copy from. Through a checked descriptor of its folder, left
 * open for a link made in the same folder, and an lstat of the entry (what a copy needs is the name
 * and the stat, not the content); a link there, or a system whose descriptors do not name their
 * files, through a descriptor of the file itself (an open, a readlink of /proc/self/fd and an
 * fstat, or a realpath). The caller closes `folder`.
 */
async function fileToCopy(paths: RootedPaths, key: string): Promise<CopySource> {
  const folder = await paths.openFolderOf(key);
  if (folder !== undefined) {
    let stats: BigIntStats;
    try {
      stats = await lstat(folder.entry, { bigint: true });
    } catch (error) {
      closeDirectory(folder.fd);
      if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") throw notFound(key);
      throw error;
    }
    if (stats.isFile()) return { path: folder.entry, stats, folder };
    closeDirectory(folder.fd);
    if (!stats.isSymbolicLink()) throw notFound(key);
  }
  const { opened: fd, path } = await openToRead(paths, key, openFd, (d) => d, closeQuietly);
  try {
    const stats = await fstatFd(fd);
    if (!stats.isFile()) throw notFound(key);
    return { path, stats };
  } finally {
    closeQuietly(fd);
  }
}

/**
 * `from`'s file under the name `to` too: a hard link when asked (`link`) and the folder can hold
 * one, else a copy saved like a write.
 */
export async function copyStoredFile(
  context: DriverContext,
  from: string,
  to: string,
  options: DriverCopyOptions,
): Promise<void> {
  const source = await fileToCopy(context.paths, from);
  try {
    // A link made in the source's own folder (collectstatic's original names) uses its descriptor.
    const folder = sameFolder(context.paths, from, to) ? source.folder : undefined;
    if (options.link && !context.records && (await linkCopy(context, source, to, undefined, options, folder)))
      return;
    const meta = await metadataOf(from, source.path, source.stats);
    const known = meta.checksums?.md5;
    // A record must carry the checksum of what it names: a file without one is copied (and hashed).
    if (options.link && known !== undefined && (await linkCopy(context, source, to, meta, options, folder)))
      return;
    await copyBySave(context, source, to, meta, options);
  } finally {
    if (source.folder !== undefined) closeDirectory(source.folder.fd);
  }
}

/** Whether two keys name entries of one folder (their lexical paths: checks both names too). */
function sameFolder(paths: RootedPaths, a: string, b: string): boolean {
  return dirname(paths.pathOf(a)) === dirname(paths.pathOf(b));
}

/** `source` copied under the name `to` like a write, its metadata along (save.ts). */
async function copyBySave(
  context: DriverContext,
  source: CopySource,
  to: string,
  meta: StoredMetadata,
  options: DriverCopyOptions,
): Promise<void> {
  const known = meta.checksums?.md5;
  // A file put in the root by another program has no checksum: its copy is written (and hashed)
  // here, so it gets one. A file with one is copied by the kernel, the copy creating its temporary file.
  const fill: Fill =
    known === undefined
      ? await localCopyFill(source.path, options.signal, context.records)
      : {
          copy: async (temp, create) => {
            await kernelCopy(source.path, temp, create, options.signal);
            return known;
          },
        };
  await save(
    context,
    to,
    {
      signal: options.signal,
      exclusive: !options.overwrite,
      meta: (md5) => ({ ...meta, checksums: { md5 } }),
    },
    fill,
  );
}

/**
 * `to` as a second name (hard link) of the file `source`, with the source's metadata in its own
 * record (`meta`, undefined when the storage keeps none); false when the folder cannot hold a link
 * (another filesystem, no hard links): the caller copies. The content is the source's inode,
 * already synced or pending a flush: only the folder has news.
 */
async function linkCopy(
  context: DriverContext,
  source: { path: string; stats: BigIntStats },
  to: string,
  meta: StoredMetadata | undefined,
  options: DriverCopyOptions,
  /** `to`'s folder, already open and checked (the caller closes it). */
  folder?: { directory: string; fd: number },
): Promise<boolean> {
  context.startSweep();
  for (let attempt = 1; ; attempt++) {
    // A folder pruned since it was opened is opened (made) again.
    const shared = attempt === 1 ? folder : undefined;
    const { directory, fd: directoryFd } = shared ?? (await context.paths.openParent(to));
    try {
      const target = join(directory, basename(to));
      let linked: string | undefined;
      try {
        linked = await linkName(source, target, directory, options.overwrite === true, meta !== undefined);
      } catch (error) {
        const code = errnoCode(error) ?? "";
        if (code === "EXDEV" || NO_HARD_LINKS.has(code)) return false; // the caller's copy fills the folder
        // The folder pruned by a concurrent delete since it was opened (as in createTemp): again.
        if (code === "ENOENT" && attempt < PARENT_RETRIES) continue;
        await prune(context.paths, directory); // made for this name, perhaps: not left behind empty
        if (code === "EEXIST" && !options.overwrite)
          throw new AlreadyExistsError(`"${to.slice(0, 200)}" already exists.`, { path: to, cause: error });
        throw error;
      }
      // The name is this very file already (a re-publish of the same content): nothing changes.
      if (linked === undefined) return true;
      const durable = context.durability === "full";
      let recordPath: string | undefined;
      try {
        if (meta !== undefined) {
          const stats = await stat(linked, { bigint: true });
          recordPath = await writeRecord(target, stats, meta, context.fileMode, durable);
        }
        if (linked !== target) {
          await rename(linked, target);
          // rename() of two names of one file does nothing and keeps both (POSIX): when the old
          // file was this one, the temporary name is still there.
          await unlink(linked).catch(() => {});
        }
      } catch (error) {
        await unlink(linked).catch(() => {});
        await prune(context.paths, directory);
        throw error;
      }
      if (durable) await syncDescriptor(directoryFd);
      // (The link is the source's file: on its filesystem, which is this folder's.)
      else
        await makeDurable(context, directory, recordPath === undefined ? [] : [recordPath], source.stats.dev);
      return true;
    } finally {
      if (shared === undefined) closeDirectory(directoryFd);
    }
  }
}

/**
 * Links `source` for the name `target`: the path linked (`target` itself, or a temporary name to
 * rename over it), or undefined when `target` already names this very file. A free name takes the
 * link itself (atomic: the name appears with the whole file). Replacing goes through a temporary
 * name renamed over the old file (atomic, like a save) — tried straight at the name first when no
 * record has to be in place before it (`recordFirst`): a fresh publish has no old file.
 */
async function linkName(
  source: { path: string; stats: BigIntStats },
  target: string,
  directory: string,
  replace: boolean,
  recordFirst: boolean,
): Promise<string | undefined> {
  if (!replace || !recordFirst) {
    try {
      await link(source.path, target);
      return target;
    } catch (error) {
      if (errnoCode(error) !== "EEXIST" || !replace) throw error;
      if (await isSameFile(target, source.stats)) return undefined;
    }
  }
  const temporary = tempPath(directory);
  await link(source.path, temporary);
  return temporary;
}

/** Whether `path` names the file `stats` describes (same device and inode; never through a link). */
async function isSameFile(path: string, stats: BigIntStats): Promise<boolean> {
  try {
    const other = await lstat(path, { bigint: true });
    return other.ino === stats.ino && other.dev === stats.dev;
  } catch {
    return false;
  }
}

/**
 * Renames `from`'s file (and its record) to `to`: a rename when replacing, else a link and an
 * unlink (create-exclusive); across a mount point inside the root, `driver`'s own copy then delete.
 */
export async function moveStoredFile(
  context: DriverContext,
  driver: Required<Pick<Driver, "copy" | "delete">>,
  from: string,
  to: string,
  options: DriverCopyOptions,
): Promise<void> {
  context.startSweep();
  const source = await existingFile(context.paths, from);
  if (from === to) return;
  const entry = await context.paths.resolveForDelete(from);
  if (entry === undefined) throw new NotFoundError(`"${from.slice(0, 200)}" does not exist.`, { path: from });
  const meta = await metadataOf(from, source.path, source.stats);
  const directory = await context.paths.prepareParent(to);
  const target = join(directory, basename(to));
  const withRecord = context.records && needsRecord(to, meta);
  const durable = context.durability === "full";
  let recordPath: string | undefined;
  try {
    if (options.overwrite) {
      if (withRecord) recordPath = await writeRecord(target, source.stats, meta, context.fileMode, durable);
      await rename(entry, target);
      // rename() of two names of one file does nothing (POSIX): `to` was already a hard link of
      // this file, and `from` still names it. Only a file with other names can be in that case.
      if (source.stats.nlink > 1n && (await isSameFile(entry, source.stats))) await unlink(entry);
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
        if (withRecord) recordPath = await writeRecord(target, source.stats, meta, context.fileMode, durable);
      } catch (error) {
        await unlink(target).catch(() => {}); // keep one name for the file, the original
        throw error;
      }
      try {
        await unlink(entry);
      } catch (error) {
        if (errnoCode(error) !== "ENOENT") throw error;
        // A concurrent move of the same file took `from` first (its link and ours both
        // succeeded): it won, so ours is taken back — one move, one new name.
        await unlink(target).catch(() => {});
        if (recordPath !== undefined) await removeRecord(target).catch(() => {});
        throw new NotFoundError(`"${from.slice(0, 200)}" does not exist (moved meanwhile).`, { path: from });
      }
    }
  } catch (error) {
    if (errnoCode(error) !== "EXDEV") {
      await prune(context.paths, directory);
      throw error;
    }
    // A mount point inside the root: no rename across filesystems, so copy then delete.
    await driver.copy(from, to, options);
    await driver.delete(from, options);
    return;
  }
  await removeRecord(entry);
  await makeDurable(context, directory, recordPath === undefined ? [] : [recordPath]);
  if (dirname(entry) !== directory) await makeDurable(context, dirname(entry));
  await prune(context.paths, dirname(entry));
}
