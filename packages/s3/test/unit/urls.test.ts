import { describe, expect, it } from "vitest";
import { buildPublicUrl, resolveOptions } from "../../src/index.js";
import { copySource, fromKey, toKey } from "../../src/urls.js";

describe("keys", () => {
  it("prefix + name, and back; keys outside the prefix are not names", () => {
    expect(toKey("media/", "a/b.txt")).toBe("media/a/b.txt");
    expect(toKey("", "a.txt")).toBe("a.txt");
    expect(fromKey("media/", "media/a/b.txt")).toBe("a/b.txt");
    expect(fromKey("media/", "mediax/a")).toBeUndefined();
  });

  it("CopySource is bucket/key with each segment percent-encoded", () => {
    expect(copySource("b", "dir/a b+c&é?.txt")).toBe("b/dir/a%20b%2Bc%26%C3%A9%3F.txt");
  });
});

describe("public URLs", () => {
  const url = (options: Parameters<typeof resolveOptions>[0], key = "media/a b/é.png") =>
    buildPublicUrl(resolveOptions(options), key);

  it("AWS: virtual-hosted in the bucket's region; path style for dotted bucket names (TLS)", () => {
    expect(url({ bucket: "assets", region: "eu-west-1" })).toBe(
      "https://assets.s3.eu-west-1.amazonaws.com/media/a%20b/%C3%A9.png",
    );
    expect(url({ bucket: "assets.example.com", region: "eu-west-1" })).toBe(
      "https://s3.eu-west-1.amazonaws.com/assets.example.com/media/a%20b/%C3%A9.png",
    );
    expect(url({ bucket: "assets" })).toBeUndefined(); // no region known yet: no guess
  });

  it("self-hosted servers: the endpoint, path style", () => {
    expect(url({ bucket: "bkt", profile: "ceph", endpoint: "http://127.0.0.1:7480/" })).toBe(
      "http://127.0.0.1:7480/bkt/media/a%20b/%C3%A9.png",
    );
    expect(url({ bucket: "bkt", profile: "minio", endpoint: "https://s3.example.com/base" })).toBe(
      "https://s3.example.com/base/bkt/media/a%20b/%C3%A9.png",
    );
  });

  it("R2 has none without a custom domain; Spaces, B2 and GCS have theirs", () => {
    expect(
      url({ bucket: "bkt", profile: "r2", endpoint: "https://acc.r2.cloudflarestorage.com" }),
    ).toBeUndefined();
    expect(url({ bucket: "bkt", profile: "digitalocean", region: "fra1" }, "k")).toBe(
      "https://bkt.fra1.digitaloceanspaces.com/k",
    );
    expect(url({ bucket: "bkt", profile: "b2", region: "eu-central-003" }, "k")).toBe(
      "https://bkt.s3.eu-central-003.backblazeb2.com/k",
    );
    expect(url({ bucket: "bkt", profile: "gcs-interop" }, "k")).toBe("https://storage.googleapis.com/bkt/k");
  });
});
