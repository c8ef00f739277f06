/**
 * `openStorageUrl()`: one storage URL resolved exactly as the registry resolves `STORAGES_<NAME>`,
 * without a registry, for tools that take a URL from their user (`storages ls s3://bucket/prefix`).
 */
import type { Storage } from "../storage.js";
import type { BackendDefinition, BackendDescription, StorageLocation } from "../types.js";
import { defaultImporter, type PackageImporter } from "./backends.js";
import { combine, secretValues } from "./problems.js";
import { type ResolvedStorage, resolveUrl } from "./resolve.js";
import { createWriter } from "./writer.js";

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

const NO_ENV_SECRET_HINT =
  "the storage up in the environment (STORAGES_<NAME> holding the URL, its secrets in the " +
  "STORAGES_<NAME>_… variables of docs/configuration.md, used as NAME:path), or let the backend's " +
  "default credentials apply (AWS_* variables and profiles, Application Default Credentials, " +
  "DefaultAzureCredential)";

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
        // Without `env` no secret variable is read: the fix is a configured storage, or the
        // backend's own default credentials.
        secretHint: options.env === undefined ? NO_ENV_SECRET_HINT : undefined,
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
