/**
 * One page of a listing: ListObjectsV2 under the storage's prefix, its keys turned back into
 * storage-relative names (folders from common prefixes; consoles' "folder/" markers dropped), in
 * name order, with the MD5 where the ETag is one. Paging is the caller's: the cursor is S3's
 * continuation token.
 */
import { ListObjectsV2Command, type ListObjectsV2CommandOutput, type S3Client } from "@aws-sdk/client-s3";
import { type DriverListOptions, type ListEntry, type ListPage, normalizeEtag } from "@storages/core";
import type { FailFunction } from "./errors.js";
import { md5FromEtag } from "./object-info.js";
import { fromKey } from "./urls.js";

export interface ListingTarget {
  client: S3Client;
  bucket: string;
  /** The storage's key prefix ("" or ending in "/"). */
  root: string;
  /** Whether objects written here get their MD5 as ETag (no KMS). */
  etagIsMd5: boolean;
  fail: FailFunction;
}

export async function listObjectsPage(
  target: ListingTarget,
  prefix: string,
  options: DriverListOptions,
): Promise<ListPage> {
  const { client, bucket, root, etagIsMd5, fail } = target;
  let out: ListObjectsV2CommandOutput;
  try {
    out = await client.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: root + prefix,
        Delimiter: options.recursive ? undefined : "/",
        MaxKeys: options.pageSize,
        ContinuationToken: options.cursor,
      }),
      { abortSignal: options.signal },
    );
  } catch (error) {
    throw fail(error, { key: prefix || undefined, signal: options.signal });
  }
  const entries: ListEntry[] = [];
  for (const common of out.CommonPrefixes ?? []) {
    const name = common.Prefix === undefined ? undefined : fromKey(root, common.Prefix)?.replace(/\/+$/, "");
    if (name) entries.push({ type: "directory", name });
  }
  for (const object of out.Contents ?? []) {
    const name = object.Key === undefined ? undefined : fromKey(root, object.Key);
    // "folder/" markers made by consoles and other tools are not files.
    if (!name || name.endsWith("/")) continue;
    // A listing has no metadata: only an MD5 ETag gives a checksum here (a multipart upload's
    // recorded MD5 needs stat). Under KMS (configured on this storage) the ETag is not one.
    const md5 = etagIsMd5 ? md5FromEtag(object.ETag) : undefined;
    entries.push({
      type: "file",
      name,
      size: object.Size ?? 0,
      lastModified: object.LastModified ?? new Date(0),
      etag: normalizeEtag(object.ETag),
      checksums: md5 === undefined ? undefined : { md5 },
    });
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const cursor = out.IsTruncated && out.NextContinuationToken ? out.NextContinuationToken : undefined;
  return { entries, cursor };
}
