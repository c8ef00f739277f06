/**
 * Scheme → backend. Driver packages are imported on first use only, so an app whose storages are
 * all `file://` never loads a cloud SDK. Third-party backends register themselves (or are passed to
 * `createStorages({ backends })`).
 *
 * This table is all core knows of the bundled backends: where their packages live, so it can
 * import them by scheme. What each backend means — its locations, secrets, local mode, options —
 * comes from its own `BackendDefinition`.
 */
import { ConfigError } from "../errors.js";
import { MemoryDriver } from "../memory.js";
import type { BackendDefinition } from "../types.js";

/**
 * The scheme of local folders: local mode makes every storage a folder through the backend
 * registered for it (`@storages/fs`, or whatever is registered for `file:` instead).
 */
export const LOCAL_SCHEME = "file";

/** Where the bundled backends live. */
export const BACKEND_PACKAGES: Readonly<Record<string, string>> = {
  file: "@storages/fs",
  s3: "@storages/s3",
  gs: "@storages/gcs",
  azure: "@storages/azure",
};

/** Backend names accepted in `{ backend: … }` entries, mapped to their scheme. */
const BACKEND_NAME_TO_SCHEME: Readonly<Record<string, string>> = {
  fs: "file",
  file: "file",
  local: "file",
  s3: "s3",
  gcs: "gs",
  gs: "gs",
  azure: "azure",
  memory: "memory",
};

/** Each storage gets its own in-memory store: `memory://` twice is two separate storages. */
export const memoryBackend: BackendDefinition<Record<string, never>> = {
  name: "memory",
  schemes: ["memory"],
  optionKeys: [],
  urlParams: {},
  fromUrl(url, context) {
    if (url.pathname !== "" && url.pathname !== "/") {
      throw new ConfigError(
        `${context.source}: memory:// takes no path (each memory storage is separate): use memory://.`,
      );
    }
    return {};
  },
  validate() {},
  location: () => ({ kind: "isolated" }),
  describe: () => ({ location: "memory://" }),
  secretVariables: () => [],
  create() {
    return new MemoryDriver();
  },
};

const registered = new Map<string, BackendDefinition>();

/** Makes a backend available by its schemes to every registry created afterwards (or loaded later). */
export function registerBackend(definition: BackendDefinition<object>): void {
  if (!definition || typeof definition.create !== "function" || !Array.isArray(definition.schemes)) {
    throw new ConfigError(
      "registerBackend() needs a BackendDefinition ({ name, schemes, optionKeys, fromUrl, create }).",
    );
  }
  for (const scheme of definition.schemes)
    registered.set(scheme.toLowerCase(), definition as unknown as BackendDefinition);
}

export function schemeForBackendName(name: string): string | undefined {
  const lower = name.toLowerCase();
  return BACKEND_NAME_TO_SCHEME[lower] ?? (registered.has(lower) ? lower : undefined);
}

export function knownSchemes(extra: Iterable<BackendDefinition> = []): Set<string> {
  const out = new Set<string>(["memory", ...Object.keys(BACKEND_PACKAGES), ...registered.keys()]);
  for (const def of extra) for (const s of def.schemes) out.add(s.toLowerCase());
  return out;
}

export type PackageImporter = (specifier: string) => Promise<unknown>;

export const defaultImporter: PackageImporter = (specifier) => import(specifier);

function isModuleNotFound(error: unknown, specifier: string): boolean {
  const e = error as { code?: unknown; message?: unknown };
  if (e?.code !== "ERR_MODULE_NOT_FOUND" && e?.code !== "MODULE_NOT_FOUND") return false;
  // The package itself is missing, not one of its own dependencies.
  return typeof e.message === "string" && e.message.includes(`'${specifier}'`);
}

/**
 * Resolves a scheme: explicit definitions first, then registered ones, then the bundled package
 * (imported now). `source` names the variable for messages.
 */
export async function loadBackend(
  scheme: string,
  source: string,
  options: { extra: ReadonlyMap<string, BackendDefinition>; importPackage: PackageImporter },
): Promise<BackendDefinition> {
  const direct =
    options.extra.get(scheme) ?? registered.get(scheme) ?? (scheme === "memory" ? memoryBackend : undefined);
  if (direct) return direct as BackendDefinition;
  const pkg = BACKEND_PACKAGES[scheme];
  if (!pkg) {
    const known = [...knownSchemes(options.extra.values())].sort().join(", ");
    throw new ConfigError(
      `${source} uses the scheme "${scheme}:", which no backend provides. Use one of ${known}, or register ` +
        `a third-party backend with registerBackend() / createStorages({ backends }).`,
    );
  }
  let mod: unknown;
  try {
    mod = await options.importPackage(pkg);
  } catch (cause) {
    if (isModuleNotFound(cause, pkg)) {
      throw new ConfigError(
        `${source} uses ${scheme}://, which needs the package ${pkg}: run \`npm install ${pkg}\`.`,
        {
          cause,
        },
      );
    }
    throw new ConfigError(
      `${source} uses ${scheme}://, but ${pkg} failed to load (${(cause as Error)?.message ?? String(cause)}). ` +
        `Reinstall it (\`npm install ${pkg}\`) and check that its dependencies are installed.`,
      { cause },
    );
  }
  const backend = (mod as { backend?: BackendDefinition } | undefined)?.backend;
  if (!backend || typeof backend.fromUrl !== "function" || typeof backend.create !== "function") {
    throw new ConfigError(
      `${pkg} does not export a \`backend\` definition: upgrade it to a version matching @storages/core.`,
    );
  }
  if (!backend.schemes.includes(scheme)) {
    throw new ConfigError(
      `${pkg}'s backend does not handle ${scheme}:// (it handles ${backend.schemes.join(", ")}).`,
    );
  }
  return backend;
}
