/**
 * The configuration, read exactly as the application reads it — the library side of `config` and
 * of every command's named storages:
 *
 * - the environment (`STORAGES_<NAME>`, `STORAGES_MODE`…), after `--env-file` files are loaded as
 *   `node --env-file` loads them (Node's own parser; the real environment wins; later files win
 *   over earlier ones);
 * - the config file: `--config FILE`, else `STORAGES_CONFIG`, else `storages.config.*` in the
 *   working directory — the same lookup as `createStorages()`.
 *
 * So `storages` and the app never disagree about where `default` lives.
 */
import { readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { parseEnv } from "node:util";
import {
  type ConfigWarning,
  createStorages,
  type StorageDescription,
  type StorageFeatures,
  type StorageMode,
  type StorageRegistry,
} from "@storages/core";
import { pathProblem, UsageError } from "../errors.js";

/**
 * Loads `.env` files into `env` the way `node --env-file=a --env-file=b` does: variables already
 * in `env` keep their value, and a later file overrides an earlier one. Returns the names it set.
 */
export function loadEnvFiles(
  files: readonly string[],
  env: Record<string, string | undefined>,
  cwd: string = process.cwd(),
): string[] {
  const fromFiles: Record<string, string> = {};
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(resolve(cwd, file), "utf8");
    } catch (error) {
      throw new UsageError(`--env-file ${file}: ${pathProblem(error)}. Give the path of a .env file.`);
    }
    Object.assign(fromFiles, parseEnv(text));
  }
  const set: string[] = [];
  for (const [key, value] of Object.entries(fromFiles)) {
    if (env[key] !== undefined) continue;
    env[key] = value;
    set.push(key);
  }
  return set;
}

/**
 * `--config FILE` must name a file: a missing one or a folder is the command line's mistake (exit
 * 2, in the words --env-file uses), not the configuration's ("createStorages({ configFile })…").
 */
export function checkConfigFile(file: string | undefined, cwd: string): void {
  if (file === undefined) return;
  let problem: string | undefined;
  try {
    if (statSync(resolve(cwd, file)).isDirectory()) problem = "is a folder, not a file";
  } catch (error) {
    problem = pathProblem(error);
  }
  if (problem !== undefined)
    throw new UsageError(
      `--config ${file}: ${problem}. Give the app's storages config file (storages.config.json, .js, .mjs or .ts), or leave --config out.`,
    );
}

/**
 * What `ls` and `config` say when no storage is configured at all: an empty answer that is almost
 * always the wrong place or environment (the app's .env not loaded), not an empty configuration.
 */
export function noStoragesNote(cwd: string): string {
  return `No storage is configured here: no STORAGES_<NAME> variable, no --config, no storages.config.{json,js,mjs,ts} in ${cwd}. Run it where the app runs, with its environment (storages -e .env.production …).`;
}

export interface ConfigurationOptions {
  /** Default: process.env (after loadEnvFiles, when the command line named some). */
  env?: Record<string, string | undefined> | undefined;
  cwd?: string | undefined;
  /** A config file (`--config`); default: STORAGES_CONFIG, else storages.config.* in cwd. */
  configFile?: string | undefined;
  onWarning?: ((warning: ConfigWarning) => void) | undefined;
}

/** The registry the application would build from the same environment and files. */
export function openConfiguration(options: ConfigurationOptions = {}): StorageRegistry {
  return createStorages({
    env: options.env,
    cwd: options.cwd,
    configFile: options.configFile,
    onWarning: options.onWarning,
  });
}

/** One storage as `storages config` shows it: `describe()` plus who does what (`features`). */
export type StorageReport = StorageDescription & { features: StorageFeatures };

export interface ConfigReport {
  mode: StorageMode;
  storages: StorageReport[];
  warnings: ConfigWarning[];
}

/**
 * Every named storage (or those in `names`): backend, location, visibility, capabilities and
 * features, and the source of each value. Secret-free: secrets appear as their variables' names.
 * Builds the storages; touches no network.
 */
export async function describeConfig(
  registry: StorageRegistry,
  options: { names?: readonly string[] | undefined; warnings?: readonly ConfigWarning[] | undefined } = {},
): Promise<ConfigReport> {
  await registry.load();
  const all = await registry.describe();
  const wanted = options.names && options.names.length > 0 ? new Set(options.names) : undefined;
  if (wanted) {
    for (const name of wanted) if (!all.some((s) => s.name === name)) await registry.get(name); // throws, with suggestions
  }
  const storages: StorageReport[] = [];
  for (const description of all) {
    if (wanted && !wanted.has(description.name)) continue;
    const { features } = await registry.getWriter(description.name);
    storages.push({ ...description, features });
  }
  return { mode: await registry.mode(), storages, warnings: [...(options.warnings ?? [])] };
}
