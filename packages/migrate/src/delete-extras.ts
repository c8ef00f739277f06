/**
 * sync's delete phase: destination files the source does not have, deleted in batches after every
 * copy succeeded, never more than `maxDelete`. Its own module because it lists both sides again
 * (rather than remembering the extras of the comparison pass), so memory stays flat.
 */
import { hash } from "node:crypto";
import { PartialFailureError, printableName, StorageError } from "@storages/core";
import { listFiles, READ_AHEAD, type Side } from "./endpoints.js";
import { sentence, toStorageError } from "./failures.js";
import { joinListings, type ListedFile } from "./join.js";
import type { MigrationOptions } from "./options.js";
import { readAhead } from "./read-ahead.js";
import { emptyCount, type MigrationResult, type Outcome } from "./result.js";

const DELETE_BATCH = 1000;

/**
 * The destination files the comparison pass found extra, in listing order, each as 52 bits of a
 * hash of its name (8 bytes per extra, never the names): the delete pass deletes only these. It
 * meets its extras in the same order (the same two listings, joined the same way), so one cursor
 * walks the record; one it cannot find there is a file the source has lost since.
 */
export class ExtrasSeen {
  readonly #hashes: number[] = [];
  #next = 0;

  /** `limit`: no more are recorded than maxDelete lets go. */
  constructor(private readonly limit = Number.POSITIVE_INFINITY) {}

  add(name: string): void {
    if (this.#hashes.length < this.limit) this.#hashes.push(nameHash(name));
  }

  /** Whether the comparison found `name` extra, after the last one taken (skipping any since restored at the source). */
  take(name: string): boolean {
    const wanted = nameHash(name);
    for (let i = this.#next; i < this.#hashes.length; i++) {
      if (this.#hashes[i] === wanted) {
        this.#next = i + 1;
        return true;
      }
    }
    return false;
  }
}

function nameHash(name: string): number {
  return Number.parseInt(hash("sha1", name, "hex").slice(0, 13), 16);
}

/** What the comparison pass found: the delete pass may not find the source smaller than this. */
export interface Compared {
  /** Selected files the source listed. */
  sourceFiles: number;
  /** Destination files the source did not have. */
  extras: ExtrasSeen;
}

/**
 * The delete phase of sync, after every copy succeeded: the listings are compared again (memory
 * stays flat, and a file that appeared at the source meanwhile is not deleted), and destination
 * files the source does not have are deleted in batches, never more than maxDelete.
 *
 * The second listing of the source is checked against the first: one that lists no file where the
 * comparison found some (a folder unmounted, credentials that now see an empty bucket), or that
 * leaves a destination file unmatched that the comparison had matched, has changed — every file
 * it lost would be deleted from the destination. Only files the comparison found extra go. Then nothing more is deleted (a batch not sent yet
 * stays), and `deletesSkipped` says why (E_SOURCE_CHANGED); a listing that fails stops it the same
 * way, with the listing's error. Either way the result counts what was deleted before.
 */
export async function deleteExtras(
  source: Side,
  destination: Side,
  select: (name: string) => boolean,
  options: MigrationOptions,
  compared: Compared,
  result: MigrationResult,
  settle: (name: string, outcome: Outcome, size: number, error?: StorageError) => void,
): Promise<void> {
  const signal = options.signal;
  // The extras of the comparison pass are re-counted here as they are deleted (or fail).
  result.extra = emptyCount();
  let budget = options.maxDelete ?? Number.POSITIVE_INFINITY;
  let batch: ListedFile[] = [];
  const flush = async () => {
    const names = batch;
    batch = [];
    if (names.length === 0) return;
    const failedKeys = new Map<string, StorageError>();
    try {
      await destination.storage.deleteMany(
        names.map((entry) => destination.root + entry.name),
        { signal },
      );
    } catch (error) {
      if (PartialFailureError.isInstance(error)) {
        for (const failure of (error as PartialFailureError).failures)
          failedKeys.set(failure.path, failure.error);
      } else for (const entry of names) failedKeys.set(destination.root + entry.name, toStorageError(error));
    }
    for (const entry of names) {
      const failure = failedKeys.get(destination.root + entry.name);
      settle(entry.name, failure ? "failed" : "deleted", entry.size, failure);
    }
  };
  let sourceFiles = 0;
  const sourceListing = async function* () {
    for await (const page of readAhead(listFiles(source, select, signal), READ_AHEAD)) {
      sourceFiles += page.length;
      yield page;
    }
  };
  /** Why the source cannot be trusted now, or undefined: checked before each extra is taken. */
  const changed = (name: string): StorageError | undefined => {
    // The join declares a destination file extra only once the source listed a name past it, or
    // ended: with none listed so far, this source lists nothing at all.
    if (sourceFiles === 0 && compared.sourceFiles > 0)
      return new StorageError(
        "E_SOURCE_CHANGED",
        `The source lists no files now, but it listed ${compared.sourceFiles} when sync compared the two sides: it went away or changed meanwhile (an unmounted folder, other credentials, another prefix), so sync deleted nothing. Check the source, then run sync again.`,
      );
    if (!compared.extras.take(name))
      return new StorageError(
        "E_SOURCE_CHANGED",
        `The source lacks "${printableName(name.slice(0, 200))}" now, which it had when sync compared the two sides: it lost files meanwhile (or the destination gained some), so sync stopped deleting (${result.deleted.files} deleted before). Check the source, then run sync again.`,
      );
    return undefined;
  };
  let stopped: StorageError | undefined;
  try {
    for await (const joined of joinListings(
      sourceListing(),
      readAhead(listFiles(destination, select, signal), READ_AHEAD),
    )) {
      if (signal?.aborted) break;
      for (const { name, source: s, destination: d } of joined) {
        if (s || !d) continue;
        stopped ??= changed(name);
        if (stopped || budget <= 0) {
          settle(name, "extra", d.size);
          continue;
        }
        budget--;
        batch.push(d);
        if (batch.length >= DELETE_BATCH) await flush();
      }
      if (stopped) break;
    }
  } catch (error) {
    if (!signal?.aborted) {
      const failure = toStorageError(error);
      stopped = new StorageError(
        failure.code,
        `A listing failed while sync deleted the files the source lacks, so it stopped deleting (${result.deleted.files} deleted before): ${sentence(failure.message)} Run sync again.`,
      );
    }
  }
  if (stopped) {
    // Nothing more is deleted: the batch not sent yet stays, as extras.
    for (const entry of batch) settle(entry.name, "extra", entry.size);
    batch = [];
    result.deletesSkipped = { code: stopped.code, message: stopped.message };
  } else await flush();
  if (signal?.aborted) result.aborted = true;
}
