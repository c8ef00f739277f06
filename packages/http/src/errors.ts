/**
 * The one error an upload is refused with: `UploadError` (core code `E_UPLOAD_REJECTED`), whose
 * `reason` is the stable, documented code a client branches on and `status` the HTTP answer.
 */
import { StorageError, type StorageErrorOptions } from "@storages/core";

/** Why an upload was refused, and the HTTP status each reason is answered with. */
export const UPLOAD_REJECTIONS = {
  /** A file, or the whole request, is over its size limit. */
  E_UPLOAD_TOO_LARGE: 413,
  E_UPLOAD_TOO_MANY_FILES: 413,
  E_UPLOAD_TOO_MANY_FIELDS: 413,
  E_UPLOAD_FIELD_TOO_LARGE: 413,
  /** The content (sniffed, never the client's word) is not an allowed type, or the file is empty. */
  E_UPLOAD_TYPE: 415,
  /** Not multipart/form-data, a broken body, no file, a file name nothing valid can be made of. */
  E_UPLOAD_MALFORMED: 400,
  /** An upload route got another method than POST (answered with `Allow: POST`). */
  E_METHOD_NOT_ALLOWED: 405,
  /** The client stalled (sent nothing for idleTimeout) or took longer than timeout. */
  E_UPLOAD_TIMEOUT: 408,
  /**
   * Another upload took the same name while this one streamed (a stream cannot be sent twice);
   * sending the file again picks a fresh name.
   */
  E_UPLOAD_CONFLICT: 409,
  /**
   * The client went away mid-upload. 499 is nginx's "client closed request": the status the error
   * carries for the app's logs; handleUpload's own aborts are never answered (nobody is left to
   * read it), only an app's own E_UPLOAD_ABORTED on an open connection is (respond.ts).
   */
  E_UPLOAD_ABORTED: 499,
  /** A direct-upload confirmation whose token is missing, tampered with or expired. */
  E_UPLOAD_TOKEN: 403,
  /** A direct upload that was never made (nothing at the name it was issued for). */
  E_UPLOAD_MISSING: 404,
  /** A direct-upload token confirmed a second time (with another file uploaded to its URL). */
  E_UPLOAD_CONFIRMED: 409,
} as const;

export type UploadRejection = keyof typeof UPLOAD_REJECTIONS;

export class UploadError extends StorageError {
  /** The stable code clients branch on (also `error.code` of the JSON body). */
  readonly reason: UploadRejection;
  /** The HTTP status the adapters answer with. */
  readonly status: number;

  constructor(reason: UploadRejection, message: string, options: StorageErrorOptions = {}) {
    super("E_UPLOAD_REJECTED", message, { operation: "upload", ...options });
    this.reason = reason;
    this.status = UPLOAD_REJECTIONS[reason];
  }

  static override isInstance(error: unknown): error is UploadError {
    return StorageError.hasCode(error, "E_UPLOAD_REJECTED");
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), reason: this.reason, status: this.status };
  }
}

/** The JSON body of a refusal: `{ error: { code, message } }`, the same for every adapter. */
export interface UploadErrorBody {
  error: { code: UploadRejection | "E_INTERNAL"; message: string };
}

/**
 * Status, body and headers for any error an upload route met: an UploadError as is, anything else
 * a 500 without detail. A 405 names the one method upload routes take (RFC 9110 §15.5.6: `Allow`).
 */
export function uploadErrorResponse(error: unknown): {
  status: number;
  body: UploadErrorBody;
  headers: Record<string, string>;
} {
  if (UploadError.isInstance(error)) {
    return {
      status: error.status,
      body: { error: { code: error.reason, message: error.message } },
      headers: error.reason === "E_METHOD_NOT_ALLOWED" ? { allow: "POST" } : {},
    };
  }
  return {
    status: 500,
    body: { error: { code: "E_INTERNAL", message: "The upload could not be stored; try again later." } },
    headers: {},
  };
}
