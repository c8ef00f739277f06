/**
 * Driver options, their validation, and the one place that turns them into SDK clients.
 *
 * Credential selection, exactly one of:
 *   connectionString | accountName + accountKey | sasToken | credential (TokenCredential) |
 *   containerClient (built by the caller) | accountName alone (DefaultAzureCredential, loaded lazily).
 * Messages never repeat a secret value: they name the option and the fix.
 */

import type { TokenCredential } from "@azure/identity";
import {
  AnonymousCredential,
  BlobServiceClient,
  type ContainerClient,
  type StoragePipelineOptions,
  StorageSharedKeyCredential,
} from "@azure/storage-blob";
import {
  type BackendDescription,
  type ByteSize,
  describeValue,
  normalizePrefix,
  OptionChecker,
  type Visibility,
} from "@storages/core";
import { DEFAULT_BLOCK_SIZE, MAX_BLOCK_SIZE, MiB } from "./blocks.js";

export interface AzureDriverOptions {
  /** Blob container name (3–63 lower-case letters, digits, "-"). Not needed with `containerClient`. */
  container?: string | undefined;
  /** Key prefix inside the container ("media" → blobs "media/…"). */
  prefix?: string | undefined;

  /** Storage account name; alone (no key/SAS/credential) it means DefaultAzureCredential. */
  accountName?: string | undefined;
  /** Shared account key (base64, "key1" in the portal). Signs service SAS URLs. */
  accountKey?: string | undefined;
  /** A full connection string (account key or SAS, or `UseDevelopmentStorage=true` for Azurite). */
  connectionString?: string | undefined;
  /** A SAS token (account or container SAS) for every request. Cannot sign new URLs. */
  sasToken?: string | undefined;
  /** Entra ID credential from @azure/identity; signs URLs with a user delegation key. */
  credential?: TokenCredential | undefined;
  /** A ContainerClient you built; its credential decides what can be signed. */
  containerClient?: ContainerClient | undefined;
  /**
   * Blob service URL, e.g. "http://127.0.0.1:10000/devstoreaccount1" (Azurite) or a sovereign
   * cloud. Default: https://<accountName>.blob.core.windows.net
   */
  endpoint?: string | undefined;

  /**
   * The container's public access level: "public" when it allows anonymous blob reads (access
   * "blob" or "container"), else "private" (the default). Azure has no per-blob visibility.
   */
  visibility?: Visibility | undefined;
  /**
   * Base block size of staged uploads, in bytes (a number, or a size such as "8MiB"): 1 MiB to
   * 4000 MiB, default 8 MiB.
   */
  blockSize?: ByteSize | undefined;
  /** Blocks uploaded in parallel per write (default 4). Memory per write ≈ (concurrency + 1) × block size. */
  concurrency?: number | undefined;
  /** Lifetime of cached user delegation keys, in seconds (or a duration such as "12h"): 600 s to 7 days, default 1 day. */
  delegationKeyLifetime?: number | string | undefined;
  /**
   * Passed to the SDK's pipeline (proxy, keep-alive, custom HTTP client). Not `retryOptions`:
   * retries are the storage's own policy (its `retry` option), and the SDK makes one try per call.
   */
  pipelineOptions?: StoragePipelineOptions | undefined;
}

export const OPTION_KEYS = [
  "container",
  "prefix",
  "accountName",
  "accountKey",
  "connectionString",
  "sasToken",
  "credential",
  "containerClient",
  "endpoint",
  "visibility",
  "blockSize",
  "concurrency",
  "delegationKeyLifetime",
  "pipelineOptions",
] as const satisfies readonly (keyof AzureDriverOptions)[];

export const DEFAULT_CONCURRENCY = 4;
export const DEFAULT_DELEGATION_KEY_LIFETIME = 86_400;

export type CredentialKind = "sharedKey" | "token" | "sas" | "anonymous";

export interface ResolvedClients {
  container: ContainerClient;
  /** Present when a user delegation key can be requested (TokenCredential). */
  service: BlobServiceClient | undefined;
  /** The account's blob service with the same credential, for account-level properties (soft delete); none for a container SAS. */
  account: BlobServiceClient | undefined;
  credentialKind: CredentialKind;
  sharedKey: StorageSharedKeyCredential | undefined;
  accountName: string;
  httpsOnly: boolean;
}

