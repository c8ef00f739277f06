/**
 * Exit codes and error reports: the one place that decides what a failure looks like.
 *
 *   0    everything asked for was done
 *   1    some (or every) operation failed: a missing file, a refused write, a network error
 *   2    the command line or the configuration is wrong: nothing was attempted
 *   130  interrupted (Ctrl-C / SIGINT); the running operation was aborted
 *
 * A report carries the StorageError's stable code and its message (which says what to do), never
 * a stack unless --verbose, and never a secret: every text passes `redactSecrets`.
 */
import { redactSecrets, StorageError } from "@storages/core";

export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/**
 * A mistake on the command line (a bad address, a missing `-r`, an unknown option): exit 2. The
 * message says what to type instead.
 */
export class UsageError extends Error {
  readonly code = "E_USAGE";
  /** `cause`: the library's error it explains, shown with --verbose. */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "UsageError";
  }
}

export function isUsageError(error: unknown): error is UsageError {
  return (error as { code?: unknown } | undefined)?.code === "E_USAGE" && error instanceof Error;
}

/**
 * Why a file or folder named on the command line (--env-file, --app-dir, --mountinfo) cannot be
 * used, from Node's errno code: words that follow its path in a message ("… does not exist"), one
 * wording for every option, and never Node's own "ENOENT: no such file or directory, open …".
 */
export function pathProblem(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ENOENT" || code === "ENOTDIR") return "does not exist";
  if (code === "EISDIR") return "is a folder, not a file";
  if (code === "EACCES" || code === "EPERM") return "cannot be read (permission denied)";
  return `cannot be read (${code ?? (error instanceof Error ? error.message : String(error))})`;
}

/** Codes that mean "what you asked for cannot be understood", not "it failed". */
const USAGE_CODES = new Set(["E_CONFIG", "E_INVALID_PATH", "E_PATH_TRAVERSAL", "E_INVALID_ARGUMENT"]);

/** The exit code of an error that ended a command. */
export function exitCodeFor(error: unknown, interrupted: boolean): ExitCode {
  if (interrupted) return EXIT.interrupted;
  if (isUsageError(error)) return EXIT.usage;
  if (StorageError.isInstance(error) && USAGE_CODES.has(error.code)) return EXIT.usage;
  return EXIT.failed;
}

/** What `--json` prints (on stderr) for an error, and what the human line is built from. */
export interface ErrorReport {
  code: string;
  message: string;
  operation?: string | undefined;
  path?: string | undefined;
  backend?: string | undefined;
  retryable?: boolean | undefined;
  /** Only with --verbose. */
  stack?: string | undefined;
  /** Only with --verbose: the chain of causes, outermost first. */
  causes?: string[] | undefined;
}

export function errorReport(error: unknown, verbose = false): ErrorReport {
  const report: ErrorReport = StorageError.isInstance(error)
    ? {
        code: error.code,
        message: error.message,
        operation: error.operation,
        path: error.path,
        backend: error.backend,
        retryable: error.retryable,
      }
    : isUsageError(error)
      ? { code: error.code, message: error.message }
      : { code: "E_INTERNAL", message: describeForeign(error) };
  report.message = redactSecrets(report.message);
  if (verbose) {
    if (error instanceof Error && error.stack) report.stack = redactSecrets(error.stack);
    const causes: string[] = [];
    let cause = (error as { cause?: unknown } | undefined)?.cause;
    for (let depth = 0; cause !== undefined && depth < 8; depth++) {
      causes.push(redactSecrets(cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)));
      cause = (cause as { cause?: unknown } | undefined)?.cause;
    }
    if (causes.length > 0) report.causes = causes;
  }
  return report;
}

function describeForeign(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return `${message} (an unexpected error: run again with --verbose for details, and report it if it persists)`;
}

/** `E_NOT_FOUND: message` (the operation and path are in the message or the --json report). */
export function errorLine(report: ErrorReport): string {
  return `${report.code}: ${report.message}`;
}
