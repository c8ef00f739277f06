/**
 * The S3 driver: maps the storages Driver contract onto @aws-sdk/client-s3, for AWS and the
 * S3-compatible services (profiles.ts says how each one differs).
 *
 * The driver stays thin: each call resolves the key, sends one command (or hands over to a helper)
 * and maps the failure. The helpers live beside it: clients.ts (the client and the signer),
 * acl.ts (whether ACLs are sent, and which), object-info.ts (checksums, metadata and stat from a
 * HEAD), single-put.ts and multipart-upload.ts (writes), listing.ts (a listing page),
 * server-copy.ts and multipart-copy.ts (copies), batch-delete.ts (DeleteObjects), presign.ts (signed URLs
 * and uploads), errors.ts (every SDK error to a StorageError).
 */

import type { Readable } from "node:stream";
import { inspect } from "node:util";
import {
  DeleteObjectCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  type ObjectCannedACL,
  type PutObjectCommandInput,
  type S3Client,
  type StorageClass,
} from "@aws-sdk/client-s3";
import {
  AlreadyExistsError,
  type BackendDescription,
  type Capabilities,
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
  type ListPage,
  type ObjectStat,
  type SignedUpload,
  type StorageError,
  UnsupportedError,
  type Visibility,
} from "@storages/core";
import { BucketAcls } from "./acl.js";
import { deleteBatches } from "./batch-delete.js";
import { createClients } from "./clients.js";
import { type ErrorContext, toStorageError } from "./errors.js";
import { listObjectsPage } from "./listing.js";
import { uploadBody } from "./multipart-upload.js";
import { etagIsMd5, MD5_METADATA, statFromHead, userMetadata } from "./object-info.js";
import {
  describeS3Options,
  MAX_PARTS,
  type ResolvedS3Options,
  resolveOptions,
  type S3DriverOptions,
} from "./options.js";
import { PartBuffers } from "./parts.js";
import { signDownloadUrl, signUpload } from "./presign.js";
import { copyInBucket } from "./server-copy.js";
import { putInOneRequest } from "./single-put.js";
import { buildPublicUrl, toKey } from "./urls.js";

// Exported from this module as before the split (index.ts re-exports it).
export { DELETE_BATCH_SIZE } from "./batch-delete.js";

const MIB = 1024 * 1024;

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
  readonly #ownedClients: S3Client[];
  readonly #acls: BucketAcls;
  /** Whether the client computes request checksums (WHEN_SUPPORTED): asked of its config once. */
  #checksumsComputed: Promise<boolean> | undefined;
  /** Whether objects this driver writes in one request get their MD5 as ETag (no KMS). */
  readonly #etagIsMd5: boolean;
  /** Part buffers its streamed uploads share (maxPartBuffers at once, reused). */
  readonly #partBuffers: PartBuffers;

  constructor(options: S3DriverOptions) {
    const resolved = resolveOptions(options);
    this.#options = resolved;
    const clients = createClients(options, resolved);
    this.#client = clients.client;
    this.#signer = clients.signer;
    this.#ownedClients = clients.owned;
    this.#acls = new BucketAcls(this.#client, resolved, (error, context) => this.#fail(error, context));
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

  /** Whether the client computes request checksums (WHEN_SUPPORTED): asked of its config once. */
  #computesChecksums(): Promise<boolean> {
    this.#checksumsComputed ??= Promise.resolve(this.#client.config.requestChecksumCalculation()).then(
      (mode) => mode === "WHEN_SUPPORTED",
    );
    return this.#checksumsComputed;
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
        ACL: await this.#acls.cannedAcl(options.visibility, signal),
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
        const computed = await this.#computesChecksums();
        return await putInOneRequest(name, {
          client: this.#client,
          params,
          bytes,
          computesChecksums: computed,
          etagIsMd5: this.#etagIsMd5,
          signal,
        });
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
    return statFromHead(name, head);
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
    return listObjectsPage(
      {
        client: this.#client,
        bucket: this.#options.bucket,
        root: this.#options.prefix,
        etagIsMd5: this.#etagIsMd5,
        fail: (error, context) => this.#fail(error, context),
      },
      prefix,
      options,
    );
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
    await copyInBucket({
      client: this.#client,
      options: o,
      from,
      to,
      sourceKey: this.#key(from),
      targetKey: target,
      ACL,
      signal,
      head: () => this.#head(from, signal),
      fail: (error, context) => this.#fail(error, context),
    });
  }

  /**
   * CopyObject resets the ACL to private; a copy keeps its source's visibility, so a public file
   * stays reachable after a move and a private one never becomes public.
   */
  async #copyAcl(from: string, signal: AbortSignal): Promise<ObjectCannedACL | undefined> {
    if (this.#options.acl === false) return undefined;
    if (!(await this.#acls.enabled(signal))) return undefined;
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

  #deleteBatches(names: string[], options: DriverCallOptions): Promise<DriverDeleteManyResult> {
    return deleteBatches(
      {
        client: this.#client,
        bucket: this.#options.bucket,
        key: (name) => this.#key(name),
        fail: (error, context) => this.#fail(error, context),
      },
      names,
      options,
    );
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
    try {
      return await signDownloadUrl(this.#signer, this.#options.bucket, this.#key(name), options);
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
      const ACL = await this.#acls.cannedAcl(options.visibility, options.signal);
      return await signUpload(this.#signer, o, { Key, ACL, cacheControl, expiresAt }, options);
    } catch (error) {
      throw this.#fail(error, { key: name, signal: options.signal });
    }
  }

  // -------------------------------------------------------------------------------------------
  // Visibility

  async setVisibility(name: string, visibility: Visibility, options: DriverCallOptions): Promise<void> {
    if (!(await this.#acls.enabled(options.signal))) {
      throw new UnsupportedError(
        `The bucket "${this.#options.bucket}" has ACLs disabled: visibility is the bucket's (policy), not per file. Use a separate storage for ${visibility} files.`,
      );
    }
    await this.#acls.put(name, this.#key(name), visibility, options.signal);
  }

  async getVisibility(name: string, options: DriverCallOptions): Promise<Visibility> {
    if (!(await this.#acls.enabled(options.signal))) {
      await this.#head(name, options.signal);
      return this.defaultVisibility;
    }
    return (await this.#acls.isPublic(name, this.#key(name), options.signal)) ? "public" : "private";
  }

  async close(): Promise<void> {
    for (const client of this.#ownedClients) client.destroy();
  }
}
