/**
 * The one place storage names are validated.
 *
 * Every name reaches a driver only through `normalizeName` / `normalizePrefix`, so a driver can
 * join a key to its root or prefix without re-checking it. The rules are deliberately strict and
 * the same for every backend: a name that is valid on S3 but dangerous on a filesystem (or in a
 * URL, or in a Content-Disposition header) is refused everywhere, so data can always move between
 * backends. Names are never rewritten: what is valid is stored byte for byte as given.
 */
import { InvalidPathError, PathTraversalError } from "./errors.js";

/** S3's key limit (1,024 UTF-8 bytes) is the smallest of the services. */
export const MAX_NAME_BYTES = 1024;
/** NAME_MAX on Linux/macOS filesystems. */
export const MAX_SEGMENT_BYTES = 255;

/**
 * Characters refused anywhere in a name:
 * - C0/C1 control characters and DEL (NUL truncates C strings; CR/LF split headers and logs);
 * - backslash (a path separator on Windows, and in some proxies);
 * - Unicode bidi controls and line/paragraph separators (they disguise an extension:
 *   "invoice\u202Efdp.exe" displays as "invoiceexe.pdf").
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this refuses
const FORBIDDEN_CHARS = /[\u0000-\u001f\u007f-\u009f\\\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/u;

// The same characters but the backslash (shown as it is), to escape rather than refuse.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this escapes
const UNPRINTABLE_CHARS = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/gu;

/**
 * A name as a terminal or a log line may show it: every character `normalizeName` refuses for
 * being invisible or a control (a line break, an escape sequence that recolours the terminal or
 * sets its title, a bidi override) written as `\uXXXX`. Storages refuse such names on write, but a
 * bucket filled by other tools may list them; printed raw, one name could pass for two lines.
 */
