/**
 * Storage URLs: `s3://bucket/prefix?region=…`, `file:///abs/path?baseUrl=/media/`, `gs://bucket/prefix`,
 * `azure://account/container/prefix`, `memory://`.
 *
 * The registry owns the storage-level query parameters (they configure the `Storage` facade, the same
 * for every backend) and strips them before the backend sees the URL. Everything here is pure and
 * knows no backend: no I/O, no imports of driver packages.
 */
import { ConfigError, isSecretParam } from "../errors.js";
import { UNSAFE_URL_REASON, unsafeUrlCharacter } from "../storage-options.js";
import type { Visibility } from "../types.js";
import { parseBoolean, parseDuration, parsePublicUrl, parseVisibility, storageVariable } from "./params.js";

/** Facade-level settings a storage URL or entry may carry. */
export interface StorageLevelOptions {
  visibility?: Visibility | undefined;
  overwrite?: boolean | undefined;
  /** Base URL for public files (a CDN, or `/media/` in front of a local folder). */
  publicUrl?: string | undefined;
  /** Default lifetime of signed URLs, in seconds. */
  signedUrlExpiresIn?: number | undefined;
  /** Default per-call timeout, in milliseconds. */
  timeout?: number | undefined;
  /** Hand this storage to application code read-only (`getWriter()` returns the writable one). */
  readOnly?: boolean | undefined;
  /** Allow this storage to share or nest its location with another one (never with staticfiles). */
  allowOverlap?: boolean | undefined;
}

/** Where each storage-level setting came from (`STORAGES_MEDIA (visibility=)`), by setting. */
export type SettingSources = Partial<Record<keyof StorageLevelOptions, string>>;

/** Query parameters the registry consumes (all others belong to the backend). */
export const STORAGE_LEVEL_PARAMS = [
  "visibility",
  "overwrite",
  "publicUrl",
  "baseUrl",
  "expiresIn",
  "timeout",
  "readOnly",
  "allowOverlap",
] as const;

export interface ParsedStorageUrl {
  /** Lower-case scheme without the colon: "s3", "file", "gs", "azure", "memory"… */
  scheme: string;
  /** The URL without storage-level parameters: what the backend receives. */
  backendUrl: URL;
  storage: StorageLevelOptions;
  /** Where each of `storage`'s settings came from. */
  sources: SettingSources;
}

const SCHEME_RE = /^([a-z][a-z0-9+.-]*):/i;

/** `STORAGES_DEFAULT` for "default": the variable a storage's URL is read from. */
export function envVarFor(storageName: string): string {
  return storageVariable(storageName);
}

const EXAMPLES =
  "e.g. file:///var/lib/app/media, s3://bucket/prefix?region=eu-west-1, gs://bucket/prefix, " +
  "azure://account/container/prefix or memory://";

/** A value that is a filesystem path rather than a URL: the usual slip for local folders. */
export function looksLikePath(value: string): boolean {
  return /^(?:\/|\.{1,2}\/|~\/|[a-z]:[\\/])/i.test(value.trim());
}

function noSchemeMessage(value: string, source: string): string {
  const path = value.trim();
  if (path.startsWith("/") || /^[a-z]:[\\/]/i.test(path)) {
    // A plain absolute path is shown back as the URL to write; anything odd-looking is not echoed.
    const shown = /^\/[\w./ -]{0,200}$/.test(path)
      ? `file://${path.split("/").map(encodeURIComponent).join("/")}`
      : "file:///var/lib/app/media";
    return (
      `${source} is a directory path, not a storage URL: it has no scheme. A local directory is written as ` +
      `a file:// URL with three slashes: ${shown}`
    );
  }
  if (looksLikePath(path)) {
    return (
      `${source} is a relative path, not a storage URL: it has no scheme. Write an absolute directory as a ` +
      `file:// URL with three slashes, e.g. file:///var/lib/app/media (a relative path would depend on the ` +
      `working directory of whoever starts the process).`
    );
  }
  return `${source} is not a storage URL: it has no scheme. Write it as scheme://location (${EXAMPLES}).`;
}

/** The scheme of a storage URL, or a ConfigError saying what to write instead. */
export function schemeOf(value: string, source: string): string {
  const trimmed = value.trim();
  if (trimmed === "") {
    throw new ConfigError(`${source} is empty: set it to a storage URL (${EXAMPLES}), or unset it.`);
  }
  const match = SCHEME_RE.exec(trimmed);
  // "C:\data" parses as the scheme "c": a Windows path, not a URL.
  if (!match || /^[a-z]:[\\/]/i.test(trimmed)) throw new ConfigError(noSchemeMessage(trimmed, source));
  return match[1]!.toLowerCase();
}

