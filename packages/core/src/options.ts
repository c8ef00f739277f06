/**
 * Checks an options object passed from JavaScript (where TypeScript cannot): a misspelled key is
 * an error that names the closest valid one, never silently ignored (`regoin` would otherwise
 * leave the region unset and fail far from the typo).
 */
import { closest } from "./config/params.js";
import { InvalidArgumentError, type StorageError } from "./errors.js";

/**
 * Throws (by default InvalidArgumentError) for the first key of `options` not in `known`.
 * `what` names the options in the message, e.g. "Storage options" or "fsStorage() options".
 */
export function checkOptionKeys(
  options: object | undefined,
  known: readonly string[],
  what: string,
  makeError: (message: string) => StorageError = (message) => new InvalidArgumentError(message),
): void {
  if (options === undefined || options === null) return;
  if (typeof options !== "object" || Array.isArray(options)) {
    throw makeError(
      `${what} must be an object, got ${Array.isArray(options) ? "an array" : typeof options}.`,
    );
  }
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const close = closest(key, known);
    throw makeError(
      `${what}: unknown option ${JSON.stringify(key)}${close ? ` (did you mean ${JSON.stringify(close)}?)` : ""}. Valid options: ${known.join(", ")}.`,
    );
  }
}
