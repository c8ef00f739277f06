/**
 * Named storages, like Django's STORAGES: `default` (media), `staticfiles`, and any other names
 * (`private`, `exports`…), each a backend plus options, the same names in every environment.
 *
 *   const media = await storages.get("default");
 *
 * `load()` (run by the first `get()`) reads every source, validates every storage and the layout
 * between them, and reports warnings; drivers are created on first `get()` of each name and cached.
 */
import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { readOnly as readOnlyView } from "../decorators.js";
import { ConfigError, StorageError } from "../errors.js";
import { FakeStorage, type FakeStorageOptions } from "../fake.js";
import { Storage, type StorageOptions } from "../storage.js";
import type { BackendDefinition } from "../types.js";
import {
  defaultImporter,
  knownSchemes,
  loadBackend,
  type PackageImporter,
  schemeForBackendName,
} from "./backends.js";
import {
  type ConfigWarning,
  checkOverlaps,
  directoryWarnings,
  type LocatedStorage,
  locationFromOptions,
  locationFromUrl,
  readMountInfo,
  resolveExisting,
  type StorageLocation,
} from "./locations.js";
import {
  checkStorageName,
  didYouMean,
  ENTRY_KEYS,
  GLOBAL_VARS,
  loadConfigFile,
  type SourcedEntry,
  type SourceKind,
  type StorageEntry,
  scanEnv,
} from "./sources.js";
import {
  envVarFor,
  parseBoolean,
  parsePositiveInt,
  parsePublicUrl,
  parseStorageUrl,
  parseVisibility,
  STORAGE_LEVEL_PARAMS,
  type StorageLevelOptions,
} from "./url.js";

export type StorageMode = "local" | "remote";

/** What code may put in `createStorages({ storages })`: a URL, an entry, or a ready Storage. */
export type StorageEntryInput = string | StorageEntry | Storage;

export interface StoragesOptions {
  /** Storages defined in code: the highest-priority source. */
  storages?: Record<string, StorageEntryInput> | undefined;
  /** Environment to read. Default: process.env (read at load time, not at creation). */
  env?: Record<string, string | undefined> | undefined;
  /** Directory for the config file and relative STORAGES_LOCAL_ROOT. Default: process.cwd(). */
  cwd?: string | undefined;
  /** Config file path, or false for none. Default: STORAGES_CONFIG, else storages.config.* in cwd. */
  configFile?: string | false | undefined;
  /** Overrides STORAGES_MODE. */
  mode?: StorageMode | undefined;
  /** Overrides STORAGES_LOCAL_ROOT. */
  localRoot?: string | undefined;
  /** Overrides STORAGES_LOCAL_BASE_URL. */
  localBaseUrl?: string | undefined;
  /** Receives layout warnings. Default: console.warn. */
  onWarning?: ((warning: ConfigWarning) => void) | undefined;
  /** Extra backends (third-party drivers), by their schemes. */
  backends?: readonly BackendDefinition[] | undefined;
  /** How driver packages are imported (tests use it to prove what gets loaded). */
  importPackage?: PackageImporter | undefined;
  /** Contents of /proc/self/mountinfo (tests); default: read from the system. */
  mountInfo?: string | undefined;
}

/** What `describe()` reports about a storage: safe to print (no secrets can be in it). */
export interface StorageDescription {
  name: string;
  backend: string;
  /** The variable or config key that defined it. */
  source: string;
  sourceKind: SourceKind | "local";
  /** Location as a URL without its backend query parameters, or "(instance)". */
  location: string;
  visibility: StorageOptions["visibility"];
  readOnly: boolean;
}

interface ResolvedStorage {
  name: string;
  source: string;
  sourceKind: SourceKind | "local";
  backend: BackendDefinition | undefined;
  driverOptions: Record<string, unknown>;
  storageOptions: StorageOptions;
  readOnly: boolean;
  allowOverlap: boolean;
  location: StorageLocation;
  locationText: string;
  /** A Storage handed over in code, used as is. */
  instance?: Storage | undefined;
}

interface Built {
  app: Storage;
  writer: Storage;
  /** false for a Storage handed over in code: its creator closes it. */
  owned: boolean;
}

