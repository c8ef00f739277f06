/**
 * Driver options, their validation, and building the @google-cloud/storage client from them.
 */
import { readFileSync } from "node:fs";
import { Storage as GcsClient, type StorageOptions as GcsClientOptions } from "@google-cloud/storage";
import { ConfigError } from "@storages/core";
import { GoogleAuth, JWT } from "google-auth-library";

/** The fields of a service-account key file this driver uses. */
export interface ServiceAccountKey {
  type?: string | undefined;
  client_email: string;
  private_key: string;
  private_key_id?: string | undefined;
  project_id?: string | undefined;
}

export interface GcsDriverOptions {
  /** Bucket name. */
  bucket: string;
  /** Key prefix inside the bucket ("media/"); every name is stored under it and listed relative to it. */
  prefix?: string | undefined;
  /** Project id. Defaults to the key's project or the one Application Default Credentials find. */
  projectId?: string | undefined;
  /**
   * A service-account key: the parsed JSON or its text. Omit it (and keyFilename) to use
   * Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS, Workload Identity, Cloud Run…
   */
  credentials?: ServiceAccountKey | string | undefined;
  /** Path of a service-account key file (JSON). */
  keyFilename?: string | undefined;
  /** A client you built yourself; then projectId, credentials, keyFilename and endpoint are not allowed. */
  storage?: GcsClient | undefined;
  /**
   * Another API endpoint: an emulator ("http://127.0.0.1:9199") or a private endpoint. Requests
   * to it are not authenticated unless `authenticateEndpoint` is true; signed URLs point at it.
   */
  endpoint?: string | undefined;
  /** Send credentials to `endpoint` too (a private Google endpoint). Default false (emulators). */
  authenticateEndpoint?: boolean | undefined;
  /**
   * The bucket uses uniform bucket-level access: no ACL calls at all, one visibility for the whole
   * storage (public = an allUsers IAM binding on the bucket; private = signed URLs). Default false:
   * every write sets the object's ACL explicitly (publicRead or projectPrivate).
   */
  uniformAccess?: boolean | undefined;
  /**
   * How a stream (or a body above `singleRequestThreshold`) is sent through its resumable session.
   * Default 0: in one streaming request, as @google-cloud/storage itself does by default. Memory is
   * bounded by the stream buffers (back-pressure, nothing accumulates) and there is one request
   * in all; but a connection that breaks mid-way fails the upload (cleanly: nothing becomes
   * visible) and the caller must send it again.
   * A multiple of 256 KiB (Google recommends at least 8 MiB): requests of that many bytes, each kept
   * in memory until GCS acknowledges it, so a dropped connection resumes from the last chunk
   * instead of failing. Worth it for multi-gigabyte uploads over unreliable networks; it costs
   * up to `chunkSize` of memory per upload, and one request per chunk, each waiting for the
   * previous one to be acknowledged.
   */
  chunkSize?: number | undefined;
  /** Bodies up to this size whose bytes are already in memory go in one request. Default 8 MiB. */
  singleRequestThreshold?: number | undefined;
  /** Parallel deletes in deleteMany. Default 16. */
  deleteConcurrency?: number | undefined;
}

export const OPTION_KEYS = [
  "bucket",
  "prefix",
  "projectId",
  "credentials",
  "keyFilename",
  "storage",
  "endpoint",
  "authenticateEndpoint",
  "uniformAccess",
  "chunkSize",
  "singleRequestThreshold",
  "deleteConcurrency",
] as const;

/** GCS's granularity for resumable chunks. */
export const CHUNK_GRANULARITY = 256 * 1024;
/** One streaming request: see `chunkSize`. */
export const DEFAULT_CHUNK_SIZE = 0;
export const DEFAULT_SINGLE_REQUEST_THRESHOLD = 8 * 1024 * 1024;
export const DEFAULT_DELETE_CONCURRENCY = 16;
const SCOPES = ["https://www.googleapis.com/auth/devstorage.full_control"];

