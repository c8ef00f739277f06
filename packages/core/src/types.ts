/**
 * Public types and the Driver contract.
 *
 * The split of work: a driver maps a few primitives onto one service and declares what it can do
 * (`capabilities`); the `Storage` facade does everything that is the same for every backend (path
 * rules, input conversion, names and collisions, timeouts and abort, error context, URL rules,
 * gap filling). A driver never sees an unvalidated path, a user's raw input value, or a timeout.
 */
import type { Readable } from "node:stream";
import type { LocalFile } from "./body.js";
import type { StorageError } from "./errors.js";
import type { RetryOptions } from "./retry.js";

export type Visibility = "public" | "private";
export type ChecksumAlgorithm = "md5" | "crc32c" | "sha256";
/**
 * Digests of a file's content, lower-case hex, by algorithm. Only real digests of the bytes: what
 * the service computed, or what the driver computed while it streamed the upload and stored with
 * the file (S3 multipart, Azure staged blocks, fs). Never an ETag that merely looks like one.
 */
export type Checksums = Partial<Record<ChecksumAlgorithm, string>>;
export type SignedUploadMethod = "put" | "post";

/** Everything `save()` accepts as a body. */
export type BodyInput =
  | string
  | LocalFile
  | Uint8Array
  | ArrayBuffer
  | Blob
  | Readable
  | NodeJS.ReadableStream
  | ReadableStream<Uint8Array>
  | AsyncIterable<Uint8Array | string>;

/** Every call takes these. `timeout` is in milliseconds and adds to (never replaces) `signal`. */
export interface CallOptions {
  signal?: AbortSignal | undefined;
  timeout?: number | undefined;
  /** This call's retry policy (see the storage's `retry`); false: no retry. */
  retry?: RetryOptions | false | undefined;
}

export interface SaveOptions extends CallOptions {
  /** Defaults to the type guessed from the name's extension, else application/octet-stream. */
  contentType?: string | undefined;
  cacheControl?: string | undefined;
  contentDisposition?: string | undefined;
  contentEncoding?: string | undefined;
  /** Custom metadata: ASCII keys (lower-cased by most services) and string values. */
  metadata?: Record<string, string> | undefined;
  /** Defaults to the storage's visibility. */
  visibility?: Visibility | undefined;
  /**
   * false (the storage default unless configured otherwise): a taken name gets a random suffix,
   * decided atomically by the backend. true: replace whatever is there.
   */
  overwrite?: boolean | undefined;
  /**
   * true: store under exactly `name` or not at all — AlreadyExistsError (E_ALREADY_EXISTS) when the
   * name is taken, decided atomically by the backend as for `overwrite: false` (If-None-Match,
   * ifGenerationMatch=0, an exclusive create). For markers and locks, where a file under another
   * name would mean nothing. Needs a backend that creates exclusively; not with `overwrite: true`.
   */
  exclusive?: boolean | undefined;
  /** The body's size in bytes when known in advance (lets drivers pick single-shot vs multipart). */
  size?: number | undefined;
}

export interface SaveResult {
  /** The name actually stored: differs from the requested one when it was taken and overwrite is false (never with exclusive). */
  name: string;
  size: number;
  /** The quoted entity-tag, as HTTP sends it (`"…"`); the same value stat() and list() give. */
  etag?: string | undefined;
  /**
   * Digests of the bytes stored, where the driver computed them while writing (the fs driver with
   * records, S3: `md5`): a caller that would hash the body itself to check the copy need not.
   */
  checksums?: Checksums | undefined;
}

export interface ByteRange {
  /** First byte, 0-based. */
  start: number;
  /** Last byte, inclusive. Omitted: to the end. Past the end: clamped to the end. */
  end?: number | undefined;
}

export interface OpenOptions extends CallOptions {
  range?: ByteRange | undefined;
  /** Milliseconds the source may send nothing while the consumer waits; default the storage's. 0: off. */
  idleTimeout?: number | undefined;
}

