/**
 * Resolution of one named storage: from its entry (a URL, `{ backend, options }`, a ready Storage)
 * or local mode, to validated driver options, facade options, a location for the layout rules, a
 * safe description — and, for every value, where it came from (`STORAGES_MEDIA (partSize=)`,
 * `storages.config.json › media.options.region`, `STORAGES_MEDIA_SECRET_ACCESS_KEY`…), so every
 * message names what to change and `describe()` can say who set what.
 *
 * Nothing here knows a backend: whatever is backend-specific comes from its BackendDefinition.
 */
import { resolve } from "node:path";
import { ConfigError, StorageError } from "../errors.js";
import { MAX_SIGNED_URL_EXPIRES_IN, Storage, type StorageOptions } from "../storage.js";
import type { BackendDefinition, BackendDescription, SecretVariable, StorageLocation } from "../types.js";
import { LOCAL_SCHEME, loadBackend, type PackageImporter, schemeForBackendName } from "./backends.js";
import {
  didYouMean,
  OptionError,
  parseBoolean,
  parseDuration,
  parsePublicUrl,
  parseVisibility,
  sentence,
  storageVariable,
} from "./params.js";
import { ENTRY_KEYS, type SourcedEntry, type SourceKind, type StorageEntry } from "./sources.js";
import {
  paramSource,
  parseStorageUrl,
  type SettingSources,
  STORAGE_LEVEL_PARAMS,
  type StorageLevelOptions,
  schemeOf,
} from "./url.js";
import { implicitVisibility } from "./visibility.js";

export const STATICFILES = "staticfiles";

export interface ResolvedStorage {
  name: string;
  source: string;
  sourceKind: SourceKind | "local";
  backend: BackendDefinition | undefined;
  driverOptions: Record<string, unknown>;
  storageOptions: StorageOptions;
  readOnly: boolean;
  allowOverlap: boolean;
  location: StorageLocation;
  description: BackendDescription;
  /** Where each value came from, by driver option or storage setting name. */
  sources: Record<string, string>;
  /** The secret variables that supplied a value (names only). */
  secrets: string[];
  /** A Storage handed over in code, used as is. */
  instance?: Storage | undefined;
}

export interface ResolveContext {
  env: Record<string, string | undefined>;
  /**
   * Where a URL's refused credentials are to go instead; default: the backend's secret variables
   * (which a caller that reads none, like `openStorageUrl` without `env`, must not name).
   */
  secretHint?: string | undefined;
  extra: ReadonlyMap<string, BackendDefinition>;
  importPackage: PackageImporter;
}

export interface LocalSettings {
  root: string;
  rootSource: string;
  baseUrl: string;
  baseUrlSource: string;
}

// ---------------------------------------------------------------------------------------------
// Messages

/**
 * The label of the value an option error is about: its own variable or key when it has one
 * (`STORAGES_MEDIA (partSize=)`, `….options.signing.key`), else the storage's source.
 */
function labelFor(option: string, sources: Record<string, string>, source: string): string | undefined {
  const exact = sources[option];
  if (exact !== undefined) return exact === source ? undefined : exact;
  const top = option.split(".")[0]!;
  const parent = sources[top];
  if (parent === undefined || parent === source) return undefined;
  // `….options.signing` → `….options.signing.key`; a variable stays the variable.
  return parent.endsWith(`.options.${top}`) ? `${parent}${option.slice(top.length)}` : parent;
}

/** A backend's validation or construction error, reworded to name where the bad value is set. */
export function relabel(error: unknown, sources: Record<string, string>, source: string): StorageError {
  if (OptionError.isOptionError(error)) {
    const label = labelFor(error.option, sources, source);
    return new ConfigError(
      sentence(label ? `${label} ${error.problem}` : `${source}: ${error.option} ${error.problem}`),
      { cause: error },
    );
  }
  if (StorageError.isInstance(error)) {
    if (error.message.includes(source)) return error;
    return new ConfigError(`${source}: ${error.message}`, { cause: error });
  }
  return new ConfigError(`${source}: ${(error as Error)?.message ?? String(error)}`, { cause: error });
}

