/**
 * The options of `copy`, `sync` and `verify` (`MigrationOptions`, `OverwritePolicy`) and their
 * checks: a bad value is refused with an `InvalidArgumentError` before anything is listed.
 */
import { InvalidArgumentError, type Visibility } from "@storages/core";
import type { FileEvent, MigrationProgress } from "./result.js";
import type { Selection } from "./select.js";

/**
 * What to do with a file that exists on both sides. `if-different` (the default) copies it when
 * the comparison finds it different; `never` leaves every existing file alone (a difference stays
 * reported); `always` copies every file.
 */
export type OverwritePolicy = "never" | "if-different" | "always";

export interface MigrationOptions extends Selection {
  /** A folder below both endpoints to compare ("2024/"): names stay relative to the endpoints. */
  prefix?: string | undefined;
  /** Files copied or compared at once (default 16). */
  concurrency?: number | undefined;
  /** Default "if-different". */
  overwrite?: OverwritePolicy | undefined;
  /**
   * Compare content hashes where both sides give comparable ones (the listing's, else the stored
   * ones `stat()` reports), else size and time. Default: true for verify, false for copy and sync
   * (which then compare size and time: a destination file older than its source is different).
   */
  checksum?: boolean | undefined;
  /** Milliseconds two times may differ and still count as the same (default 1000: S3 keeps seconds). */
  modifyWindow?: number | undefined;
  /** Compare and report what would be done, change nothing. */
  dryRun?: boolean | undefined;
  /**
   * sync: delete nothing when more than this many destination files would be deleted. Unset, a
   * source with no (selected) files deletes nothing either: set it to empty a destination.
   */
  maxDelete?: number | undefined;
  /** Set on every file written (default: the source file's visibility, where both sides have one). */
  visibility?: Visibility | undefined;
  /**
   * Check each copied file at the destination: the MD5 it reports (the upload's ETag when that is
   * the MD5, else `stat()`) against the bytes sent. Default true.
   */
  verifyDestination?: boolean | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((progress: MigrationProgress) => void) | undefined;
  onFile?: ((event: FileEvent) => void) | undefined;
}

export function checkOptions(operation: string, options: MigrationOptions): void {
  const { concurrency, overwrite, maxDelete, modifyWindow } = options;
  if (
    concurrency !== undefined &&
    !(Number.isSafeInteger(concurrency) && concurrency >= 1 && concurrency <= 1024)
  )
    throw new InvalidArgumentError(`concurrency must be a whole number from 1 to 1024, got ${concurrency}.`);
  if (overwrite !== undefined && !["never", "if-different", "always"].includes(overwrite))
    throw new InvalidArgumentError(
      `overwrite must be "never", "if-different" or "always", got ${JSON.stringify(overwrite)}.`,
    );
  if (maxDelete !== undefined && !(Number.isSafeInteger(maxDelete) && maxDelete >= 0))
    throw new InvalidArgumentError(`maxDelete must be a whole number (0 or more), got ${maxDelete}.`);
  if (maxDelete !== undefined && operation !== "sync")
    throw new InvalidArgumentError(`maxDelete only applies to sync (${operation} never deletes).`);
  if (modifyWindow !== undefined && !(Number.isFinite(modifyWindow) && modifyWindow >= 0))
    throw new InvalidArgumentError(
      `modifyWindow must be a number of milliseconds (0 or more), got ${modifyWindow}.`,
    );
}
