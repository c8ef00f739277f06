/**
 * The gcs backend definition (`gs://bucket/prefix?…` storage URLs) and the `gcsStorage()` shortcut.
 *
 * Secrets never come from the URL (it gets logged): a service-account key comes from
 * STORAGES_<NAME>_CREDENTIALS_JSON (the JSON text) or STORAGES_<NAME>_KEY_FILE (a path), else
 * Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, Workload Identity, Cloud Run…).
 */
import {
  type BackendDefinition,
  ConfigError,
  endpointNamespace,
  type Storage,
  type StorageOptions,
  secretVariablesOf,
  storageFromOptions,
  storageVariable,
  urlParam,
} from "@storages/core";
import { GcsDriver } from "./driver.js";
import {
  describeGcsOptions,
  type GcsDriverOptions,
  OPTION_KEYS,
  resolveOptions,
  validateOptions,
} from "./options.js";

/** `${NAME}_CREDENTIALS` is accepted too: a path, or the JSON itself when it starts with "{". */
const SECRET_VARIABLES = [
  { suffix: "CREDENTIALS_JSON", option: "credentials" },
  { suffix: "KEY_FILE", option: "keyFilename" },
  { suffix: "CREDENTIALS", option: "credentials" },
] as const;

export const backend: BackendDefinition<GcsDriverOptions> = {
  name: "gcs",
  schemes: ["gs"],
  optionKeys: OPTION_KEYS,
  urlParams: {
    projectId: urlParam.string,
    uniformAccess: urlParam.boolean,
    endpoint: urlParam.httpUrl,
    authenticateEndpoint: urlParam.boolean,
    chunkSize: urlParam.size,
    singleRequestThreshold: urlParam.size,
    deleteConcurrency: urlParam.integer,
  },

  fromUrl(url, context) {
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
    const [json, keyFile, either] = SECRET_VARIABLES.map(
      (v) => context.env[storageVariable(context.storageName, v.suffix)],
    );
    const given = [json, keyFile, either].filter((value) => value !== undefined && value !== "");
    if (given.length > 1) {
      const names = SECRET_VARIABLES.map((v) => storageVariable(context.storageName, v.suffix));
      throw new ConfigError(`Set only one of ${names.join(", ")} for storage "${context.storageName}".`);
    }
    if (json) options.credentials = json;
    else if (keyFile) options.keyFilename = keyFile;
    else if (either) {
      if (either.trimStart().startsWith("{")) options.credentials = either;
      else options.keyFilename = either;
    }
    return options;
  },

  validate: validateOptions,

  location(options) {
    const o = resolveOptions(options);
    return {
      kind: "bucket",
      service: "gs",
      namespace: endpointNamespace(o.endpoint, "gcs"),
      bucket: o.bucket.toLowerCase(),
      prefix: o.prefix,
    };
  },

  describe(options) {
    return describeGcsOptions(resolveOptions(options));
  },

  secretVariables: secretVariablesOf(SECRET_VARIABLES),

  create(options) {
    return new GcsDriver(options);
  },
};

export type GcsStorageOptions = GcsDriverOptions & StorageOptions;

/**
 * A Storage on a GCS bucket: `gcsStorage({ bucket: "media", prefix: "uploads/", visibility: "private" })`.
 * A misspelt option is an error naming the closest valid one.
 */
export function gcsStorage(options: GcsStorageOptions): Storage {
  return storageFromOptions(options, {
    subject: "GCS storage",
    driverKeys: OPTION_KEYS,
    example: '{ bucket: "my-app-media" }',
    driver: (o: GcsDriverOptions) => new GcsDriver(o),
  });
}
