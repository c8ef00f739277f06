/**
 * Checks an options object passed from JavaScript (where TypeScript cannot): a misspelled key is
 * an error that names the closest valid one, never silently ignored (`regoin` would otherwise
 * leave the region unset and fail far from the typo).
 */
import { InvalidArgumentError, type StorageError } from "./errors.js";

/** Edit distance, for "did you mean". Option names are short: the quadratic cost does not matter. */
function distance(a: string, b: string): number {
  const previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = previous[0]!;
    previous[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = previous[j]!;
      previous[j] = Math.min(above + 1, previous[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return previous[b.length]!;
}

/** The known name closest to `name` (case-insensitive), if it is close enough to be a typo. */
export function closestName(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

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
    const close = closestName(key, known);
    throw makeError(
      `${what}: unknown option ${JSON.stringify(key)}${close ? ` (did you mean ${JSON.stringify(close)}?)` : ""}. Valid options: ${known.join(", ")}.`,
    );
  }
}
