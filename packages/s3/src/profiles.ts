/**
 * Provider profiles: what differs between S3 and the S3-compatible services, as data.
 *
 * Every value here is a default the user can override with an explicit option; the profile only
 * decides what happens when they say nothing. Where a provider's support is unknown, the profile
 * says "no": a capability declared but not honoured would lose data silently (an overwrite where
 * the caller asked for create-exclusive), while one declared missing fails loudly.
 */

export const PROFILE_NAMES = [
  "aws",
  "minio",
  "r2",
  "ceph",
  "b2",
  "digitalocean",
  "gcs-interop",
  "generic",
] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

/**
 * "when_required": send checksums only where S3 demands them (DeleteObjects) — the setting every
 * S3-compatible server accepts. "when_supported": the AWS SDK default (CRC32 on every upload, with
 * aws-chunked trailers on streams), which RGW, older MinIO, R2 and B2 refuse or mangle.
 */
export type ChecksumMode = "when_required" | "when_supported";

export interface ProviderProfile {
  readonly name: ProfileName;
  /** Human name for messages and docs. */
  readonly label: string;
  /** Endpoint when the user gives none: `{region}` is replaced. Undefined: the SDK's (AWS) or required. */
  readonly endpoint?: string | undefined;
  /** The user must give an endpoint (it contains their account id, or there is no public one). */
  readonly endpointRequired: boolean;
  /** Region when the user gives none (signatures include it; most compatible servers accept any). */
  readonly region?: string | undefined;
  /** Path-style addressing (`https://host/bucket/key`) instead of virtual-hosted (`https://bucket.host/key`). */
  readonly forcePathStyle: boolean;
  readonly checksums: ChecksumMode;
  /**
   * Object ACLs: true (per-file visibility through canned ACLs), false (the bucket decides: policy
   * or bucket-level public access), "auto" (ask the bucket once whether ACLs are enforced off).
   */
  readonly acl: boolean | "auto";
  /** Browser form uploads with a signed POST policy (the only way to cap a browser upload's size). */
  readonly postPolicy: boolean;
  /** `If-None-Match: *` on PutObject is honoured (create-exclusive single-request writes). */
  readonly conditionalWrite: boolean;
  /** `If-None-Match: *` on CompleteMultipartUpload is honoured (create-exclusive large writes). */
  readonly conditionalMultipart: boolean;
  /** DeleteObjects (1,000 keys per request). */
  readonly batchDelete: boolean;
  /**
   * Unsigned URL of an object. Placeholders: {bucket}, {region}, {endpoint} (the endpoint URL
   * without a trailing slash), {key} (encoded). Undefined: no public URL without a custom domain.
   */
  readonly publicUrlTemplate?: string | undefined;
}

