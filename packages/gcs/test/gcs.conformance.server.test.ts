/**
 * The shared conformance suite against a real GCS server: the Cloud Storage emulator in CI, or
 * real GCS / fake-gcs-server through STORAGES_TEST_GCS_*.
 */
import { randomBytes } from "node:crypto";
import { Storage } from "@storages/core";
import { describeConformance } from "@storages/testing";
import { describe, it } from "vitest";
import { GcsDriver, type GcsDriverOptions } from "../src/index.js";
import { NO_SERVER_MESSAGE, serverGaps, testChunkSize, testServer, throwawayKey } from "./server.js";

const server = testServer();
const chunkSize = testChunkSize();

if (server === undefined) {
  describe("gcs conformance", () => {
    it("needs a GCS test server", () => {
      throw new Error(NO_SERVER_MESSAGE);
    });
  });
} else {
  const emulated = server.kind !== "gcs";
  const bucket = server.bucket ?? `storages-test-${randomBytes(5).toString("hex")}`;
  const key = emulated ? throwawayKey() : undefined;
  const base: GcsDriverOptions = {
    bucket,
    projectId: server.projectId,
    ...(server.endpoint !== undefined && { endpoint: server.endpoint }),
    ...(key !== undefined && { credentials: key }),
    // Emulators have no ACLs (every object is public to everyone): the bucket-level model is the
    // honest one there. Real GCS runs use the bucket's own mode.
    uniformAccess: emulated || process.env.STORAGES_TEST_GCS_UNIFORM_ACCESS === "true",
    // The driver's default (one streaming request) unless the run asks for chunked uploads; the
    // emulator's gap for those is declared below only then.
    ...(chunkSize !== undefined && { chunkSize }),
  };
  let bucketReady: Promise<void> | undefined;
  const drivers: GcsDriver[] = [];

  describeConformance({
    name: "gcs",
    server: server.label,
    serverGaps: serverGaps(server.kind, chunkSize),
    async createStorage(context) {
      const driver = new GcsDriver({ ...base, prefix: `${context.prefix}/` });
      drivers.push(driver);
      // fake-gcs-server needs the bucket first; the firebase emulator answers 501 and creates
      // buckets on first write; a real-GCS run names an existing bucket.
      bucketReady ??= server.bucket
        ? Promise.resolve()
        : driver.client.createBucket(bucket).then(
            () => undefined,
            () => undefined,
          );
      await bucketReady;
      return new Storage(driver, { visibility: context.visibility, overwrite: context.overwrite });
    },
    async teardown() {
      if (server.bucket || drivers.length === 0) return;
      // The suite has emptied every prefix; remove the run's bucket where the server can.
      await drivers[0]!.bucket.delete().catch(() => undefined);
    },
  });
}
