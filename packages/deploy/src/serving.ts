/**
 * What the generated server configurations and the post-deploy check agree on: which static
 * names are hashed (immutable caching), the cache lifetimes, the inert headers of media (core's
 * one active-content rule), and the internal path private files are handed out under.
 */
import { activeContentExtensions, guessContentType, inertContentHeaders } from "@storages/core";
import { CACHE_IMMUTABLE, CACHE_SHORT, HASH_LENGTH } from "@storages/staticfiles";

/** Cache-Control of hashed static names (collectstatic's own value): a new content gets a new name. */
export const IMMUTABLE_CACHE = CACHE_IMMUTABLE;
/** Cache-Control of other static names (collectstatic's own value): short, so a deploy is seen at once. */
export const SHORT_CACHE = CACHE_SHORT;
/**
 * Cache-Control of a private file the app hands over: no shared cache (a CDN in front) may keep it
 * for the next visitor, and the browser asks again (the app checks the user) before reusing it.
 * Without it the file goes out with only ETag and Last-Modified, which caches store by heuristic.
 */
export const PRIVATE_CACHE = "private, no-cache";
/** Hashed static names must be cached at least this long (s) to count as long-lived. */
export const LONG_CACHE_MIN = 30 * 24 * 3600;
/** Other static names must not be cached longer than this (s). */
export const SHORT_CACHE_MAX = 24 * 3600;

/**
 * `min` to `max` hex digits holding at least one digit and one letter, as RE2 (Caddy's Go regexp)
 * takes it, which has no lookahead: a first run of one kind, one character of the other, then hex
 * digits up to the length — one alternative per length of that first run.
 */
function mixedHex(min: number, max: number): string {
  const runs: string[] = [];
  for (let run = 1; run < max; run++) {
    const low = Math.max(0, min - run - 1);
    const high = max - run - 1;
    const rest = high === 0 ? "" : `[0-9a-f]{${low === high ? low : `${low},${high}`}}`;
    const times = run === 1 ? "" : `{${run}}`;
    runs.push(`(?:[0-9]${times}[a-f]|[a-f]${times}[0-9])${rest}`);
  }
  return `(?:${runs.join("|")})`;
}

/**
 * Hashed names, for servers that match by pattern (tools with the manifest use its `hashed` flag):
 * collectstatic's `name.<12 hex>.ext` and `LICENSE.<12 hex>`, and the `[.-]<8–32 hex>.ext` of
 * bundlers (webpack, Parcel), whose output collectstatic keeps under its own name — in every case
 * hex digits with both a digit and a letter in them, the rule collectstatic's
 * `looksBundlerHashed` keeps a bundler's name by. A run of digits alone is a version, a date or a
 * size (`font-12345678.woff`, `logo.20261204.png`) far more often than a hash: collectstatic
 * publishes such a name as it is beside its hashed copy, and cached immutable for a year a change
 * to it would never be fetched. The price: one collectstatic hash in about 300 is all digits, and
 * gets the short lifetime (which the post-deploy check accepts for a name the pattern misses).
 */
export const HASHED_NAME_PATTERN = `(?:\\.${mixedHex(HASH_LENGTH, HASH_LENGTH)}|[.-]${mixedHex(8, 32)}\\.[A-Za-z0-9]+)$`;

/** The URL path private files of storage NAME are handed out under by the app (X-Accel-Redirect). */
export function internalPrefix(storageName: string): string {
  return `/_storages/internal/${storageName}/`;
}

/**
 * The header value an app sets to hand a private file to nginx or Caddy: `X-Accel-Redirect:
 * accelRedirectPath("private", key)`. The key is URL-encoded per segment.
 */
export function accelRedirectPath(storageName: string, key: string): string {
  return `${internalPrefix(storageName)}${key.split("/").map(encodeURIComponent).join("/")}`;
}

export const ACCEL_HEADER = "X-Accel-Redirect";

/** The inert headers for an active file, from core (`inertContentHeaders`), as fixed header values. */
export function activeMediaHeaders(): { disposition: string; csp: string; nosniff: string } {
  const sample = inertContentHeaders("x.html", guessContentType("x.html"));
  return {
    disposition: "attachment",
    csp: sample["content-security-policy"]!,
    nosniff: sample["x-content-type-options"]!,
  };
}

/** A regex alternation of core's active extensions: `html|htm|svg|…` (feeds and every XML dialect too). */
export function activeExtensionsPattern(): string {
  return activeContentExtensions()
    .map((e) => e.replace(/[^a-z0-9]/g, (c) => `\\${c}`))
    .join("|");
}

/**
 * Names no web server may serve from a storage's folder: any path segment that starts with "."
 * — the fs driver's records and temporary files (`.~storages-*`, whose names are predictable), the
 * backup declaration (`.storages-backup`), check probes, and whatever dot files an operator left.
 */
export const HIDDEN_SEGMENT_PATTERN = "/\\.";

/** max-age from a Cache-Control value, or undefined. */
export function maxAge(cacheControl: string | null): number | undefined {
  const m = /(?:^|,)\s*max-age=(\d+)/i.exec(cacheControl ?? "");
  return m ? Number(m[1]) : undefined;
}