/** One error for several problems of one storage (the registry flattens them into its list). */
export function several(problems: unknown[]): unknown {
  if (problems.length === 1) return problems[0];
  const error = new ConfigError(problems.map((p) => (p as Error).message).join("\n- "));
  (error as ConfigError & { errors: unknown[] }).errors = problems;
  return error;
}

function secretHint(variables: readonly SecretVariable[]): string | undefined {
  if (variables.length === 0) return undefined;
  return `its secret variables (${variables.map((v) => v.name).join(", ")})`;
}

// ---------------------------------------------------------------------------------------------
// Entries

/** The normalised parts of an entry, whatever its form. */
export interface EntryParts {
  url?: string | undefined;
  backendName?: string | undefined;
  options?: Record<string, unknown> | undefined;
  storage: StorageLevelOptions;
  sources: SettingSources;
  instance?: Storage | undefined;
}

const EXPIRES_IN_RANGE = { max: MAX_SIGNED_URL_EXPIRES_IN };

export function entryParts(sourced: SourcedEntry): EntryParts {
  const { entry, source } = sourced;
  if (typeof entry === "string") return { url: entry, storage: {}, sources: {} };
  if (Storage.isInstance(entry)) {
    if (sourced.sourceKind !== "code")
      throw new ConfigError(`${source}: only code can hand over a Storage instance.`);
    return { instance: entry, storage: {}, sources: {} };
  }
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
    throw new ConfigError(
      `${source} must be a storage URL string or an object ({ url } or { backend, options }).`,
    );
  }
  const e = entry as Record<string, unknown>;
  for (const key of Object.keys(e)) {
    if (!(ENTRY_KEYS as readonly string[]).includes(key)) {
      throw new ConfigError(
        `${source}: unknown key \`${key}\`${didYouMean(key, ENTRY_KEYS)}. Entries take ${ENTRY_KEYS.join(", ")}.`,
      );
    }
  }
  const storage: StorageLevelOptions = {};
  const sources: SettingSources = {};
  const field = <K extends keyof StorageLevelOptions>(
    key: K,
    parse: (value: unknown, where: string) => StorageLevelOptions[K],
  ) => {
    if (e[key] === undefined) return;
    storage[key] = parse(e[key], `${source}.${key}`);
    sources[key] = `${source}.${key}`;
  };
  field("visibility", parseVisibility);
  field("overwrite", parseBoolean);
  field("readOnly", parseBoolean);
  field("allowOverlap", parseBoolean);
  field("publicUrl", parsePublicUrl);
  field("signedUrlExpiresIn", (v, where) => parseDuration(v, where, "s", EXPIRES_IN_RANGE));
  field("timeout", (v, where) => parseDuration(v, where, "ms"));
  if (e.local !== undefined && e.local !== false && typeof e.local !== "string") {
    throw new ConfigError(`${source}.local must be a storage URL (file:///…) or false.`);
  }
  const hasUrl = e.url !== undefined;
  const hasBackend = e.backend !== undefined;
  if (hasUrl === hasBackend) {
    throw new ConfigError(
      `${source} needs exactly one of \`url\` (a storage URL) or \`backend\` (with \`options\`)${hasUrl ? ", not both" : ""}.`,
    );
  }
  if (hasUrl && typeof e.url !== "string") throw new ConfigError(`${source}.url must be a string.`);
  if (hasUrl && e.options !== undefined) {
    throw new ConfigError(
      `${source}: \`options\` go with \`backend\`; with \`url\`, put driver options in the query string.`,
    );
  }
  if (hasBackend && typeof e.backend !== "string")
    throw new ConfigError(`${source}.backend must be a string ("fs", "s3"…).`);
  if (
    e.options !== undefined &&
    (typeof e.options !== "object" || e.options === null || Array.isArray(e.options))
  ) {
    throw new ConfigError(`${source}.options must be an object.`);
  }
  return {
    url: e.url as string | undefined,
    backendName: e.backend as string | undefined,
    options: e.options as Record<string, unknown> | undefined,
    storage,
    sources,
  };
}

