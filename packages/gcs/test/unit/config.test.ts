/**
 * Options, gs:// URLs and credentials: typed ConfigErrors that say what to fix, never a secret.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Storage as GcsClient } from "@google-cloud/storage";
import { inspectStorageUrl, OptionError } from "@storages/core";
import { afterAll, describe, expect, it } from "vitest";
import { backend, GcsDriver, type GcsDriverOptions, gcsStorage } from "../../src/index.js";
import { throwawayKey } from "../server.js";

const key = throwawayKey();

/** Folders for key files, removed after the file's tests whatever their outcome. */
const keyDirs: string[] = [];
afterAll(() => {
  for (const dir of keyDirs) rmSync(dir, { recursive: true, force: true });
});
function keyDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "gcs-key-"));
  keyDirs.push(dir);
  return dir;
}

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
      /deleteConcurrency must be a whole number from 1 to 1000, not 0/,
    );
    expect(configError(() => new GcsDriver({ bucket: "media-bkt", endpoint: "ftp://x" })).message).toMatch(
      /http/,
    );
    expect(
      configError(() => new GcsDriver({ bucket: "media-bkt", chunksize: 1 } as unknown as GcsDriverOptions))
        .message,
    ).toMatch(/^GCS storage option chunksize is not an option \(did you mean `chunkSize`\?\)/);
    expect(
      configError(
        () =>
          new GcsDriver({
            bucket: "media-bkt",
            storage: new GcsClient({ retryOptions: { autoRetry: false } }),
            projectId: "p",
          }),
      ).message,
    ).toMatch(/storage cannot go with projectId/);
  });

  it("a caller-built client is used as is, if it leaves retries to the storage", () => {
    const client = new GcsClient({ apiEndpoint: "http://127.0.0.1:9", retryOptions: { autoRetry: false } });
    expect(new GcsDriver({ bucket: "media-bkt", storage: client }).client).toBe(client);
    const retrying = new GcsClient({ apiEndpoint: "http://127.0.0.1:9" });
    expect(configError(() => new GcsDriver({ bucket: "media-bkt", storage: retrying })).message).toMatch(
      /storage retries on its own .*retryOptions: \{ autoRetry: false \}/,
    );
  });

  it("its own clients never retry: the storage's retry policy is the one", () => {
    const driver = new GcsDriver({ bucket: "media-bkt", endpoint: "http://127.0.0.1:9" });
    expect(driver.client.retryOptions.autoRetry).toBe(false);
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
    const dir = keyDir();
    const file = join(dir, "key.json");
    writeFileSync(file, JSON.stringify(key));
    expect(() => new GcsDriver({ bucket: "media-bkt", keyFilename: file })).not.toThrow();
    expect(
      configError(() => new GcsDriver({ bucket: "media-bkt", keyFilename: join(dir, "nope.json") })).message,
    ).toMatch(/ENOENT/);
  });
});

