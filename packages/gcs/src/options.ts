/**
 * Driver options, their validation, and building the @google-cloud/storage client from them.
 */
import { createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import {
  Storage as GcsClient,
  type StorageOptions as GcsClientOptions,
  IdempotencyStrategy,
} from "@google-cloud/storage";
import {
  type BackendDescription,
  type ByteSize,
  DEFAULT_RETRY,
  describeValue,
  OptionChecker,
} from "@storages/core";
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
  /**
   * A client you built yourself; then projectId, credentials, keyFilename and endpoint are not
   * allowed. Build it with `retryOptions: { autoRetry: false }`: retries are the storage's (its
   * `retry` option), and a client that retries on its own is refused.
   */
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
  chunkSize?: ByteSize | undefined;
  /** Bodies up to this size whose bytes are already in memory go in one request. Default 8 MiB. */
  singleRequestThreshold?: ByteSize | undefined;
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
  projectId: string | undefined;
  /** Where the credentials come from, in words (never the credentials). */
  credentialSource: string;
}

type SdkRetryOptions = NonNullable<GcsClientOptions["retryOptions"]>;

const check: OptionChecker = new OptionChecker("GCS storage");
function fail(option: string, problem: string): never {
  return check.fail(option, problem);
}

/** "media", "/media/", "media//x" → "media/", "media/x/". Empty → "". */
export function normalizeRootPrefix(prefix: string | undefined): string {
  if (prefix === undefined) return "";
  if (typeof prefix !== "string") fail("prefix", `must be a string, not ${describeValue(prefix)}`);
  const parts = prefix.split("/").filter((part) => part !== "");
  for (const part of parts) {
    if (part === "." || part === "..")
      fail("prefix", `must not contain "." or ".." segments, not "${prefix}"`);
  }
  return parts.length === 0 ? "" : `${parts.join("/")}/`;
}

export function resolveOptions(options: GcsDriverOptions): ResolvedOptions {
  check.keys(options, OPTION_KEYS, '{ bucket: "my-app-media" }');
  const { bucket } = options;
  if (typeof bucket !== "string" || !BUCKET_NAME.test(bucket)) {
    fail(
      "bucket",
      `must be a GCS bucket name (3-222 lower-case letters, digits, "-", "_" and "."), not ${describeValue(bucket)}`,
    );
  }
  if (options.storage !== undefined) {
    if (options.storage.retryOptions?.autoRetry !== false) {
      fail(
        "storage",
        "retries on its own (retryOptions.autoRetry): build it with retryOptions: { autoRetry: false }. Retries are the storage's own policy (its retry option), and the SDK's retries on top of them would multiply every attempt (and its retried downloads can crash the process on a 503)",
      );
    }
    const conflicting = (
      ["projectId", "credentials", "keyFilename", "endpoint", "authenticateEndpoint"] as const
    ).filter((key) => options[key] !== undefined);
    if (conflicting.length > 0) {
      fail(
        "storage",
        `cannot go with ${conflicting.join(", ")}: pass either a ready client or those options (configure the client instead)`,
      );
    }
  }
  if (options.credentials !== undefined && options.keyFilename !== undefined) {
    fail("credentials", "cannot go with keyFilename: pass one of them");
  }
  check.string("projectId", options.projectId);
  const endpoint = check.httpUrl("endpoint", options.endpoint, "http://127.0.0.1:9199");
  const authenticateEndpoint = check.boolean("authenticateEndpoint", options.authenticateEndpoint);
  const chunkSize = check.size("chunkSize", options.chunkSize, { min: 0 }) ?? DEFAULT_CHUNK_SIZE;
  if (chunkSize % CHUNK_GRANULARITY !== 0) {
    fail(
      "chunkSize",
      `must be a multiple of 256 KiB (262144 bytes), or 0 for single-request uploads, not ${chunkSize}`,
    );
  }
  const deleteConcurrency =
    check.integer("deleteConcurrency", options.deleteConcurrency, { min: 1, max: 1000 }) ??
    DEFAULT_DELETE_CONCURRENCY;
  return {
    bucket,
    prefix: normalizeRootPrefix(options.prefix),
    uniformAccess: check.boolean("uniformAccess", options.uniformAccess) ?? false,
    chunkSize,
    singleRequestThreshold:
      check.size("singleRequestThreshold", options.singleRequestThreshold, { min: 0 }) ??
      DEFAULT_SINGLE_REQUEST_THRESHOLD,
    deleteConcurrency,
    endpoint,
    projectId: options.projectId,
    credentialSource: options.storage
      ? "the given client's"
      : options.credentials !== undefined || options.keyFilename !== undefined
        ? "a service-account key"
        : "Application Default Credentials",
    // Unauthenticated endpoint and no key: the only way left to sign would be GoogleAuth probing
    // the GCE metadata server, which an emulator setup must never reach out to.
    cannotSign:
      endpoint !== undefined &&
      !authenticateEndpoint &&
      options.credentials === undefined &&
      options.keyFilename === undefined
        ? `gcs: signing needs a service-account key, and this storage uses the unauthenticated endpoint ${endpoint} without one. Emulators check no signature: pass any service-account key as credentials (or keyFilename).`
        : undefined,
  };
}

