/**
 * What turns whatever a driver, an SDK or a body stream throws into the StorageError a facade
 * call ends with: its own errors get the call's context, aborts become AbortedError, anything
 * foreign is wrapped as E_BACKEND with `retryable` guessed from its status or network code.
 *
 * Separate from the facade (storage.ts) because the call wrapper, the read path, the bulk deletes
 * and the URL calls all map errors the same way, and the guesses here are their own subject.
 */
import {
  AbortedError,
  BackendError,
  type Operation,
  RETRYABLE_NETWORK_CODES,
  StorageError,
  withContext,
} from "./errors.js";
import type { Driver } from "./types.js";

function isAbortLike(error: unknown): boolean {
  const name = (error as { name?: unknown })?.name;
  return name === "AbortError" || (error as { code?: unknown })?.code === "ABORT_ERR";
}

function looksRetryable(error: unknown): boolean {
  const e = error as {
    code?: unknown;
    statusCode?: unknown;
    status?: unknown;
  };
  // Drivers map their SDK's errors (and decide `retryable`) themselves; this is the guess for
  // whatever still gets through, from the fields HTTP libraries commonly set.
  const status = Number(e?.statusCode ?? e?.status);
  if (status === 429 || (status >= 500 && status < 600)) return true;
  return typeof e?.code === "string" && RETRYABLE_NETWORK_CODES.has(e.code);
}

/** The error a call of `operation` on `path` ends with, for a failure of anything it called. */
export function toStorageError(
  error: unknown,
  operation: Operation,
  path: string | undefined,
  backend: string,
): StorageError {
  const context = { operation, path, backend };
  if (StorageError.isInstance(error)) return withContext(error, context);
  if (isAbortLike(error)) return new AbortedError(undefined, { ...context, cause: error });
  const message = error instanceof Error ? error.message : String(error);
  return new BackendError(`${backend} ${operation} failed: ${message}`, {
    ...context,
    cause: error,
    retryable: looksRetryable(error),
  });
}

/**
 * The error of a stream that broke after open() returned. Nothing of ours aborted it (that would
 * be `scope.fired`), so an SDK's "AbortError" here means it gave up on the connection: a broken
 * body, worth reading again, not the caller's abort.
 */
export function bodyError(driver: Driver, error: unknown, operation: Operation, key: string): StorageError {
  const backend = driver.backend;
  if (driver.streamError) return toStorageError(driver.streamError(error, key), operation, key, backend);
  if (!isAbortLike(error)) return toStorageError(error, operation, key, backend);
  const message = error instanceof Error ? error.message : String(error);
  return new BackendError(`${backend} ${operation} failed: the body broke off before its end (${message}).`, {
    operation,
    path: key,
    backend,
    cause: error,
    retryable: true,
  });
}
