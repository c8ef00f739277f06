/**
 * Azure Blob Storage driver on @azure/storage-blob.
 *
 * Thin on purpose: the facade validates names, converts bodies, merges timeouts into `signal` and
 * fills gaps; this file maps the Driver primitives onto block blobs in one container (under an
 * optional prefix) and translates errors through errors.ts.
 */
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { inspect } from "node:util";
import type {
  BlobBeginCopyFromUrlPollState,
  BlobClient,
  BlobServiceClient,
  BlockBlobClient,
  ContainerClient,
} from "@azure/storage-blob";
import {
  AlreadyExistsError,
  type BackendDescription,
  BackendError,
  type Capabilities,
  type Checksums,
  ConfigError,
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
  normalizeEtag,
  type ObjectStat,
  PermissionDeniedError,
  type SignedUpload,
  type StorageError,
  UnsupportedError,
  type Visibility,
} from "@storages/core";
import { plannedBlockSize, uploadBlocks } from "./blocks.js";
import { mapAzureError } from "./errors.js";
import { decodeMetadata, encodeMetadata } from "./metadata.js";
import {
  type AzureDriverOptions,
  type CredentialKind,
  createClients,
  describeAzureOptions,
  normalizeKeyPrefix,
  validateOptions,
} from "./options.js";
import { DelegationKeyCache, type SasSigningKey, signBlobSas } from "./sas.js";

/** A blob's Content-MD5 (stat and listings report the same), when it has one of the right length. */
function checksumsOf(contentMD5: Uint8Array | undefined): Checksums | undefined {
  return contentMD5?.byteLength === 16 ? { md5: Buffer.from(contentMD5).toString("hex") } : undefined;
}

/** Copy Blob From URL (synchronous) accepts sources up to 256 MiB; larger ones use the async copy. */
export const SYNC_COPY_MAX_BYTES = 256 * 1024 * 1024;
/** Lifetime of the read SAS a server-side copy hands Azure for its source. */
const COPY_SOURCE_SAS_SECONDS = 15 * 60;
/** An async copy of a huge blob can take hours; its source SAS must outlive it. */
const ASYNC_COPY_SOURCE_SAS_SECONDS = 24 * 3600;
/** Blob batch: at most 256 sub-requests per batch. */
export const BATCH_SIZE = 256;
/** Azure's listing page limit. */
const MAX_PAGE_SIZE = 5000;
/** Bodies already in memory up to this size go in one Put Blob (retried by the storage as a whole). */
const SINGLE_PUT_MAX_BYTES = 32 * 1024 * 1024;
/** How long the clean-up of a failed staged upload may take. */
const DISCARD_TIMEOUT_MS = 10_000;

export class AzureDriver implements Driver {
  readonly backend = "azure";
  readonly capabilities: Capabilities;
  readonly defaultVisibility: Visibility | undefined;
  /** The SDK's container client, for what this driver does not cover. */
  readonly containerClient: ContainerClient;
  readonly prefix: string;
  readonly credentialKind: CredentialKind;

  readonly #signingKey: SasSigningKey | undefined;
  readonly #httpsOnly: boolean;
  readonly #blockSize: number;
  readonly #concurrency: number;
  readonly #description: BackendDescription;
  #access: Promise<Visibility | undefined> | undefined;
  readonly #account: BlobServiceClient | undefined;