export function localOf(entry: unknown): string | false | undefined {
  if (typeof entry !== "object" || entry === null || Storage.isInstance(entry)) return undefined;
  const local = (entry as StorageEntry).local;
  return local === undefined ? undefined : local;
}

/** URL parameters and entry fields that say the same thing must not both be given (which wins would be a guess). */
function mergeStorageLevel(
  fromUrl: StorageLevelOptions,
  fromEntry: StorageLevelOptions,
  source: string,
): StorageLevelOptions {
  for (const key of Object.keys(fromEntry) as Array<keyof StorageLevelOptions>) {
    if (fromUrl[key] !== undefined) {
      throw new ConfigError(`${source} sets ${key} both in its URL and as a field: keep one.`);
    }
  }
  return { ...fromUrl, ...fromEntry };
}

function checkOptionKeys(
  keys: Iterable<string>,
  allowed: readonly string[],
  backend: BackendDefinition,
  source: string,
  asParam: boolean,
): void {
  for (const key of keys) {
    if (allowed.includes(key)) continue;
    const candidates = asParam ? [...allowed, ...STORAGE_LEVEL_PARAMS] : [...allowed];
    const list = asParam
      ? `${backend.name} takes ${allowed.join(", ") || "no parameters"}; every storage takes ${STORAGE_LEVEL_PARAMS.join(", ")}`
      : `${backend.name} takes ${allowed.join(", ") || "no options"}`;
    throw new ConfigError(
      `${source}: unknown ${asParam ? "query parameter" : "option"} \`${key}\`${didYouMean(key, candidates)} (${list}).`,
    );
  }
}

/**
 * The backend's query parameters: parsed by its `urlParams` and removed from the URL, every bad
 * one reported at once. A backend without `urlParams` gets them in the URL, as option keys.
 */
function takeBackendParams(
  url: URL,
  backend: BackendDefinition,
  source: string,
): { params: Record<string, unknown>; sources: Record<string, string> } {
  const params: Record<string, unknown> = {};
  const sources: Record<string, string> = {};
  const keys = [...new Set(url.searchParams.keys())];
  if (!backend.urlParams) {
    checkOptionKeys(keys, backend.optionKeys, backend, source, true);
    for (const key of keys) sources[key] = paramSource(source, key);
    return { params, sources };
  }
  const parsers = backend.urlParams;
  const problems: unknown[] = [];
  for (const key of keys) {
    const raw = url.searchParams.get(key)!;
    url.searchParams.delete(key);
    const parse = Object.hasOwn(parsers, key) ? parsers[key] : undefined;
    try {
      if (!parse) checkOptionKeys([key], Object.keys(parsers), backend, source, true);
      else {
        params[key] = parse(raw, paramSource(source, key));
        sources[key] = paramSource(source, key);
      }
    } catch (error) {
      problems.push(error);
    }
  }
  if (problems.length > 0) throw several(problems);
  return { params, sources };
}

/** The variables that filled `option` (`STORAGES_MEDIA_ACCESS_KEY_ID and …_SECRET_ACCESS_KEY`). */
function secretSources(variables: readonly SecretVariable[], env: ResolveContext["env"]) {
  const used = variables.filter((v) => env[v.name] !== undefined && env[v.name] !== "");
  const byOption: Record<string, string> = {};
  for (const v of used)
    byOption[v.option] = byOption[v.option] ? `${byOption[v.option]} and ${v.name}` : v.name;
  return { byOption, names: used.map((v) => v.name) };
}

