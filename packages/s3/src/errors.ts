/**
 * S3 service errors → StorageError subclasses. Callers branch on codes, so every S3 error name and
 * status that means the same thing maps to the same class, with `retryable` set for throttling,
 * 5xx and network failures, and the SDK error kept as `cause`.
 */
import {
  AbortedError,
  AlreadyExistsError,
  BackendError,
  ConfigError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  PreconditionFailedError,
  parseRetryAfter,
  RangeNotSatisfiableError,
  RETRYABLE_NETWORK_CODES,
  StorageError,
  safeCause,
  TimeoutError,
  UnsupportedError,
} from "@storages/core";

export interface ErrorContext {
  /** The storage-relative name involved, for messages. */
  key?: string | undefined;
  bucket: string;
  /** The write was create-exclusive: a failed precondition means the name is taken. */
  ifNotExists?: boolean | undefined;
  /** The call's signal: its reason tells an abort from a timeout. */
  signal?: AbortSignal | undefined;
}

/**
 * The driver's error mapper with its bucket bound: what the helper modules (listing, batch delete,
 * ACLs) are handed, so every failure is mapped in one place, with the same context.
 */
export type FailFunction = (error: unknown, context: Omit<ErrorContext, "bucket">) => StorageError;

interface SdkErrorShape {
  name?: string;
  Code?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
  /** The raw response (smithy sets it, non-enumerable, on service errors). */
  $response?: { headers?: Record<string, string | undefined> };
}

const THROTTLING = new Set([
  "SlowDown",
  "Throttling",
  "ThrottlingException",
  "RequestLimitExceeded",
  "TooManyRequests",
  "TooManyRequestsException",
  "ServiceUnavailable",
]);
const TRANSIENT = new Set([
  "InternalError",
  "RequestTimeout",
  "RequestTimeTooSkewed",
  "OperationAborted",
  "TimeoutError",
]);
const CREDENTIAL_ERRORS = new Set([
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "InvalidToken",
  "ExpiredToken",
  "TokenRefreshRequired",
]);

export function errorName(error: unknown): string {
  const e = error as SdkErrorShape | undefined;
  return String(e?.name ?? e?.Code ?? e?.code ?? "Error");
}

export function httpStatus(error: unknown): number | undefined {
  return (error as SdkErrorShape | undefined)?.$metadata?.httpStatusCode;
}

/** A short, secret-free description of an SDK error: "NoSuchBucket (HTTP 404)". */
function describe(error: unknown): string {
  const name = errorName(error);
  const status = httpStatus(error);
  const raw = (error as SdkErrorShape | undefined)?.message ?? "";
  // The SDK says "UnknownError" when a response had no body (HEAD): the name and status say more.
  const message =
    raw && raw !== "UnknownError" && raw !== name ? `: ${raw.split("\n")[0]!.slice(0, 300)}` : "";
  return `${name}${status ? ` (HTTP ${status})` : ""}${message}`;
}

function isAbort(error: unknown, signal: AbortSignal | undefined): boolean {
  const name = errorName(error);
  return (
    name === "AbortError" ||
    (error as SdkErrorShape | undefined)?.code === "ABORT_ERR" ||
    (signal?.aborted === true && !httpStatus(error))
  );
}

