import { ConfigError } from "@storages/core";
import { describe, expect, it } from "vitest";
import { isSecretParam, parseStorageUrl } from "../src/config/url.js";

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(ConfigError.isInstance(error)).toBe(true);
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

describe("parseStorageUrl: every URL form", () => {
  it("s3://bucket/prefix?region=… keeps backend parameters and strips storage-level ones", () => {
    const p = parseStorageUrl(
      "s3://app-media/uploads?region=eu-west-1&visibility=private&expiresIn=600&timeout=30000",
      "STORAGES_DEFAULT",
      "default",
    );
    expect(p.scheme).toBe("s3");
    expect(p.backendUrl.hostname).toBe("app-media");
    expect(p.backendUrl.pathname).toBe("/uploads");
    expect([...p.backendUrl.searchParams.keys()]).toEqual(["region"]);
    expect(p.storage).toEqual({ visibility: "private", signedUrlExpiresIn: 600, timeout: 30000 });
  });

  it("file:///abs/path?baseUrl=/media/ maps baseUrl to the facade's publicUrl", () => {
    const p = parseStorageUrl(
      "file:///var/www/app/shared/media?baseUrl=/media/",
      "STORAGES_DEFAULT",
      "default",
    );
    expect(p.scheme).toBe("file");
    expect(p.backendUrl.pathname).toBe("/var/www/app/shared/media");
    expect(p.backendUrl.search).toBe("");
    expect(p.storage).toEqual({ publicUrl: "/media/" });
  });

  it("file://localhost/abs is accepted", () => {
    expect(parseStorageUrl("file://localhost/srv/media", "S", "default").backendUrl.pathname).toBe(
      "/srv/media",
    );
  });

  it("gs://bucket/prefix", () => {
    const p = parseStorageUrl(
      "gs://my-bucket/a/b?publicUrl=https://cdn.example.com/a/b/",
      "STORAGES_STATICFILES",
      "staticfiles",
    );
    expect(p.scheme).toBe("gs");
    expect(p.backendUrl.hostname).toBe("my-bucket");
    expect(p.backendUrl.pathname).toBe("/a/b");
    expect(p.storage.publicUrl).toBe("https://cdn.example.com/a/b/");
  });

  it("azure://account/container/prefix", () => {
    const p = parseStorageUrl(
      "azure://myaccount/media/uploads?overwrite=true",
      "STORAGES_DEFAULT",
      "default",
    );
    expect(p.scheme).toBe("azure");
    expect(p.backendUrl.hostname).toBe("myaccount");
    expect(p.backendUrl.pathname).toBe("/media/uploads");
    expect(p.storage).toEqual({ overwrite: true });
  });

  it("memory://", () => {
    const p = parseStorageUrl("memory://", "STORAGES_DEFAULT", "default");
    expect(p.scheme).toBe("memory");
    expect(p.storage).toEqual({});
  });

  it("readOnly and allowOverlap are storage-level", () => {
    const p = parseStorageUrl("s3://b/p?readOnly=true&allowOverlap=1", "S", "x");
    expect(p.storage).toEqual({ readOnly: true, allowOverlap: true });
    expect(p.backendUrl.search).toBe("");
  });

  it("scheme is case-insensitive", () => {
    expect(parseStorageUrl("S3://bucket", "S", "x").scheme).toBe("s3");
  });
});

