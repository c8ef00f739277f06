/**
 * The S3 server the integration tests run against: STORAGES_TEST_S3_* (RGW in CI, or MinIO, AWS,
 * R2…, or MinIO from the root docker-compose.yml). Nothing else: without a real server these
 * tests fail, they never skip (and `npm run test:unit` does not run them: *.server.test.ts).
 */
import { randomBytes } from "node:crypto";
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from "@aws-sdk/client-s3";
import { describe, it } from "vitest";
import type { ProfileName } from "../../src/index.js";

export interface S3TestServer {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  profile: ProfileName;
  /** Label for reports, e.g. "Ceph RGW 16.2.15". */
  label: string;
  /** A bucket to use instead of creating one per run. */
  bucket?: string | undefined;
}

export const MISSING_SERVER_MESSAGE =
  "No S3 server to test against. Run `npm test` from the repository root (it installs and starts Ceph RGW), " +
  "or start one yourself (`node scripts/servers/rgw.mjs start`) and set STORAGES_TEST_S3_ENDPOINT, " +
  "STORAGES_TEST_S3_ACCESS_KEY_ID, STORAGES_TEST_S3_SECRET_ACCESS_KEY (and STORAGES_TEST_S3_REGION, " +
  "STORAGES_TEST_S3_PROFILE, optional STORAGES_TEST_S3_BUCKET) — or run MinIO with `docker compose up -d minio` (variables in docker-compose.yml).";

export function findTestServer(): S3TestServer | undefined {
  const env = process.env;
  if (env.STORAGES_TEST_S3_ENDPOINT) {
    const accessKeyId = env.STORAGES_TEST_S3_ACCESS_KEY_ID;
    const secretAccessKey = env.STORAGES_TEST_S3_SECRET_ACCESS_KEY;
    if (!accessKeyId || !secretAccessKey) {
      throw new Error(
        "STORAGES_TEST_S3_ENDPOINT is set but STORAGES_TEST_S3_ACCESS_KEY_ID / STORAGES_TEST_S3_SECRET_ACCESS_KEY are not.",
      );
    }
    return {
      endpoint: env.STORAGES_TEST_S3_ENDPOINT,
      region: env.STORAGES_TEST_S3_REGION || "us-east-1",
      accessKeyId,
      secretAccessKey,
      profile: (env.STORAGES_TEST_S3_PROFILE || "generic") as ProfileName,
      label: env.STORAGES_TEST_S3_SERVER || env.STORAGES_TEST_S3_ENDPOINT,
      bucket: env.STORAGES_TEST_S3_BUCKET || undefined,
    };
  }
  return undefined;
}

export function adminClient(server: S3TestServer): S3Client {
  return new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

export function uniqueBucketName(purpose: string): string {
  return `storages-${purpose}-${randomBytes(5).toString("hex")}`;
}

export async function createBucket(client: S3Client, bucket: string): Promise<void> {
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
}

/** Multipart uploads still open under a prefix (must be none after any failed upload). */
export async function openUploads(client: S3Client, bucket: string, prefix = ""): Promise<string[]> {
  const out = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
  return (out.Uploads ?? []).map((upload) => upload.Key ?? "");
}

/** Removes everything under `prefix` (objects and open uploads), then the bucket unless it is shared. */
export async function emptyBucket(client: S3Client, bucket: string, prefix = ""): Promise<void> {
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    const keys = (page.Contents ?? []).map((object) => ({ Key: object.Key! }));
    if (keys.length > 0)
      await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
  for (const upload of uploads.Uploads ?? []) {
    await client.send(
      new AbortMultipartUploadCommand({ Bucket: bucket, Key: upload.Key!, UploadId: upload.UploadId! }),
    );
  }
}

export async function removeBucket(client: S3Client, bucket: string): Promise<void> {
  await emptyBucket(client, bucket);
  await client.send(new DeleteBucketCommand({ Bucket: bucket }));
}

/** What a test's driver or storage connects with: the server's endpoint, region, profile and keys. */
export function connectionOf(server: S3TestServer, secretAccessKey = server.secretAccessKey) {
  return {
    endpoint: server.endpoint,
    region: server.region,
    profile: server.profile,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey },
  };
}

export interface TestBucket {
  /** A client with full rights, for checking what the storage left behind. */
  admin: S3Client;
  name: string;
  /** Creates the bucket on first call (once, however many callers wait on it). */
  ready(): Promise<void>;
  /** Empties and deletes a bucket this suite created (never the shared one), and closes `admin`. */
  remove(): Promise<void>;
}

/** A suite's bucket: the shared STORAGES_TEST_S3_BUCKET, or one of its own, created on first use. */
export function testBucket(server: S3TestServer, purpose: string): TestBucket {
  const admin = adminClient(server);
  const name = server.bucket ?? uniqueBucketName(purpose);
  let created: Promise<void> | undefined;
  return {
    admin,
    name,
    ready() {
      if (server.bucket) return Promise.resolve();
      created ??= createBucket(admin, name);
      return created;
    },
    async remove() {
      if (!server.bucket && created) await removeBucket(admin, name);
      admin.destroy();
    },
  };
}

/** Without a server a suite fails, saying how to get one: it never skips. */
export function failWithoutServer(title: string): void {
  describe(title, () => {
    it("needs a real S3 server", () => {
      throw new Error(MISSING_SERVER_MESSAGE);
    });
  });
}

/** The server, for suites that set up in `beforeAll`: without one, the setup fails with how to get one. */
export function requireTestServer(): S3TestServer {
  const server = findTestServer();
  if (!server) throw new Error(MISSING_SERVER_MESSAGE);
  return server;
}
