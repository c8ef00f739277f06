/**
 * What a migration reports: its progress while it runs, each file's outcome as it happens, and the
 * result it returns (counts per outcome, the first failures, samples of what differs).
 */
import type { StorageError } from "@storages/core";
import type { JoinStats } from "./join.js";

export interface MigrationProgress {
  /** Files settled (compared, and copied or skipped). */
  filesDone: number;
  /** Files found in the source so far. */
  filesKnown: number;
  /** Bytes copied so far. */
  bytesDone: number;
  /** Bytes of the files found to copy so far. */
  bytesKnown: number;
  /** False while the source is still being listed (the totals may grow). */
  complete: boolean;
}

export type Outcome = "copied" | "equal" | "different" | "missing" | "extra" | "deleted" | "failed";

/** One file's outcome, as it happens (for logs and streamed reports). */
export interface FileEvent {
  name: string;
  outcome: Outcome;
  size: number;
  /** For "failed": the error (a StorageError, its stable code in `code`). */
  error?: StorageError | undefined;
}

export interface OutcomeCount {
  files: number;
  bytes: number;
}

export interface FileFailure {
  name: string;
  code: string;
  message: string;
}

export interface MigrationResult {
  operation: "copy" | "sync" | "verify";
  dryRun: boolean;
  /** Copied now (with dryRun: would be copied). */
  copied: OutcomeCount;
  /** On both sides and the same: left alone. */
  equal: OutcomeCount;
  /** On both sides and different, and left so (verify, overwrite: "never"). */
  different: OutcomeCount;
  /** In the source only, and not copied (verify). */
  missing: OutcomeCount;
  /** In the destination only, and left there. */
  extra: OutcomeCount;
  /** In the destination only, and deleted (sync; with dryRun: would be deleted). */
  deleted: OutcomeCount;
  failed: OutcomeCount;
  /** The first failures (at most 1,000), each with the error's stable code. */
  failures: FileFailure[];
  /** The first names (at most 100 each) of what differs, for the report. */
  samples: { missing: string[]; different: string[]; extra: string[] };
  /**
   * Why sync left extra files it found: it deleted none (a copy failed, the maxDelete guard, an
   * empty source), or its delete pass stopped part-way — the source listed fewer files than when
   * the two sides were compared (`E_SOURCE_CHANGED`), or a listing failed (that error's code);
   * `deleted` counts what went before. The result is then not ok.
   */
  deletesSkipped?: { code: string; message: string } | undefined;
  /**
   * Set when a listing failed while the two sides were compared (after core's retries): the run
   * started no copy after it, waited for the ones in flight, and counts what it did before; every
   * file it had not reached is in no count. `side` says whose listing, `code` is its error's
   * stable code. The result is then not ok (and sync deletes nothing: `deletesSkipped`).
   */
  listingFailed?: { side: "source" | "destination"; code: string; message: string } | undefined;
  /** Copies done inside the service (`Storage.copy`) rather than streamed through this process. */
  serverSideCopy: boolean;
  /** The order each listing came in, and the most entries the comparison held at once. */
  listing: JoinStats;
  aborted: boolean;
  /** True when the destination matches the source for every selected file and nothing failed (with dryRun: when nothing would fail). */
  ok: boolean;
  elapsedMs: number;
}

export function emptyCount(): OutcomeCount {
  return { files: 0, bytes: 0 };
}
