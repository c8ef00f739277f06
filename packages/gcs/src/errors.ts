/**
 * Translation of @google-cloud/storage failures into StorageError subclasses.
 *
 * The SDK throws several shapes: ApiError (`code` = HTTP status) from JSON API calls, GaxiosError
 * (`status` / `response.status`) from resumable uploads and signBlob, plain Errors with a Node
 * `code` for network failures, SigningError for URL signing, and RequestError for integrity checks.
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
  redactSecrets,
  StorageError,
  safeCause,
} from "@storages/core";

export interface ErrorContext {
  bucket: string;
  /** The full object name in the bucket (with the driver's prefix), for messages. */
  object?: string | undefined;
  /** The call carried `ifGenerationMatch: 0`: a 412 means the name is taken. */
  createExclusive?: boolean | undefined;
  signal?: AbortSignal | undefined;
}

/** The HTTP status an SDK error carries, whichever shape it has. */
export function httpStatus(error: unknown): number | undefined {
  const e = error as {
    code?: unknown;
    status?: unknown;
    statusCode?: unknown;
    response?: { status?: unknown; statusCode?: unknown };
  };
  for (const candidate of [e?.code, e?.status, e?.statusCode, e?.response?.status, e?.response?.statusCode]) {
    const status = typeof candidate === "string" && /^\d{3}$/.test(candidate) ? Number(candidate) : candidate;
    if (typeof status === "number" && status >= 100 && status < 600) return status;
  }
  return undefined;
}

/** A response header of an SDK error (ApiError and GaxiosError keep the response, in two shapes). */
function responseHeader(error: unknown, name: string): unknown {
  const headers = (error as { response?: { headers?: unknown } })?.response?.headers;
  if (headers === null || typeof headers !== "object") return undefined;
  if (typeof (headers as Headers).get === "function") return (headers as Headers).get(name) ?? undefined;
  return (headers as Record<string, unknown>)[name];
}

/**
 * The resumable upload's own verdict: it fails with a plain Error whose text alone says that the
 * failure was transient ("Retry limit exceeded - … - status: 503 - code: ECONNRESET").
 */
function resumableFailure(error: unknown): { status: number | undefined } | undefined {
  const message = error instanceof Error ? error.message : "";
  if (!/^Retry (total time )?limit exceeded - /.test(message)) return undefined;
  const status = /\bstatus: (\d{3})\b/.exec(message)?.[1];
  return { status: status === undefined ? undefined : Number(status) };
}

function messageOf(error: unknown): string {
  // Redact before cutting: a PEM block spans lines, and a cut one would no longer match.
  const raw = redactSecrets(error instanceof Error ? error.message : String(error));
  // ApiError messages can be a whole HTML or JSON body: keep the first line, bounded.
  return raw.split("\n")[0]!.slice(0, 300);
}

function isAbort(error: unknown): boolean {
  const e = error as { name?: unknown; code?: unknown };
  return e?.name === "AbortError" || e?.code === "ABORT_ERR";
}

function where(context: ErrorContext): string {
  return context.object === undefined ? `gs://${context.bucket}` : `gs://${context.bucket}/${context.object}`;
}

/**
 * Messages for signing failures. Signing without a key file goes through the IAM Credentials
 * API (signBlob) as the runtime service account, which needs a role most accounts lack.
 */
function signingError(error: unknown): StorageError {
  const message = messageOf(error);
  const cause = safeCause(error);
  if (/client_email|private_key|Cannot sign data without/i.test(message)) {
    return new ConfigError(
      `Cannot sign: the credentials have no service-account identity (${message}). Use a service account: a key file/JSON (credentials, keyFilename), or Application Default Credentials of a service account (GKE Workload Identity, Cloud Run, GCE). User credentials from \`gcloud auth application-default login\` cannot sign URLs.`,
      { cause },
    );
  }
  if (/signBlob|iam\.serviceAccounts|PERMISSION_DENIED|Permission|403/i.test(message)) {
    return new PermissionDeniedError(
      `Cannot sign without a key file: the IAM Credentials API refused signBlob (${message}). Grant the runtime service account roles/iam.serviceAccountTokenCreator on itself (permission iam.serviceAccounts.signBlob), and enable the IAM Service Account Credentials API (iamcredentials.googleapis.com) in the project.`,
      { cause },
    );
  }
  return new BackendError(`Signing failed: ${message}`, {
    cause,
    retryable: httpStatus(error) === 503,
  });
}

