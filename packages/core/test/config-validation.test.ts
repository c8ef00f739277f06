/**
 * load() validates every option of every storage with the real bundled backends — before any
 * storage is used, without touching the network — and each message names the variable (or config
 * key) holding the bad value and the fix. The registry's own rules are tested with stub backends in
 * config-registry.test.ts; this file proves the backends' checks reach load().
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createStorages, type StoragesOptions } from "@storages/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { configError } from "./config-helpers.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "storages-validation-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function registry(options: StoragesOptions) {
  return createStorages({ cwd: dir, configFile: false, mountInfo: "", onWarning: () => {}, ...options });
}

async function loadError(env: Record<string, string>): Promise<string> {
  return (await configError(registry({ env }).load())).message;
}

describe("load() catches what the drivers would refuse, naming the variable", () => {
  it.each([
    [
      "an S3 part size below 5 MiB",
      { STORAGES_MEDIA: "s3://media-bucket?partSize=1024" },
      "STORAGES_MEDIA (partSize=) must be a size from 5 MiB to 5 GiB, not 1 KiB.",
    ],
    [
      "an invalid S3 bucket name",
      { STORAGES_MEDIA: "s3://Media_Bucket/uploads" },
      /^STORAGES_MEDIA: bucket must be a valid bucket name, not "Media_Bucket"/,
    ],
    [
      "a bad AWS region",
      { STORAGES_MEDIA: "s3://media-bucket?region=eu_west_1" },
      'STORAGES_MEDIA (region=) must be an AWS region such as "eu-west-1", not "eu_west_1".',
    ],
    [
      "an endpoint without a scheme",
      { STORAGES_MEDIA: "s3://media-bucket?endpoint=minio:9000" },
      /^STORAGES_MEDIA \(endpoint=\) must be an http:\/\/ or https:\/\/ URL/,
    ],
    [
      "an Azure block size of 8 (bytes, not MiB)",
      { STORAGES_MEDIA: "azure://acct/media?blockSize=8" },
      "STORAGES_MEDIA (blockSize=) must be a size from 1 MiB to 4000 MiB, not 8 bytes.",
    ],
    [
      "an invalid Azure container name",
      { STORAGES_MEDIA: "azure://acct/Media--Files" },
      /^STORAGES_MEDIA: container must be a valid container name, not "Media--Files"/,
    ],
    [
      "a GCS chunk size that is not a multiple of 256 KiB",
      { STORAGES_MEDIA: "gs://media-bucket?chunkSize=1000000" },
      /^STORAGES_MEDIA \(chunkSize=\) must be a multiple of 256 KiB/,
    ],
    [
      "a short fs signing secret",
      {
        STORAGES_MEDIA: "file:///srv/media?signingBaseUrl=/media/",
        STORAGES_MEDIA_SIGNING_SECRET: "only-16-bytes!!!",
      },
      "STORAGES_MEDIA_SIGNING_SECRET is 16 bytes long; signed URLs need at least 32. Generate one with: openssl rand -base64 48.",
    ],
    [
      "a non-base64 Azure account key",
      { STORAGES_MEDIA: "azure://acct/media", STORAGES_MEDIA_ACCOUNT_KEY: "not a key" },
      "STORAGES_MEDIA_ACCOUNT_KEY is not base64: copy key1 or key2 from the account's Access keys page.",
    ],
    [
      "a misspelt S3 parameter",
      { STORAGES_MEDIA: "s3://media-bucket?regoin=eu-west-1" },
      /^STORAGES_MEDIA: unknown query parameter `regoin` \(did you mean `region`\?\)/,
    ],
    [
      "a signed URL lifetime above 7 days",
      { STORAGES_MEDIA: "file:///srv/media?expiresIn=8d" },
      "STORAGES_MEDIA (expiresIn=) must be at most 604800 seconds (7 days, the longest S3 and GCS accept), not 691200.",
    ],
  ])("%s", async (_what, env, expected) => {
    const message = await loadError(env);
    if (typeof expected === "string") expect(message).toBe(expected);
    else expect(message).toMatch(expected);
  });

  it("config-file entries name their key", async () => {
    await writeFile(
      join(dir, "storages.config.json"),
      JSON.stringify({
        media: { backend: "s3", options: { bucket: "media-bucket", partSize: "1MiB" } },
        exports: { backend: "azure", options: { accountName: "acct", container: "exports", blockSize: 1 } },
      }),
    );
    const message = (await configError(createStorages({ cwd: dir, env: {}, mountInfo: "" }).load())).message;
    expect(message).toBe(
      "The storage configuration has 2 problems:\n" +
        "- storages.config.json › exports.options.blockSize must be a size from 1 MiB to 4000 MiB, not 1 byte.\n" +
        "- storages.config.json › media.options.partSize must be a size from 5 MiB to 5 GiB, not 1 MiB.",
    );
  });

  it("lists every problem of every storage in one ConfigError, without creating anything", async () => {
    const error = await configError(
      registry({
        env: {
          STORAGES_DEFAULT: "/var/lib/app/media",
          STORAGES_MEDIA: "s3://media-bucket?partSize=1024&queueSize=0",
          STORAGES_EXPORTS: "azure://acct/exports?blockSize=8",
          STORAGES_STATICFILES: `file://${dir}/static?fileMode=rw`,
        },
      }).load(),
    );
    expect(error.message).toBe(
      "The storage configuration has 4 problems:\n" +
        "- STORAGES_DEFAULT is a directory path, not a storage URL: it has no scheme. A local directory is written " +
        "as a file:// URL with three slashes: file:///var/lib/app/media\n" +
        "- STORAGES_EXPORTS (blockSize=) must be a size from 1 MiB to 4000 MiB, not 8 bytes.\n" +
        "- STORAGES_MEDIA (partSize=) must be a size from 5 MiB to 5 GiB, not 1 KiB.\n" +
        "- STORAGES_STATICFILES (fileMode=) must be an octal permission such as 644 or 0o644.",
    );
    expect((error as { errors?: unknown[] }).errors).toHaveLength(4);
  });

  it("a directory path without a scheme is a storage with a message, not an ignored variable", async () => {
    const message = await loadError({ STORAGES_DEFAULT: "/var/lib/app/media" });
    expect(message).toBe(
      "STORAGES_DEFAULT is a directory path, not a storage URL: it has no scheme. A local directory is written " +
        "as a file:// URL with three slashes: file:///var/lib/app/media",
    );
    expect(await loadError({ STORAGES_DEFAULT: "./media" })).toMatch(/^STORAGES_DEFAULT is a relative path/);
  });

  it("a path in a variable of no configured storage (a stray key file) stays a warning", async () => {
    const warnings: string[] = [];
    await createStorages({
      cwd: dir,
      configFile: false,
      mountInfo: "",
      env: { STORAGES_REPORTS_KEY_FILE: "/run/secrets/reports.json" },
      onWarning: (w) => warnings.push(w.message),
    }).load();
    expect(warnings).toEqual([
      "STORAGES_REPORTS_KEY_FILE is set but is neither a storage URL (scheme://…) nor a variable of a configured " +
        "storage (a typo in the storage name?). It is ignored. (A storage's directory is written as a file:/// URL.)",
    ]);
  });
});
