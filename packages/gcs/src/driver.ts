/**
 * Google Cloud Storage driver on @google-cloud/storage.
 *
 * Thin on purpose: the Storage facade validates names, converts bodies, merges timeouts into the
 * signal and fills gaps (move = copy + delete). This file maps the primitives onto the JSON API,
 * chooses the upload protocol, applies the bucket's visibility model and builds signed URLs.
 */
import { EventEmitter } from "node:events";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { inspect } from "node:util";
import type { Bucket, File, FileMetadata, Storage as GcsClient } from "@google-cloud/storage";
import {
  type BackendDescription,
  BackendError,
  base64ToHex,
  type Capabilities,
  type Checksums,
  ConfigError,
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
  InvalidArgumentError,
  type ListEntry,
  type ListPage,
  normalizeEtag,
  type ObjectStat,
  PermissionDeniedError,
  RangeNotSatisfiableError,
  type SignedUpload,
  type StorageError,
  settleOnAbort,
  sliceStream,
  UnsupportedError,
  type Visibility,
} from "@storages/core";
import { CallRequests, cancellable } from "./cancel.js";
import { httpStatus, toStorageError } from "./errors.js";
import {
  createClients,
  describeGcsOptions,
  type GcsDriverOptions,
  type ResolvedOptions,
  resolveOptions,
} from "./options.js";

/** The longest a v4 signature may live. */
const MAX_EXPIRES_IN = 7 * 24 * 3600;
const DEFAULT_PUBLIC_ENDPOINT = "https://storage.googleapis.com";

type PredefinedAcl = "publicRead" | "projectPrivate";

/** The ACL a fine-grained bucket gets for each visibility; uniform buckets get none. */
const PREDEFINED_ACL: Record<Visibility, PredefinedAcl> = { public: "publicRead", private: "projectPrivate" };
/** The same, as the XML API header a signed upload must carry. */
const XML_ACL: Record<Visibility, string> = { public: "public-read", private: "project-private" };

/** Marks cursors that carry the last directory returned besides GCS's page token. */
const CURSOR_TAG = "gcs1.";

function encodeCursor(token: string, lastDirectory: string | undefined): string {
  if (lastDirectory === undefined) return token;
  return CURSOR_TAG + Buffer.from(JSON.stringify([token, lastDirectory])).toString("base64url");
}

function decodeCursor(cursor: string | undefined): { token?: string; lastDirectory?: string } {
  if (cursor === undefined) return {};
  if (!cursor.startsWith(CURSOR_TAG)) return { token: cursor };
  try {
    const [token, lastDirectory] = JSON.parse(
      Buffer.from(cursor.slice(CURSOR_TAG.length), "base64url").toString("utf8"),
    );
    if (typeof token === "string" && typeof lastDirectory === "string") return { token, lastDirectory };
  } catch {
    // fall through
  }
  throw new InvalidArgumentError(
    "This listing cursor is damaged: pass back the cursor of the previous page unchanged.",
  );
}

/**
 * GCS computes both for every upload, resumable ones included (emulator checked); a composite
 * object has only crc32c. Stat and listings report the same fields.
 */
function checksumsOf(m: FileMetadata): Checksums {
  const checksums: Checksums = {};
  if (m.md5Hash) checksums.md5 = base64ToHex(m.md5Hash);
  if (m.crc32c) checksums.crc32c = base64ToHex(m.crc32c);
  return checksums;
}

/** Path-style object URL: every segment percent-encoded, slashes kept. */
function objectPath(bucket: string, object: string): string {
  return `/${bucket}/${object.split("/").map(encodeURIComponent).join("/")}`;
}

/**
 * The SDK's download `response` is the fetch body stream itself (teeny-request 11 hands node-fetch
 * 3's body over as is), and three pipelines meet on it: node-fetch's own, teeny-request's and the
 * SDK's. Their listeners legitimately pass Node's default limit of 10 whenever the body is still
 * arriving, so every large download warned "MaxListenersExceededWarning" although nothing leaks:
 * the stream lives for one request (googleapis/google-cloud-node#9185). Room for those pipelines
 * (11 listeners per event) with a margin, on that one stream: no limit is raised process-wide.
 */
