/**
 * The shared conformance suite against a real S3 server: Ceph RGW in CI (scripts/servers/rgw.mjs),
 * or whatever STORAGES_TEST_S3_* points at (MinIO, AWS, R2…). One fresh bucket per run.
 */
import { Storage } from "@storages/core";
import { describeConformance } from "@storages/testing";
import { describe, it } from "vitest";
import { S3Driver } from "../src/index.js";
import {
  adminClient,
  createBucket,
  findTestServer,
  MISSING_SERVER_MESSAGE,
  removeBucket,
  uniqueBucketName,
} from "./support/server.js";

const server = findTestServer();

if (!server) {
  describe("s3 conformance", () => {
    it("needs a real S3 server", () => {
      throw new Error(MISSING_SERVER_MESSAGE);
    });
  });
} else {
  const admin = adminClient(server);
  const bucket = server.bucket ?? uniqueBucketName("conformance");
  let bucketReady: Promise<void> | undefined;

  describeConformance({
    name: "s3",
    server: server.label,
    createStorage: async ({ prefix, visibility, overwrite }) => {
      if (!server.bucket) bucketReady ??= createBucket(admin, bucket);
      await bucketReady;
      const driver = new S3Driver({
        bucket,
        prefix,
        endpoint: server.endpoint,
        region: server.region,
        profile: server.profile,
        credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
        visibility,
      });
      return new Storage(driver, { visibility, overwrite });
    },
    teardown: async () => {
      if (!server.bucket && bucketReady) await removeBucket(admin, bucket);
      admin.destroy();
    },
    // RGW checks signatures, expiry, POST policies, If-None-Match and anonymous access: no gaps.
    serverGaps: {},
  });
}
