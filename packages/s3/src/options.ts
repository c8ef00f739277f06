/**
 * S3 driver options: what users may set, validated once with messages that say what to change,
 * and resolved against the provider profile into the settings the driver runs on.
 */
import type { S3Client, S3ClientConfig } from "@aws-sdk/client-s3";
import {
  type BackendDescription,
  type ByteSize,
  describeValue,
  OptionChecker,
  type Visibility,
} from "@storages/core";
import {
  type ChecksumMode,
  inferProfile,
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

/**
 * S3's smallest part, as lib-storage and rclone default to. The part size is the unit of an
 * upload's memory: a streamed body of unknown size takes whole part buffers, so a 10 MiB upload
 * held 16 MiB in two 8 MiB parts and holds 10 MiB in two of 5. With 100 concurrent 10 MiB uploads
 * into RGW through @storages/http, side by side: peak RSS 177–200 vs 206–213 MiB (183–190 vs 194
 * with --max-semi-space-size=2) at the same throughput within the noise — the pool's live buffers
 * also set how much garbage V8 lets pile up before it collects (bench/uploads.mjs).
 * A stream of unknown size can then be up to 10,000 × 5 MiB ≈ 48.8 GiB (pass `size`, or raise
 * partSize, for more).
 */
export const DEFAULT_PART_SIZE = 5 * 1024 * 1024;
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
  /**
   * Multipart part size, in bytes (a number, or a size such as "16MiB"), 5 MiB – 5 GiB. Default
   * 5 MiB; memory per upload ≈ (queueSize + 1) × partSize; a stream of unknown size can be up to
   * 10,000 parts (≈ 48.8 GiB at the default).
   */
  partSize?: ByteSize | undefined;
  /** Parts uploaded in parallel per upload. Default 4. */
  queueSize?: number | undefined;
  /**
   * Part buffers all of this storage's streamed uploads hold at once (memory ≤ maxPartBuffers ×
   * partSize, however many uploads run); an upload that needs one more waits until another upload
   * has sent a part. The buffers are reused from upload to upload. Default queueSize + 1 (one
   * upload's whole window, so a lone upload never waits: 5 × 5 MiB = 25 MiB at the defaults).
   */
  maxPartBuffers?: number | undefined;
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
  maxPartBuffers: number;
  /** Where the credentials come from, in words (never the credentials). */
  credentialSource: string;
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
  "maxPartBuffers",
  "checksums",
  "conditionalWrite",
  "postPolicy",
] as const satisfies readonly (keyof S3DriverOptions)[];

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/** AWS region names (eu-west-1, us-gov-west-1, ap-southeast-5…). */
const AWS_REGION = /^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/;
/** Other servers take any token (R2 "auto", MinIO "us-east-1", Garage "garage"), never a URL or spaces. */
const ANY_REGION = /^[a-z0-9][a-z0-9_-]{0,62}$/i;
const SSE_VALUES: readonly ServerSideEncryption[] = ["AES256", "aws:kms", "aws:kms:dsse"];
const CHECKSUM_MODES: readonly ChecksumMode[] = ["when_required", "when_supported"];

const check: OptionChecker = new OptionChecker("S3 storage");
function fail(option: string, problem: string): never {
  return check.fail(option, problem);
}

/** "media", "/media/", "media//x" → "media/", "media/x/"; refuses what would escape or confuse key mapping. */
export function normalizeKeyPrefix(prefix: unknown): string {
  if (prefix === undefined || prefix === "") return "";
  if (typeof prefix !== "string") fail("prefix", `must be a string, not ${describeValue(prefix)}`);
  const segments = prefix.split("/").filter((segment) => segment !== "");
  for (const segment of segments) {
    if (segment === "." || segment === "..")
      fail("prefix", `contains "${segment}": give a plain key prefix such as "media"`);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters in keys
    if (/[\u0000-\u001f\u007f\\]/.test(segment)) fail("prefix", "contains a control character or backslash");
  }
  return segments.length === 0 ? "" : `${segments.join("/")}/`;
}

function checkRegion(value: unknown, profile: ProviderProfile): string | undefined {
  const region = check.string("region", value);
  if (region === undefined) return undefined;
  if (profile.name === "aws" ? !AWS_REGION.test(region) : !ANY_REGION.test(region)) {
    fail(
      "region",
      profile.name === "aws"
        ? `must be an AWS region such as "eu-west-1", not ${describeValue(region)}`
        : `must be a region name such as "us-east-1" (letters, digits and "-"), not ${describeValue(region)}`,
    );
  }
  return region;
}

