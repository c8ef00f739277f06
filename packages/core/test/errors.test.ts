import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import {
  AlreadyExistsError,
  ConfigError,
  InvalidPathError,
  NotFoundError,
  PathTraversalError,
  redactSecrets,
  StorageError,
  safeCause,
} from "../src/errors.js";

describe("StorageError", () => {
  it("carries a stable code, context and cause", () => {
    const cause = new Error("boom");
    const error = new NotFoundError("missing", { operation: "stat", path: "a.txt", backend: "s3", cause });
    expect(error.code).toBe("E_NOT_FOUND");
    expect(error.name).toBe("NotFoundError");
    expect(error.cause).toBe(cause);
    expect(error.toJSON()).toMatchObject({
      code: "E_NOT_FOUND",
      operation: "stat",
      path: "a.txt",
      backend: "s3",
    });
    expect(error).toBeInstanceOf(StorageError);
  });

  it("is recognised across duplicate package copies through the Symbol.for marker", () => {
    // What a second copy of @storages/core would throw: a plain object graph with the marker.
    const foreign = Object.assign(new Error("x"), {
      code: "E_ALREADY_EXISTS",
      [Symbol.for("storages.error")]: true,
    });
    expect(StorageError.isInstance(foreign)).toBe(true);
    expect(AlreadyExistsError.isInstance(foreign)).toBe(true);
    expect(NotFoundError.isInstance(foreign)).toBe(false);
    expect(StorageError.isInstance(new Error("plain"))).toBe(false);
  });

  it("treats a traversal as an invalid path, not the other way round", () => {
    const traversal = new PathTraversalError("..");
    expect(InvalidPathError.isInstance(traversal)).toBe(true);
    expect(PathTraversalError.isInstance(new InvalidPathError("x"))).toBe(false);
  });
});

describe("redactSecrets", () => {
  it.each([
    [
      "https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abcdef0123&x=1",
      ["AKIA", "abcdef0123"],
    ],
    ["https://a.blob.core.windows.net/c/b?sv=2021&sig=Zm9vYmFy%3D&se=2030", ["Zm9vYmFy"]],
    ["https://storage.googleapis.com/b/o?X-Goog-Signature=deadbeef", ["deadbeef"]],
    [
      "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=c2VjcmV0a2V5==;EndpointSuffix=x",
      ["c2VjcmV0a2V5"],
    ],
    ['{"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEv\\n-----END PRIVATE KEY-----"}', ["MIIEv"]],
    ["s3://AKIAEXAMPLE:wJalrXUtnFEMI@bucket/prefix", ["wJalrXUtnFEMI"]],
    ["Authorization: AWS4-HMAC-SHA256 Credential=AKIA/x, Signature=99", ["AKIA/x", "Signature=99"]],
    ["secretAccessKey=abc123xyz", ["abc123xyz"]],
    [
      '{"host":"x","authorization":"AWS4-HMAC-SHA256 Credential=STGKEY/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0a1b2c"}',
      ["STGKEY", "0a1b2c", "AWS4-HMAC-SHA256 Credential"],
    ],
    ['{"authorization":"SharedKey devstoreaccount1:c2lnbmF0dXJl"}', ["c2lnbmF0dXJl"]],
    ["credentials rejected: Credential=AKIAXYZ/2026/eu, Signature=ffee", ["AKIAXYZ", "ffee"]],
    [
      "request to http://h/upload/storage/v1/b/b/o?uploadType=resumable&upload_id=SESSION42 failed",
      ["SESSION42"],
    ],
  ])("removes the secret from %j", (text, secrets) => {
    const redacted = redactSecrets(text);
    for (const secret of secrets) expect(redacted).not.toContain(secret);
    expect(redacted).toContain("[redacted]");
  });

  it("safeCause keeps a clean error as it is, and a copy without the secret of one that quotes it", () => {
    const clean = Object.assign(new Error("NoSuchKey"), {
      code: "NoSuchKey",
      $metadata: { httpStatusCode: 404 },
    });
    expect(safeCause(clean)).toBe(clean);
    const leaky = Object.assign(new Error("failed"), {
      code: "InternalError",
      statusCode: 500,
      Message: "echo: Authorization: AWS4-HMAC-SHA256 Credential=AKIASECRET/x, Signature=abc123",
    });
    const safe = safeCause(leaky) as Error & { code?: string; statusCode?: number };
    expect(safe).not.toBe(leaky);
    expect(inspect(safe, { depth: 6 })).not.toContain("AKIASECRET");
    expect(safe.code).toBe("InternalError");
    expect(safe.statusCode).toBe(500);
    expect(safeCause("text")).toBe("text");
  });

  it("removes the value of every query parameter the configuration refuses as a secret", () => {
    const params = ["sas", "key", "secret_key", "access_key", "accountKey", "credential", "pwd", "apiKey"];
    for (const name of params) {
      for (const text of [
        `the address "s3://bucket/p/?${name}=TOPSECRET" is refused`,
        `azure://acct/c/?sv=2021&${name}=TOPSECRET&se=2030`,
        `"url":"gs://b/?region=x&${encodeURIComponent(name).replace("a", "%61")}=TOPSECRET"`,
        `write \`file:///srv/x?${name}=TOPSECRET\` without it`,
      ]) {
        const redacted = redactSecrets(text);
        expect(redacted, text).not.toContain("TOPSECRET");
        expect(redacted, text).toContain("=[redacted]");
      }
    }
    // Ordinary parameters stay readable.
    const plain = "s3://bucket/?region=eu-west-1&sseKmsKeyId=alias/x&keyFile=none";
    expect(redactSecrets(plain)).toBe(plain);
  });

  it("scrubs every StorageError message", () => {
    const error = new ConfigError("bad URL https://x/y?sig=TOPSECRET&a=1");
    expect(error.message).not.toContain("TOPSECRET");
  });
});