/** Bucket naming rules (https://cloud.google.com/storage/docs/buckets#naming), loosely: 3–222 chars. */
const BUCKET_NAME = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;

export interface ResolvedOptions {
  bucket: string;
  prefix: string;
  uniformAccess: boolean;
  chunkSize: number;
  singleRequestThreshold: number;
  deleteConcurrency: number;
  endpoint: string | undefined;
  /** Why this configuration cannot sign URLs, when that is known without asking anyone. */
  cannotSign: string | undefined;
}

function fail(message: string): never {
  throw new ConfigError(message);
}

function nonNegativeInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0)
    fail(`gcs: ${name} must be a non-negative integer, got ${value}.`);
  return value;
}

/** "media", "/media/", "media//x" → "media/", "media/x/". Empty → "". */
export function normalizeRootPrefix(prefix: string | undefined): string {
  if (prefix === undefined) return "";
  const parts = prefix.split("/").filter((part) => part !== "");
  for (const part of parts) {
    if (part === "." || part === "..")
      fail(`gcs: prefix must not contain "." or ".." segments, got "${prefix}".`);
  }
  return parts.length === 0 ? "" : `${parts.join("/")}/`;
}

export function resolveOptions(options: GcsDriverOptions): ResolvedOptions {
  if (typeof options !== "object" || options === null)
    fail("gcs: options must be an object with at least `bucket`.");
  const { bucket } = options;
  if (typeof bucket !== "string" || !BUCKET_NAME.test(bucket)) {
    fail(
      `gcs: bucket must be a GCS bucket name (3-222 lower-case letters, digits, "-", "_" and "."), got ${JSON.stringify(bucket)}.`,
    );
  }
  const unknown = Object.keys(options).filter((key) => !(OPTION_KEYS as readonly string[]).includes(key));
  if (unknown.length > 0)
    fail(`gcs: unknown option(s) ${unknown.join(", ")}. Known: ${OPTION_KEYS.join(", ")}.`);
  if (options.storage !== undefined) {
    const conflicting = (
      ["projectId", "credentials", "keyFilename", "endpoint", "authenticateEndpoint"] as const
    ).filter((key) => options[key] !== undefined);
    if (conflicting.length > 0) {
      fail(
        `gcs: pass either a ready \`storage\` client or ${conflicting.join(", ")}, not both: configure the client instead.`,
      );
    }
  }
  if (options.credentials !== undefined && options.keyFilename !== undefined) {
    fail("gcs: pass either credentials or keyFilename, not both.");
  }
  let endpoint: string | undefined;
  if (options.endpoint !== undefined) {
    try {
      const url = new URL(options.endpoint);
      if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("protocol");
      if (url.username || url.password || url.search) throw new Error("extras");
      endpoint = url.href.replace(/\/+$/, "");
    } catch {
      fail(
        `gcs: endpoint must be an http(s) URL without credentials or query, e.g. "http://127.0.0.1:9199".`,
      );
    }
  }
  const chunkSize = nonNegativeInteger("chunkSize", options.chunkSize, DEFAULT_CHUNK_SIZE);
  if (chunkSize % CHUNK_GRANULARITY !== 0) {
    fail(
      `gcs: chunkSize must be a multiple of 256 KiB (262144 bytes), or 0 for single-request uploads; got ${chunkSize}.`,
    );
  }
  const deleteConcurrency = nonNegativeInteger(
    "deleteConcurrency",
    options.deleteConcurrency,
    DEFAULT_DELETE_CONCURRENCY,
  );
  if (deleteConcurrency < 1) fail("gcs: deleteConcurrency must be at least 1.");
  return {
    bucket,
    prefix: normalizeRootPrefix(options.prefix),
    uniformAccess: options.uniformAccess ?? false,
    chunkSize,
    singleRequestThreshold: nonNegativeInteger(
      "singleRequestThreshold",
      options.singleRequestThreshold,
      DEFAULT_SINGLE_REQUEST_THRESHOLD,
    ),
    deleteConcurrency,
    endpoint,
    // Unauthenticated endpoint and no key: the only way left to sign would be GoogleAuth probing
    // the GCE metadata server, which an emulator setup must never reach out to.
    cannotSign:
      endpoint !== undefined &&
      !options.authenticateEndpoint &&
      options.credentials === undefined &&
      options.keyFilename === undefined
        ? `gcs: signing needs a service-account key, and this storage uses the unauthenticated endpoint ${endpoint} without one. Emulators check no signature: pass any service-account key as credentials (or keyFilename).`
        : undefined,
  };
}