export interface ObjectStat {
  name: string;
  size: number;
  lastModified: Date;
  /**
   * The quoted entity-tag, as HTTP sends it (`"…"`, `W/"…"` if weak), on every backend: ready for
   * an ETag or If-Match header, and comparable with the etag of a listing entry or a save result.
   */
  etag?: string | undefined;
  contentType?: string | undefined;
  cacheControl?: string | undefined;
  contentDisposition?: string | undefined;
  contentEncoding?: string | undefined;
  metadata: Record<string, string>;
  /**
   * Checksums stored with the file (see `Checksums`). Every built-in backend reports `md5` for a
   * file it wrote, whatever the upload path; docs/concepts.md lists what each backend adds.
   */
  checksums?: Checksums | undefined;
  visibility?: Visibility | undefined;
}

export type ListEntry =
  | {
      type: "file";
      /** Full storage-relative name (not relative to the listed prefix). */
      name: string;
      size: number;
      lastModified: Date;
      /** Same form and value as `ObjectStat.etag`. */
      etag?: string | undefined;
      /**
       * Checksums the listing itself carries (same shape as `ObjectStat.checksums`), so comparing
       * two trees costs listings, not a call per file. Absent when the service's listing has none
       * for this file (an S3 multipart upload, whose ETag is not a digest): `stat()` may still have one.
       */
      checksums?: Checksums | undefined;
    }
  | {
      type: "directory";
      /** Full storage-relative name, without a trailing slash. */
      name: string;
    };

export interface ListOptions extends CallOptions {
  /** true: every file below the prefix; false (default): one level, with sub-directories as entries. */
  recursive?: boolean | undefined;
  /** Page size asked of the backend (memory stays bounded by it). */
  pageSize?: number | undefined;
}

export interface ListPageOptions extends ListOptions {
  /** Opaque cursor returned by the previous page; omit for the first page. */
  cursor?: string | undefined;
}

export interface ListPage {
  entries: ListEntry[];
  /** Present when more pages follow. Opaque; safe to persist for a resumable listing. */
  cursor?: string | undefined;
}

export interface CopyOptions extends CallOptions {
  /** Default true: like `cp`, the destination is replaced. false: AlreadyExistsError when it exists. */
  overwrite?: boolean | undefined;
  /**
   * Default false. true: where the backend can, the destination becomes a second name of the
   * source's content instead of a copy of its bytes — on a local folder a hard link (no byte
   * written; a copy when the two names are on different filesystems). Both names then show the same
   * content and metadata until one of them is replaced, which storages always does by writing a new
   * file, never in place; a program that edits the file in place changes both. For immutable
   * content published twice (collectstatic's hashed and original names). Ignored elsewhere.
   */
  link?: boolean | undefined;
}

export interface SignedUrlOptions extends CallOptions {
  /** Seconds. Defaults to the storage's `signedUrlExpiresIn` (3600). */
  expiresIn?: number | undefined;
  /** Ask the browser to download: true uses the file's own name, a string sets the file name. */
  download?: boolean | string | undefined;
  /** Override the Content-Type of the response. */
  contentType?: string | undefined;
}

export interface SignedUploadOptions extends CallOptions {
  expiresIn?: number | undefined;
  /** The Content-Type the uploader must send (bound into the signature where the service can). */
  contentType?: string | undefined;
  /** Largest body the server will accept. Requires a method that enforces it (see capabilities). */
  maxBytes?: number | undefined;
  /** Default: "post" when maxBytes is set and the backend enforces it only for POST, else "put". */
  method?: SignedUploadMethod | undefined;
  /**
   * false (the storage default unless configured otherwise): the name gets a random suffix now, since
   * a browser upload cannot be checked atomically against concurrent ones. true: use the name as is.
   */
  overwrite?: boolean | undefined;
}

export interface SignedUpload {
  method: "PUT" | "POST";
  url: string;
  /** Headers the uploader must send with a PUT (e.g. content-type, x-ms-blob-type). */
  headers: Record<string, string>;
  /** Form fields to send before the file field with a POST. */
  fields: Record<string, string>;
  /** The name the file will have once uploaded. */
  name: string;
  expiresAt: Date;
  /** Enforced size limit, when there is one. */
  maxBytes?: number | undefined;
}

