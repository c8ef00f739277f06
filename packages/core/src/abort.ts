/**
 * The one abort and timeout mechanism: the facade's call scope and every driver use these, so an
 * aborted, timed-out or stalled call ends the same way on every backend.
 *
 * Three rules hold everywhere:
 * - a call settles as soon as its signal fires, even when the work under it (an SDK call that cannot
 *   be cancelled, a body stalled inside an async generator) does not react;
 * - whatever that work produces late (a stream, a file handle) is released, never leaked;
 * - a stream destroyed by an abort never crashes the process, even when nobody listens to it yet.
 */
import type { Readable } from "node:stream";
import { AbortedError, StorageError, TimeoutError } from "./errors.js";

const ignore = () => {};

/** The StorageError a fired signal stands for: its reason when that is one, else AbortedError. */
export function abortError(signal: AbortSignal): StorageError {
  const reason: unknown = signal.reason;
  if (StorageError.isInstance(reason)) return reason;
  return new AbortedError(undefined, { cause: reason });
}

export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw abortError(signal);
}

/**
 * Destroys a stream without risking an unhandled 'error' event: a stream handed out (or produced
 * late) may have no 'error' listener yet, and Node would crash the process on the error we inject.
 * A consumer that attaches later still sees the error (the stream is errored and destroyed).
 */
export function releaseStream(stream: Readable, error?: Error): void {
  if (stream.listenerCount("error") === 0) stream.once("error", ignore);
  stream.destroy(error);
}

/**
 * Makes every error a stream fails with a StorageError: a driver's stream that breaks mid-body
 * (a reset socket, a body cut short) fails with its SDK's own error long after the call that
 * opened it returned, and the caller reading it must get the same typed error, code and
 * `retryable` as from any other call. Node hands a stream's errors to its listeners through
 * `destroy(error)` (pipelines and the http client call it too), so that is where they are
 * translated: no extra stream in the data path.
 */
export function translateStreamErrors(stream: Readable, toError: (error: unknown) => StorageError): void {
  const destroy = stream.destroy;
  stream.destroy = function (this: Readable, error?: Error) {
    return destroy.call(this, error === undefined || StorageError.isInstance(error) ? error : toError(error));
  };
}

/**
 * Settles with `abortError(signal)` as soon as `signal` fires, whatever `work` does. If `work`
 * still fulfils after that, `release` receives its value (close the handle, destroy the stream);
 * a late rejection is swallowed (the caller already has its answer).
 */
export function settleOnAbort<T>(
  work: Promise<T>,
  signal: AbortSignal,
  release?: (late: T) => void,
): Promise<T> {
  const abandon = () => {
    work.then((late) => release?.(late), ignore);
  };
  if (signal.aborted) {
    abandon();
    return Promise.reject(abortError(signal));
  }
  return new Promise<T>((resolve, reject) => {
    let abandoned = false;
    const onAbort = () => {
      abandoned = true;
      abandon();
      reject(abortError(signal));
    };
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        if (!abandoned) resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        if (!abandoned) reject(error);
      },
    );
  });
}

/**
 * Watches a read stream for a source that stalls: fires `onIdle` when the stream has been waiting
 * for data from its source (its consumer asked for more) for `idleMs` without receiving a chunk.
 * A slow consumer never trips it: while the consumer is not asking, the clock does not run.
 *
 * It hooks the stream's own `_read` (called when the consumer wants data) and `push` (called when
 * the source delivers), so it adds no stream stage and no per-chunk timer: one timer, refreshed.
 * Returns a function that stops watching (also called on 'close').
 */
export function watchIdle(
  stream: Readable,
  idleMs: number,
  onIdle: (error: TimeoutError) => void,
): () => void {
  let waitingSince: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  const originalRead = stream._read;
  const originalPush = stream.push;
  const check = () => {
    timer = undefined;
    if (waitingSince === undefined) return;
    const waited = Date.now() - waitingSince;
    if (waited >= idleMs) {
      stop();
      onIdle(
        new TimeoutError(
          `The read received no data for ${idleMs} ms (the server stalled mid-body); raise idleTimeout if the backend is that slow.`,
        ),
      );
      return;
    }
    timer = setTimeout(check, idleMs - waited);
    timer.unref();
  };
  const stop = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    waitingSince = undefined;
    if (stream._read !== originalRead) stream._read = originalRead;
    if (stream.push !== originalPush) stream.push = originalPush;
    stream.off("close", stop);
  };
  stream._read = function (this: Readable, size: number) {
    if (waitingSince === undefined) {
      waitingSince = Date.now();
      // A timer still pending from an earlier wait re-checks the remaining time when it fires.
      if (!timer) {
        timer = setTimeout(check, idleMs);
        timer.unref();
      }
    }
    return originalRead.call(this, size);
  };
  stream.push = function (this: Readable, chunk: unknown, encoding?: BufferEncoding) {
    waitingSince = undefined;
    if (chunk === null) stop();
    return originalPush.call(this, chunk, encoding);
  };
  stream.once("close", stop);
  return stop;
}
