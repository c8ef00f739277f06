import type { AccessToken, TokenCredential } from "@azure/identity";
import { AnonymousCredential, BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import { type ConfigError, inspectStorageUrl, StorageError } from "@storages/core";
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
      /^Azure storage option container must be a valid container name, not "Media_Files": 3–63 lower-case/,
    ],
    [
      "double hyphen",
      { accountName: "acct", accountKey: KEY, container: "a--b" },
      /must be a valid container name, not "a--b"/,
    ],
    [
      "no credentials",
      { container: "media" },
      /^Azure storage option accountName is required without other credentials: set connectionString/,
    ],
    [
      "two credentials",
      { container: "media", accountName: "acct", accountKey: KEY, sasToken: SAS },
      /^Azure storage option sasToken cannot go with accountKey; pick one way to authenticate\.$/,
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
      /accountName must be a storage account name \(3–24 lower-case letters and digits\), not "My_Account"/,
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
      /endpoint must be a URL with its scheme, e\.g\. "https:\/\/myaccount\.blob\.core\.windows\.net", not "nope"/,
    ],
    [
      "endpoint with a SAS",
      { container: "media", accountName: "acct", endpoint: `https://acct.blob.core.windows.net?${SAS}` },
      /must not carry credentials or a query string/,
    ],
    [
      "endpoint ftp",
      { container: "media", accountName: "acct", accountKey: KEY, endpoint: "ftp://x" },
      /endpoint must be an http:\/\/ or https:\/\/ URL/,
    ],
    [
      "block size too small",
      { container: "media", accountName: "acct", accountKey: KEY, blockSize: 1000 },
      /^Azure storage option blockSize must be a size from 1 MiB to 4000 MiB, not 1000 bytes\.$/,
    ],
    [
      "concurrency 0",
      { container: "media", accountName: "acct", accountKey: KEY, concurrency: 0 },
      /concurrency must be a whole number of blocks from 1 to 64, not 0/,
    ],
    [
      "prefix with ..",
      { container: "media", accountName: "acct", accountKey: KEY, prefix: "a/../b" },
      /prefix must be a plain path like "media\/uploads"/,
    ],
    [
      "visibility typo",
      { container: "media", accountName: "acct", accountKey: KEY, visibility: "pubic" },
      /visibility must be "public" or "private"/,
    ],
    [
      "unknown option",
      { container: "media", accountName: "acct", accountKey: KEY, bucket: "x" },
      /^Azure storage option bucket is not an option; the options are container, prefix/,
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
  const inspect = (url: string, env: Record<string, string> = {}, storageName = "media") =>
    inspectStorageUrl(backend, url, { storageName, env });

  it("account, container and prefix from the URL; the key from STORAGES_MEDIA_ACCOUNT_KEY", async () => {
    const { options, sources, secrets } = await inspect(
      "azure://acct/media/user%20uploads/2024?endpoint=http%3A%2F%2F127.0.0.1%3A10000%2Facct&blockSize=16MiB",
      { STORAGES_MEDIA_ACCOUNT_KEY: KEY },
    );
    expect(options).toEqual({
      accountName: "acct",
      container: "media",
      prefix: "user uploads/2024",
      endpoint: "http://127.0.0.1:10000/acct",
      blockSize: 16 * 1024 * 1024,
      accountKey: KEY,
    });
    expect(sources).toMatchObject({
      accountName: "STORAGES_MEDIA",
      blockSize: "STORAGES_MEDIA (blockSize=)",
      accountKey: "STORAGES_MEDIA_ACCOUNT_KEY",
    });
    expect(secrets).toEqual(["STORAGES_MEDIA_ACCOUNT_KEY"]);
    expect(backend.create(options).capabilities.signedUrl).toBe(true);
  });

  it("a SAS token or a connection string from their variables; none: DefaultAzureCredential", async () => {
    expect((await inspect("azure://acct/media", { STORAGES_MEDIA_SAS_TOKEN: SAS })).options.sasToken).toBe(
      SAS,
    );
    const cs = `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${KEY}`;
    const fromCs = await inspect("azure://acct/media", { STORAGES_MEDIA_CONNECTION_STRING: cs });
    expect(fromCs.options.connectionString).toBe(cs);
    expect(fromCs.options.accountName).toBeUndefined();
    // The account and endpoint come from the connection string, its key never shows.
    expect(fromCs.location).toEqual({
      kind: "bucket",
      service: "azure",
      namespace: "acct@https://acct.blob.core.windows.net",
      bucket: "media",
      prefix: "",
    });
    expect(fromCs.description.location).toBe("azure://acct/media/");
    expect(JSON.stringify(fromCs.description)).not.toContain(KEY);
    const ambient = await inspect("azure://acct/media");
    const driver = backend.create(ambient.options) as AzureDriver;
    expect(driver.credentialKind).toBe("token");
    expect(ambient.description.settings).toMatchObject({ credentials: "DefaultAzureCredential" });
  });

  it("storage names with underscores map to their variable names", async () => {
    const { options } = await inspect(
      "azure://acct/media",
      { STORAGES_USER_UPLOADS_ACCOUNT_KEY: KEY },
      "user_uploads",
    );
    expect(options.accountKey).toBe(KEY);
  });

  it("blockSize is bytes everywhere: a number of bytes or a size with a unit, checked at load", async () => {
    expect((await inspect("azure://acct/media?blockSize=8388608")).options.blockSize).toBe(8 * 1024 * 1024);
    expect((await inspect("azure://acct/media?blockSize=4000MiB")).options.blockSize).toBe(
      4000 * 1024 * 1024,
    );
    // 8 means 8 bytes, not 8 MiB: refused at load time, with the range in the same unit.
    let message = "";
    try {
      await inspect("azure://acct/media?blockSize=8");
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toBe("STORAGES_MEDIA (blockSize=) must be a size from 1 MiB to 4000 MiB, not 8 bytes.");
    expect(
      () => new AzureDriver({ container: "media", accountName: "acct", blockSize: "8MiB" }),
    ).not.toThrow();
  });

  const refusals: Array<[string, string, Record<string, string>, RegExp]> = [
    ["no container", "azure://acct", {}, /must name an account and a container/],
    [
      "credentials in the URL",
      "azure://acct:secret@acct/media",
      {},
      /^STORAGES_MEDIA contains credentials \(user:password@\): URLs get logged\. Remove them from the URL and set its secret variables \(STORAGES_MEDIA_CONNECTION_STRING, STORAGES_MEDIA_ACCOUNT_KEY, STORAGES_MEDIA_SAS_TOKEN\) instead\.$/,
    ],
    ["unknown parameter", "azure://acct/media?region=x", {}, /unknown query parameter `region`/],
    [
      "block size with an ambiguous unit",
      "azure://acct/media?blockSize=8MB",
      {},
      /^STORAGES_MEDIA \(blockSize=\) must be a number of bytes, or a size such as "8MiB": "MB" is not a unit here/,
    ],
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
    [
      "bad container name",
      "azure://acct/Media_Files",
      {},
      /^STORAGES_MEDIA: container must be a valid container name/,
    ],
    [
      "short delegation key lifetime",
      "azure://acct/media?delegationKeyLifetime=1m",
      {},
      /^STORAGES_MEDIA \(delegationKeyLifetime=\) must be a duration from 600 seconds to 604800 seconds, not 60 seconds\.$/,
    ],
  ];
  for (const [title, url, env, message] of refusals) {
    it(`refuses ${title} with a ConfigError at load time`, async () => {
      let thrown: unknown;
      try {
        await inspect(url, env);
      } catch (error) {
        thrown = error;
      }
      expect(StorageError.hasCode(thrown, "E_CONFIG")).toBe(true);
      expect((thrown as Error).message).toMatch(message);
      expect((thrown as Error).message).not.toContain(KEY);
      expect((thrown as Error).message).not.toContain("secret@");
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
