/**
 * Keys and unsigned URLs. Pure functions: no client, no network.
 */
import { encodeNameForUrl } from "@storages/core";
import type { ResolvedS3Options } from "./options.js";

/** The object key of a storage name: the driver's prefix + the name. */
export function toKey(prefix: string, name: string): string {
  return prefix + name;
}

/** The storage name of an object key, or undefined for keys outside the prefix. */
export function fromKey(prefix: string, key: string): string | undefined {
  return key.startsWith(prefix) ? key.slice(prefix.length) : undefined;
}

/** `CopySource` for CopyObject / UploadPartCopy: "bucket/key", URL-encoded (the SDK sends it as is). */
export function copySource(bucket: string, key: string): string {
  return `${bucket}/${encodeNameForUrl(key)}`;
}

/**
 * The unsigned URL of an object key, from the profile's template; undefined when the profile has
 * none (R2: public buckets need r2.dev or a custom domain) or a placeholder cannot be filled.
 */
export function buildPublicUrl(options: ResolvedS3Options, key: string): string | undefined {
  const template = options.profile.publicUrlTemplate;
  if (template === undefined) return undefined;
  if (template.includes("{endpoint}") && options.endpoint === undefined) return undefined;
  if (template.includes("{region}") && options.region === undefined) return undefined;
  let filled = template;
  // A dotted bucket name breaks the TLS wildcard certificate of virtual-hosted URLs: use path style.
  if (options.bucket.includes(".") && filled.startsWith("https://{bucket}.")) {
    filled = filled.replace(/^https:\/\/\{bucket\}\.([^/]+)\//, "https://$1/{bucket}/");
  }
  return filled
    .replaceAll("{endpoint}", options.endpoint ?? "")
    .replaceAll("{region}", options.region ?? "")
    .replaceAll("{bucket}", options.bucket)
    .replaceAll("{key}", encodeNameForUrl(key));
}
