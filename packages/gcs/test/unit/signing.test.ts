/**
 * Signed URLs and POST policies, checked against the GCS v4 signing spec with a known key and a
 * fixed clock (the Cloud Storage emulator checks no signature, so this is where they are proven).
 * The canonical request is rebuilt here independently of the SDK and the signature verified with
 * the key's public half.
 */
import { createHash, createPublicKey, verify } from "node:crypto";
import { Storage } from "@storages/core";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { GcsDriver, type GcsDriverOptions } from "../../src/index.js";
import { throwawayKey } from "../server.js";

const key = throwawayKey();
const publicKey = createPublicKey(key.private_key);
const NOW = new Date("2025-03-04T05:06:07.000Z");

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(NOW);
});
afterEach(() => {
  vi.useRealTimers();
});

function storage(options: Partial<GcsDriverOptions> = {}, storageOptions = {}): Storage {
  return new Storage(
    new GcsDriver({ bucket: "media-bkt", prefix: "up/", credentials: key, ...options }),
    storageOptions,
  );
}

/** RFC 3986 encoding, as the v4 canonical query string needs it. */
function rfc3986(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** Rebuilds the v4 string-to-sign of a signed URL and checks its signature. */
function verifySignedUrl(signed: string, method: string, headers: Record<string, string>): URL {
  const url = new URL(signed);
  const rawPath = signed.slice(url.origin.length).split("?")[0]!;
  const query = [...url.searchParams.entries()]
    .filter(([name]) => name !== "X-Goog-Signature")
    .map(([name, value]) => [rfc3986(name), rfc3986(value)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join("&");
  // The SDK signs the host name without the port; GCS itself is always on the default port.
  const allHeaders: Record<string, string> = { host: url.hostname, ...headers };
  const names = Object.keys(allHeaders)
    .map((n) => n.toLowerCase())
    .sort();
  expect(url.searchParams.get("X-Goog-SignedHeaders")).toBe(names.join(";"));
  const canonicalHeaders = names.map((n) => `${n}:${allHeaders[n]!.trim()}\n`).join("");
  const canonicalRequest = [
    method,
    rawPath,
    query,
    canonicalHeaders,
    names.join(";"),
    "UNSIGNED-PAYLOAD",
  ].join("\n");
  const scope = `20250304/auto/storage/goog4_request`;
  const stringToSign = [
    "GOOG4-RSA-SHA256",
    "20250304T050607Z",
    scope,
    createHash("sha256").update(canonicalRequest).digest("hex"),
  ].join("\n");
  const signature = Buffer.from(url.searchParams.get("X-Goog-Signature") ?? "", "hex");
  expect(verify("RSA-SHA256", Buffer.from(stringToSign), publicKey, signature), "signature").toBe(true);
  return url;
}

describe("signed GET URLs (v4)", () => {
  it("point at storage.googleapis.com, carry date, expiry and credential scope, and verify", async () => {
    const signed = await storage().signedUrl("docs/Relevé 1.pdf", { expiresIn: 600 });
    const url = verifySignedUrl(signed, "GET", {});
    expect(url.origin).toBe("https://storage.googleapis.com");
    expect(signed.split("?")[0]).toBe("https://storage.googleapis.com/media-bkt/up/docs/Relev%C3%A9%201.pdf");
    expect(url.searchParams.get("X-Goog-Algorithm")).toBe("GOOG4-RSA-SHA256");
    expect(url.searchParams.get("X-Goog-Date")).toBe("20250304T050607Z");
    expect(url.searchParams.get("X-Goog-Expires")).toBe("600");
    expect(url.searchParams.get("X-Goog-Credential")).toBe(
      `${key.client_email}/20250304/auto/storage/goog4_request`,
    );
  });

  it("bind response-content-disposition and response-content-type into the signature", async () => {
    const signed = await storage().signedUrl("a.pdf", {
      download: "Rapport été.pdf",
      contentType: "application/pdf",
    });
    const url = verifySignedUrl(signed, "GET", {});
    expect(url.searchParams.get("response-content-disposition")).toMatch(
      /^attachment; filename=.*filename\*=UTF-8''Rapport%20%C3%A9t%C3%A9\.pdf$/,
    );
    expect(url.searchParams.get("response-content-type")).toBe("application/pdf");
    expect(url.searchParams.get("X-Goog-Expires")).toBe("3600");
  });

  it("point at the configured endpoint (an emulator), signed for that host", async () => {
    const signed = await storage({ endpoint: "http://127.0.0.1:9199" }).signedUrl("x.txt", { expiresIn: 60 });
    const url = verifySignedUrl(signed, "GET", {});
    expect(url.origin).toBe("http://127.0.0.1:9199");
  });

  it("refuse lifetimes GCS would refuse (over 7 days)", async () => {
    await expect(storage().signedUrl("x.txt", { expiresIn: 7 * 24 * 3600 + 1 })).rejects.toMatchObject({
      code: "E_INVALID_ARGUMENT",
    });
    const url = new URL(await storage().signedUrl("x.txt", { expiresIn: 7 * 24 * 3600 }));
    expect(url.searchParams.get("X-Goog-Expires")).toBe("604800");
  });
});

describe("signed PUT uploads", () => {
  it("sign content-type, the ACL and the size range as headers the uploader must send", async () => {
    const up = await storage().signedUpload("in/a.csv", {
      method: "put",
      contentType: "text/csv",
      maxBytes: 1000,
      expiresIn: 300,
      overwrite: true,
    });
    expect(up.method).toBe("PUT");
    expect(up.headers).toEqual({
      "content-type": "text/csv",
      "x-goog-acl": "project-private",
      "x-goog-content-length-range": "0,1000",
    });
    expect(up.expiresAt.toISOString()).toBe("2025-03-04T05:11:07.000Z");
    expect(up.maxBytes).toBe(1000);
    const url = verifySignedUrl(up.url, "PUT", up.headers);
    expect(url.pathname).toBe("/media-bkt/up/in/a.csv");
    expect(url.searchParams.get("X-Goog-Expires")).toBe("300");
  });

  it("a public storage's uploads carry x-goog-acl: public-read", async () => {
    const up = await storage({}, { visibility: "public" }).signedUpload("p.png", {
      method: "put",
      overwrite: true,
    });
    expect(up.headers["x-goog-acl"]).toBe("public-read");
    verifySignedUrl(up.url, "PUT", up.headers);
  });
});

describe("POST policy v4", () => {
  it("limits the size with content-length-range, binds every field, expires on time, and verifies", async () => {
    const up = await storage().signedUpload("in/b.csv", {
      method: "post",
      contentType: "text/csv",
      maxBytes: 2048,
      expiresIn: 900,
      overwrite: true,
    });
    expect(up.method).toBe("POST");
    expect(up.url).toBe("https://storage.googleapis.com/media-bkt/");
    expect(up.fields).toMatchObject({
      key: "up/in/b.csv",
      acl: "project-private",
      "Content-Type": "text/csv",
      "x-goog-algorithm": "GOOG4-RSA-SHA256",
      "x-goog-date": "20250304T050607Z",
      "x-goog-credential": `${key.client_email}/20250304/auto/storage/goog4_request`,
    });
    const policy = JSON.parse(Buffer.from(up.fields.policy!, "base64").toString("utf8"));
    expect(policy.expiration).toBe("2025-03-04T05:21:07Z");
    expect(policy.conditions).toEqual(
      expect.arrayContaining([
        ["content-length-range", 0, 2048],
        { key: "up/in/b.csv" },
        { bucket: "media-bkt" },
        { acl: "project-private" },
        { "Content-Type": "text/csv" },
        { "x-goog-date": "20250304T050607Z" },
      ]),
    );
    const signature = Buffer.from(up.fields["x-goog-signature"]!, "hex");
    expect(verify("RSA-SHA256", Buffer.from(up.fields.policy!), publicKey, signature)).toBe(true);
  });

  it("without maxBytes there is no size condition; with an endpoint the form posts to it", async () => {
    const up = await storage({ endpoint: "http://127.0.0.1:9199" }).signedUpload("c.txt", {
      method: "post",
      overwrite: true,
    });
    expect(up.url).toBe("http://127.0.0.1:9199/media-bkt/");
    const policy = JSON.parse(Buffer.from(up.fields.policy!, "base64").toString("utf8"));
    expect(policy.conditions.some((c: unknown) => Array.isArray(c) && c[0] === "content-length-range")).toBe(
      false,
    );
  });

  it("with maxBytes and no method, the facade picks POST", async () => {
    const up = await storage().signedUpload("d.txt", { maxBytes: 10, overwrite: true });
    expect(up.method).toBe("POST");
  });
});

describe("public URLs", () => {
  it("are path-style, one encoded segment per path part", () => {
    expect(storage().publicUrl("a b/ü#?.txt")).toBe(
      "https://storage.googleapis.com/media-bkt/up/a%20b/%C3%BC%23%3F.txt",
    );
    expect(storage({ endpoint: "http://127.0.0.1:9199/" }).publicUrl("x")).toBe(
      "http://127.0.0.1:9199/media-bkt/up/x",
    );
  });
});

describe("without a key", () => {
  it("an emulator client with no key says signing needs one, without probing the GCE metadata server", async () => {
    const s = new Storage(new GcsDriver({ bucket: "media-bkt", endpoint: "http://127.0.0.1:9" }));
    await expect(s.signedUrl("x.txt")).rejects.toMatchObject({ code: "E_CONFIG", backend: "gcs" });
    await expect(s.signedUpload("x.txt", { method: "post" })).rejects.toMatchObject({ code: "E_CONFIG" });
  });
});
