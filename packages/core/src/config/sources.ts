/**
 * Where named storages come from, highest first: code (`createStorages({ storages })`), the
 * environment (`STORAGES_<NAME>=url`), a config file (`storages.config.{json,js,mjs,ts}`).
 * For each name the highest source that defines it wins as a whole: fields are never merged across
 * sources, so a storage is never half one backend and half another.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { extname, isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { ConfigError } from "../errors.js";
import type { ConfigWarning } from "./locations.js";
import { storageVariable } from "./params.js";
import { looksLikePath, type StorageLevelOptions } from "./url.js";

/** One named storage, as written in code or a config file: where it is, and the facade settings a URL may carry too. */
export interface StorageEntry extends StorageLevelOptions {
  /** A storage URL (`s3://bucket/prefix?region=…`). Either this or `backend`. */
  url?: string | undefined;
  /** Backend name ("fs", "s3", "gcs", "azure", "memory") or scheme, with `options`. */
  backend?: string | undefined;
  /** Driver options, checked against the backend's `optionKeys`. Code may put credentials here; URLs may not. */
  options?: Record<string, unknown> | undefined;
  /** URL used instead in local mode (default: `file://<localRoot>/<name>`); false: keep the entry in local mode. */
  local?: string | false | undefined;
}

export const ENTRY_KEYS = [
  "url",
  "backend",
  "options",
  "local",
  "visibility",
  "overwrite",
  "publicUrl",
  "signedUrlExpiresIn",
  "timeout",
  "readOnly",
  "allowOverlap",
] as const;

export type SourceKind = "code" | "env" | "file";

export interface SourcedEntry {
  name: string;
  sourceKind: SourceKind;
  /** Human label for messages: `STORAGES_DEFAULT`, `storages.config.json › default`… */
  source: string;
  entry: StorageEntry | string | object;
}

/** Lower-case letters, digits and underscores, starting with a letter: maps 1:1 to `STORAGES_<NAME>`. */
export const STORAGE_NAME_RE = /^[a-z][a-z0-9_]*$/;