// ---------------------------------------------------------------------------------------------
// The driver contract

/**
 * What the service itself can do, declared by the driver. What a driver does natively beyond these
 * is told by the optional methods it implements (`copy` inside the service, `move` as a rename,
 * `deleteMany` as a batch call, `exists`); the facade fills in the rest (see `Storage.features`).
 */
export interface Capabilities {
  /** Reads a byte range without fetching the whole object. */
  rangeRead: boolean;
  /** Create-exclusive writes (the backend refuses atomically when the name exists). */
  conditionalWrite: boolean;
  /** Can produce unsigned URLs (only useful for public files). */
  publicUrl: boolean;
  /** Signed, expiring GET URLs. */
  signedUrl: boolean;
  /** Signed upload methods a plain HTTP client can use. */
  signedUpload: readonly SignedUploadMethod[];
  /** Signed upload methods for which the server enforces `maxBytes`. */
  signedUploadMaxBytes: readonly SignedUploadMethod[];
  /** "object": per-file visibility; "bucket": one visibility for the whole storage; "none". */
  visibility: "object" | "bucket" | "none";
  /** Custom metadata round-trips. */
  metadata: boolean;
  /** Checksums `stat()` reports. The facade computes others from the stream. */
  checksums: readonly ChecksumAlgorithm[];
}

/** Who provides a feature of a storage: the service itself, the facade on top of it, or nobody. */
export type Provision = "native" | "facade" | "none";

/** What a storage can do and who does it: the driver's capabilities plus what the facade fills in. */
export interface StorageFeatures {
  rangeRead: Provision;
  createExclusive: Provision;
  copy: Provision;
  move: Provision;
  deleteMany: Provision;
  exists: Provision;
  publicUrl: Provision;
  signedUrl: Provision;
  signedUpload: readonly SignedUploadMethod[];
  signedUploadMaxBytes: readonly SignedUploadMethod[];
  visibility: Capabilities["visibility"];
  metadata: boolean;
  /** Stored by the service (read by `stat`), and computed by the facade (by streaming). */
  checksums: { stored: readonly ChecksumAlgorithm[]; computed: readonly ChecksumAlgorithm[] };
}

/** Whether a service keeps deleted or overwritten files recoverable (`Storage.dataProtection()`). */
export interface DataProtection {
  /** True when deleted or overwritten files stay recoverable for a while (versioning, soft delete). */
  recoverable: boolean;
  /** How, or why not, for people: "bucket versioning on", "soft delete off". */
  detail: string;
}

/** `Storage.describe()`: what tools need to know about a storage, secret-free. */
export interface StorageInfo {
  backend: string;
  /** The driver's own account of where its files are (`Driver.describe`), when it gives one. */
  location: BackendDescription | undefined;
  publicBaseUrl: string | undefined;
  visibility: Visibility;
  overwrite: boolean;
  readOnly: boolean;
  features: StorageFeatures;
}

export interface DriverCallOptions {
  /** Always present: the facade merges the caller's signal and timeout into this one. */
  signal: AbortSignal;
}

export interface DriverWriteOptions extends DriverCallOptions {
  /** Always resolved by the facade (explicit, else guessed from the extension). */
  contentType: string;
  cacheControl?: string | undefined;
  contentDisposition?: string | undefined;
  contentEncoding?: string | undefined;
  metadata?: Record<string, string> | undefined;
  /** Always resolved by the facade (explicit, else the storage's). */
  visibility: Visibility;
  /**
   * Create-exclusive: the driver must fail with AlreadyExistsError, atomically, if `key` exists.
   * Drivers that commit after receiving the body (fs: link, memory) should instead call
   * `nextKey()` and retry the commit under the returned key, so a stream body is never lost.
   */
  ifNotExists: boolean;
  /** Present with ifNotExists: yields a fresh alternative key each call. */
  nextKey?: (() => string) | undefined;
  /** Size in bytes when known in advance. */
  size?: number | undefined;
  /** The whole body, when it is already in memory (the facade also gives it as `body`). */
  bytes?: Uint8Array | undefined;
}

