/**
 * The s3 backend definition, for the config registry:
 *   s3://bucket/prefix?region=eu-west-1&endpoint=https://…&profile=minio&forcePathStyle=true
 * Secrets never come from the URL: STORAGES_<NAME>_ACCESS_KEY_ID / _SECRET_ACCESS_KEY /
 * _SESSION_TOKEN for the storage named NAME, else the AWS SDK's default credential chain.
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
import { S3Driver } from "./driver.js";
import {
  describeS3Options,
  OPTION_KEYS,
  resolveOptions,
  type S3DriverOptions,
  type ServerSideEncryption,
} from "./options.js";
import { PROFILE_NAMES, type ProfileName } from "./profiles.js";

const CREDENTIAL_VARIABLES = {
  accessKeyId: "ACCESS_KEY_ID",
  secretAccessKey: "SECRET_ACCESS_KEY",
  sessionToken: "SESSION_TOKEN",
} as const;

function parseAcl(value: string, where: string): boolean | "auto" {
  return value === "auto" ? "auto" : urlParam.boolean(value, where);
}

export const backend: BackendDefinition<S3DriverOptions> = {
  name: "s3",
  schemes: ["s3"],
  optionKeys: OPTION_KEYS,
  // Every option a URL can carry (the others are objects, or secrets): ranges are checked by validate.
  urlParams: {
    profile: urlParam.oneOf(PROFILE_NAMES),
    region: urlParam.string,
    endpoint: urlParam.httpUrl,
    signingEndpoint: urlParam.httpUrl,
    forcePathStyle: urlParam.boolean,
    acl: parseAcl,
    cacheControl: urlParam.string,
    contentDisposition: urlParam.string,
    serverSideEncryption: urlParam.oneOf<ServerSideEncryption>(["AES256", "aws:kms", "aws:kms:dsse"]),
    sseKmsKeyId: urlParam.string,
    storageClass: urlParam.string,
    partSize: urlParam.size,
    queueSize: urlParam.integer,
    checksums: urlParam.oneOf(["when_required", "when_supported"] as const),
    conditionalWrite: urlParam.boolean,
    postPolicy: urlParam.boolean,
  },

  fromUrl(url, context) {
    const { source } = context;
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
    const options: S3DriverOptions = { bucket };
    if (prefix) options.prefix = prefix;
    const v = (key: keyof typeof CREDENTIAL_VARIABLES) =>
      storageVariable(context.storageName, CREDENTIAL_VARIABLES[key]);
    const accessKeyId = context.env[v("accessKeyId")];
    const secretAccessKey = context.env[v("secretAccessKey")];
    const sessionToken = context.env[v("sessionToken")];
    if (accessKeyId || secretAccessKey) {
      if (!accessKeyId || !secretAccessKey) {
        throw new ConfigError(
          `${source}: set both ${v("accessKeyId")} and ${v("secretAccessKey")} (only ${accessKeyId ? v("accessKeyId") : v("secretAccessKey")} is set), or neither to use the AWS default credential chain.`,
        );
      }
      options.credentials = { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
    } else if (sessionToken) {
      throw new ConfigError(
        `${source}: ${v("sessionToken")} is set without ${v("accessKeyId")} and ${v("secretAccessKey")}.`,
      );
    }
    return options;
  },

  validate(options) {
    resolveOptions(options);
  },

  location(options) {
    const o = resolveOptions(options);
    return {
      kind: "bucket",
      service: "s3",
      // AWS bucket names are global (whatever regional endpoint); other servers scope them by endpoint.
      namespace: o.profile.name === "aws" ? "aws" : endpointNamespace(o.endpoint, o.profile.name),
      bucket: o.bucket.toLowerCase(),
      prefix: o.prefix,
    };
  },

  describe(options) {
    return describeS3Options(resolveOptions(options));
  },

  secretVariables: secretVariablesOf(
    Object.values(CREDENTIAL_VARIABLES).map((suffix) => ({ suffix, option: "credentials" })),
  ),

  create: (options) => new S3Driver(options),
};

export type S3StorageOptions = S3DriverOptions & StorageOptions & { profile?: ProfileName | undefined };

/**
 * A Storage on S3: `s3Storage({ bucket, region })`. Driver and facade options in one object; a
 * misspelt option is an error naming the closest valid one. `visibility` (or a public base URL,
 * which implies it) configures both the ACLs the driver sets and the storage's default.
 */
export function s3Storage(options: S3StorageOptions): Storage {
  return storageFromOptions(options, {
    subject: "S3 storage",
    driverKeys: OPTION_KEYS,
    example: '{ bucket: "my-app-media", region: "eu-west-1" }',
    driver: (o: S3DriverOptions) => new S3Driver(o),
  });
}
