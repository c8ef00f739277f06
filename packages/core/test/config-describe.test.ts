/**
 * describe(): what tools (`storages config`, deployment checks) need, from the real bundled
 * backends — and never a secret: real-looking secrets sit in every secret variable of every
 * backend, and none may appear in describe(), in any ConfigError or warning, or in JSON of either.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ConfigWarning, createStorages, type StorageDescription } from "@storages/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configError } from "./config-helpers.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "storages-describe-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const serviceAccount = JSON.stringify({
  type: "service_account",
  project_id: "acme-prod",
  private_key_id: randomBytes(20).toString("hex"),
  private_key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  client_email: "media@acme-prod.iam.gserviceaccount.com",
});
const accountKey = randomBytes(64).toString("base64");

/** A real-looking value in every secret variable every bundled backend reads. */
const SECRETS: Record<string, string> = {
  STORAGES_MEDIA_ACCESS_KEY_ID: "AKIAIOSFODNN7EXAMPLE",
  STORAGES_MEDIA_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  STORAGES_MEDIA_SESSION_TOKEN: `IQoJb3JpZ2luX2VjE${randomBytes(24).toString("base64")}`,
  STORAGES_DEFAULT_SIGNING_SECRET: randomBytes(48).toString("base64"),
  STORAGES_PRIVATE_SIGNING_SECRET: randomBytes(48).toString("base64"),
  STORAGES_EXPORTS_ACCOUNT_KEY: accountKey,
  STORAGES_ARCHIVE_CONNECTION_STRING: `DefaultEndpointsProtocol=https;AccountName=acmearchive;AccountKey=${randomBytes(64).toString("base64")};EndpointSuffix=core.windows.net`,
  STORAGES_UPLOADS_SAS_TOKEN: `sv=2025-01-05&ss=b&srt=co&sp=rwdlac&se=2030-01-01T00%3A00%3A00Z&sig=${encodeURIComponent(randomBytes(32).toString("base64"))}`,
  STORAGES_REPORTS_CREDENTIALS_JSON: serviceAccount,
};

const ENV: Record<string, string> = {
  STORAGES_DEFAULT: `file://${"/srv/app"}/media?baseUrl=/media/&signingBaseUrl=/media/`,
  STORAGES_PRIVATE: "file:///srv/app/private?visibility=private&signingBaseUrl=/private/&expiresIn=10m",
  STORAGES_STATICFILES: "file:///srv/app/static?publicUrl=https://cdn.acme.com/static/",
  STORAGES_MEDIA: "s3://acme-media/uploads?region=eu-west-1&partSize=16MiB",
  STORAGES_EXPORTS: "azure://acmeexports/exports/daily?blockSize=8MiB",
  STORAGES_ARCHIVE: "azure://acmearchive/archive",
  STORAGES_UPLOADS: "azure://acmeuploads/incoming",
  STORAGES_REPORTS: "gs://acme-reports/monthly?uniformAccess=true",
  ...SECRETS,
};

/** Each secret, and the key-like runs inside a compound one (a connection string's key, a PEM body line). */
const secretParts = Object.values(SECRETS).flatMap((value) => [
  value,
  ...[...value.matchAll(/[A-Za-z0-9+/%]{40,}/g)].map((m) => m[0]),
]);
const meaningful = [...new Set(secretParts)].filter((part) => part.length >= 16);

function expectNoSecret(text: string): void {
  for (const part of meaningful) expect(text, `contains ${part.slice(0, 8)}…`).not.toContain(part);
}