export function checkStorageName(name: string, where: string): void {
  if (!STORAGE_NAME_RE.test(name)) {
    throw new ConfigError(
      `${where}: storage name ${JSON.stringify(name)} is invalid: use lower-case letters, digits and underscores, ` +
        `starting with a letter (it maps to the variable STORAGES_<NAME>).`,
    );
  }
  if (name.endsWith("_local")) {
    throw new ConfigError(
      `${where}: storage names may not end in "_local" (STORAGES_<NAME>_LOCAL is the local-mode override).`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Environment

/** Variables with a fixed meaning, never storage names. */
export const GLOBAL_VARS = {
  mode: "STORAGES_MODE",
  localRoot: "STORAGES_LOCAL_ROOT",
  localBaseUrl: "STORAGES_LOCAL_BASE_URL",
  config: "STORAGES_CONFIG",
  /** Finding ids `storages check` (@storages/deploy) ignores: read by the deployment checks only. */
  checkIgnore: "STORAGES_CHECK_IGNORE",
} as const;

const RESERVED_NAMES = new Set(["MODE", "LOCAL_ROOT", "LOCAL_BASE_URL", "CONFIG", "CHECK_IGNORE"]);

export interface EnvScan {
  /** name → URL, from `STORAGES_<NAME>`. */
  urls: Map<string, string>;
  /** name → URL, from `STORAGES_<NAME>_LOCAL`. */
  localOverrides: Map<string, string>;
  warnings: ConfigWarning[];
}

const ANY_URL_RE = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * Finds storage variables. `STORAGES_<NAME>` is a storage URL when its value starts with a known
 * scheme; other `STORAGES_<NAME>_<X>` variables belong to a storage (secrets, read by its backend).
 * A variable that is neither draws a warning (usually a typo in a storage name).
 */
export function scanEnv(
  env: Record<string, string | undefined>,
  knownSchemes: ReadonlySet<string>,
  declaredNames: ReadonlySet<string>,
): EnvScan {
  const urls = new Map<string, string>();
  const localOverrides = new Map<string, string>();
  const others: Array<{ key: string; rest: string; value: string }> = [];
  for (const [key, raw] of Object.entries(env)) {
    if (!key.startsWith("STORAGES_") || raw === undefined) continue;
    const value = raw.trim();
    // Empty means unset, as `${VAR:-}` in compose files and shells produces it.
    if (value === "") continue;
    const rest = key.slice("STORAGES_".length);
    if (RESERVED_NAMES.has(rest) || rest.startsWith("TEST_")) continue;
    if (rest.endsWith("_LOCAL") && rest.length > "_LOCAL".length) {
      localOverrides.set(rest.slice(0, -"_LOCAL".length).toLowerCase(), value);
      continue;
    }
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(value)?.[1]?.toLowerCase();
    if (scheme !== undefined && knownSchemes.has(scheme) && STORAGE_NAME_RE.test(rest.toLowerCase())) {
      urls.set(rest.toLowerCase(), value);
    } else {
      others.push({ key, rest, value });
    }
  }
  const owners = [...declaredNames, ...urls.keys(), ...localOverrides.keys()].map(
    (n) => `${storageVariable(n)}_`,
  );
  const warnings: ConfigWarning[] = [];
  for (const { key, rest, value } of others) {
    if (owners.some((prefix) => key.startsWith(prefix))) continue;
    const name = rest.toLowerCase();
    // A storage URL with a scheme nobody provides, or a directory path written without file:// (the
    // latter only for names without "_": STORAGES_MEDIA_KEY_FILE=/run/key.json is a stray secret
    // variable, not a storage): surface it as a storage so the registry says what to write instead.
    const path = looksLikePath(value);
    if ((ANY_URL_RE.test(value) || (path && !name.includes("_"))) && STORAGE_NAME_RE.test(name)) {
      urls.set(name, value);
      continue;
    }
    warnings.push({
      code: "W_UNKNOWN_VARIABLE",
      source: key,
      message:
        `${key} is set but is neither a storage URL (scheme://…) nor a variable of a configured ` +
        `storage (a typo in the storage name?). It is ignored.${path ? " (A storage's directory is written as a file:/// URL.)" : ""}`,
    });
  }
  return { urls, localOverrides, warnings };
}

// ---------------------------------------------------------------------------------------------
// Config file

export const CONFIG_FILE_NAMES = [
  "storages.config.json",
  "storages.config.js",
  "storages.config.mjs",
  "storages.config.ts",
] as const;

export interface LoadedConfigFile {
  path: string;
  /** File name for messages. */
  label: string;
  entries: Record<string, unknown>;
}

/**
 * Loads the config file: `explicit` (option or STORAGES_CONFIG) must exist; otherwise the first of
 * CONFIG_FILE_NAMES in `cwd`, refusing two (which one wins would be a guess).
 */
export async function loadConfigFile(
  cwd: string,
  explicit: { path: string; source: string } | undefined,
): Promise<LoadedConfigFile | undefined> {
  let path: string;
  if (explicit) {
    path = isAbsolute(explicit.path) ? explicit.path : resolve(cwd, explicit.path);
    if (!existsSync(path)) {
      throw new ConfigError(
        `${explicit.source} names ${path}, which does not exist: fix the path or unset it.`,
      );
    }
  } else {
    const found = CONFIG_FILE_NAMES.map((n) => join(cwd, n)).filter((p) => existsSync(p));
    if (found.length === 0) return undefined;
    if (found.length > 1) {
      throw new ConfigError(
        `Found ${found.join(" and ")}: keep one storages config file (which one wins would be a guess).`,
      );
    }
    path = found[0]!;
  }
  const label = path.startsWith(`${cwd}/`) ? path.slice(cwd.length + 1) : path;
  let data: unknown;
  const ext = extname(path);
  if (ext === ".json") {
    try {
      data = JSON.parse(await readFile(path, "utf8"));
    } catch (cause) {
      throw new ConfigError(`${label} is not valid JSON: ${(cause as Error).message}. Fix the file.`, {
        cause,
      });
    }
  } else if (ext === ".js" || ext === ".mjs" || ext === ".ts" || ext === ".mts") {
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
    } catch (cause) {
      throw new ConfigError(`${label} failed to load: ${(cause as Error).message}. Fix the file.`, { cause });
    }
    data = mod.default ?? mod.storages;
  } else {
    throw new ConfigError(`${label}: config files must be .json, .js, .mjs or .ts.`);
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new ConfigError(
      `${label} must hold an object mapping storage names to URLs or entries, e.g. {"default": "file:///var/lib/app/media"}` +
        `${ext === ".json" ? "" : " (as its default export)"}.`,
    );
  }
  return { path, label, entries: data as Record<string, unknown> };
}
