/**
 * Options, gs:// URLs and credentials: typed ConfigErrors that say what to fix, never a secret.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Storage as GcsClient } from "@google-cloud/storage";
import { describe, expect, it } from "vitest";
import { backend, GcsDriver, type GcsDriverOptions, gcsStorage } from "../../src/index.js";
import { throwawayKey } from "../server.js";

const key = throwawayKey();
const context = (env: Record<string, string> = {}) => ({
  source: "STORAGES_MEDIA",
  storageName: "media",
  env,
});

function configError(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (error) {
    expect((error as { code?: string }).code).toBe("E_CONFIG");
    return error as Error;
  }
  throw new Error("expected a ConfigError");
}

describe("driver options", () => {
  it("defaults: fine-grained ACLs, per-object visibility", () => {
    const d = new GcsDriver({ bucket: "media-bkt" });
    expect(d.capabilities).toMatchObject({
      visibility: "object",
      conditionalWrite: true,
      signedUpload: ["put", "post"],
    });
    expect(d.backend).toBe("gcs");
  });

  it("refuses bad buckets, prefixes, chunk sizes and unknown options with a fix", () => {
    expect(configError(() => new GcsDriver({ bucket: "Bad_Bucket!" })).message).toMatch(/bucket must be/);
    expect(configError(() => new GcsDriver({ bucket: "media-bkt", prefix: "a/../b" })).message).toMatch(
      /\.\./,
    );
    expect(configError(() => new GcsDriver({ bucket: "media-bkt", chunkSize: 1000 })).message).toMatch(
      /256 KiB/,
    );
    expect(configError(() => new GcsDriver({ bucket: "media-bkt", deleteConcurrency: 0 })).message).toMatch(
      /at least 1/,
    );
    expect(configError(() => new GcsDriver({ bucket: "media-bkt", endpoint: "ftp://x" })).message).toMatch(
      /http/,
    );
    expect(
      configError(() => new GcsDriver({ bucket: "media-bkt", chunksize: 1 } as unknown as GcsDriverOptions))
        .message,
    ).toMatch(/unknown option\(s\) chunksize/);
    expect(
      configError(() => new GcsDriver({ bucket: "media-bkt", storage: new GcsClient(), projectId: "p" }))
        .message,
    ).toMatch(/not both/);
  });

  it("a caller-built client is used as is", () => {
    const client = new GcsClient({ apiEndpoint: "http://127.0.0.1:9" });
    expect(new GcsDriver({ bucket: "media-bkt", storage: client }).client).toBe(client);
  });

  it("credentials: a service-account key as object or JSON text; others refused without echoing the secret", () => {
    expect(() => new GcsDriver({ bucket: "media-bkt", credentials: key })).not.toThrow();
    expect(() => new GcsDriver({ bucket: "media-bkt", credentials: JSON.stringify(key) })).not.toThrow();
    const notJson = configError(
      () => new GcsDriver({ bucket: "media-bkt", credentials: `{"private_key": "${key.private_key}` }),
    );
    expect(notJson.message).not.toMatch(/PRIVATE KEY/);
    const user = configError(
      () =>
        new GcsDriver({
          bucket: "media-bkt",
          credentials: { type: "authorized_user", client_secret: "s3cr3t" } as never,
        }),
    );
    expect(user.message).toMatch(/GOOGLE_APPLICATION_CREDENTIALS/);
    expect(user.message).not.toMatch(/s3cr3t/);
  });

  it("keyFilename: read once; a missing file says so without content", () => {
    const dir = mkdtempSync(join(tmpdir(), "gcs-key-"));
    try {
      const file = join(dir, "key.json");
      writeFileSync(file, JSON.stringify(key));
      expect(() => new GcsDriver({ bucket: "media-bkt", keyFilename: file })).not.toThrow();
      expect(
        configError(() => new GcsDriver({ bucket: "media-bkt", keyFilename: join(dir, "nope.json") }))
          .message,
      ).toMatch(/ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("gs:// URLs", () => {
  it("bucket, prefix and parameters", () => {
    const options = backend.fromUrl(
      new URL(
        "gs://media-bkt/uploads/2024?projectId=p1&uniformAccess=true&endpoint=http://127.0.0.1:9199&chunkSize=16777216",
      ),
      context(),
    );
    expect(options).toEqual({
      bucket: "media-bkt",
      prefix: "/uploads/2024",
      projectId: "p1",
      uniformAccess: true,
      endpoint: "http://127.0.0.1:9199",
      chunkSize: 16777216,
    });
    expect(backend.create(options).capabilities.visibility).toBe("bucket");
  });

  it("credentials come from STORAGES_<NAME>_CREDENTIALS_JSON or _KEY_FILE, one at a time", () => {
    const json = JSON.stringify(key);
    expect(
      backend.fromUrl(new URL("gs://media-bkt"), context({ STORAGES_MEDIA_CREDENTIALS_JSON: json }))
        .credentials,
    ).toBe(json);
    expect(
      backend.fromUrl(new URL("gs://media-bkt"), context({ STORAGES_MEDIA_KEY_FILE: "/k.json" })).keyFilename,
    ).toBe("/k.json");
    expect(
      backend.fromUrl(new URL("gs://media-bkt"), context({ STORAGES_MEDIA_CREDENTIALS: "/k2.json" }))
        .keyFilename,
    ).toBe("/k2.json");
    expect(
      backend.fromUrl(new URL("gs://media-bkt"), context({ STORAGES_MEDIA_CREDENTIALS: json })).credentials,
    ).toBe(json);
    const both = configError(() =>
      backend.fromUrl(
        new URL("gs://media-bkt"),
        context({ STORAGES_MEDIA_CREDENTIALS_JSON: json, STORAGES_MEDIA_KEY_FILE: "/k" }),
      ),
    );
    expect(both.message).toMatch(/only one/);
    expect(both.message).not.toMatch(/PRIVATE KEY/);
  });

  it("unknown parameters and bad values are refused by name", () => {
    expect(
      configError(() => backend.fromUrl(new URL("gs://media-bkt?region=eu"), context())).message,
    ).toMatch(/`region`/);
    expect(
      configError(() => backend.fromUrl(new URL("gs://media-bkt?uniformAccess=yes"), context())).message,
    ).toMatch(/uniformAccess=.*true or false/);
    expect(
      configError(() => backend.fromUrl(new URL("gs://media-bkt?chunkSize=8MB"), context())).message,
    ).toMatch(/chunkSize/);
    expect(configError(() => backend.fromUrl(new URL("gs:///nobucket"), context())).message).toMatch(
      /names no bucket/,
    );
  });
});

describe("gcsStorage()", () => {
  it("splits storage options from driver options", () => {
    const s = gcsStorage({
      bucket: "media-bkt",
      prefix: "m/",
      visibility: "public",
      signedUrlExpiresIn: 60,
      uniformAccess: true,
    });
    expect(s.visibility).toBe("public");
    expect(s.signedUrlExpiresIn).toBe(60);
    expect(s.capabilities.visibility).toBe("bucket");
    expect(s.publicUrl("a.txt")).toBe("https://storage.googleapis.com/media-bkt/m/a.txt");
  });
});
