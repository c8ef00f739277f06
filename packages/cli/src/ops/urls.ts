/**
 * URLs at an address: the library side of `url` and `sign-upload`.
 */
import {
  ConfigError,
  type SignedUpload,
  type SignedUploadMethod,
  StorageError,
  storageVariable,
} from "@storages/core";
import { type Location, requireFile } from "../address.js";
import { UsageError } from "../errors.js";

/**
 * Core's E_UNSUPPORTED for a storage that cannot sign, with what to configure (a named storage:
 * E_CONFIG) or which address to use instead (a URL or a local path, which read no secret:
 * E_USAGE). Both are exit 2. Core decides what can be signed, before its driver is asked (so no
 * request is sent); its message ("The fs backend cannot sign URLs.") is right for code but names
 * nothing to set.
 */
function cannotSign(location: Location, what: "URLs" | "uploads", cause: StorageError): Error {
  const { storage } = location;
  const backend = storage.backend;
  const name = location.storageName;
  const about = {
    cause,
    operation: what === "URLs" ? ("signedUrl" as const) : ("signedUpload" as const),
    path: location.path,
    backend,
  };
  if (name === undefined) {
    return new UsageError(
      `The address "${location.text}" cannot sign ${what}: a storage URL or a local path reads no signing secret. Use a named storage that can (\`storages config\` lists what each one can do)${backend === "fs" ? ", e.g. one whose URL has signingBaseUrl= and whose STORAGES_<NAME>_SIGNING_SECRET is set" : ""}.`,
      { cause },
    );
  }
  if (backend === "fs") {
    const variable = storageVariable(name);
    return new ConfigError(
      `The fs storage "${name}" cannot sign ${what}: no signing is configured for it. Add signingBaseUrl= to its URL, the path where the app serves the folder with createFsHandler (e.g. ${variable}='file:///srv/app/${name}?signingBaseUrl=/${name}/', or an absolute URL), and set ${storageVariable(name, "SIGNING_SECRET")} to a secret of at least 32 bytes (openssl rand -base64 48).`,
      about,
    );
  }
  return new ConfigError(
    `The ${backend} storage "${name}" cannot sign ${what} as it is configured: give it the credentials its backend signs with (see the ${backend} backend's documentation), or use a storage that can sign (\`storages config\` lists what each one can do).`,
    about,
  );
}

/** A storage's public URL, or E_CONFIG (exit 2) saying what to set or which option to use instead. */
function publicUrlOf(location: Location, explicit: boolean): string {
  try {
    return location.storage.publicUrl(location.path);
  } catch (error) {
    if (!StorageError.hasCode(error, "E_UNSUPPORTED")) throw error;
    const { storage, storageName } = location;
    const which =
      storageName === undefined
        ? `The address "${location.text}"`
        : `The ${storage.backend} storage "${storageName}"`;
    const signed = storage.capabilities.signedUrl
      ? explicit
        ? ", or drop --public for a signed URL (--signed)"
        : ", or ask for a signed URL with --signed"
      : "";
    throw new ConfigError(
      `${which} has no public URL for files: set publicUrl= in ${storageName === undefined ? "the" : "its"} URL (the base URL of a CDN or web server that serves them, e.g. publicUrl=https://cdn.example.com/media/ or publicUrl=/media/)${signed}.`,
      { cause: error, operation: "url", path: location.path, backend: storage.backend },
    );
  }
}

export interface FileUrlOptions {
  /**
   * "auto" (default): the storage's rule — public storages give their public URL, private ones a
   * signed one; a lifetime or a download name asks for a signed URL (a public URL can do neither).
   */
  kind?: "auto" | "public" | "signed" | undefined;
  /** Seconds (default: the storage's signedUrlExpiresIn). */
  expiresIn?: number | undefined;
  /** Make browsers save the file: true with its own name, a string with that name. */
  download?: boolean | string | undefined;
  signal?: AbortSignal | undefined;
}

export interface FileUrl {
  url: string;
  signed: boolean;
  /** When a signed URL stops working. */
  expiresAt?: string | undefined;
  name: string;
}

