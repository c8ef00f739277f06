/**
 * `file:///abs/path?…` storage URLs, and `fsStorage()` for code that builds a storage directly.
 */
import { fileURLToPath } from "node:url";
import { type BackendDefinition, ConfigError, Storage, type StorageOptions } from "@storages/core";
import { FsDriver, type FsDriverOptions } from "./driver.js";

/** Options of the `fs` backend in a config entry (`{ backend: "fs", options }`) or from a URL. */
export interface FsBackendOptions extends FsDriverOptions {
  /** Where createFsHandler is mounted, for signed URLs (same as `signing.baseUrl`). */
  signingBaseUrl?: string | undefined;
}

const OPTION_KEYS = [
  "root",
  "baseUrl",
  "signing",
  "signingBaseUrl",
  "fileMode",
  "directoryMode",
  "defaultVisibility",
] as const;

/** Query parameters a `file://` URL may carry (storage-level ones are taken by the registry first). */
const URL_PARAMS = new Set(["signingBaseUrl", "fileMode", "directoryMode"]);

function parseMode(value: string, where: string): number {
  // Octal, the way chmod takes it: 644, 0644 or 0o644.
  const match = /^(?:0o?)?([0-7]{3,4})$/i.exec(value);
  if (!match) throw new ConfigError(`${where} must be an octal permission such as 644 or 0o644.`);
  return Number.parseInt(match[1]!, 8);
}

/** The environment variable holding a storage's signing secret: STORAGES_<NAME>_SIGNING_SECRET. */
export function signingSecretVar(storageName: string): string {
  return `STORAGES_${storageName.toUpperCase()}_SIGNING_SECRET`;
}

export const backend: BackendDefinition<FsBackendOptions> = {
  name: "fs",
  schemes: ["file"],
  optionKeys: OPTION_KEYS,
  fromUrl(url, context) {
    if (url.protocol !== "file:") throw new ConfigError(`${context.source} must be a file:/// URL.`);
    if (url.host !== "" && url.host !== "localhost") {
      throw new ConfigError(
        `${context.source}: file:// URLs name a local directory, not a host ("${url.host}"): use file:///var/lib/app/media.`,
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
    for (const [name, value] of url.searchParams) {
      if (!URL_PARAMS.has(name)) {
        throw new ConfigError(
          `${context.source}: unknown query parameter \`${name}\` for file:// (it takes ${[...URL_PARAMS].join(", ")}).`,
        );
      }
      if (name === "fileMode") options.fileMode = parseMode(value, `${context.source} (fileMode=)`);
      else if (name === "directoryMode")
        options.directoryMode = parseMode(value, `${context.source} (directoryMode=)`);
      else if (name === "signingBaseUrl") options.signingBaseUrl = value;
    }
    const secretVar = signingSecretVar(context.storageName);
    const secret = context.env[secretVar];
    if (secret !== undefined && secret !== "") {
      if (options.signingBaseUrl === undefined) {
        throw new ConfigError(
          `${context.source}: ${secretVar} is set, so signed URLs need to know where createFsHandler is mounted: add ?signingBaseUrl=/media/ (or an absolute URL) to the storage URL.`,
        );
      }
      options.signing = { key: secret, baseUrl: options.signingBaseUrl };
      delete options.signingBaseUrl;
    } else if (options.signingBaseUrl !== undefined) {
      throw new ConfigError(
        `${context.source} sets signingBaseUrl but ${secretVar} is not set: put a secret of at least 32 bytes there (openssl rand -base64 48).`,
      );
    }
    return options;
  },
  create(options) {
    const { signingBaseUrl, ...driverOptions } = options;
    if (signingBaseUrl !== undefined) {
      if (driverOptions.signing === undefined) {
        throw new ConfigError("fs option signingBaseUrl needs signing: { key } as well.");
      }
      driverOptions.signing = {
        ...driverOptions.signing,
        baseUrl: driverOptions.signing.baseUrl ?? signingBaseUrl,
      };
    }
    return new FsDriver(driverOptions);
  },
};

/** Everything `fsStorage()` takes: the driver's options and the Storage's. */
export type FsStorageOptions = FsDriverOptions & StorageOptions;

/**
 * A Storage over a local directory:
 * `fsStorage({ root: "/var/lib/app/media", baseUrl: "/media/" })`.
 */
export function fsStorage(options: FsStorageOptions): Storage {
  const { root, baseUrl, signing, fileMode, directoryMode, defaultVisibility, ...storageOptions } = options;
  return new Storage(
    new FsDriver({ root, baseUrl, signing, fileMode, directoryMode, defaultVisibility }),
    storageOptions,
  );
}
