/**
 * Syncing what a save wrote: one file or folder now (durability "full"), or everything a batch
 * storage saved since its last flush (durability "batch"): one syncfs per filesystem where the
 * system has it, else files before the folders naming them.
 */
import { constants, existsSync } from "node:fs";
import { stat } from "node:fs/promises";
import { release } from "node:os";
import { closeDirectory, closeFd, fsyncFd, openFd } from "./io.js";
import type { Durability } from "./options.js";
import { errnoCode, OPEN_DIRECTORY } from "./paths.js";

/** Files a flush syncs at once: enough for the disk to merge their journal commits. */
const FLUSH_CONCURRENCY = 16;
/**
 * Files a batch storage lets wait for a flush: past this many, the save that crosses it flushes
 * them, so the list (and what a crash can lose) stays bounded however long the job.
 */
const MAX_PENDING_FILES = 8192;
/**
 * From this many files, a flush syncs their filesystems whole (syncfs) rather than each file: one
 * call instead of three trips per file and folder (measured on the collectstatic bench corpus,
 * 2,123 files and 785 folders: 240–360 ms of fsyncs, 32–48 ms for the syncfs). Below it, each
 * file: syncfs writes out whatever else is dirty on the filesystem too, which a few files should
 * not wait for, and the spawn costs more than a few fsyncs.
 */
const SYNCFS_FROM_FILES = 64;

/** fsync of a file or folder by path; ENOENT (removed since) is fine: there is nothing left to sync. */
export async function syncPath(path: string, flags: number): Promise<void> {
  let fd: number;
  try {
    fd = await openFd(path, flags);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return;
    throw error;
  }
  try {
    await syncDescriptor(fd);
  } finally {
    if ((flags & constants.O_DIRECTORY) !== 0) closeDirectory(fd);
    else await closeFd(fd);
  }
}

/** fsync; some filesystems (and platforms) cannot fsync a directory, and a rename is atomic anyway. */
export async function syncDescriptor(fd: number): Promise<void> {
  try {
    await fsyncFd(fd);
  } catch (error) {
    const code = errnoCode(error);
    if (code !== "EINVAL" && code !== "EBADF" && code !== "EISDIR") throw error;
  }
}

/**
 * The `sync` that can sync a whole filesystem (`sync -f PATH…`: syncfs(2) of each path's
 * filesystem; GNU coreutils from 8.24, busybox), where it is safe to rely on: Linux from 5.8, where
 * syncfs reports write errors (before, it returned 0 whatever failed), and a `sync` at a fixed path,
 * never one looked up on PATH. Node has no syncfs of its own.
 */
export function syncfsCommand(platform = process.platform, kernel = release()): string | undefined {
  if (platform !== "linux") return undefined;
  const [major = 0, minor = 0] = kernel.split(".").map((part) => Number.parseInt(part, 10));
  if (major < 5 || (major === 5 && minor < 8)) return undefined;
  return ["/usr/bin/sync", "/bin/sync"].find((path) => existsSync(path));
}

/**
 * What a batch storage has saved but not yet synced: the files (data and records) and the folders
 * whose entries changed. `flush()` syncs the filesystems they are on (many files), or the files
 * first and then the folders, so a folder's entries never become durable before the content they
 * name.
 */
export class PendingSyncs {
  private files = new Set<string>();
  /** The folders, with the filesystem each is on when the one who noted it knew (a saved file's stat). */
  private directories = new Map<string, bigint | undefined>();
  /** `sync -f`, until it fails once for this storage: from then on each file is synced. */
  private syncfs = syncfsCommand();

  get size(): number {
    return this.files.size;
  }

  /** Past this many files, the save that added the last one flushes them all. */
  get full(): boolean {
    return this.files.size >= MAX_PENDING_FILES;
  }

  get empty(): boolean {
    return this.files.size === 0 && this.directories.size === 0;
  }

  /**
   * Notes `files` saved and `directory`'s entries changed; `device`, when known, is the filesystem
   * `directory` is on (that of a file just created in it: a file is on its folder's filesystem).
   */
  add(directory: string, files: readonly string[] = [], device?: bigint): void {
    for (const file of files) this.files.add(file);
    if (device !== undefined || !this.directories.has(directory)) this.directories.set(directory, device);
  }

