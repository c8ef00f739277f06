/**
 * `gs://bucket/prefix?…` storage URLs and the `gcsStorage()` shortcut.
 *
 * Secrets never come from the URL (it gets logged): a service-account key comes from
 * STORAGES_<NAME>_CREDENTIALS_JSON (the JSON text) or STORAGES_<NAME>_KEY_FILE (a path), else
 * Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, Workload Identity, Cloud Run…).
 */
import { type BackendDefinition, ConfigError, Storage, type StorageOptions } from "@storages/core";
import { GcsDriver } from "./driver.js";
import { type GcsDriverOptions, OPTION_KEYS } from "./options.js";

/** Query parameters a gs:// URL may carry (the registry has removed the storage-level ones). */
const URL_PARAMS = [
  "projectId",
  "uniformAccess",
  "endpoint",
  "authenticateEndpoint",
  "chunkSize",
  "singleRequestThreshold",
  "deleteConcurrency",
] as const;

function parseBool(value: string, where: string): boolean {
  if (value === "true" || value === "1") return true;
  if (value === "false" || value === "0") return false;
  throw new ConfigError(`${where} must be true or false, got "${value}".`);
}

function parseInteger(value: string, where: string): number {
  if (!/^\d+$/.test(value))
    throw new ConfigError(`${where} must be a whole number of bytes, got "${value}".`);
  return Number(value);
}

function envPrefix(storageName: string): string {
  return `STORAGES_${storageName.toUpperCase()}`;
}

export const backend: BackendDefinition<GcsDriverOptions> = {
  name: "gcs",
  schemes: ["gs"],
  optionKeys: OPTION_KEYS,

  fromUrl(url, context) {
    const where = (param?: string) =>
      param === undefined ? context.source : `${context.source} (${param}=)`;
    const bucket = url.hostname;
    if (bucket === "") {
      throw new ConfigError(
        `${context.source} names no bucket: write it as gs://bucket or gs://bucket/prefix.`,
      );
    }
    let prefix: string;
    try {
      prefix = decodeURIComponent(url.pathname);
    } catch (cause) {
      throw new ConfigError(`${context.source} has a malformed percent-encoding in its prefix.`, { cause });
    }
    const options: GcsDriverOptions = { bucket, prefix };
    for (const [name, value] of url.searchParams) {
      switch (name) {
        case "projectId":
          options.projectId = value;
          break;
        case "endpoint":
          options.endpoint = value;
          break;
        case "uniformAccess":
          options.uniformAccess = parseBool(value, where(name));
          break;
        case "authenticateEndpoint":
          options.authenticateEndpoint = parseBool(value, where(name));
          break;
        case "chunkSize":
        case "singleRequestThreshold":
        case "deleteConcurrency":
          options[name] = parseInteger(value, where(name));
          break;
        default:
          throw new ConfigError(
            `${context.source} has an unknown parameter \`${name}\` for gs:// URLs. Known: ${URL_PARAMS.join(", ")} and the storage-level ones (visibility, overwrite, publicUrl, expiresIn, timeout).`,
          );
      }
    }
    const v = envPrefix(context.storageName);
    const json = context.env[`${v}_CREDENTIALS_JSON`];
    const keyFile = context.env[`${v}_KEY_FILE`];
    // `${v}_CREDENTIALS` is accepted too: a path, or the JSON itself when it starts with "{".
    const either = context.env[`${v}_CREDENTIALS`];
    const given = [json, keyFile, either].filter((value) => value !== undefined && value !== "");
    if (given.length > 1) {
      throw new ConfigError(
        `Set only one of ${v}_CREDENTIALS_JSON, ${v}_KEY_FILE and ${v}_CREDENTIALS for storage "${context.storageName}".`,
      );
    }
    if (json) options.credentials = json;
    else if (keyFile) options.keyFilename = keyFile;
    else if (either) {
      if (either.trimStart().startsWith("{")) options.credentials = either;
      else options.keyFilename = either;
    }
    return options;
  },

  create(options) {
    return new GcsDriver(options);
  },
};

export type GcsStorageOptions = GcsDriverOptions & StorageOptions;

const STORAGE_KEYS = ["visibility", "overwrite", "timeout", "signedUrlExpiresIn", "publicUrl"] as const;

/** A Storage on a GCS bucket: `gcsStorage({ bucket: "media", prefix: "uploads/", visibility: "private" })`. */
export function gcsStorage(options: GcsStorageOptions): Storage {
  const driverOptions: Record<string, unknown> = { ...options };
  const storageOptions: Record<string, unknown> = {};
  for (const key of STORAGE_KEYS) {
    if (key in driverOptions) {
      storageOptions[key] = driverOptions[key];
      delete driverOptions[key];
    }
  }
  return new Storage(
    new GcsDriver(driverOptions as unknown as GcsDriverOptions),
    storageOptions as StorageOptions,
  );
}
