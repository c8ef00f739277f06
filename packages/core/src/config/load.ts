/**
 * Loading a configuration: the sources read in order of precedence (code > `STORAGES_<NAME>` >
 * `storages.config.*`), the mode and local-mode settings, every storage resolved, every problem
 * collected into one ConfigError, then the layout checks and warnings (overlaps, stray variables,
 * directories). The registry runs it once and keeps the result; nothing here creates a driver.
 */
import { resolve } from "node:path";
import { ConfigError } from "../errors.js";
import type { Storage } from "../storage.js";
import type { BackendDefinition } from "../types.js";
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
import { combine, scrub, secretValues } from "./problems.js";
import {
  type LocalSettings,
  localOf,
  type ResolvedStorage,
  resolveEntry,
  resolveLocal,
  STATICFILES,
} from "./resolve.js";
import {
  checkStorageName,
  GLOBAL_VARS,
  loadConfigFile,
  type SourcedEntry,
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

export interface LoadedState {
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

/**
 * Reads every source and resolves every storage (`load()` of a registry, once): one ConfigError
 * listing every problem, then the layout checks and warnings.
 */
export async function loadConfiguration(o: StoragesOptions): Promise<LoadedState> {
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
  const localRootSource = o.localRoot !== undefined ? "createStorages({ localRoot })" : GLOBAL_VARS.localRoot;
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
      visibility: s.storageOptions.visibility,
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