export interface DriverWriteResult {
  /** The key written: differs from the requested one only when the driver used `nextKey()`. */
  key: string;
  size: number;
  /** Quoted, as stat() reports it (`normalizeEtag`). */
  etag?: string | undefined;
  /** Digests of the bytes written, as the driver computed them on the way (never read back). */
  checksums?: Checksums | undefined;
}

export interface DriverReadOptions extends DriverCallOptions {
  /** Already validated: 0 <= start, start <= end when end is set. */
  range?: ByteRange | undefined;
}

export interface DriverListOptions extends DriverCallOptions {
  recursive: boolean;
  pageSize: number;
  cursor?: string | undefined;
}

export interface DriverSignedUrlOptions extends DriverCallOptions {
  expiresIn: number;
  /** Full Content-Disposition value to force on the response, e.g. `attachment; filename="a.pdf"`. */
  responseContentDisposition?: string | undefined;
  responseContentType?: string | undefined;
}

export interface DriverSignedUploadOptions extends DriverCallOptions {
  expiresIn: number;
  method: SignedUploadMethod;
  contentType?: string | undefined;
  maxBytes?: number | undefined;
  visibility: Visibility;
  cacheControl?: string | undefined;
}

export interface DriverCopyOptions extends DriverCallOptions {
  overwrite: boolean;
  /** CopyOptions.link: share the source's content where the backend can. */
  link?: boolean | undefined;
}

export interface DriverDeleteManyResult {
  /** Keys that failed, with the error. Missing keys are not failures (delete is idempotent). */
  failures: Array<{ key: string; error: StorageError }>;
}

/**
 * What a backend implements. Keys are validated, normalised, storage-relative names
 * ("avatars/me.jpg"): never empty, never with a leading slash or `..`. The driver applies its own
 * root or prefix, and strips it from listed names. Errors: throw StorageError subclasses
 * (NotFoundError, AlreadyExistsError, PermissionDeniedError…) with `cause` set; the facade adds
 * the operation, path and backend, and wraps anything else as E_BACKEND.
 */
export interface Driver {
  /** Backend name for errors and logs: "memory", "fs", "s3", "gcs", "azure"… */
  readonly backend: string;
  readonly capabilities: Capabilities;
  /** The visibility files get when neither the storage nor the call says otherwise. */
  readonly defaultVisibility?: Visibility | undefined;
  /**
   * True for drivers that refuse every write (the `readOnly()` decorator): the facade then refuses
   * writes before touching the body, so an HTTP request being piped in gets a clean error.
   */
  readonly readOnly?: boolean | undefined;

  write(key: string, body: Readable, options: DriverWriteOptions): Promise<DriverWriteResult>;
  /** Throws NotFoundError for a missing key, RangeNotSatisfiableError when range.start >= size. */
  read(key: string, options: DriverReadOptions): Promise<Readable>;
  /** Throws NotFoundError for a missing key. */
  stat(key: string, options: DriverCallOptions): Promise<ObjectStat>;
  /** `prefix` is "" (the root) or a directory ending in "/". One service page per call. */
  listPage(prefix: string, options: DriverListOptions): Promise<ListPage>;
  /** Must succeed when the key does not exist. */
  delete(key: string, options: DriverCallOptions): Promise<void>;

  // The optional members below are properties that may hold `undefined`, not optional methods: a
  // driver compiled without exactOptionalPropertyTypes may declare them `X | undefined` (or
  // `Driver["x"]`), and its .d.ts must still satisfy Driver for a consumer compiled with it.

