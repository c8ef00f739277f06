import { ConfigError } from "@storages/core";
import { describe, expect, it } from "vitest";
import { parseDuration, parsePublicUrl } from "../src/config/params.js";
import { parseStorageUrl } from "../src/config/url.js";
import { isSecretParam } from "../src/errors.js";

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

  it("no scheme: a directory path is shown back as the file:// URL to write", () => {
    const e = configError(() => parseStorageUrl("/var/www/my media", "STORAGES_DEFAULT", "default"));
    expect(e.code).toBe("E_CONFIG");
    expect(e.message).toBe(
      "STORAGES_DEFAULT is a directory path, not a storage URL: it has no scheme. A local directory is " +
        "written as a file:// URL with three slashes: file:///var/www/my%20media",
    );
    // An odd-looking path is not echoed (it could be anything pasted there).
    expect(configError(() => parseStorageUrl("/srv/x?token=abc", "S", "x")).message).toMatch(
      /three slashes: file:\/\/\/var\/lib\/app\/media$/,
    );
    expect(configError(() => parseStorageUrl("./media", "S", "x")).message).toMatch(
      /^S is a relative path, not a storage URL: it has no scheme\. Write an absolute directory as a file:\/\/ URL/,
    );
    expect(configError(() => parseStorageUrl("C:\\data\\media", "S", "x")).message).toMatch(
      /^S is a directory path, not a storage URL: .* file:\/\/\/var\/lib\/app\/media$/,
    );
    expect(configError(() => parseStorageUrl("media-bucket", "S", "x")).message).toMatch(
      /^S is not a storage URL: it has no scheme\. Write it as scheme:\/\/location/,
    );
  });

  it("unparseable URL", () => {
    const e = configError(() => parseStorageUrl("s3://bad host/x", "STORAGES_DEFAULT", "default"));
    expect(e.message).toMatch(/^STORAGES_DEFAULT is a malformed s3: URL \(check for spaces/);
  });

  it("URLs without // (file:media, s3:bucket): the authority is required", () => {
    for (const bad of ["file:media", "file:./media", "s3:bucket/x"]) {
      expect(configError(() => parseStorageUrl(bad, "STORAGES_DEFAULT", "default")).message, bad).toMatch(
        /^STORAGES_DEFAULT must be written [a-z0-9]+:\/\/… .*three slashes, file:\/\/\/var\/lib\/app\/media/,
      );
    }
  });

  it("credentials in the userinfo are refused without echoing them", () => {
    const e = configError(() =>
      parseStorageUrl("s3://AKIAXXXX:hunter2secret@bucket/p", "STORAGES_DEFAULT", "default"),
    );
    expect(e.message).toMatch(/^STORAGES_DEFAULT contains credentials \(user:password@\): URLs get logged/);
    // Without the backend's variables, the general form; the registry passes the backend's own.
    expect(e.message).toContain("set STORAGES_DEFAULT_<SECRET> variables (see the backend's documentation)");
    expect(e.message).not.toContain("hunter2");
    expect(e.message).not.toContain("AKIAXXXX");
    const hinted = configError(() =>
      parseStorageUrl("s3://AKIAXXXX:hunter2secret@bucket/p", "STORAGES_DEFAULT", "default", "X_KEY"),
    );
    expect(hinted.message).toMatch(/Remove them from the URL and set X_KEY instead\.$/);
  });

  it("secret query parameters are refused with the variable to use", () => {
    const cases: Array<[string, string, string]> = [
      ["s3://b/p?secretAccessKey=abc123", "secretAccessKey", "STORAGES_PRIVATE_<SECRET>"],
      ["azure://acct/c?sig=abc123&sv=2020", "sig", "STORAGES_PRIVATE_<SECRET>"],
      ["azure://acct/c?accountKey=abc123", "accountKey", "STORAGES_PRIVATE_<SECRET>"],
      ["gs://b?credentials=abc123", "credentials", "STORAGES_PRIVATE_<SECRET>"],
      ["file:///srv/x?signingSecret=abc123", "signingSecret", "STORAGES_PRIVATE_<SECRET>"],
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
      'S (expiresIn=) must be a number of seconds, or a duration such as "30s", "10m" or "1h" (whole seconds, above 0), not "-5".',
    );
    expect(configError(() => parseStorageUrl("memory://?timeout=1.5ms", "S", "x")).message).toBe(
      'S (timeout=) must be a number of milliseconds, or a duration such as "30s", "10m" or "1h" (whole milliseconds, above 0), not "1.5ms".',
    );
    expect(configError(() => parseStorageUrl("memory://?timeout=30sec", "S", "x")).message).toBe(
      'S (timeout=) must be a number of milliseconds, or a duration such as "30s", "10m" or "1h": "sec" is not a unit (ms, s, m, h, d).',
    );
    // Durations in the documented unit, or with their own.
    expect(parseStorageUrl("memory://?expiresIn=10m&timeout=30s", "S", "x").storage).toMatchObject({
      signedUrlExpiresIn: 600,
      timeout: 30_000,
    });
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

  it("refuses a publicUrl= or baseUrl= holding a line break, control character or space once decoded, saying how to encode it there", () => {
    // The query string is decoded once: %0A is a line break, %20 and + a space.
    for (const [url, label, what, written] of [
      [
        "file:///srv/media?baseUrl=/media/%0Aadd_header%20X%20y;",
        "baseUrl",
        "a line break (U+000A) at character 8",
        "%250A",
      ],
      [
        "memory://?publicUrl=https://cdn.example.com/my%20media/",
        "publicUrl",
        "a space (U+0020) at character 27",
        "%2520",
      ],
      ["memory://?publicUrl=/a+b/", "publicUrl", "a space (U+0020) at character 3", "%2520"],
      ["memory://?publicUrl=/a%C2%A0b/", "publicUrl", "white space (U+00A0) at character 3", "%25C2%25A0"],
      ["memory://?publicUrl=/a%09b/", "publicUrl", "a control character (U+0009) at character 3", "%2509"],
    ] as const) {
      const message = configError(() => parseStorageUrl(url, "S", "x")).message;
      expect(message, url).toContain(
        `S (${label}=) holds ${what} once the storage URL's query string is decoded`,
      );
      expect(message, url).toContain(
        `write it as ${written} there (a + is read as a space: write %2B for a plus)`,
      );
    }
    // A config file's value is not decoded: once encoded is enough there.
    expect(
      configError(() => parsePublicUrl("/my media/", "storages.config.json (default.publicUrl)")).message,
    ).toBe(
      "storages.config.json (default.publicUrl) holds a space (U+0020) at character 4: percent-encode it (%20); a URL handed to browsers and written into web-server configurations cannot hold line breaks, control characters or spaces.",
    );
    expect(parsePublicUrl("/my%20media/", "F")).toBe("/my%20media/");
    // Encoded twice, it is a valid URL with its encoding.
    expect(
      parseStorageUrl("memory://?publicUrl=https://cdn.example.com/my%2520media/", "S", "x").storage,
    ).toEqual({
      publicUrl: "https://cdn.example.com/my%20media/",
    });
  });
});

describe("durations: units in any case but an ambiguous upper-case M", () => {
  it("10m, 1h, 7d, 30s, 500ms and their upper-case H, D, S, MIN are read; 10M and 5MS are refused with what to write", () => {
    const seconds = (v: string) => parseDuration(v, "--expires", "s");
    expect([seconds("10m"), seconds("1h"), seconds("7d"), seconds("30s"), seconds("600")]).toEqual([
      600, 3600, 604_800, 30, 600,
    ]);
    expect([seconds("1H"), seconds("7D"), seconds("30S"), seconds("10MIN"), seconds("10Min")]).toEqual([
      3600, 604_800, 30, 600, 600,
    ]);
    expect(parseDuration("500ms", "timeout", "ms")).toBe(500);
    expect(configError(() => seconds("10M")).message).toBe(
      '--expires must be a number of seconds, or a duration such as "30s", "10m" or "1h": "M" is ambiguous (minutes or months?); write "10m" for minutes.',
    );
    expect(configError(() => parseDuration("5MS", "timeout", "ms")).message).toContain(
      '"MS" is ambiguous (milliseconds or megaseconds?); write "5ms" for milliseconds.',
    );
    expect(configError(() => parseDuration("5Ms", "timeout", "ms")).message).toContain('write "5ms"');
    // The same rule in a storage URL.
    expect(configError(() => parseStorageUrl("memory://?expiresIn=10M", "S", "x")).message).toBe(
      'S (expiresIn=) must be a number of seconds, or a duration such as "30s", "10m" or "1h": "M" is ambiguous (minutes or months?); write "10m" for minutes.',
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
      "key",
      "secret_key",
      "accountKey",
      "credential",
      "pwd",
      "apiKey",
      "AWSAccessKeyId",
    ]) {
      expect(isSecretParam(p), p).toBe(true);
    }
    for (const p of [
      "region",
      "endpoint",
      "forcePathStyle",
      "prefix",
      "storageClass",
      "acl",
      "sseKmsKeyId",
      "delegationKeyLifetime",
      "signingEndpoint",
      "authenticateEndpoint",
    ]) {
      expect(isSecretParam(p), p).toBe(false);
    }
  });
});