export function resolveOptions(options: S3DriverOptions): ResolvedS3Options {
  check.keys(options, OPTION_KEYS, '{ bucket: "my-app-media", region: "eu-west-1" }');
  const { bucket } = options;
  if (typeof bucket !== "string" || bucket === "")
    fail("bucket", 'is required, e.g. { bucket: "my-app-media" }');
  if (!BUCKET_NAME.test(bucket) || bucket.includes("..")) {
    fail(
      "bucket",
      `must be a valid bucket name, not ${describeValue(bucket)}: 3–63 lower-case letters, digits, "." and "-", starting and ending with a letter or digit (a key prefix goes in \`prefix\`)`,
    );
  }
  const profileName = check.oneOf("profile", options.profile, PROFILE_NAMES);
  const endpoint = check.httpUrl("endpoint", options.endpoint, "http://127.0.0.1:9000");
  const signingEndpoint = check.httpUrl("signingEndpoint", options.signingEndpoint, "https://s3.example.com");
  const profile = PROFILES[profileName ?? inferProfile(endpoint)];
  const region = checkRegion(options.region, profile) ?? profile.region;
  if (options.client !== undefined) {
    if (typeof (options.client as { send?: unknown }).send !== "function")
      fail("client", "must be an S3Client from @aws-sdk/client-s3");
    if (options.credentials !== undefined || endpoint !== undefined) {
      fail("client", "cannot go with endpoint or credentials: a caller-built client is used as it is");
    }
  } else if (endpoint === undefined && profile.endpointRequired) {
    fail(
      "endpoint",
      `is required by the ${profile.label} profile${profile.name === "r2" ? ' ("https://<account-id>.r2.cloudflarestorage.com")' : ' (e.g. "http://127.0.0.1:9000")'}`,
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
          "credentials",
          "must have a non-empty accessKeyId and secretAccessKey (or be a credential provider function)",
        );
      }
    }
  }
  const visibility = check.visibility("visibility", options.visibility) ?? "private";
  const acl = options.acl ?? profile.acl;
  if (acl !== true && acl !== false && acl !== "auto")
    fail("acl", `must be true, false or "auto", not ${describeValue(acl)}`);
  const checksums = check.oneOf("checksums", options.checksums, CHECKSUM_MODES) ?? profile.checksums;
  const sse = check.oneOf("serverSideEncryption", options.serverSideEncryption, SSE_VALUES);
  const sseKmsKeyId = check.string("sseKmsKeyId", options.sseKmsKeyId);
  if (sseKmsKeyId !== undefined && sse !== "aws:kms" && sse !== "aws:kms:dsse")
    fail("sseKmsKeyId", 'needs serverSideEncryption "aws:kms" or "aws:kms:dsse"');
  const conditionalWrite =
    check.boolean("conditionalWrite", options.conditionalWrite) ?? profile.conditionalWrite;
  const resolved = {
    bucket,
    prefix: normalizeKeyPrefix(options.prefix),
    profile,
    region,
    endpoint:
      endpoint ?? (profile.endpoint && region ? profile.endpoint.replace("{region}", region) : undefined),
    signingEndpoint,
    forcePathStyle: check.boolean("forcePathStyle", options.forcePathStyle) ?? profile.forcePathStyle,
    checksums,
    acl,
    postPolicy: check.boolean("postPolicy", options.postPolicy) ?? profile.postPolicy,
    conditionalWrite,
    // Asserting conditional writes for a server vouches for single requests only.
    conditionalMultipart: profile.conditionalMultipart && conditionalWrite,
    batchDelete: profile.batchDelete,
    visibility,
    cacheControl: check.string("cacheControl", options.cacheControl),
    contentDisposition: check.string("contentDisposition", options.contentDisposition),
    serverSideEncryption: sse,
    sseKmsKeyId,
    storageClass: check.string("storageClass", options.storageClass),
    partSize:
      check.size("partSize", options.partSize, { min: MIN_PART_SIZE, max: MAX_PART_SIZE }) ??
      DEFAULT_PART_SIZE,
    queueSize:
      check.integer("queueSize", options.queueSize, { min: 1, max: 64 }, "parts") ?? DEFAULT_QUEUE_SIZE,
    maxPartBuffers: check.integer("maxPartBuffers", options.maxPartBuffers, { min: 1, max: 4096 }, "buffers"),
    credentialSource: options.client
      ? "the given client's"
      : options.credentials
        ? "explicit keys"
        : "the AWS default credential chain",
  };
  // By default one upload's whole window (validated above in the options' order).
  return { ...resolved, maxPartBuffers: resolved.maxPartBuffers ?? resolved.queueSize + 1 };
}

/** The secret-free account of an S3 storage, for its backend's and its driver's `describe()`. */
export function describeS3Options(o: ResolvedS3Options): BackendDescription {
  const settings: Record<string, string | number | boolean> = {
    profile: o.profile.name,
    forcePathStyle: o.forcePathStyle,
    acl: o.acl,
    partSize: o.partSize,
    queueSize: o.queueSize,
    maxPartBuffers: o.maxPartBuffers,
    credentials: o.credentialSource,
  };
  for (const [key, value] of Object.entries({
    region: o.region,
    endpoint: o.endpoint,
    signingEndpoint: o.signingEndpoint,
    storageClass: o.storageClass,
    serverSideEncryption: o.serverSideEncryption,
  })) {
    if (value !== undefined) settings[key] = value;
  }
  return { location: `s3://${o.bucket}/${o.prefix}`, settings };
}
