// Named storages from the environment, with every driver package loaded lazily from node_modules.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createStorages, storages } from "@storages/core";

const root = await mkdtemp(join(tmpdir(), "registry-"));
try {
  process.env.STORAGES_DEFAULT = `file://${root}?baseUrl=/media/`;
  const media = await storages.get("default");
  const { name } = await media.save("hello.txt", "hello");
  assert.equal(await media.readText(name), "hello");
  assert.equal(await media.url(name), "/media/hello.txt");
  await storages.close();

  // Cloud storages are only built here (no request is sent): this loads each driver and its SDK.
  const clouds = createStorages({
    env: {
      STORAGES_S3: "s3://pack-check-bucket/media?region=eu-west-1",
      STORAGES_S3_ACCESS_KEY_ID: "AKIAPACKCHECK",
      STORAGES_S3_SECRET_ACCESS_KEY: "pack-check-secret-pack-check-secret",
      STORAGES_GCS: "gs://pack-check-bucket/media?projectId=pack-check",
      STORAGES_AZURE: "azure://devstoreaccount1/pack-check/media",
      STORAGES_AZURE_ACCOUNT_KEY:
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
    },
    configFile: false,
  });
  for (const [storageName, backend] of [
    ["s3", "s3"],
    ["gcs", "gcs"],
    ["azure", "azure"],
  ] as const) {
    assert.equal((await clouds.get(storageName)).backend, backend);
  }
  await clouds.close();
  console.log(
    "named storages: storages.get('default') from STORAGES_DEFAULT; s3, gcs, azure loaded lazily — ok",
  );
} finally {
  await rm(root, { recursive: true, force: true });
}