const SDK_BODY_LISTENERS = 16;
function allowSdkPipelines(response: unknown): void {
  if (response instanceof EventEmitter && response.getMaxListeners() < SDK_BODY_LISTENERS) {
    response.setMaxListeners(SDK_BODY_LISTENERS);
  }
}

export class GcsDriver implements Driver {
  readonly backend = "gcs";
  readonly capabilities: Capabilities;
  /** The SDK client: for what this driver does not cover (bucket admin, IAM, notifications). */
  readonly client: GcsClient;
  readonly bucket: Bucket;
  private readonly settings: ResolvedOptions;
  /** The bucket chunked uploads stream through: its client resumes their sessions (options.ts). */
  readonly #chunkedUploads: Bucket;

  constructor(options: GcsDriverOptions) {
    this.settings = resolveOptions(options);
    const clients = createClients(options, this.settings);
    this.client = clients.client;
    this.bucket = this.client.bucket(this.settings.bucket);
    this.#chunkedUploads = clients.chunkedUploads.bucket(this.settings.bucket);
    this.capabilities = Object.freeze({
      rangeRead: true,
      conditionalWrite: true,
      publicUrl: true,
      signedUrl: true,
      signedUpload: ["put", "post"],
      // POST: the policy's content-length-range; PUT: a signed x-goog-content-length-range header.
      signedUploadMaxBytes: ["post", "put"],
      visibility: this.settings.uniformAccess ? "bucket" : "object",
      metadata: true,
      checksums: ["md5", "crc32c"],
    } satisfies Capabilities);
  }

  /** Where the files are, secret-free: the same account as the backend's `describe()`. */
  describe(): BackendDescription {
    return describeGcsOptions(this.settings);
  }

  /** What the driver points at, without secrets (the client holds the credentials). */
  toJSON(): Record<string, unknown> {
    return { backend: this.backend, ...this.describe() };
  }

  toString(): string {
    return `GcsDriver(gs://${this.settings.bucket}/${this.settings.prefix}${this.settings.endpoint ? ` at ${this.settings.endpoint}` : ""})`;
  }

  [inspect.custom](): string {
    return this.toString();
  }

