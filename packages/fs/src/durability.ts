/**
 * Syncing what a save wrote: one file or folder now (durability "full"), or everything a batch
 * storage saved since its last flush (durability "batch"), files before the folders naming them.
 */
import { constants } from "node:fs";
import { closeFd, fsyncFd, openFd } from "./io.js";
import type { Durability } from "./options.js";
import { errnoCode, OPEN_DIRECTORY } from "./paths.js";

/** Files a flush syncs at once: enough for the disk to merge their journal commits. */
const FLUSH_CONCURRENCY = 16;
/**
 * Files a batch storage lets wait for a flush: past this many, the save that crosses it flushes
 * them, so the list (and what a crash can lose) stays bounded however long the job.
 */
const MAX_PENDING_FILES = 8192;

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
    await closeFd(fd);
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
 * What a batch storage has saved but not yet synced: the files (data and records) and the folders
 * whose entries changed. `flush()` syncs the files first, then the folders, so a folder's entries
 * never become durable before the content they name.
 */
export class PendingSyncs {
  private files = new Set<string>();
  private directories = new Set<string>();

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

  add(directory: string, ...files: string[]): void {
    for (const file of files) this.files.add(file);
    this.directories.add(directory);
  }

  async flush(): Promise<void> {
    const files = [...this.files];
    const directories = [...this.directories];
    this.files = new Set();
    this.directories = new Set();
    try {
      await inParallel(files, (file) => syncPath(file, constants.O_RDONLY));
      await inParallel(directories, (directory) => syncPath(directory, OPEN_DIRECTORY));
    } catch (error) {
      // Not synced: keep them for the next flush (a retry, or close()).
      for (const file of files) this.files.add(file);
      for (const directory of directories) this.directories.add(directory);
      throw error;
    }
  }
}

/**
 * Makes a change to `directory` durable as the storage's policy says: synced now ("full"), or
 * noted, with the files named, for the next flush ("batch").
 */
export async function makeDurable(
  policy: { readonly durability: Durability; readonly pending: PendingSyncs },
  directory: string,
  ...files: string[]
): Promise<void> {
  if (policy.durability === "full") {
    await syncPath(directory, OPEN_DIRECTORY);
    return;
  }
  policy.pending.add(directory, ...files);
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
