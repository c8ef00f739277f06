/**
 * Azure errors → StorageError subclasses, in one place.
 *
 * The SDK throws `RestError` (statusCode + `code`, the `x-ms-error-code`), network failures as
 * RestError with code REQUEST_SEND_ERROR / a Node errno, and `AbortError` on abort. The original
 * error stays as `cause`: RestError keeps its request and response non-enumerable and sanitises
 * them (SAS signatures, Authorization headers) in `util.inspect`, so logging it leaks nothing.
 */
import {
  AbortedError,
  AlreadyExistsError,
  BackendError,
  ConfigError,
  InvalidPathError,
  NotFoundError,
  PermissionDeniedError,
  PreconditionFailedError,
  parseRetryAfter,
  RangeNotSatisfiableError,
  RETRYABLE_NETWORK_CODES,
  StorageError,
  safeCause,
} from "@storages/core";

export interface AzureErrorContext {
  /** The blob name (storage-relative key), for messages. */
  key?: string | undefined;
  /** The container, for the "container does not exist" message. */
  container?: string | undefined;
  /** The write asked for create-exclusive: 409 BlobAlreadyExists / 412 mean "name taken". */
  ifNotExists?: boolean | undefined;
}

/** Service error codes Azure documents as transient even when the status is not 5xx. */
const RETRYABLE_SERVICE_CODES = new Set(["ServerBusy", "OperationTimedOut", "InternalError"]);

interface AzureLikeError {
  name?: string;
  message?: string;
  statusCode?: number;
  code?: string;
  details?: { errorCode?: string; message?: string } | undefined;
  response?: { headers?: { get?(name: string): string | undefined } } | undefined;
}

function asAzureError(error: unknown): AzureLikeError {
  return typeof error === "object" && error !== null ? (error as AzureLikeError) : { message: String(error) };
}

/** The service's error code: RestError.code, else the parsed `x-ms-error-code` in details. */
export function azureErrorCode(error: unknown): string | undefined {
  const e = asAzureError(error);
  return e.details?.errorCode ?? e.code;
}

export function isAbortError(error: unknown): boolean {
  const e = asAzureError(error);
  return e.name === "AbortError" || e.code === "ABORT_ERR";
}

/** First line of the service message: Azure appends RequestId/Time lines that only add noise. */
function shortMessage(error: AzureLikeError): string {
  const text = (error.details?.message ?? error.message ?? "").split("\n")[0]?.trim() ?? "";
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

/** Azure's request id: what Azure support asks for. */
function requestId(error: AzureLikeError): string | undefined {
  try {
    return error.response?.headers?.get?.("x-ms-request-id") ?? undefined;
  } catch {
    return undefined;
  }
}

/** Maps anything the SDK throws to a StorageError; StorageErrors pass through unchanged. */
export function mapAzureError(error: unknown, context: AzureErrorContext = {}): StorageError {
  if (StorageError.isInstance(error)) return error;
  const e = asAzureError(error);
  const options = { cause: safeCause(error), path: context.key };
  if (isAbortError(error)) return new AbortedError(undefined, options);

  const status = e.statusCode;
  const code = azureErrorCode(error);
  const id = requestId(e);
  const detail = `Azure ${status ?? "network error"}${code ? ` ${code}` : ""}: ${shortMessage(e)}${id ? ` (request id ${id})` : ""}`;
  const subject = context.key === undefined ? "" : `"${context.key}": `;

  if (code === "ContainerNotFound") {
    return new ConfigError(
      `The container${context.container ? ` "${context.container}"` : ""} does not exist: create it ` +
        `(az storage container create --name …) or fix the container name in the storage configuration. (${detail})`,
      options,
    );
  }
  if (status === 404) return new NotFoundError(`${subject}no such blob. (${detail})`, options);
  if (context.ifNotExists && (status === 412 || status === 409) && code !== "LeaseIdMissing") {
    return new AlreadyExistsError(`${subject}a blob with this name already exists. (${detail})`, options);
  }
  if (status === 409 && code === "BlobAlreadyExists") {
    return new AlreadyExistsError(`${subject}a blob with this name already exists. (${detail})`, options);
  }
  if (status === 412)
    return new PreconditionFailedError(`${subject}precondition failed. (${detail})`, options);
  if (status === 416) {
    return new RangeNotSatisfiableError(
      `${subject}the range starts past the end of the blob. (${detail})`,
      options,
    );
  }
  if (status === 401 || status === 403) {
    return new PermissionDeniedError(
      `${subject}Azure refused the request: check the account key, SAS token (permissions, expiry, ` +
        `allowed IPs) or the role assignment of the identity (e.g. "Storage Blob Data Contributor"). (${detail})`,
      options,
    );
  }
  if (status === 400 && (code === "InvalidResourceName" || code === "InvalidUri")) {
    return new InvalidPathError(`${subject}Azure refuses this blob name. (${detail})`, options);
  }
  const retryable =
    status === 408 ||
    status === 429 ||
    (status !== undefined && status >= 500) ||
    (code !== undefined && (RETRYABLE_SERVICE_CODES.has(code) || RETRYABLE_NETWORK_CODES.has(code)));
  let retryAfter: number | undefined;
  try {
    retryAfter = retryable ? parseRetryAfter(e.response?.headers?.get?.("retry-after")) : undefined;
  } catch {
    retryAfter = undefined;
  }
  return new BackendError(`${subject}${detail}`, { ...options, retryable, retryAfter });
}
