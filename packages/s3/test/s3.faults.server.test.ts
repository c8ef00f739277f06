/**
 * The S3 driver through the fault proxy to the real server (Ceph RGW in CI): retries, timeouts,
 * cut uploads and downloads, secrets, and the concurrency soak (@storages/testing describeFaults).
 * Unfinished uploads are listed with ListMultipartUploads, straight from the server.
 */
import { describeFaults } from "@storages/testing";
import { describe, it } from "vitest";
import { S3Driver } from "../src/index.js";
import {
  adminClient,
  createBucket,
  findTestServer,
  MISSING_SERVER_MESSAGE,
  openUploads,
  removeBucket,
  uniqueBucketName,
} from "./support/server.js";

const server = findTestServer();

if (!server) {
  describe("s3 faults", () => {
    it("needs a real S3 server", () => {
      throw new Error(MISSING_SERVER_MESSAGE);
    });
  });
} else {
  const admin = adminClient(server);
  const bucket = server.bucket ?? uniqueBucketName("faults");
  let bucketReady: Promise<void> | undefined;
  const driver = (endpoint: string, prefix: string, secretAccessKey = server.secretAccessKey) =>
    new S3Driver({
      bucket,
      prefix,
      endpoint,
      region: server.region,
      profile: server.profile,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey },
    });

  describeFaults({
    name: "s3",
    server: server.label,
    dialect: "s3",
    upstream: server.endpoint,
    async createDriver({ endpoint, prefix }) {
      if (!server.bucket) bucketReady ??= createBucket(admin, bucket);
      await bucketReady;
      return driver(endpoint, prefix);
    },
    leftovers: (prefix) => openUploads(admin, bucket, `${prefix}/`),
    secrets: [server.accessKeyId, server.secretAccessKey],
    badCredentials: ({ endpoint, prefix }) => {
      const wrong = "wrong-secret-0123456789abcdefghijklmnop";
      return { driver: driver(endpoint, prefix, wrong), secrets: [wrong] };
    },
    async teardown() {
      if (!server.bucket && bucketReady) await removeBucket(admin, bucket);
      admin.destroy();
    },
  });
}
