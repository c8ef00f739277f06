/**
 * The one place a resolved storage becomes a writable Storage (its backend's driver, created from
 * the resolved options), for the registry and `openStorageUrl` alike: a driver that refuses its
 * options gets a ConfigError naming where those options came from, with no secret in it.
 */
import { ConfigError, StorageError } from "../errors.js";
import { Storage } from "../storage.js";
import { scrubbed } from "./problems.js";
import { type ResolvedStorage, relabel } from "./resolve.js";

/** The writable Storage of a resolved storage; a driver that refuses its options names their source. */
export function createWriter(resolved: ResolvedStorage, secrets: readonly string[]): Storage {
  try {
    return new Storage(resolved.backend!.create(resolved.driverOptions), resolved.storageOptions);
  } catch (cause) {
    const error = StorageError.isInstance(cause)
      ? relabel(cause, resolved.sources, resolved.source)
      : new ConfigError(
          `${resolved.source}: the ${resolved.backend!.name} driver could not be created: ${(cause as Error)?.message ?? cause}`,
          { cause },
        );
    throw scrubbed(error, secrets);
  }
}
