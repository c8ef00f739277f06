/**
 * `azure://account/container/prefix?endpoint=…` storage URLs and the `azureStorage()` shortcut.
 *
 * Secrets never come from the URL (it gets logged). For storage NAME (upper-cased, other
 * characters as "_"), exactly one of:
 *   STORAGES_<NAME>_CONNECTION_STRING   a full connection string
 *   STORAGES_<NAME>_ACCOUNT_KEY         the account key (the account comes from the URL)
 *   STORAGES_<NAME>_SAS_TOKEN           a SAS token (cannot sign URLs)
 * and with none of them, DefaultAzureCredential (managed identity, workload identity, az login…).
 */
import { type BackendDefinition, ConfigError, Storage, type StorageOptions } from "@storages/core";
import { AzureDriver } from "./driver.js";
import { type AzureDriverOptions, OPTION_KEYS } from "./options.js";

/** Query parameters an azure:// URL may carry (the registry has removed the storage-level ones). */
const URL_PARAMS = ["endpoint", "blockSize", "concurrency", "delegationKeyLifetime"] as const;

function parseInteger(value: string, where: string): number {
  if (!/^\d+$/.test(value)) throw new ConfigError(`${where} must be a whole number, got "${value}".`);
  return Number(value);
}

/** STORAGES_MEDIA for "media", STORAGES_USER_UPLOADS for "user-uploads". */
export function secretEnvPrefix(storageName: string): string {
  return `STORAGES_${storageName.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;
}

export const backend: BackendDefinition<AzureDriverOptions> = {
  name: "azure",
  schemes: ["azure"],
  optionKeys: OPTION_KEYS,

  fromUrl(url, context) {
    const where = (param: string) => `${context.source} (${param}=)`;
    if (url.username !== "" || url.password !== "") {
      throw new ConfigError(
        `${context.source} carries credentials in the URL; move them to ${secretEnvPrefix(context.storageName)}_ACCOUNT_KEY (or _CONNECTION_STRING / _SAS_TOKEN).`,
      );
    }
    const accountName = url.hostname;
    let segments: string[];
    try {
      segments = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    } catch (cause) {
      throw new ConfigError(`${context.source} has a malformed percent-encoding in its path.`, { cause });
    }
    const [container, ...prefix] = segments;
    if (!accountName || !container) {
      throw new ConfigError(
        `${context.source} must name an account and a container: azure://<account>/<container>[/<prefix>] (e.g. azure://myaccount/media/uploads).`,
      );
    }
    const options: AzureDriverOptions = { accountName, container, prefix: prefix.join("/") };
    for (const [name, value] of url.searchParams) {
      switch (name) {
        case "endpoint":
          options.endpoint = value;
          break;
        case "blockSize":
        case "concurrency":
        case "delegationKeyLifetime":
          options[name] = parseInteger(value, where(name));
          break;
        default:
          throw new ConfigError(
            `${context.source} has an unknown parameter \`${name}\` for azure:// URLs. Known: ${URL_PARAMS.join(", ")} and the storage-level ones (visibility, overwrite, publicUrl, expiresIn, timeout). Secrets go in ${secretEnvPrefix(context.storageName)}_ACCOUNT_KEY / _CONNECTION_STRING / _SAS_TOKEN.`,
          );
      }
    }
    const v = secretEnvPrefix(context.storageName);
    const secrets = {
      connectionString: context.env[`${v}_CONNECTION_STRING`],
      accountKey: context.env[`${v}_ACCOUNT_KEY`],
      sasToken: context.env[`${v}_SAS_TOKEN`],
    };
    const given = Object.entries(secrets).filter(([, value]) => value !== undefined && value !== "");
    if (given.length > 1) {
      throw new ConfigError(
        `Set only one of ${v}_CONNECTION_STRING, ${v}_ACCOUNT_KEY and ${v}_SAS_TOKEN for storage "${context.storageName}".`,
      );
    }
    const [[kind, secret] = []] = given;
    if (kind === "connectionString") {
      // The connection string names the account and endpoint itself; the URL's account must agree.
      options.connectionString = secret;
      options.accountName = undefined;
      const named = /(?:^|;)\s*AccountName=([^;]+)/i.exec(secret ?? "")?.[1];
      if (named !== undefined && named.toLowerCase() !== accountName.toLowerCase()) {
        throw new ConfigError(
          `${context.source} names account "${accountName}" but ${v}_CONNECTION_STRING is for account "${named}".`,
        );
      }
      if (options.endpoint !== undefined) {
        throw new ConfigError(
          `${context.source}: endpoint= comes from ${v}_CONNECTION_STRING (BlobEndpoint=); drop one.`,
        );
      }
    } else if (kind === "accountKey") {
      options.accountKey = secret;
    } else if (kind === "sasToken") {
      options.sasToken = secret;
    }
    return options;
  },

  create(options) {
    return new AzureDriver(options);
  },
};

export type AzureStorageOptions = AzureDriverOptions & StorageOptions;

const STORAGE_ONLY_KEYS = ["overwrite", "timeout", "signedUrlExpiresIn", "publicUrl"] as const;

/**
 * A Storage on an Azure container:
 * `azureStorage({ accountName: "acct", container: "media", credential: new DefaultAzureCredential() })`.
 * `visibility` configures both: the container's public access and the storage's default.
 */
export function azureStorage(options: AzureStorageOptions): Storage {
  const driverOptions: Record<string, unknown> = { ...options };
  const storageOptions: Record<string, unknown> = { visibility: options.visibility };
  for (const key of STORAGE_ONLY_KEYS) {
    if (key in driverOptions) {
      storageOptions[key] = driverOptions[key];
      delete driverOptions[key];
    }
  }
  return new Storage(new AzureDriver(driverOptions as AzureDriverOptions), storageOptions as StorageOptions);
}
