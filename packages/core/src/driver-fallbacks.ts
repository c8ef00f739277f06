/**
 * What the facade does in place of an optional driver method the driver lacks: `exists` from
 * `stat`, a copy streamed through `read` and `write` for a driver without `copy`, and a move as
 * copy + delete for a driver without `move`.
 *
 * Separate from the facade (storage.ts) because several calls share them (exists() and a save's
 * name check; copy() and move()), and each is a small protocol of its own over the driver.
 */
import { StorageError } from "./errors.js";
import { guessContentType } from "./headers.js";
import type { ResolvedRetry } from "./retry.js";
import { retrying } from "./retrying.js";
import type { Driver, Visibility } from "./types.js";

export async function driverExists(driver: Driver, key: string, signal: AbortSignal): Promise<boolean> {
  if (driver.exists) return driver.exists(key, { signal });
  try {
    await driver.stat(key, { signal });
    return true;
  } catch (error) {
    if (StorageError.hasCode(error, "E_NOT_FOUND")) return false;
    throw error;
  }
}

/** A copy as a read of the source and a write of the target, keeping its headers and metadata. */
export async function streamCopy(
  driver: Driver,
  source: string,
  target: string,
  overwrite: boolean,
  visibility: Visibility,
  signal: AbortSignal,
): Promise<void> {
  const stat = await driver.stat(source, { signal });
  const body = await driver.read(source, { signal });
  await driver.write(target, body, {
    signal,
    contentType: stat.contentType ?? guessContentType(target),
    cacheControl: stat.cacheControl,
    contentDisposition: stat.contentDisposition,
    contentEncoding: stat.contentEncoding,
    metadata: stat.metadata,
    visibility: stat.visibility ?? visibility,
    size: stat.size,
    ifNotExists: !overwrite,
  });
}

/**
 * A move for a driver without a native one: copy, then delete the source. Each step retries on
 * its own (the copy only when it replaces the destination), so a retry never repeats a step that
 * succeeded.
 */
export async function moveByCopy(
  storage: { readonly driver: Driver; readonly visibility: Visibility },
  source: string,
  target: string,
  overwrite: boolean,
  signal: AbortSignal,
  policy: ResolvedRetry,
): Promise<void> {
  const { driver } = storage;
  await retrying(
    driver.backend,
    "move",
    source,
    signal,
    () =>
      driver.copy
        ? driver.copy(source, target, { signal, overwrite })
        : streamCopy(driver, source, target, overwrite, storage.visibility, signal),
    overwrite,
    policy,
  );
  await retrying(
    driver.backend,
    "move",
    source,
    signal,
    () => driver.delete(source, { signal }),
    true,
    policy,
  );
}