describe("describe()", () => {
  let described: Record<string, StorageDescription>;
  const warnings: ConfigWarning[] = [];
  beforeAll(async () => {
    const registry = createStorages({
      cwd: dir,
      configFile: false,
      mountInfo: "",
      env: ENV,
      onWarning: (w) => warnings.push(w),
    });
    described = Object.fromEntries((await registry.describe()).map((d) => [d.name, d]));
    await registry.close();
  });

  it("gives every storage's backend, location, public base URL, visibility, readOnly and capabilities", () => {
    expect(Object.keys(described).sort()).toEqual([
      "archive",
      "default",
      "exports",
      "media",
      "private",
      "reports",
      "staticfiles",
      "uploads",
    ]);
    expect(described.default).toMatchObject({
      backend: "fs",
      location: "/srv/app/media",
      locationParts: { kind: "dir", path: "/srv/app/media" },
      publicUrl: "/media/",
      visibility: "public",
      readOnly: false,
      capabilities: { signedUrl: true },
    });
    expect(described.private).toMatchObject({
      location: "/srv/app/private",
      publicUrl: undefined,
      visibility: "private",
      signedUrlExpiresIn: 600,
    });
    expect(described.staticfiles).toMatchObject({
      publicUrl: "https://cdn.acme.com/static/",
      visibility: "public",
      readOnly: true,
    });
    expect(described.media).toMatchObject({
      backend: "s3",
      location: "s3://acme-media/uploads/",
      locationParts: {
        kind: "bucket",
        service: "s3",
        namespace: "aws",
        bucket: "acme-media",
        prefix: "uploads/",
      },
      settings: {
        profile: "aws",
        region: "eu-west-1",
        partSize: 16 * 1024 * 1024,
        credentials: "explicit keys",
      },
      visibility: "private",
    });
    expect(described.exports).toMatchObject({
      backend: "azure",
      location: "azure://acmeexports/exports/daily/",
      settings: { blockSize: 8 * 1024 * 1024, credentials: "an account key" },
    });
    expect(described.archive).toMatchObject({
      location: "azure://acmearchive/archive/",
      settings: { credentials: "a connection string" },
    });
    expect(described.reports).toMatchObject({
      backend: "gcs",
      location: "gs://acme-reports/monthly/",
      settings: { uniformAccess: true, credentials: "a service-account key" },
    });
    for (const d of Object.values(described)) expect(typeof d.capabilities.rangeRead).toBe("boolean");
  });

  it("says which variable set each value, and which secret variables are in use (names only)", () => {
    expect(described.media!.sources).toEqual({
      bucket: "STORAGES_MEDIA",
      prefix: "STORAGES_MEDIA",
      region: "STORAGES_MEDIA (region=)",
      partSize: "STORAGES_MEDIA (partSize=)",
      credentials:
        "STORAGES_MEDIA_ACCESS_KEY_ID and STORAGES_MEDIA_SECRET_ACCESS_KEY and STORAGES_MEDIA_SESSION_TOKEN",
    });
    expect(described.media!.secrets).toEqual([
      "STORAGES_MEDIA_ACCESS_KEY_ID",
      "STORAGES_MEDIA_SECRET_ACCESS_KEY",
      "STORAGES_MEDIA_SESSION_TOKEN",
    ]);
    expect(described.default!.sources).toMatchObject({
      root: "STORAGES_DEFAULT",
      signing: "STORAGES_DEFAULT_SIGNING_SECRET",
      signingBaseUrl: "STORAGES_DEFAULT (signingBaseUrl=)",
      publicUrl: "STORAGES_DEFAULT (baseUrl=)",
      visibility: "STORAGES_DEFAULT (baseUrl=) (a storage with a public base URL is public)",
    });
    expect(described.private!.sources).toMatchObject({
      visibility: "STORAGES_PRIVATE (visibility=)",
      signedUrlExpiresIn: "STORAGES_PRIVATE (expiresIn=)",
    });
    expect(described.exports!.sources.accountKey).toBe("STORAGES_EXPORTS_ACCOUNT_KEY");
    expect(described.reports!.secrets).toEqual(["STORAGES_REPORTS_CREDENTIALS_JSON"]);
  });

  it("contains no secret, whether read as fields or as JSON", () => {
    expect(meaningful.length).toBeGreaterThan(Object.keys(SECRETS).length);
    expectNoSecret(JSON.stringify(described));
    expectNoSecret(JSON.stringify(warnings));
  });

  it("local mode describes the folders in use, with the local-mode source of each value", async () => {
    const registry = createStorages({
      cwd: dir,
      configFile: false,
      mountInfo: "",
      env: { ...ENV, STORAGES_MODE: "local" },
    });
    const local = Object.fromEntries((await registry.describe()).map((d) => [d.name, d]));
    await registry.close();
    expect(local.media).toMatchObject({
      backend: "fs",
      sourceKind: "local",
      location: join(dir, ".storages", "media"),
      visibility: "private",
    });
    expect(local.media!.sources.root).toBe('STORAGES_LOCAL_ROOT (local mode, storage "media")');
    expect(local.default!.sources.signing).toBe("STORAGES_DEFAULT_SIGNING_SECRET");
    expect(local.staticfiles).toMatchObject({
      visibility: "public",
      publicUrl: "/storages/staticfiles/",
      readOnly: true,
    });
    expectNoSecret(JSON.stringify(local));
  });
});

describe("no secret in any configuration error", () => {
  it("every problem is reported without the values of the secret variables, in messages and JSON", async () => {
    const error = await configError(
      createStorages({
        cwd: dir,
        configFile: false,
        mountInfo: "",
        env: {
          ...ENV,
          STORAGES_MEDIA: "s3://acme-media/uploads?partSize=1",
          STORAGES_EXPORTS: "azure://otheraccount/exports",
          STORAGES_ARCHIVE: "azure://otheraccount/archive",
          STORAGES_UPLOADS: "azure://acmeuploads/Incoming_Files",
          STORAGES_REPORTS: "gs://acme-reports?chunkSize=3",
          STORAGES_DEFAULT: "file:///srv/app/media",
          // A secret pasted where it does not belong.
          STORAGES_PRIVATE: `file:///srv/app/private?signingBaseUrl=/p/&token=${SECRETS.STORAGES_PRIVATE_SIGNING_SECRET}`,
        },
      }).load(),
    );
    const problems = (error as { errors?: Error[] }).errors ?? [];
    expect(problems.length).toBeGreaterThanOrEqual(5);
    expectNoSecret(error.message);
    expectNoSecret(JSON.stringify(error));
    for (const problem of problems) {
      expectNoSecret(problem.message);
      expectNoSecret(JSON.stringify(problem));
    }
  });

  it("even a backend that quotes a secret in its error is cut off from it", async () => {
    const leaky = {
      name: "leaky",
      schemes: ["leaky"],
      optionKeys: [],
      fromUrl(_url: URL, context: { env: Record<string, string | undefined> }) {
        throw new Error(`cannot use key ${context.env.STORAGES_VAULT_TOKEN}`);
      },
      create() {
        throw new Error("unreachable");
      },
    };
    const error = await configError(
      createStorages({
        cwd: dir,
        configFile: false,
        mountInfo: "",
        backends: [leaky],
        env: { STORAGES_VAULT: "leaky://vault", STORAGES_VAULT_TOKEN: "hvs.CAESIJ1kd8LlC3f0e9Xq" },
      }).load(),
    );
    expect(error.message).toBe("STORAGES_VAULT: cannot use key [redacted]");
    expect(JSON.stringify(error)).not.toContain("hvs.CAESIJ1kd8LlC3f0e9Xq");
  });
});
