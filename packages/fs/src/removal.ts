/**
 * Taking files away: a delete (through the root's delete check, paths.ts, with the file's record),
 * and the pruning of the folders a removal leaves empty — after a delete, a move, a link that
 * failed, or a save that failed (save.ts, copy-move.ts).
 *
 * Separate from the driver because every change that can leave a folder empty ends here, and the
 * climb must stop at the root whoever calls it.
 */
import { lstat, rmdir, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import type { DriverContext } from "./context.js";
import { errnoCode, type RootedPaths } from "./paths.js";
import { removeRecord } from "./sidecar.js";

/** Removes the file of `key` and its record; a missing key (or a folder) is nothing to do. */
export async function deleteStoredFile(context: DriverContext, key: string): Promise<void> {
  context.startSweep();
  const entry = await context.paths.resolveForDelete(key);
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
  await prune(context.paths, dirname(entry));
}

/** Removes now-empty directories from `directory` up to (not including) the root. */
export async function prune(paths: RootedPaths, directory: string): Promise<void> {
  let current = directory;
  while (current !== paths.real && paths.contains(current)) {
    try {
      await rmdir(current);
    } catch {
      return; // not empty (or already gone, or not ours to remove): stop climbing
    }
    current = dirname(current);
  }
}