/**
 * Splits a storage URL into scheme, facade options and the backend's URL. Throws ConfigError naming
 * `source` (the variable or config key) and the fix. Never echoes the raw value: it may hold a secret.
 * `secretHint` says where secrets go instead (from the backend's `secretVariables`).
 */
export function parseStorageUrl(
  value: string,
  source: string,
  storageName: string,
  secretHint?: string,
): ParsedStorageUrl {
  const trimmed = value.trim();
  const scheme = schemeOf(trimmed, source);
  // Every storage URL has an authority part. Without `//`, WHATWG parsing turns `file:media` into
  // the absolute path /media and `s3:bucket` into a bucket-less URL: nobody meant either.
  if (!trimmed.slice(scheme.length + 1).startsWith("//")) {
    throw new ConfigError(
      `${source} must be written ${scheme}://… (${EXAMPLES}); a local directory needs three slashes, ` +
        `file:///var/lib/app/media (relative paths would depend on the working directory).`,
    );
  }
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch (cause) {
    throw new ConfigError(
      `${source} is a malformed ${scheme}: URL (check for spaces or other characters that must be percent-encoded; ${EXAMPLES}).`,
      { cause },
    );
  }
  const hint =
    secretHint ?? `${storageVariable(storageName, "<SECRET>")} variables (see the backend's documentation)`;
  if (url.username !== "" || url.password !== "") {
    throw new ConfigError(
      `${source} contains credentials (user:password@): URLs get logged. Remove them from the URL and set ` +
        `${hint} instead.`,
    );
  }
  if (url.hash !== "") {
    throw new ConfigError(`${source} has a #fragment, which no storage URL uses: remove it.`);
  }
  for (const name of new Set(url.searchParams.keys())) {
    if (isSecretParam(name)) {
      throw new ConfigError(
        `${source} has a secret in its query string (\`${name}\`): URLs get logged. Remove it from the URL and set ` +
          `${hint} instead.`,
      );
    }
    if (url.searchParams.getAll(name).length > 1) {
      throw new ConfigError(`${source} sets the query parameter \`${name}\` more than once: keep one.`);
    }
  }

  const { storage, sources } = takeStorageParams(url.searchParams, source);
  return { scheme, backendUrl: url, storage, sources };
}

/** `STORAGES_MEDIA (partSize=)`: the subject of messages about one query parameter. */
export function paramSource(source: string, param: string): string {
  return `${source} (${param}=)`;
}

/** Removes the storage-level parameters from `params` (in place) and returns them, validated. */
function takeStorageParams(
  params: URLSearchParams,
  source: string,
): { storage: StorageLevelOptions; sources: SettingSources } {
  const out: StorageLevelOptions = {};
  const sources: SettingSources = {};
  const take = (name: string): string | undefined => {
    const v = params.get(name);
    params.delete(name);
    return v ?? undefined;
  };
  const where = (param: string) => paramSource(source, param);

  const visibility = take("visibility");
  if (visibility !== undefined) {
    out.visibility = parseVisibility(visibility, where("visibility"));
    sources.visibility = where("visibility");
  }
  for (const key of ["overwrite", "readOnly", "allowOverlap"] as const) {
    const raw = take(key);
    if (raw !== undefined) {
      out[key] = parseBoolean(raw, where(key));
      sources[key] = where(key);
    }
  }

  const publicUrl = take("publicUrl");
  const baseUrl = take("baseUrl");
  if (publicUrl !== undefined && baseUrl !== undefined) {
    throw new ConfigError(
      `${source} sets both publicUrl= and baseUrl=, which mean the same thing: keep one.`,
    );
  }
  const base = publicUrl ?? baseUrl;
  if (base !== undefined) {
    const label = where(publicUrl !== undefined ? "publicUrl" : "baseUrl");
    // The storage URL's query string is decoded once (and a + in it is a space): what the public
    // URL must hold encoded is written encoded twice here.
    const unsafe = unsafeUrlCharacter(base);
    if (unsafe !== undefined) {
      throw new ConfigError(
        `${label} holds ${unsafe.what} once the storage URL's query string is decoded: write it as ${unsafe.encoded.replaceAll("%", "%25")} there (a + is read as a space: write %2B for a plus); ${UNSAFE_URL_REASON}.`,
      );
    }
    out.publicUrl = parsePublicUrl(base, label);
    sources.publicUrl = label;
  }

  const expiresIn = take("expiresIn");
  if (expiresIn !== undefined) {
    out.signedUrlExpiresIn = parseDuration(expiresIn, where("expiresIn"), "s");
    sources.signedUrlExpiresIn = where("expiresIn");
  }
  const timeout = take("timeout");
  if (timeout !== undefined) {
    out.timeout = parseDuration(timeout, where("timeout"), "ms");
    sources.timeout = where("timeout");
  }
  return { storage: out, sources };
}

export { parsePositiveInt } from "./params.js";
export { parseBoolean, parsePublicUrl, parseVisibility };
