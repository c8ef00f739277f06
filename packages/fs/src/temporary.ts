/**
 * Temporary files: where every write (data or record) goes before it is renamed or linked into
 * place, and the sweep that removes the ones a killed writer left behind.
 *
 * A temporary file's name says who wrote it: `.~storages-<host>-<pid>-<random>.tmp` (host: a short
 * hash of the hostname). A writer killed mid-save (SIGKILL, OOM, power loss) leaves its temporary
 * file; the next driver to start on the root removes those whose writer is gone — same host and no
 * such process — and any older than STALE_AFTER_MS whoever wrote them (another host of a shared
 * mount, or a pid reused since). A live writer's file is never touched: its process exists, and it
 * writes to the file (so its mtime moves) until it renames it.
 */
import { createHash, randomBytes } from "node:crypto";
import type { Dirent } from "node:fs";
import { lstat, readdir, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { errnoCode, RESERVED_PREFIX } from "./paths.js";

/** A temporary file this old is stale whoever wrote it: no write pauses that long mid-file. */
export const STALE_AFTER_MS = 60 * 60 * 1000;

const HOST = createHash("sha256").update(hostname()).digest("base64url").slice(0, 6);
const OWN_PREFIX = `${RESERVED_PREFIX}${HOST}-${process.pid}-`;
const TEMPORARY = /^\.~storages-([A-Za-z0-9_-]{6})-(\d+)-[A-Za-z0-9_-]+\.tmp$/;
/** The name form before writers named themselves (removed when old enough). */
const UNNAMED_TEMPORARY = /^\.~storages-[A-Za-z0-9_-]{12}\.tmp$/;

/**
 * This process's temporary names: a random part drawn once, then a counter. Unique within the
 * process (the counter), across processes (the pid) and hosts (the host hash) — and the file is
 * created exclusively (O_EXCL) whatever its name, so a guessable name can be neither taken over
 * nor pointed elsewhere by a link. (A random draw per name was ~15 µs of every small save.)
 */
const OWN_RANDOM = randomBytes(6).toString("base64url");
let tempCounter = 0;

export function tempPath(directory: string): string {
  return join(directory, `${OWN_PREFIX}${OWN_RANDOM}${(tempCounter++).toString(36)}.tmp`);
}

export function isTemporaryName(name: string): boolean {
  return TEMPORARY.test(name) || UNNAMED_TEMPORARY.test(name);
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoCode(error) !== "ESRCH"; // EPERM: it exists, it is someone else's
  }
}

/** Whether a temporary file of this name and age was left by a writer that is gone. */
export function isStale(name: string, ageMs: number): boolean {
  if (ageMs > STALE_AFTER_MS) return true;
  const match = TEMPORARY.exec(name);
  if (!match || match[1] !== HOST) return false;
  const pid = Number(match[2]);
  return pid !== process.pid && !processExists(pid);
}

/**
 * Removes the stale temporary files under `root`, one directory at a time (never more than one
 * listing in memory); returns how many. Links are not followed, so it never leaves the root.
 */
export async function sweepTemporaryFiles(root: string, signal?: AbortSignal): Promise<number> {
  let removed = 0;
  const directories = [root];
  for (let directory = directories.pop(); directory !== undefined; directory = directories.pop()) {
    if (signal?.aborted) break;
    let entries: Dirent[];
    try {
      entries = await readdir(directory, { withFileTypes: true });
    } catch (error) {
      if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") continue; // pruned meanwhile
      throw error;
    }
    for (const entry of entries) {
      const path = join(directory, entry.name);
      if (entry.isDirectory()) directories.push(path);
      else if (entry.isFile() && isTemporaryName(entry.name)) {
        try {
          const { mtimeMs } = await lstat(path);
          if (!isStale(entry.name, Date.now() - mtimeMs)) continue;
          await unlink(path);
          removed++;
        } catch (error) {
          if (errnoCode(error) !== "ENOENT") throw error; // renamed into place or removed meanwhile
        }
      }
    }
  }
  return removed;
}
