/**
 * Named storages, like Django's STORAGES: `default` (media), `staticfiles`, and any other names
 * (`private`, `exports`…), each a backend plus options, the same names in every environment.
 *
 *   const media = await storages.get("default");
 *
 * `load()` (run by the first `get()`) reads every source, validates every storage and the layout
 * between them, and reports warnings; drivers are created on first `get()` of each name and cached.
 */
import { resolve } from "node:path";
import { readOnly as readOnlyView } from "../decorators.js";
import { ConfigError, StorageError } from "../errors.js";
import { FakeStorage, type FakeStorageOptions } from "../fake.js";
import { Storage } from "../storage.js";
import type {
  BackendDefinition,
  BackendDescription,
  Capabilities,
  StorageLocation,
  Visibility,
} from "../types.js";
import { defaultImporter, knownSchemes, type PackageImporter } from "./backends.js";
import {
  type ConfigWarning,
  checkOverlaps,
  directoryWarnings,
  findOverlaps,
  type LocatedStorage,
  readMountInfo,
  resolveExisting,
  type StorageOverlap,
} from "./locations.js";
import { didYouMean, storageVariable } from "./params.js";
import {
  type LocalSettings,
  localOf,
  type ResolvedStorage,
  relabel,
  resolveEntry,
  resolveLocal,
  resolveUrl,
  STATICFILES,
} from "./resolve.js";
import {
  checkStorageName,
  GLOBAL_VARS,
  loadConfigFile,
  type SourcedEntry,
  type SourceKind,
  type StorageEntry,
  scanEnv,
} from "./sources.js";

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
  backends?: readonly BackendDefinition<object>[] | undefined;
  /** How driver packages are imported (tests use it to prove what gets loaded). */
  importPackage?: PackageImporter | undefined;
  /** Contents of /proc/self/mountinfo (tests); default: read from the system. */
  mountInfo?: string | undefined;
  /**
   * Receives overlapping storages instead of `load()` failing on them: for deployment checks,
   * which report every problem of a configuration rather than stop at the first. An app never
   * sets it.
   */
  onOverlap?: ((overlap: StorageOverlap) => void) | undefined;
}

/** What `describe()` reports about a storage: safe to print (no secret can be in it). */
export interface StorageDescription {
  name: string;
  /** The backend's name ("fs", "s3"…), or the instance's for a Storage handed over in code. */
  backend: string;
  /** The variable or config key that defined it (in local mode: the local root setting). */
  source: string;
  sourceKind: SourceKind | "local";
  /** Where the files are, for people: a directory, `s3://bucket/prefix`, `azure://account/container/prefix`. */
  location: string;
  /**
   * The same, for tools, as the layout rules see it: `{ kind: "dir", path }`, `{ kind: "bucket",
   * service, namespace, bucket, prefix }`, or `{ kind: "isolated" }` (memory, or a backend that does
   * not say).
   */
  locationParts: StorageLocation;
  /** Backend settings worth showing (region, endpoint, profile, sizes…): never a secret. */
  settings: Record<string, string | number | boolean>;
  /** Base of public URLs (the storage's publicUrl, else the driver's own), if any. */
  publicUrl: string | undefined;
  visibility: Visibility;
  readOnly: boolean;
  overwrite: boolean;
  signedUrlExpiresIn: number;
  timeout: number | undefined;
  /** What the driver can do. */
  capabilities: Capabilities;
  /**
   * Where each configured value came from, by option or setting name: `STORAGES_MEDIA`,
   * `STORAGES_MEDIA (region=)`, `storages.config.json › media.options.partSize`,
   * `STORAGES_MEDIA_SECRET_ACCESS_KEY`, `STORAGES_LOCAL_ROOT (local mode, storage "media")`…
   * Settings not listed are the defaults.
   */
  sources: Record<string, string>;
  /** The secret variables that supplied a value: their names, never their values. */
  secrets: string[];
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
  /** Values that could be secrets, cut out of every message. */
  secrets: string[];
}

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

  /**
   * What is configured where, without secrets, for tools (`storages config`, deployment checks)
   * and startup logs: every storage with its backend, location, public base URL, visibility,
   * capabilities and the source of each value. Builds the storages (no network is touched).
   */
  async describe(): Promise<StorageDescription[]> {
    const state = await this.#state();
    const sorted = [...state.storages.values()].sort((a, b) => a.name.localeCompare(b.name));
    return Promise.all(
      sorted.map(async (s): Promise<StorageDescription> => {
        const storage = (await this.#build(s.name)).writer;
        return {
          name: s.name,
          backend: s.backend?.name ?? storage.backend,
          source: s.source,
          sourceKind: s.sourceKind,
          location: s.description.location,
          locationParts: s.location,
          settings: { ...s.description.settings },
          publicUrl: storage.publicBaseUrl ?? s.description.publicUrl,
          visibility: storage.visibility,
          readOnly: s.readOnly,
          overwrite: storage.overwrite,
          signedUrlExpiresIn: storage.signedUrlExpiresIn,
          timeout: storage.timeout,
          capabilities: storage.capabilities,
          sources: { ...s.sources },
          secrets: [...s.secrets],
        };
      }),
    );
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
        `No storage named "${name}"${didYouMean(name, known)}. Set ${storageVariable(name)} to a storage URL, or define ` +
          `"${name}" in storages.config.json or createStorages({ storages }). Configured: ${known.join(", ") || "none"}.`,
      );
    }
    const writer = resolved.instance ?? createWriter(resolved, state.secrets);
    return { writer, app: resolved.readOnly ? readOnlyView(writer) : writer, owned: !resolved.instance };
  }

  async #load(): Promise<LoadedState> {
    const o = this.#options;
    const env = o.env ?? process.env;
    const cwd = resolve(o.cwd ?? process.cwd());
    const onWarning = o.onWarning ?? ((w: ConfigWarning) => console.warn(`[storages] ${w.message}`));
    const extra = new Map<string, BackendDefinition>();
    for (const def of o.backends ?? [])
      for (const s of def.schemes) extra.set(s.toLowerCase(), def as unknown as BackendDefinition);
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
    const local: LocalSettings = {
      root: localRoot,
      rootSource: localRootSource,
      baseUrl: readLocalBaseUrl(o.localBaseUrl, env),
      baseUrlSource:
        o.localBaseUrl !== undefined
          ? "createStorages({ localBaseUrl })"
          : env[GLOBAL_VARS.localBaseUrl]?.trim()
            ? GLOBAL_VARS.localBaseUrl
            : `${GLOBAL_VARS.localBaseUrl} (default ${DEFAULT_LOCAL_BASE_URL})`,
    };

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
      entries.set(name, { name, sourceKind: "env", source: storageVariable(name), entry: url });
    }
    for (const [name, url] of scan.localOverrides) {
      localUrls.set(name, { url, source: storageVariable(name, "LOCAL") });
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
    const secrets = secretValues(env, scan.urls);

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
            ? await resolveLocal(name, chosen, localUrls.get(name), local, context)
            : await resolveEntry(chosen!, context);
        storages.set(name, resolved);
      } catch (error) {
        problems.push(error);
      }
    }
    if (problems.length > 0) throw combine(problems, secrets);
    warnings.push(...strayVariableWarnings(env, storages, new Set([...names, ...declared])));

    // Layout: nothing is created while checking; symlinks are followed.
    const located: LocatedStorage[] = [];
    for (const s of storages.values()) {
      const location =
        s.location.kind === "dir"
          ? { kind: "dir" as const, path: await resolveExisting(s.location.path) }
          : s.location;
      located.push({
        name: s.name,
        source: s.source,
        location,
        display: s.description.location,
        allowOverlap: s.allowOverlap,
      });
    }
    if (o.onOverlap) for (const overlap of findOverlaps(located)) o.onOverlap(overlap);
    else checkOverlaps(located);
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
    for (const w of warnings) onWarning({ ...w, message: scrub(w.message, secrets) });
    return { storages, mode, secrets };
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

