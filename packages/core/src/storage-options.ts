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

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this refuses
const UNSAFE_URL_CHARACTER = /[\s\u0000-\u001f\u007f-\u009f]/u;

/**
 * The first character that makes a public base URL unfit to hand out, else undefined: `what`
 * names it and its position, `encoded` is its percent-encoded form. A line break, control
 * character or space (any white space) is kept as it is in the URLs the facade builds (`new URL`
 * does not see them: WHATWG parsing drops tabs and line breaks and encodes the rest), and so
 * reaches HTML, Location headers and the generated web-server configurations, where a line break
 * starts a new directive.
 */
export function unsafeUrlCharacter(url: string): { what: string; encoded: string } | undefined {
  const match = UNSAFE_URL_CHARACTER.exec(url);
  if (match === null) return undefined;
  const c = match[0];
  const code = `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
  const kind =
    c === " "
      ? "a space"
      : /[\n\r\v\f\u0085\u2028\u2029]/u.test(c)
        ? "a line break"
        : c === "\t" || /\P{White_Space}/u.test(c)
          ? "a control character"
          : "white space";
  return { what: `${kind} (${code}) at character ${match.index + 1}`, encoded: encodeURIComponent(c) };
}

/** Why such a URL is refused: the end of every message refusing one. */
export const UNSAFE_URL_REASON =
  "a URL handed to browsers and written into web-server configurations cannot hold line breaks, control characters or spaces";

/** The problem of a base URL with such a character, to finish a sentence naming the option; else undefined. */
export function unsafeUrlProblem(url: string): string | undefined {
  const unsafe = unsafeUrlCharacter(url);
  return unsafe && `holds ${unsafe.what}: percent-encode it (${unsafe.encoded}); ${UNSAFE_URL_REASON}`;
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
    const unsafe = typeof options.publicUrl === "string" ? unsafeUrlProblem(options.publicUrl) : undefined;
    // Not echoed: the character breaks the message as it breaks the URL.
    if (unsafe !== undefined) throw new InvalidArgumentError(`publicUrl ${unsafe}.`);
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