  /**
   * Optional fast paths for bodies that are in memory anyway (small files): the facade calls
   * `writeBytes` instead of `write` when the whole body is in memory, and `readBytes` for
   * `readBytes()`/`readText()`, skipping stream machinery they do not need. Same contract as
   * `write`/`read` otherwise. `readBytes` must return bytes the caller may keep and mutate.
   */
  writeBytes?:
    | ((key: string, bytes: Uint8Array, options: DriverWriteOptions) => Promise<DriverWriteResult>)
    | undefined;
  readBytes?: ((key: string, options: DriverReadOptions) => Promise<Uint8Array>) | undefined;
  /**
   * The StorageError for an error a stream from `read` failed with after `read` returned (a
   * reset mid-body, a checksum mismatch at the end): the driver knows its SDK's errors. Without
   * it the facade's generic mapping applies. Every such error reaches the caller typed either way.
   */
  streamError?: ((error: unknown, key: string) => StorageError) | undefined;
  exists?: ((key: string, options: DriverCallOptions) => Promise<boolean>) | undefined;
  deleteMany?: ((keys: string[], options: DriverCallOptions) => Promise<DriverDeleteManyResult>) | undefined;
  copy?: ((from: string, to: string, options: DriverCopyOptions) => Promise<void>) | undefined;
  move?: ((from: string, to: string, options: DriverCopyOptions) => Promise<void>) | undefined;
  /** Unsigned URL of a key (endpoint style). The facade prefers a configured `publicUrl` base. */
  publicUrl?: ((key: string) => string) | undefined;
  signedUrl?: ((key: string, options: DriverSignedUrlOptions) => Promise<string>) | undefined;
  signedUpload?:
    | ((key: string, options: DriverSignedUploadOptions) => Promise<Omit<SignedUpload, "name">>)
    | undefined;
  setVisibility?:
    | ((key: string, visibility: Visibility, options: DriverCallOptions) => Promise<void>)
    | undefined;
  getVisibility?: ((key: string, options: DriverCallOptions) => Promise<Visibility>) | undefined;
  /** The absolute local path of a key, for drivers whose files are real files (fs). */
  path?: ((key: string) => string) | undefined;
  /** Where the files are, for tools and logs (the same account as its backend's `describe`): never a secret. */
  describe?: (() => BackendDescription) | undefined;
  /**
   * Whether the service keeps deleted or overwritten files recoverable (bucket versioning, soft
   * delete), for deployment checks. Resolves undefined when these credentials may not ask.
   */
  dataProtection?: ((options: DriverCallOptions) => Promise<DataProtection | undefined>) | undefined;
  /**
   * Makes every write so far durable, for drivers that may defer it (fs with `durability:
   * "batch"`). Absent: a write is durable when it returns.
   */
  flush?: ((options: DriverCallOptions) => Promise<void>) | undefined;
  /** Releases sockets, timers, file handles (and flushes what `flush` would). */
  close?: (() => Promise<void>) | undefined;
}

// ---------------------------------------------------------------------------------------------
// Backend definitions: how the config registry builds a driver from a URL / options, and what it
// needs to know about a backend without knowing the backend (core never switches on its name).

export interface BackendUrlContext {
  /** The environment variable (or config key) the URL came from, for error messages. */
  source: string;
  /** The storage name ("default", "staticfiles"…): drivers read per-storage secret variables by it. */
  storageName: string;
  env: Record<string, string | undefined>;
  /**
   * The URL's query parameters, already parsed by `urlParams` (and removed from the URL). The
   * registry adds them to the options `fromUrl` returns; they are here for cross-checks.
   */
  params: Readonly<Record<string, unknown>>;
}

/**
 * Where a storage keeps its files, for the layout rules: two storages whose locations are equal or
 * nested are refused (static files would overwrite uploads; a private file would be reachable
 * through a public storage).
 */
export type StorageLocation =
  /** A local directory (absolute). The registry resolves symlinks before comparing. */
  | { kind: "dir"; path: string }
  | {
      kind: "bucket";
      /** Buckets of different services never overlap ("s3", "gs", "azure", "r2"…). */
      service: string;
      /** What scopes bucket names within the service: an endpoint, an account. Compared as is. */
      namespace: string;
      bucket: string;
      /** "" for the whole bucket, else "a/b/" (no leading slash, one trailing slash). */
      prefix: string;
    }
  /** Shares nothing with any other storage (memory), or a layout nobody can tell. */
  | { kind: "isolated" };