interface LoadedState {
  storages: Map<string, ResolvedStorage>;
  mode: StorageMode;
}

const STATICFILES = "staticfiles";
const WELL_KNOWN = ["default", STATICFILES] as const;
/** Local mode's default root, relative to cwd: hidden, and easy to .gitignore. */
export const DEFAULT_LOCAL_ROOT = ".storages";
/** Local mode's URL path: storage NAME is served (by the app, with createFsHandler) under /storages/NAME/. */
export const DEFAULT_LOCAL_BASE_URL = "/storages/";

export class StorageRegistry {
  readonly #options: StoragesOptions;
  #loading: Promise<LoadedState> | undefined;
  readonly #built = new Map<string, Promise<Built>>();
  #fake:
    | { names: Set<string> | undefined; storages: Map<string, FakeStorage>; options: FakeOptions }
    | undefined;

  constructor(options: StoragesOptions = {}) {
    this.#options = options;
  }

  /**
   * Reads every source and validates every storage and their layout; throws one ConfigError listing
   * every problem. Call it at boot to fail fast; `get()` calls it otherwise. Runs once.
   */
  async load(): Promise<this> {
    this.#loading ??= this.#load();
    try {
      await this.#loading;
    } catch (error) {
      // A failed load is retried on the next call (after the operator fixed the environment).
      this.#loading = undefined;
      throw error;
    }
    return this;
  }

  /** The configured storage names, sorted. */
  async names(): Promise<string[]> {
    const state = await this.#state();
    return [...state.storages.keys()].sort();
  }