export async function resolveEntry(sourced: SourcedEntry, context: ResolveContext): Promise<ResolvedStorage> {
  const { name, source } = sourced;
  const parts = entryParts(sourced);
  if (parts.instance) {
    return {
      name,
      source,
      sourceKind: sourced.sourceKind,
      backend: undefined,
      driverOptions: {},
      storageOptions: {},
      readOnly: name === STATICFILES,
      allowOverlap: false,
      location: { kind: "isolated" },
      description: { location: "(instance)" },
      sources: {},
      secrets: [],
      instance: parts.instance,
    };
  }
  if (parts.url !== undefined) {
    return resolveUrl(name, parts.url, source, sourced.sourceKind, parts, context);
  }
  const scheme = schemeForBackendName(parts.backendName!) ?? parts.backendName!.toLowerCase();
  const backend = await loadBackend(scheme, source, context);
  const options = parts.options ?? {};
  checkOptionKeys(Object.keys(options), backend.optionKeys, backend, `${source}.options`, false);
  const optionSources: Record<string, string> = {};
  for (const key of Object.keys(options)) optionSources[key] = `${source}.options.${key}`;
  return finish({
    name,
    source,
    sourceKind: sourced.sourceKind,
    backend,
    options,
    optionSources,
    storage: parts.storage,
    settingSources: parts.sources,
    secrets: [],
  });
}

export async function resolveUrl(
  name: string,
  url: string,
  source: string,
  sourceKind: SourceKind | "local",
  entry: { storage: StorageLevelOptions; sources: SettingSources },
  context: ResolveContext,
): Promise<ResolvedStorage> {
  const backend = await loadBackend(schemeOf(url, source), source, context);
  const variables = backend.secretVariables?.(name) ?? [];
  const parsed = parseStorageUrl(url, source, name, context.secretHint ?? secretHint(variables));
  const storage = mergeStorageLevel(parsed.storage, entry.storage, source);
  const { params, sources: paramSources } = takeBackendParams(parsed.backendUrl, backend, source);
  let fromUrl: Record<string, unknown>;
  try {
    fromUrl = backend.fromUrl(parsed.backendUrl, {
      source,
      storageName: name,
      env: context.env,
      params,
    }) as Record<string, unknown>;
  } catch (cause) {
    throw relabel(cause, paramSources, source);
  }
  const options = { ...params, ...fromUrl };
  const secrets = secretSources(variables, context.env);
  const optionSources: Record<string, string> = {};
  for (const key of Object.keys(options)) {
    optionSources[key] = paramSources[key] ?? secrets.byOption[key] ?? source;
  }
  return finish({
    name,
    source,
    sourceKind,
    backend,
    options,
    optionSources,
    storage,
    settingSources: { ...parsed.sources, ...entry.sources },
    secrets: secrets.names,
  });
}

interface Unfinished {
  name: string;
  source: string;
  sourceKind: SourceKind | "local";
  backend: BackendDefinition;
  options: Record<string, unknown>;
  optionSources: Record<string, string>;
  storage: StorageLevelOptions;
  settingSources: SettingSources;
  secrets: string[];
}

/** The visibility rule, validation, location and description: the same for every way in. */
function finish(u: Unfinished): ResolvedStorage {
  const { name, source, backend } = u;
  const { readOnly, allowOverlap, ...facade } = u.storage;
  const settingSources: Record<string, string> = { ...u.settingSources };
  if (facade.signedUrlExpiresIn !== undefined && facade.signedUrlExpiresIn > MAX_SIGNED_URL_EXPIRES_IN) {
    throw new ConfigError(
      `${settingSources.signedUrlExpiresIn ?? source} must be at most ${MAX_SIGNED_URL_EXPIRES_IN} seconds (7 days, the longest S3 and GCS accept), not ${facade.signedUrlExpiresIn}.`,
    );
  }
  const visibility = implicitVisibility(facade);
  if (facade.visibility === undefined && visibility !== undefined) {
    facade.visibility = visibility;
    settingSources.visibility = `${settingSources.publicUrl ?? source} (a storage with a public base URL is public)`;
  }
  let driverOptions = u.options;
  const optionSources = { ...u.optionSources };
  // Drivers whose visibility lives in the service (S3 ACLs, Azure container access) take it as a
  // driver option too; the facade alone would leave them answering getVisibility() wrongly.
  if (
    facade.visibility !== undefined &&
    backend.optionKeys.includes("visibility") &&
    driverOptions.visibility === undefined
  ) {
    driverOptions = { ...driverOptions, visibility: facade.visibility };
    optionSources.visibility = settingSources.visibility ?? source;
  }
  if (name === STATICFILES && allowOverlap) {
    throw new ConfigError(
      `${settingSources.allowOverlap ?? source}: allowOverlap is refused for staticfiles: static and media must never share a location.`,
    );
  }
  let location: StorageLocation;
  let description: BackendDescription;
  try {
    backend.validate?.(driverOptions);
    location = backend.location?.(driverOptions) ?? { kind: "isolated" };
    description = backend.describe?.(driverOptions) ?? { location: `${backend.name}:` };
  } catch (error) {
    throw relabel(error, optionSources, source);
  }
  return {
    name,
    source,
    sourceKind: u.sourceKind,
    backend,
    driverOptions,
    storageOptions: facade,
    readOnly: readOnly ?? name === STATICFILES,
    allowOverlap: allowOverlap ?? false,
    location,
    description,
    sources: { ...optionSources, ...settingSources },
    secrets: u.secrets,
  };
}

