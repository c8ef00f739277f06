/**
 * A copy inside the bucket: one CopyObject (the source's metadata kept, the storage's encryption
 * and storage class applied, the ACL the driver chose), or — for a source above CopyObject's 5 GiB
 * limit — part by part (multipart-copy.ts). Both map their failures through the driver's mapper:
 * the source's name for a refused CopyObject, the target's for a failed part copy.
 */
import {
  CopyObjectCommand,
  type HeadObjectCommandOutput,
  type ObjectCannedACL,
  type S3Client,
  type StorageClass,
} from "@aws-sdk/client-s3";
import type { FailFunction } from "./errors.js";
import { isCopySourceTooLarge, multipartCopy } from "./multipart-copy.js";
import { MAX_PARTS, MAX_SINGLE_COPY_SIZE, type ResolvedS3Options } from "./options.js";
import { copySource } from "./urls.js";

export interface ServerCopy {
  client: S3Client;
  options: ResolvedS3Options;
  /** Storage-relative names, for messages. */
  from: string;
  to: string;
  /** Object keys. */
  sourceKey: string;
  targetKey: string;
  ACL: ObjectCannedACL | undefined;
  signal: AbortSignal;
  /** The source's HEAD (size and headers), asked only when a part-by-part copy needs it. */
  head: () => Promise<HeadObjectCommandOutput>;
  fail: FailFunction;
}

export async function copyInBucket(copy: ServerCopy): Promise<void> {
  const { client, options: o, from, to, signal, fail } = copy;
  const common = {
    Bucket: o.bucket,
    Key: copy.targetKey,
    ACL: copy.ACL,
    ServerSideEncryption: o.serverSideEncryption,
    SSEKMSKeyId: o.sseKmsKeyId,
    StorageClass: o.storageClass as StorageClass | undefined,
  };
  try {
    await client.send(
      new CopyObjectCommand({
        ...common,
        CopySource: copySource(o.bucket, copy.sourceKey),
        MetadataDirective: "COPY",
      }),
      {
        abortSignal: signal,
      },
    );
  } catch (error) {
    if (!isCopySourceTooLarge(error)) throw fail(error, { key: from, signal });
    // Above 5 GiB S3 copies only part by part.
    const head = await copy.head();
    try {
      await multipartCopy(client, {
        ...common,
        sourceBucket: o.bucket,
        sourceKey: copy.sourceKey,
        head,
        partSize: Math.max(MAX_SINGLE_COPY_SIZE / 10, Math.ceil((head.ContentLength ?? 0) / MAX_PARTS)),
        concurrency: o.queueSize,
        signal,
      });
    } catch (copyError) {
      throw fail(copyError, { key: to, signal });
    }
  }
}
