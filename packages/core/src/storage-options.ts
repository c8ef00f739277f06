/**
 * The options of `new Storage(driver, options)`: their interface, the list of their keys, their
 * defaults and limits, and the checks the constructor makes of them.
 *
 * Separate from the facade (storage.ts) because config/ and the CLI need the keys, limits and
 * defaults too, and so the facade file is about its calls. Re-exported by storage.ts.
 */
import { InvalidArgumentError } from "./errors.js";
import type { RetryOptions } from "./retry.js";
import type { Visibility } from "./types.js";

export interface StorageOptions {
  /** Default visibility of saved files. Default: the driver's `defaultVisibility`, else "private". */
  visibility?: Visibility | undefined;
  /**
   * Default for `save()` and `signedUpload()`: false (a taken name gets a random suffix, decided
   * atomically by the backend). Static-file publishing sets true.
   */
  overwrite?: boolean | undefined;
  /** Default timeout of every call, in milliseconds. None by default. */
  timeout?: number | undefined;
  /** Default lifetime of signed URLs and uploads, in seconds. Default 3600. */
  signedUrlExpiresIn?: number | undefined;
  /** Base URL for public files (CDN or custom domain), e.g. "https://cdn.example.com/media/". */
  publicUrl?: string | undefined;
  /**
   * A read whose source sends nothing for this many milliseconds while the consumer waits ends in
   * a TimeoutError (a server that stalls mid-body). A slow consumer never trips it. Default 60 s;
   * 0 turns it off.
   */
  idleTimeout?: number | undefined;
  /**
   * The retry policy of every call (see retry.ts): retryable failures (throttling, 5xx, resets)
   * of operations that are safe to repeat are retried with jittered backoff. Default 4 attempts
   * within 30 s; false turns retries off. The drivers switch their SDKs' own retries off.
   */
  retry?: RetryOptions | false | undefined;
}

/** Every option of `new Storage(driver, options)` (the shortcuts split combined options by it). */
export const STORAGE_OPTION_KEYS = [
  "visibility",
  "overwrite",
  "timeout",
  "signedUrlExpiresIn",
  "publicUrl",
  "idleTimeout",
  "retry",
] as const satisfies readonly (keyof StorageOptions)[];

/** The longest lifetime S3 and GCS accept for a v4 signature: 7 days. */
export const MAX_SIGNED_URL_EXPIRES_IN = 7 * 24 * 3600;
export const DEFAULT_SIGNED_URL_EXPIRES_IN = 3600;
export const DEFAULT_PAGE_SIZE = 1000;
export const DEFAULT_IDLE_TIMEOUT = 60_000;

/** The storage's idle timeout of reads: the option, checked, else the default. */
export function idleTimeoutOption(options: StorageOptions): number {
  const idleTimeout = options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT;
  if (!(Number.isFinite(idleTimeout) && idleTimeout >= 0)) {
    throw new InvalidArgumentError(
      `idleTimeout must be a number of milliseconds (0 turns it off), got ${options.idleTimeout}.`,
    );
  }
  return idleTimeout;
}

/** Throws InvalidArgumentError for a visibility, timeout or publicUrl option that cannot work. */
export function checkStorageOptions(options: StorageOptions): void {
  if (
    options.visibility !== undefined &&
    options.visibility !== "public" &&
    options.visibility !== "private"
  ) {
    throw new InvalidArgumentError(
      `visibility must be "public" or "private", got ${JSON.stringify(options.visibility)}.`,
    );
  }
  if (options.timeout !== undefined && !(Number.isFinite(options.timeout) && options.timeout > 0)) {
    throw new InvalidArgumentError(
      `timeout must be a positive number of milliseconds, got ${options.timeout}.`,
    );
  }
  if (options.publicUrl !== undefined) {
    try {
      if (!/^(https?:\/\/|\/)/.test(options.publicUrl)) throw new Error("not absolute");
      if (!options.publicUrl.startsWith("/")) new URL(options.publicUrl);
    } catch {
      throw new InvalidArgumentError(
        `publicUrl must be an absolute http(s) URL or a path starting with "/", got ${JSON.stringify(options.publicUrl)}.`,
      );
    }
  }
}