/** The writable Storage of a resolved storage; a driver that refuses its options names their source. */
function createWriter(resolved: ResolvedStorage, secrets: readonly string[]): Storage {
  try {
    return new Storage(resolved.backend!.create(resolved.driverOptions), resolved.storageOptions);
  } catch (cause) {
    const error = StorageError.isInstance(cause)
      ? relabel(cause, resolved.sources, resolved.source)
      : new ConfigError(
          `${resolved.source}: the ${resolved.backend!.name} driver could not be created: ${(cause as Error)?.message ?? cause}`,
          { cause },
        );
    throw scrubbed(error, secrets);
  }
}

export interface OpenStorageUrlOptions {
  /** What the URL is called in messages: `--to`, `the address "s3://…"`. Default: "the storage URL". */
  source?: string | undefined;
  /** The storage name whose `STORAGES_<NAME>_…` secret variables `env` is searched for. Default: "default". */
  storageName?: string | undefined;
  /**
   * Where the backend reads secret variables. Default: none, so only the backend's own default
   * credentials apply (the AWS chain, Application Default Credentials…): a URL typed on a command
   * line never picks up the secrets of a configured storage.
   */
  env?: Record<string, string | undefined> | undefined;
  /** Extra backends (third-party drivers), by their schemes. */
  backends?: readonly BackendDefinition<object>[] | undefined;
  /** How driver packages are imported. */
  importPackage?: PackageImporter | undefined;
}

export interface OpenedStorageUrl {
  /** The writable storage (`readOnly=` in the URL is reported, not applied: see `readOnly`). */
  storage: Storage;
  /** Whether the URL asks for application code to get it read-only (`readOnly=true`). */
  readOnly: boolean;
  /** Where the files are, as the layout rules see it. */
  location: StorageLocation;
  /** The backend's secret-free account of the location and settings. */
  description: BackendDescription;
}

/**
 * A Storage from one storage URL, resolved exactly as the registry resolves `STORAGES_<NAME>`
 * (query parameters, the visibility rule, validation, the backend package imported by scheme), for
 * tools that take a URL from their user (`storages ls s3://bucket/prefix`). Throws the ConfigError
 * the registry would, naming `source`.
 */
