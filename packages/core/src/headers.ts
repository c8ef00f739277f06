/**
 * HTTP header values every backend needs the same way: content types guessed from names, and
 * Content-Disposition for downloads with any file name.
 */
import otherTypes from "mime/types/other.js";
import standardTypes from "mime/types/standard.js";

export const DEFAULT_CONTENT_TYPE = "application/octet-stream";

/** Guessed types by lower-case extension: a save guesses one per call, and mime's lookup is not cheap. */
const typeByExtension = new Map<string, string>();
/** Extensions in real use are few; past this many, lookups are simply not cached. */
const MAX_CACHED_EXTENSIONS = 1024;

/** The type for a name's extension; text types get "; charset=utf-8" so browsers do not sniff. */
export function guessContentType(name: string): string {
  // mime's own patterns do not cross line terminators: such (invalid) names get its exact answer.
  if (LINE_TERMINATOR.test(name)) return typeOf(name);
  // The extension the way mime.getType finds it: after the last "." of the last path segment, if
  // something comes before that dot; a name with a folder but no such dot has none.
  // One pass from the end (three lastIndexOf calls were a runtime call each, on every save).
  let slash = -1;
  let dot = -1;
  for (let i = name.length - 1; i >= 0; i--) {
    const c = name.charCodeAt(i);
    if (c === 47 || c === 92) {
      slash = i; // "/" or "\\"
      break;
    }
    if (c === 46 && dot < 0) dot = i; // the last "." after it
  }
  const hasDot = dot > slash + 1;
  if (!hasDot && slash >= 0) return DEFAULT_CONTENT_TYPE;
  const start = Math.max(dot, slash) + 1;
  // Bulk jobs save runs of names with one extension: the last answer, without slicing the name.
  if (name.length - start === last.extension.length && name.startsWith(last.extension, start)) {
    return last.type;
  }
  const extension = name.slice(start);
  const lower = extension.toLowerCase();
  let type = typeByExtension.get(lower);
  if (type === undefined) {
    type = typeOf(lower);
    if (typeByExtension.size < MAX_CACHED_EXTENSIONS) typeByExtension.set(lower, type);
  }
  last = { extension, type };
  return type;
}

/** The previous call's extension, as the name spelled it, and its type. */
let last = { extension: "\0", type: DEFAULT_CONTENT_TYPE };

const LINE_TERMINATOR = /[\n\r\u2028\u2029]/;

/**
 * Extension → type as mime's default instance maps them (its standard types, then the others; a
 * `*`-marked extension names the type's extension but does not map to it), made on the first
 * guess from mime's own tables. Importing mime's instance built all its maps at start-up: ~15 ms
 * and 3 MiB in every process that imports core, also the ones that never guess a type.
 */
let typesByExtension: Map<string, string> | undefined;

function mimeTypes(): Map<string, string> {
  if (typesByExtension) return typesByExtension;
  const map = new Map<string, string>();
  for (const table of [standardTypes, otherTypes] as Array<Record<string, readonly string[]>>) {
    for (const [type, extensions] of Object.entries(table)) {
      for (const extension of extensions) {
        if (!extension.startsWith("*")) map.set(extension.toLowerCase(), type.toLowerCase());
      }
    }
  }
  typesByExtension = map;
  return map;
}

/** mime.getType: the extension after the last "." of the last segment; none for a path without one. */
function mimeGetType(path: string): string | null {
  const last = path.replace(/^.*[/\\]/s, "").toLowerCase();
  const extension = last.replace(/^.*\./s, "").toLowerCase();
  const hasPath = last.length < path.length;
  const hasDot = extension.length < last.length - 1;
  if (!hasDot && hasPath) return null;
  return mimeTypes().get(extension) ?? null;
}

function typeOf(nameOrExtension: string): string {
  const type = mimeGetType(nameOrExtension);
  if (!type) return DEFAULT_CONTENT_TYPE;
  if (
    (type.startsWith("text/") || type === "application/javascript" || type === "application/json") &&
    !type.includes("charset")
  ) {
    return `${type}; charset=utf-8`;
  }
  return type;
}

/**
 * `attachment; filename="report.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf` (RFC 6266 + RFC 5987):
 * an ASCII fallback for old clients and the exact UTF-8 name for the rest. Quotes, backslashes
 * and control characters never reach the header.
 */
