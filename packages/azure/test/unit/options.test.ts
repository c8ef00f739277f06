import type { AccessToken, TokenCredential } from "@azure/identity";
import { AnonymousCredential, BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import { type ConfigError, StorageError } from "@storages/core";
import { findSecretLeak } from "@storages/testing";
import { describe, expect, it } from "vitest";
import { AzureDriver, type AzureDriverOptions, backend } from "../../src/index.js";
import { decodeMetadataKey, encodeMetadataKey } from "../../src/metadata.js";

const KEY = Buffer.alloc(64, 5).toString("base64");
const SAS = "sv=2025-01-05&ss=b&srt=co&sp=rwdlac&se=2030-01-01T00%3A00%3A00Z&sig=AbCdEf%2B%2F%3D";
const fakeToken: TokenCredential = {
  async getToken(): Promise<AccessToken> {
    return { token: "t", expiresOnTimestamp: Date.now() + 3600_000 };
  },
};

function configError(options: unknown): ConfigError {
  try {
    new AzureDriver(options as AzureDriverOptions);
  } catch (error) {
    expect(StorageError.hasCode(error, "E_CONFIG"), String(error)).toBe(true);
    const message = (error as Error).message;
    expect(message).not.toContain(KEY);
    expect(message).not.toContain("AbCdEf");
    expect(findSecretLeak(message)).toBeUndefined();
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

describe("option validation", () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ["no container", { accountName: "acct", accountKey: KEY }, /container is required/],
    [
      "bad container name",
      { accountName: "acct", accountKey: KEY, container: "Media_Files" },
      /not a valid container name.*lower-case/,
    ],
    [
      "double hyphen",
      { accountName: "acct", accountKey: KEY, container: "a--b" },
      /not a valid container name/,
    ],
    ["no credentials", { container: "media" }, /no credentials: set connectionString/],
    [
      "two credentials",
      { container: "media", accountName: "acct", accountKey: KEY, sasToken: SAS },
      /pick one way to authenticate, got accountKey and sasToken/,
    ],
    ["key without account", { container: "media", accountKey: KEY }, /accountKey needs accountName/],
    [
      "key not base64",
      { container: "media", accountName: "acct", accountKey: "not a key!" },
      /accountKey is not base64/,
    ],
    [
      "bad account name",
      { container: "media", accountName: "My_Account", accountKey: KEY },
      /not a storage account name/,
    ],
    [
      "sas without sig",
      { container: "media", accountName: "acct", sasToken: "sv=2025&sp=r" },
      /does not look like a SAS token/,
    ],
    [
      "credential without getToken",
      { container: "media", accountName: "acct", credential: {} },
      /must be a TokenCredential/,
    ],
    [
      "endpoint not a URL",
      { container: "media", accountName: "acct", accountKey: KEY, endpoint: "nope" },
      /is not a URL/,
    ],
    [
      "endpoint with a SAS",
      { container: "media", accountName: "acct", endpoint: `https://acct.blob.core.windows.net?${SAS}` },
      /must not carry credentials or a query string/,
    ],
    [
      "endpoint ftp",
      { container: "media", accountName: "acct", accountKey: KEY, endpoint: "ftp://x" },
      /http\(s\) URL/,
    ],
    [
      "block size too small",
      { container: "media", accountName: "acct", accountKey: KEY, blockSize: 1000 },
      /blockSize must be an integer from 1048576/,
    ],
    [
      "concurrency 0",
      { container: "media", accountName: "acct", accountKey: KEY, concurrency: 0 },
      /concurrency must be an integer from 1 to 64/,
    ],
    [
      "prefix with ..",
      { container: "media", accountName: "acct", accountKey: KEY, prefix: "a/../b" },
      /prefix "a\/..\/b" is not a plain path/,
    ],
    [
      "visibility typo",
      { container: "media", accountName: "acct", accountKey: KEY, visibility: "pubic" },
      /visibility must be "public" or "private"/,
    ],
    [
      "unknown option",
      { container: "media", accountName: "acct", accountKey: KEY, bucket: "x" },
      /unknown option\(s\) bucket/,
    ],
    [
      "invalid connection string",
      { container: "media", connectionString: `AccountKey=${KEY};nonsense` },
      /connectionString is not a valid/,
    ],
  ];
  for (const [title, options, message] of cases) {
    it(`${title}: ConfigError naming the fix, no secret`, () => {
      expect(configError(options).message).toMatch(message);
    });
  }
});

describe("credential selection", () => {
  it("account + key: shared key, signs service SAS URLs", () => {
    const d = new AzureDriver({ container: "media", accountName: "acct", accountKey: KEY });
    expect(d.credentialKind).toBe("sharedKey");
    expect(d.capabilities.signedUrl).toBe(true);
    expect(d.capabilities.signedUpload).toEqual(["put"]);
    expect(d.containerClient.url).toBe("https://acct.blob.core.windows.net/media");
  });

  it("connection string with a key: shared key; with a SAS: cannot sign", () => {
    const withKey = new AzureDriver({
      container: "media",
      connectionString: `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${KEY};EndpointSuffix=core.windows.net`,
    });
    expect(withKey.credentialKind).toBe("sharedKey");
    const withSas = new AzureDriver({
      container: "media",
      connectionString: `BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=${SAS}`,
    });
    expect(withSas.credentialKind).toBe("sas");
    expect(withSas.capabilities.signedUrl).toBe(false);
    expect(withSas.capabilities.signedUpload).toEqual([]);
  });

  it("UseDevelopmentStorage=true points at Azurite's default endpoint", () => {
    const d = new AzureDriver({ container: "media", connectionString: "UseDevelopmentStorage=true" });
    expect(d.containerClient.url).toBe("http://127.0.0.1:10000/devstoreaccount1/media");
    expect(d.credentialKind).toBe("sharedKey");
  });

  it("SAS token: requests carry it, nothing can be signed, public URLs never show it", () => {
    const d = new AzureDriver({ container: "media", accountName: "acct", sasToken: `?${SAS}` });
    expect(d.credentialKind).toBe("sas");
    expect(d.containerClient.url).toContain("sig=");
    expect(d.capabilities.signedUrl).toBe(false);
    expect(d.publicUrl("a b/ü.txt")).toBe("https://acct.blob.core.windows.net/media/a%20b/%C3%BC.txt");
  });

  it("TokenCredential: user delegation SAS; accountName alone: DefaultAzureCredential (not loaded until used)", () => {
    const withToken = new AzureDriver({ container: "media", accountName: "acct", credential: fakeToken });
    expect(withToken.credentialKind).toBe("token");
    expect(withToken.capabilities.signedUrl).toBe(true);
    const ambient = new AzureDriver({ container: "media", accountName: "acct" });
    expect(ambient.credentialKind).toBe("token");
  });

  it("a caller-built ContainerClient: its credential decides", () => {
    const service = new BlobServiceClient(
      "https://acct.blob.core.windows.net",
      new StorageSharedKeyCredential("acct", KEY),
    );
    expect(new AzureDriver({ containerClient: service.getContainerClient("media") }).credentialKind).toBe(
      "sharedKey",
    );
    const anonymous = new BlobServiceClient("https://acct.blob.core.windows.net", new AnonymousCredential());
    expect(new AzureDriver({ containerClient: anonymous.getContainerClient("media") }).credentialKind).toBe(
      "anonymous",
    );
    const token = new BlobServiceClient("https://acct.blob.core.windows.net", fakeToken);
    expect(new AzureDriver({ containerClient: token.getContainerClient("media") }).credentialKind).toBe(
      "token",
    );
    expect(
      () => new AzureDriver({ containerClient: token.getContainerClient("media"), container: "other" }),
    ).toThrow(/differs/);
  });

  it("capabilities are declared honestly", () => {
    const d = new AzureDriver({
      container: "media",
      accountName: "acct",
      accountKey: KEY,
      prefix: "/up/loads/",
    });
    expect(d.prefix).toBe("up/loads/");
    expect(d.capabilities).toMatchObject({
      rangeRead: true,
      conditionalWrite: true,
      signedUploadMaxBytes: [],
      visibility: "bucket",
      checksums: ["md5"],
    });
  });
});

describe("azure:// URLs", () => {
  const context = (env: Record<string, string> = {}) => ({
    source: "STORAGES_MEDIA",
    storageName: "media",
    env,
  });

  it("account, container and prefix from the URL; the key from STORAGES_MEDIA_ACCOUNT_KEY", () => {
    const options = backend.fromUrl(
      new URL(
        "azure://acct/media/user%20uploads/2024?endpoint=http%3A%2F%2F127.0.0.1%3A10000%2Facct&blockSize=16777216",
      ),
      context({ STORAGES_MEDIA_ACCOUNT_KEY: KEY }),
    );
    expect(options).toEqual({
      accountName: "acct",
      container: "media",
      prefix: "user uploads/2024",
      endpoint: "http://127.0.0.1:10000/acct",
      blockSize: 16 * 1024 * 1024,
      accountKey: KEY,
    });
    expect(backend.create(options).capabilities.signedUrl).toBe(true);
  });

  it("a SAS token or a connection string from their variables; none: DefaultAzureCredential", () => {
    expect(
      backend.fromUrl(new URL("azure://acct/media"), context({ STORAGES_MEDIA_SAS_TOKEN: SAS })).sasToken,
    ).toBe(SAS);
    const cs = `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${KEY}`;
    const fromCs = backend.fromUrl(
      new URL("azure://acct/media"),
      context({ STORAGES_MEDIA_CONNECTION_STRING: cs }),
    );
    expect(fromCs.connectionString).toBe(cs);
    expect(fromCs.accountName).toBeUndefined();
    const ambient = backend.fromUrl(new URL("azure://acct/media"), context());
    expect(
      backend.create(ambient) instanceof AzureDriver &&
        (backend.create(ambient) as AzureDriver).credentialKind,
    ).toBe("token");
  });

  it("storage names with hyphens map to underscores in the variable names", () => {
    const options = backend.fromUrl(new URL("azure://acct/media"), {
      source: "x",
      storageName: "user-uploads",
      env: { STORAGES_USER_UPLOADS_ACCOUNT_KEY: KEY },
    });
    expect(options.accountKey).toBe(KEY);
  });

  const refusals: Array<[string, string, Record<string, string>, RegExp]> = [
    ["no container", "azure://acct", {}, /must name an account and a container/],
    [
      "credentials in the URL",
      "azure://acct:secret@acct/media",
      {},
      /credentials in the URL; move them to STORAGES_MEDIA_ACCOUNT_KEY/,
    ],
    ["unknown parameter", "azure://acct/media?region=x", {}, /unknown parameter `region`/],
    ["non-numeric block size", "azure://acct/media?blockSize=8MB", {}, /blockSize=\) must be a whole number/],
    [
      "two secrets",
      "azure://acct/media",
      { STORAGES_MEDIA_ACCOUNT_KEY: KEY, STORAGES_MEDIA_SAS_TOKEN: SAS },
      /Set only one of/,
    ],
    [
      "connection string for another account",
      "azure://acct/media",
      { STORAGES_MEDIA_CONNECTION_STRING: `AccountName=other;AccountKey=${KEY}` },
      /is for account "other"/,
    ],
  ];
  for (const [title, url, env, message] of refusals) {
    it(`refuses ${title} with a ConfigError`, () => {
      let thrown: unknown;
      try {
        backend.fromUrl(new URL(url), context(env));
      } catch (error) {
        thrown = error;
      }
      expect(StorageError.hasCode(thrown, "E_CONFIG")).toBe(true);
      expect((thrown as Error).message).toMatch(message);
      expect((thrown as Error).message).not.toContain(KEY);
      expect((thrown as Error).message).not.toContain("secret");
    });
  }
});

describe("metadata names", () => {
  it("C#-identifier keys pass unchanged; others are escaped reversibly behind a leading underscore", () => {
    const pairs: Array<[string, string]> = [
      ["owner", "owner"],
      ["plain_key", "plain_key"],
      ["trace-id", "_trace_hid"],
      ["2fa", "_2fa"],
      ["a_-b", "_a___hb"],
      ["x-_-y", "_x_h___hy"],
    ];
    for (const [key, stored] of pairs) {
      expect(encodeMetadataKey(key)).toBe(stored);
      expect(decodeMetadataKey(stored)).toBe(key);
      expect(stored).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/);
    }
  });

  it("names written by other tools come back unchanged", () => {
    expect(decodeMetadataKey("Owner")).toBe("Owner");
    expect(decodeMetadataKey("_weird_x")).toBe("_weird_x");
  });
});
