/**
 * The static manifest is @storages/staticfiles's contract (`staticfiles.json` in the static
 * storage, read with its `readManifest`); this module only adapts it to the checks: a storage
 * without one is `undefined`, not an error.
 */
import { NotFoundError, type Storage } from "@storages/core";
import {
  ENCODING_SUFFIX,
  type Encoding,
  MANIFEST_NAME,
  type ManifestEntry,
  readManifest,
  type StaticManifest,
} from "@storages/staticfiles";

export { ENCODING_SUFFIX, type Encoding, MANIFEST_NAME, type ManifestEntry, type StaticManifest };

/** The current release's manifest, or undefined when the static storage has none (InvalidManifestError when it is not one). */
export async function readStaticManifest(
  storage: Storage,
  signal?: AbortSignal | undefined,
): Promise<StaticManifest | undefined> {
  try {
    return await readManifest(storage, { signal });
  } catch (error) {
    if (NotFoundError.isInstance(error)) return undefined;
    throw error;
  }
}