/**
 * A service-account key from an object or JSON text. Other credential types (authorized_user,
 * external_account) are for Application Default Credentials: Google deprecated loading them from
 * arbitrary JSON because such a file can make the library fetch from any URL or run commands.
 */
export function parseServiceAccountKey(input: ServiceAccountKey | string, source: string): ServiceAccountKey {
  let key: unknown = input;
  if (typeof input === "string") {
    try {
      key = JSON.parse(input);
    } catch {
      // Never echo the text: it is a private key.
      fail(
        `gcs: ${source} is not valid JSON. Paste the whole service-account key file (it starts with "{").`,
      );
    }
  }
  const k = key as Partial<ServiceAccountKey> | null;
  if (typeof k !== "object" || k === null) fail(`gcs: ${source} must be a service-account key object.`);
  if (k.type !== undefined && k.type !== "service_account") {
    fail(
      `gcs: ${source} is a "${k.type}" credential; only service-account keys are accepted here. For other credential types point GOOGLE_APPLICATION_CREDENTIALS at the file and omit credentials (Application Default Credentials).`,
    );
  }
  if (
    typeof k.client_email !== "string" ||
    typeof k.private_key !== "string" ||
    !k.private_key.includes("PRIVATE KEY")
  ) {
    fail(`gcs: ${source} lacks client_email or private_key: use the JSON key file of a service account.`);
  }
  return k as ServiceAccountKey;
}

function readKeyFile(path: string): ServiceAccountKey {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as { code?: string }).code ?? "unreadable";
    fail(`gcs: cannot read keyFilename "${path}" (${code}). Check the path and the file's permissions.`);
  }
  return parseServiceAccountKey(text, `keyFilename "${path}"`);
}

/** The SDK client for these options (or the caller's own). */
export function createClient(options: GcsDriverOptions, resolved: ResolvedOptions): GcsClient {
  if (options.storage !== undefined) return options.storage;
  const clientOptions: GcsClientOptions = {};
  if (options.projectId !== undefined) clientOptions.projectId = options.projectId;
  if (resolved.endpoint !== undefined) {
    clientOptions.apiEndpoint = resolved.endpoint;
    clientOptions.useAuthWithCustomEndpoint = options.authenticateEndpoint ?? false;
  }
  const key =
    options.credentials !== undefined
      ? parseServiceAccountKey(options.credentials, "credentials")
      : options.keyFilename !== undefined
        ? readKeyFile(options.keyFilename)
        : undefined;
  if (key !== undefined) {
    // A JWT client directly: the SDK's `credentials` option goes through GoogleAuth.fromJSON,
    // which warns on every construction and accepts credential types that fetch arbitrary URLs.
    const jwt = new JWT({
      email: key.client_email,
      key: key.private_key,
      keyId: key.private_key_id,
      scopes: SCOPES,
    });
    const auth = new GoogleAuth({
      authClient: jwt,
      scopes: SCOPES,
      projectId: options.projectId ?? key.project_id,
    });
    // The URL signer asks for the email this way; without it GoogleAuth probes the GCE metadata server.
    auth.jsonContent = {
      type: "service_account",
      client_email: key.client_email,
      private_key: key.private_key,
    };
    clientOptions.authClient = auth;
    clientOptions.projectId ??= key.project_id;
  }
  return new GcsClient(clientOptions);
}
