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
 * Refuses, before anything is asked of the storage, a signed URL or upload from a storage that
 * cannot sign: with what to configure (a named storage: E_CONFIG) or which address to use instead
 * (a URL or a local path, which read no secret: E_USAGE). Both are exit 2. The library's own
 * message ("The fs backend cannot sign URLs.") is right for code but names nothing to set.
 */
export function requireSigning(location: Location, what: "URLs" | "uploads"): void {
  const { storage } = location;
  const can = what === "URLs" ? storage.capabilities.signedUrl : storage.capabilities.signedUpload.length > 0;
  if (can) return;
  const backend = storage.backend;
  const name = location.storageName;
  const about = {
    operation: what === "URLs" ? ("signedUrl" as const) : ("signedUpload" as const),
    path: location.path,
    backend,
  };
  if (name === undefined) {
    throw new UsageError(
      `The address "${location.text}" cannot sign ${what}: a storage URL or a local path reads no signing secret. Use a named storage that can (\`storages config\` lists what each one can do)${backend === "fs" ? ", e.g. one whose URL has signingBaseUrl= and whose STORAGES_<NAME>_SIGNING_SECRET is set" : ""}.`,
    );
  }
  if (backend === "fs") {
    const variable = storageVariable(name);
    throw new ConfigError(
      `The fs storage "${name}" cannot sign ${what}: no signing is configured for it. Add signingBaseUrl= to its URL, the path where the app serves the folder with createFsHandler (e.g. ${variable}='file:///srv/app/${name}?signingBaseUrl=/${name}/', or an absolute URL), and set ${storageVariable(name, "SIGNING_SECRET")} to a secret of at least 32 bytes (openssl rand -base64 48).`,
      about,
    );
  }
  throw new ConfigError(
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
  requireSigning(location, "URLs");
  const expiresIn = options.expiresIn ?? storage.signedUrlExpiresIn;
  const startedAt = Date.now();
  const url = await storage.signedUrl(path, {
    expiresIn,
    download: options.download,
    signal: options.signal,
  });
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
  requireSigning(location, "uploads");
  refuseUnsupportedUpload(location, options);
  const signed = await location.storage.signedUpload(location.path, options);
  return { ...signed, expiresAt: signed.expiresAt.toISOString() };
}

/**
 * `--method` and `--max-bytes` checked against what the storage can sign, before it is asked: a
 * usage error (exit 2) naming what to give instead, not the library's E_UNSUPPORTED (exit 1).
 */
function refuseUnsupportedUpload(location: Location, options: SignUploadOptions): void {
  const { storage, storageName } = location;
  const { signedUpload: methods, signedUploadMaxBytes: limited } = storage.capabilities;
  const which = `the ${storage.backend} storage${storageName === undefined ? "" : ` "${storageName}"`}`;
  const names = (list: readonly SignedUploadMethod[]) => list.map((m) => m.toUpperCase()).join(" or ");
  const { method, maxBytes } = options;
  if (method !== undefined && !methods.includes(method)) {
    throw new UsageError(
      `--method ${method}: ${which} signs ${names(methods)} uploads only: give --method ${methods[0]}, or leave --method out.`,
    );
  }
  if (maxBytes === undefined) return;
  if (limited.length === 0) {
    throw new UsageError(
      `--max-bytes: ${which} cannot enforce a size limit on a signed upload: leave --max-bytes out and check the size after the upload, or upload through your server.`,
    );
  }
  if (method !== undefined && !limited.includes(method)) {
    throw new UsageError(
      `--max-bytes: ${which} enforces it on ${names(limited)} uploads only: give --method ${limited[0]}, or leave --method out.`,
    );
  }
}

/** Whether a storage gave an absolute URL (a scheme), or a path the app serves under its own origin. */
export function isAbsoluteUrl(url: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(url);
}
