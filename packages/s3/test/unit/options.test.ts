import { ConfigError } from "@storages/core";
import { describe, expect, it } from "vitest";
import { inferProfile, PROFILE_NAMES, PROFILES, resolveOptions } from "../../src/index.js";
import { normalizeKeyPrefix } from "../../src/options.js";

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(ConfigError.isInstance(error)).toBe(true);
    return (error as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("provider profiles", () => {
  it("are inferred from the endpoint's host, AWS without one, generic for unknown servers", () => {
    expect(inferProfile(undefined)).toBe("aws");
    expect(inferProfile("https://s3.eu-west-1.amazonaws.com")).toBe("aws");
    expect(inferProfile("https://0123abcd.r2.cloudflarestorage.com")).toBe("r2");
    expect(inferProfile("https://s3.us-west-004.backblazeb2.com")).toBe("b2");
    expect(inferProfile("https://fra1.digitaloceanspaces.com")).toBe("digitalocean");
    expect(inferProfile("https://storage.googleapis.com")).toBe("gcs-interop");
    expect(inferProfile("http://127.0.0.1:7480")).toBe("generic");
  });

  it("use WHEN_REQUIRED checksums everywhere but AWS, and path style for self-hosted servers", () => {
    for (const name of PROFILE_NAMES) {
      const profile = PROFILES[name];
      expect(profile.checksums, name).toBe(name === "aws" ? "when_supported" : "when_required");
      if (["minio", "ceph", "generic"].includes(name)) expect(profile.forcePathStyle, name).toBe(true);
    }
  });

  it("fill the endpoint from the region where the provider has a public one", () => {
    expect(resolveOptions({ bucket: "bkt", profile: "digitalocean", region: "fra1" }).endpoint).toBe(
      "https://fra1.digitaloceanspaces.com",
    );
    expect(resolveOptions({ bucket: "bkt", profile: "b2" }).endpoint).toBe(
      "https://s3.us-west-004.backblazeb2.com",
    );
    expect(resolveOptions({ bucket: "bkt", profile: "gcs-interop" }).endpoint).toBe(
      "https://storage.googleapis.com",
    );
    expect(resolveOptions({ bucket: "bkt" }).endpoint).toBeUndefined();
  });

  it("can be overridden option by option", () => {
    const resolved = resolveOptions({
      bucket: "bkt",
      profile: "ceph",
      endpoint: "http://h",
      forcePathStyle: false,
      acl: false,
      checksums: "when_supported",
      postPolicy: false,
    });
    expect(resolved).toMatchObject({
      forcePathStyle: false,
      acl: false,
      checksums: "when_supported",
      postPolicy: false,
    });
  });

  it("vouch for create-exclusive multipart completion only where verified", () => {
    expect(
      resolveOptions({ bucket: "bkt", profile: "ceph", endpoint: "http://h" }).conditionalMultipart,
    ).toBe(false);
    expect(resolveOptions({ bucket: "bkt" }).conditionalMultipart).toBe(true);
    expect(
      resolveOptions({ bucket: "bkt", endpoint: "http://h", conditionalWrite: true }).conditionalMultipart,
    ).toBe(false);
  });
});

describe("part buffers", () => {
  it("default to one upload's whole window (queueSize + 1), so a lone upload never waits for one", () => {
    const base = { bucket: "media", region: "eu-west-1" };
    expect(resolveOptions(base)).toMatchObject({ queueSize: 4, maxPartBuffers: 5 });
    expect(resolveOptions({ ...base, queueSize: 8 })).toMatchObject({ queueSize: 8, maxPartBuffers: 9 });
    expect(resolveOptions({ ...base, queueSize: 8, maxPartBuffers: 2 })).toMatchObject({ maxPartBuffers: 2 });
  });
});

describe("option validation", () => {
  it("says what to fix", () => {
    expect(configError(() => resolveOptions({} as never))).toMatch(/bucket is required/);
    expect(configError(() => resolveOptions({ bucket: "My_Bucket" }))).toMatch(
      /^S3 storage option bucket must be a valid bucket name, not "My_Bucket".*prefix/,
    );
    expect(configError(() => resolveOptions({ bucket: "bkt", profile: "wasabi" as never }))).toMatch(
      /^S3 storage option profile must be one of "aws", "minio"/,
    );
    expect(configError(() => resolveOptions({ bucket: "bkt", profile: "minio" }))).toMatch(
      /^S3 storage option endpoint is required by the MinIO profile/,
    );
    expect(configError(() => resolveOptions({ bucket: "bkt", profile: "r2" }))).toMatch(
      /r2\.cloudflarestorage\.com/,
    );
    expect(configError(() => resolveOptions({ bucket: "bkt", endpoint: "127.0.0.1:9000" }))).toMatch(
      /^S3 storage option endpoint must be a URL with its scheme/,
    );
    expect(configError(() => resolveOptions({ bucket: "bkt", endpoint: "http://user:pw@host" }))).toMatch(
      /must not contain credentials/,
    );
    expect(configError(() => resolveOptions({ bucket: "bkt", partSize: 1024 }))).toMatch(
      /^S3 storage option partSize must be a size from 5 MiB to 5 GiB, not 1 KiB\.$/,
    );
    expect(configError(() => resolveOptions({ bucket: "bkt", queueSize: 0 }))).toMatch(/queueSize/);
    expect(configError(() => resolveOptions({ bucket: "bkt", acl: "yes" as never }))).toMatch(
      /^S3 storage option acl must be true, false or "auto", not "yes"\.$/,
    );
    expect(
      configError(() =>
        resolveOptions({ bucket: "bkt", credentials: { accessKeyId: "A", secretAccessKey: "" } }),
      ),
    ).toMatch(/non-empty accessKeyId and secretAccessKey/);
    expect(configError(() => resolveOptions({ bucket: "bkt", sseKmsKeyId: "k" }))).toMatch(
      /needs serverSideEncryption "aws:kms"/,
    );
    expect(configError(() => resolveOptions({ bucket: "bkt", bukcet: "x" } as never))).toMatch(
      /^S3 storage option bukcet is not an option \(did you mean `bucket`\?\)/,
    );
  });

  it("never echo a secret", () => {
    const message = configError(() =>
      resolveOptions({ bucket: "bkt", endpoint: "http://AKIA:verysecret@host" }),
    );
    expect(message).not.toContain("verysecret");
  });

  it("normalise the key prefix and refuse one that would escape", () => {
    expect(normalizeKeyPrefix(undefined)).toBe("");
    expect(normalizeKeyPrefix("/media//x/")).toBe("media/x/");
    expect(configError(() => normalizeKeyPrefix("media/../etc"))).toMatch(/contains "\.\."/);
    expect(configError(() => normalizeKeyPrefix("a\\b"))).toMatch(/backslash/);
  });
});
