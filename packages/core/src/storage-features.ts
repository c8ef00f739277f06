/**
 * `Storage.features`: per feature, whether the service does it (`native`: a declared capability,
 * or the optional driver method is there), the facade fills it in (`facade`), or nobody (`none`).
 *
 * Separate from the facade (storage.ts) because it is a report derived from the driver alone
 * (and the configured public base URL), read by describe() and by tools, never by a call.
 */
import type { ChecksumAlgorithm, Driver, StorageFeatures } from "./types.js";

/** What a storage can do, and whether the service does it or the facade fills it in. */
export function featuresOf(storage: {
  readonly driver: Driver;
  readonly publicBaseUrl: string | undefined;
}): StorageFeatures {
  const caps = storage.driver.capabilities;
  const d = storage.driver;
  const has = (method: unknown): "native" | "facade" => (typeof method === "function" ? "native" : "facade");
  const all: readonly ChecksumAlgorithm[] = ["md5", "sha256", "crc32c"];
  return {
    rangeRead: caps.rangeRead ? "native" : "facade",
    createExclusive: caps.conditionalWrite ? "native" : "none",
    copy: has(d.copy),
    move: has(d.move),
    deleteMany: has(d.deleteMany),
    exists: has(d.exists),
    publicUrl:
      storage.publicBaseUrl !== undefined ? "facade" : caps.publicUrl && d.publicUrl ? "native" : "none",
    signedUrl: caps.signedUrl && d.signedUrl ? "native" : "none",
    signedUpload: d.signedUpload ? caps.signedUpload : [],
    signedUploadMaxBytes: d.signedUpload ? caps.signedUploadMaxBytes : [],
    visibility: caps.visibility,
    metadata: caps.metadata,
    checksums: { stored: caps.checksums, computed: all.filter((a) => !caps.checksums.includes(a)) },
  };
}
