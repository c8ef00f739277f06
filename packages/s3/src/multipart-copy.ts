/**
 * Server-side copy of objects above CopyObject's 5 GiB limit: UploadPartCopy, part by part, inside
 * the service. Aborts the multipart upload on any failure, so no parts are left behind.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  type HeadObjectCommandOutput,
  type ObjectCannedACL,
  type S3Client,
  type ServerSideEncryption,
  type StorageClass,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import { errorName } from "./errors.js";
import { copySource } from "./urls.js";

export interface MultipartCopyParams {
  Bucket: string;
  Key: string;
  sourceBucket: string;
  sourceKey: string;
  /** HeadObject of the source: size and the headers the copy must carry (UploadPartCopy copies bytes only). */
  head: HeadObjectCommandOutput;
  partSize: number;
  concurrency: number;
  signal: AbortSignal;
  ACL?: ObjectCannedACL | undefined;
  ServerSideEncryption?: ServerSideEncryption | undefined;
  SSEKMSKeyId?: string | undefined;
  StorageClass?: StorageClass | undefined;
}

/** CopyObject refused because the source is above 5 GiB. */
export function isCopySourceTooLarge(error: unknown): boolean {
  const name = errorName(error);
  const message = String((error as { message?: unknown })?.message ?? "");
  return (
    (name === "InvalidRequest" || name === "EntityTooLarge") &&
    /larger than the maximum allowable size|too large|5368709120/i.test(message)
  );
}

/** The copy's ETag and version, as CompleteMultipartUpload reports them. */
export async function multipartCopy(
  client: S3Client,
  params: MultipartCopyParams,
): Promise<{ etag: string | undefined; versionId: string | undefined }> {
  const { Bucket, Key, head, signal } = params;
  const size = head.ContentLength ?? 0;
  if (size <= 0)
    throw new Error("multipartCopy needs a non-empty source (small objects go through CopyObject).");
  const created = await client.send(
    new CreateMultipartUploadCommand({
      Bucket,
      Key,
      ContentType: head.ContentType,
      CacheControl: head.CacheControl,
      ContentDisposition: head.ContentDisposition,
      ContentEncoding: head.ContentEncoding,
      ContentLanguage: head.ContentLanguage,
      Expires: head.Expires,
      Metadata: head.Metadata,
      ACL: params.ACL,
      ServerSideEncryption: params.ServerSideEncryption,
      SSEKMSKeyId: params.SSEKMSKeyId,
      StorageClass: params.StorageClass,
    }),
  );
  const UploadId = created.UploadId!;
  try {
    const ranges: Array<{ PartNumber: number; range: string }> = [];
    for (let start = 0, part = 1; start < size; start += params.partSize, part++) {
      ranges.push({
        PartNumber: part,
        range: `bytes=${start}-${Math.min(start + params.partSize, size) - 1}`,
      });
    }
    const parts: Array<{ PartNumber: number; ETag: string | undefined }> = [];
    let next = 0;
    let failed = false;
    const worker = async () => {
      while (next < ranges.length && !failed) {
        const { PartNumber, range } = ranges[next++]!;
        const out = await client.send(
          new UploadPartCopyCommand({
            Bucket,
            Key,
            UploadId,
            PartNumber,
            CopySource: copySource(params.sourceBucket, params.sourceKey),
            CopySourceRange: range,
            // The source must not change between parts, or the copy would splice two versions.
            CopySourceIfMatch: head.ETag,
          }),
          { abortSignal: signal },
        );
        parts.push({ PartNumber, ETag: out.CopyPartResult?.ETag });
      }
    };
    const guarded = () =>
      worker().catch((error: unknown) => {
        failed = true;
        throw error;
      });
    // Settle every worker before aborting, so no part lands after the abort.
    const settled = await Promise.allSettled(
      Array.from({ length: Math.max(1, Math.min(params.concurrency, ranges.length)) }, guarded),
    );
    const rejected = settled.find((result) => result.status === "rejected");
    if (rejected) throw rejected.reason;
    parts.sort((a, b) => a.PartNumber - b.PartNumber);
    const out = await client.send(
      new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: parts } }),
    );
    return { etag: out.ETag, versionId: out.VersionId };
  } catch (error) {
    await client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId })).catch(() => undefined);
    throw error;
  }
}