/**
 * Everything `load()` can check without the network: the options, and the service-account key
 * (parsed, or read from keyFilename) — so a broken key fails at boot, not at the first upload.
 */
export function validateOptions(options: GcsDriverOptions): void {
  resolveOptions(options);
  if (options.credentials !== undefined) parseServiceAccountKey(options.credentials, "credentials");
  else if (options.keyFilename !== undefined) readKeyFile(options.keyFilename);
}

/**
 * A service-account key from an object or JSON text. Other credential types (authorized_user,
 * external_account) are for Application Default Credentials: Google deprecated loading them from
 * arbitrary JSON because such a file can make the library fetch from any URL or run commands.
 */
export function parseServiceAccountKey(
  input: ServiceAccountKey | string,
  option: "credentials" | "keyFilename",
): ServiceAccountKey {
  const what = option === "keyFilename" ? "names a file that" : "";
  const subject = (problem: string) => (what ? `${what} ${problem}` : problem);
  let key: unknown = input;
  if (typeof input === "string") {
    try {
      key = JSON.parse(input);
    } catch {
      // Never echo the text: it is a private key.
      fail(option, subject('is not valid JSON: use the whole service-account key file (it starts with "{")'));
    }
  }
  const k = key as Partial<ServiceAccountKey> | null;
  if (typeof k !== "object" || k === null) fail(option, subject("must be a service-account key object"));
  if (k.type !== undefined && k.type !== "service_account") {
    fail(
      option,
      subject(
        `is a "${describeValue(k.type)}" credential; only service-account keys are accepted here. For other credential types point GOOGLE_APPLICATION_CREDENTIALS at the file and omit credentials (Application Default Credentials)`,
      ),
    );
  }
  if (
    typeof k.client_email !== "string" ||
    typeof k.private_key !== "string" ||
    !k.private_key.includes("PRIVATE KEY")
  ) {
    fail(option, subject("lacks client_email or private_key: use the JSON key file of a service account"));
  }
  try {
    // Parsed now, not at the first signed URL (where it failed as a bare "DECODER routines").
    createPrivateKey(k.private_key as string);
  } catch {
    fail(
      option,
      subject(
        "has a private_key that is not a readable PEM key (damaged when copied? its \\n escaped twice?): use the JSON key file as downloaded",
      ),
    );
  }
  return k as ServiceAccountKey;
}

function readKeyFile(path: string): ServiceAccountKey {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as { code?: string }).code ?? "unreadable";
    fail(
      "keyFilename",
      `names ${describeValue(path)}, which cannot be read (${code}): check the path and the file's permissions`,
    );
  }
  return parseServiceAccountKey(text, "keyFilename");
}

/** The secret-free account of a GCS storage, for its backend's and its driver's `describe()`. */
export function describeGcsOptions(o: ResolvedOptions): BackendDescription {
  const settings: Record<string, string | number | boolean> = {
    uniformAccess: o.uniformAccess,
    chunkSize: o.chunkSize,
    singleRequestThreshold: o.singleRequestThreshold,
    credentials: o.credentialSource,
  };
  if (o.projectId !== undefined) settings.projectId = o.projectId;
  if (o.endpoint !== undefined) settings.endpoint = o.endpoint;
  return { location: `gs://${o.bucket}/${o.prefix}`, settings };
}

/**
 * The SDK never retries a call: the storage's retry policy (core's, the same on every backend)
 * decides, so the two never multiply. (The SDK's retried downloads also crash the process on a
 * 503: teeny-request pipes the retried response into the stream it already gave up.)
 */
const NO_SDK_RETRIES: SdkRetryOptions = { autoRetry: false, maxRetries: 0 };

/**
 * What resumes a chunked upload's session after a failed chunk: the SDK asks the session how far
 * it got and sends the rest from its copy of the chunk. That is not a repeat of the call (which
 * could not resend a stream), so the storage's retry policy cannot do it; it runs within the
 * same budget as the policy's defaults. Resuming a session is always safe (the session, not the
 * request, creates the object), hence RetryAlways.
 */
const CHUNK_RESUMES: SdkRetryOptions = {
  autoRetry: true,
  maxRetries: DEFAULT_RETRY.attempts - 1,
  retryDelayMultiplier: 2,
  maxRetryDelay: DEFAULT_RETRY.maxDelay / 1000,
  totalTimeout: DEFAULT_RETRY.budget / 1000,
  idempotencyStrategy: IdempotencyStrategy.RetryAlways,
};

/**
 * The SDK clients for these options: the one every call uses (no retries of its own), and the one
 * chunked uploads stream through (it resumes their sessions). A caller's own client serves both.
 */
export function createClients(
  options: GcsDriverOptions,
  resolved: ResolvedOptions,
): { client: GcsClient; chunkedUploads: GcsClient } {
  if (options.storage !== undefined) return { client: options.storage, chunkedUploads: options.storage };
  const common = clientOptions(options, resolved);
  const client = new GcsClient({ ...common, retryOptions: NO_SDK_RETRIES });
  return {
    client,
    chunkedUploads:
      resolved.chunkSize > 0 ? new GcsClient({ ...common, retryOptions: CHUNK_RESUMES }) : client,
  };
}

function clientOptions(options: GcsDriverOptions, resolved: ResolvedOptions): GcsClientOptions {
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
  return clientOptions;
}
