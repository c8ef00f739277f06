/**
 * Errors with stable codes.
 *
 * Callers branch on `code` (or the subclass), never on message text. Every error carries the
 * operation, the storage path and the backend when known, whether retrying can help, and the
 * original error as `cause`. Messages say what to do next and never contain credentials:
 * `redactSecrets()` scrubs every message that passes through the constructor.
 */
import { inspect } from "node:util";

export const ERROR_CODES = [
  "E_NOT_FOUND",
  "E_ALREADY_EXISTS",
  "E_INVALID_PATH",
  "E_PATH_TRAVERSAL",
  "E_PERMISSION_DENIED",
  "E_UNSUPPORTED",
  "E_READ_ONLY",
  "E_PRECONDITION_FAILED",
  "E_CONFIG",
  "E_INVALID_ARGUMENT",
  "E_ABORTED",
  "E_TIMEOUT",
  "E_RANGE_NOT_SATISFIABLE",
  "E_CHECKSUM_MISMATCH",
  "E_PARTIAL_FAILURE",
  "E_UPLOAD_REJECTED",
  "E_SOURCE_CHANGED",
  "E_BACKEND",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export type Operation =
  | "save"
  | "open"
  | "read"
  | "stat"
  | "exists"
  | "list"
  | "copy"
  | "move"
  | "delete"
  | "deleteMany"
  | "deletePrefix"
  | "flush"
  | "dataProtection"
  | "path"
  | "url"
  | "signedUrl"
  | "signedUpload"
  | "setVisibility"
  | "getVisibility"
  | "checksum"
  | "config"
  | "serve"
  | "upload";

export interface StorageErrorOptions {
  operation?: Operation | undefined;
  path?: string | undefined;
  backend?: string | undefined;
  retryable?: boolean | undefined;
  /** How long the service asked to wait before a retry (Retry-After, SlowDown), in ms. */
  retryAfter?: number | undefined;
  cause?: unknown;
}

/** `Symbol.for` so two copies of this package (a duplicated dependency) still recognise each other's errors. */
const MARKER = Symbol.for("storages.error");

export class StorageError extends Error {
  /** Stable, documented code: safe to branch on and to log. */
  readonly code: ErrorCode;
  /** The Storage operation that failed ("save", "open"…), filled in by the facade when a driver throws. */
  operation: Operation | undefined;
  /** The storage-relative path involved, when there is one. */
  path: string | undefined;
  /** The backend name ("fs", "s3"…), filled in by the facade. */
  backend: string | undefined;
  /** Whether the same call may succeed if retried (throttling, 5xx, network resets). */
  retryable: boolean;
  /** How long the service asked to wait before a retry (Retry-After, SlowDown), in ms. */
  retryAfter: number | undefined;
  /** Attempts the facade made before giving up (1 when it was not retried). */
  attempts: number | undefined;
  readonly [MARKER] = true;

  constructor(code: ErrorCode, message: string, options: StorageErrorOptions = {}) {
    super(redactSecrets(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.operation = options.operation;
    this.path = options.path;
    this.backend = options.backend;
    this.retryable = options.retryable ?? false;
    this.retryAfter = options.retryAfter;
    this.attempts = undefined;
  }

  /** True for any StorageError, including ones created by another copy of this package. */
  static isInstance(error: unknown): error is StorageError {
    return typeof error === "object" && error !== null && (error as Record<symbol, unknown>)[MARKER] === true;
  }

  /** True when `error` is a StorageError with this code. */
  static hasCode(error: unknown, code: ErrorCode): error is StorageError {
    return StorageError.isInstance(error) && error.code === code;
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      operation: this.operation,
      path: this.path,
      backend: this.backend,
      retryable: this.retryable,
      ...(this.attempts !== undefined && { attempts: this.attempts }),
    };
  }
}

/**
 * Subclasses exist for what callers branch on. Each overrides `isInstance` to check its code, so the
 * check also works across duplicate package copies (where `instanceof` would fail).
 */
function codeClass<C extends ErrorCode>(code: C, defaultMessage: string) {
  return class extends StorageError {
    static readonly code: C = code;
    constructor(message: string = defaultMessage, options: StorageErrorOptions = {}) {
      super(code, message, options);
    }
    static override isInstance(error: unknown): error is StorageError {
      return StorageError.hasCode(error, code);
    }
  };
}

export class NotFoundError extends codeClass("E_NOT_FOUND", "The file does not exist.") {}
export class AlreadyExistsError extends codeClass(
  "E_ALREADY_EXISTS",
  "A file with this name already exists.",
) {}
export class InvalidPathError extends StorageError {
  constructor(
    message: string,
    options: StorageErrorOptions = {},
    code: "E_INVALID_PATH" | "E_PATH_TRAVERSAL" = "E_INVALID_PATH",
  ) {
    super(code, message, options);
  }
  /** Matches both E_INVALID_PATH and E_PATH_TRAVERSAL (a traversal attempt is an invalid path). */
  static override isInstance(error: unknown): error is InvalidPathError {
    return StorageError.hasCode(error, "E_INVALID_PATH") || StorageError.hasCode(error, "E_PATH_TRAVERSAL");
  }
}
export class PathTraversalError extends InvalidPathError {
  constructor(message: string, options: StorageErrorOptions = {}) {
    super(message, options, "E_PATH_TRAVERSAL");
  }
  static override isInstance(error: unknown): error is PathTraversalError {
    return StorageError.hasCode(error, "E_PATH_TRAVERSAL");
  }
}
export class PermissionDeniedError extends codeClass(
  "E_PERMISSION_DENIED",
  "The backend refused access: check the credentials and the permissions they grant.",
) {}
export class UnsupportedError extends codeClass(
  "E_UNSUPPORTED",
  "This backend does not support the operation.",
) {}
export class ReadOnlyError extends codeClass(
  "E_READ_ONLY",
  "This storage is read-only: writes happen at deploy time, through the writer storage.",
) {}
export class PreconditionFailedError extends codeClass(
  "E_PRECONDITION_FAILED",
  "The file changed since it was read (precondition failed).",
) {}
export class ConfigError extends codeClass("E_CONFIG", "The storage configuration is invalid.") {}
export class InvalidArgumentError extends codeClass("E_INVALID_ARGUMENT", "An argument is invalid.") {}
export class AbortedError extends codeClass("E_ABORTED", "The operation was aborted by its AbortSignal.") {}
export class TimeoutError extends codeClass("E_TIMEOUT", "The operation timed out.") {
  constructor(message?: string, options: StorageErrorOptions = {}) {
    super(message, { retryable: true, ...options });
  }
}
export class RangeNotSatisfiableError extends codeClass(
  "E_RANGE_NOT_SATISFIABLE",
  "The requested byte range starts past the end of the file.",
) {}
export class ChecksumMismatchError extends codeClass(
  "E_CHECKSUM_MISMATCH",
  "The data read back does not match its checksum.",
) {}
/** A batch operation (deleteMany) that failed for some of its items; `failures` lists them. */
export class PartialFailureError extends codeClass(
  "E_PARTIAL_FAILURE",
  "Some items of a batch operation failed.",
) {
  failures: Array<{ path: string; error: StorageError }> = [];
}
export class BackendError extends codeClass("E_BACKEND", "The storage backend returned an error.") {}

/**
 * Network-level error codes (Node, undici, and the Azure SDK's REQUEST_SEND_ERROR) after which the
 * same call may succeed: connection resets, refusals, timeouts, DNS hiccups, streams cut short.
 * Every driver maps these to `retryable: true`.
 */
export const RETRYABLE_NETWORK_CODES: ReadonlySet<string> = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "ERR_STREAM_PREMATURE_CLOSE",
  "REQUEST_SEND_ERROR",
]);

