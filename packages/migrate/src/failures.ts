/**
 * How a file's failure is handled: any error becomes a `StorageError` (its stable code goes into the
 * result), and the one retry a migration adds to core's — a whole file again after its streamed body
 * broke mid-way, which no single storage call can repeat.
 */
import { type ResolvedRetry, type Storage, StorageError } from "@storages/core";

/**
 * A body streamed from `open()` into `save()` spans two calls, and core cannot repeat either alone
 * once bytes flowed: a download reset mid-body, or an upload part refused, fails the save after one
 * attempt (core marks it `attempts: 1`). Such a file is copied again from its first byte, under the
 * stricter of the two storages' retry policies. Failures core retried already (a refused open(),
 * stat() or whole read) are not retried again, and neither is a changed source (no `attempts`).
 */
export function fileRetry(source: Storage, destination: Storage): ResolvedRetry {
  return { ...destination.retry, attempts: Math.min(source.retry.attempts, destination.retry.attempts) };
}

export function streamBroken(error: StorageError): boolean {
  return error.attempts === 1;
}

export function toStorageError(error: unknown): StorageError {
  if (StorageError.isInstance(error)) return error;
  return new StorageError("E_BACKEND", (error as Error)?.message ?? String(error), { cause: error });
}

/** A message quoted inside another, ended as a sentence so the next one reads apart from it. */
export function sentence(message: string): string {
  return /[.!?]$/.test(message.trimEnd()) ? message.trimEnd() : `${message.trimEnd()}.`;
}