  async flush(): Promise<void> {
    const files = [...this.files];
    const directories = [...this.directories];
    this.files = new Set();
    this.directories = new Map();
    try {
      if (files.length >= SYNCFS_FROM_FILES && (await this.syncFilesystems(directories))) return;
      await inParallel(files, (file) => syncPath(file, constants.O_RDONLY));
      await inParallel(directories, ([directory]) => syncPath(directory, OPEN_DIRECTORY));
    } catch (error) {
      // Not synced: keep them for the next flush (a retry, or close()).
      for (const file of files) this.files.add(file);
      for (const [directory, device] of directories) this.add(directory, [], device);
      throw error;
    }
  }

  /**
   * syncfs of each filesystem the folders are on (a mount inside the root is another one), in one
   * `sync -f` process: every file was saved into one of these folders, so each is on one of them.
   * Once it returns, every file's data and every folder's entries there are on disk — what the
   * fsyncs of each file and then each folder give once they have all returned (until then, neither
   * way promises anything: a batch's saves reach the disk in whatever order the system writes back).
   * false when it could not run or reported an error: the caller then syncs each file, which
   * reports a write error of its own (and this storage stops trying syncfs).
   */
  private async syncFilesystems(directories: [string, bigint | undefined][]): Promise<boolean> {
    const command = this.syncfs;
    if (command === undefined) return false;
    const oneFolderPerFilesystem = new Map<bigint, string>();
    /** Finds which filesystem a folder is on now, and keeps it as that one's when it is the first. */
    const look = async (directory: string): Promise<void> => {
      try {
        const { dev } = await stat(directory, { bigint: true });
        if (!oneFolderPerFilesystem.has(dev)) oneFolderPerFilesystem.set(dev, directory);
      } catch (error) {
        if (errnoCode(error) !== "ENOENT") throw error; // removed since: nothing left to sync
      }
    };
    const onDevice = new Map<bigint, string[]>();
    const unknown: string[] = [];
    for (const [directory, device] of directories) {
      if (device === undefined) unknown.push(directory);
      else {
        const folders = onDevice.get(device);
        if (folders === undefined) onDevice.set(device, [directory]);
        else folders.push(directory);
      }
    }
    // The folders known to be on a filesystem: the first that is still there stands for all of
    // them (one stat per filesystem, not per folder); the next is tried when it is gone (or on
    // another filesystem now), so each is looked at only until one is found.
    await inParallel([...onDevice], async ([device, folders]) => {
      for (const folder of folders) {
        if (oneFolderPerFilesystem.has(device)) return;
        await look(folder);
      }
    });
    await inParallel(unknown, look);
    if (oneFolderPerFilesystem.size === 0) return true;
    // Loaded here: a storage that never flushes many files (an upload service) never pays for it.
    const { execFile } = await import("node:child_process");
    const synced = await new Promise<boolean>((resolve) => {
      // Absolute paths (the folders' real paths): none can read as an option.
      execFile(command, ["-f", ...oneFolderPerFilesystem.values()], { env: {} }, (error) =>
        resolve(error === null),
      );
    });
    if (!synced) this.syncfs = undefined;
    return synced;
  }
}

/**
 * Makes a change to `directory` durable as the storage's policy says: synced now ("full"), or
 * noted, with the files named (and the filesystem, when known: see PendingSyncs.add), for the next
 * flush ("batch").
 */
export async function makeDurable(
  policy: { readonly durability: Durability; readonly pending: PendingSyncs },
  directory: string,
  files: readonly string[] = [],
  device?: bigint,
): Promise<void> {
  if (policy.durability === "full") {
    await syncPath(directory, OPEN_DIRECTORY);
    return;
  }
  policy.pending.add(directory, files, device);
  if (policy.pending.full) await policy.pending.flush();
}

async function inParallel<T>(items: T[], task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(FLUSH_CONCURRENCY, items.length) }, async () => {
      while (next < items.length) await task(items[next++]!);
    }),
  );
}