export async function openStorageUrl(
  url: string,
  options: OpenStorageUrlOptions = {},
): Promise<OpenedStorageUrl> {
  const env = options.env ?? {};
  const name = options.storageName ?? "default";
  const source = options.source ?? "the storage URL";
  const extra = new Map<string, BackendDefinition>();
  for (const def of options.backends ?? [])
    for (const s of def.schemes) extra.set(s.toLowerCase(), def as unknown as BackendDefinition);
  const secrets = secretValues(env, new Map());
  let resolved: ResolvedStorage;
  try {
    resolved = await resolveUrl(
      name,
      url,
      source,
      "code",
      { storage: {}, sources: {} },
      {
        env,
        extra,
        importPackage: options.importPackage ?? defaultImporter,
      },
    );
  } catch (error) {
    throw combine([error], secrets);
  }
  return {
    storage: createWriter(resolved, secrets),
    readOnly: resolved.readOnly,
    location: resolved.location,
    description: resolved.description,
  };
}

export function createStorages(options: StoragesOptions = {}): StorageRegistry {
  return new StorageRegistry(options);
}

/** The process-wide registry, configured from process.env and storages.config.* in the cwd. */
export const storages: StorageRegistry = createStorages();

// ---------------------------------------------------------------------------------------------
// Load-level helpers

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

/**
 * Values that may be secrets: every STORAGES_ variable that is not a storage URL or a global
 * setting (`STORAGES_MEDIA_SECRET_ACCESS_KEY`…, whichever backend reads it, loaded or not). They
 * are cut out of every configuration message, whatever produced it.
 */
function secretValues(env: Record<string, string | undefined>, urls: ReadonlyMap<string, string>): string[] {
  const globals = new Set<string>(Object.values(GLOBAL_VARS));
  const urlVars = new Set([...urls.keys()].map((n) => storageVariable(n)));
  const out: string[] = [];
  for (const [key, raw] of Object.entries(env)) {
    if (!key.startsWith("STORAGES_") || globals.has(key) || urlVars.has(key) || key.endsWith("_LOCAL"))
      continue;
    const value = raw?.trim();
    // Short values (true, 1, 600) would redact innocent words; no credential is that short.
    if (value !== undefined && value.length >= 8) out.push(value);
  }
  return out.sort((a, b) => b.length - a.length);
}

function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join("[redacted]");
  return out;
}

/** A ConfigError without any secret value; one whose message had to change loses its cause too. */
function scrubbed(error: unknown, secrets: readonly string[]): unknown {
  if (!StorageError.isInstance(error)) return error;
  const message = scrub(error.message, secrets);
  if (message === error.message) return error;
  return new ConfigError(message);
}

function flatten(problems: unknown[]): unknown[] {
  return problems.flatMap((p) => {
    const nested = (p as { errors?: unknown }).errors;
    return ConfigError.isInstance(p) && Array.isArray(nested) ? flatten(nested) : [p];
  });
}

function combine(problems: unknown[], secrets: readonly string[]): unknown {
  const all = flatten(problems).map((p) => scrubbed(p, secrets));
  const foreign = all.find((p) => !ConfigError.isInstance(p));
  if (foreign) return foreign;
  if (all.length === 1) return all[0];
  const error = new ConfigError(
    `The storage configuration has ${all.length} problems:\n- ${all.map((p) => (p as Error).message).join("\n- ")}`,
  );
  (error as ConfigError & { errors: unknown[] }).errors = all;
  return error;
}

/**
 * Variables of a storage that its backend does not read: a misspelt secret
 * (`STORAGES_MEDIA_SECRET_ACESS_KEY`) would otherwise leave the storage on default credentials, or
 * a secret meant for another backend would sit there unused. Only for backends that list their
 * variables, and not in local mode (the remote backend, which reads them, is not in use there).
 */
function strayVariableWarnings(
  env: Record<string, string | undefined>,
  storages: ReadonlyMap<string, ResolvedStorage>,
  allNames: ReadonlySet<string>,
): ConfigWarning[] {
  const warnings: ConfigWarning[] = [];
  const others = [...allNames].map((n) => storageVariable(n));
  for (const s of storages.values()) {
    if (!s.backend?.secretVariables || s.sourceKind === "local") continue;
    const base = storageVariable(s.name);
    const known = s.backend.secretVariables(s.name).map((v) => v.name);
    for (const [key, value] of Object.entries(env)) {
      if (!key.startsWith(`${base}_`) || value === undefined || value.trim() === "") continue;
      if (key === storageVariable(s.name, "LOCAL") || known.includes(key)) continue;
      // STORAGES_MEDIA_PRIVATE… belongs to the storage media_private, not to media.
      if (others.some((o) => o.length > base.length && (key === o || key.startsWith(`${o}_`)))) continue;
      warnings.push({
        code: "W_UNKNOWN_VARIABLE",
        storage: s.name,
        source: key,
        message:
          `${key} is set, but the ${s.backend.name} backend of storage "${s.name}" does not read it` +
          `${didYouMean(key, known)}. It reads ${known.join(", ") || "no variables of its own"}; ${key} is ignored.`,
      });
    }
  }
  return warnings;
}