  constructor(options: AzureDriverOptions) {
    const valid = validateOptions(options);
    const clients = createClients(options);
    this.containerClient = clients.container;
    this.#account = clients.account;
    this.credentialKind = clients.credentialKind;
    this.prefix = normalizeKeyPrefix(options.prefix);
    this.defaultVisibility = options.visibility;
    this.#httpsOnly = clients.httpsOnly;
    this.#blockSize = valid.blockSize;
    this.#concurrency = valid.concurrency;
    this.#description = describeAzureOptions(options, valid);
    if (clients.sharedKey) {
      this.#signingKey = { kind: "sharedKey", credential: clients.sharedKey };
    } else if (clients.service) {
      const service = clients.service;
      this.#signingKey = {
        kind: "userDelegation",
        accountName: clients.accountName,
        cache: new DelegationKeyCache(
          async (startsOn, expiresOn) => {
            try {
              return await service.getUserDelegationKey(startsOn, expiresOn);
            } catch (error) {
              const mapped = mapAzureError(error);
              if (mapped.code !== "E_PERMISSION_DENIED") throw mapped;
              throw new PermissionDeniedError(
                `Azure refused a user delegation key, which signing URLs with a TokenCredential needs: give the identity the "Storage Blob Delegator" role on the account (or a Storage Blob Data role at account scope). (${mapped.message})`,
                { cause: mapped.cause },
              );
            }
          },
          { lifetimeMs: valid.delegationKeyLifetime * 1000 },
        ),
      };
    }
    const canSign = this.#signingKey !== undefined;
    this.capabilities = Object.freeze({
      rangeRead: true,
      conditionalWrite: true,
      publicUrl: true,
      signedUrl: canSign,
      signedUpload: canSign ? (["put"] as const) : ([] as const),
      // A SAS cannot cap the body size and Azure has no POST policy.
      signedUploadMaxBytes: [] as const,
      visibility: "bucket",
      metadata: true,
      // Azure computes the MD5 of a Put Blob; for staged blocks this driver sets it (blocks.ts).
      checksums: ["md5"] as const,
    } satisfies Capabilities);
  }

  /** Where the files are, secret-free: the same account as the backend's `describe()`. */
  describe(): BackendDescription {
    return structuredClone(this.#description);
  }

  /** What the driver points at, without secrets (the container client holds the credential). */
  toJSON(): Record<string, unknown> {
    return { backend: this.backend, ...this.describe() };
  }

  toString(): string {
    return `AzureDriver(${this.#description.location})`;
  }

  [inspect.custom](): string {
    return this.toString();
  }

  /** Soft delete of blobs (an account setting) keeps deleted ones; a container SAS may not ask: undefined. */
  async dataProtection(options: DriverCallOptions): Promise<DataProtection | undefined> {
    if (!this.#account) return undefined;
    try {
      const properties = await this.#account.getProperties({ abortSignal: options.signal });
      const policy = properties.deleteRetentionPolicy;
      return policy?.enabled
        ? { recoverable: true, detail: `soft delete on (${policy.days ?? "?"} days)` }
        : { recoverable: false, detail: "soft delete off" };
    } catch (error) {
      const mapped = this.#error(error);
      if (mapped.code === "E_PERMISSION_DENIED") return undefined;
      throw mapped;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Helpers

  #blob(key: string): BlockBlobClient {
    return this.containerClient.getBlockBlobClient(this.prefix + key);
  }

  #error(error: unknown, key?: string, ifNotExists?: boolean): StorageError {
    return mapAzureError(error, { key, container: this.containerClient.containerName, ifNotExists });
  }

  /**
   * The container's public access, read once per driver: "public" when anonymous clients may read
   * blobs, undefined when this credential may not read container properties (e.g. a blob SAS) or
   * the call failed (tried again next time).
   */
  #containerAccess(signal: AbortSignal): Promise<Visibility | undefined> {
    this.#access ??= this.containerClient.getProperties({ abortSignal: signal }).then(
      (properties) => (properties.blobPublicAccess ? "public" : "private"),
      (error: unknown) => {
        this.#access = undefined;
        const mapped = this.#error(error);
        if (ConfigError.isInstance(mapped)) throw mapped; // the container does not exist: say so now
        return undefined;
      },
    );
    return this.#access;
  }

  /**
   * A private storage on a container that allows anonymous reads would publish every file: refuse.
   * (The other way round is allowed: a "public" storage served by a CDN from a private container.)
   */
  async #guardVisibility(requested: Visibility, signal: AbortSignal): Promise<void> {
    if (requested !== "private") return;
    if ((await this.#containerAccess(signal)) === "public") {
      throw new ConfigError(
        `The container "${this.containerClient.containerName}" allows anonymous read access, but this storage is private: every file would be public. Turn off public access on the container (az storage container set-permission --public-access off) or configure the storage with visibility "public".`,
      );
    }
  }

  // -------------------------------------------------------------------------------------------
  // Writing

  async write(key: string, body: Readable, options: DriverWriteOptions): Promise<DriverWriteResult> {
    const { signal } = options;
    await this.#guardVisibility(options.visibility, signal);
    const common = {
      blobHTTPHeaders: {
        blobContentType: options.contentType,
        blobCacheControl: options.cacheControl,
        blobContentDisposition: options.contentDisposition,
        blobContentEncoding: options.contentEncoding,
      },
      metadata: encodeMetadata(options.metadata),
      conditions: options.ifNotExists ? { ifNoneMatch: "*" } : undefined,
      abortSignal: signal,
    };
    let name = key;
    /**
     * Create-exclusive refusal while we still hold the body: move to a fresh name and retry. The
     * save's own name budget ends the search: nextKey() throws AlreadyExistsError once it is spent.
     */
    const retryUnderNewName = (error: StorageError): boolean => {
      if (!options.ifNotExists || !options.nextKey || !AlreadyExistsError.isInstance(error)) return false;
      name = options.nextKey();
      return true;
    };

    const putWhole = async (bytes: Uint8Array, requestSignal: AbortSignal) => {
      for (;;) {
        try {
          const response = await this.#blob(name).upload(bytes, bytes.byteLength, {
            ...common,
            abortSignal: requestSignal,
          });
          return { etag: normalizeEtag(response.etag) };
        } catch (error) {
          const mapped = this.#error(error, name, options.ifNotExists);
          if (!retryUnderNewName(mapped)) throw mapped;
        }
      }
    };

    if (options.bytes !== undefined && options.bytes.byteLength <= SINGLE_PUT_MAX_BYTES) {
      const { etag } = await putWhole(options.bytes, signal);
      return { key: name, size: options.bytes.byteLength, etag };
    }

    const size = options.size ?? options.bytes?.byteLength;
    let staged = false;
    const upload = uploadBlocks(
      body,
      {
        putWhole: (bytes, requestSignal) => putWhole(bytes, requestSignal),
        // The body cannot be replayed once staged: settle the name before sending it. The commit
        // below stays conditional, so a writer that slips in between gets refused, never overwritten.
        beforeStaging: async (requestSignal) => {
          if (!options.ifNotExists || !options.nextKey) return;
          while (await this.#exists(name, requestSignal)) name = options.nextKey();
        },
        stageBlock: async (id, block, requestSignal) => {
          staged = true;
          try {
            await this.#blob(name).stageBlock(id, block, block.byteLength, { abortSignal: requestSignal });
          } catch (error) {
            throw this.#error(error, name);
          }
        },
        commit: async (ids, requestSignal, md5) => {
          try {
            const response = await this.#blob(name).commitBlockList(ids, {
              ...common,
              // Azure keeps no MD5 of staged blocks: the one computed while they were read.
              blobHTTPHeaders: { ...common.blobHTTPHeaders, blobContentMD5: md5 },
              abortSignal: requestSignal,
            });
            return { etag: normalizeEtag(response.etag) };
          } catch (error) {
            throw this.#error(error, name, options.ifNotExists);
          }
        },
      },
      {
        signal,
        blockSize: plannedBlockSize(size, this.#blockSize),
        baseBlockSize: this.#blockSize,
        concurrency: this.#concurrency,
      },
    );
    try {
      const result = await upload;
      return { key: name, size: result.size, etag: result.etag };
    } catch (error) {
      if (staged) await this.#discardBlocks(name);
      throw error;
    }
  }

  /**
   * The uncommitted blocks of a failed staged upload: Azure keeps them (a week) until a commit to
   * that blob replaces them, and has no call that drops them. For a blob that does not exist, an
   * empty create-exclusive commit replaces them and a delete of exactly that commit removes it (an
   * empty blob exists for that one round trip). An existing blob's are left: committing it again
   * would rewrite it. Best effort, bounded in time, and it runs after an abort too.
   */
  async #discardBlocks(name: string): Promise<void> {
    const blob = this.#blob(name);
    const abortSignal = AbortSignal.timeout(DISCARD_TIMEOUT_MS);
    try {
      // A block whose request was cut on our side may still reach the service after this: look
      // again, and discard what arrived late, a few times within the time bound.
      for (let round = 0; round < 3; round++) {
        const { etag } = await blob.commitBlockList([], { conditions: { ifNoneMatch: "*" }, abortSignal });
        await blob.delete({ conditions: { ifMatch: etag }, abortSignal });
        await new Promise((resolve) => setTimeout(resolve, 200));
        const late = await blob.getBlockList("uncommitted", { abortSignal });
        if ((late.uncommittedBlocks?.length ?? 0) === 0) return;
      }
    } catch {
      // The blob exists (its blocks stay until its next commit), or the service is unreachable.
    }
  }

  // -------------------------------------------------------------------------------------------
  // Reading

  async read(key: string, options: DriverReadOptions): Promise<Readable> {
    const { range, signal } = options;
    const offset = range?.start ?? 0;
    const count = range?.end === undefined ? undefined : range.end - offset + 1;
    try {
      const response = await this.#blob(key).download(offset, count, {
        abortSignal: signal,
        maxRetryRequests: 5,
      });
      const stream = response.readableStreamBody;
      if (!stream) throw new BackendError("Azure returned no body for a download.");
      // The SDK's stream is a Node Readable; errors mid-body keep their SDK type and are wrapped by the facade.
      return stream instanceof Readable ? stream : Readable.from(stream as AsyncIterable<Buffer>);
    } catch (error) {
      throw this.#error(error, key);
    }
  }

  async stat(key: string, options: DriverCallOptions): Promise<ObjectStat> {
    try {
      const p = await this.#blob(key).getProperties({ abortSignal: options.signal });
      return {
        name: key,
        size: p.contentLength ?? 0,
        lastModified: p.lastModified ?? new Date(0),
        etag: normalizeEtag(p.etag),
        contentType: p.contentType,
        cacheControl: p.cacheControl,
        contentDisposition: p.contentDisposition,
        contentEncoding: p.contentEncoding,
        metadata: decodeMetadata(p.metadata),
        checksums: checksumsOf(p.contentMD5),
        // Known once the container's access has been read (by a write): the real value, not the configured one.
        visibility: await this.#access?.catch(() => undefined),
      };
    } catch (error) {
      throw this.#error(error, key);
    }
  }

  async #exists(key: string, signal: AbortSignal): Promise<boolean> {
    try {
      await this.#blob(key).getProperties({ abortSignal: signal });
      return true;
    } catch (error) {
      const mapped = this.#error(error, key);
      // A missing container is a configuration error, not a missing file.
      if (mapped.code === "E_NOT_FOUND") return false;
      throw mapped;
    }
  }

  exists(key: string, options: DriverCallOptions): Promise<boolean> {
    return this.#exists(key, options.signal);
  }

  async listPage(prefix: string, options: DriverListOptions): Promise<ListPage> {
    const full = this.prefix + prefix;
    const strip = this.prefix.length;
    const pageSize = Math.min(Math.max(1, options.pageSize), MAX_PAGE_SIZE);
    const settings = { continuationToken: options.cursor || undefined, maxPageSize: pageSize };
    const entries: ListEntry[] = [];
    const file = (item: {
      name: string;
      properties: { contentLength?: number; lastModified: Date; etag?: string; contentMD5?: Uint8Array };
    }) => {
      // "dir/" placeholders (portal, Data Lake folders) are not files of this storage.
      if (item.name.endsWith("/")) return;
      entries.push({
        type: "file",
        name: item.name.slice(strip),
        size: item.properties.contentLength ?? 0,
        lastModified: item.properties.lastModified,
        // Listings send the ETag unquoted where getProperties quotes it: one form (normalizeEtag).
        etag: normalizeEtag(item.properties.etag),
        checksums: checksumsOf(item.properties.contentMD5),
      });
    };
    try {
      let cursor: string | undefined;
      if (options.recursive) {
        const page = await this.containerClient
          .listBlobsFlat({ prefix: full, abortSignal: options.signal })
          .byPage(settings)
          .next();
        if (!page.done) {
          for (const item of page.value.segment.blobItems) file(item);
          cursor = page.value.continuationToken;
        }
      } else {
        const page = await this.containerClient
          .listBlobsByHierarchy("/", { prefix: full, abortSignal: options.signal })
          .byPage(settings)
          .next();
        if (!page.done) {
          for (const dir of page.value.segment.blobPrefixes ?? []) {
            entries.push({ type: "directory", name: dir.name.slice(strip).replace(/\/$/, "") });
          }
          for (const item of page.value.segment.blobItems) file(item);
          cursor = page.value.continuationToken;
        }
        // Azure returns prefixes and blobs in separate lists; keep the listing in name order.
        entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      }
      return { entries, cursor: cursor || undefined };
    } catch (error) {
      throw this.#error(error, prefix || undefined);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Deleting

  async delete(key: string, options: DriverCallOptions): Promise<void> {
    try {
      // Snapshots belong to the blob: without "include" Azure refuses to delete a blob that has some.
      await this.#blob(key).deleteIfExists({ deleteSnapshots: "include", abortSignal: options.signal });
    } catch (error) {
      throw this.#error(error, key);
    }
  }

  async deleteMany(keys: string[], options: DriverCallOptions): Promise<DriverDeleteManyResult> {
    const failures: DriverDeleteManyResult["failures"] = [];
    const batchClient = this.containerClient.getBlobBatchClient();
    for (let i = 0; i < keys.length; i += BATCH_SIZE) {
      const chunk = keys.slice(i, i + BATCH_SIZE);
      let response: Awaited<ReturnType<typeof batchClient.deleteBlobs>>;
      try {
        const clients: BlobClient[] = chunk.map((key) => this.#blob(key));
        response = await batchClient.deleteBlobs(clients, {
          deleteSnapshots: "include",
          abortSignal: options.signal,
        });
      } catch (error) {
        throw this.#error(error);
      }
      chunk.forEach((key, index) => {
        const sub = response.subResponses[index];
        if (!sub) {
          failures.push({
            key,
            error: new BackendError(`Azure's batch response has no entry for "${key}".`, { path: key }),
          });
          return;
        }
        if (sub.status === 202 || sub.status === 404) return; // deleted, or already gone
        failures.push({
          key,
          error: this.#error(
            { statusCode: sub.status, code: sub.errorCode, message: sub.statusMessage },
            key,
          ),
        });
      });
    }
    return { failures };
  }

  // -------------------------------------------------------------------------------------------
  // Copy

  /** A URL Azure can read the source from: a short-lived read SAS when we can sign, else the client's URL (public or SAS). */
  async #copySourceUrl(key: string, seconds: number, signal: AbortSignal): Promise<string> {
    if (!this.#signingKey) return this.#blob(key).url;
    return this.#signedBlobUrl(key, "r", seconds, {}, signal);
  }

  async copy(from: string, to: string, options: DriverCopyOptions): Promise<void> {
    const { signal, overwrite } = options;
    const target = this.#blob(to);
    let source: Awaited<ReturnType<BlockBlobClient["getProperties"]>>;
    try {
      source = await this.#blob(from).getProperties({ abortSignal: signal });
    } catch (error) {
      throw this.#error(error, from);
    }
    const conditions = overwrite ? undefined : { ifNoneMatch: "*" };
    // The version we looked at, or a refusal: never a copy of a blob swapped in meanwhile.
    const sourceConditions = source.etag ? { ifMatch: source.etag } : undefined;
    const size = source.contentLength ?? 0;
    try {
      if (size <= SYNC_COPY_MAX_BYTES) {
        const url = await this.#copySourceUrl(from, COPY_SOURCE_SAS_SECONDS, signal);
        await target.syncCopyFromURL(url, { conditions, sourceConditions, abortSignal: signal });
        return;
      }
      const url = await this.#copySourceUrl(from, ASYNC_COPY_SOURCE_SAS_SECONDS, signal);
      // beginCopyFromURL returns once Azure accepted the copy; its poller cannot be aborted, so poll here.
      const poller = await target.beginCopyFromURL(url, {
        conditions,
        sourceConditions,
        abortSignal: signal,
      });
      poller.stopPolling();
      const state = poller.getOperationState() as BlobBeginCopyFromUrlPollState;
      await this.#awaitCopy(target, state.copyId, state.isCompleted ? "success" : "pending", from, signal);
    } catch (error) {
      throw this.#error(error, to, !overwrite);
    }
  }

  /** Polls an async copy to its end (the SDK's poller ignores abort signals while waiting). */
  async #awaitCopy(
    target: BlockBlobClient,
    copyId: string | undefined,
    initialStatus: string | undefined,
    from: string,
    signal: AbortSignal,
  ): Promise<void> {
    let status = initialStatus;
    let interval = 500;
    try {
      while (status === "pending") {
        await sleep(interval, undefined, { signal });
        interval = Math.min(interval * 2, 5000);
        status = (await target.getProperties({ abortSignal: signal })).copyStatus;
      }
    } catch (error) {
      if (signal.aborted && copyId) {
        // Leave no copy running after the caller gave up, and no zero-length blob (what an aborted copy leaves).
        await target.abortCopyFromURL(copyId).catch(() => undefined);
        await target.deleteIfExists().catch(() => undefined);
      }
      throw error;
    }
    if (status !== "success") {
      await target.deleteIfExists().catch(() => undefined);
      throw new BackendError(`Azure's copy of "${from}" ended with status ${status ?? "unknown"}.`, {
        retryable: true,
      });
    }
  }

  // -------------------------------------------------------------------------------------------
  // URLs

  publicUrl(key: string): string {
    const url = new URL(this.#blob(key).url);
    url.search = ""; // a SAS in the client's URL must never end up in a public link
    return url.toString();
  }

  async #signedBlobUrl(
    key: string,
    permissions: string,
    expiresIn: number,
    overrides: { contentDisposition?: string | undefined; contentType?: string | undefined },
    signal: AbortSignal,
  ): Promise<string> {
    if (!this.#signingKey) {
      throw new UnsupportedError(
        "This Azure storage cannot sign URLs: it authenticates with a SAS token or anonymously. Configure an account key or a TokenCredential (user delegation SAS).",
      );
    }
    const sas = await signBlobSas(
      this.#signingKey,
      this.containerClient.containerName,
      {
        blobName: this.prefix + key,
        permissions,
        expiresOn: new Date(Date.now() + expiresIn * 1000),
        contentDisposition: overrides.contentDisposition,
        contentType: overrides.contentType,
      },
      { httpsOnly: this.#httpsOnly, signal },
    );
    return `${this.publicUrl(key)}?${sas}`;
  }

  async signedUrl(key: string, options: DriverSignedUrlOptions): Promise<string> {
    try {
      return await this.#signedBlobUrl(
        key,
        "r",
        options.expiresIn,
        { contentDisposition: options.responseContentDisposition, contentType: options.responseContentType },
        options.signal,
      );
    } catch (error) {
      throw this.#error(error, key);
    }
  }

  async signedUpload(key: string, options: DriverSignedUploadOptions): Promise<Omit<SignedUpload, "name">> {
    if (options.method !== "put") {
      throw new UnsupportedError("Azure has no POST form uploads: use a signed PUT.");
    }
    if (options.maxBytes !== undefined) {
      throw new UnsupportedError(
        "A SAS cannot limit the upload size. Upload through your server, or check the size after the upload and delete oversized blobs.",
      );
    }
    await this.#guardVisibility(options.visibility, options.signal);
    const expiresAt = new Date(Date.now() + options.expiresIn * 1000);
    // "cw": create or replace this one blob (Put Blob, or Put Block + Put Block List). Nothing else.
    const url = await this.#signedBlobUrl(key, "cw", options.expiresIn, {}, options.signal).catch(
      (error: unknown) => {
        throw this.#error(error, key);
      },
    );
    const headers: Record<string, string> = { "x-ms-blob-type": "BlockBlob" };
    if (options.contentType) headers["content-type"] = options.contentType;
    if (options.cacheControl) headers["x-ms-blob-cache-control"] = options.cacheControl;
    return { method: "PUT", url, headers, fields: {}, expiresAt };
  }

  async close(): Promise<void> {
    // The SDK's HTTP agent keeps idle sockets with a short keep-alive; nothing to release here.
  }
}
