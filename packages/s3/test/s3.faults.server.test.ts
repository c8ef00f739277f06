/**
 * The S3 driver through the fault proxy to the real server (Ceph RGW in CI): retries, timeouts,
 * cut uploads and downloads, secrets, and the concurrency soak (@storages/testing describeFaults).
 * Unfinished uploads are listed with ListMultipartUploads, straight from the server.
 */
import { describeFaults } from "@storages/testing";
import { S3Driver } from "../src/index.js";
import {
  connectionOf,
  failWithoutServer,
  findTestServer,
  openUploads,
  testBucket,
} from "./support/server.js";

const server = findTestServer();

if (!server) {
  failWithoutServer("s3 faults");
} else {
  const bucket = testBucket(server, "faults");
  const driver = (endpoint: string, prefix: string, secretAccessKey = server.secretAccessKey) =>
    new S3Driver({ bucket: bucket.name, prefix, ...connectionOf(server, secretAccessKey), endpoint });

  describeFaults({
    name: "s3",
    server: server.label,
    dialect: "s3",
    upstream: server.endpoint,
    async createDriver({ endpoint, prefix }) {
      await bucket.ready();
      return driver(endpoint, prefix);
    },
    leftovers: (prefix) => openUploads(bucket.admin, bucket.name, `${prefix}/`),
    secrets: [server.accessKeyId, server.secretAccessKey],
    badCredentials: ({ endpoint, prefix }) => {
      const wrong = "wrong-secret-0123456789abcdefghijklmnop";
      return { driver: driver(endpoint, prefix, wrong), secrets: [wrong] };
    },
    teardown: () => bucket.remove(),
  });
}