export async function fileUrl(location: Location, options: FileUrlOptions = {}): Promise<FileUrl> {
  requireFile(location, "url");
  const { storage, path } = location;
  const kind = options.kind ?? "auto";
  const wantsSigning =
    options.expiresIn !== undefined || (options.download !== undefined && options.download !== false);
  if (kind === "public" && wantsSigning) {
    throw new UsageError(
      "A public URL cannot expire or force a download: drop --public, or --expires/--download.",
    );
  }
  const signed = kind === "signed" || (kind === "auto" && (wantsSigning || storage.visibility === "private"));
  if (!signed) return { url: publicUrlOf(location, kind === "public"), signed: false, name: path };
  const expiresIn = options.expiresIn ?? storage.signedUrlExpiresIn;
  const startedAt = Date.now();
  let url: string;
  try {
    url = await storage.signedUrl(path, { expiresIn, download: options.download, signal: options.signal });
  } catch (error) {
    // A driver's own refusal, where the storage says it signs, has the more specific message.
    if (!StorageError.hasCode(error, "E_UNSUPPORTED") || storage.capabilities.signedUrl) throw error;
    throw cannotSign(location, "URLs", error);
  }
  return { url, signed: true, expiresAt: new Date(startedAt + expiresIn * 1000).toISOString(), name: path };
}

export interface SignUploadOptions {
  expiresIn?: number | undefined;
  contentType?: string | undefined;
  maxBytes?: number | undefined;
  method?: SignedUploadMethod | undefined;
  /** Default: the storage's rule (media storages give the upload a fresh name). */
  overwrite?: boolean | undefined;
  signal?: AbortSignal | undefined;
}

export type SignedUploadReport = Omit<SignedUpload, "expiresAt"> & { expiresAt: string };

export async function signUpload(
  location: Location,
  options: SignUploadOptions = {},
): Promise<SignedUploadReport> {
  requireFile(location, "sign-upload");
  let signed: SignedUpload;
  try {
    signed = await location.storage.signedUpload(location.path, options);
  } catch (error) {
    if (!StorageError.hasCode(error, "E_UNSUPPORTED")) throw error;
    throw unsupportedUpload(location, options, error);
  }
  return { ...signed, expiresAt: signed.expiresAt.toISOString() };
}

/**
 * Core's refusal of a signed upload (before anything is asked of the storage), as the option to
 * change: a usage error (exit 2) naming what to give instead, not E_UNSUPPORTED (exit 1). Which
 * option is meant is read off the storage's capabilities, the ones core refused by; a refusal they
 * do not explain keeps core's own error.
 */
function unsupportedUpload(location: Location, options: SignUploadOptions, error: StorageError): Error {
  const { storage, storageName } = location;
  const { signedUpload: methods, signedUploadMaxBytes: limited } = storage.capabilities;
  if (methods.length === 0) return cannotSign(location, "uploads", error);
  const which = `the ${storage.backend} storage${storageName === undefined ? "" : ` "${storageName}"`}`;
  const names = (list: readonly SignedUploadMethod[]) => list.map((m) => m.toUpperCase()).join(" or ");
  const { method, maxBytes } = options;
  if (method !== undefined && !methods.includes(method)) {
    return new UsageError(
      `--method ${method}: ${which} signs ${names(methods)} uploads only: give --method ${methods[0]}, or leave --method out.`,
      { cause: error },
    );
  }
  if (maxBytes !== undefined && limited.length === 0) {
    return new UsageError(
      `--max-bytes: ${which} cannot enforce a size limit on a signed upload: leave --max-bytes out and check the size after the upload, or upload through your server.`,
      { cause: error },
    );
  }
  if (maxBytes !== undefined && method !== undefined && !limited.includes(method)) {
    return new UsageError(
      `--max-bytes: ${which} enforces it on ${names(limited)} uploads only: give --method ${limited[0]}, or leave --method out.`,
      { cause: error },
    );
  }
  return error;
}

/** Whether a storage gave an absolute URL (a scheme), or a path the app serves under its own origin. */
export function isAbsoluteUrl(url: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(url);
}