const CONTAINER_NAME = /^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$/;
const ACCOUNT_NAME = /^[a-z0-9]{3,24}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

const check: OptionChecker = new OptionChecker("Azure storage");

function fail(option: string, problem: string): never {
  return check.fail(option, problem);
}

export function validateContainerName(name: string): void {
  if (name === "$root" || name === "$web") return;
  if (!CONTAINER_NAME.test(name)) {
    fail(
      "container",
      `must be a valid container name, not ${describeValue(name)}: 3–63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit`,
    );
  }
}

/** "media/" or "": the facade's own prefix rules (no "..", backslashes, control characters…). */
export function normalizeKeyPrefix(prefix: string | undefined): string {
  if (prefix === undefined || prefix === "") return "";
  if (typeof prefix !== "string") fail("prefix", "must be a string");
  const trimmed = prefix.replace(/^\/+/, "");
  try {
    return normalizePrefix(trimmed);
  } catch (error) {
    fail("prefix", `must be a plain path like "media/uploads": ${(error as Error).message}`);
  }
}

function parseEndpoint(endpoint: unknown): URL {
  if (typeof endpoint === "string" && URL.canParse(endpoint)) {
    const url = new URL(endpoint);
    if (url.search !== "" || url.username !== "" || url.password !== "") {
      fail(
        "endpoint",
        "must not carry credentials or a query string: pass a SAS as sasToken (or STORAGES_<NAME>_SAS_TOKEN)",
      );
    }
  }
  return new URL(check.httpUrl("endpoint", endpoint, "https://myaccount.blob.core.windows.net")!);
}

/** A TokenCredential that loads @azure/identity's DefaultAzureCredential on first use. */
export function lazyDefaultAzureCredential(): TokenCredential {
  let credential: Promise<TokenCredential> | undefined;
  return {
    async getToken(scopes, options) {
      credential ??= import("@azure/identity").then((identity) => new identity.DefaultAzureCredential());
      return (await credential).getToken(scopes, options);
    },
  };
}

function pipelineOptions(options: AzureDriverOptions): StoragePipelineOptions {
  return {
    ...options.pipelineOptions,
    // One try per call: the storage's retry policy (core's, the same on every backend) decides
    // what is repeated, so the SDK's retries and ours never multiply.
    retryOptions: { maxTries: 1 },
    userAgentOptions: { userAgentPrefix: "storages-azure/0.1", ...options.pipelineOptions?.userAgentOptions },
  };
}

/** The numbers a driver runs on, from validated options. */
export interface ValidatedOptions {
  blockSize: number;
  concurrency: number;
  /** Seconds. */
  delegationKeyLifetime: number;
}

