/**
 * One step of a facade call under the retry policy: `withRetry` (retry.ts) given the call's
 * context, with every failure mapped to the StorageError the call would end with.
 *
 * Separate from the facade (storage.ts) because a call's wrapper (`Storage.run`) and the steps of
 * its composite operations (a save's sends and name checks, a move's copy and delete) retry alike.
 */
import { toStorageError } from "./error-mapping.js";
import type { Operation, StorageError } from "./errors.js";
import { type FailedAttempt, type ResolvedRetry, withRetry } from "./retry.js";

/** Whether a failed attempt may be repeated: always, never, or decided by the error. */
export type Repeat = boolean | ((error: StorageError) => boolean);

/** One step of a call under the retry policy (the steps of a composite operation retry on their own). */
export function retrying<T>(
  backend: string,
  operation: Operation,
  path: string | undefined,
  signal: AbortSignal,
  attempt: () => Promise<T>,
  repeat: Repeat,
  policy: ResolvedRetry,
  firstAttempt?: FailedAttempt,
): Promise<T> {
  return withRetry(
    policy,
    {
      operation,
      path,
      backend,
      signal,
      toError: (error) => toStorageError(error, operation, path, backend),
      canRepeat: typeof repeat === "function" ? repeat : () => repeat,
    },
    attempt,
    firstAttempt,
  );
}
