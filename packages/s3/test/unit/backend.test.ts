import { ConfigError } from "@storages/core";
import { describe, expect, it } from "vitest";
import { backend, credentialVariables, S3Driver, s3Storage } from "../../src/index.js";

const context = (env: Record<string, string> = {}) => ({
  source: "STORAGES_MEDIA",
  storageName: "media",
  env,
});

describe("backend definition", () => {
  it("is the s3 scheme and lists every option", () => {
    expect(backend.name).toBe("s3");
    expect(backend.schemes).toEqual(["s3"]);
    expect(backend.optionKeys).toContain("bucket");
    expect(backend.optionKeys).toContain("credentials");
  });

  it("reads bucket, prefix and typed query parameters from the URL", () => {
    const options = backend.fromUrl(
      new URL(
        "s3://media-bucket/uploads/%C3%A9t%C3%A9?region=eu-west-1&endpoint=http://127.0.0.1:7480&profile=ceph&forcePathStyle=true&acl=auto&partSize=16777216",
      ),
      context(),
    );
    expect(options).toEqual({
      bucket: "media-bucket",
      prefix: "uploads/été",
      region: "eu-west-1",
      endpoint: "http://127.0.0.1:7480",
      profile: "ceph",
      forcePathStyle: true,
      acl: "auto",
      partSize: 16777216,
    });
    expect(backend.create(options)).toBeInstanceOf(S3Driver);
  });

  it("takes secrets from STORAGES_<NAME>_* variables only, both or neither", () => {
    const vars = credentialVariables("media");
    expect(vars).toEqual({
      accessKeyId: "STORAGES_MEDIA_ACCESS_KEY_ID",
      secretAccessKey: "STORAGES_MEDIA_SECRET_ACCESS_KEY",
      sessionToken: "STORAGES_MEDIA_SESSION_TOKEN",
    });
    const withKeys = backend.fromUrl(
      new URL("s3://b"),
      context({ [vars.accessKeyId]: "AKIA1", [vars.secretAccessKey]: "s3cr3t", [vars.sessionToken]: "tok" }),
    );
    expect(withKeys.credentials).toEqual({
      accessKeyId: "AKIA1",
      secretAccessKey: "s3cr3t",
      sessionToken: "tok",
    });
    expect(backend.fromUrl(new URL("s3://b"), context()).credentials).toBeUndefined(); // the AWS default chain
    let message = "";
    try {
      backend.fromUrl(new URL("s3://b"), context({ [vars.accessKeyId]: "AKIA1" }));
    } catch (error) {
      expect(ConfigError.isInstance(error)).toBe(true);
      message = (error as Error).message;
    }
    expect(message).toContain("STORAGES_MEDIA_SECRET_ACCESS_KEY");
  });

  it("refuses unknown parameters, bad booleans and ports after the bucket, naming the source", () => {
    expect(() => backend.fromUrl(new URL("s3://b?regoin=x"), context())).toThrow(
      /STORAGES_MEDIA: unknown S3 parameter `regoin`/,
    );
    expect(() => backend.fromUrl(new URL("s3://b?forcePathStyle=yes"), context())).toThrow(
      /forcePathStyle must be true or false/,
    );
    expect(() => backend.fromUrl(new URL("s3://b:9000/x"), context())).toThrow(/endpoint=http:\/\/host:9000/);
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
});
