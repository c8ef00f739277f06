/**
 * Storage URLs: `s3://bucket/prefix?region=…`, `file:///abs/path?baseUrl=/media/`, `gs://bucket/prefix`,
 * `azure://account/container/prefix`, `memory://`.
 *
 * The registry owns the storage-level query parameters (they configure the `Storage` facade, the same
 * for every backend) and strips them before the backend's `fromUrl` sees the URL. Everything here is
 * pure: no I/O, no imports of driver packages.
 */
import { ConfigError } from "../errors.js";
import type { Visibility } from "../types.js";

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
  /** The URL without storage-level parameters: what the backend's `fromUrl` receives. */
  backendUrl: URL;
  storage: StorageLevelOptions;
}

const SCHEME_RE = /^([a-z][a-z0-9+.-]*):/i;

/**
 * Query parameters that carry credentials. A storage URL ends up in logs, process listings, error
 * reports and `storages check` output, so a secret there leaks; it belongs in its own variable.
 */
const SECRET_PARAM_RE =
  /secret|password|passwd|pwd|token|accesskey|accountkey|privatekey|credential|connectionstring|signingkey|^sig$|^signature$|^key$|^sas$/;

export function isSecretParam(name: string): boolean {
  return SECRET_PARAM_RE.test(name.toLowerCase().replace(/[-_]/g, ""));
}

/** `STORAGES_DEFAULT` for "default": the variable a storage's URL is read from. */
export function envVarFor(storageName: string): string {
  return `STORAGES_${storageName.toUpperCase()}`;
}

/** Where per-storage secrets live, for messages that tell the user where to move a secret. */
export function secretVarsHint(storageName: string, scheme: string): string {
  const v = envVarFor(storageName);
  switch (scheme) {
    case "s3":
      return `${v}_ACCESS_KEY_ID and ${v}_SECRET_ACCESS_KEY (or the AWS SDK's own AWS_* variables / instance role)`;
    case "gs":
      return `${v}_CREDENTIALS_JSON (the key itself) or ${v}_KEY_FILE (its path), or GOOGLE_APPLICATION_CREDENTIALS`;
    case "azure":
      return `${v}_CONNECTION_STRING, ${v}_ACCOUNT_KEY or ${v}_SAS_TOKEN`;
    case "file":
      return `${v}_SIGNING_SECRET`;
    default:
      return `${v}_<SECRET> variables (see the backend's README)`;
  }
}

const EXAMPLES =
  "e.g. file:///var/lib/app/media, s3://bucket/prefix?region=eu-west-1, gs://bucket/prefix, " +
  "azure://account/container/prefix or memory://";

/**
 * Splits a storage URL into scheme, facade options and the backend's URL. Throws ConfigError naming
 * `source` (the variable or config key) and the fix. Never echoes the raw value: it may hold a secret.
 */
