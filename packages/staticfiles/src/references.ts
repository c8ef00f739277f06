/**
 * References between static files, found with real parsers and rewritten in place.
 *
 * CSS (postcss + postcss-value-parser): `url()` in every quoting form, `@import "…"` and
 * `@import url(…)`, strings and `url()`s inside `image-set()`/`-webkit-image-set()`, and the
 * `/*# sourceMappingURL=… *\/` comment. Comments are never read as references (the parser puts them
 * apart). JS: the `sourceMappingURL` comment (`//#` and `/*#`, and the legacy `@` forms), which by
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
import type Postcss from "postcss";
import type { AtRule, Comment, Declaration, Root } from "postcss";
import type ValueParser from "postcss-value-parser";
import type { Node as ValueNode } from "postcss-value-parser";
import type { ReferenceKind } from "./names.js";

/**
 * The parsers are loaded on first use: a run with nothing changed (and an app that only calls
 * staticUrl) never pays for loading them.
 */
const load = createRequire(import.meta.url);
let parsers: { postcss: typeof Postcss; valueParser: typeof ValueParser; lexer: typeof Lexer } | undefined;
function lib() {
  parsers ??= {
    postcss: load("postcss") as typeof Postcss,
    valueParser: load("postcss-value-parser") as typeof ValueParser,
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
  // Template placeholders and the like are not file names.
  if (/[{}<>`$\\]/.test(trimmed)) return { kind: "external" };
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
  /** The text with every reference replaced as `rewrite` says (the same text when nothing changes). */
  rewrite(rewrite: Rewriter): string;
}

// --- CSS ---------------------------------------------------------------------------------------

const IMAGE_SET = /^(-webkit-)?image-set$/i;
const SOURCE_MAP_COMMENT = /^\s*[#@]\s*sourceMappingURL=(\S+)\s*$/;

interface ValueSite {
  node: ValueNode;
  kind: Reference["kind"];
}

/** The URL nodes of a value: `url(…)` contents, and strings directly inside `image-set()`. */
function urlSites(nodes: ValueNode[], inImageSet: boolean, out: ValueSite[]): void {
  for (const node of nodes) {
    if (node.type === "function") {
      const name = node.value.toLowerCase();
      if (name === "url") {
        if (node.value !== "url" && node.nodes.length > 1) {
          // postcss-value-parser reads only lower-case `url(` raw; `URL(a/b.png)` comes split at
          // each `/`: made one word again, as the browser reads it.
          const whole = lib().valueParser.stringify(node.nodes);
          node.nodes = [{ type: "word", value: whole, sourceIndex: 0, sourceEndIndex: whole.length }];
        }
        const inner = node.nodes.find((n) => n.type === "word" || n.type === "string");
        if (inner) out.push({ node: inner, kind: inImageSet ? "image-set" : "url" });
        continue;
      }
      urlSites(node.nodes, IMAGE_SET.test(name), out);
    } else if (node.type === "string" && inImageSet) {
      out.push({ node, kind: "image-set" });
    }
  }
}

function parseCss(text: string, source: string): ParsedFile {
  // Nothing that can hold a reference: no parse.
  if (!/url\(|@import|image-set|sourceMappingURL/i.test(text)) return { references: [], rewrite: () => text };
  let root: Root;
  try {
    // map: false — postcss would otherwise look for and load the file's previous source map.
    root = lib().postcss.parse(text, { from: source, map: false });
  } catch {
    // Not parseable CSS: its references cannot be found reliably; it is published as it is.
    return { references: [], rewrite: () => text };
  }
  type Site =
    | { type: "value"; owner: Declaration | AtRule; parsed: ValueParser.ParsedValue; sites: ValueSite[] }
    | { type: "import"; owner: AtRule; parsed: ValueParser.ParsedValue; node: ValueNode }
    | { type: "comment"; owner: Comment; url: string };
  const sites: Site[] = [];
  const references: Reference[] = [];
  const line = (node: { source?: { start?: { line: number } } }) => node.source?.start?.line ?? 1;
  root.walk((node) => {
    if (node.type === "decl") {
      if (!/url\(|image-set/i.test(node.value)) return;
      const parsed = lib().valueParser(node.value);
      const found: ValueSite[] = [];
      urlSites(parsed.nodes, false, found);
      if (found.length === 0) return;
      sites.push({ type: "value", owner: node, parsed, sites: found });
      for (const s of found) references.push({ url: s.node.value, line: line(node), kind: s.kind });
    } else if (node.type === "atrule") {
      const name = node.name.toLowerCase();
      if (name === "namespace") return; // a namespace URI, not a file
      const parsed = lib().valueParser(node.params);
      if (name === "import") {
        const first = parsed.nodes.find((n) => n.type !== "space" && n.type !== "comment");
        if (first?.type === "string") {
          sites.push({ type: "import", owner: node, parsed, node: first });
          references.push({ url: first.value, line: line(node), kind: "import" });
          return;
        }
      }
      if (!/url\(|image-set/i.test(node.params)) return;
      const found: ValueSite[] = [];
      urlSites(parsed.nodes, false, found);
      if (found.length === 0) return;
      sites.push({ type: "value", owner: node, parsed, sites: found });
      for (const s of found)
        references.push({ url: s.node.value, line: line(node), kind: name === "import" ? "import" : s.kind });
    } else if (node.type === "comment") {
      const match = SOURCE_MAP_COMMENT.exec(node.text);
      if (match) {
        sites.push({ type: "comment", owner: node, url: match[1]! });
        references.push({ url: match[1]!, line: line(node), kind: "sourcemap" });
      }
    }
  });
  return {
    references,
    rewrite(rewrite) {
      let index = 0;
      let changed = false;
      for (const site of sites) {
        if (site.type === "comment") {
          const next = rewrite(references[index++]!);
          if (next !== undefined) {
            site.owner.text = site.owner.text.replace(site.url, next);
            changed = true;
          }
          continue;
        }
        const nodes = site.type === "import" ? [{ node: site.node }] : site.sites;
        let touched = false;
        for (const s of nodes) {
          const next = rewrite(references[index++]!);
          if (next !== undefined && next !== s.node.value) {
            s.node.value = next;
            touched = true;
          }
        }
        if (!touched) continue;
        changed = true;
        const value = lib().valueParser.stringify(site.parsed.nodes);
        if (site.owner.type === "decl") site.owner.value = value;
        else site.owner.params = value;
      }
      return changed ? root.toString() : text;
    },
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
  interface Span {
    start: number;
    end: number;
  }
  const spans: Span[] = [];
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
        spans.push({ start, end });
        references.push({ url: spec, line: lineAt(text, start), kind: "module" });
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
    spans.push({ start, end: start + url.length });
    references.push({ url, line: lineAt(text, start), kind: "sourcemap" });
  }
  return {
    references,
    rewrite(rewrite) {
      const order = spans.map((span, i) => ({ span, reference: references[i]! }));
      order.sort((a, b) => a.span.start - b.span.start);
      let out = "";
      let at = 0;
      for (const { span, reference } of order) {
        const next = rewrite(reference);
        if (next === undefined) continue;
        out += text.slice(at, span.start) + next;
        at = span.end;
      }
      return at === 0 ? text : out + text.slice(at);
    },
  };
}

/** Parses a file's references. `initParsers()` must have resolved before a JS file with modules. */
export function parseReferences(
  kind: ReferenceKind,
  text: string,
  source: string,
  options: { modules?: boolean | undefined } = {},
): ParsedFile {
  if (kind === "css") return parseCss(text, source);
  if (kind === "js") return parseJs(text, options.modules ?? false);
  return { references: [], rewrite: () => text };
}
