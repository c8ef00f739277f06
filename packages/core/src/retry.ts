/**
 * The one retry policy: every driver call the facade makes goes through it, so faults are handled
 * the same way on every backend (the cloud SDKs' own retries are switched off by the drivers, so
 * the two never multiply).
 *
 * - Only errors marked `retryable` (throttling, 5xx, connection resets, timeouts of one attempt)
 *   are retried, and only by operations that are safe to repeat: the facade decides per call.
 * - Jittered exponential backoff ("full jitter": a random wait up to base·2^n, capped), or the
 *   service's own Retry-After/SlowDown hint when it gives one.
 * - Within an attempt budget and a time budget; the call's signal and timeout cover every attempt
 *   and every wait, so a retry never outlives its caller.
 * - Every retry is visible: `onRetry` hears about it before the wait.
 */
import { abortError } from "./abort.js";
import { InvalidArgumentError, type Operation, type StorageError } from "./errors.js";
import { parseHttpDate } from "./http-date.js";

export interface RetryEvent {
  operation: Operation;
  path: string | undefined;
  backend: string;
  /** The attempt that failed, from 1. */
  attempt: number;
  /** The wait before the next attempt, in ms. */
  delay: number;
  error: StorageError;
}

export interface RetryOptions {
  /** Attempts in all, the first included. Default 4; 1 turns retries off. */
  attempts?: number | undefined;
  /** The first backoff's cap, in ms; each retry doubles it. Default 100. */
  baseDelay?: number | undefined;
  /** The longest wait between two attempts, in ms. Default 5,000. */
  maxDelay?: number | undefined;
  /** No retry starts later than this many ms after the first attempt. Default 30,000. */
  budget?: number | undefined;
  /** Told about every retry, before its wait (log it, count it). Must not throw. */
  onRetry?: ((event: RetryEvent) => void) | undefined;
}

export interface ResolvedRetry {
  attempts: number;
  baseDelay: number;
  maxDelay: number;
  budget: number;
  onRetry: ((event: RetryEvent) => void) | undefined;
}

export const DEFAULT_RETRY: Readonly<ResolvedRetry> = Object.freeze({
  attempts: 4,
  baseDelay: 100,
  maxDelay: 5_000,
  budget: 30_000,
  onRetry: undefined,
});

const RETRY_KEYS = ["attempts", "baseDelay", "maxDelay", "budget", "onRetry"];

export function resolveRetry(options: RetryOptions | false | undefined): ResolvedRetry {
  if (options === false) return { ...DEFAULT_RETRY, attempts: 1 };
  if (options === undefined) return DEFAULT_RETRY;
  if (typeof options !== "object" || options === null) {
    throw new InvalidArgumentError(
      `retry must be an object of retry options or false, got ${typeof options}.`,
    );
  }
  for (const key of Object.keys(options)) {
    if (!RETRY_KEYS.includes(key)) {
      throw new InvalidArgumentError(
        `retry: unknown option ${JSON.stringify(key)}. Valid options: ${RETRY_KEYS.join(", ")}.`,
      );
    }
  }
  const number = (key: "attempts" | "baseDelay" | "maxDelay" | "budget", min: number, integer: boolean) => {
    const value = options[key] ?? DEFAULT_RETRY[key];
    if (
      typeof value !== "number" ||
      !Number.isFinite(value) ||
      value < min ||
      (integer && !Number.isInteger(value))
    ) {
      throw new InvalidArgumentError(
        `retry.${key} must be ${integer ? "a whole number" : "a number"} ≥ ${min}, got ${String(value)}.`,
      );
    }
    return value;
  };
  if (options.onRetry !== undefined && typeof options.onRetry !== "function") {
    throw new InvalidArgumentError("retry.onRetry must be a function.");
  }
  return {
    attempts: number("attempts", 1, true),
    baseDelay: number("baseDelay", 0, false),
    maxDelay: number("maxDelay", 0, false),
    budget: number("budget", 0, false),
    onRetry: options.onRetry,
  };
}

/** The wait before retry `n` (1 for the first retry): full jitter, or the service's hint. */
export function backoff(
  policy: ResolvedRetry,
  retry: number,
  error: StorageError,
  random = Math.random,
): number {
  if (error.retryAfter !== undefined && Number.isFinite(error.retryAfter) && error.retryAfter >= 0) {
    return Math.min(error.retryAfter, policy.maxDelay);
  }
  const cap = Math.min(policy.maxDelay, policy.baseDelay * 2 ** (retry - 1));
  return Math.round(random() * cap);
}

/**
 * A Retry-After header in ms (RFC 9110: delay-seconds or an HTTP-date), for drivers to put on
 * `StorageError.retryAfter`. Undefined when absent or unreadable.
 */
export function parseRetryAfter(value: unknown, now = Date.now()): number | undefined {
  if (typeof value !== "string" || value.trim() === "") return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = parseHttpDate(text);
  return date === undefined ? undefined : Math.max(0, date - now);
}

/** Sleeps `ms`, or rejects with the signal's error as soon as it fires. */
function wait(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

export interface RetryCall {
  operation: Operation;
  path: string | undefined;
  backend: string;
  signal: AbortSignal;
  /** Turns whatever an attempt threw into a StorageError (with `retryable` decided). */
  toError: (error: unknown) => StorageError;
  /**
   * Whether this call may be repeated after `error` (the operation is idempotent, the body can be
   * sent again…). Default: yes. Asked only for retryable errors.
   */
  canRepeat?: ((error: StorageError) => boolean) | undefined;
}

/**
 * A first attempt the caller made itself, outside withRetry (a hot path that sets up no retry
 * state unless it fails): when it started and what it threw.
 */
export interface FailedAttempt {
  started: number;
  error: unknown;
}

/**
 * Runs `attempt` until it succeeds, fails with an error that is not retryable, may not be repeated,
 * or the budget is spent. The error thrown is the last attempt's, with `attempts` set.
 */
export async function withRetry<T>(
  policy: ResolvedRetry,
  call: RetryCall,
  attempt: () => Promise<T>,
  firstAttempt?: FailedAttempt,
): Promise<T> {
  const started = firstAttempt?.started ?? Date.now();
  for (let n = 1; ; n++) {
    try {
      if (n === 1 && firstAttempt) throw firstAttempt.error;
      return await attempt();
    } catch (thrown) {
      const error = call.toError(thrown);
      const last =
        n >= policy.attempts || !error.retryable || call.signal.aborted || !(call.canRepeat?.(error) ?? true);
      const delay = last ? 0 : backoff(policy, n, error);
      if (last || Date.now() + delay - started > policy.budget) {
        error.attempts = n;
        throw error;
      }
      try {
        policy.onRetry?.({
          operation: call.operation,
          path: call.path,
          backend: call.backend,
          attempt: n,
          delay,
          error,
        });
      } catch {
        // A logging hook must not change the outcome of the call.
      }
      await wait(delay, call.signal);
    }
  }
}
