/**
 * The S3 driver: maps the storages Driver contract onto @aws-sdk/client-s3, for AWS and the
 * S3-compatible services (profiles.ts says how each one differs).
 */

import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { inspect } from "node:util";
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketOwnershipControlsCommand,
  GetBucketVersioningCommand,
  GetObjectAclCommand,
  GetObjectCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  type ObjectCannedACL,
  PutObjectAclCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
  S3Client,
  type S3ClientConfig,
  type StorageClass,
} from "@aws-sdk/client-s3";
import { createPresignedPost } from "@aws-sdk/s3-presigned-post";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import {
  AlreadyExistsError,
  type BackendDescription,
  base64ToHex,
  type Capabilities,
  type Checksums,
  type DataProtection,
  type Driver,
  type DriverCallOptions,
  type DriverCopyOptions,
  type DriverDeleteManyResult,
  type DriverListOptions,
  type DriverReadOptions,
  type DriverSignedUploadOptions,
  type DriverSignedUrlOptions,
  type DriverWriteOptions,
  type DriverWriteResult,
  type ListEntry,
  type ListPage,
  md5FromBase64,
  normalizeEtag,
  type ObjectStat,
  type SignedUpload,
  type StorageError,
  UnsupportedError,
  type Visibility,
} from "@storages/core";
import { type ErrorContext, errorName, toStorageError } from "./errors.js";
import { isCopySourceTooLarge, multipartCopy } from "./multipart-copy.js";
import { uploadBody } from "./multipart-upload.js";
import {
  describeS3Options,
  MAX_PARTS,
  MAX_SINGLE_COPY_SIZE,
  type ResolvedS3Options,
  resolveOptions,
  type S3DriverOptions,
} from "./options.js";
import { PartBuffers } from "./parts.js";
import { buildPublicUrl, copySource, fromKey, toKey } from "./urls.js";

/** DeleteObjects takes at most this many keys per request. */
export const DELETE_BATCH_SIZE = 1000;
const ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers";
const MIB = 1024 * 1024;

/**
 * Metadata key of the MD5 (base64) of objects whose ETag is not their MD5: multipart uploads, and
 * any upload under SSE-KMS. rclone's name for it, so each tool sees the other's checksums.
 */
export const MD5_METADATA = "md5chksum";