describe("gs:// URLs", () => {
  const inspect = (url: string, env: Record<string, string> = {}) =>
    inspectStorageUrl(backend, url, { storageName: "media", env });
  async function urlError(url: string, env: Record<string, string> = {}): Promise<string> {
    try {
      await inspect(url, env);
    } catch (error) {
      expect((error as { code?: string }).code).toBe("E_CONFIG");
      return (error as Error).message;
    }
    throw new Error("expected a ConfigError");
  }

  it("bucket, prefix and parameters, each with its source", async () => {
    const { options, sources } = await inspect(
      "gs://media-bkt/uploads/2024?projectId=p1&uniformAccess=true&endpoint=http://127.0.0.1:9199&chunkSize=16MiB",
    );
    expect(options).toEqual({
      bucket: "media-bkt",
      prefix: "/uploads/2024",
      projectId: "p1",
      uniformAccess: true,
      endpoint: "http://127.0.0.1:9199",
      chunkSize: 16777216,
    });
    expect(sources).toMatchObject({ bucket: "STORAGES_MEDIA", chunkSize: "STORAGES_MEDIA (chunkSize=)" });
    expect(backend.create(options).capabilities.visibility).toBe("bucket");
  });

  it("credentials come from STORAGES_<NAME>_CREDENTIALS_JSON or _KEY_FILE, one at a time", async () => {
    const json = JSON.stringify(key);
    const dir = keyDir();
    const file = join(dir, "key.json");
    writeFileSync(file, json);
    const fromJson = await inspect("gs://media-bkt", { STORAGES_MEDIA_CREDENTIALS_JSON: json });
    expect(fromJson.options.credentials).toBe(json);
    expect(fromJson.sources.credentials).toBe("STORAGES_MEDIA_CREDENTIALS_JSON");
    expect(JSON.stringify(fromJson.description)).not.toMatch(/PRIVATE KEY/);
    expect((await inspect("gs://media-bkt", { STORAGES_MEDIA_KEY_FILE: file })).options.keyFilename).toBe(
      file,
    );
    expect((await inspect("gs://media-bkt", { STORAGES_MEDIA_CREDENTIALS: file })).options.keyFilename).toBe(
      file,
    );
    expect((await inspect("gs://media-bkt", { STORAGES_MEDIA_CREDENTIALS: json })).options.credentials).toBe(
      json,
    );
    const both = await urlError("gs://media-bkt", {
      STORAGES_MEDIA_CREDENTIALS_JSON: json,
      STORAGES_MEDIA_KEY_FILE: "/k",
    });
    expect(both).toMatch(/only one/);
    expect(both).not.toMatch(/PRIVATE KEY/);
  });

  it("a broken key fails at load time, naming its variable, never showing the key", async () => {
    const broken = await urlError("gs://media-bkt", {
      STORAGES_MEDIA_CREDENTIALS_JSON: `{"private_key": "${key.private_key}`,
    });
    expect(broken).toBe(
      'STORAGES_MEDIA_CREDENTIALS_JSON is not valid JSON: use the whole service-account key file (it starts with "{").',
    );
    expect(await urlError("gs://media-bkt", { STORAGES_MEDIA_KEY_FILE: "/nonexistent/key.json" })).toBe(
      'STORAGES_MEDIA_KEY_FILE names "/nonexistent/key.json", which cannot be read (ENOENT): check the path and the file\'s permissions.',
    );
  });

  it("unknown parameters and bad values are refused by name", async () => {
    expect(await urlError("gs://media-bkt?region=eu")).toMatch(/unknown query parameter `region`/);
    expect(await urlError("gs://media-bkt?uniformAccess=yes")).toBe(
      'STORAGES_MEDIA (uniformAccess=) must be true or false, not "yes".',
    );
    expect(await urlError("gs://media-bkt?chunkSize=1000")).toBe(
      "STORAGES_MEDIA (chunkSize=) must be a multiple of 256 KiB (262144 bytes), or 0 for single-request uploads, not 1000.",
    );
    expect(await urlError("gs://media-bkt?chunkSize=8MB")).toMatch(
      /^STORAGES_MEDIA \(chunkSize=\) must be a number of bytes/,
    );
    expect(await urlError("gs://Bad_Bucket")).toMatch(/^STORAGES_MEDIA: bucket must be a GCS bucket name/);
    expect(await urlError("gs:///nobucket")).toMatch(/names no bucket/);
  });

  it("location and description", () => {
    expect(
      backend.location?.({ bucket: "site", prefix: "a//b", endpoint: "HTTP://127.0.0.1:9199/" }),
    ).toEqual({
      kind: "bucket",
      service: "gs",
      namespace: "http://127.0.0.1:9199",
      bucket: "site",
      prefix: "a/b/",
    });
    expect(backend.location?.({ bucket: "site" })).toMatchObject({ namespace: "gcs", prefix: "" });
    const description = backend.describe?.({ bucket: "site", prefix: "m", credentials: key });
    expect(description).toMatchObject({
      location: "gs://site/m/",
      settings: { credentials: "a service-account key" },
    });
    expect(JSON.stringify(description)).not.toMatch(/PRIVATE KEY/);
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

  it("a public base URL makes it public; an explicit visibility wins; a misspelt option is named", () => {
    expect(gcsStorage({ bucket: "media-bkt", publicUrl: "https://cdn.example.com/" }).visibility).toBe(
      "public",
    );
    expect(
      gcsStorage({ bucket: "media-bkt", publicUrl: "https://cdn.example.com/", visibility: "private" })
        .visibility,
    ).toBe("private");
    let error: unknown;
    try {
      gcsStorage({ bucket: "media-bkt", projectID: "p" } as never);
    } catch (e) {
      error = e;
    }
    expect(OptionError.isOptionError(error)).toBe(true);
    expect(error).toMatchObject({ option: "projectID", suggestion: "projectId" });
  });
});
