/**
 * The azure backend definition (`azure://account/container/prefix?endpoint=…` storage URLs) and
 * the `azureStorage()` shortcut.
 *
 * Secrets never come from the URL (it gets logged). For storage NAME (upper-cased, other
 * characters as "_"), exactly one of:
 *   STORAGES_<NAME>_CONNECTION_STRING   a full connection string
 *   STORAGES_<NAME>_ACCOUNT_KEY         the account key (the account comes from the URL)
 *   STORAGES_<NAME>_SAS_TOKEN           a SAS token (cannot sign URLs)
 * and with none of them, DefaultAzureCredential (managed identity, workload identity, az login…).
 */
import {
  type BackendDefinition,
  ConfigError,
  endpointNamespace,
  normalizeKeyPrefix,
  type Storage,
  type StorageOptions,
  secretVariablesOf,
  storageFromOptions,
  storageVariable,
  urlParam,
} from "@storages/core";
import { AzureDriver } from "./driver.js";
import {
  type AzureDriverOptions,
  azureTarget,
  connectionStringTarget,
  describeAzureOptions,
  OPTION_KEYS,
  validateOptions,
} from "./options.js";

const SECRET_VARIABLES = [
  { suffix: "CONNECTION_STRING", option: "connectionString" },
  { suffix: "ACCOUNT_KEY", option: "accountKey" },
  { suffix: "SAS_TOKEN", option: "sasToken" },
] as const;

export const backend: BackendDefinition<AzureDriverOptions> = {
  name: "azure",
  schemes: ["azure"],
  optionKeys: OPTION_KEYS,
  urlParams: {
    endpoint: urlParam.httpUrl,
    blockSize: urlParam.size,
    concurrency: urlParam.integer,
    delegationKeyLifetime: urlParam.seconds,
  },

  fromUrl(url, context) {
    const variables = SECRET_VARIABLES.map((v) => storageVariable(context.storageName, v.suffix));
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
    const given = SECRET_VARIABLES.map((v, i) => [v.option, context.env[variables[i]!]] as const).filter(
      ([, value]) => value !== undefined && value !== "",
    );
    if (given.length > 1) {
      throw new ConfigError(`Set only one of ${variables.join(", ")} for storage "${context.storageName}".`);
    }
    const [[kind, secret] = []] = given;
    if (kind === "connectionString") {
      // The connection string names the account and endpoint itself; the URL's account must agree.
      options.connectionString = secret;
      options.accountName = undefined;
      const named = connectionStringTarget(secret ?? "").account;
      if (named !== undefined && named.toLowerCase() !== accountName.toLowerCase()) {
        throw new ConfigError(
          `${context.source} names account "${accountName}" but ${variables[0]} is for account "${named}".`,
        );
      }
      if (context.params.endpoint !== undefined) {
        throw new ConfigError(
          `${context.source}: endpoint= comes from ${variables[0]} (BlobEndpoint=); drop one.`,
        );
      }
    } else if (kind === "accountKey") {
      options.accountKey = secret;
    } else if (kind === "sasToken") {
      options.sasToken = secret;
    }
    return options;
  },

  validate(options) {
    validateOptions(options);
  },

  location(options) {
    const { account, endpoint } = azureTarget(options);
    return {
      kind: "bucket",
      service: "azure",
      namespace: `${account.toLowerCase()}@${endpointNamespace(endpoint, "azure")}`,
      bucket: (options.container ?? options.containerClient?.containerName ?? "").toLowerCase(),
      prefix: normalizeKeyPrefix(options.prefix),
    };
  },

  describe(options) {
    return describeAzureOptions(options, validateOptions(options));
  },

  secretVariables: secretVariablesOf(SECRET_VARIABLES),

  create(options) {
    return new AzureDriver(options);
  },
};

export type AzureStorageOptions = AzureDriverOptions & StorageOptions;

/**
 * A Storage on an Azure container:
 * `azureStorage({ accountName: "acct", container: "media", credential: new DefaultAzureCredential() })`.
 * `visibility` (or a public base URL, which implies it) configures both: the container's expected
 * public access and the storage's default. A misspelt option is an error naming the closest one.
 */
export function azureStorage(options: AzureStorageOptions): Storage {
  return storageFromOptions(options, {
    subject: "Azure storage",
    driverKeys: OPTION_KEYS,
    example: '{ accountName: "myaccount", container: "media" }',
    driver: (o: AzureDriverOptions) => new AzureDriver(o),
  });
}