export function contentDisposition(filename: string, type: "attachment" | "inline" = "attachment"): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters from a header value
  const safe = filename.replace(/[\u0000-\u001f\u007f"\\]/g, "_");
  const ascii = safe.normalize("NFKD").replace(/[^\x20-\x7e]/g, "_");
  if (ascii === safe) return `${type}; filename="${ascii}"`;
  const encoded = encodeURIComponent(safe).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `${type}; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/**
 * Types a browser runs or renders as a document on the origin that serves them: HTML and XHTML
 * (scripts), SVG and XML (inline scripts, XSLT), and the script and manifest types. One list for
 * every place storages serves or configures the serving of media: the fs handler, the upload
 * service's private-media route, and the nginx and Caddy configurations `storages nginx|caddy`
 * writes. Media of these types go out as attachments in a sandbox unless a storage says otherwise.
 */
export const ACTIVE_CONTENT_TYPES: readonly string[] = [
  "text/html",
  "application/xhtml+xml",
  "image/svg+xml",
  "text/xml",
  "application/xml",
  "application/xslt+xml",
  "application/rdf+xml",
  "application/mathml+xml",
  "text/mathml",
  "text/javascript",
  "application/javascript",
  "application/ecmascript",
  "text/ecmascript",
  "application/x-javascript",
  "application/wasm",
  "application/x-shockwave-flash",
  "multipart/x-mixed-replace",
];

let extensionsByType: Map<string, string> | undefined;

/**
 * The usual extension of a content type (`image/jpeg` → `jpg`: the first mime's table lists), or
 * undefined for a type it does not know. Parameters and case are ignored.
 */
export function extensionForType(contentType: string): string | undefined {
  if (!extensionsByType) {
    extensionsByType = new Map();
    for (const table of [otherTypes, standardTypes] as Array<Record<string, readonly string[]>>) {
      for (const [type, extensions] of Object.entries(table)) {
        const first = extensions.find((e) => !e.startsWith("*"));
        if (first !== undefined) extensionsByType.set(type.toLowerCase(), first);
      }
    }
  }
  return extensionsByType.get(contentType.split(";", 1)[0]!.trim().toLowerCase());
}

/**
 * Extensions that web servers' own type tables map to active types where mime's table (the one
 * guessContentType reads) does not: Debian's /etc/mime.types, which Go — so Caddy — reads.
 */
const ACTIVE_IN_SYSTEM_TABLES = [
  "apxml",
  "atomsrv",
  "ccmp",
  "cellml",
  "cl",
  "clue",
  "cml",
  "dist",
  "distz",
  "es",
  "gsheet",
  "lostsyncxml",
  "moml",
  "odd",
  "pkg",
  "rfcxml",
  "scl",
  "sml",
  "uis",
  "xmls",
];

let activeExtensions: readonly string[] | undefined;

/**
 * File extensions a server may type as active content (see ACTIVE_CONTENT_TYPES), for servers
 * configured by extension (the generated nginx and Caddy configurations): every extension of an
 * active type in mime's table (each `+xml` type included: browsers run scripts in any XML
 * document), and those system tables add. Sorted, lower case; built on first use.
 */
export function activeContentExtensions(): readonly string[] {
  if (activeExtensions) return activeExtensions;
  const found = new Set(ACTIVE_IN_SYSTEM_TABLES);
  for (const table of [standardTypes, otherTypes] as Array<Record<string, readonly string[]>>) {
    for (const [type, extensions] of Object.entries(table)) {
      if (!isActiveContentType(type)) continue;
      for (const extension of extensions) found.add(extension.replace(/^\*/, "").toLowerCase());
    }
  }
  activeExtensions = [...found].sort();
  return activeExtensions;
}

/**
 * True when a browser would run or render this type as active content. Parameters (`; charset`)
 * and case are ignored; any `+xml` type counts, because browsers treat every XML type as a
 * document that may carry scripts.
 */
export function isActiveContentType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const type = contentType.split(";", 1)[0]!.trim().toLowerCase();
  return ACTIVE_CONTENT_TYPES.includes(type) || type.endsWith("+xml");
}

/**
 * The headers that make a stored file inert on the origin serving it: never sniffed, and for
 * active types downloaded as an attachment inside a CSP sandbox (no script, no same origin),
 * so an uploaded HTML or SVG file cannot run as the app.
 */
export function inertContentHeaders(name: string, contentType: string | undefined): Record<string, string> {
  const headers: Record<string, string> = { "x-content-type-options": "nosniff" };
  if (isActiveContentType(contentType)) {
    const base = name.slice(name.lastIndexOf("/") + 1) || "download";
    headers["content-disposition"] = contentDisposition(base);
    headers["content-security-policy"] = "sandbox; default-src 'none'";
  }
  return headers;
}

/** What a `Range` request header asks of a file of a known size. */
export type RangeDecision =
  | { kind: "full" }
  | { kind: "partial"; start: number; end: number }
  | { kind: "unsatisfiable" };

/**
 * One `bytes=` range (RFC 9110 §14): anything else (several ranges, bad syntax) serves the whole
 * file. For every place storages serves bytes itself (the fs handler, the media route).
 */
export function parseRangeHeader(header: string | undefined, size: number): RangeDecision {
  if (header === undefined) return { kind: "full" };
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match || (match[1] === "" && match[2] === "")) return { kind: "full" };
  if (match[1] === "") {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "partial", start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === "" ? Number.MAX_SAFE_INTEGER : Number(match[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return { kind: "full" };
  if (start >= size) return { kind: "unsatisfiable" };
  return { kind: "partial", start, end: Math.min(end, size - 1) };
}
