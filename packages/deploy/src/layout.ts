/**
 * The configuration exactly as the app reads it (same environment, config file and mode), seen
 * the way deployment tools need it: every named storage with its role — `staticfiles` is the
 * static storage, every other one holds media (uploads) — its description (`describe()`: location,
 * public URL, visibility, features; never a secret) and, for a local directory, the real path with
 * symlinks followed. Overlaps are collected, not thrown, so a check reports all its problems.
 *
 * Nothing here knows a backend by name: locations and descriptions come from each backend.
 */
import {
  type ConfigWarning,
  createStorages,
  resolveExisting,
  STATICFILES,
  type Storage,
  type StorageDescription,
  type StorageEntryInput,
  type StorageMode,
  type StorageOverlap,
  type StorageRegistry,
} from "@storages/core";

export type StorageRole = "static" | "media";

export interface DeployStorage {
  name: string;
  role: StorageRole;
  description: StorageDescription;
  /** For a local directory: its absolute path, symlinks followed (it may not exist yet), for the layout rules. */
  directory: string | undefined;
  /**
   * The directory as configured (symlinks kept): what a web server is given, so `current/static`
   * follows the `current` symlink to each new release.
   */
  configuredDirectory: string | undefined;
}

/** Where the configuration comes from: the same inputs as `createStorages()`. */
export interface ConfigurationInput {
  /** Default: process.env. */
  env?: Record<string, string | undefined> | undefined;
  /** Default: process.cwd(). */
  cwd?: string | undefined;
  /** A config file; default: STORAGES_CONFIG, else storages.config.* in cwd; false: none. */
  configFile?: string | false | undefined;
  /** Storages defined in code, as the app passes them to createStorages({ storages }). */
  storages?: Record<string, StorageEntryInput> | undefined;
}

export interface DeploymentLayout {
  mode: StorageMode;
  storages: DeployStorage[];
  overlaps: StorageOverlap[];
  /** Core's configuration warnings (stray variables…), as the app would log them. */
  warnings: ConfigWarning[];
  /** The writable storage behind a name (deploy tools write probes; the app gets read-only static). */
  writer(name: string): Promise<Storage>;
  close(): Promise<void>;
}

export function roleOf(name: string): StorageRole {
  return name === STATICFILES ? "static" : "media";
}

/** A private media storage: served only through the app (X-Accel-Redirect), never under a public URL. */
export function isPrivateMedia(s: DeployStorage): boolean {
  return s.role === "media" && s.description.visibility === "private";
}

/** Loads the configuration; a broken one throws core's ConfigError (listing every problem). */
export async function loadLayout(input: ConfigurationInput = {}): Promise<DeploymentLayout> {
  const overlaps: StorageOverlap[] = [];
  const warnings: ConfigWarning[] = [];
  const registry: StorageRegistry = createStorages({
    env: input.env,
    cwd: input.cwd,
    configFile: input.configFile,
    storages: input.storages,
    // Layout warnings are re-derived by the checks (as findings); here they are only collected.
    mountInfo: "",
    onWarning: (w) => warnings.push(w),
    onOverlap: (o) => overlaps.push(o),
  });
  try {
    const described = await registry.describe();
    const storages: DeployStorage[] = [];
    for (const description of described) {
      const parts = description.locationParts;
      storages.push({
        name: description.name,
        role: roleOf(description.name),
        description,
        directory: parts.kind === "dir" ? await resolveExisting(parts.path) : undefined,
        configuredDirectory: parts.kind === "dir" ? parts.path : undefined,
      });
    }
    return {
      mode: await registry.mode(),
      storages,
      overlaps,
      warnings: warnings.filter((w) => w.code === "W_UNKNOWN_VARIABLE"),
      writer: (name) => registry.getWriter(name),
      close: () => registry.close(),
    };
  } catch (error) {
    await registry.close().catch(() => {});
    throw error;
  }
}

/** The path part of a public URL base ("/static/" of "https://cdn.example.com/static/"). */
export function urlPath(publicUrl: string): string {
  if (publicUrl.startsWith("/")) return new URL(publicUrl, "http://x").pathname;
  return new URL(publicUrl).pathname;
}
