/**
 * The TokenCredential path against a real server: Azurite in OAuth mode (HTTPS, `--oauth basic`:
 * it checks a bearer token's issuer, audience and lifetime, not its signature), started by this
 * file on a free loopback port with a throw-away certificate. Verified for real here: requests
 * authenticated with a token, Get User Delegation Key, and user delegation SAS URLs that Azurite
 * checks (signature, expiry, tampering) — the path django-storages users get stuck on.
 * Not verifiable on Azurite: real Entra ID tokens and role assignments (Storage Blob Delegator).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AccessToken, TokenCredential } from "@azure/identity";
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import { Storage } from "@storages/core";
import { tamperSignature } from "@storages/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error plain ESM script without types
import * as azurite from "../../../scripts/servers/azurite.mjs";
import { AzureDriver } from "../src/index.js";

// Azurite's certificate is self-signed and made for this run; only this loopback server is contacted.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";

const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const OBJECT_ID = "5b2e3e8c-6f0a-4c51-9d52-6c1c7c3f6f1a";

/** An unsigned JWT with the claims Azurite's basic OAuth check looks at. */
function fakeEntraToken(): string {
  const now = Math.floor(Date.now() / 1000);
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "none", typ: "JWT" })}.${part({
    aud: "https://storage.azure.com",
    iss: `https://sts.windows.net/${TENANT}/`,
    iat: now - 60,
    nbf: now - 60,
    exp: now + 3600,
    oid: OBJECT_ID,
    tid: TENANT,
  })}.`;
}

let tokenRequests = 0;
const credential: TokenCredential = {
  async getToken(): Promise<AccessToken> {
    tokenRequests++;
    return { token: fakeEntraToken(), expiresOnTimestamp: Date.now() + 3600_000 };
  },
};

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

describe("TokenCredential and user delegation SAS on Azurite (HTTPS + OAuth)", () => {
  const workDir = mkdtempSync(join(tmpdir(), "storages-azurite-oauth-"));
  let endpoint: string;
  let storage: Storage;
  const container = `delegation-${Date.now().toString(36)}`;

  beforeAll(async () => {
    const { env } = await azurite.start({ workDir, port: await freePort(), oauth: true });
    endpoint = env.STORAGES_TEST_AZURE_OAUTH_ENDPOINT;
    // The container is created with the well-known development key; everything else uses the token.
    const admin = new BlobServiceClient(
      endpoint,
      new StorageSharedKeyCredential(azurite.ACCOUNT_NAME, azurite.ACCOUNT_KEY),
    );
    await admin.getContainerClient(container).create();
    storage = new Storage(
      new AzureDriver({ accountName: azurite.ACCOUNT_NAME, endpoint, container, credential }),
      {
        overwrite: true,
      },
    );
  }, 60_000);

  afterAll(async () => {
    await azurite.stop({ workDir });
    rmSync(workDir, { recursive: true, force: true });
  });

  it("reads and writes with a bearer token", async () => {
    expect((storage.driver as AzureDriver).credentialKind).toBe("token");
    await storage.save("a.txt", "delegated", { contentType: "text/plain" });
    expect(await storage.readText("a.txt")).toBe("delegated");
    expect(tokenRequests).toBeGreaterThan(0);
  });

  it("signs GET URLs with a user delegation key that Azurite accepts, with response overrides", async () => {
    const url = await storage.signedUrl("a.txt", { download: "report.txt", expiresIn: 300 });
    const params = new URL(url).searchParams;
    expect(params.get("skoid")).toBe(OBJECT_ID);
    expect(params.get("sktid")).toBe(TENANT);
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("delegated");
    expect(response.headers.get("content-disposition")).toContain('filename="report.txt"');
  });

  it("a tampered user delegation SAS is refused", async () => {
    const url = await storage.signedUrl("a.txt");
    const response = await fetch(tamperSignature(url));
    await response.arrayBuffer();
    expect(response.status).toBe(403);
  });

  it("an expired user delegation SAS is refused", async () => {
    const url = await storage.signedUrl("a.txt", { expiresIn: 1 });
    await new Promise((r) => setTimeout(r, 2500));
    const response = await fetch(url);
    await response.arrayBuffer();
    expect(response.status).toBe(403);
  });

  it("one delegation key serves many URLs (cached), and signed uploads work with it", async () => {
    const urls = await Promise.all(
      Array.from({ length: 10 }, (_, i) => storage.signedUrl(`a.txt`, { expiresIn: 60 + i })),
    );
    expect(new Set(urls.map((u) => new URL(u).searchParams.get("skt"))).size).toBe(1);
    const upload = await storage.signedUpload("up/b.json", { contentType: "application/json" });
    const put = await fetch(upload.url, { method: "PUT", headers: upload.headers, body: "{}" });
    expect(put.status).toBe(201);
    expect((await storage.stat(upload.name)).contentType).toBe("application/json");
  });

  it("server-side copy of a blob uses a user delegation SAS as its source", async () => {
    await storage.copy("a.txt", "copied.txt");
    expect(await storage.readText("copied.txt")).toBe("delegated");
  });
});
