/**
 * A body in memory no larger than one part, sent in one PutObject (no part buffering). How it is
 * checksummed and signed lives here: the S3-compatible profiles get Content-MD5 and an unsigned
 * payload, AWS the SDK's own CRC32 and signed payload. Larger or streamed bodies go through
 * multipart-upload.ts.
 */
import { createHash } from "node:crypto";
import { PutObjectCommand, type PutObjectCommandInput, type S3Client } from "@aws-sdk/client-s3";
import { type DriverWriteResult, normalizeEtag } from "@storages/core";
import { MD5_METADATA } from "./object-info.js";

export interface SinglePut {
  client: S3Client;
  /** The request's headers and metadata (the driver's own MD5 key is added here when needed). */
  params: PutObjectCommandInput;
  bytes: Uint8Array;
  /** Whether the client computes request checksums (WHEN_SUPPORTED). */
  computesChecksums: boolean;
  /** Whether objects written in one request get their MD5 as ETag (no KMS). */
  etagIsMd5: boolean;
  signal: AbortSignal;
}

export async function putInOneRequest(name: string, put: SinglePut): Promise<DriverWriteResult> {
  const { params, bytes, computesChecksums: computed } = put;
  // A client computing checksums (WHEN_SUPPORTED, AWS) sends its CRC32 and signs the
  // payload's SHA-256, as the SDK does. Else (the S3-compatible profiles) the body's MD5 goes
  // as Content-MD5, which the server checks (a changed body is BadDigest, nothing stored) and
  // SigV4 signs, and the payload is UNSIGNED-PAYLOAD — what rclone sends too: the bytes are
  // hashed once (MD5) on each side instead of twice (MD5 and SHA-256), and the save reports
  // that MD5 (a migration checks it against the ETag without hashing the body again).
  const digest = computed && put.etagIsMd5 ? undefined : createHash("md5").update(bytes).digest();
  if (digest !== undefined && !put.etagIsMd5)
    params.Metadata = { ...params.Metadata, [MD5_METADATA]: digest.toString("base64") };
  const command = new PutObjectCommand({
    ...params,
    Body: bytes,
    ContentLength: bytes.byteLength,
    ...(computed || digest === undefined ? {} : { ContentMD5: digest.toString("base64") }),
  });
  if (!computed)
    // Before SigV4 signs the request: the signer then hashes no body.
    command.middlewareStack.add(
      (next) => (args) => {
        const request = args.request as { headers?: Record<string, string> };
        if (request.headers) request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD";
        return next(args);
      },
      { step: "build", name: "storagesUnsignedPayload" },
    );
  const out = await put.client.send(command, { abortSignal: put.signal });
  return {
    key: name,
    size: bytes.byteLength,
    etag: normalizeEtag(out.ETag),
    checksums: digest === undefined ? undefined : { md5: digest.toString("hex") },
  };
}
