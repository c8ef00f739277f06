/**
 * The bulk deletes behind `deleteMany()` and `deletePrefix()`: the driver's batch call, else one
 * by one with bounded concurrency; a prefix page by page, so memory stays bounded whatever the
 * count; and every file that could not be deleted in one PartialFailureError.
 *
 * Separate from the facade (storage.ts): both calls share the batching and the failure report,
 * and they are the facade's only fan-out over many files.
 */
import pLimit from "p-limit";
import { toStorageError } from "./error-mapping.js";
import { type Operation, PartialFailureError, withContext } from "./errors.js";
import { DEFAULT_PAGE_SIZE } from "./storage-options.js";
import type { Driver } from "./types.js";

/** Fallback deleteMany / copy parallelism for drivers without a batch call. */
const FALLBACK_CONCURRENCY = 16;

/** Deletes `keys` (validated, distinct); throws PartialFailureError listing the ones that failed. */
export async function deleteAll(driver: Driver, keys: string[], signal: AbortSignal): Promise<void> {
  const failures = await deleteKeys(driver, keys, signal);
  if (failures.length > 0) throw partialFailure(driver, "deleteMany", failures, keys.length);
}

/**
 * Deletes every file below `dir` (a normalised prefix), page by page; returns how many were
 * deleted, or throws PartialFailureError listing the ones that could not be (after trying every
 * other one).
 */
export async function deleteBelow(
  driver: Driver,
  dir: string,
  signal: AbortSignal,
): Promise<{ deleted: number }> {
  let deleted = 0;
  let attempted = 0;
  const failures: Array<{ key: string; error: unknown }> = [];
  let cursor: string | undefined;
  do {
    const page = await driver.listPage(dir, {
      signal,
      recursive: true,
      pageSize: DEFAULT_PAGE_SIZE,
      cursor,
    });
    const keys = page.entries.filter((e) => e.type === "file").map((e) => e.name);
    const failed = keys.length ? await deleteKeys(driver, keys, signal) : [];
    attempted += keys.length;
    deleted += keys.length - failed.length;
    failures.push(...failed);
    cursor = page.cursor;
  } while (cursor !== undefined);
  if (failures.length > 0) throw partialFailure(driver, "deletePrefix", failures, attempted);
  return { deleted };
}

/** One batch of deletes: the driver's batch call, else one by one with bounded concurrency. */
async function deleteKeys(
  driver: Driver,
  keys: string[],
  signal: AbortSignal,
): Promise<Array<{ key: string; error: unknown }>> {
  if (driver.deleteMany) return (await driver.deleteMany(keys, { signal })).failures;
  const limit = pLimit(FALLBACK_CONCURRENCY);
  const failures: Array<{ key: string; error: unknown }> = [];
  await Promise.all(
    keys.map((key) =>
      limit(async () => {
        try {
          await driver.delete(key, { signal });
        } catch (error) {
          failures.push({ key, error });
        }
      }),
    ),
  );
  return failures;
}

function partialFailure(
  driver: Driver,
  operation: Operation,
  failures: Array<{ key: string; error: unknown }>,
  total: number,
): PartialFailureError {
  const error = new PartialFailureError(
    `${failures.length} of ${total} files could not be deleted (first: "${failures[0]!.key}").`,
  );
  error.failures = failures.map(({ key, error: cause }) => ({
    path: key,
    error: toStorageError(cause, "delete", key, driver.backend),
  }));
  error.retryable = error.failures.every((f) => f.error.retryable);
  return withContext(error, { operation, backend: driver.backend });
}