export function printableName(name: string): string {
  return name.replace(UNPRINTABLE_CHARS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/**
 * `word` as one POSIX shell word, for a command printed for a person to paste (a fix a check
 * suggests, a curl line): in single quotes, each `'` in it written `'\''`, so a folder named
 * `it's media` stays one argument instead of opening a quote (or, with a `;`, running something).
 */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * Percent-encoded separators, dots and NUL (also double-encoded, and overlong UTF-8 forms): a
 * server or proxy that decodes a URL path once more than we do would see `../` or `/` in them.
 */
const ENCODED_TRAVERSAL = /%(?:25)*(?:2e|2f|5c|00|c0|c1|e0%80|f0%80)/i;

/** Windows drive letters and UNC-ish prefixes. */
const DRIVE_PREFIX = /^[a-z]:/i;

function byteLength(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

function describe(name: string): string {
  // Messages quote the name with control characters made visible, and never at unbounded length.
  const visible = JSON.stringify(name.length > 120 ? `${name.slice(0, 120)}…` : name);
  return visible;
}

function checkSegment(segment: string, name: string): void {
  if (segment === "") {
    throw new InvalidPathError(
      `Invalid name ${describe(name)}: empty path segment (a leading, trailing or doubled "/"). Use "a/b.txt", not "a//b.txt" or "a/".`,
      { path: name },
    );
  }
  // NFKC folds look-alikes (fullwidth "．．", "／", one-dot leaders) into the characters some
  // systems will eventually see; refuse when the folded form is a traversal or holds a separator.
  const folded = segment.normalize("NFKC");
  if (/^\.+$/.test(segment) || /^\.+$/.test(folded)) {
    const Err =
      segment === "." || segment === ".." || folded === "." || folded === ".."
        ? PathTraversalError
        : InvalidPathError;
    throw new Err(
      `Invalid name ${describe(name)}: "." and ".." segments are not allowed (names are never relative).`,
      {
        path: name,
      },
    );
  }
  if (folded.includes("/") || folded.includes("\\")) {
    throw new PathTraversalError(
      `Invalid name ${describe(name)}: a character in it normalises to a path separator. Use plain "/" between directories.`,
      { path: name },
    );
  }
  if (segment !== segment.trim()) {
    throw new InvalidPathError(
      `Invalid name ${describe(name)}: a path segment starts or ends with white space (Windows and some tools strip it, so two names would collide). Trim it.`,
      { path: name },
    );
  }
  if (byteLength(segment) > MAX_SEGMENT_BYTES) {
    throw new InvalidPathError(
      `Invalid name ${describe(name)}: a path segment is longer than ${MAX_SEGMENT_BYTES} bytes (the filesystem limit). Shorten it; generateFilename() does that keeping the extension.`,
      { path: name },
    );
  }
}

function checkWhole(name: unknown, what: "name" | "prefix"): string {
  if (typeof name !== "string") {
    throw new InvalidPathError(
      `Invalid ${what}: expected a string, got ${name === null ? "null" : typeof name}.`,
    );
  }
  if (!name.isWellFormed()) {
    throw new InvalidPathError(
      `Invalid ${what} ${describe(name)}: it contains an unpaired UTF-16 surrogate.`,
      {
        path: name,
      },
    );
  }
  if (FORBIDDEN_CHARS.test(name)) {
    throw new InvalidPathError(
      `Invalid ${what} ${describe(name)}: control characters, backslashes and bidirectional-override characters are not allowed.`,
      { path: name },
    );
  }
  if (name.startsWith("/") || DRIVE_PREFIX.test(name)) {
    throw new PathTraversalError(
      `Invalid ${what} ${describe(name)}: absolute paths are not allowed. Names are relative to the storage root, e.g. "avatars/me.jpg".`,
      { path: name },
    );
  }
  if (ENCODED_TRAVERSAL.test(name)) {
    throw new PathTraversalError(
      `Invalid ${what} ${describe(name)}: percent-encoded dots, slashes or NUL are not allowed (they become "../" once decoded). Pass names decoded.`,
      { path: name },
    );
  }
  if (byteLength(name) > MAX_NAME_BYTES) {
    throw new InvalidPathError(
      `Invalid ${what} ${describe(name)}: longer than ${MAX_NAME_BYTES} bytes in UTF-8 (the S3 key limit). Shorten it.`,
      { path: name.slice(0, 64) },
    );
  }
  return name;
}

/**
 * Most names are plain: ASCII letters, digits, "_", "." and "-" in "/"-separated segments (hashed
 * static files, generated upload names). For them the full rules reduce to: no empty segment, no
 * segment of dots only, none over 255 bytes, the whole within 1,024 — checked in one pass over the
 * characters (a third of the three regular expressions' cost, which every save paid), so calls do
 * not pay for NFKC folding and per-segment checks. Anything else takes the full path.
 */
export function isPlainName(name: string): boolean {
  const length = name.length;
  if (length === 0 || length > MAX_NAME_BYTES) return false;
  let segmentStart = 0;
  let dotsOnly = true;
  for (let i = 0; i <= length; i++) {
    const c = i < length ? name.charCodeAt(i) : SLASH;
    if (c === SLASH) {
      const segmentLength = i - segmentStart;
      if (segmentLength === 0 || dotsOnly || segmentLength > MAX_SEGMENT_BYTES) return false;
      segmentStart = i + 1;
      dotsOnly = true;
    } else if (c === DOT) {
      // a dot keeps a segment "dots only" until something else comes
    } else if (
      (c >= 97 && c <= 122) ||
      (c >= 65 && c <= 90) ||
      (c >= 48 && c <= 57) ||
      c === 95 ||
      c === 45
    ) {
      dotsOnly = false; // a-z A-Z 0-9 _ -
    } else {
      return false;
    }
  }
  return true;
}

const SLASH = 47;
const DOT = 46;

/**
 * Validates a file name and returns it unchanged. Throws InvalidPathError (E_INVALID_PATH) or its
 * subclass PathTraversalError (E_PATH_TRAVERSAL) with a message saying what to change.
 */
export function normalizeName(name: unknown): string {
  if (typeof name === "string" && isPlainName(name)) return name;
  return checkNameFully(name);
}

/** The full rules, without the fast path (normalizeName's reference; exported for its tests). */
export function checkNameFully(name: unknown): string {
  const checked = checkWhole(name, "name");
  if (checked === "") {
    throw new InvalidPathError('Invalid name: it is empty. Give the file a name, e.g. "uploads/report.pdf".');
  }
  for (const segment of checked.split("/")) checkSegment(segment, checked);
  return checked;
}

/**
 * Validates a directory prefix for listing: "" (or undefined) is the root; "a/b" and "a/b/" both
 * mean the directory a/b and are returned as "a/b/".
 */
export function normalizePrefix(prefix: unknown): string {
  if (prefix === undefined || prefix === "") return "";
  const checked = checkWhole(prefix, "prefix");
  const withoutSlash = checked.endsWith("/") ? checked.slice(0, -1) : checked;
  for (const segment of withoutSlash.split("/")) checkSegment(segment, checked);
  return `${withoutSlash}/`;
}

/**
 * The order listings come in: by Unicode code point, which is the order of the names' UTF-8 bytes
 * (what S3, GCS and Azure list in). JavaScript's `<` compares UTF-16 code units instead, which puts
 * "😀" before "Ａ"; two storages compared by a migration must agree, so every driver sorts with this.
 */
export function compareNames(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Only surrogates (0xD800–0xDFFF, astral code points) sort differently from code units: they
    // belong after 0xE000–0xFFFF.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs === ys) return x - y;
    return xs ? 1 : -1;
  }
  return a.length - b.length;
}

/** The last segment of a name ("a/b/c.txt" → "c.txt"). */
export function basename(name: string): string {
  const slash = name.lastIndexOf("/");
  return slash === -1 ? name : name.slice(slash + 1);
}

/** The directory part with its trailing slash, or "" ("a/b/c.txt" → "a/b/"). */
export function dirname(name: string): string {
  const slash = name.lastIndexOf("/");
  return slash === -1 ? "" : name.slice(0, slash + 1);
}

/** Encodes a name for a URL path: each segment percent-encoded, "/" kept. */
export function encodeNameForUrl(name: string): string {
  return name
    .split("/")
    .map((segment) =>
      encodeURIComponent(segment).replace(
        /[!'()*]/g,
        (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
      ),
    )
    .join("/");
}

/** Joins a base URL and a name: exactly one "/" between them, the name encoded. */
export function joinUrl(base: string, name: string): string {
  return `${base.endsWith("/") ? base : `${base}/`}${encodeNameForUrl(name)}`;
}
