// Each cloud driver's factory, as a user calls it: typechecks their .d.ts (and the SDK types they
// expose) as a strict consumer, and builds a storage of each without sending a request.
import assert from "node:assert/strict";
import { azureStorage } from "@storages/azure";
import { gcsStorage } from "@storages/gcs";
import { s3Storage } from "@storages/s3";
// Type-only: the conformance suite's declarations (with vitest's) must typecheck too.
import type { ConformanceOptions } from "@storages/testing";

const s3 = s3Storage({
  bucket: "pack-check-bucket",
  region: "eu-west-1",
  credentials: { accessKeyId: "AKIAPACKCHECK", secretAccessKey: "pack-check-secret-pack-check-secret" },
});
const gcs = gcsStorage({ bucket: "pack-check-bucket", projectId: "pack-check" });
const azure = azureStorage({
  container: "pack-check",
  connectionString:
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;",
});
const gaps: ConformanceOptions["serverGaps"] = { signatureExpiry: "this server never checks expiry" };
assert.ok(gaps);
assert.deepEqual([s3.backend, gcs.backend, azure.backend], ["s3", "gcs", "azure"]);
await Promise.all([s3.close(), gcs.close(), azure.close()]);
console.log("drivers: s3Storage, gcsStorage, azureStorage built from the tarballs — ok");
