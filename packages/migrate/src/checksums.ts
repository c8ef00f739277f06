/**
 * Whether two files' checksums say they hold the same content: the first algorithm both give decides,
 * and two sets with none in common decide nothing (the caller falls back to another comparison).
 */
import type { Checksums } from "@storages/core";

const HASHES = ["md5", "sha256", "crc32c"] as const;

/** true/false when both give a hash of one algorithm; undefined when they share none. */
export function sameHashes(a: Checksums | undefined, b: Checksums | undefined): boolean | undefined {
  if (!a || !b) return undefined;
  for (const algorithm of HASHES) {
    const x = a[algorithm];
    const y = b[algorithm];
    if (x && y) return x === y;
  }
  return undefined;
}