export const PROFILES: Readonly<Record<ProfileName, ProviderProfile>> = {
  aws: {
    name: "aws",
    label: "Amazon S3",
    endpointRequired: false,
    forcePathStyle: false,
    checksums: "when_supported",
    // ACLs are disabled on buckets created since April 2023 (BucketOwnerEnforced).
    acl: "auto",
    postPolicy: true,
    conditionalWrite: true,
    conditionalMultipart: true,
    batchDelete: true,
    publicUrlTemplate: "https://{bucket}.s3.{region}.amazonaws.com/{key}",
  },
  minio: {
    name: "minio",
    label: "MinIO",
    endpointRequired: true,
    region: "us-east-1",
    forcePathStyle: true,
    checksums: "when_required",
    // MinIO has no object ACLs: anonymous access is a bucket policy (`mc anonymous set download`).
    acl: false,
    postPolicy: true,
    conditionalWrite: true,
    conditionalMultipart: true,
    batchDelete: true,
    publicUrlTemplate: "{endpoint}/{bucket}/{key}",
  },
  r2: {
    name: "r2",
    label: "Cloudflare R2",
    // https://<account-id>.r2.cloudflarestorage.com
    endpointRequired: true,
    region: "auto",
    forcePathStyle: true,
    checksums: "when_required",
    acl: false,
    postPolicy: false,
    conditionalWrite: true,
    conditionalMultipart: false,
    batchDelete: true,
    // Public buckets are served from r2.dev or a custom domain: configure publicUrl.
    publicUrlTemplate: undefined,
  },
  ceph: {
    name: "ceph",
    label: "Ceph RGW",
    endpointRequired: true,
    region: "us-east-1",
    forcePathStyle: true,
    checksums: "when_required",
    acl: true,
    postPolicy: true,
    conditionalWrite: true,
    // Verified on RGW 16.2: If-None-Match on CompleteMultipartUpload is ignored (the object is replaced).
    conditionalMultipart: false,
    batchDelete: true,
    publicUrlTemplate: "{endpoint}/{bucket}/{key}",
  },
  b2: {
    name: "b2",
    label: "Backblaze B2",
    endpoint: "https://s3.{region}.backblazeb2.com",
    endpointRequired: false,
    region: "us-west-004",
    forcePathStyle: false,
    checksums: "when_required",
    // B2 visibility is per bucket (allPublic / allPrivate).
    acl: false,
    postPolicy: false,
    conditionalWrite: false,
    conditionalMultipart: false,
    batchDelete: true,
    publicUrlTemplate: "https://{bucket}.s3.{region}.backblazeb2.com/{key}",
  },
  digitalocean: {
    name: "digitalocean",
    label: "DigitalOcean Spaces",
    endpoint: "https://{region}.digitaloceanspaces.com",
    endpointRequired: false,
    region: "nyc3",
    forcePathStyle: false,
    checksums: "when_required",
    acl: true,
    postPolicy: true,
    conditionalWrite: false,
    conditionalMultipart: false,
    batchDelete: true,
    publicUrlTemplate: "https://{bucket}.{region}.digitaloceanspaces.com/{key}",
  },
  "gcs-interop": {
    name: "gcs-interop",
    label: "Google Cloud Storage (XML API, HMAC keys)",
    endpoint: "https://storage.googleapis.com",
    endpointRequired: false,
    region: "auto",
    forcePathStyle: true,
    checksums: "when_required",
    // Uniform bucket-level access is the default for new GCS buckets.
    acl: false,
    postPolicy: false,
    conditionalWrite: false,
    conditionalMultipart: false,
    // The XML API has no multi-object delete.
    batchDelete: false,
    publicUrlTemplate: "https://storage.googleapis.com/{bucket}/{key}",
  },
  generic: {
    name: "generic",
    label: "S3-compatible server",
    endpointRequired: true,
    region: "us-east-1",
    forcePathStyle: true,
    checksums: "when_required",
    acl: "auto",
    postPolicy: true,
    // Unknown server: a silently ignored If-None-Match would turn create-exclusive into overwrite.
    conditionalWrite: false,
    conditionalMultipart: false,
    batchDelete: true,
    publicUrlTemplate: "{endpoint}/{bucket}/{key}",
  },
};

/** The profile an endpoint most likely needs, when the user names none. */
export function inferProfile(endpoint: string | undefined): ProfileName {
  if (endpoint === undefined) return "aws";
  let host: string;
  try {
    host = new URL(endpoint).hostname.toLowerCase();
  } catch {
    return "generic";
  }
  if (host === "amazonaws.com" || host.endsWith(".amazonaws.com")) return "aws";
  if (host.endsWith(".r2.cloudflarestorage.com")) return "r2";
  if (host.endsWith(".backblazeb2.com")) return "b2";
  if (host.endsWith(".digitaloceanspaces.com")) return "digitalocean";
  if (host === "storage.googleapis.com") return "gcs-interop";
  return "generic";
}

export function isProfileName(value: unknown): value is ProfileName {
  return typeof value === "string" && (PROFILE_NAMES as readonly string[]).includes(value);
}
