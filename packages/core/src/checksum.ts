/**
 * Checksums computed from a stream, for backends (or algorithms) the service does not report.
 */
import { createHash } from "node:crypto";
import type { ChecksumAlgorithm } from "./types.js";

// CRC-32C (Castagnoli), reflected polynomial 0x82F63B78: what GCS reports, and S3's CRC32C option.
const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32cUpdate(crc: number, data: Uint8Array): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < data.length; i++) c = (CRC32C_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8)) >>> 0;
  return ~c >>> 0;
}

/** Lower-case hex digest of everything the stream yields. */
export async function digestStream(
  stream: AsyncIterable<Uint8Array>,
  algorithm: ChecksumAlgorithm,
): Promise<string> {
  if (algorithm === "crc32c") {
    let crc = 0;
    for await (const chunk of stream) crc = crc32cUpdate(crc, chunk);
    return crc.toString(16).padStart(8, "0");
  }
  const hash = createHash(algorithm);
  for await (const chunk of stream) hash.update(chunk);
  return hash.digest("hex");
}

/** Base64 (as GCS/Azure report them) → lower-case hex (as ObjectStat.checksums holds them). */
export function base64ToHex(value: string): string {
  return Buffer.from(value, "base64").toString("hex");
}
