/**
 * S3 driver options: what users may set, validated once with messages that say what to change,
 * and resolved against the provider profile into the settings the driver runs on.
 */
import type { S3Client, S3ClientConfig } from "@aws-sdk/client-s3";
import { ConfigError, type Visibility } from "@storages/core";
import {
  type ChecksumMode,
  inferProfile,
  isProfileName,
  PROFILE_NAMES,
  PROFILES,
  type ProfileName,
  type ProviderProfile,
} from "./profiles.js";

/** S3's own limits. */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
export const MAX_PART_SIZE = 5 * 1024 * 1024 * 1024;
export const MAX_PARTS = 10_000;
/** Largest object CopyObject copies in one request; above it, UploadPartCopy. */
export const MAX_SINGLE_COPY_SIZE = 5 * 1024 * 1024 * 1024;

export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
export const DEFAULT_QUEUE_SIZE = 4;
export const DEFAULT_COPY_PART_SIZE = 512 * 1024 * 1024;

export type ServerSideEncryption = "AES256" | "aws:kms" | "aws:kms:dsse";

export interface S3DriverOptions {
  /** Bucket name. Required. */
  bucket: string;
  /** Key prefix every name is stored under ("media" → "media/avatars/a.jpg"). Default: the bucket root. */
  prefix?: string | undefined;
  /** Provider profile: defaults for the options below. Default: inferred from `endpoint` ("aws" without one). */
  profile?: ProfileName | undefined;
  /** Region used for signing. AWS: the bucket's region (else the SDK's AWS_REGION/config). Others: the profile's. */
  region?: string | undefined;
  /** Service URL for S3-compatible servers, e.g. "http://127.0.0.1:9000". Default: AWS (or the profile's). */
  endpoint?: string | undefined;
  /**
   * Endpoint to put into signed URLs and signed uploads when browsers reach the service under
   * another hostname than this process does (Docker: "http://minio:9000" inside, "https://s3.example.com" outside).
   */
  signingEndpoint?: string | undefined;
  /** Path-style URLs (`host/bucket/key`). Default: the profile's (true for every non-AWS server with a custom endpoint). */
  forcePathStyle?: boolean | undefined;
  /**
   * Explicit keys. Default: the AWS SDK's credential chain (AWS_* variables, shared config, SSO,
   * container/instance roles). Never logged, never in errors, never in `JSON.stringify(driver)`.
   */
  credentials?: S3ClientConfig["credentials"] | undefined;
  /** A caller-built client (its endpoint, credentials, retries, agent are used as they are). */
  client?: S3Client | undefined;
  /** Visibility files get when the storage does not say. Default "private". */
  visibility?: Visibility | undefined;
  /**
   * Object ACLs. true: per-file visibility through canned ACLs. false: the bucket decides (bucket
   * policy); per-file visibility is refused. "auto": ask the bucket once (GetBucketOwnershipControls)
   * and use ACLs unless they are enforced off. Default: the profile's.
   */
  acl?: boolean | "auto" | undefined;
  /** Defaults applied to every upload unless the call sets them. */
  cacheControl?: string | undefined;
  contentDisposition?: string | undefined;
  serverSideEncryption?: ServerSideEncryption | undefined;
  /** KMS key for serverSideEncryption "aws:kms" / "aws:kms:dsse". */
  sseKmsKeyId?: string | undefined;
  /** e.g. "STANDARD_IA", "INTELLIGENT_TIERING", "GLACIER_IR". */
  storageClass?: string | undefined;
  /** Multipart part size in bytes (5 MiB – 5 GiB). Default 8 MiB; memory per upload ≈ (queueSize + 1) × partSize. */
  partSize?: number | undefined;
  /** Parts uploaded in parallel per upload. Default 4. */
  queueSize?: number | undefined;
  /** Override the profile's checksum mode (see ChecksumMode). */
  checksums?: ChecksumMode | undefined;
  /** Override the profile: whether the server honours If-None-Match on PutObject. */
  conditionalWrite?: boolean | undefined;
  /** Override the profile: whether the server accepts signed POST policies. */
  postPolicy?: boolean | undefined;
}

