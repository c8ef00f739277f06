/**
 * sync's delete phase: destination files the source does not have, deleted in batches after every
 * copy succeeded, never more than `maxDelete`. Its own module because it lists both sides again
 * (rather than remembering the extras of the comparison pass), so memory stays flat.
 */
import { PartialFailureError, type StorageError } from "@storages/core";
import { listFiles, READ_AHEAD, type Side } from "./endpoints.js";
import { toStorageError } from "./failures.js";
import { joinListings, type ListedFile } from "./join.js";
import type { MigrationOptions } from "./options.js";
import { readAhead } from "./read-ahead.js";
import { emptyCount, type MigrationResult, type Outcome } from "./result.js";

const DELETE_BATCH = 1000;

/**
 * The delete phase of sync, after every copy succeeded: the listings are compared again (memory
 * stays flat, and a file that appeared at the source meanwhile is not deleted), and destination
 * files the source does not have are deleted in batches, never more than maxDelete.
 */
export async function deleteExtras(
  source: Side,
  destination: Side,
  select: (name: string) => boolean,
  options: MigrationOptions,
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
  for await (const joined of joinListings(
    readAhead(listFiles(source, select, signal), READ_AHEAD),
    readAhead(listFiles(destination, select, signal), READ_AHEAD),
  )) {
    if (signal?.aborted) break;
    for (const { name, source: s, destination: d } of joined) {
      if (s || !d) continue;
      if (budget <= 0) {
        settle(name, "extra", d.size);
        continue;
      }
      budget--;
      batch.push(d);
      if (batch.length >= DELETE_BATCH) await flush();
    }
  }
  await flush();
  if (signal?.aborted) result.aborted = true;
}
