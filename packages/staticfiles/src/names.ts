/**
 * Naming rules: hashed names, what a bundler already hashed, what is worth compressing, the
 * Cache-Control of each kind of file.
 */
import { posix } from "node:path";

/** Hex digits of the content's SHA-256 put in a hashed name (Django uses 12 of an MD5). */
export const HASH_LENGTH = 12;

export const CACHE_IMMUTABLE = "public, max-age=31536000, immutable";
export const CACHE_SHORT = "public, max-age=60";

/** `css/app.css` + sha256 → `css/app.3f2a9c1b07d4.css`; `LICENSE` → `LICENSE.3f2a9c1b07d4`. */
export function hashedName(name: string, sha256: string): string {
  const slash = name.lastIndexOf("/");
  const dir = name.slice(0, slash + 1);
  const base = name.slice(slash + 1);
  const dot = base.lastIndexOf(".");
  const hash = sha256.slice(0, HASH_LENGTH);
  if (dot <= 0) return `${dir}${base}.${hash}`;
  return `${dir}${base.slice(0, dot)}.${hash}${base.slice(dot)}`;
}

/**
 * Names bundlers give to content-hashed output: webpack/Parcel `[name].[contenthash].ext` (8–32
 * hex with a digit and a letter), Vite/Rollup/esbuild `[name]-[hash].ext` (8 base64url characters
 * with a digit but not digits alone, or upper and lower case). Files whose bundler manifest is found are recognised
 * from it instead; this is the fallback for output without one.
 */
const HEX_HASH = /[.-]([0-9a-f]{8,32})\.[A-Za-z0-9]+$/;
const ROLLUP_HASH = /-([A-Za-z0-9_-]{8})\.[A-Za-z0-9]+$/;

export function looksBundlerHashed(name: string): boolean {
  const hex = HEX_HASH.exec(name);
  if (hex && /[0-9]/.test(hex[1]!) && /[a-f]/.test(hex[1]!)) return true;
  const rollup = ROLLUP_HASH.exec(name);
  if (!rollup) return false;
  const hash = rollup[1]!;
  // A word (`-Checkbox.js`) has at most one capital; a hash almost always has a digit or several.
  // Digits alone are a number or a date (`font-12345678`, `-20261204`), which a hash of 64
  // characters' alphabet is once in three million: taken for a hash, such a file would keep its
  // name when its content changes, under immutable caching.
  if (/^[0-9]+$/.test(hash)) return false;
  return /[0-9]/.test(hash) || (/[A-Z].*[A-Z]/.test(hash) && /[a-z]/.test(hash));
}

/** Text and uncompressed binary formats: everything compression helps. Images, fonts already compressed (woff2), archives: not. */
const COMPRESSIBLE_EXTENSIONS = new Set([
  "css",
  "js",
  "mjs",
  "cjs",
  "json",
  "map",
  "html",
  "htm",
  "txt",
  "xml",
  "svg",
  "md",
  "csv",
  "tsv",
  "webmanifest",
  "ttf",
  "otf",
  "eot",
  "ico",
  "wasm",
  "bmp",
  "woff",
]);

/** Smaller than this, a sibling costs more (a request, a file) than it can save. */
export const MIN_COMPRESS_SIZE = 256;

export function extensionOf(name: string): string {
  const ext = posix.extname(name);
  return ext === "" ? "" : ext.slice(1).toLowerCase();
}

export function isCompressible(name: string, size: number): boolean {
  return size >= MIN_COMPRESS_SIZE && COMPRESSIBLE_EXTENSIONS.has(extensionOf(name));
}

/** Files whose references collectstatic reads and rewrites. */
export type ReferenceKind = "css" | "js" | undefined;

export function referenceKind(name: string): ReferenceKind {
  const ext = extensionOf(name);
  if (ext === "css") return "css";
  if (ext === "js" || ext === "mjs") return "js";
  return undefined;
}