// ---------------------------------------------------------------------------------------------
// Secret redaction

/**
 * Patterns that carry credentials in URLs, connection strings and headers. Anything matching is
 * replaced by `[redacted]`. Signed URLs are the classic leak: a logged SAS or presigned URL is a
 * working credential until it expires.
 */
const SECRET_PATTERNS: RegExp[] = [
  // query-string signatures and credentials: AWS SigV4, GCS v4, Azure SAS, our own fs signer
  // (and a GCS resumable session's upload_id: whoever has the session URI can upload to it)
  /([?&](?:X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|X-Goog-Signature|X-Goog-Credential|sig|signature|token|se_sig|access_token|upload_id)=)[^&#\s"']+/gi,
  // connection strings and key=value secrets
  /((?:AccountKey|SharedAccessSignature|SharedAccessKey|secretAccessKey|secret_access_key|aws_secret_access_key|sessionToken|private_key|client_secret|password|secret)\s*[=:]\s*"?)[^;&\s"',}]+/gi,
  // Authorization headers, as a header line or as a field of headers printed as JSON
  /("?(?:Authorization|Proxy-Authorization|x-amz-security-token)"?\s*:\s*"?)[^"\r\n]+/gi,
  // the parts of a SigV4 Authorization value, wherever it is quoted (the key id is in Credential)
  /(\b(?:Credential|Signature)=)[^,\s"'&]+/g,
  // PEM private keys
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g,
  // user:password@ in URLs
  /(\b[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:)[^@/\s]+(?=@)/gi,
];

/**
 * Query parameters that carry credentials (`sas`, `key`, `secret_key`, `accountKey`, `pwd`…, the
 * name compared in lower case without `-` and `_`). A storage URL ends up in logs, process
 * listings, error reports and tool output: the configuration refuses a URL that has one, and
 * `redactSecrets` cuts their values out of any text.
 */
const SECRET_PARAM_RE =
  /secret|password|passwd|passphrase|pwd|token|accesskey|accountkey|apikey|privatekey|credential|connectionstring|signingkey|authorization|^sig$|^signature$|^key$|^sas$/;

export function isSecretParam(name: string): boolean {
  return SECRET_PARAM_RE.test(name.toLowerCase().replace(/[-_]/g, ""));
}

/** A `?name=value` or `&name=value` of a query string, wherever it is quoted (also in backticks). */
const QUERY_PARAM_RE = /([?&])([^=&#\s"'`<>]+)=([^&#\s"'`]*)/g;

function decodedName(name: string): string {
  try {
    return decodeURIComponent(name);
  } catch {
    return name;
  }
}

/** Removes credentials from a string meant for a message or a log line. */
export function redactSecrets(text: string): string {
  let out = text;
  for (const pattern of SECRET_PATTERNS) {
    out = out.replace(pattern, (_match, keep?: string) =>
      typeof keep === "string" ? `${keep}[redacted]` : "[redacted]",
    );
  }
  // Every query parameter the configuration would refuse as a secret, by the same rule.
  return out.replace(QUERY_PARAM_RE, (match, separator: string, name: string, value: string) =>
    value !== "" && value !== "[redacted]" && isSecretParam(decodedName(name))
      ? `${separator}${name}=[redacted]`
      : match,
  );
}

/**
 * The error a driver keeps as `cause`: the original, unless something a logger prints of it (its
 * message, fields and causes, as util.inspect shows them: a server's error echoing a signed URL or
 * an Authorization header) matches a credential pattern. Then a plain Error with the same name,
 * code and status and a redacted message, and nothing else (a logger walks the whole cause chain).
 */
export function safeCause(error: unknown): unknown {
  if (error === null || typeof error !== "object") return error;
  const printed = inspect(error, { depth: 6, showHidden: false });
  if (redactSecrets(printed) === printed) return error;
  const e = error as {
    name?: unknown;
    message?: unknown;
    code?: unknown;
    status?: unknown;
    statusCode?: unknown;
  };
  const copy = new Error(redactSecrets(typeof e.message === "string" ? e.message : String(error)));
  for (const key of ["name", "code", "status", "statusCode"] as const) {
    if (typeof e[key] === "string" || typeof e[key] === "number") Object.assign(copy, { [key]: e[key] });
  }
  return copy;
}

/** Adds operation/path/backend to a StorageError that lacks them (drivers throw without context). */
export function withContext<E extends StorageError>(
  error: E,
  context: { operation?: Operation | undefined; path?: string | undefined; backend?: string | undefined },
): E {
  error.operation ??= context.operation;
  error.path ??= context.path;
  error.backend ??= context.backend;
  return error;
}
