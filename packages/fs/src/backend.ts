/**
 * The `fs` backend definition (`file:///abs/path?…` storage URLs, `{ backend: "fs", options }`
 * entries, local mode) and `fsStorage()` for code that builds a storage directly.
 */
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import {
  type BackendDefinition,
  ConfigError,
  type Storage,
  type StorageOptions,
  secretVariablesOf,
  storageFromOptions,
  storageVariable,
  urlParam,
} from "@storages/core";
import { FsDriver } from "./driver.js";
import {
  checkBaseUrl,
  DRIVER_OPTION_KEYS,
  DURABILITIES,
  describeFsOptions,
  type FsDriverOptions,
  LINK_POLICIES,
  resolveFsOptions,
} from "./options.js";

/** Options of the `fs` backend in a config entry (`{ backend: "fs", options }`) or from a URL. */
export interface FsBackendOptions extends FsDriverOptions {
  /** Where createFsHandler is mounted, for signed URLs (same as `signing.baseUrl`). */
  signingBaseUrl?: string | undefined;
}

const OPTION_KEYS = [...DRIVER_OPTION_KEYS, "signingBaseUrl"] as const;

/** Octal, the way chmod takes it: 644, 0644 or 0o644. */
function parseMode(value: string, where: string): number {
  const match = /^(?:0o?)?([0-7]{3,4})$/i.exec(value);
  if (!match) throw new ConfigError(`${where} must be an octal permission such as 644 or 0o644.`);
  return Number.parseInt(match[1]!, 8);
}

const SIGNING_SECRET = "SIGNING_SECRET";

/** The driver options: `signingBaseUrl` folded into `signing.baseUrl`. */
function driverOptions(options: FsBackendOptions): FsDriverOptions {
  const { signingBaseUrl, ...rest } = options;
  if (signingBaseUrl === undefined) return rest;
  const base = checkBaseUrl(signingBaseUrl, "signingBaseUrl");
  if (rest.signing === undefined) {
    throw new ConfigError("fs option signingBaseUrl needs signing: { key } as well.");
  }
  return { ...rest, signing: { ...rest.signing, baseUrl: rest.signing.baseUrl ?? base } };
}

let processSecret: string | undefined;

export const backend: BackendDefinition<FsBackendOptions> = {
  name: "fs",
  schemes: ["file"],
  optionKeys: OPTION_KEYS,
  urlParams: {
    signingBaseUrl: urlParam.string,
    fileMode: parseMode,
    directoryMode: parseMode,
    durability: urlParam.oneOf(DURABILITIES),
    records: urlParam.boolean,
    inlineActiveContent: urlParam.boolean,
    links: urlParam.oneOf(LINK_POLICIES),
  },

  fromUrl(url, context) {
    if (url.protocol !== "file:") throw new ConfigError(`${context.source} must be a file:/// URL.`);
    if (url.host !== "" && url.host !== "localhost") {
      throw new ConfigError(
        `${context.source}: file:// URLs name a local directory, not a host ("${url.host}"): write three slashes, file:///var/lib/app/media.`,
      );
    }
    let root: string;
    try {
      root = fileURLToPath(url);
    } catch (cause) {
      throw new ConfigError(`${context.source}: the path of the file:// URL is not a valid directory path.`, {
        cause,
      });
    }
    if (root.length > 1 && root.endsWith("/")) root = root.slice(0, -1);
    const options: FsBackendOptions = { root };
    const secretVar = storageVariable(context.storageName, SIGNING_SECRET);
    const secret = context.env[secretVar];
    const signingBaseUrl = context.params.signingBaseUrl;
    if (secret !== undefined && secret !== "") {
      if (signingBaseUrl === undefined) {
        throw new ConfigError(
          `${context.source}: ${secretVar} is set, so signed URLs need to know where createFsHandler is mounted: add ?signingBaseUrl=/media/ (or an absolute URL) to the storage URL.`,
        );
      }
      options.signing = { key: secret };
    } else if (signingBaseUrl !== undefined) {
      throw new ConfigError(
        `${context.source} sets signingBaseUrl but ${secretVar} is not set: put a secret of at least 32 bytes there (openssl rand -base64 48).`,
      );
    }
    return options;
  },

  validate(options) {
    resolveFsOptions(driverOptions(options));
  },

  location(options) {
    return { kind: "dir", path: resolveFsOptions(driverOptions(options)).root };
  },

  describe(options) {
    return describeFsOptions(resolveFsOptions(driverOptions(options)));
  },

  secretVariables: secretVariablesOf([{ suffix: SIGNING_SECRET, option: "signing" }]),

  localOptions(context) {
    const secret = context.env[storageVariable(context.storageName, SIGNING_SECRET)];
    // Without a configured secret, one per process: signed URLs work until a restart (dev, CI).
    processSecret ??= randomBytes(48).toString("base64");
    return {
      root: context.directory,
      signingBaseUrl: context.baseUrl,
      signing: { key: secret !== undefined && secret !== "" ? secret : processSecret },
    };
  },

  create(options) {
    return new FsDriver(driverOptions(options));
  },
};

/** Everything `fsStorage()` takes: the driver's options and the Storage's. */
export type FsStorageOptions = FsDriverOptions & StorageOptions;

/**
 * A Storage over a local directory:
 * `fsStorage({ root: "/var/lib/app/media", baseUrl: "/media/" })`. A misspelt option is an error
 * naming the closest valid one; a public base URL (`baseUrl` or `publicUrl`) makes it public
 * unless `visibility` says otherwise.
 */
export function fsStorage(options: FsStorageOptions): Storage {
  return storageFromOptions(options, {
    subject: "fs storage",
    driverKeys: DRIVER_OPTION_KEYS,
    example: '{ root: "/var/lib/app/media" }',
    driver: (o: FsDriverOptions) => new FsDriver(o),
  });
}