// ---------------------------------------------------------------------------------------------
// Local mode

/**
 * Local mode: every storage becomes a folder (its `_LOCAL` override, else `<localRoot>/<name>`,
 * built by the local backend's `localOptions`). Facade settings that describe the storage's role
 * (visibility, overwrite, read-only, signed URL lifetime) carry over from the remote entry, so dev
 * behaves like prod; a CDN publicUrl does not (it serves the bucket, not the folder) — but the
 * publicness it implies does.
 */
export async function resolveLocal(
  name: string,
  chosen: SourcedEntry | undefined,
  local: { url: string | false; source: string } | undefined,
  settings: LocalSettings,
  context: ResolveContext,
): Promise<ResolvedStorage> {
  const parts = chosen ? entryParts(chosen) : undefined;
  if (chosen && (parts?.instance || local?.url === false)) return resolveEntry(chosen, context);
  let inherited: StorageLevelOptions = {};
  let sources: SettingSources = {};
  if (chosen && parts) {
    inherited = { ...parts.storage };
    sources = { ...parts.sources };
    if (parts.url !== undefined) {
      const remote = parseStorageUrl(parts.url, chosen.source, name);
      inherited = { ...remote.storage, ...inherited };
      sources = { ...remote.sources, ...sources };
    }
    await inheritDriverVisibility(parts, chosen.source, inherited, sources, context);
    // The one visibility rule, applied before the remote base URL is dropped.
    const visibility = implicitVisibility(inherited);
    if (inherited.visibility === undefined && visibility !== undefined) {
      inherited.visibility = visibility;
      sources.visibility = `${sources.publicUrl ?? chosen.source} (a storage with a public base URL is public)`;
    }
    delete inherited.publicUrl;
    delete sources.publicUrl;
  }
  if (local && local.url !== false) {
    const override = parseStorageUrl(local.url, local.source, name);
    // The override's own parameters win over the inherited ones.
    const keep = { storage: { ...inherited }, sources: { ...sources } };
    for (const key of Object.keys(override.storage) as Array<keyof StorageLevelOptions>) {
      delete keep.storage[key];
      delete keep.sources[key];
    }
    return resolveUrl(name, local.url, local.source, "local", keep, context);
  }
  const source = `${settings.rootSource} (local mode, storage "${name}")`;
  const backend = await loadBackend(LOCAL_SCHEME, source, context);
  if (!backend.localOptions) {
    throw new ConfigError(
      `${source}: the ${backend.name} backend registered for ${LOCAL_SCHEME}:// has no local mode (localOptions): ` +
        `register one that has, or run in remote mode.`,
    );
  }
  // Served by the app (e.g. createFsHandler) under one path per storage, so url() works in dev as
  // in prod: public files at their plain URL, private ones through signed URLs.
  const baseUrl = `${settings.baseUrl.replace(/\/+$/, "")}/${name}/`;
  if (inherited.visibility === "public") {
    inherited.publicUrl = baseUrl;
    sources.publicUrl = `${settings.baseUrlSource} (local mode)`;
  }
  let options: Record<string, unknown>;
  try {
    options = backend.localOptions({
      storageName: name,
      directory: resolve(settings.root, name),
      baseUrl,
      env: context.env,
    }) as Record<string, unknown>;
  } catch (error) {
    throw relabel(error, {}, source);
  }
  const secrets = secretSources(backend.secretVariables?.(name) ?? [], context.env);
  const optionSources: Record<string, string> = {};
  for (const key of Object.keys(options)) optionSources[key] = secrets.byOption[key] ?? source;
  return finish({
    name,
    source,
    sourceKind: "local",
    backend,
    options,
    optionSources,
    storage: inherited,
    settingSources: sources,
    secrets: secrets.names,
  });
}

