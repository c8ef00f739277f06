/**
 * HMAC-SHA256 signed URLs, for backends that have no signing service of their own: the fs driver
 * (verified by `createFsHandler`) and the memory driver (verified by `fake()`).
 *
 * A signature binds the HTTP method, the decoded URL path, the expiry and every response override
 * or upload constraint carried in the query string. The signed message is a JSON array, so no two
 * different sets of values can produce the same bytes (plain concatenation would let
 * "a" + "bc" collide with "ab" + "c"). The path is signed decoded, so a proxy that re-encodes
 * `%20` as `+`-less variants, or an HTTP client that normalises percent-escapes, does not break a
 * valid URL, while an encoded "/" is refused outright (it would make two paths sign alike).
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { ConfigError, InvalidArgumentError, UnsupportedError } from "./errors.js";
import { joinUrl } from "./path.js";
import type { DriverSignedUploadOptions, DriverSignedUrlOptions, SignedUpload } from "./types.js";

/** Signing keys shorter than this are refused: HMAC-SHA256 wants at least its output size. */
export const MIN_SIGNING_KEY_BYTES = 32;

const VERSION = "storages-fs-1";

/** Query parameters this module owns. */
const PARAM = {
  expires: "expires",
  signature: "sig",
  method: "method",
  disposition: "disposition",
  type: "type",
  cacheControl: "cache",
  maxBytes: "max",
} as const;

export type SignedMethod = "GET" | "PUT";

export interface SignedRequest {
  /** GET (also valid for HEAD) or PUT (a signed upload). */
  method: SignedMethod;
  /** The URL path, decoded ("/media/my file.txt"). */
  path: string;
  /** Unix time in seconds after which the URL is refused. */
  expires: number;
  /** GET: Content-Disposition to send. */
  contentDisposition?: string | undefined;
  /** GET: Content-Type to send. PUT: the Content-Type the uploader must send and the file will get. */
  contentType?: string | undefined;
  /** PUT: Cache-Control the uploaded file will get. */
  cacheControl?: string | undefined;
  /** PUT: the largest body accepted. */
  maxBytes?: number | undefined;
}

export type VerifyResult =
  | ({ ok: true } & SignedRequest)
  | {
      ok: false;
      /**
       * malformed: not a signed URL of this scheme (missing or unparsable parameters);
       * tampered: the signature does not match (wrong key, or any part of the URL changed);
       * expired: a genuine signature whose expiry has passed.
       */
      reason: "malformed" | "tampered" | "expired";
      /** A short, secret-free explanation for logs and response bodies. */
      message: string;
    };

/**
 * A signing key's bytes (strings are taken as UTF-8), or the problem with it: a phrase about the
 * key that never contains the key (messages end up in logs).
 */
export function checkSigningKey(key: unknown): { bytes: Buffer } | { problem: string } {
  const fix = "Generate one with: openssl rand -base64 48";
  let bytes: Buffer;
  if (typeof key === "string") bytes = Buffer.from(key, "utf8");
  else if (key instanceof Uint8Array) bytes = Buffer.from(key);
  else
    return { problem: `must be a string or a Uint8Array of at least ${MIN_SIGNING_KEY_BYTES} bytes. ${fix}` };
  if (bytes.byteLength < MIN_SIGNING_KEY_BYTES) {
    return {
      problem: `is ${bytes.byteLength} bytes long; signed URLs need at least ${MIN_SIGNING_KEY_BYTES}. ${fix}`,
    };
  }
  return { bytes };
}

/** Validates a signing key and returns its bytes; `source` names it in the ConfigError. */
export function signingKeyBytes(key: unknown, source = "signing.key"): Buffer {
  const checked = checkSigningKey(key);
  if ("problem" in checked) throw new ConfigError(`${source} ${checked.problem}`);
  return checked.bytes;
}

function canonical(request: SignedRequest): string {
  return JSON.stringify([
    VERSION,
    request.method,
    request.path,
    request.expires,
    request.contentDisposition ?? null,
    request.contentType ?? null,
    request.cacheControl ?? null,
    request.maxBytes ?? null,
  ]);
}

function hmac(key: Buffer, request: SignedRequest): Buffer {
  return createHmac("sha256", key).update(canonical(request), "utf8").digest();
}

