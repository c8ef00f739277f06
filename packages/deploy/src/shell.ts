/**
 * Commands the findings print for a person to paste: every path and user name in them goes
 * through `shellQuote`, so a folder named `it's media` stays one argument instead of opening a
 * quote (or, with a `;`, running something else).
 */

/** `word` as one POSIX shell word: in single quotes, each `'` in it written `'\''`. */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
