/**
 * Presigned requests, signed by the driver's signer client (clients.ts): a GET URL for a download,
 * and an upload as a PUT URL (Content-Type signed, so it is enforced) or a POST policy (the only
 * form in which S3 enforces a maximum size). The driver resolves the key and the ACL; the shape of
 * each signed request lives here.
 */
import {
  GetObjectCommand,
  type ObjectCannedACL,
  PutObjectCommand,
  type S3Client,
  type StorageClass,
} from "@aws-sdk/client-s3";
import {
  type DriverSignedUploadOptions,
  type DriverSignedUrlOptions,
  type SignedUpload,
  UnsupportedError,
} from "@storages/core";
import type { ResolvedS3Options } from "./options.js";

/**
 * The two presigner packages, loaded on the first signature rather than with the driver: they
 * add ~3.5 MiB of resident memory to every process that imports @storages/s3 (node:http,
 * @storages/core and client-s3 loaded: 83.2 MiB without them, 86.6 with), and most processes that
 * save files never sign one. A failed load (EMFILE, say) is not kept: the next signature tries again.
 */
let presigners:
  | Promise<{
      getSignedUrl: typeof import("@aws-sdk/s3-request-presigner").getSignedUrl;
      createPresignedPost: typeof import("@aws-sdk/s3-presigned-post").createPresignedPost;
    }>
  | undefined;

function loadPresigners() {
  presigners ??= Promise.all([
    import("@aws-sdk/s3-request-presigner"),
    import("@aws-sdk/s3-presigned-post"),
  ]).then(
    ([request, post]) => ({
      getSignedUrl: request.getSignedUrl,
      createPresignedPost: post.createPresignedPost,
    }),
    (error: unknown) => {
      presigners = undefined;
      throw error;
    },
  );
  return presigners;
}

/** A presigned GET of `key`, with the response headers the caller asked for. */
export async function signDownloadUrl(
  signer: S3Client,
  bucket: string,
  key: string,
  options: DriverSignedUrlOptions,
): Promise<string> {
  const command = new GetObjectCommand({
    Bucket: bucket,
    Key: key,
    ResponseContentDisposition: options.responseContentDisposition,
    ResponseContentType: options.responseContentType,
  });
  const { getSignedUrl } = await loadPresigners();
  return getSignedUrl(signer, command, { expiresIn: options.expiresIn });
}

export interface UploadToSign {
  Key: string;
  /** The canned ACL the upload must carry (undefined: the bucket's default). */
  ACL: ObjectCannedACL | undefined;
  cacheControl: string | undefined;
  expiresAt: Date;
}

/** A presigned POST (with `maxBytes` as a content-length-range condition) or PUT of one object. */
export async function signUpload(
  signer: S3Client,
  o: ResolvedS3Options,
  upload: UploadToSign,
  options: DriverSignedUploadOptions,
): Promise<Omit<SignedUpload, "name">> {
  const { Key, ACL, cacheControl, expiresAt } = upload;
  if (options.method === "post") {
    if (!o.postPolicy)
      throw new UnsupportedError(`The ${o.profile.label} profile has no signed POST uploads.`);
    const fields: Record<string, string> = {};
    if (options.contentType) fields["Content-Type"] = options.contentType;
    if (cacheControl) fields["Cache-Control"] = cacheControl;
    if (ACL) fields.acl = ACL;
    if (o.serverSideEncryption) fields["x-amz-server-side-encryption"] = o.serverSideEncryption;
    if (o.sseKmsKeyId) fields["x-amz-server-side-encryption-aws-kms-key-id"] = o.sseKmsKeyId;
    if (o.storageClass) fields["x-amz-storage-class"] = o.storageClass;
    const conditions: Array<["content-length-range", number, number]> = [];
    if (options.maxBytes !== undefined) conditions.push(["content-length-range", 0, options.maxBytes]);
    // Every field becomes an exact-match condition of the signed policy.
    const { createPresignedPost } = await loadPresigners();
    const post = await createPresignedPost(signer, {
      Bucket: o.bucket,
      Key,
      Fields: fields,
      Conditions: conditions,
      Expires: options.expiresIn,
    });
    return {
      method: "POST",
      url: post.url,
      headers: {},
      fields: post.fields,
      expiresAt,
      maxBytes: options.maxBytes,
    };
  }
  if (options.maxBytes !== undefined) {
    throw new UnsupportedError('S3 cannot enforce maxBytes on a signed PUT: use method "post".');
  }
  const command = new PutObjectCommand({
    Bucket: o.bucket,
    Key,
    ContentType: options.contentType,
    CacheControl: cacheControl,
    ACL,
    ServerSideEncryption: o.serverSideEncryption,
    SSEKMSKeyId: o.sseKmsKeyId,
    StorageClass: o.storageClass as StorageClass | undefined,
  });
  const headers: Record<string, string> = {};
  if (options.contentType) headers["content-type"] = options.contentType;
  if (cacheControl) headers["cache-control"] = cacheControl;
  // The presigner leaves Content-Type unsigned by default: sign it, so the type is enforced.
  const { getSignedUrl } = await loadPresigners();
  const url = await getSignedUrl(signer, command, {
    expiresIn: options.expiresIn,
    signableHeaders: new Set(Object.keys(headers)),
  });
  return { method: "PUT", url, headers, fields: {}, expiresAt, maxBytes: undefined };
}