  /**
   * An SDK call under the call's signal: it settles when the signal fires, and the HTTP requests
   * it started die with it (cancel.ts: the SDK itself cannot cancel them).
   */
  #settle<T>(signal: AbortSignal, work: () => Promise<T>): Promise<T> {
    return settleOnAbort(cancellable(signal, work), signal);
  }

  /** The bucket-relative object name of a storage key. */
  private objectName(key: string): string {
    return this.settings.prefix + key;
  }

  /** What the stream `read` returned failed with later (a reset mid-body, a CRC32C mismatch): the facade asks. */
  streamError(error: unknown, key: string): StorageError {
    return this.fail(error, key);
  }

  private file(key: string): File {
    return this.bucket.file(this.objectName(key));
  }

  private fail(
    error: unknown,
    key: string | undefined,
    signal?: AbortSignal,
    createExclusive = false,
  ): StorageError {
    return toStorageError(error, {
      bucket: this.settings.bucket,
      object: key === undefined ? undefined : this.objectName(key),
      createExclusive,
      signal,
    });
  }

  private predefinedAcl(visibility: Visibility): PredefinedAcl | undefined {
    return this.settings.uniformAccess ? undefined : PREDEFINED_ACL[visibility];
  }

  // -------------------------------------------------------------------------------------------
  // Writing

  async write(key: string, body: Readable, options: DriverWriteOptions): Promise<DriverWriteResult> {
    const metadata: FileMetadata = {
      contentType: options.contentType,
      ...(options.cacheControl !== undefined && { cacheControl: options.cacheControl }),
      ...(options.contentDisposition !== undefined && { contentDisposition: options.contentDisposition }),
      ...(options.contentEncoding !== undefined && { contentEncoding: options.contentEncoding }),
      ...(options.metadata !== undefined && { metadata: { ...options.metadata } }),
    };
    const predefinedAcl = this.predefinedAcl(options.visibility);
    const preconditionOpts = options.ifNotExists ? { ifGenerationMatch: 0 } : undefined;
    const { bytes } = options;
    if (bytes !== undefined && bytes.byteLength <= this.settings.singleRequestThreshold) {
      // In memory and small: one multipart request. A 412 here loses nothing (the facade resends the bytes).
      const file = this.file(key);
      try {
        await this.#settle(options.signal, () =>
          file.save(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), {
            resumable: false,
            metadata,
            predefinedAcl,
            preconditionOpts,
          }),
        );
      } catch (error) {
        throw this.fail(error, key, options.signal, options.ifNotExists);
      }
      return this.writeResult(key, file, bytes.byteLength);
    }
    return this.resumableWrite(key, body, options, { metadata, predefinedAcl, preconditionOpts });
  }

  /**
   * Resumable upload, session first: GCS checks `ifGenerationMatch: 0` when the session is created,
   * so a taken name is found before a single byte of the (maybe unrepeatable) stream is read, and
   * the next candidate name is tried with the stream intact.
   */
  private async resumableWrite(
    key: string,
    body: Readable,
    options: DriverWriteOptions,
    upload: {
      metadata: FileMetadata;
      predefinedAcl: PredefinedAcl | undefined;
      preconditionOpts: { ifGenerationMatch: number } | undefined;
    },
  ): Promise<DriverWriteResult> {
    const { signal } = options;
    let candidate = key;
    let uri: string | undefined;
    while (uri === undefined) {
      try {
        [uri] = await this.#settle(signal, () => this.file(candidate).createResumableUpload(upload));
      } catch (error) {
        const mapped = this.fail(error, candidate, signal, options.ifNotExists);
        if (mapped.code !== "E_ALREADY_EXISTS" || !options.nextKey) throw mapped;
        // The save's own name budget: nextKey() throws AlreadyExistsError once it is spent.
        candidate = options.nextKey();
      }
    }
    const chunkSize = this.settings.chunkSize;
    const file = chunkSize > 0 ? this.#chunkedUploads.file(this.objectName(candidate)) : this.file(candidate);
    const stream = file.createWriteStream({
      uri,
      // Known start: without it the SDK first asks the server how far the session got.
      offset: 0,
      resumable: true,
      metadata: upload.metadata,
      // The session's own precondition: without it the SDK takes the upload for one that must not
      // be repeated and never resumes it after a failed chunk.
      ...(upload.preconditionOpts !== undefined && { preconditionOpts: upload.preconditionOpts }),
      ...(chunkSize > 0 && { chunkSize }),
    });
    const onAbort = () => {
      // Destroy, do not wait: a body stalled inside its own await would hold pipeline() until it
      // resumes. The session is abandoned unfinalised, so no object appears.
      stream.destroy(signal.reason);
      body.destroy(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      await this.#settle(signal, () => pipeline(body, stream));
    } catch (error) {
      // The session is never finalised, so nothing partial becomes visible; GCS drops it after a week.
      throw this.fail(error, candidate, signal, options.ifNotExists);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
    return this.writeResult(candidate, file, options.size);
  }

  private writeResult(key: string, file: File, sent: number | undefined): DriverWriteResult {
    const { etag } = file.metadata;
    // The JSON API's etag comes unquoted: one form on every backend (normalizeEtag).
    return { key, size: this.sizeOf(file.metadata, key, sent), etag: normalizeEtag(etag) };
  }

  /**
   * An object's size from its metadata. A server that leaves it out (or sends garbage) is not
   * believed to have an empty object: the size this driver sent, when it knows it, else an error.
   */
  private sizeOf(metadata: FileMetadata, key: string, known?: number): number {
    const size = Number(metadata.size);
    if (metadata.size !== undefined && metadata.size !== "" && Number.isSafeInteger(size) && size >= 0)
      return size;
    if (known !== undefined) return known;
    throw new BackendError(
      `GCS returned the metadata of gs://${this.settings.bucket}/${this.objectName(key)} without a valid size (${JSON.stringify(metadata.size)}).`,
      { retryable: true, path: key },
    );
  }

  // -------------------------------------------------------------------------------------------
  // Reading

  async read(key: string, options: DriverReadOptions): Promise<Readable> {
    const { range, signal } = options;
    const stream = this.file(key).createReadStream({
      // The stored bytes: a gzip-encoded object is returned gzipped, as every other backend does.
      decompress: false,
      ...(range !== undefined && { start: range.start, ...(range.end !== undefined && { end: range.end }) }),
    });
    let status: number | undefined;
    let headers: Record<string, string | string[] | undefined> = {};
    let settle: ((error?: unknown) => void) | undefined;
    // Kept for the stream's whole life: before the response it fails the call; after it, an error
    // that comes before the caller attaches (a CRC32C mismatch on a small body) must not crash the
    // process. It stays recorded on the stream (`errored`), so pipes and iterators still see it.
    stream.on("error", (error) => settle?.(error));
    // The request dies with the call's signal (caller's abort, idle timeout) or the stream's end.
    const requests = new CallRequests(signal);
    stream.once("close", () => requests.cancel());
    try {
      await settleOnAbort(
        new Promise<void>((resolve, reject) => {
          settle = (error) => {
            settle = undefined;
            if (error === undefined) resolve();
            else reject(error);
          };
          stream.on("response", (response: { statusCode?: number; status?: number; headers?: unknown }) => {
            allowSdkPipelines(response);
            status = response.statusCode ?? response.status;
            // Error responses become an 'error' from the SDK, with the body as message.
            if (status !== undefined && status < 400) {
              if (range !== undefined && status === 200) headers = normalizeHeaders(response.headers);
              settle?.();
            }
          });
          // The SDK sends the request on the first read.
          requests.run(() => stream.read(0));
        }),
        signal,
      );
    } catch (error) {
      settle = undefined;
      // The SDK pipes the response into this stream when it arrives; destroyed before that, its
      // pipeline throws where nobody can catch it (ERR_STREAM_UNABLE_TO_PIPE crashes the process).
      // So a stream abandoned before its response is destroyed just after the response is wired.
      if (status === undefined && !stream.destroyed)
        stream.once("response", () => setImmediate(() => stream.destroy()));
      else stream.destroy();
      throw this.fail(error, key, signal);
    }
    if (range === undefined || status !== 200) return stream;
    // The whole object came back (a transcoded gzip object, or a server ignoring Range).
    const length = Number(headers["content-length"] ?? Number.NaN);
    if (Number.isFinite(length) && range.start >= length) {
      stream.destroy();
      throw new RangeNotSatisfiableError();
    }
    return sliceStream(stream, range);
  }

  async stat(key: string, options: DriverCallOptions): Promise<ObjectStat> {
    let metadata: FileMetadata;
    try {
      [metadata] = await this.#settle(options.signal, () => this.file(key).getMetadata());
    } catch (error) {
      throw this.fail(error, key, options.signal);
    }
    return this.toStat(key, metadata);
  }

  private toStat(key: string, m: FileMetadata): ObjectStat {
    const custom: Record<string, string> = {};
    for (const [name, value] of Object.entries(m.metadata ?? {})) {
      if (value !== null && value !== undefined) custom[name] = String(value);
    }
    return {
      name: key,
      size: this.sizeOf(m, key),
      lastModified: new Date(m.updated ?? m.timeCreated ?? 0),
      etag: normalizeEtag(m.etag),
      contentType: m.contentType,
      cacheControl: m.cacheControl,
      contentDisposition: m.contentDisposition,
      contentEncoding: m.contentEncoding,
      metadata: custom,
      checksums: checksumsOf(m),
    };
  }

  async exists(key: string, options: DriverCallOptions): Promise<boolean> {
    try {
      const [exists] = await this.#settle(options.signal, () => this.file(key).exists());
      return exists;
    } catch (error) {
      throw this.fail(error, key, options.signal);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Listing

  async listPage(prefix: string, options: DriverListOptions): Promise<ListPage> {
    const root = this.settings.prefix;
    const { token, lastDirectory } = decodeCursor(options.cursor);
    let files: File[];
    let next: { pageToken?: string } | null | undefined;
    let response: { prefixes?: string[] } | undefined;
    try {
      [files, next, response] = (await this.#settle(options.signal, () =>
        this.bucket.getFiles({
          prefix: root + prefix,
          ...(options.recursive ? {} : { delimiter: "/" }),
          maxResults: options.pageSize,
          ...(token !== undefined && { pageToken: token }),
          autoPaginate: false,
        }),
      )) as unknown as [File[], { pageToken?: string } | null, { prefixes?: string[] }];
    } catch (error) {
      throw this.fail(error, prefix || undefined, options.signal);
    }
    const entries: ListEntry[] = [];
    for (const file of files) {
      // "dir/" placeholder objects (made by the console or gsutil) are folders, not files.
      if (file.name.endsWith("/")) continue;
      const name = file.name.slice(root.length);
      entries.push({
        type: "file",
        name,
        size: this.sizeOf(file.metadata, name),
        lastModified: new Date(file.metadata.updated ?? file.metadata.timeCreated ?? 0),
        etag: normalizeEtag(file.metadata.etag),
        checksums: checksumsOf(file.metadata),
      });
    }
    // GCS lists in lexicographic order, so each directory comes once and after those of earlier
    // pages. Some servers (the Cloud Storage emulator) repeat every directory on every page:
    // skipping those at or before the last one already returned removes the repeats and is a no-op
    // on GCS itself.
    let greatest = lastDirectory;
    for (const dir of response?.prefixes ?? []) {
      const name = dir.slice(root.length).replace(/\/+$/, "");
      if (lastDirectory !== undefined && name <= lastDirectory) continue;
      entries.push({ type: "directory", name });
      if (greatest === undefined || name > greatest) greatest = name;
    }
    if (!options.recursive) entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const nextToken = next?.pageToken ?? undefined;
    return { entries, cursor: nextToken === undefined ? undefined : encodeCursor(nextToken, greatest) };
  }

  // -------------------------------------------------------------------------------------------
  // Copy and delete

  async copy(from: string, to: string, options: DriverCopyOptions): Promise<void> {
    const target = this.file(to);
    try {
      // Rewrite keeps contentType, cacheControl and metadata; it takes the ACL from the argument or
      // the bucket default. The source's own ACL is not read (an extra call and OWNER rights), so the
      // copy is made private: a copy never widens access.
      await this.#settle(options.signal, () =>
        this.file(from).copy(target, {
          ...(!this.settings.uniformAccess && { predefinedAcl: PREDEFINED_ACL.private }),
          ...(!options.overwrite && { preconditionOpts: { ifGenerationMatch: 0 } }),
        }),
      );
    } catch (error) {
      const status = httpStatus(error);
      // A 404 names the source (the destination of a rewrite is never "not found").
      throw this.fail(error, status === 412 ? to : from, options.signal, !options.overwrite);
    }
  }

  async delete(key: string, options: DriverCallOptions): Promise<void> {
    try {
      await this.#settle(options.signal, () => this.file(key).delete({ ignoreNotFound: true }));
    } catch (error) {
      throw this.fail(error, key, options.signal);
    }
  }

  /** GCS has no batch delete in this SDK: parallel deletes, at most `deleteConcurrency` at a time. */
  async deleteMany(keys: string[], options: DriverCallOptions): Promise<DriverDeleteManyResult> {
    const failures: DriverDeleteManyResult["failures"] = [];
    let nextIndex = 0;
    const worker = async () => {
      while (nextIndex < keys.length) {
        const key = keys[nextIndex++]!;
        try {
          await this.delete(key, options);
        } catch (error) {
          failures.push({ key, error: error as StorageError });
        }
      }
    };
    const workers = Math.min(this.settings.deleteConcurrency, keys.length);
    await Promise.all(Array.from({ length: workers }, worker));
    return { failures };
  }

  // -------------------------------------------------------------------------------------------
  // URLs and visibility

  /** The origin URLs point at: the emulator or private endpoint when configured, else Google's. */
  private get urlEndpoint(): string {
    return (
      this.settings.endpoint ??
      (this.client.customEndpoint ? this.client.apiEndpoint : DEFAULT_PUBLIC_ENDPOINT)
    );
  }

  publicUrl(key: string): string {
    return this.urlEndpoint + objectPath(this.settings.bucket, this.objectName(key));
  }

  private checkCanSign(): void {
    if (this.settings.cannotSign !== undefined) throw new ConfigError(this.settings.cannotSign);
  }

  private checkExpiresIn(expiresIn: number): void {
    if (!Number.isSafeInteger(expiresIn) || expiresIn < 1 || expiresIn > MAX_EXPIRES_IN) {
      throw new InvalidArgumentError(
        `GCS v4 signatures last from 1 second to 7 days (${MAX_EXPIRES_IN} s); got expiresIn ${expiresIn}.`,
      );
    }
  }

  async signedUrl(key: string, options: DriverSignedUrlOptions): Promise<string> {
    this.checkCanSign();
    this.checkExpiresIn(options.expiresIn);
    try {
      const [url] = await this.#settle(options.signal, () =>
        this.file(key).getSignedUrl({
          version: "v4",
          action: "read",
          expires: Date.now() + options.expiresIn * 1000,
          ...(options.responseContentDisposition !== undefined && {
            responseDisposition: options.responseContentDisposition,
          }),
          ...(options.responseContentType !== undefined && { responseType: options.responseContentType }),
          ...(this.settings.endpoint !== undefined && { host: this.settings.endpoint }),
        }),
      );
      return url;
    } catch (error) {
      throw this.fail(error, key, options.signal);
    }
  }

  async signedUpload(key: string, options: DriverSignedUploadOptions): Promise<Omit<SignedUpload, "name">> {
    this.checkCanSign();
    this.checkExpiresIn(options.expiresIn);
    const expiresAt = new Date(Date.now() + options.expiresIn * 1000);
    try {
      if (options.method === "post") return await this.signedPost(key, options, expiresAt);
      return await this.signedPut(key, options, expiresAt);
    } catch (error) {
      throw this.fail(error, key, options.signal);
    }
  }

  /** Headers the uploader must send, all of them bound into the signature. */
  private uploadHeaders(options: DriverSignedUploadOptions): Record<string, string> {
    const headers: Record<string, string> = {};
    if (!this.settings.uniformAccess) headers["x-goog-acl"] = XML_ACL[options.visibility];
    if (options.cacheControl !== undefined) headers["cache-control"] = options.cacheControl;
    if (options.maxBytes !== undefined) headers["x-goog-content-length-range"] = `0,${options.maxBytes}`;
    return headers;
  }

  private async signedPut(
    key: string,
    options: DriverSignedUploadOptions,
    expiresAt: Date,
  ): Promise<Omit<SignedUpload, "name">> {
    const extensionHeaders = this.uploadHeaders(options);
    const [url] = await this.#settle(options.signal, () =>
      this.file(key).getSignedUrl({
        version: "v4",
        action: "write",
        expires: expiresAt,
        ...(options.contentType !== undefined && { contentType: options.contentType }),
        extensionHeaders,
        ...(this.settings.endpoint !== undefined && { host: this.settings.endpoint }),
      }),
    );
    const headers = { ...extensionHeaders };
    if (options.contentType !== undefined) headers["content-type"] = options.contentType;
    return { method: "PUT", url, headers, fields: {}, expiresAt, maxBytes: options.maxBytes };
  }

  private async signedPost(
    key: string,
    options: DriverSignedUploadOptions,
    expiresAt: Date,
  ): Promise<Omit<SignedUpload, "name">> {
    const fields: Record<string, string> = {};
    const conditions: Array<[string, ...(string | number)[]]> = [];
    if (!this.settings.uniformAccess) fields.acl = XML_ACL[options.visibility];
    if (options.contentType !== undefined) fields["Content-Type"] = options.contentType;
    if (options.cacheControl !== undefined) fields["Cache-Control"] = options.cacheControl;
    if (options.maxBytes !== undefined) conditions.push(["content-length-range", 0, options.maxBytes]);
    // Every field is also a policy condition (the SDK adds them): the form cannot change them.
    const [policy] = await this.#settle(options.signal, () =>
      this.file(key).generateSignedPostPolicyV4({
        expires: expiresAt,
        fields,
        conditions: conditions as never,
      }),
    );
    // The SDK posts to the bare endpoint for custom endpoints; path style works on GCS and emulators.
    const url =
      this.settings.endpoint !== undefined || this.client.customEndpoint
        ? `${this.urlEndpoint}/${this.settings.bucket}/`
        : policy.url;
    return { method: "POST", url, headers: {}, fields: policy.fields, expiresAt, maxBytes: options.maxBytes };
  }

  async setVisibility(key: string, visibility: Visibility, options: DriverCallOptions): Promise<void> {
    if (this.settings.uniformAccess) {
      throw new UnsupportedError(
        `Bucket ${this.settings.bucket} uses uniform bucket-level access: visibility is set on the bucket (IAM), not per file.`,
      );
    }
    try {
      // PATCH ?predefinedAcl=…: replaces the whole ACL in one call, no read-modify-write.
      await this.#settle(options.signal, () =>
        this.file(key).setMetadata({ acl: null }, { predefinedAcl: PREDEFINED_ACL[visibility] }),
      );
    } catch (error) {
      throw this.fail(error, key, options.signal);
    }
  }

  async getVisibility(key: string, options: DriverCallOptions): Promise<Visibility> {
    if (this.settings.uniformAccess) {
      throw new UnsupportedError(
        `Bucket ${this.settings.bucket} uses uniform bucket-level access: visibility is the bucket's (IAM), not per file.`,
      );
    }
    let metadata: FileMetadata;
    try {
      [metadata] = await this.#settle(options.signal, () =>
        this.file(key).getMetadata({ projection: "full" }),
      );
    } catch (error) {
      throw this.fail(error, key, options.signal);
    }
    if (!Array.isArray(metadata.acl)) {
      // GCS returns the ACL only to principals allowed to read it; never guess "private".
      throw new PermissionDeniedError(
        `GCS did not return the ACL of gs://${this.settings.bucket}/${this.objectName(key)}: reading it needs storage.objects.getIamPolicy (roles/storage.objectAdmin). If the bucket uses uniform bucket-level access, set uniformAccess: true.`,
      );
    }
    const isPublic = metadata.acl.some(
      (entry: { entity?: string; role?: string }) =>
        entry.entity === "allUsers" && (entry.role === "READER" || entry.role === "OWNER"),
    );
    return isPublic ? "public" : "private";
  }
}

function normalizeHeaders(raw: unknown): Record<string, string | string[] | undefined> {
  if (raw === null || raw === undefined) return {};
  if (typeof (raw as Headers).forEach === "function" && typeof (raw as Headers).get === "function") {
    const out: Record<string, string> = {};
    (raw as Headers).forEach((value, name) => {
      out[name.toLowerCase()] = value;
    });
    return out;
  }
  const out: Record<string, string | string[] | undefined> = {};
  for (const [name, value] of Object.entries(raw as Record<string, string | string[] | undefined>)) {
    out[name.toLowerCase()] = value;
  }
  return out;
}
