import { inspectStorageUrl, OptionError, StorageError } from "@storages/core";
import { describe, expect, it } from "vitest";
import { backend, S3Driver, s3Storage } from "../../src/index.js";

const inspect = (url: string, env: Record<string, string> = {}) =>
  inspectStorageUrl(backend, url, { storageName: "media", env });

async function configError(action: () => unknown): Promise<string> {
  try {
    await action();
  } catch (error) {
    expect(StorageError.hasCode(error, "E_CONFIG"), String(error)).toBe(true);
    return (error as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("backend definition", () => {
  it("is the s3 scheme and lists every option", () => {
    expect(backend.name).toBe("s3");
    expect(backend.schemes).toEqual(["s3"]);
    expect(backend.optionKeys).toContain("bucket");
    expect(backend.optionKeys).toContain("credentials");
    // Every URL parameter is an option; objects and secrets are not parameters.
    for (const param of Object.keys(backend.urlParams ?? {})) expect(backend.optionKeys).toContain(param);
    expect(Object.keys(backend.urlParams ?? {})).not.toContain("credentials");
  });

  it("reads bucket, prefix and typed query parameters from the URL, and says where each came from", async () => {
    const { options, sources } = await inspect(
      "s3://media-bucket/uploads/%C3%A9t%C3%A9?region=eu-west-1&endpoint=http://127.0.0.1:7480&profile=ceph&forcePathStyle=true&acl=auto&partSize=16MiB",
    );
    expect(options).toEqual({
      bucket: "media-bucket",
      prefix: "uploads/été",
      region: "eu-west-1",
      endpoint: "http://127.0.0.1:7480",
      profile: "ceph",
      forcePathStyle: true,
      acl: "auto",
      partSize: 16 * 1024 * 1024,
    });
    expect(sources).toMatchObject({
      bucket: "STORAGES_MEDIA",
      prefix: "STORAGES_MEDIA",
      region: "STORAGES_MEDIA (region=)",
      partSize: "STORAGES_MEDIA (partSize=)",
    });
    expect(backend.create(options)).toBeInstanceOf(S3Driver);
  });

  it("takes secrets from STORAGES_<NAME>_* variables only, both or neither", async () => {
    expect(backend.secretVariables?.("media").map((v) => v.name)).toEqual([
      "STORAGES_MEDIA_ACCESS_KEY_ID",
      "STORAGES_MEDIA_SECRET_ACCESS_KEY",
      "STORAGES_MEDIA_SESSION_TOKEN",
    ]);
    const withKeys = await inspect("s3://b-1", {
      STORAGES_MEDIA_ACCESS_KEY_ID: "AKIA1",
      STORAGES_MEDIA_SECRET_ACCESS_KEY: "s3cr3t",
      STORAGES_MEDIA_SESSION_TOKEN: "tok",
    });
    expect(withKeys.options.credentials).toEqual({
      accessKeyId: "AKIA1",
      secretAccessKey: "s3cr3t",
      sessionToken: "tok",
    });
    expect(withKeys.sources.credentials).toBe(
      "STORAGES_MEDIA_ACCESS_KEY_ID and STORAGES_MEDIA_SECRET_ACCESS_KEY and STORAGES_MEDIA_SESSION_TOKEN",
    );
    expect(JSON.stringify(withKeys.description)).not.toMatch(/AKIA1|s3cr3t|tok"/);
    expect((await inspect("s3://b-1")).options.credentials).toBeUndefined(); // the AWS default chain
    expect(await configError(() => inspect("s3://b-1", { STORAGES_MEDIA_ACCESS_KEY_ID: "AKIA1" }))).toContain(
      "STORAGES_MEDIA_SECRET_ACCESS_KEY",
    );
    // A key pasted into the URL is refused with the variables to use instead.
    const pasted = await configError(() => inspect("s3://AKIA1:s3cr3tvalue@b-1"));
    expect(pasted).toContain("STORAGES_MEDIA_ACCESS_KEY_ID, STORAGES_MEDIA_SECRET_ACCESS_KEY");
    expect(pasted).not.toContain("s3cr3tvalue");
  });

  it("refuses unknown parameters, bad values and ports after the bucket, naming the source", async () => {
    expect(await configError(() => inspect("s3://b-1?regoin=x"))).toMatch(
      /^STORAGES_MEDIA: unknown query parameter `regoin` \(did you mean `region`\?\)/,
    );
    expect(await configError(() => inspect("s3://b-1?forcePathStyle=yes"))).toBe(
      'STORAGES_MEDIA (forcePathStyle=) must be true or false, not "yes".',
    );
    expect(await configError(() => inspect("s3://b-1:9000/x"))).toMatch(/endpoint=http:\/\/host:9000/);
    expect(await configError(() => inspect("s3://b-1?profile=wasabi"))).toMatch(
      /^STORAGES_MEDIA \(profile=\) must be one of "aws", "minio"/,
    );
  });

  it("validates every option at load time, naming the variable: part size, bucket, region, endpoint", async () => {
    expect(await configError(() => inspect("s3://b-1?partSize=1024"))).toBe(
      "STORAGES_MEDIA (partSize=) must be a size from 5 MiB to 5 GiB, not 1 KiB.",
    );
    expect(await configError(() => inspect("s3://b-1?partSize=8MB"))).toBe(
      'STORAGES_MEDIA (partSize=) must be a number of bytes, or a size such as "8MiB": "MB" is not a unit here (use B, KiB, MiB, GiB or TiB, e.g. "8MiB").',
    );
    expect(await configError(() => inspect("s3://My_Bucket"))).toMatch(
      /^STORAGES_MEDIA: bucket must be a valid bucket name, not "My_Bucket": 3–63 lower-case/,
    );
    expect(await configError(() => inspect("s3://b-1?region=eu%20west"))).toBe(
      'STORAGES_MEDIA (region=) must be an AWS region such as "eu-west-1", not "eu west".',
    );
    expect(await configError(() => inspect("s3://b-1?endpoint=127.0.0.1:9000"))).toBe(
      'STORAGES_MEDIA (endpoint=) must be a URL with its scheme, e.g. "https://storage.example.com", not "127.0.0.1:9000".',
    );
    expect(await configError(() => inspect("s3://b-1?profile=minio"))).toBe(
      'STORAGES_MEDIA: endpoint is required by the MinIO profile (e.g. "http://127.0.0.1:9000").',
    );
    expect(await configError(() => inspect("s3://b-1?queueSize=0"))).toBe(
      "STORAGES_MEDIA (queueSize=) must be a whole number of parts from 1 to 64, not 0.",
    );
  });

  it("location: AWS buckets are one namespace, other servers' are scoped by endpoint", () => {
    expect(backend.location?.({ bucket: "app", prefix: "/static//x", region: "eu-west-1" })).toEqual({
      kind: "bucket",
      service: "s3",
      namespace: "aws",
      bucket: "app",
      prefix: "static/x/",
    });
    expect(
      backend.location?.({ bucket: "app", endpoint: "https://s3.eu-central-1.amazonaws.com" }),
    ).toMatchObject({
      namespace: "aws",
    });
    const a = backend.location?.({ bucket: "app", endpoint: "HTTP://127.0.0.1:7480/" });
    const b = backend.location?.({ bucket: "app", endpoint: "http://127.0.0.1:7480", region: "us-east-1" });
    expect(a).toEqual(b);
    expect(a).toMatchObject({ namespace: "http://127.0.0.1:7480" });
  });

  it("describe: location, settings and where the credentials come from, never the keys", () => {
    const description = backend.describe?.({
      bucket: "app",
      prefix: "media",
      region: "eu-west-1",
      credentials: { accessKeyId: "AKIAEXAMPLE", secretAccessKey: "wJalrXUtnFEMI" },
    });
    expect(description).toEqual({
      location: "s3://app/media/",
      settings: {
        profile: "aws",
        region: "eu-west-1",
        forcePathStyle: false,
        acl: expect.anything(),
        partSize: 5 * 1024 * 1024,
        queueSize: 4,
        maxPartBuffers: 5,
        credentials: "explicit keys",
      },
    });
    expect(JSON.stringify(description)).not.toMatch(/AKIAEXAMPLE|wJalrXUtnFEMI/);
  });
});

describe("s3Storage()", () => {
  it("splits driver and facade options", async () => {
    const storage = s3Storage({
      bucket: "bkt",
      profile: "minio",
      endpoint: "http://127.0.0.1:9000",
      visibility: "public",
      overwrite: true,
      signedUrlExpiresIn: 600,
      publicUrl: "https://cdn.example.com/",
    });
    expect(storage.visibility).toBe("public");
    expect(storage.overwrite).toBe(true);
    expect(storage.signedUrlExpiresIn).toBe(600);
    expect(storage.publicUrl("a b.txt")).toBe("https://cdn.example.com/a%20b.txt");
    expect((storage.driver as S3Driver).defaultVisibility).toBe("public");
    await storage.close();
  });

  it("a public base URL makes it public, for the storage and the ACLs alike; an explicit visibility wins", async () => {
    const cdn = s3Storage({ bucket: "bkt", publicUrl: "https://cdn.example.com/" });
    expect(cdn.visibility).toBe("public");
    expect((cdn.driver as S3Driver).defaultVisibility).toBe("public");
    const privateCdn = s3Storage({
      bucket: "bkt",
      publicUrl: "https://cdn.example.com/",
      visibility: "private",
    });
    expect(privateCdn.visibility).toBe("private");
    expect((privateCdn.driver as S3Driver).defaultVisibility).toBe("private");
    await cdn.close();
    await privateCdn.close();
  });

  it("a misspelt option is an OptionError naming the closest valid one", () => {
    let error: unknown;
    try {
      s3Storage({ bucket: "bkt", regoin: "eu-west-1" } as never);
    } catch (e) {
      error = e;
    }
    expect(OptionError.isOptionError(error)).toBe(true);
    expect(error).toMatchObject({ option: "regoin", suggestion: "region" });
    expect((error as Error).message).toMatch(
      /^S3 storage option regoin is not an option \(did you mean `region`\?\)/,
    );
    expect(() => new S3Driver({ bucket: "bkt", partsize: 1 } as never)).toThrow(/did you mean `partSize`/);
  });
});
