/**
 * Named storages, like Django's STORAGES: `default` (media), `staticfiles`, and any other names
 * (`private`, `exports`…), each a backend plus options, the same names in every environment.
 *
 *   const media = await storages.get("default");
 *
 * `load()` (run by the first `get()`) reads every source, validates every storage and the layout
 * between them, and reports warnings; drivers are created on first `get()` of each name and cached.
 *
 * This module is the registry itself: loading once, building and caching each storage, `describe()`,
 * `fake()`/`restore()` and `close()`. Beside it: load.ts (reading and validating a configuration),
 * problems.ts (one ConfigError, secrets cut out), writer.ts (a resolved storage's driver and Storage),
 * fakes.ts (the `fake()` handle for tests), open-url.ts (`openStorageUrl()`, without a registry).
 */
import { readOnly as readOnlyView } from "../decorators.js";
import { ConfigError } from "../errors.js";
import { FakeStorage } from "../fake.js";
import type { Storage } from "../storage.js";
import type { Capabilities, StorageLocation, Visibility } from "../types.js";
import { type FakeOptions, FakeStorages } from "./fakes.js";
import { type LoadedState, loadConfiguration, type StorageMode, type StoragesOptions } from "./load.js";
import { didYouMean, storageVariable } from "./params.js";
import { STATICFILES } from "./resolve.js";
import { checkStorageName, type SourceKind } from "./sources.js";
import { createWriter } from "./writer.js";

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
    this.#loading ??= loadConfiguration(this.#options);
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

  /**
   * Where a configured storage keeps its files, as the layout rules see it (see
   * StorageDescription.locationParts), without building it; undefined for a name not configured.
   */
  async location(name: string): Promise<StorageLocation | undefined> {
    return (await this.#state()).storages.get(name)?.location;
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
}

export function createStorages(options: StoragesOptions = {}): StorageRegistry {
  return new StorageRegistry(options);
}

/** The process-wide registry, configured from process.env and storages.config.* in the cwd. */
export const storages: StorageRegistry = createStorages();
