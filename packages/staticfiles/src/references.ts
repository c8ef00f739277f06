/**
 * References between static files, found with real parsers and rewritten in place.
 *
 * CSS (postcss's tokenizer): `url()` in every quoting form, `@import "…"` and `@import url(…)`,
 * strings and `url()`s inside `image-set()`/`-webkit-image-set()`, and the
 * `/*# sourceMappingURL=… *\/` comment. Comments are never read as references (the tokenizer puts
 * them apart). JS: the `sourceMappingURL` comment (`//#` and `/*#`, and the legacy `@` forms), which by
 * the source-map spec is the file's last comment; and, when asked, ES module specifiers (static
 * `import`/`export … from` and `import("…")` with a string literal) through es-module-lexer.
 *
 * A reference's URL is resolved against the referencing file (relative) or the static base URL
 * (root-relative); `data:`, `#fragment`, external (`scheme:`) and protocol-relative (`//host`) URLs
 * are left alone. Rewriting replaces only the last path segment with the published file's name, so
 * `../img/a.png?v=1#x` becomes `../img/a.3f2a9c1b07d4.png?v=1#x`: the same meaning, relative or
 * root-relative as written, query and fragment kept.
 */
import { createRequire } from "node:module";
import { posix } from "node:path";
import type * as Lexer from "es-module-lexer";
import type { ReferenceKind } from "./names.js";

/**
 * The parsers are loaded on first use: a run with nothing changed (and an app that only calls
 * staticUrl) never pays for loading them.
 */
const load = createRequire(import.meta.url);
let parsers: { tokenize: CssTokenizer; lexer: typeof Lexer } | undefined;
function lib() {
  parsers ??= {
    tokenize: load("postcss/lib/tokenize") as CssTokenizer,
    lexer: load("es-module-lexer") as typeof Lexer,
  };
  return parsers;
}

/** One reference as written in a file. */
export interface Reference {
  /** The URL as written (unquoted). */
  url: string;
  /** 1-based line of the referencing construct. */
  line: number;
  kind: "url" | "import" | "image-set" | "sourcemap" | "module";
  /** Where the URL's characters are in the text: `text.slice(start, end) === url`. */
  start: number;
  end: number;
}

/** Where a reference points, or why it points nowhere collectstatic handles. */
export type Resolved =
  | { kind: "file"; name: string; suffix: string }
  | { kind: "external" }
  | { kind: "outside"; why: string };

const SCHEME = /^[a-z][a-z0-9+.-]*:/i;

/**
 * Resolves `url` written in the file `from` (an original name) to an original name. `baseUrlPath`
 * is the path part of the static URL (`/static/`) that root-relative references start with.
 */
