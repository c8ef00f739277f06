/**
 * Checksums and ETags: digests computed from a stream (for backends or algorithms the service does
 * not report), the conversions between the encodings services use, and the one ETag form.
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

/** A stored MD5 in base64 (S3 `x-amz-meta-…`, GCS, Azure) → lower-case hex, or undefined if it is not 16 bytes. */
export function md5FromBase64(value: string | undefined): string | undefined {
  if (value === undefined || !/^[A-Za-z0-9+/]{22}(==)?$/.test(value)) return undefined;
  return base64ToHex(value);
}

/**
 * ETags in one form on every backend: the quoted entity-tag HTTP sends (`"…"`, or `W/"…"` when
 * weak), ready for an ETag, If-Match or If-None-Match header and comparable across save(), stat()
 * and list(). Services and SDKs differ (S3 and Azure properties come quoted; GCS's JSON API, Azure
 * listings and RGW's CopyObject result do not), so every driver passes its etags through this.
 * An empty value (RGW after CompleteMultipartUpload) is no etag.
 */
export function normalizeEtag(value: string | null | undefined): string | undefined {
  if (typeof value !== "string") return undefined;
  let tag = value.trim();
  const weak = tag.startsWith("W/");
  if (weak) tag = tag.slice(2);
  if (tag.length >= 2 && tag.startsWith('"') && tag.endsWith('"')) tag = tag.slice(1, -1);
  if (tag === "") return undefined;
  return `${weak ? "W/" : ""}"${tag}"`;
}