export function parseStorageUrl(value: string, source: string, storageName: string): ParsedStorageUrl {
  const trimmed = value.trim();
  if (trimmed === "") {
    throw new ConfigError(`${source} is empty: set it to a storage URL (${EXAMPLES}), or unset it.`);
  }
  const schemeMatch = SCHEME_RE.exec(trimmed);
  if (!schemeMatch) {
    throw new ConfigError(
      `${source} is not a storage URL: it has no scheme. Write it as scheme://location (${EXAMPLES}).`,
    );
  }
  const scheme = schemeMatch[1]!.toLowerCase();
  // WHATWG parsing turns `file:media` and `file://media/x` into absolute paths nobody meant.
  if (scheme === "file" && !/^file:\/\/(localhost)?\//i.test(trimmed)) {
    throw new ConfigError(
      `${source} must name an absolute directory with three slashes: file:///var/lib/app/media ` +
        `(relative paths would depend on the working directory of whoever starts the process).`,
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
  if (url.username !== "" || url.password !== "") {
    throw new ConfigError(
      `${source} contains credentials (user:password@): URLs get logged. Remove them from the URL and set ` +
        `${secretVarsHint(storageName, scheme)} instead.`,
    );
  }
  if (url.hash !== "") {
    throw new ConfigError(`${source} has a #fragment, which no storage URL uses: remove it.`);
  }
  for (const name of new Set(url.searchParams.keys())) {
    if (isSecretParam(name)) {
      throw new ConfigError(
        `${source} has a secret in its query string (\`${name}\`): URLs get logged. Remove it from the URL and set ` +
          `${secretVarsHint(storageName, scheme)} instead.`,
      );
    }
    if (url.searchParams.getAll(name).length > 1) {
      throw new ConfigError(`${source} sets the query parameter \`${name}\` more than once: keep one.`);
    }
  }

  const storage = takeStorageParams(url.searchParams, source);
  return { scheme, backendUrl: url, storage };
}

/** Removes the storage-level parameters from `params` (in place) and returns them, validated. */
function takeStorageParams(params: URLSearchParams, source: string): StorageLevelOptions {
  const out: StorageLevelOptions = {};
  const take = (name: string): string | undefined => {
    const v = params.get(name);
    params.delete(name);
    return v ?? undefined;
  };

  const visibility = take("visibility");
  if (visibility !== undefined) out.visibility = parseVisibility(visibility, `${source} (visibility=)`);
  const overwrite = take("overwrite");
  if (overwrite !== undefined) out.overwrite = parseBoolean(overwrite, `${source} (overwrite=)`);
  const readOnly = take("readOnly");
  if (readOnly !== undefined) out.readOnly = parseBoolean(readOnly, `${source} (readOnly=)`);
  const allowOverlap = take("allowOverlap");
  if (allowOverlap !== undefined) out.allowOverlap = parseBoolean(allowOverlap, `${source} (allowOverlap=)`);

  const publicUrl = take("publicUrl");
  const baseUrl = take("baseUrl");
  if (publicUrl !== undefined && baseUrl !== undefined) {
    throw new ConfigError(
      `${source} sets both publicUrl= and baseUrl=, which mean the same thing: keep one.`,
    );
  }
  const base = publicUrl ?? baseUrl;
  if (base !== undefined)
    out.publicUrl = parsePublicUrl(base, `${source} (${publicUrl !== undefined ? "publicUrl" : "baseUrl"}=)`);

  const expiresIn = take("expiresIn");
  if (expiresIn !== undefined) {
    out.signedUrlExpiresIn = parsePositiveInt(
      expiresIn,
      `${source} (expiresIn=)`,
      "seconds, e.g. expiresIn=600",
    );
  }
  const timeout = take("timeout");
  if (timeout !== undefined)
    out.timeout = parsePositiveInt(timeout, `${source} (timeout=)`, "milliseconds, e.g. timeout=30000");
  return out;
}

export function parseVisibility(value: unknown, where: string): Visibility {
  if (value === "public" || value === "private") return value;
  throw new ConfigError(`${where} must be "public" or "private", not ${describe(value)}.`);
}

export function parseBoolean(value: unknown, where: string): boolean {
  if (value === true || value === "true" || value === "1") return true;
  if (value === false || value === "false" || value === "0") return false;
  throw new ConfigError(`${where} must be true or false, not ${describe(value)}.`);
}

export function parsePositiveInt(value: unknown, where: string, unit: string): number {
  const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n === "number" && Number.isSafeInteger(n) && n > 0) return n;
  throw new ConfigError(`${where} must be a positive whole number of ${unit}, not ${describe(value)}.`);
}

/** A public base is either absolute http(s) or a root-relative path (`/media/`, served by the app's proxy). */
export function parsePublicUrl(value: unknown, where: string): string {
  if (typeof value === "string") {
    if (value.startsWith("/") && !value.startsWith("//")) return value;
    try {
      const u = new URL(value);
      if ((u.protocol === "https:" || u.protocol === "http:") && u.username === "" && u.password === "")
        return value;
    } catch {
      // fall through to the error below
    }
  }
  throw new ConfigError(
    `${where} must be an http(s) URL without credentials (https://cdn.example.com/media/) or a path starting with / (/media/).`,
  );
}

/** Short description of a bad value for messages; strings are shown only when short and harmless. */
function describe(value: unknown): string {
  if (typeof value === "string") {
    return value.length <= 40 && /^[\w .:/-]*$/.test(value) ? JSON.stringify(value) : "the given string";
  }
  return value === null ? "null" : typeof value;
}