export function resolveReference(url: string, from: string, baseUrlPath: string): Resolved {
  const trimmed = url.trim();
  if (trimmed === "" || trimmed.startsWith("#") || trimmed.startsWith("//") || SCHEME.test(trimmed)) {
    return { kind: "external" };
  }
  // A CSS escape (\2e) would have to be decoded to know the file: said, and left as written.
  if (trimmed.includes("\\"))
    return { kind: "outside", why: "it holds a CSS escape (write the name plainly)" };
  // Template placeholders and the like are not file names.
  if (/[{}<>`$]/.test(trimmed)) return { kind: "external" };
  const cut = trimmed.search(/[?#]/);
  const rawPath = cut < 0 ? trimmed : trimmed.slice(0, cut);
  const suffix = cut < 0 ? "" : trimmed.slice(cut);
  if (rawPath === "") return { kind: "external" };
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    return { kind: "outside", why: "malformed percent-encoding" };
  }
  let joined: string;
  if (path.startsWith("/")) {
    if (!path.startsWith(baseUrlPath)) return { kind: "external" };
    joined = posix.normalize(path.slice(baseUrlPath.length));
  } else {
    joined = posix.normalize(posix.join(posix.dirname(from), path));
  }
  if (joined === "." || joined.startsWith("../") || joined === ".." || joined.startsWith("/")) {
    return { kind: "outside", why: "it points outside the static files" };
  }
  if (path.endsWith("/")) return { kind: "outside", why: "it names a folder" };
  return { kind: "file", name: joined, suffix };
}

/** `../img/a.png?x` with the file published as `img/a.3f2a.png` → `../img/a.3f2a.png?x`. */
export function replaceLastSegment(url: string, publishedName: string): string {
  const trimmed = url.trim();
  const cut = trimmed.search(/[?#]/);
  const path = cut < 0 ? trimmed : trimmed.slice(0, cut);
  const suffix = cut < 0 ? "" : trimmed.slice(cut);
  const slash = path.lastIndexOf("/");
  const newBase = publishedName.slice(publishedName.lastIndexOf("/") + 1);
  const written = path.slice(slash + 1);
  // Keep the writer's encoding: an encoded name stays encoded.
  const encoded = written.includes("%") ? encodeURIComponent(newBase) : newBase;
  return `${path.slice(0, slash + 1)}${encoded}${suffix}`;
}

/** Maps a reference to its replacement URL, or undefined to leave it as written. */
export type Rewriter = (reference: Reference) => string | undefined;

export interface ParsedFile {
  references: Reference[];
  /** True when the CSS could not be tokenized: its references are unknown, none is rewritten. */
  unparsed?: boolean | undefined;
  /** The text with every reference replaced as `rewrite` says (the same text when nothing changes). */
  rewrite(rewrite: Rewriter): string;
}

/**
 * `text` with each reference's URL replaced as `rewrite` says, everything else byte for byte.
 * `references` are in text order (as the parsers give them) and do not overlap.
 */
export function spliceReferences(text: string, references: readonly Reference[], rewrite: Rewriter): string {
  let out = "";
  let at = 0;
  for (const reference of references) {
    const next = rewrite(reference);
    if (next === undefined || next === reference.url) continue;
    out += text.slice(at, reference.start) + next;
    at = reference.end;
  }
  return at === 0 ? text : out + text.slice(at);
}

// --- CSS ---------------------------------------------------------------------------------------

const IMAGE_SET = /^(-webkit-)?image-set$/i;
const SOURCE_MAP_COMMENT = /^\s*[#@]\s*sourceMappingURL=(\S+)\s*$/;
/** Anything that can hold a reference: a file without any of these is not tokenized. */
const MAY_REFERENCE = /url\(|@import|image-set|sourceMappingURL/i;
const FUNCTION_NAME = /[-\w]*$/;

/**
 * postcss's tokenizer: `[type, text, start, end]` (a space token has no offsets). Unquoted
 * `url(…)` (and any other parenthesised run without quotes or nesting) is one `brackets` token.
 */
type CssToken = [type: string, text: string, start?: number, end?: number];
type CssTokenizer = (input: { css: string; error(message: string): Error }) => {
  nextToken(): CssToken | undefined;
  endOfFile(): boolean;
};

/**
 * The references of a style sheet, from postcss's tokenizer (the one its parser uses): no syntax
 * tree is built, and the text is never stringified again — a rewrite replaces the URLs' own
 * characters and nothing else. Comments and strings are tokens of their own, so a `url(` inside
 * them is never read as a reference. `undefined`: the text does not tokenize (an unclosed string,
 * comment or `url(`) or its blocks do not balance, so its references cannot be found reliably.
 */
function scanCss(text: string): Reference[] | undefined {
  const tokens = lib().tokenize({ css: text, error: (message) => new Error(message) });
  const references: Reference[] = [];
  /** The names of the open parentheses, innermost last: `url`, `image-set`, or "" for a plain one. */
  const open: string[] = [];
  let depth = 0;
  /** The at-rule whose prelude is being read (until its `;` or `{`), lower-case. */
  let atRule: string | undefined;
  /** The next significant token is the first of an `@import` prelude, or of a `url(`. */
  let firstOfImport = false;
  let firstOfUrl = false;
  let previous: CssToken | undefined;
  let line = 1;
  let counted = 0;
  const lineAt = (offset: number) => {
    for (let i = text.indexOf("\n", counted); i >= 0 && i < offset; i = text.indexOf("\n", i + 1)) line++;
    counted = Math.max(counted, offset);
    return line;
  };
  const add = (start: number, end: number, kind: Reference["kind"]) => {
    if (end > start) references.push({ url: text.slice(start, end), line: lineAt(start), kind, start, end });
  };
  /** The kind of a URL directly inside the innermost parenthesis (`url(` or `image-set(`). */
  const kindHere = (urlFunction: boolean): Reference["kind"] =>
    atRule === "import"
      ? "import"
      : IMAGE_SET.test(open[open.length - (urlFunction ? 2 : 1)] ?? "")
        ? "image-set"
        : "url";
  /**
   * The function name of a `(` right after a word (`url(`), or "" for a plain parenthesis. A word
   * token runs on over commas and slashes (`format("woff2"),url(`): the name is its last identifier.
   */
  const functionName = (at: number) =>
    previous?.[0] === "word" && previous[3] === at - 1
      ? FUNCTION_NAME.exec(previous[1])![0].toLowerCase()
      : "";
  try {
    for (let token = tokens.nextToken(); token; previous = token, token = tokens.nextToken()) {
      const [type, value, start = 0, end = 0] = token;
      if (type === "space") continue;
      if (type === "comment") {
        const inner = value.slice(2, -2);
        const match = SOURCE_MAP_COMMENT.exec(inner);
        if (match) {
          const at = start + 2 + inner.indexOf(match[1]!);
          add(at, at + match[1]!.length, "sourcemap");
        }
        continue;
      }
      const wasFirstOfImport = firstOfImport;
      const wasFirstOfUrl = firstOfUrl;
      firstOfImport = false;
      firstOfUrl = false;
      if (atRule === "namespace" && type !== ";" && type !== "{" && type !== "}") continue; // a namespace URI, not a file
      switch (type) {
        case "at-word":
          atRule = value.slice(1).toLowerCase();
          firstOfImport = atRule === "import";
          break;
        case ";":
          atRule = undefined;
          break;
        case "{":
          atRule = undefined;
          depth++;
          break;
        case "}":
          atRule = undefined;
          if (--depth < 0) return undefined;
          break;
        case "(":
          open.push(functionName(start));
          firstOfUrl = open[open.length - 1] === "url";
          break;
        case ")":
          open.pop();
          break;
        case "brackets": {
          // `url(…)` unquoted: the URL is what the parentheses hold, white space around it aside.
          if (functionName(start) !== "url") break;
          const inner = value.slice(1, -1);
          const lead = inner.length - inner.trimStart().length;
          add(start + 1 + lead, start + 1 + inner.trimEnd().length, kindHere(false));
          break;
        }
        case "string": {
          const inUrl = open[open.length - 1] === "url";
          if (wasFirstOfImport) add(start + 1, end, "import");
          else if ((inUrl && wasFirstOfUrl) || (!inUrl && IMAGE_SET.test(open[open.length - 1] ?? "")))
            add(start + 1, end, kindHere(inUrl));
          break;
        }
      }
    }
  } catch {
    return undefined; // an unclosed string, comment or url(
  }
  return depth === 0 ? references : undefined;
}

function parseCss(text: string): ParsedFile {
  const scanned = MAY_REFERENCE.test(text) ? scanCss(text) : [];
  const references = scanned ?? [];
  return {
    references,
    unparsed: scanned === undefined,
    rewrite: (rewrite) => spliceReferences(text, references, rewrite),
  };
}

// --- JS ----------------------------------------------------------------------------------------

/**
 * The trailing source-map comment. The spec puts it last, so it is matched only at the end of the
 * file (followed by nothing but white space), where it cannot be inside a string.
 */
const JS_SOURCE_MAP =
  /(?:\/\/[#@][ \t]*sourceMappingURL=([^\s'"]+)[ \t]*|\/\*[#@][ \t]*sourceMappingURL=([^\s*'"]+)[ \t]*\*\/)\s*$/;

/** es-module-lexer is WebAssembly: initialised once per process, before the first JS file. */
let lexerReady: Promise<void> | undefined;
export function initParsers(): Promise<void> {
  lexerReady ??= lib().lexer.init();
  return lexerReady;
}

function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf("\n"); i >= 0 && i < offset; i = text.indexOf("\n", i + 1)) line++;
  return line;
}

function parseJs(text: string, modules: boolean): ParsedFile {
  const references: Reference[] = [];
  if (modules && /\bimport\b|\bexport\b/.test(text)) {
    try {
      const [imports] = lib().lexer.parse(text);
      for (const imp of imports) {
        if (imp.type === "import-meta") continue;
        // A dynamic import of anything but a plain string literal (`./${x}.js`) names no one file.
        if (imp.type === "dynamic" && (imp.glob || imp.specifier === undefined)) continue;
        const spec = imp.specifier!;
        if (!(spec.startsWith("./") || spec.startsWith("../") || spec.startsWith("/"))) continue;
        // Static: start..end is the specifier without quotes; dynamic: with them.
        let { start, end } = imp;
        if (imp.type === "dynamic") {
          start += 1;
          end -= 1;
        }
        if (text.slice(start, end) !== spec) continue; // escapes in the literal: leave it
        references.push({ url: spec, line: lineAt(text, start), kind: "module", start, end });
      }
    } catch {
      // Not an ES module (or not parseable): only its source-map comment is read.
    }
  }
  const tail = text.length > 4096 ? text.length - 4096 : 0;
  const match = JS_SOURCE_MAP.exec(text.slice(tail));
  if (match) {
    const url = match[1] ?? match[2]!;
    const start = tail + match.index + match[0].indexOf(url);
    references.push({ url, line: lineAt(text, start), kind: "sourcemap", start, end: start + url.length });
  }
  references.sort((a, b) => a.start - b.start);
  return { references, rewrite: (rewrite) => spliceReferences(text, references, rewrite) };
}

/** Parses a file's references. `initParsers()` must have resolved before a JS file with modules. */
export function parseReferences(
  kind: ReferenceKind,
  text: string,
  _source: string,
  options: { modules?: boolean | undefined } = {},
): ParsedFile {
  if (kind === "css") return parseCss(text);
  if (kind === "js") return parseJs(text, options.modules ?? false);
  return { references: [], rewrite: () => text };
}