/** Validates everything that does not need the network. Throws an OptionError naming the option. */
export function validateOptions(options: AzureDriverOptions): ValidatedOptions {
  check.keys(options, OPTION_KEYS, '{ accountName: "myaccount", container: "media" }');
  const sources = (
    ["connectionString", "accountKey", "sasToken", "credential", "containerClient"] as const
  ).filter((key) => options[key] !== undefined && options[key] !== "");
  if (sources.length > 1) {
    // (No "key: value" shape in the text: the redaction of messages would take it for a secret.)
    fail(sources[1]!, `cannot go with ${sources[0]}; pick one way to authenticate`);
  }
  if (options.containerClient !== undefined) {
    if (options.container !== undefined && options.container !== options.containerClient.containerName) {
      fail(
        "container",
        `differs from the containerClient's (${describeValue(options.containerClient.containerName)}): drop one`,
      );
    }
    if (options.endpoint !== undefined || options.accountName !== undefined) {
      fail(
        options.endpoint !== undefined ? "endpoint" : "accountName",
        "comes from the containerClient: drop it",
      );
    }
  } else {
    if (!options.container) fail("container", 'is required (the blob container name, e.g. "media")');
    validateContainerName(options.container);
    if (sources.length === 0 && !options.accountName) {
      fail(
        "accountName",
        "is required without other credentials: set connectionString, accountName + accountKey, sasToken, credential (a TokenCredential), or accountName alone for DefaultAzureCredential",
      );
    }
  }
  if (options.accountName !== undefined && !ACCOUNT_NAME.test(options.accountName)) {
    fail(
      "accountName",
      `must be a storage account name (3–24 lower-case letters and digits), not ${describeValue(options.accountName)}`,
    );
  }
  if (options.accountKey !== undefined) {
    if (!options.accountName) fail("accountKey", "needs accountName");
    if (!BASE64.test(options.accountKey))
      fail("accountKey", "is not base64: copy key1 or key2 from the account's Access keys page");
  }
  if (
    options.connectionString !== undefined &&
    !/(^|;)\s*(AccountName|BlobEndpoint|UseDevelopmentStorage)\s*=/i.test(options.connectionString)
  ) {
    fail(
      "connectionString",
      "is not a valid Azure Storage connection string (expected AccountName=…;AccountKey=… or BlobEndpoint=…;SharedAccessSignature=…, or UseDevelopmentStorage=true)",
    );
  }
  if (options.sasToken !== undefined && !/(^|[?&])sig=/.test(options.sasToken)) {
    fail("sasToken", 'does not look like a SAS token (it has no "sig=" parameter)');
  }
  if (options.sasToken !== undefined && !options.accountName && !options.endpoint) {
    fail("sasToken", "needs accountName or endpoint");
  }
  if (
    options.credential !== undefined &&
    typeof (options.credential as TokenCredential).getToken !== "function"
  ) {
    fail("credential", "must be a TokenCredential from @azure/identity (an object with getToken())");
  }
  if (options.endpoint !== undefined) parseEndpoint(options.endpoint);
  if (options.pipelineOptions?.retryOptions !== undefined) {
    fail(
      "pipelineOptions",
      "must not set retryOptions: retries are the storage's own policy (its retry option: attempts, backoff, budget), and the SDK's on top of them would multiply every attempt",
    );
  }
  check.visibility("visibility", options.visibility);
  normalizeKeyPrefix(options.prefix);
  return {
    blockSize:
      check.size("blockSize", options.blockSize, { min: MiB, max: MAX_BLOCK_SIZE }) ?? DEFAULT_BLOCK_SIZE,
    concurrency:
      check.integer("concurrency", options.concurrency, { min: 1, max: 64 }, "blocks") ?? DEFAULT_CONCURRENCY,
    delegationKeyLifetime:
      check.duration("delegationKeyLifetime", options.delegationKeyLifetime, "s", {
        min: 600,
        max: 7 * 24 * 3600,
      }) ?? DEFAULT_DELEGATION_KEY_LIFETIME,
  };
}

/** Account and endpoint of a connection string (never its key), for the layout rules. */
export function connectionStringTarget(connectionString: string): { account?: string; endpoint?: string } {
  const fields = new Map<string, string>();
  for (const part of connectionString.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0) fields.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  if (fields.get("usedevelopmentstorage")?.toLowerCase() === "true") {
    return { account: "devstoreaccount1", endpoint: "http://127.0.0.1:10000/devstoreaccount1" };
  }
  const account = fields.get("accountname");
  const endpoint =
    fields.get("blobendpoint") ??
    (account
      ? `${fields.get("defaultendpointsprotocol") ?? "https"}://${account}.blob.${fields.get("endpointsuffix") ?? "core.windows.net"}`
      : undefined);
  return { ...(account ? { account } : {}), ...(endpoint ? { endpoint } : {}) };
}

function serviceUrlOf(container: ContainerClient): string {
  const url = new URL(container.url);
  url.search = "";
  url.pathname = url.pathname.replace(/\/[^/]*\/?$/, "");
  return url.toString().replace(/\/$/, "");
}

