/**
 * What S3 says about an object, in storages' terms: its checksums (from the ETag when that is the
 * MD5, else the MD5 this driver or rclone recorded in the metadata, plus S3's whole-object
 * checksums), its user metadata without the driver's own key, and the `ObjectStat` of a HEAD.
 *
 * Here rather than in driver.ts because writing, listing and stat all need the same rules.
 */
import type { HeadObjectCommandOutput } from "@aws-sdk/client-s3";
import { base64ToHex, type Checksums, md5FromBase64, normalizeEtag, type ObjectStat } from "@storages/core";

/**
 * Metadata key of the MD5 (base64) of objects whose ETag is not their MD5: multipart uploads, and
 * any upload under SSE-KMS. rclone's name for it, so each tool sees the other's checksums.
 */
export const MD5_METADATA = "md5chksum";

/** The MD5 in an ETag of the single-request form (32 hex digits); multipart ETags end in "-N". */
export function md5FromEtag(etag: string | undefined): string | undefined {
  const bare = normalizeEtag(etag)?.replace(/^W\//, "").slice(1, -1);
  return bare !== undefined && /^[0-9a-f]{32}$/i.test(bare) ? bare.toLowerCase() : undefined;
}

/** Whether the ETags of objects written with this encryption are the MD5 of their content. */
export function etagIsMd5(serverSideEncryption: string | undefined, customerKey = false): boolean {
  return !customerKey && (serverSideEncryption === undefined || serverSideEncryption === "AES256");
}

/**
 * Checksums of an object from its HEAD: the ETag when it is an MD5 (a single-request upload
 * without KMS or customer keys, as S3 documents), else the MD5 this driver (or rclone) stored in
 * the metadata; plus S3's additional checksums when the service keeps whole-object ones (AWS;
 * COMPOSITE ones are checksums of the parts, not of the object).
 */
export function checksumsFromHead(head: HeadObjectCommandOutput): Checksums | undefined {
  const checksums: Checksums = {};
  const md5 = etagIsMd5(head.ServerSideEncryption, head.SSECustomerAlgorithm !== undefined)
    ? md5FromEtag(head.ETag)
    : undefined;
  const recorded = md5 ?? md5FromBase64(head.Metadata?.[MD5_METADATA]);
  if (recorded !== undefined) checksums.md5 = recorded;
  if (head.ChecksumType !== "COMPOSITE") {
    if (head.ChecksumSHA256 && !head.ChecksumSHA256.includes("-"))
      checksums.sha256 = base64ToHex(head.ChecksumSHA256);
    if (head.ChecksumCRC32C && !head.ChecksumCRC32C.includes("-"))
      checksums.crc32c = base64ToHex(head.ChecksumCRC32C);
  }
  return Object.keys(checksums).length > 0 ? checksums : undefined;
}

/** User metadata without the driver's own key (which save() never takes from the caller either). */
export function userMetadata(
  metadata: Record<string, string> | undefined,
): Record<string, string> | undefined {
  if (metadata === undefined || !(MD5_METADATA in metadata)) return metadata;
  const { [MD5_METADATA]: _md5, ...rest } = metadata;
  return rest;
}

/** A HEAD's answer as a stat: headers, user metadata and checksums. */
export function statFromHead(name: string, head: HeadObjectCommandOutput): ObjectStat {
  return {
    name,
    size: head.ContentLength ?? 0,
    lastModified: head.LastModified ?? new Date(0),
    etag: normalizeEtag(head.ETag),
    contentType: head.ContentType,
    cacheControl: head.CacheControl,
    contentDisposition: head.ContentDisposition,
    contentEncoding: head.ContentEncoding,
    metadata: { ...userMetadata(head.Metadata) },
    checksums: checksumsFromHead(head),
  };
}