  async has(name: string): Promise<boolean> {
    if (this.#isFaked(name)) return true;
    return (await this.#state()).storages.has(name);
  }

  /**
   * The storage application code uses. `staticfiles` (and storages configured `readOnly`) come back
   * read-only: writes throw ReadOnlyError. Deploy tooling uses `getWriter()`.
   */
  async get(name: string): Promise<Storage> {
    if (this.#isFaked(name)) return this.#fakeFor(name, false);
    return (await this.#build(name)).app;
  }

  /** The writable storage, for deploy-time tools (collectstatic) and migrations. */
  async getWriter(name: string): Promise<Storage> {
    if (this.#isFaked(name)) return this.#fakeFor(name, true);
    return (await this.#build(name)).writer;
  }

  /** What is configured where, without secrets: for `storages check` and startup logs. */
  async describe(): Promise<StorageDescription[]> {
    const state = await this.#state();
    return [...state.storages.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((s) => ({
        name: s.name,
        backend: s.instance ? s.instance.backend : (s.backend?.name ?? "?"),
        source: s.source,
        sourceKind: s.sourceKind,
        location: s.locationText,
        visibility: s.storageOptions.visibility,
        readOnly: s.readOnly,
      }));
  }

  /** The mode in effect ("local": every storage is a local folder). */
  async mode(): Promise<StorageMode> {
    return (await this.#state()).mode;
  }

  /**
   * Swaps every named storage (or only `names`) for an empty in-memory one until `restore()`:
   * for application tests. Nothing is loaded from the environment for faked names.
   */
  fake(names?: readonly string[], options: FakeOptions = {}): FakeStorages {
    this.#fake = { names: names ? new Set(names) : undefined, storages: new Map(), options };
    return new FakeStorages(this);
  }

  /** Ends `fake()`: the configured storages come back. */
  restore(): void {
    this.#fake = undefined;
  }

  /** @internal used by FakeStorages */
  fakeStorage(name: string): FakeStorage {
    if (!this.#fake) throw new ConfigError("This registry is not faked: call storages.fake() first.");
    return this.#fakeFor(name, true) as FakeStorage;
  }

  /** @internal */
  fakedNames(): string[] {
    return [...(this.#fake?.storages.keys() ?? [])].sort();
  }

  /**
   * Closes every storage it built (not ones handed over in code) and forgets the configuration:
   * the next get() reloads it.
   */
  async close(): Promise<void> {
    const built = [...this.#built.values()];
    this.#built.clear();
    this.#loading = undefined;
    const results = await Promise.allSettled(
      built.map(async (p) => {
        const b = await p;
        if (b.owned) await b.writer.close();
      }),
    );
    const failure = results.find((r) => r.status === "rejected" && !ConfigError.isInstance(r.reason));
    if (failure && failure.status === "rejected") throw failure.reason;
  }

  // -------------------------------------------------------------------------------------------

  #isFaked(name: string): boolean {
    return this.#fake !== undefined && (this.#fake.names === undefined || this.#fake.names.has(name));
  }

  #fakeFor(name: string, writer: boolean): Storage {
    const fake = this.#fake!;
    let storage = fake.storages.get(name);
    if (!storage) {
      checkStorageName(name, "fake()");
      // Each fake gets URLs of its own, so "default" and "private" never sign alike.
      storage = new FakeStorage({
        baseUrl: `https://${name}.fake-storage.invalid/`,
        ...fake.options.storages?.[name],
      });
      fake.storages.set(name, storage);
    }
    const readOnly = fake.options.readOnly?.includes(name) ?? name === STATICFILES;
    return !writer && readOnly ? readOnlyView(storage) : storage;
  }

  async #state(): Promise<LoadedState> {
    await this.load();
    return this.#loading!;
  }

  #build(name: string): Promise<Built> {
    let pending = this.#built.get(name);
    if (!pending) {
      pending = this.#create(name);
      this.#built.set(name, pending);
      pending.catch(() => this.#built.delete(name));
    }
    return pending;
  }

  async #create(name: string): Promise<Built> {
    const state = await this.#state();
    const resolved = state.storages.get(name);
    if (!resolved) {
      const known = [...state.storages.keys()].sort();
      throw new ConfigError(
        `No storage named "${name}"${didYouMean(name, known)}. Set ${envVarFor(name)} to a storage URL, or define ` +
          `"${name}" in storages.config.json or createStorages({ storages }). Configured: ${known.join(", ") || "none"}.`,
      );
    }
    let writer: Storage;
    if (resolved.instance) {
      writer = resolved.instance;
    } else {
      let driver: ReturnType<BackendDefinition["create"]>;
      try {
        driver = resolved.backend!.create(resolved.driverOptions);
      } catch (cause) {
        if (StorageError.isInstance(cause)) throw cause;
        throw new ConfigError(
          `${resolved.source}: the ${resolved.backend!.name} driver could not be created: ${(cause as Error)?.message ?? cause}`,
          { cause },
        );
      }
      writer = new Storage(driver, resolved.storageOptions);
    }
    return { writer, app: resolved.readOnly ? readOnlyView(writer) : writer, owned: !resolved.instance };
  }

  async #load(): Promise<LoadedState> {
    const o = this.#options;
    const env = o.env ?? process.env;
    const cwd = resolve(o.cwd ?? process.cwd());
    const onWarning = o.onWarning ?? ((w: ConfigWarning) => console.warn(`[storages] ${w.message}`));
    const extra = new Map<string, BackendDefinition>();
    for (const def of o.backends ?? []) for (const s of def.schemes) extra.set(s.toLowerCase(), def);
    const importer = o.importPackage ?? defaultImporter;
    const imports = new Map<string, Promise<unknown>>();
    // One import per package per load, however many storages use it.
    const importPackage: PackageImporter = (specifier) => {
      let pending = imports.get(specifier);
      if (!pending) {
        pending = importer(specifier);
        imports.set(specifier, pending);
      }
      return pending;
    };

    const mode = readMode(o.mode, env);
    const localRootSource =
      o.localRoot !== undefined ? "createStorages({ localRoot })" : GLOBAL_VARS.localRoot;
    const localRoot = resolve(cwd, o.localRoot ?? env[GLOBAL_VARS.localRoot] ?? DEFAULT_LOCAL_ROOT);
    const localBaseUrl = readLocalBaseUrl(o.localBaseUrl, env);

    // Sources, lowest first, so higher ones replace whole entries.
    const entries = new Map<string, SourcedEntry>();
    const localUrls = new Map<string, { url: string | false; source: string }>();
    const file =
      o.configFile === false
        ? undefined
        : await loadConfigFile(
            cwd,
            o.configFile !== undefined
              ? { path: o.configFile, source: "createStorages({ configFile })" }
              : env[GLOBAL_VARS.config]
                ? { path: env[GLOBAL_VARS.config]!, source: GLOBAL_VARS.config }
                : undefined,
          );
    const problems: unknown[] = [];
    for (const [name, entry] of Object.entries(file?.entries ?? {})) {
      const source = `${file!.label} › ${name}`;
      try {
        checkStorageName(name, file!.label);
        entries.set(name, { name, sourceKind: "file", source, entry: entry as object });
        const local = localOf(entry);
        if (local !== undefined) localUrls.set(name, { url: local, source: `${source}.local` });
      } catch (error) {
        problems.push(error);
      }
    }
    const codeNames = Object.keys(o.storages ?? {});
    // default and staticfiles exist in local mode without being configured: their secrets are not strays.
    const declared = new Set([...WELL_KNOWN, ...codeNames, ...entries.keys()]);
    const scan = scanEnv(env, knownSchemes(extra.values()), declared);
    for (const [name, url] of scan.urls) {
      entries.set(name, { name, sourceKind: "env", source: envVarFor(name), entry: url });
    }
    for (const [name, url] of scan.localOverrides) {
      localUrls.set(name, { url, source: `${envVarFor(name)}_LOCAL` });
    }
    for (const [name, entry] of Object.entries(o.storages ?? {})) {
      const source = `createStorages({ storages: { ${name} } })`;
      try {
        checkStorageName(name, "createStorages({ storages })");
        entries.set(name, { name, sourceKind: "code", source, entry: entry as object });
        const local = localOf(entry);
        if (local !== undefined) localUrls.set(name, { url: local, source: `${source}.local` });
      } catch (error) {
        problems.push(error);
      }
    }
    const warnings: ConfigWarning[] = [...scan.warnings];

    const names = new Set(entries.keys());
    if (mode === "local") {
      for (const n of WELL_KNOWN) names.add(n);
      for (const n of localUrls.keys()) names.add(n);
    }

    const context = { env, extra, importPackage };
    const storages = new Map<string, ResolvedStorage>();
    for (const name of [...names].sort()) {
      try {
        const chosen = entries.get(name);
        const resolved =
          mode === "local"
            ? await resolveLocal(
                name,
                chosen,
                localUrls.get(name),
                localRoot,
                localRootSource,
                localBaseUrl,
                context,
              )
            : await resolveEntry(chosen!, context);
        storages.set(name, resolved);
      } catch (error) {
        problems.push(error);
      }
    }
    if (problems.length > 0) throw combine(problems);

    // Layout: nothing is created while checking; symlinks are followed.
    const located: LocatedStorage[] = [];
    for (const s of storages.values()) {
      const location =
        s.location.kind === "dir"
          ? { kind: "dir" as const, path: await resolveExisting(s.location.path) }
          : s.location;
      located.push({ name: s.name, source: s.source, location, allowOverlap: s.allowOverlap });
    }
    checkOverlaps(located);
    const mountInfo = o.mountInfo ?? readMountInfo();
    for (const s of located) {
      const r = storages.get(s.name)!;
      if (s.location.kind !== "dir" || s.name === STATICFILES || r.readOnly) continue;
      warnings.push(
        ...(await directoryWarnings(
          { name: s.name, source: s.source, path: s.location.path },
          { cwd, mountInfo, localMode: mode === "local" },
        )),
      );
    }
    for (const w of warnings) onWarning(w);
    return { storages, mode };
  }
}

export interface FakeOptions {
  /** Facade options per faked storage (e.g. `{ private: { visibility: "private" } }`). */
  storages?: Record<string, FakeStorageOptions> | undefined;
  /** Names handed out read-only by get(). Default: ["staticfiles"]. */
  readOnly?: readonly string[] | undefined;
}

/** Returned by `storages.fake()`: the fakes, with assertions that name the storage. */
export class FakeStorages {
  constructor(private readonly registry: StorageRegistry) {}

  /** The writable fake behind a name (created empty on first use). */
  storage(name: string): FakeStorage {
    return this.registry.fakeStorage(name);
  }

  /** Names the application touched so far. */
  names(): string[] {
    return this.registry.fakedNames();
  }

  files(name: string): string[] {
    return this.storage(name).files();
  }

  async assertExists(name: string, path: string): Promise<void> {
    await prefixed(name, () => this.storage(name).assertExists(path));
  }

  async assertMissing(name: string, path: string): Promise<void> {
    await prefixed(name, () => this.storage(name).assertMissing(path));
  }

  async assertContent(name: string, path: string, expected: string | Uint8Array): Promise<void> {
    await prefixed(name, () => this.storage(name).assertContent(path, expected));
  }

  async assertCount(name: string, expected: number): Promise<void> {
    await prefixed(name, async () => this.storage(name).assertCount(expected));
  }

  /** Fails when any storage other than `names` received a file (e.g. nothing written to staticfiles). */
  assertUntouched(...names: string[]): void {
    for (const name of names) {
      const files = this.registry.fakedNames().includes(name) ? this.files(name) : [];
      if (files.length > 0) {
        throw new Error(
          `Expected storage "${name}" to stay empty; it holds ${files.slice(0, 10).join(", ")}.`,
        );
      }
    }
  }

  restore(): void {
    this.registry.restore();
  }
}

async function prefixed(name: string, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (error) {
    if (error instanceof Error) error.message = `[storage "${name}"] ${error.message}`;
    throw error;
  }
}

export function createStorages(options: StoragesOptions = {}): StorageRegistry {
  return new StorageRegistry(options);
}

/** The process-wide registry, configured from process.env and storages.config.* in the cwd. */
export const storages: StorageRegistry = createStorages();

// ---------------------------------------------------------------------------------------------
// Resolution of one storage

interface ResolveContext {
  env: Record<string, string | undefined>;
  extra: ReadonlyMap<string, BackendDefinition>;
  importPackage: PackageImporter;
}

function readMode(explicit: StorageMode | undefined, env: Record<string, string | undefined>): StorageMode {
  const raw = explicit ?? env[GLOBAL_VARS.mode]?.trim();
  if (raw === undefined || raw === "") return "remote";
  if (raw === "local" || raw === "remote") return raw;
  throw new ConfigError(
    `${explicit !== undefined ? "createStorages({ mode })" : GLOBAL_VARS.mode} must be "local" (every storage is a ` +
      `folder under STORAGES_LOCAL_ROOT) or "remote" (the storages as configured), not ${JSON.stringify(raw.slice(0, 20))}.`,
  );
}

function readLocalBaseUrl(explicit: string | undefined, env: Record<string, string | undefined>): string {
  const raw = explicit ?? env[GLOBAL_VARS.localBaseUrl]?.trim();
  if (raw === undefined || raw === "") return DEFAULT_LOCAL_BASE_URL;
  if (!raw.startsWith("/") || raw.startsWith("//") || /[?#\s]/.test(raw)) {
    throw new ConfigError(
      `${explicit !== undefined ? "createStorages({ localBaseUrl })" : GLOBAL_VARS.localBaseUrl} must be a URL path ` +
        `starting with / (e.g. /storages/): local-mode files are served by the app itself.`,
    );
  }
  return raw;
}

function localOf(entry: unknown): string | false | undefined {
  if (typeof entry !== "object" || entry === null || Storage.isInstance(entry)) return undefined;
  const local = (entry as StorageEntry).local;
  return local === undefined ? undefined : local;
}

function combine(problems: unknown[]): unknown {
  const foreign = problems.find((p) => !ConfigError.isInstance(p));
  if (foreign) return foreign;
  if (problems.length === 1) return problems[0];
  const error = new ConfigError(
    `The storage configuration has ${problems.length} problems:\n- ${problems.map((p) => (p as Error).message).join("\n- ")}`,
  );
  (error as ConfigError & { errors: unknown[] }).errors = problems;
  return error;
}

/** The normalised parts of an entry, whatever its form. */
interface EntryParts {
  url?: string | undefined;
  backendName?: string | undefined;
  options?: Record<string, unknown> | undefined;
  storage: StorageLevelOptions;
  instance?: Storage | undefined;
}

function entryParts(sourced: SourcedEntry): EntryParts {
  const { entry, source } = sourced;
  if (typeof entry === "string") return { url: entry, storage: {} };
  if (Storage.isInstance(entry)) {
    if (sourced.sourceKind !== "code")
      throw new ConfigError(`${source}: only code can hand over a Storage instance.`);
    return { instance: entry, storage: {} };
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
  if (e.visibility !== undefined) storage.visibility = parseVisibility(e.visibility, `${source}.visibility`);
  if (e.overwrite !== undefined) storage.overwrite = parseBoolean(e.overwrite, `${source}.overwrite`);
  if (e.readOnly !== undefined) storage.readOnly = parseBoolean(e.readOnly, `${source}.readOnly`);
  if (e.allowOverlap !== undefined)
    storage.allowOverlap = parseBoolean(e.allowOverlap, `${source}.allowOverlap`);
  if (e.publicUrl !== undefined) storage.publicUrl = parsePublicUrl(e.publicUrl, `${source}.publicUrl`);
  if (e.signedUrlExpiresIn !== undefined) {
    storage.signedUrlExpiresIn = parsePositiveInt(
      e.signedUrlExpiresIn,
      `${source}.signedUrlExpiresIn`,
      "seconds",
    );
  }
  if (e.timeout !== undefined)
    storage.timeout = parsePositiveInt(e.timeout, `${source}.timeout`, "milliseconds");
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
  };
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
  backend: BackendDefinition,
  source: string,
  asParam: boolean,
): void {
  const allowed = backend.optionKeys;
  for (const key of keys) {
    if (allowed.includes(key)) continue;
    const candidates = asParam ? [...allowed, ...STORAGE_LEVEL_PARAMS] : [...allowed];
    const list = asParam
      ? `${backend.name} takes ${allowed.join(", ") || "no options"}; every storage takes ${STORAGE_LEVEL_PARAMS.join(", ")}`
      : `${backend.name} takes ${allowed.join(", ") || "no options"}`;
    throw new ConfigError(
      `${source}: unknown ${asParam ? "query parameter" : "option"} \`${key}\`${didYouMean(key, candidates)} (${list}).`,
    );
  }
}

async function resolveEntry(sourced: SourcedEntry, context: ResolveContext): Promise<ResolvedStorage> {
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
      locationText: "(instance)",
      instance: parts.instance,
    };
  }
  if (parts.url !== undefined) {
    return resolveUrl(name, parts.url, source, sourced.sourceKind, parts.storage, context);
  }
  const scheme = schemeForBackendName(parts.backendName!) ?? parts.backendName!.toLowerCase();
  const backend = await loadBackend(scheme, source, context);
  const options = parts.options ?? {};
  checkOptionKeys(Object.keys(options), backend, `${source}.options`, false);
  return finish(
    name,
    source,
    sourced.sourceKind,
    backend,
    options,
    parts.storage,
    locationFromOptions(scheme, options),
    `${backend.name}:(options)`,
  );
}

async function resolveUrl(
  name: string,
  url: string,
  source: string,
  sourceKind: SourceKind | "local",
  entryStorage: StorageLevelOptions,
  context: ResolveContext,
): Promise<ResolvedStorage> {
  const parsed = parseStorageUrl(url, source, name);
  const storage = mergeStorageLevel(parsed.storage, entryStorage, source);
  const backend = await loadBackend(parsed.scheme, source, context);
  checkOptionKeys(new Set(parsed.backendUrl.searchParams.keys()), backend, source, true);
  let options: Record<string, unknown>;
  try {
    options = backend.fromUrl(parsed.backendUrl, { source, storageName: name, env: context.env }) as Record<
      string,
      unknown
    >;
  } catch (cause) {
    if (StorageError.isInstance(cause)) throw cause;
    throw new ConfigError(`${source}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
  const location = locationFromUrl(parsed.scheme, parsed.backendUrl);
  const text = `${parsed.backendUrl.protocol}//${parsed.backendUrl.host}${parsed.backendUrl.pathname}`;
  return finish(name, source, sourceKind, backend, options, storage, location, text);
}

function finish(
  name: string,
  source: string,
  sourceKind: SourceKind | "local",
  backend: BackendDefinition,
  driverOptions: Record<string, unknown>,
  storage: StorageLevelOptions,
  location: StorageLocation,
  locationText: string,
): ResolvedStorage {
  const { readOnly, allowOverlap, ...facade } = storage;
  // A storage configured with a public base URL serves its files there: it is public unless the
  // configuration says visibility=private explicitly (e.g. a CDN with signed cookies).
  if (facade.publicUrl !== undefined && facade.visibility === undefined) facade.visibility = "public";
  // Drivers whose visibility lives in the service (S3 ACLs, Azure container access) take it as a
  // driver option too; the facade alone would leave them answering getVisibility() wrongly.
  if (
    facade.visibility !== undefined &&
    backend.optionKeys.includes("visibility") &&
    driverOptions.visibility === undefined
  ) {
    driverOptions = { ...driverOptions, visibility: facade.visibility };
  }
  if (name === STATICFILES && allowOverlap) {
    throw new ConfigError(
      `${source}: allowOverlap is refused for staticfiles: static and media must never share a location.`,
    );
  }
  return {
    name,
    source,
    sourceKind,
    backend,
    driverOptions,
    storageOptions: facade,
    readOnly: readOnly ?? name === STATICFILES,
    allowOverlap: allowOverlap ?? false,
    location,
    locationText,
  };
}

/**
 * Local mode: every storage becomes a folder (its `_LOCAL` override, else `<localRoot>/<name>`).
 * Facade settings that describe the storage's role (visibility, overwrite, read-only, signed URL
 * lifetime) carry over from the remote entry, so dev behaves like prod; a CDN publicUrl does not.
 */
async function resolveLocal(
  name: string,
  chosen: SourcedEntry | undefined,
  local: { url: string | false; source: string } | undefined,
  localRoot: string,
  localRootSource: string,
  localBaseUrl: string,
  context: ResolveContext,
): Promise<ResolvedStorage> {
  const parts = chosen ? entryParts(chosen) : undefined;
  if (chosen && (parts?.instance || local?.url === false)) return resolveEntry(chosen, context);
  let inherited: StorageLevelOptions = {};
  if (chosen && parts) {
    inherited = { ...parts.storage };
    if (parts.url !== undefined)
      inherited = { ...parseStorageUrl(parts.url, chosen.source, name).storage, ...inherited };
    delete inherited.publicUrl;
  }
  if (local && local.url !== false) {
    const localParsed = parseStorageUrl(local.url, local.source, name);
    // The override's own parameters win over the inherited ones.
    const merged = { ...inherited, ...localParsed.storage };
    return resolveUrl(
      name,
      local.url,
      local.source,
      "local",
      withoutKeys(merged, localParsed.storage),
      context,
    );
  }
  const url = new URL(pathToFileURL(resolve(localRoot, name)).href);
  // Served by the app (createFsHandler) under one path per storage, so url() works in dev as in prod:
  // public files at their plain URL, private ones through signed URLs.
  const base = `${localBaseUrl.replace(/\/+$/, "")}/${name}/`;
  url.searchParams.set("signingBaseUrl", base);
  if (inherited.visibility === "public") inherited.publicUrl = base;
  const secretVar = `${envVarFor(name)}_SIGNING_SECRET`;
  // Without a configured secret, one per process: signed URLs work until a restart (dev, CI).
  const env = context.env[secretVar] ? context.env : { ...context.env, [secretVar]: processSecret() };
  return resolveUrl(
    name,
    url.href,
    `${localRootSource} (local mode, storage "${name}")`,
    "local",
    inherited,
    {
      ...context,
      env,
    },
  );
}

let generatedSecret: string | undefined;
function processSecret(): string {
  generatedSecret ??= randomBytes(48).toString("base64");
  return generatedSecret;
}

function withoutKeys(all: StorageLevelOptions, remove: StorageLevelOptions): StorageLevelOptions {
  const out = { ...all };
  for (const key of Object.keys(remove) as Array<keyof StorageLevelOptions>) delete out[key];
  return out;
}
