/**
 * The refusal of a request body that is not multipart/form-data, one for every adapter: handleUpload
 * throws it, and the Fastify adapter answers Fastify's own refusal of such a body (which comes before
 * the route, so handleUpload never sees the request) with it. Internal: not exported from the package.
 */
import { UploadError } from "./errors.js";

export function notMultipart(cause: unknown): UploadError {
  return new UploadError(
    "E_UPLOAD_MALFORMED",
    'Send the upload as multipart/form-data (a form with enctype="multipart/form-data", or a FormData body).',
    { cause },
  );
}