/** Everything the driver runs on, resolved and validated. */
export interface ResolvedS3Options {
  bucket: string;
  /** "" or ends with "/". */
  prefix: string;
  profile: ProviderProfile;
  region: string | undefined;
  endpoint: string | undefined;
  signingEndpoint: string | undefined;
  forcePathStyle: boolean;
  checksums: ChecksumMode;
  acl: boolean | "auto";
  postPolicy: boolean;
  conditionalWrite: boolean;
  conditionalMultipart: boolean;
  batchDelete: boolean;
  visibility: Visibility;
  cacheControl: string | undefined;
  contentDisposition: string | undefined;
  serverSideEncryption: ServerSideEncryption | undefined;
  sseKmsKeyId: string | undefined;
  storageClass: string | undefined;
  partSize: number;
  queueSize: number;
}

export const OPTION_KEYS = [
  "bucket",
  "prefix",
  "profile",
  "region",
  "endpoint",
  "signingEndpoint",
  "forcePathStyle",
  "credentials",
  "client",
  "visibility",
  "acl",
  "cacheControl",
  "contentDisposition",
  "serverSideEncryption",
  "sseKmsKeyId",
  "storageClass",
  "partSize",
  "queueSize",
  "checksums",
  "conditionalWrite",
  "postPolicy",
] as const satisfies readonly (keyof S3DriverOptions)[];

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const SSE_VALUES: readonly ServerSideEncryption[] = ["AES256", "aws:kms", "aws:kms:dsse"];

function fail(message: string): never {
  throw new ConfigError(`S3 storage: ${message}`);
}

function checkUrl(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string")
    fail(`${name} must be a URL string such as "https://s3.example.com", got ${typeof value}.`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    fail(
      `${name} ${JSON.stringify(value)} is not a URL: write it with its scheme, e.g. "http://127.0.0.1:9000".`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    fail(`${name} must use http: or https:, got ${url.protocol}`);
  if (url.username || url.password) {
    fail(
      `${name} must not contain credentials (user:password@): pass them as \`credentials\` or through the environment.`,
    );
  }
  if (url.search || url.hash) fail(`${name} must not have a query string or fragment.`);
  return url.href.replace(/\/+$/, "");
}

function checkBoolean(name: string, value: unknown): boolean | undefined {
  if (value === undefined || typeof value === "boolean") return value;
  fail(`${name} must be true or false, got ${JSON.stringify(value)}.`);
}

function checkString(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.trim() === "") fail(`${name} must be a non-empty string.`);
  return value;
}

function checkInteger(
  name: string,
  value: unknown,
  min: number,
  max: number,
  unit: string,
): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    fail(`${name} must be a whole number from ${min} to ${max} ${unit}, got ${JSON.stringify(value)}.`);
  }
  return value;
}

/** "media", "/media/", "media//x" → "media/", "media/x/"; refuses what would escape or confuse key mapping. */
export function normalizeKeyPrefix(prefix: unknown): string {
  if (prefix === undefined || prefix === "") return "";
  if (typeof prefix !== "string") fail(`prefix must be a string, got ${typeof prefix}.`);
  const segments = prefix.split("/").filter((segment) => segment !== "");
  for (const segment of segments) {
    if (segment === "." || segment === "..")
      fail(
        `prefix ${JSON.stringify(prefix)} contains "${segment}": give a plain key prefix such as "media".`,
      );
    // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters in keys
    if (/[\u0000-\u001f\u007f\\]/.test(segment))
      fail(`prefix ${JSON.stringify(prefix)} contains a control character or backslash.`);
  }
  return segments.length === 0 ? "" : `${segments.join("/")}/`;
}

