/**
 * Which GCS server the integration tests talk to, and what that server cannot check.
 *
 * STORAGES_TEST_GCS_* name the server (scripts/servers/gcs-emulator.mjs sets them in CI; point
 * them at real GCS or fake-gcs-server — `docker compose up -d fake-gcs-server` — to run the same tests there).
 */
import { generateKeyPairSync } from "node:crypto";
import type { ServerGap } from "@storages/testing";
import type { ServiceAccountKey } from "../src/index.js";

export interface GcsTestServer {
  endpoint: string | undefined;
  projectId: string;
  label: string;
  bucket: string | undefined;
  kind: "firebase-emulator" | "fake-gcs-server" | "gcs";
}

export const NO_SERVER_MESSAGE =
  "No GCS test server: STORAGES_TEST_GCS_ENDPOINT is not set. " +
  "Run `npm test` from the repository root (it starts the Cloud Storage emulator), or start one yourself: " +
  "`node scripts/servers/gcs-emulator.mjs start` and set the STORAGES_TEST_GCS_* variables it prints. " +
  "For real GCS set STORAGES_TEST_GCS_PROJECT and STORAGES_TEST_GCS_BUCKET (credentials from Application Default Credentials).";

/** The server from the environment, or undefined when there is none. */
export function testServer(): GcsTestServer | undefined {
  const env = process.env;
  const endpoint = env.STORAGES_TEST_GCS_ENDPOINT || undefined;
  const bucket = env.STORAGES_TEST_GCS_BUCKET || undefined;
  if (endpoint === undefined && bucket === undefined) return undefined;
  const label =
    env.STORAGES_TEST_GCS_SERVER ||
    (endpoint ? `GCS-compatible server at ${endpoint}` : "Google Cloud Storage");
  const kind = /fake-gcs/i.test(label)
    ? "fake-gcs-server"
    : /emulator|firebase/i.test(label)
      ? "firebase-emulator"
      : "gcs";
  const projectId = env.STORAGES_TEST_GCS_PROJECT || "demo-storages";
  for (const url of endpoint ? [endpoint] : []) {
    const host = new URL(url).hostname;
    if (kind !== "gcs" && !["127.0.0.1", "localhost", "::1", "[::1]"].includes(host)) {
      throw new Error(`STORAGES_TEST_GCS_ENDPOINT must be a loopback address for an emulator, got ${host}.`);
    }
  }
  return { endpoint, projectId, label, bucket, kind };
}

/**
 * The chunk size the suites run with: the driver's default (one streaming request) unless
 * STORAGES_TEST_GCS_CHUNK_SIZE asks for chunked uploads (real GCS or fake-gcs-server).
 */
export function testChunkSize(): number | undefined {
  const value = process.env.STORAGES_TEST_GCS_CHUNK_SIZE;
  return value ? Number(value) : undefined;
}

/**
 * What each kind of server does not check, so the suite reports it as NOT VERIFIABLE. `chunkSize`
 * is the one the storages under test use: only chunked uploads hit the emulator's gap.
 */
export function serverGaps(
  kind: GcsTestServer["kind"],
  chunkSize: number | undefined,
): Partial<Record<ServerGap, string>> {
  if (kind === "firebase-emulator") {
    return {
      signatureTamper: "the Cloud Storage emulator serves signed URLs without checking X-Goog-Signature",
      signatureExpiry: "the Cloud Storage emulator never checks X-Goog-Date/X-Goog-Expires",
      conditionalWrite: "the Cloud Storage emulator ignores ifGenerationMatch: 0 and overwrites",
      anonymousAccess:
        "the Cloud Storage emulator has no authorisation: every object is readable anonymously",
      signedUploadPut: "the Cloud Storage emulator answers 501 to XML API PUT uploads",
      uploadSizeLimit:
        "the Cloud Storage emulator accepts POST form uploads without checking the policy's content-length-range",
      signedUrlOverrides:
        "the Cloud Storage emulator ignores response-content-disposition and response-content-type on signed URLs (it always answers with the stored headers)",
      listingOrder:
        "the Cloud Storage emulator sorts names by UTF-16 code units (astral characters before U+E000–U+FFFF), not by their UTF-8 bytes as GCS does",
      ...(chunkSize !== undefined &&
        chunkSize > 0 && {
          largeMultipart: `the Cloud Storage emulator finalises a chunked resumable upload after its first chunk, so chunkSize ${chunkSize} cannot run here; chunked uploads are covered by unit tests`,
        }),
    };
  }
  if (kind === "fake-gcs-server") {
    return {
      signatureTamper: "fake-gcs-server does not check signatures",
      signatureExpiry: "fake-gcs-server does not check signature expiry",
      anonymousAccess: "fake-gcs-server has no authorisation",
      uploadSizeLimit: "fake-gcs-server does not enforce content-length-range",
    };
  }
  return {};
}

/** A throwaway service-account key: emulators check no signature, but the SDK needs a key to sign. */
export function throwawayKey(): ServiceAccountKey {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return {
    type: "service_account",
    client_email: "storages-tests@demo-storages.iam.gserviceaccount.com",
    private_key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  };
}