/** The MD5 in an ETag of the single-request form (32 hex digits); multipart ETags end in "-N". */
function md5FromEtag(etag: string | undefined): string | undefined {
  const bare = normalizeEtag(etag)?.replace(/^W\//, "").slice(1, -1);
  return bare !== undefined && /^[0-9a-f]{32}$/i.test(bare) ? bare.toLowerCase() : undefined;
}

/** Whether the ETags of objects written with this encryption are the MD5 of their content. */
function etagIsMd5(serverSideEncryption: string | undefined, customerKey = false): boolean {
  return !customerKey && (serverSideEncryption === undefined || serverSideEncryption === "AES256");
}

/**
 * Checksums of an object from its HEAD: the ETag when it is an MD5 (a single-request upload
 * without KMS or customer keys, as S3 documents), else the MD5 this driver (or rclone) stored in
 * the metadata; plus S3's additional checksums when the service keeps whole-object ones (AWS;
 * COMPOSITE ones are checksums of the parts, not of the object).
 */
function checksumsFromHead(head: HeadObjectCommandOutput): Checksums | undefined {
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
function userMetadata(metadata: Record<string, string> | undefined): Record<string, string> | undefined {
  if (metadata === undefined || !(MD5_METADATA in metadata)) return metadata;
  const { [MD5_METADATA]: _md5, ...rest } = metadata;
  return rest;
}

function s3ClientConfig(
  options: ResolvedS3Options,
  endpoint: string | undefined,
  credentials: S3DriverOptions["credentials"],
): S3ClientConfig {
  const checksums = options.checksums === "when_required" ? "WHEN_REQUIRED" : "WHEN_SUPPORTED";
  return {
    region: options.region,
    endpoint,
    forcePathStyle: options.forcePathStyle,
    credentials,
    requestChecksumCalculation: checksums,
    responseChecksumValidation: checksums,
    // One attempt per call: the storage's retry policy (core's, the same on every backend) decides
    // what is repeated, so the SDK's retries and ours never multiply.
    maxAttempts: 1,
  };
}

export class S3Driver implements Driver {
  readonly backend = "s3";
  readonly capabilities: Capabilities;
  readonly defaultVisibility: Visibility;
  /** Batch deletes through DeleteObjects; absent where the service has none (the facade then deletes one by one). */
  readonly deleteMany?:
    | ((keys: string[], options: DriverCallOptions) => Promise<DriverDeleteManyResult>)
    | undefined;

  // Private fields: the client config holds the credentials, and #fields stay out of JSON and inspect.
  readonly #options: ResolvedS3Options;
  readonly #client: S3Client;
  /** Signs URLs and uploads: its own endpoint (browsers' hostname) and never a payload checksum. */
  readonly #signer: S3Client;
  readonly #ownedClients: S3Client[] = [];
  #aclProbe: Promise<boolean> | undefined;
  /** Whether the client computes request checksums (WHEN_SUPPORTED): asked of its config once. */
  #checksumsComputed: Promise<boolean> | undefined;
  /** Whether objects this driver writes in one request get their MD5 as ETag (no KMS). */
  readonly #etagIsMd5: boolean;
  /** Part buffers its streamed uploads share (maxPartBuffers at once, reused). */
  readonly #partBuffers: PartBuffers;

  constructor(options: S3DriverOptions) {
    const resolved = resolveOptions(options);
    this.#options = resolved;
    if (options.client) {
      this.#client = options.client;
    } else {
      this.#client = new S3Client(s3ClientConfig(resolved, resolved.endpoint, options.credentials));
      this.#ownedClients.push(this.#client);
    }
    if (options.client || resolved.signingEndpoint !== undefined || resolved.checksums !== "when_required") {
      // Presigned PUTs from a WHEN_SUPPORTED client (the SDK default, so possibly a caller's) carry
      // the CRC32 of an empty body and fail for any real upload; a signer with WHEN_REQUIRED signs
      // only what the uploader really sends.
      const signingOptions = { ...resolved, checksums: "when_required" as const };
      const credentials = options.client ? options.client.config.credentials : options.credentials;
      const endpoint = resolved.signingEndpoint ?? resolved.endpoint;
      const config = s3ClientConfig(signingOptions, endpoint, credentials);
      if (options.client) {
        config.region = options.client.config.region;
        config.forcePathStyle = options.client.config.forcePathStyle;
        if (resolved.signingEndpoint === undefined) config.endpoint = options.client.config.endpoint;
      }
      this.#signer = new S3Client(config);
      this.#ownedClients.push(this.#signer);
    } else {
      this.#signer = this.#client;
    }
    this.defaultVisibility = resolved.visibility;
    this.#etagIsMd5 = etagIsMd5(resolved.serverSideEncryption);
    this.#partBuffers = new PartBuffers(resolved.partSize, resolved.maxPartBuffers);
    const post = resolved.postPolicy;
    this.capabilities = Object.freeze({
      rangeRead: true,
      conditionalWrite: resolved.conditionalWrite,
      publicUrl: options.client === undefined && buildPublicUrl(resolved, "x") !== undefined,
      signedUrl: true,
      signedUpload: Object.freeze(post ? (["put", "post"] as const) : (["put"] as const)),
      signedUploadMaxBytes: Object.freeze(post ? (["post"] as const) : ([] as const)),
      visibility: resolved.acl === false ? "bucket" : "object",
      metadata: true,
      checksums: Object.freeze(["md5"] as const),
    });
    this.deleteMany = resolved.batchDelete
      ? (keys, callOptions) => this.#deleteBatches(keys, callOptions)
      : undefined;
  }

  get bucket(): string {
    return this.#options.bucket;
  }

  /** The key prefix ("" or ending in "/"). */
  get prefix(): string {
    return this.#options.prefix;
  }

  get profile(): string {
    return this.#options.profile.name;
  }

  /** The underlying client, for what this driver does not cover. */
  get client(): S3Client {
    return this.#client;
  }

  /** Where the files are, secret-free: the same account as the backend's `describe()`. */
  describe(): BackendDescription {
    return describeS3Options(this.#options);
  }

  /** What the driver points at, without secrets (for logs and `storages check`). */
  toJSON(): Record<string, unknown> {
    const o = this.#options;
    return {
      backend: this.backend,
      profile: o.profile.name,
      bucket: o.bucket,
      prefix: o.prefix,
      region: o.region,
      endpoint: o.endpoint,
    };
  }

  toString(): string {
    const o = this.#options;
    return `S3Driver(s3://${o.bucket}/${o.prefix}${o.endpoint ? ` at ${o.endpoint}` : ""})`;
  }

  [inspect.custom](): string {
    return this.toString();
  }

  #key(name: string): string {
    return toKey(this.#options.prefix, name);
  }

  #fail(error: unknown, context: Omit<ErrorContext, "bucket">): StorageError {
    return toStorageError(error, { ...context, bucket: this.#options.bucket });
  }

  // -------------------------------------------------------------------------------------------
  // ACLs

  /** Whether canned ACLs are sent: per configuration, or (auto) as the bucket's ownership controls say. */
  async #aclsEnabled(signal: AbortSignal): Promise<boolean> {
    const { acl } = this.#options;
    if (acl !== "auto") return acl;
    this.#aclProbe ??= this.#probeAcls(signal).catch((error: unknown) => {
      this.#aclProbe = undefined; // a transient failure must not decide for the driver's lifetime
      throw this.#fail(error, { signal });
    });
    return this.#aclProbe;
  }

  async #probeAcls(signal: AbortSignal): Promise<boolean> {
    try {
      const out = await this.#client.send(
        new GetBucketOwnershipControlsCommand({ Bucket: this.#options.bucket }),
        { abortSignal: signal },
      );
      return !(out.OwnershipControls?.Rules ?? []).some(
        (rule) => rule.ObjectOwnership === "BucketOwnerEnforced",
      );
    } catch (error) {
      const name = errorName(error);
      // No ownership controls: a legacy bucket, where ACLs work.
      if (name === "OwnershipControlsNotFoundError") return true;
      // Not allowed to ask, or a server without the API: try ACLs; a refusal says what to configure.
      if (name === "AccessDenied" || name === "NotImplemented" || name === "MethodNotAllowed") return true;
      throw error;
    }
  }

  /** The canned ACL for a write, or undefined to leave access to the bucket (private by default). */
  #computesChecksums(): Promise<boolean> {
    this.#checksumsComputed ??= Promise.resolve(this.#client.config.requestChecksumCalculation()).then(
      (mode) => mode === "WHEN_SUPPORTED",
    );
    return this.#checksumsComputed;
  }

  async #cannedAcl(visibility: Visibility, signal: AbortSignal): Promise<ObjectCannedACL | undefined> {
    // A new object (an overwrite too) is private unless its own request says otherwise, so only
    // "public" needs a header; leaving "private" out also keeps writes working on ACL-less buckets.
    if (visibility === "private" || this.#options.acl === false) return undefined;
    return (await this.#aclsEnabled(signal)) ? "public-read" : undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Writing

  async write(name: string, body: Readable, options: DriverWriteOptions): Promise<DriverWriteResult> {
    const o = this.#options;
    const { signal } = options;
    const Key = this.#key(name);
    if (options.ifNotExists && !o.conditionalWrite) {
      body.destroy();
      throw new UnsupportedError(
        `The ${o.profile.label} profile cannot create files exclusively (If-None-Match); save with overwrite: true, or set conditionalWrite: true if this server honours it.`,
      );
    }
    const context = { key: name, ifNotExists: options.ifNotExists, signal };
    let params: PutObjectCommandInput;
    try {
      params = {
        Bucket: o.bucket,
        Key,
        ContentType: options.contentType,
        CacheControl: options.cacheControl ?? o.cacheControl,
        ContentDisposition: options.contentDisposition ?? o.contentDisposition,
        ContentEncoding: options.contentEncoding,
        Metadata: userMetadata(options.metadata),
        ACL: await this.#cannedAcl(options.visibility, signal),
        ServerSideEncryption: o.serverSideEncryption,
        SSEKMSKeyId: o.sseKmsKeyId,
        StorageClass: o.storageClass as StorageClass | undefined,
        IfNoneMatch: options.ifNotExists ? "*" : undefined,
      };
    } catch (error) {
      body.destroy();
      throw this.#fail(error, context);
    }

    const { bytes } = options;
    if (bytes !== undefined && bytes.byteLength <= o.partSize) {
      // In memory and small: one request, no part buffering.
      body.destroy();
      try {
        // A client computing checksums (WHEN_SUPPORTED, AWS) sends its CRC32 and signs the
        // payload's SHA-256, as the SDK does. Else (the S3-compatible profiles) the body's MD5 goes
        // as Content-MD5, which the server checks (a changed body is BadDigest, nothing stored) and
        // SigV4 signs, and the payload is UNSIGNED-PAYLOAD — what rclone sends too: the bytes are
        // hashed once (MD5) on each side instead of twice (MD5 and SHA-256), and the save reports
        // that MD5 (a migration checks it against the ETag without hashing the body again).
        const computed = await this.#computesChecksums();
        const digest = computed && this.#etagIsMd5 ? undefined : createHash("md5").update(bytes).digest();
        if (digest !== undefined && !this.#etagIsMd5)
          params.Metadata = { ...params.Metadata, [MD5_METADATA]: digest.toString("base64") };
        const command = new PutObjectCommand({
          ...params,
          Body: bytes,
          ContentLength: bytes.byteLength,
          ...(computed || digest === undefined ? {} : { ContentMD5: digest.toString("base64") }),
        });
        if (!computed)
          // Before SigV4 signs the request: the signer then hashes no body.
          command.middlewareStack.add(
            (next) => (args) => {
              const request = args.request as { headers?: Record<string, string> };
              if (request.headers) request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD";
              return next(args);
            },
            { step: "build", name: "storagesUnsignedPayload" },
          );
        const out = await this.#client.send(command, { abortSignal: signal });
        return {
          key: name,
          size: bytes.byteLength,
          etag: normalizeEtag(out.ETag),
          checksums: digest === undefined ? undefined : { md5: digest.toString("hex") },
        };
      } catch (error) {
        throw this.#fail(error, context);
      }
    }
    return this.#upload(name, bytes ?? body, body, params, options);
  }

  /**
   * Bodies of unknown or large size: bounded memory, and any failure or abort aborts the
   * multipart upload before this returns (multipart-upload.ts).
   */
  async #upload(
    name: string,
    source: Readable | Uint8Array,
    body: Readable,
    params: PutObjectCommandInput,
    options: DriverWriteOptions,
  ): Promise<DriverWriteResult> {
    const o = this.#options;
    const { signal } = options;
    const size = options.size ?? (source instanceof Uint8Array ? source.byteLength : undefined);
    // A known large size needs larger parts to stay under S3's 10,000-part limit.
    const partSize =
      size === undefined ? o.partSize : Math.max(o.partSize, Math.ceil(size / MAX_PARTS / MIB) * MIB);
    // Where the server ignores If-None-Match on completion, look just before completing: the
    // window for a concurrent writer shrinks from the whole upload to one round trip.
    const checkBeforeComplete = options.ifNotExists && !o.conditionalMultipart;
    try {
      const result = await uploadBody(source, {
        client: this.#client,
        params,
        partSize,
        queueSize: o.queueSize,
        signal,
        md5Metadata: MD5_METADATA,
        etagIsMd5: this.#etagIsMd5,
        sizeHint: size,
        buffers: this.#partBuffers,
        beforeComplete: checkBeforeComplete
          ? async () => {
              if (await this.#headExists(params.Key!, signal))
                throw new AlreadyExistsError(`"${name}" already exists.`);
            }
          : undefined,
      });
      return { key: name, size: result.size, etag: result.etag, checksums: { md5: result.md5 } };
    } catch (error) {
      throw this.#fail(error, { key: name, ifNotExists: options.ifNotExists, signal });
    } finally {
      if (!body.destroyed && source !== body) body.destroy();
    }
  }

  // -------------------------------------------------------------------------------------------
  // Reading

  async read(name: string, options: DriverReadOptions): Promise<Readable> {
    const { range, signal } = options;
    try {
      const out = await this.#client.send(
        new GetObjectCommand({
          Bucket: this.#options.bucket,
          Key: this.#key(name),
          Range: range ? `bytes=${range.start}-${range.end ?? ""}` : undefined,
        }),
        { abortSignal: signal },
      );
      // In Node the body is the HTTP response itself: streamed, never buffered.
      return out.Body as Readable;
    } catch (error) {
      throw this.#fail(error, { key: name, signal });
    }
  }

  async #head(name: string, signal: AbortSignal): Promise<HeadObjectCommandOutput> {
    try {
      return await this.#client.send(
        // ChecksumMode: S3's additional checksums too, where the service keeps them.
        new HeadObjectCommand({
          Bucket: this.#options.bucket,
          Key: this.#key(name),
          ChecksumMode: "ENABLED",
        }),
        { abortSignal: signal },
      );
    } catch (error) {
      throw this.#fail(error, { key: name, signal });
    }
  }

  async #headExists(Key: string, signal: AbortSignal): Promise<boolean> {
    try {
      await this.#client.send(new HeadObjectCommand({ Bucket: this.#options.bucket, Key }), {
        abortSignal: signal,
      });
      return true;
    } catch (error) {
      const mapped = this.#fail(error, { signal });
      if (mapped.code === "E_NOT_FOUND") return false;
      throw mapped;
    }
  }

  async stat(name: string, options: DriverCallOptions): Promise<ObjectStat> {
    const head = await this.#head(name, options.signal);
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

  async exists(name: string, options: DriverCallOptions): Promise<boolean> {
    return this.#headExists(this.#key(name), options.signal);
  }

  /** Bucket versioning keeps overwritten and deleted objects; without GetBucketVersioning rights: undefined. */
  async dataProtection(options: DriverCallOptions): Promise<DataProtection | undefined> {
    try {
      const out = await this.#client.send(new GetBucketVersioningCommand({ Bucket: this.#options.bucket }), {
        abortSignal: options.signal,
      });
      const on = out.Status === "Enabled";
      return {
        recoverable: on,
        detail: `bucket versioning ${on ? "on" : (out.Status?.toLowerCase() ?? "off")}`,
      };
    } catch (error) {
      const mapped = this.#fail(error, { signal: options.signal });
      if (mapped.code === "E_PERMISSION_DENIED") return undefined;
      throw mapped;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Listing

  async listPage(prefix: string, options: DriverListOptions): Promise<ListPage> {
    const root = this.#options.prefix;
    let out: ListObjectsV2CommandOutput;
    try {
      out = await this.#client.send(
        new ListObjectsV2Command({
          Bucket: this.#options.bucket,
          Prefix: root + prefix,
          Delimiter: options.recursive ? undefined : "/",
          MaxKeys: options.pageSize,
          ContinuationToken: options.cursor,
        }),
        { abortSignal: options.signal },
      );
    } catch (error) {
      throw this.#fail(error, { key: prefix || undefined, signal: options.signal });
    }
    const entries: ListEntry[] = [];
    for (const common of out.CommonPrefixes ?? []) {
      const name =
        common.Prefix === undefined ? undefined : fromKey(root, common.Prefix)?.replace(/\/+$/, "");
      if (name) entries.push({ type: "directory", name });
    }
    for (const object of out.Contents ?? []) {
      const name = object.Key === undefined ? undefined : fromKey(root, object.Key);
      // "folder/" markers made by consoles and other tools are not files.
      if (!name || name.endsWith("/")) continue;
      // A listing has no metadata: only an MD5 ETag gives a checksum here (a multipart upload's
      // recorded MD5 needs stat). Under KMS (configured on this storage) the ETag is not one.
      const md5 = this.#etagIsMd5 ? md5FromEtag(object.ETag) : undefined;
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

  // -------------------------------------------------------------------------------------------
  // Copy and delete

  async copy(from: string, to: string, options: DriverCopyOptions): Promise<void> {
    const o = this.#options;
    const { signal } = options;
    const target = this.#key(to);
    // CopyObject has no create-exclusive form that every server honours: check first (racy; documented).
    if (!options.overwrite && (await this.#headExists(target, signal))) {
      throw new AlreadyExistsError(`"${to}" already exists.`);
    }
    const ACL = await this.#copyAcl(from, signal);
    const common = {
      Bucket: o.bucket,
      Key: target,
      ACL,
      ServerSideEncryption: o.serverSideEncryption,
      SSEKMSKeyId: o.sseKmsKeyId,
      StorageClass: o.storageClass as StorageClass | undefined,
    };
    try {
      await this.#client.send(
        new CopyObjectCommand({
          ...common,
          CopySource: copySource(o.bucket, this.#key(from)),
          MetadataDirective: "COPY",
        }),
        {
          abortSignal: signal,
        },
      );
    } catch (error) {
      if (!isCopySourceTooLarge(error)) throw this.#fail(error, { key: from, signal });
      // Above 5 GiB S3 copies only part by part.
      const head = await this.#head(from, signal);
      try {
        await multipartCopy(this.#client, {
          ...common,
          sourceBucket: o.bucket,
          sourceKey: this.#key(from),
          head,
          partSize: Math.max(MAX_SINGLE_COPY_SIZE / 10, Math.ceil((head.ContentLength ?? 0) / MAX_PARTS)),
          concurrency: o.queueSize,
          signal,
        });
      } catch (copyError) {
        throw this.#fail(copyError, { key: to, signal });
      }
    }
  }

  /**
   * CopyObject resets the ACL to private; a copy keeps its source's visibility, so a public file
   * stays reachable after a move and a private one never becomes public.
   */
  async #copyAcl(from: string, signal: AbortSignal): Promise<ObjectCannedACL | undefined> {
    if (this.#options.acl === false) return undefined;
    if (!(await this.#aclsEnabled(signal))) return undefined;
    return (await this.getVisibility(from, { signal })) === "public" ? "public-read" : undefined;
  }

  async delete(name: string, options: DriverCallOptions): Promise<void> {
    try {
      await this.#client.send(
        new DeleteObjectCommand({ Bucket: this.#options.bucket, Key: this.#key(name) }),
        { abortSignal: options.signal },
      );
    } catch (error) {
      const mapped = this.#fail(error, { key: name, signal: options.signal });
      if (mapped.code !== "E_NOT_FOUND") throw mapped;
    }
  }

  async #deleteBatches(names: string[], options: DriverCallOptions): Promise<DriverDeleteManyResult> {
    const failures: DriverDeleteManyResult["failures"] = [];
    const byKey = new Map<string, string>();
    for (let start = 0; start < names.length; start += DELETE_BATCH_SIZE) {
      const batch = names.slice(start, start + DELETE_BATCH_SIZE);
      byKey.clear();
      for (const name of batch) byKey.set(this.#key(name), name);
      try {
        const out = await this.#client.send(
          new DeleteObjectsCommand({
            Bucket: this.#options.bucket,
            Delete: { Objects: [...byKey.keys()].map((Key) => ({ Key })), Quiet: true },
          }),
          { abortSignal: options.signal },
        );
        for (const failed of out.Errors ?? []) {
          if (failed.Code === "NoSuchKey") continue;
          const name = (failed.Key !== undefined && byKey.get(failed.Key)) || failed.Key || "";
          failures.push({
            key: name,
            error: this.#fail({ name: failed.Code ?? "Error", message: failed.Message }, { key: name }),
          });
        }
      } catch (error) {
        const mapped = this.#fail(error, { signal: options.signal });
        if (mapped.code === "E_ABORTED" || mapped.code === "E_TIMEOUT") throw mapped;
        for (const name of batch) failures.push({ key: name, error: mapped });
      }
    }
    return { failures };
  }

  // -------------------------------------------------------------------------------------------
  // URLs

  publicUrl(name: string): string {
    const url = buildPublicUrl(this.#options, this.#key(name));
    if (url === undefined) {
      throw new UnsupportedError(
        `The ${this.#options.profile.label} profile has no public URL for objects${this.#options.profile.name === "r2" ? " (R2 serves public buckets from r2.dev or a custom domain)" : ""}: configure publicUrl.`,
      );
    }
    return url;
  }

  async signedUrl(name: string, options: DriverSignedUrlOptions): Promise<string> {
    const command = new GetObjectCommand({
      Bucket: this.#options.bucket,
      Key: this.#key(name),
      ResponseContentDisposition: options.responseContentDisposition,
      ResponseContentType: options.responseContentType,
    });
    try {
      return await getSignedUrl(this.#signer, command, { expiresIn: options.expiresIn });
    } catch (error) {
      throw this.#fail(error, { key: name, signal: options.signal });
    }
  }

  async signedUpload(name: string, options: DriverSignedUploadOptions): Promise<Omit<SignedUpload, "name">> {
    const o = this.#options;
    const Key = this.#key(name);
    const expiresAt = new Date(Date.now() + options.expiresIn * 1000);
    const cacheControl = options.cacheControl ?? o.cacheControl;
    try {
      const ACL = await this.#cannedAcl(options.visibility, options.signal);
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
        const post = await createPresignedPost(this.#signer, {
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
      const url = await getSignedUrl(this.#signer, command, {
        expiresIn: options.expiresIn,
        signableHeaders: new Set(Object.keys(headers)),
      });
      return { method: "PUT", url, headers, fields: {}, expiresAt, maxBytes: undefined };
    } catch (error) {
      throw this.#fail(error, { key: name, signal: options.signal });
    }
  }

  // -------------------------------------------------------------------------------------------
  // Visibility

  async setVisibility(name: string, visibility: Visibility, options: DriverCallOptions): Promise<void> {
    if (!(await this.#aclsEnabled(options.signal))) {
      throw new UnsupportedError(
        `The bucket "${this.#options.bucket}" has ACLs disabled: visibility is the bucket's (policy), not per file. Use a separate storage for ${visibility} files.`,
      );
    }
    try {
      await this.#client.send(
        new PutObjectAclCommand({
          Bucket: this.#options.bucket,
          Key: this.#key(name),
          ACL: visibility === "public" ? "public-read" : "private",
        }),
        { abortSignal: options.signal },
      );
    } catch (error) {
      throw this.#fail(error, { key: name, signal: options.signal });
    }
  }

  async getVisibility(name: string, options: DriverCallOptions): Promise<Visibility> {
    if (!(await this.#aclsEnabled(options.signal))) {
      await this.#head(name, options.signal);
      return this.defaultVisibility;
    }
    try {
      const out = await this.#client.send(
        new GetObjectAclCommand({ Bucket: this.#options.bucket, Key: this.#key(name) }),
        {
          abortSignal: options.signal,
        },
      );
      const readable = (out.Grants ?? []).some(
        (grant) =>
          grant.Grantee?.URI === ALL_USERS &&
          (grant.Permission === "READ" || grant.Permission === "FULL_CONTROL"),
      );
      return readable ? "public" : "private";
    } catch (error) {
      throw this.#fail(error, { key: name, signal: options.signal });
    }
  }

  async close(): Promise<void> {
    for (const client of this.#ownedClients) client.destroy();
  }
}
