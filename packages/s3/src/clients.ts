/**
 * The S3 clients a driver sends through: the one for its calls, and the signer for presigned URLs
 * and uploads (its own endpoint, the browsers' hostname, and never a payload checksum). Built here
 * so driver.ts only holds them; the driver destroys the ones it made (`owned`), never a caller's.
 */
import { S3Client, type S3ClientConfig } from "@aws-sdk/client-s3";
import type { ResolvedS3Options, S3DriverOptions } from "./options.js";

function s3ClientConfig(
  options: ResolvedS3Options,
  endpoint: string | undefined,
  credentials: S3DriverOptions["credentials"],
): S3ClientConfig {
  const checksums = options.checksums === "when_required" ? "WHEN_REQUIRED" : "WHEN_SUPPORTED";
  return {
    region: options.region,
    endpoint,
    forcePathStyle: options.forcePathStyle,
    credentials,
    requestChecksumCalculation: checksums,
    responseChecksumValidation: checksums,
    // One attempt per call: the storage's retry policy (core's, the same on every backend) decides
    // what is repeated, so the SDK's retries and ours never multiply.
    maxAttempts: 1,
  };
}

export interface S3Clients {
  client: S3Client;
  /** Signs URLs and uploads: its own endpoint (browsers' hostname) and never a payload checksum. */
  signer: S3Client;
  /** The clients made here (not a caller's), in the order made: the driver destroys them on close. */
  owned: S3Client[];
}

export function createClients(options: S3DriverOptions, resolved: ResolvedS3Options): S3Clients {
  const owned: S3Client[] = [];
  let client: S3Client;
  let signer: S3Client;
  if (options.client) {
    client = options.client;
  } else {
    client = new S3Client(s3ClientConfig(resolved, resolved.endpoint, options.credentials));
    owned.push(client);
  }
  if (options.client || resolved.signingEndpoint !== undefined || resolved.checksums !== "when_required") {
    // Presigned PUTs from a WHEN_SUPPORTED client (the SDK default, so possibly a caller's) carry
    // the CRC32 of an empty body and fail for any real upload; a signer with WHEN_REQUIRED signs
    // only what the uploader really sends.
    const signingOptions = { ...resolved, checksums: "when_required" as const };
    const credentials = options.client ? options.client.config.credentials : options.credentials;
    const endpoint = resolved.signingEndpoint ?? resolved.endpoint;
    const config = s3ClientConfig(signingOptions, endpoint, credentials);
    if (options.client) {
      config.region = options.client.config.region;
      config.forcePathStyle = options.client.config.forcePathStyle;
      if (resolved.signingEndpoint === undefined) config.endpoint = options.client.config.endpoint;
    }
    signer = new S3Client(config);
    owned.push(signer);
  } else {
    signer = client;
  }
  return { client, signer, owned };
}
