/**
 * The shared conformance suite against a real S3 server: Ceph RGW in CI (scripts/servers/rgw.mjs),
 * or whatever STORAGES_TEST_S3_* points at (MinIO, AWS, R2…). One fresh bucket per run.
 */
import { Storage } from "@storages/core";
import { describeConformance } from "@storages/testing";
import { S3Driver } from "../src/index.js";
import { connectionOf, failWithoutServer, findTestServer, testBucket } from "./support/server.js";

const server = findTestServer();

if (!server) {
  failWithoutServer("s3 conformance");
} else {
  const bucket = testBucket(server, "conformance");

  describeConformance({
    name: "s3",
    server: server.label,
    createStorage: async ({ prefix, visibility, overwrite }) => {
      await bucket.ready();
      const driver = new S3Driver({ bucket: bucket.name, prefix, ...connectionOf(server), visibility });
      return new Storage(driver, { visibility, overwrite });
    },
    teardown: () => bucket.remove(),
    // RGW checks signatures, expiry, POST policies, If-None-Match and anonymous access: no gaps.
    serverGaps: {},
  });
}