describe("parseStorageUrl: malformed values name the variable and the fix", () => {
  it("empty", () => {
    expect(configError(() => parseStorageUrl("  ", "STORAGES_DEFAULT", "default")).message).toMatch(
      /^STORAGES_DEFAULT is empty: set it to a storage URL/,
    );
  });

  it("no scheme", () => {
    const e = configError(() => parseStorageUrl("/var/www/media", "STORAGES_DEFAULT", "default"));
    expect(e.code).toBe("E_CONFIG");
    expect(e.message).toMatch(
      /^STORAGES_DEFAULT is not a storage URL: it has no scheme\. Write it as scheme:\/\/location/,
    );
  });

  it("unparseable URL", () => {
    const e = configError(() => parseStorageUrl("s3://bad host/x", "STORAGES_DEFAULT", "default"));
    expect(e.message).toMatch(/^STORAGES_DEFAULT is a malformed s3: URL \(check for spaces/);
  });

  it("relative or two-slash file URLs", () => {
    for (const bad of ["file:media", "file://media/uploads", "file:./media"]) {
      expect(configError(() => parseStorageUrl(bad, "STORAGES_DEFAULT", "default")).message).toMatch(
        /^STORAGES_DEFAULT must name an absolute directory with three slashes: file:\/\/\/var\/lib\/app\/media/,
      );
    }
  });

  it("credentials in the userinfo are refused without echoing them", () => {
    const e = configError(() =>
      parseStorageUrl("s3://AKIAXXXX:hunter2secret@bucket/p", "STORAGES_DEFAULT", "default"),
    );
    expect(e.message).toMatch(/^STORAGES_DEFAULT contains credentials \(user:password@\): URLs get logged/);
    expect(e.message).toContain("STORAGES_DEFAULT_ACCESS_KEY_ID and STORAGES_DEFAULT_SECRET_ACCESS_KEY");
    expect(e.message).not.toContain("hunter2");
    expect(e.message).not.toContain("AKIAXXXX");
  });

  it("secret query parameters are refused with the variable to use", () => {
    const cases: Array<[string, string, string]> = [
      ["s3://b/p?secretAccessKey=abc123", "secretAccessKey", "STORAGES_PRIVATE_SECRET_ACCESS_KEY"],
      ["azure://acct/c?sig=abc123&sv=2020", "sig", "STORAGES_PRIVATE_SAS_TOKEN"],
      ["azure://acct/c?accountKey=abc123", "accountKey", "STORAGES_PRIVATE_ACCOUNT_KEY"],
      ["gs://b?credentials=abc123", "credentials", "STORAGES_PRIVATE_CREDENTIALS"],
      ["file:///srv/x?signingSecret=abc123", "signingSecret", "STORAGES_PRIVATE_SIGNING_SECRET"],
      ["s3://b?session_token=abc123", "session_token", "STORAGES_PRIVATE_"],
    ];
    for (const [url, param, hint] of cases) {
      const e = configError(() => parseStorageUrl(url, "STORAGES_PRIVATE", "private"));
      expect(e.message).toContain(`STORAGES_PRIVATE has a secret in its query string (\`${param}\`)`);
      expect(e.message).toContain(hint);
      expect(e.message).not.toContain("abc123");
    }
  });

  it("fragments and repeated parameters", () => {
    expect(configError(() => parseStorageUrl("s3://b/p#x", "S", "x")).message).toBe(
      "S has a #fragment, which no storage URL uses: remove it.",
    );
    expect(configError(() => parseStorageUrl("s3://b/p?region=a&region=b", "S", "x")).message).toBe(
      "S sets the query parameter `region` more than once: keep one.",
    );
  });

  it("bad storage-level values", () => {
    expect(configError(() => parseStorageUrl("memory://?visibility=secret", "S", "x")).message).toBe(
      'S (visibility=) must be "public" or "private", not "secret".',
    );
    expect(configError(() => parseStorageUrl("memory://?overwrite=yes", "S", "x")).message).toBe(
      'S (overwrite=) must be true or false, not "yes".',
    );
    expect(configError(() => parseStorageUrl("memory://?expiresIn=-5", "S", "x")).message).toBe(
      'S (expiresIn=) must be a positive whole number of seconds, e.g. expiresIn=600, not "-5".',
    );
    expect(configError(() => parseStorageUrl("memory://?timeout=1.5s", "S", "x")).message).toBe(
      'S (timeout=) must be a positive whole number of milliseconds, e.g. timeout=30000, not "1.5s".',
    );
    expect(
      configError(() => parseStorageUrl("memory://?publicUrl=cdn.example.com", "S", "x")).message,
    ).toMatch(/^S \(publicUrl=\) must be an http\(s\) URL without credentials/);
    expect(
      configError(() => parseStorageUrl("memory://?baseUrl=//evil.example/x", "S", "x")).message,
    ).toMatch(/^S \(baseUrl=\) must be an http\(s\) URL/);
    expect(configError(() => parseStorageUrl("memory://?publicUrl=/a/&baseUrl=/b/", "S", "x")).message).toBe(
      "S sets both publicUrl= and baseUrl=, which mean the same thing: keep one.",
    );
  });
});

describe("isSecretParam", () => {
  it("flags credentials, not ordinary options", () => {
    for (const p of [
      "secret",
      "password",
      "accessKeyId",
      "access_key",
      "sas",
      "sig",
      "token",
      "privateKey",
      "clientSecret",
    ]) {
      expect(isSecretParam(p), p).toBe(true);
    }
    for (const p of ["region", "endpoint", "forcePathStyle", "prefix", "storageClass", "acl"]) {
      expect(isSecretParam(p), p).toBe(false);
    }
  });
});