/**
 * Decodes a URL path ("/media/my%20file.txt" → "/media/my file.txt"). Returns undefined for a
 * path that cannot be decoded or hides a separator or NUL in an escape.
 */
export function decodeUrlPath(rawPath: string): string | undefined {
  const segments = rawPath.split("/");
  const decoded: string[] = [];
  for (const segment of segments) {
    let value: string;
    try {
      value = decodeURIComponent(segment);
    } catch {
      return undefined;
    }
    if (value.includes("/") || value.includes("\\") || value.includes("\0")) return undefined;
    decoded.push(value);
  }
  return decoded.join("/");
}

/**
 * Signs `request` and returns `url` (absolute, or a path) with the signature parameters added.
 * `url` must be the URL of the file without a query string; its path must decode to `request.path`
 * (use `signUrl(url, key, { method, expires, … })`, which derives the path from the URL).
 */
export function signUrl(url: string, key: string | Uint8Array, request: Omit<SignedRequest, "path">): string {
  const keyBytes = signingKeyBytes(key);
  if (!Number.isSafeInteger(request.expires) || request.expires <= 0) {
    throw new ConfigError(
      `Signed URL expiry must be a positive whole number of seconds since 1970, got ${request.expires}.`,
    );
  }
  const parsed = new URL(url, "http://placeholder.invalid");
  if (parsed.search !== "" || parsed.hash !== "") {
    throw new ConfigError("signUrl() takes a URL without a query string or fragment.");
  }
  const path = decodeUrlPath(parsed.pathname);
  if (path === undefined) throw new ConfigError("signUrl() was given a URL whose path cannot be decoded.");
  const full: SignedRequest = { ...request, path };
  const params = new URLSearchParams();
  if (full.method !== "GET") params.set(PARAM.method, full.method);
  params.set(PARAM.expires, String(full.expires));
  if (full.contentDisposition !== undefined) params.set(PARAM.disposition, full.contentDisposition);
  if (full.contentType !== undefined) params.set(PARAM.type, full.contentType);
  if (full.cacheControl !== undefined) params.set(PARAM.cacheControl, full.cacheControl);
  if (full.maxBytes !== undefined) params.set(PARAM.maxBytes, String(full.maxBytes));
  params.set(PARAM.signature, hmac(keyBytes, full).toString("hex"));
  return `${url}?${params.toString()}`;
}

const KNOWN_PARAMS = new Set<string>(Object.values(PARAM));
const DECIMAL = /^(0|[1-9][0-9]{0,15})$/;
const HEX_SHA256 = /^[0-9a-f]{64}$/;

function malformed(message: string): VerifyResult {
  return { ok: false, reason: "malformed", message };
}

/**
 * Checks a signature given the decoded path and the raw query string (what an HTTP handler has).
 * `now` is a Date or milliseconds since 1970.
 */
export function verifySignedRequest(
  path: string,
  query: string,
  key: string | Uint8Array,
  now: Date | number = Date.now(),
): VerifyResult {
  const keyBytes = signingKeyBytes(key);
  const params = new URLSearchParams(query);
  for (const name of new Set(params.keys())) {
    // Unknown or repeated parameters would let two different URLs verify alike: refuse them.
    if (!KNOWN_PARAMS.has(name)) return malformed(`Unexpected query parameter "${name.slice(0, 40)}".`);
    if (params.getAll(name).length !== 1) return malformed(`Query parameter "${name}" is repeated.`);
  }
  const sig = params.get(PARAM.signature);
  const expiresText = params.get(PARAM.expires);
  if (sig === null || expiresText === null)
    return malformed("Not a signed URL (expires and sig are required).");
  if (!HEX_SHA256.test(sig)) return malformed("The signature is not 64 lower-case hex digits.");
  if (!DECIMAL.test(expiresText)) return malformed("expires is not a whole number of seconds.");
  const methodText = params.get(PARAM.method) ?? "GET";
  if (methodText !== "GET" && methodText !== "PUT") return malformed("method must be GET or PUT.");
  const maxText = params.get(PARAM.maxBytes);
  if (maxText !== null && !DECIMAL.test(maxText)) return malformed("max is not a whole number of bytes.");

  const request: SignedRequest = {
    method: methodText,
    path,
    expires: Number(expiresText),
    contentDisposition: params.get(PARAM.disposition) ?? undefined,
    contentType: params.get(PARAM.type) ?? undefined,
    cacheControl: params.get(PARAM.cacheControl) ?? undefined,
    maxBytes: maxText === null ? undefined : Number(maxText),
  };
  const expected = hmac(keyBytes, request);
  const given = Buffer.from(sig, "hex");
  if (!timingSafeEqual(expected, given)) {
    return { ok: false, reason: "tampered", message: "The signature does not match this URL." };
  }
  const nowSeconds = Math.floor((typeof now === "number" ? now : now.getTime()) / 1000);
  if (request.expires < nowSeconds) {
    return { ok: false, reason: "expired", message: "The signed URL has expired." };
  }
  return { ok: true, ...request };
}