/** Maps anything an S3 call throws to a StorageError. StorageErrors pass through unchanged. */
export function toStorageError(error: unknown, context: ErrorContext): StorageError {
  if (StorageError.isInstance(error)) return error;
  // A server's error may quote the request (signed URL, Authorization): keep no secret in the cause.
  const options = { cause: safeCause(error) };
  const name = errorName(error);
  const status = httpStatus(error);
  const what = context.key === undefined ? `bucket "${context.bucket}"` : `"${context.key}"`;

  if (isAbort(error, context.signal)) {
    const reason: unknown = context.signal?.reason;
    if (StorageError.isInstance(reason)) return reason;
    if ((reason as { name?: string } | undefined)?.name === "TimeoutError")
      return new TimeoutError(undefined, options);
    return new AbortedError(undefined, options);
  }
  if (name === "NoSuchBucket") {
    return new ConfigError(
      `The bucket "${context.bucket}" does not exist (or is in another account): create it, or fix the bucket option.`,
      options,
    );
  }
  if (name === "NoSuchKey" || name === "NotFound" || status === 404) {
    return new NotFoundError(`${what} does not exist.`, options);
  }
  if (name === "PreconditionFailed" || status === 412 || name === "ConditionalRequestConflict") {
    if (context.ifNotExists)
      return new AlreadyExistsError(`${what} already exists.`, {
        ...options,
        retryable: name === "ConditionalRequestConflict",
      });
    return new PreconditionFailedError(undefined, options);
  }
  if (name === "InvalidRange" || status === 416) {
    return new RangeNotSatisfiableError(`The requested range starts past the end of ${what}.`, options);
  }
  if (name === "AccessControlListNotSupported") {
    return new ConfigError(
      `The bucket "${context.bucket}" has ACLs disabled (Object Ownership "bucket owner enforced"), so per-file visibility cannot be set: configure acl: false and make public files public through a bucket policy (or a CDN).`,
      options,
    );
  }
  if (CREDENTIAL_ERRORS.has(name)) {
    return new PermissionDeniedError(
      `The service refused the credentials (${name}): check the access key id, secret and session token, and the region (signatures include it).`,
      options,
    );
  }
  if (
    name === "AuthorizationHeaderMalformed" ||
    name === "PermanentRedirect" ||
    name === "IllegalLocationConstraintException" ||
    status === 301
  ) {
    return new ConfigError(
      `The bucket "${context.bucket}" is not where the client looked (${describe(error)}): set region to the bucket's region, or check endpoint.`,
      options,
    );
  }
  if (name === "AccessDenied" || name === "AllAccessDisabled" || status === 403) {
    return new PermissionDeniedError(
      `Access denied for ${what} (${describe(error)}): the credentials lack the permission this operation needs (see the IAM policy in the S3 backend docs).`,
      options,
    );
  }
  if (
    name === "EntityTooLarge" ||
    name === "EntityTooSmall" ||
    name === "InvalidArgument" ||
    name === "KeyTooLongError" ||
    name === "MetadataTooLarge"
  ) {
    return new InvalidArgumentError(
      `The service refused the request for ${what}: ${describe(error)}.`,
      options,
    );
  }
  if (name === "NotImplemented" || status === 501) {
    return new UnsupportedError(
      `This S3-compatible server does not implement the operation (${describe(error)}): check the provider profile.`,
      options,
    );
  }
  if (name === "InvalidBucketName")
    return new ConfigError(`The bucket name "${context.bucket}" is invalid: ${describe(error)}.`, options);
  if (
    name === "CredentialsProviderError" ||
    /Could not load credentials|Region is missing/i.test(String((error as SdkErrorShape)?.message))
  ) {
    return new ConfigError(
      `S3 is not configured: ${describe(error)}. Set credentials (STORAGES_<NAME>_ACCESS_KEY_ID / _SECRET_ACCESS_KEY, AWS_* variables or an instance role) and region.`,
      options,
    );
  }
  const code = (error as SdkErrorShape | undefined)?.code;
  const retryable =
    THROTTLING.has(name) ||
    TRANSIENT.has(name) ||
    status === 429 ||
    (status !== undefined && status >= 500) ||
    (typeof code === "string" && RETRYABLE_NETWORK_CODES.has(code)) ||
    (error as SdkErrorShape | undefined)?.$retryable !== undefined;
  return new BackendError(`S3 request for ${what} failed: ${describe(error)}.`, {
    ...options,
    retryable,
    retryAfter: retryable
      ? parseRetryAfter((error as SdkErrorShape | undefined)?.$response?.headers?.["retry-after"])
      : undefined,
  });
}