export function resolveOptions(options: S3DriverOptions): ResolvedS3Options {
  if (options === null || typeof options !== "object")
    fail("options must be an object with at least { bucket }.");
  const known = new Set<string>(OPTION_KEYS);
  for (const key of Object.keys(options)) {
    if (!known.has(key)) fail(`unknown option \`${key}\` (it takes ${OPTION_KEYS.join(", ")}).`);
  }
  const { bucket } = options;
  if (typeof bucket !== "string" || bucket === "")
    fail('bucket is required, e.g. { bucket: "my-app-media" }.');
  if (!BUCKET_NAME.test(bucket) || bucket.includes("..")) {
    fail(
      `bucket ${JSON.stringify(bucket)} is not a valid bucket name: 3–63 lower-case letters, digits, "." and "-", starting and ending with a letter or digit (a key prefix goes in \`prefix\`).`,
    );
  }
  if (options.profile !== undefined && !isProfileName(options.profile)) {
    fail(`profile ${JSON.stringify(options.profile)} is unknown: use one of ${PROFILE_NAMES.join(", ")}.`);
  }
  const endpoint = checkUrl("endpoint", options.endpoint);
  const signingEndpoint = checkUrl("signingEndpoint", options.signingEndpoint);
  const profile = PROFILES[options.profile ?? inferProfile(endpoint)];
  const region = checkString("region", options.region) ?? profile.region;
  if (options.client !== undefined) {
    if (typeof (options.client as { send?: unknown }).send !== "function")
      fail("client must be an S3Client from @aws-sdk/client-s3.");
    if (options.credentials !== undefined || endpoint !== undefined) {
      fail("pass either a client or endpoint/credentials, not both: a caller-built client is used as it is.");
    }
  } else if (endpoint === undefined && profile.endpointRequired) {
    fail(
      `the ${profile.label} profile needs an endpoint${profile.name === "r2" ? ' ("https://<account-id>.r2.cloudflarestorage.com")' : ' (e.g. "http://127.0.0.1:9000")'}.`,
    );
  }
  if (options.credentials !== undefined) {
    const c = options.credentials as { accessKeyId?: unknown; secretAccessKey?: unknown };
    if (typeof options.credentials !== "function") {
      if (
        typeof c.accessKeyId !== "string" ||
        c.accessKeyId === "" ||
        typeof c.secretAccessKey !== "string" ||
        c.secretAccessKey === ""
      ) {
        fail(
          "credentials must have a non-empty accessKeyId and secretAccessKey (or be a credential provider function).",
        );
      }
    }
  }
  const visibility = options.visibility ?? "private";
  if (visibility !== "public" && visibility !== "private")
    fail(`visibility must be "public" or "private", got ${JSON.stringify(visibility)}.`);
  const acl = options.acl ?? profile.acl;
  if (acl !== true && acl !== false && acl !== "auto")
    fail(`acl must be true, false or "auto", got ${JSON.stringify(acl)}.`);
  const checksums = options.checksums ?? profile.checksums;
  if (checksums !== "when_required" && checksums !== "when_supported") {
    fail(`checksums must be "when_required" or "when_supported", got ${JSON.stringify(checksums)}.`);
  }
  const sse = options.serverSideEncryption;
  if (sse !== undefined && !SSE_VALUES.includes(sse))
    fail(`serverSideEncryption must be one of ${SSE_VALUES.join(", ")}, got ${JSON.stringify(sse)}.`);
  const sseKmsKeyId = checkString("sseKmsKeyId", options.sseKmsKeyId);
  if (sseKmsKeyId !== undefined && sse !== "aws:kms" && sse !== "aws:kms:dsse")
    fail('sseKmsKeyId needs serverSideEncryption "aws:kms" or "aws:kms:dsse".');
  const conditionalWrite =
    checkBoolean("conditionalWrite", options.conditionalWrite) ?? profile.conditionalWrite;
  return {
    bucket,
    prefix: normalizeKeyPrefix(options.prefix),
    profile,
    region,
    endpoint:
      endpoint ?? (profile.endpoint && region ? profile.endpoint.replace("{region}", region) : undefined),
    signingEndpoint,
    forcePathStyle: checkBoolean("forcePathStyle", options.forcePathStyle) ?? profile.forcePathStyle,
    checksums,
    acl,
    postPolicy: checkBoolean("postPolicy", options.postPolicy) ?? profile.postPolicy,
    conditionalWrite,
    // Asserting conditional writes for a server vouches for single requests only.
    conditionalMultipart: profile.conditionalMultipart && conditionalWrite,
    batchDelete: profile.batchDelete,
    visibility,
    cacheControl: checkString("cacheControl", options.cacheControl),
    contentDisposition: checkString("contentDisposition", options.contentDisposition),
    serverSideEncryption: sse,
    sseKmsKeyId,
    storageClass: checkString("storageClass", options.storageClass),
    partSize:
      checkInteger("partSize", options.partSize, MIN_PART_SIZE, MAX_PART_SIZE, "bytes") ?? DEFAULT_PART_SIZE,
    queueSize: checkInteger("queueSize", options.queueSize, 1, 64, "parts") ?? DEFAULT_QUEUE_SIZE,
  };
}