/** Builds the SDK clients for validated options. */
export function createClients(options: AzureDriverOptions): ResolvedClients {
  const pipeline = pipelineOptions(options);
  if (options.containerClient) {
    const container = options.containerClient;
    const credential = container.credential;
    const kind: CredentialKind =
      credential instanceof StorageSharedKeyCredential
        ? "sharedKey"
        : credential instanceof AnonymousCredential
          ? new URL(container.url).searchParams.has("sig")
            ? "sas"
            : "anonymous"
          : "token";
    const account =
      kind === "token" || kind === "sharedKey"
        ? new BlobServiceClient(
            serviceUrlOf(container),
            credential as TokenCredential | StorageSharedKeyCredential,
            pipeline,
          )
        : undefined;
    return {
      container,
      service: kind === "token" ? account : undefined,
      account,
      credentialKind: kind,
      sharedKey: credential instanceof StorageSharedKeyCredential ? credential : undefined,
      accountName: container.accountName,
      httpsOnly: new URL(container.url).protocol === "https:",
    };
  }

  const containerName = options.container as string;
  let service: BlobServiceClient;
  let kind: CredentialKind;
  if (options.connectionString) {
    try {
      service = BlobServiceClient.fromConnectionString(options.connectionString, pipeline);
    } catch {
      // The SDK's message may quote the string, key included: say what is wrong without it.
      fail(
        "connectionString",
        "is not a valid Azure Storage connection string (expected AccountName=…;AccountKey=… or BlobEndpoint=…;SharedAccessSignature=…, or UseDevelopmentStorage=true)",
      );
    }
    kind = service.credential instanceof StorageSharedKeyCredential ? "sharedKey" : "sas";
    if (options.accountName && service.accountName && options.accountName !== service.accountName) {
      fail(
        "accountName",
        `differs from the connection string's account (${describeValue(service.accountName)}): drop one`,
      );
    }
  } else {
    const endpoint = (
      options.endpoint
        ? parseEndpoint(options.endpoint).toString()
        : `https://${options.accountName}.blob.core.windows.net`
    ).replace(/\/$/, "");
    if (options.accountKey) {
      service = new BlobServiceClient(
        endpoint,
        new StorageSharedKeyCredential(options.accountName as string, options.accountKey),
        pipeline,
      );
      kind = "sharedKey";
    } else if (options.sasToken) {
      service = new BlobServiceClient(
        `${endpoint}?${options.sasToken.replace(/^\?/, "")}`,
        new AnonymousCredential(),
        pipeline,
      );
      kind = "sas";
    } else {
      service = new BlobServiceClient(endpoint, options.credential ?? lazyDefaultAzureCredential(), pipeline);
      kind = "token";
    }
  }
  const container = service.getContainerClient(containerName);
  return {
    container,
    service: kind === "token" ? service : undefined,
    account: service,
    credentialKind: kind,
    sharedKey: service.credential instanceof StorageSharedKeyCredential ? service.credential : undefined,
    accountName: service.accountName || options.accountName || "",
    httpsOnly: new URL(service.url).protocol === "https:",
  };
}

/** Account and blob endpoint, from whichever options name them (never from a secret's key part). */
export function azureTarget(options: AzureDriverOptions): { account: string; endpoint: string | undefined } {
  if (options.containerClient) {
    const url = new URL(options.containerClient.url);
    return { account: options.containerClient.accountName, endpoint: `${url.protocol}//${url.host}` };
  }
  const fromString = options.connectionString ? connectionStringTarget(options.connectionString) : {};
  return {
    account: options.accountName ?? fromString.account ?? "",
    endpoint: options.endpoint ?? fromString.endpoint,
  };
}

/** The secret-free account of an Azure storage, for its backend's and its driver's `describe()`. */
export function describeAzureOptions(
  options: AzureDriverOptions,
  valid: ValidatedOptions,
): BackendDescription {
  const { account, endpoint } = azureTarget(options);
  const container = options.container ?? options.containerClient?.containerName ?? "";
  const settings: Record<string, string | number | boolean> = {
    blockSize: valid.blockSize,
    concurrency: valid.concurrency,
    credentials: options.containerClient
      ? "the given container client's"
      : options.connectionString
        ? "a connection string"
        : options.accountKey
          ? "an account key"
          : options.sasToken
            ? "a SAS token"
            : options.credential
              ? "the given TokenCredential"
              : "DefaultAzureCredential",
  };
  if (endpoint !== undefined) settings.endpoint = endpoint;
  return { location: `azure://${account}/${container}/${normalizeKeyPrefix(options.prefix)}`, settings };
}
