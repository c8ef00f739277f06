/**
 * How the config registry builds an S3 storage from a URL:
 *   s3://bucket/prefix?region=eu-west-1&endpoint=https://…&profile=minio&forcePathStyle=true
 * Secrets never come from the URL: STORAGES_<NAME>_ACCESS_KEY_ID / _SECRET_ACCESS_KEY /
 * _SESSION_TOKEN for the storage named NAME, else the AWS SDK's default credential chain.
 */
import {
  type BackendDefinition,
  type BackendUrlContext,
  ConfigError,
  Storage,
  type StorageOptions,
} from "@storages/core";
import { S3Driver } from "./driver.js";
import { OPTION_KEYS, type S3DriverOptions } from "./options.js";
import type { ProfileName } from "./profiles.js";

/** Options that may appear as query parameters (the others are objects, or secrets). */
const URL_PARAMS = OPTION_KEYS.filter(
  (key) => key !== "credentials" && key !== "client" && key !== "bucket" && key !== "prefix",
);
const BOOLEAN_PARAMS = new Set(["forcePathStyle", "conditionalWrite", "postPolicy"]);
const INTEGER_PARAMS = new Set(["partSize", "queueSize"]);

function parseBoolean(value: string, name: string, source: string): boolean {
  if (value === "true" || value === "1") return true;
  if (value === "false" || value === "0") return false;
  throw new ConfigError(`${source}: ${name} must be true or false, got ${JSON.stringify(value)}.`);
}

/** The per-storage secret variables, e.g. STORAGES_MEDIA_ACCESS_KEY_ID for the storage "media". */
export function credentialVariables(storageName: string): {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
} {
  const base = `STORAGES_${storageName.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;
  return {
    accessKeyId: `${base}_ACCESS_KEY_ID`,
    secretAccessKey: `${base}_SECRET_ACCESS_KEY`,
    sessionToken: `${base}_SESSION_TOKEN`,
  };
}

export function optionsFromUrl(url: URL, context: BackendUrlContext): S3DriverOptions {
  const { source } = context;
  if (url.protocol !== "s3:")
    throw new ConfigError(`${source}: an S3 storage URL starts with s3://, got ${url.protocol}//.`);
  const bucket = url.hostname;
  if (!bucket)
    throw new ConfigError(
      `${source}: the S3 URL names no bucket: write s3://bucket/optional/prefix?region=….`,
    );
  if (url.port)
    throw new ConfigError(
      `${source}: s3://${bucket}:${url.port} — a port belongs in endpoint=http://host:${url.port}, not after the bucket.`,
    );
  let prefix: string;
  try {
    prefix = decodeURIComponent(url.pathname).replace(/^\/+/, "");
  } catch (cause) {
    throw new ConfigError(`${source}: the prefix in the S3 URL is not valid percent-encoding.`, { cause });
  }
  const options: Record<string, unknown> = { bucket, prefix: prefix || undefined };
  for (const [name, value] of url.searchParams) {
    if (!(URL_PARAMS as readonly string[]).includes(name)) {
      throw new ConfigError(
        `${source}: unknown S3 parameter \`${name}\` (it takes ${URL_PARAMS.join(", ")}).`,
      );
    }
    if (BOOLEAN_PARAMS.has(name)) options[name] = parseBoolean(value, name, source);
    else if (INTEGER_PARAMS.has(name)) {
      const number = Number(value);
      if (!Number.isSafeInteger(number))
        throw new ConfigError(`${source}: ${name} must be a whole number, got ${JSON.stringify(value)}.`);
      options[name] = number;
    } else if (name === "acl") options.acl = value === "auto" ? "auto" : parseBoolean(value, name, source);
    else options[name] = value;
  }
  const vars = credentialVariables(context.storageName);
  const accessKeyId = context.env[vars.accessKeyId];
  const secretAccessKey = context.env[vars.secretAccessKey];
  const sessionToken = context.env[vars.sessionToken];
  if (accessKeyId || secretAccessKey) {
    if (!accessKeyId || !secretAccessKey) {
      throw new ConfigError(
        `${source}: set both ${vars.accessKeyId} and ${vars.secretAccessKey} (only ${accessKeyId ? vars.accessKeyId : vars.secretAccessKey} is set), or neither to use the AWS default credential chain.`,
      );
    }
    options.credentials = { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
  } else if (sessionToken) {
    throw new ConfigError(
      `${source}: ${vars.sessionToken} is set without ${vars.accessKeyId} and ${vars.secretAccessKey}.`,
    );
  }
  return options as unknown as S3DriverOptions;
}

export const backend: BackendDefinition<S3DriverOptions> = {
  name: "s3",
  schemes: ["s3"],
  optionKeys: OPTION_KEYS,
  fromUrl: optionsFromUrl,
  create: (options) => new S3Driver(options),
};

const STORAGE_KEYS = ["overwrite", "timeout", "signedUrlExpiresIn", "publicUrl"] as const;

export type S3StorageOptions = S3DriverOptions & StorageOptions & { profile?: ProfileName | undefined };

/** A Storage on S3: `s3Storage({ bucket, region })`. Driver and facade options in one object. */
export function s3Storage(options: S3StorageOptions): Storage {
  const driverOptions: Record<string, unknown> = { ...options };
  const storageOptions: Record<string, unknown> = { visibility: options.visibility };
  for (const key of STORAGE_KEYS) {
    storageOptions[key] = options[key];
    delete driverOptions[key];
  }
  return new Storage(
    new S3Driver(driverOptions as unknown as S3DriverOptions),
    storageOptions as StorageOptions,
  );
}
