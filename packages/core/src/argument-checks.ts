/**
 * The checks of a call's arguments that are more than a name: a signed URL's lifetime, a byte
 * range, custom metadata, a requested visibility, a read's idle timeout. They throw before the
 * driver is asked, with errors a caller can act on.
 *
 * Separate from the facade (storage.ts) so that its methods read as what they do, and so that the
 * portability rules (what every service accepts) are in one place.
 */
import { toStorageError } from "./error-mapping.js";
import { InvalidArgumentError, type Operation, type StorageError, UnsupportedError } from "./errors.js";
import { MAX_SIGNED_URL_EXPIRES_IN } from "./storage-options.js";
import type { ByteRange, Capabilities, Driver, Visibility } from "./types.js";

/** Metadata keys every service accepts (S3/Azure headers, GCS): lower-case token characters. */
const METADATA_KEY = /^[a-z0-9][a-z0-9_-]*$/;

export function checkExpiresIn(expiresIn: number): number {
  if (!Number.isSafeInteger(expiresIn) || expiresIn < 1 || expiresIn > MAX_SIGNED_URL_EXPIRES_IN) {
    throw new InvalidArgumentError(
      `expiresIn must be a whole number of seconds from 1 to ${MAX_SIGNED_URL_EXPIRES_IN} (7 days), got ${expiresIn}.`,
    );
  }
  return expiresIn;
}

export function checkRange(range: ByteRange, wrap: (error: unknown) => StorageError): void {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || start < 0) {
    throw wrap(new InvalidArgumentError(`range.start must be a non-negative integer, got ${start}.`));
  }
  if (end !== undefined && (!Number.isSafeInteger(end) || end < start)) {
    throw wrap(
      new InvalidArgumentError(`range.end must be an integer >= range.start (${start}), got ${end}.`),
    );
  }
}

/**
 * Content-Type, Cache-Control, Content-Disposition and Content-Encoding travel as HTTP header
 * values (and fs records serve them as such): strings without control characters, so none can
 * end its header and start another.
 */
export function checkHeaderOptions(options: {
  contentType?: string | undefined;
  cacheControl?: string | undefined;
  contentDisposition?: string | undefined;
  contentEncoding?: string | undefined;
}): void {
  for (const field of ["contentType", "cacheControl", "contentDisposition", "contentEncoding"] as const) {
    const value = options[field];
    if (value === undefined) continue;
    // Node's own rule for a header value (validateHeaderValue): tab, printable ASCII and Latin-1
    // bytes. Anything else is stored fine and then fails every response that sends it.
    if (typeof value !== "string" || /[^\t\x20-\x7e\x80-\xff]/.test(value)) {
      throw new InvalidArgumentError(
        `${field} must be a header value without control characters (no line breaks) or characters beyond Latin-1${field === "contentDisposition" ? " (for a non-ASCII file name, build the value with contentDisposition())" : ""}; got ${JSON.stringify(String(value).slice(0, 100))}.`,
      );
    }
  }
}

export function checkMetadata(
  metadata: Record<string, string> | undefined,
  capabilities: Capabilities,
): void {
  if (metadata === undefined) return;
  const entries = Object.entries(metadata);
  if (entries.length === 0) return;
  if (!capabilities.metadata) {
    throw new UnsupportedError(
      "This backend does not store custom metadata. Remove `metadata` from the save options.",
    );
  }
  for (const [key, value] of entries) {
    if (!METADATA_KEY.test(key)) {
      throw new InvalidArgumentError(
        `Metadata key ${JSON.stringify(key)} is not portable: use lower-case letters, digits, "-" and "_", starting with a letter or digit.`,
      );
    }
    if (typeof value !== "string" || !/^[\x20-\x7e]*$/.test(value)) {
      throw new InvalidArgumentError(
        `Metadata value for ${JSON.stringify(key)} must be printable ASCII (it travels in an HTTP header); encode other text, e.g. with encodeURIComponent.`,
      );
    }
  }
}

/**
 * The visibility a save or setVisibility gives the file: the storage's unless another is asked
 * for, which only a backend with per-object visibility can do.
 */
export function resolveVisibility(
  storage: { readonly driver: Driver; readonly visibility: Visibility },
  operation: Operation,
  path: string,
  requested: Visibility | undefined,
): Visibility {
  if (requested === undefined || requested === storage.visibility) return storage.visibility;
  const backend = storage.driver.backend;
  if (requested !== "public" && requested !== "private") {
    throw toStorageError(
      new InvalidArgumentError(`visibility must be "public" or "private", got ${JSON.stringify(requested)}.`),
      operation,
      path,
      backend,
    );
  }
  if (storage.driver.capabilities.visibility !== "object") {
    throw toStorageError(
      new UnsupportedError(
        `The ${backend} backend has one visibility for the whole storage (${storage.visibility}); it cannot make one file ${requested}. Configure a separate ${requested} storage (e.g. named "${requested}").`,
      ),
      operation,
      path,
      backend,
    );
  }
  return requested;
}

/** A read's idle timeout: the call's (checked), else the storage's. */
export function idleTimeoutOf(
  storage: { readonly driver: Driver; readonly idleTimeout: number },
  operation: Operation,
  key: string,
  requested: number | undefined,
): number {
  if (requested === undefined) return storage.idleTimeout;
  if (Number.isFinite(requested) && requested >= 0) return requested;
  throw toStorageError(
    new InvalidArgumentError(
      `idleTimeout must be a number of milliseconds (0 turns it off), got ${requested}.`,
    ),
    operation,
    key,
    storage.driver.backend,
  );
}