/**
 * Verifies a URL produced by `signUrl()` (or a Storage's `signedUrl()` / `signedUpload()`).
 * Distinct results for malformed, tampered and expired URLs; constant-time signature comparison.
 */
export function verifySignedUrl(
  url: string | URL,
  key: string | Uint8Array,
  now?: Date | number,
): VerifyResult {
  let parsed: URL;
  try {
    parsed = new URL(url, "http://placeholder.invalid");
  } catch {
    return malformed("Not a URL.");
  }
  const path = decodeUrlPath(parsed.pathname);
  if (path === undefined) return malformed("The URL path cannot be decoded.");
  return verifySignedRequest(path, parsed.search.slice(1), key, now);
}

/**
 * Signs GET URLs and PUT uploads for the files under one base URL (where a handler that verifies
 * them is mounted). The key stays in a private field: it never shows in logs or JSON.
 */
export class UrlSigner {
  readonly #key: Buffer;

  /** `source` names the option or variable holding the key, for error messages. */
  constructor(
    key: string | Uint8Array,
    readonly baseUrl: string,
    source = "signing.key",
  ) {
    this.#key = signingKeyBytes(key, source);
  }

  #expiry(expiresIn: number): number {
    if (!Number.isFinite(expiresIn) || expiresIn <= 0) {
      throw new InvalidArgumentError(`expiresIn must be a positive number of seconds, got ${expiresIn}.`);
    }
    return Math.floor(Date.now() / 1000) + Math.ceil(expiresIn);
  }

  signedUrl(key: string, options: Omit<DriverSignedUrlOptions, "signal">): string {
    return signUrl(joinUrl(this.baseUrl, key), this.#key, {
      method: "GET",
      expires: this.#expiry(options.expiresIn),
      contentDisposition: options.responseContentDisposition,
      contentType: options.responseContentType,
    });
  }

  /** A signed PUT (the only method a handler of these URLs accepts, since it enforces maxBytes there). */
  signedUpload(key: string, options: Omit<DriverSignedUploadOptions, "signal">): Omit<SignedUpload, "name"> {
    if (options.method !== "put") {
      throw new UnsupportedError(
        'Signed uploads of this backend are PUT only (maxBytes is enforced there): use method "put".',
        {
          path: key,
        },
      );
    }
    if (options.maxBytes !== undefined && (!Number.isSafeInteger(options.maxBytes) || options.maxBytes < 0)) {
      throw new InvalidArgumentError(`maxBytes must be a whole number of bytes, got ${options.maxBytes}.`);
    }
    const expires = this.#expiry(options.expiresIn);
    const url = signUrl(joinUrl(this.baseUrl, key), this.#key, {
      method: "PUT",
      expires,
      contentType: options.contentType,
      cacheControl: options.cacheControl,
      maxBytes: options.maxBytes,
    });
    return {
      method: "PUT",
      url,
      headers: options.contentType ? { "content-type": options.contentType } : {},
      fields: {},
      expiresAt: new Date(expires * 1000),
      maxBytes: options.maxBytes,
    };
  }

  /** Checks a URL this signer produced (decoded path + query), as the serving handler does. */
  verify(url: string | URL, now?: Date | number): VerifyResult {
    return verifySignedUrl(url, this.#key, now);
  }

  /** Checks a request given its decoded path and raw query string (what an HTTP handler has). */
  verifyRequest(path: string, query: string, now?: Date | number): VerifyResult {
    return verifySignedRequest(path, query, this.#key, now);
  }
}