/**
 * A remote `{ backend, options }` entry may make its storage public through a driver option: one
 * named `visibility` (the convention every driver that keeps visibility in the service follows),
 * or — for an entry of the local backend itself, which is loaded anyway — its own public base URL.
 */
async function inheritDriverVisibility(
  parts: EntryParts,
  source: string,
  inherited: StorageLevelOptions,
  sources: SettingSources,
  context: ResolveContext,
): Promise<void> {
  if (inherited.visibility !== undefined || parts.options === undefined) return;
  const option = parts.options.visibility;
  if (option !== undefined) {
    inherited.visibility = parseVisibility(option, `${source}.options.visibility`);
    sources.visibility = `${source}.options.visibility`;
    return;
  }
  if (parts.backendName === undefined || schemeForBackendName(parts.backendName) !== LOCAL_SCHEME) return;
  const backend = await loadBackend(LOCAL_SCHEME, source, context);
  let publicUrl: string | undefined;
  try {
    publicUrl = backend.describe?.(parts.options as never).publicUrl;
  } catch {
    // An invalid remote entry is reported in remote mode; local mode only looks for its role.
  }
  if (publicUrl !== undefined && inherited.publicUrl === undefined) {
    inherited.publicUrl = publicUrl;
    sources.publicUrl = `${source}.options`;
  }
}

/** What the registry makes of one storage URL: see `inspectStorageUrl`. */
export interface InspectedStorageUrl<O extends object = Record<string, unknown>> {
  /** Validated driver options, as `create` receives them. */
  options: O;
  /** Facade options, as `new Storage()` receives them (the visibility rule applied). */
  storage: StorageOptions;
  /** Where each value came from, as `describe()` reports it. */
  sources: Record<string, string>;
  location: StorageLocation;
  description: BackendDescription;
  /** The secret variables that supplied a value. */
  secrets: string[];
}

/**
 * Resolves one storage URL for `backend` exactly as `load()` does — query parameters, secrets from
 * `env`, the visibility rule, validation, location, description — without a registry. For the
 * tests of a backend (ours and third parties'): it throws the ConfigError `load()` would.
 */
export async function inspectStorageUrl<O extends object>(
  backend: BackendDefinition<O>,
  url: string,
  options: { storageName?: string | undefined; env?: Record<string, string | undefined> | undefined } = {},
): Promise<InspectedStorageUrl<O>> {
  const name = options.storageName ?? "default";
  const extra = new Map(
    backend.schemes.map((s) => [s.toLowerCase(), backend as unknown as BackendDefinition]),
  );
  const resolved = await resolveUrl(
    name,
    url,
    storageVariable(name),
    "env",
    { storage: {}, sources: {} },
    {
      env: options.env ?? {},
      extra,
      importPackage: (specifier) =>
        Promise.reject(new Error(`inspectStorageUrl imports nothing (${specifier})`)),
    },
  );
  return {
    options: resolved.driverOptions as O,
    storage: resolved.storageOptions,
    sources: resolved.sources,
    location: resolved.location,
    description: resolved.description,
    secrets: resolved.secrets,
  };
}