/** A per-storage environment variable a backend reads (a secret, or the path of one). */
export interface SecretVariable {
  /** The variable, built with `storageVariable(storageName, suffix)`: STORAGES_MEDIA_SECRET_ACCESS_KEY. */
  name: string;
  /** The option its value fills ("credentials"), so messages about that option name the variable. */
  option: string;
}

/** What `describe()` shows of a storage's backend side: safe to print, so never a secret. */
export interface BackendDescription {
  /** The location for people: "s3://bucket/prefix", "/var/lib/app/media". */
  location: string;
  /** Settings worth showing (region, endpoint, profile, part size…): plain values, never a secret. */
  settings?: Readonly<Record<string, string | number | boolean>> | undefined;
  /** The driver's own public base URL (fs `baseUrl`), when it has one besides the storage's `publicUrl`. */
  publicUrl?: string | undefined;
}

/** What local mode gives the backend of local folders for each storage. */
export interface LocalModeContext {
  storageName: string;
  /** Absolute directory of this storage (`STORAGES_LOCAL_ROOT/<name>`); may not exist yet. */
  directory: string;
  /** URL path the application serves this storage under (`/storages/<name>/`). */
  baseUrl: string;
  env: Record<string, string | undefined>;
}

/** Turns one query parameter's text into its option's value; throws ConfigError naming `where`. */
export type UrlParamParser = (value: string, where: string) => unknown;

/**
 * A driver package exports one of these as `backend`. The config registry imports the package
 * lazily, when a storage in use has one of its schemes, so an app that only uses the filesystem
 * never loads a cloud SDK. Everything core's configuration does per backend — overlap rules,
 * secret variables, local mode, descriptions, validation — comes from these fields, so a
 * third-party backend filling them gets the same protection as the bundled ones.
 */
export interface BackendDefinition<Options extends object = Record<string, unknown>> {
  /** Canonical name, e.g. "s3". */
  readonly name: string;
  /** URL schemes that select this backend, e.g. ["s3"]. */
  readonly schemes: readonly string[];
  /** Every option the driver accepts (config validation rejects the others by name). */
  readonly optionKeys: readonly string[];
  /**
   * The query parameters its URLs take, each filling the option of the same name, with the parser
   * of its value (core exports them as `urlParam`). The registry parses them, refuses unknown ones
   * with the closest valid name, and removes them from the URL `fromUrl` receives. Without this
   * field, the parameters stay in the URL for `fromUrl` (and must be among `optionKeys`).
   */
  readonly urlParams?: Readonly<Record<string, UrlParamParser>> | undefined;
  /**
   * Driver options from a storage URL's location (`s3://bucket/prefix`) and the environment
   * (secrets come from separate variables, never from the URL). Throws ConfigError naming
   * `context.source` and the fix. Storage-level parameters (visibility, overwrite, publicUrl/
   * baseUrl, expiresIn, timeout, readOnly, allowOverlap) are removed by the registry first.
   */
  fromUrl(url: URL, context: BackendUrlContext): Options;
  /**
   * Checks every option without touching the network — the same checks `create` makes — and
   * throws an `OptionError` naming the option, which the registry turns into a message naming the
   * variable or config key that holds it. `load()` calls it for every storage.
   */
  validate?(options: Options): void;
  /** Where the files are, for the overlap rules. Without it: isolated (never compared). */
  location?(options: Options): StorageLocation;
  /** A secret-free description for `describe()` and tools. Without it: the backend's name. */
  describe?(options: Options): BackendDescription;
  /**
   * The per-storage variables it reads (`STORAGES_<NAME>_…`), for messages that say where a secret
   * goes, for warnings about variables nobody reads (a misspelt secret), and so their values are
   * kept out of every configuration message.
   */
  secretVariables?(storageName: string): readonly SecretVariable[];
  /**
   * Only for the backend of local folders (the `file` scheme): the options of a storage in local
   * mode, a folder served by the app under `context.baseUrl`.
   */
  localOptions?(context: LocalModeContext): Options;
  /** Validates options (ConfigError with a fix) and builds the driver. */
  create(options: Options): Driver;
}
