/**
 * The URL rules of the facade: a public URL from the configured base (CDN) first, else the
 * service's own; signed GET URLs with their lifetime and download name; signed uploads with the
 * method chosen by what the backend can do, and what it can enforce of `maxBytes`.
 *
 * Separate from the facade (storage.ts), which keeps the public calls (publicUrl, url, signedUrl,
 * signedUpload) and their call scope, because these rules are a subject of their own and long.
 */
import { checkExpiresIn, checkHeaderOptions } from "./argument-checks.js";
import { toStorageError } from "./error-mapping.js";
import { InvalidArgumentError, UnsupportedError } from "./errors.js";
import { contentDisposition } from "./headers.js";
import { basename, joinUrl } from "./path.js";
import type {
  Driver,
  SignedUpload,
  SignedUploadMethod,
  SignedUploadOptions,
  SignedUrlOptions,
  Visibility,
} from "./types.js";

/** The unsigned URL of `key` (a validated name): the configured public base or the service's own. */
export function publicUrlOf(
  storage: { readonly driver: Driver; readonly publicBaseUrl: string | undefined },
  key: string,
): string {
  const { driver, publicBaseUrl } = storage;
  if (publicBaseUrl !== undefined) return joinUrl(publicBaseUrl, key);
  if (driver.publicUrl && driver.capabilities.publicUrl) {
    try {
      return driver.publicUrl(key);
    } catch (error) {
      throw toStorageError(error, "url", key, driver.backend);
    }
  }
  throw toStorageError(
    new UnsupportedError(
      `The ${driver.backend} storage has no public URL for files. Configure publicUrl (a CDN or web server base URL), or use signedUrl().`,
    ),
    "url",
    key,
    driver.backend,
  );
}

/** The driver's signed GET URL of `key`; `download` becomes the response's Content-Disposition. */
export async function signUrl(
  storage: { readonly driver: Driver; readonly signedUrlExpiresIn: number },
  key: string,
  options: SignedUrlOptions,
  signal: AbortSignal,
): Promise<string> {
  const { driver } = storage;
  if (!driver.capabilities.signedUrl || !driver.signedUrl) {
    throw new UnsupportedError(`The ${driver.backend} backend cannot sign URLs.`);
  }
  const expiresIn = checkExpiresIn(options.expiresIn ?? storage.signedUrlExpiresIn);
  // The type comes back as the response's Content-Type header: the rule a saved one meets, or the
  // URL is signed and every server (or the fs handler) refuses it. The Content-Disposition built
  // from `download` needs no check: contentDisposition() escapes whatever name it is given.
  checkHeaderOptions({ contentType: options.contentType });
  let responseContentDisposition: string | undefined;
  if (options.download === true) responseContentDisposition = contentDisposition(basename(key));
  else if (typeof options.download === "string" && options.download !== "") {
    responseContentDisposition = contentDisposition(options.download);
  }
  return driver.signedUrl(key, {
    signal,
    expiresIn,
    responseContentDisposition,
    responseContentType: options.contentType,
  });
}

/**
 * The driver's signed upload to `key` (the name already final). With `maxBytes`, only methods
 * whose server enforces the limit are used.
 */
export async function signUpload(
  storage: {
    readonly driver: Driver;
    readonly signedUrlExpiresIn: number;
    readonly visibility: Visibility;
  },
  key: string,
  options: SignedUploadOptions,
  signal: AbortSignal,
): Promise<SignedUpload> {
  const { driver } = storage;
  const backend = driver.backend;
  const { signedUpload: methods, signedUploadMaxBytes: limited } = driver.capabilities;
  if (methods.length === 0 || !driver.signedUpload) {
    throw new UnsupportedError(`The ${backend} backend has no signed uploads.`);
  }
  // The uploader sends it as its Content-Type header, and the signature binds it: a value no
  // client can send would give an upload that cannot succeed.
  checkHeaderOptions({ contentType: options.contentType });
  const { maxBytes } = options;
  if (maxBytes !== undefined && !(Number.isSafeInteger(maxBytes) && maxBytes >= 0)) {
    throw new InvalidArgumentError(`maxBytes must be a non-negative integer, got ${maxBytes}.`);
  }
  let method: SignedUploadMethod | undefined = options.method;
  if (method !== undefined && !methods.includes(method)) {
    throw new UnsupportedError(
      `The ${backend} backend has no signed ${method.toUpperCase()} uploads (it has: ${methods.join(", ")}).`,
    );
  }
  if (maxBytes !== undefined) {
    method ??= limited[0];
    if (method === undefined || !limited.includes(method)) {
      throw new UnsupportedError(
        `The ${backend} backend cannot enforce maxBytes on a signed ${(method ?? methods[0] ?? "").toUpperCase()} upload${limited.length ? ` (it can with: ${limited.join(", ")})` : ""}. Upload through your server, or check the size after upload.`,
      );
    }
  }
  method ??= methods.includes("put") ? "put" : methods[0]!;
  const signed = await driver.signedUpload(key, {
    signal,
    method,
    expiresIn: checkExpiresIn(options.expiresIn ?? storage.signedUrlExpiresIn),
    contentType: options.contentType,
    maxBytes,
    visibility: storage.visibility,
  });
  return { ...signed, name: key };
}
