/**
 * URLs at an address: the library side of `url` and `sign-upload`.
 */
import type { SignedUpload, SignedUploadMethod } from "@storages/core";
import { type Location, requireFile } from "../address.js";
import { UsageError } from "../errors.js";

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
  if (!signed) return { url: storage.publicUrl(path), signed: false, name: path };
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
  const signed = await location.storage.signedUpload(location.path, options);
  return { ...signed, expiresAt: signed.expiresAt.toISOString() };
}