/** Any SDK failure as a StorageError. */
export function toStorageError(error: unknown, context: ErrorContext): StorageError {
  if (StorageError.isInstance(error)) return error;
  if (context.signal?.aborted || isAbort(error)) {
    const reason = context.signal?.reason;
    if (StorageError.isInstance(reason)) return reason;
    return new AbortedError(undefined, { cause: error });
  }
  const name = (error as { name?: unknown })?.name;
  if (name === "SigningError") return signingError(error);

  const message = messageOf(error);
  // A key found by Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS) is loaded by
  // the SDK itself, at the first request: one that does not parse fails there, not at load.
  if (/DECODER routines|private key|PEM/i.test(message)) {
    return new ConfigError(
      `The service-account credentials could not be used: their private key does not parse (${message}). Check the key file that GOOGLE_APPLICATION_CREDENTIALS (or keyFilename, credentials) names.`,
      { cause: safeCause(error) },
    );
  }
  const status = httpStatus(error);
  const target = where(context);
  // A server's error may quote the request (signed URL, Authorization): keep no secret in the cause.
  const cause = safeCause(error);
  switch (status) {
    case 404:
      if (/specified bucket does not exist|bucket .*not found/i.test(message)) {
        // Not a missing file: every call on this storage will fail until the configuration is fixed.
        return new ConfigError(
          `Bucket ${context.bucket} does not exist, or these credentials cannot see it (${message}). Create it, or fix the bucket name.`,
          { cause },
        );
      }
      return new NotFoundError(`${target} does not exist.`, { cause });
    case 412:
      return context.createExclusive
        ? new AlreadyExistsError(`${target} already exists.`, { cause })
        : new PreconditionFailedError(`${target} changed: a precondition failed (${message}).`, { cause });
    case 416:
      return new RangeNotSatisfiableError(undefined, { cause });
    case 401:
    case 403:
      return new PermissionDeniedError(
        `GCS refused access to ${target} (${status}: ${message}). Check that the credentials are valid and that their principal has a role on bucket ${context.bucket} granting this operation (roles/storage.objectUser covers read, write and delete; ACL changes need roles/storage.objectAdmin).`,
        { cause },
      );
    case 400:
      if (/uniform bucket-level access/i.test(message)) {
        return new ConfigError(
          `Bucket ${context.bucket} uses uniform bucket-level access, so per-object ACLs are refused (${message}). Set uniformAccess: true (URL: ?uniformAccess=true) and control public access with bucket IAM.`,
          { cause },
        );
      }
      return new InvalidArgumentError(`GCS rejected the request for ${target}: ${message}`, { cause });
  }
  const resumable = resumableFailure(error);
  if (resumable) {
    // The SDK's resumable upload gave up on a failure it counts as transient (its retries are
    // off, or its resumes of a chunked session ran out): worth another attempt of the call.
    return new BackendError(
      `GCS upload to ${target} failed${resumable.status ? ` (${resumable.status})` : ""}: ${message}`,
      {
        cause,
        retryable: true,
      },
    );
  }
  const code = (error as { code?: unknown })?.code;
  if (code === "FILE_NO_UPLOAD" || code === "FILE_NO_UPLOAD_DELETE" || code === "CONTENT_DOWNLOAD_MISMATCH") {
    // The SDK's CRC32C check failed: the bytes were damaged on the way. A new attempt can succeed.
    return new BackendError(`Data integrity check failed for ${target}: ${message}`, {
      cause,
      retryable: true,
    });
  }
  const retryable =
    status === 408 ||
    status === 429 ||
    (status !== undefined && status >= 500) ||
    (typeof code === "string" && RETRYABLE_NETWORK_CODES.has(code));
  return new BackendError(`GCS request for ${target} failed${status ? ` (${status})` : ""}: ${message}`, {
    cause,
    retryable,
    retryAfter: retryable ? parseRetryAfter(responseHeader(error, "retry-after")) : undefined,
  });
}
