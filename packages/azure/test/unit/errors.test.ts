import { inspect } from "node:util";
import { RestError } from "@azure/storage-blob";
import { StorageError } from "@storages/core";
import { findSecretLeak } from "@storages/testing";
import { describe, expect, it } from "vitest";
import { mapAzureError } from "../../src/errors.js";

function rest(
  statusCode: number | undefined,
  code: string | undefined,
  message = "Service message\nRequestId:abc\nTime:now",
) {
  return new RestError(message, { statusCode, code });
}

describe("mapAzureError", () => {
  const cases: Array<[string, unknown, object, string, boolean]> = [
    ["404 BlobNotFound", rest(404, "BlobNotFound"), {}, "E_NOT_FOUND", false],
    [
      "404 from a HEAD (code only in details)",
      Object.assign(rest(404, undefined), { details: { errorCode: "BlobNotFound" } }),
      {},
      "E_NOT_FOUND",
      false,
    ],
    ["404 ContainerNotFound", rest(404, "ContainerNotFound"), { container: "media" }, "E_CONFIG", false],
    ["409 BlobAlreadyExists", rest(409, "BlobAlreadyExists"), {}, "E_ALREADY_EXISTS", false],
    [
      "412 on a create-exclusive write",
      rest(412, "ConditionNotMet"),
      { ifNotExists: true },
      "E_ALREADY_EXISTS",
      false,
    ],
    [
      "409 on a create-exclusive write",
      rest(409, "BlobAlreadyExists"),
      { ifNotExists: true },
      "E_ALREADY_EXISTS",
      false,
    ],
    ["412 otherwise", rest(412, "ConditionNotMet"), {}, "E_PRECONDITION_FAILED", false],
    ["403 AuthorizationFailure", rest(403, "AuthorizationFailure"), {}, "E_PERMISSION_DENIED", false],
    ["403 AuthenticationFailed", rest(403, "AuthenticationFailed"), {}, "E_PERMISSION_DENIED", false],
    ["416 InvalidRange", rest(416, "InvalidRange"), {}, "E_RANGE_NOT_SATISFIABLE", false],
    ["400 InvalidResourceName", rest(400, "InvalidResourceName"), {}, "E_INVALID_PATH", false],
    ["400 other", rest(400, "InvalidHeaderValue"), {}, "E_BACKEND", false],
    ["429", rest(429, "TooManyRequests"), {}, "E_BACKEND", true],
    ["503 ServerBusy", rest(503, "ServerBusy"), {}, "E_BACKEND", true],
    ["500 InternalError", rest(500, "InternalError"), {}, "E_BACKEND", true],
    ["408", rest(408, "RequestTimeout"), {}, "E_BACKEND", true],
    [
      "network (REQUEST_SEND_ERROR)",
      rest(undefined, "REQUEST_SEND_ERROR", "connect ECONNREFUSED 127.0.0.1:1"),
      {},
      "E_BACKEND",
      true,
    ],
    [
      "network errno",
      Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }),
      {},
      "E_BACKEND",
      true,
    ],
    ["a plain bug", new TypeError("x is not a function"), {}, "E_BACKEND", false],
    [
      "AbortError",
      Object.assign(new Error("The operation was aborted."), { name: "AbortError" }),
      {},
      "E_ABORTED",
      false,
    ],
  ];

  for (const [title, error, context, code, retryable] of cases) {
    it(`${title} → ${code}${retryable ? " (retryable)" : ""}`, () => {
      const mapped = mapAzureError(error, { key: "a/b.txt", ...context });
      expect(mapped.code).toBe(code);
      expect(mapped.retryable).toBe(retryable);
      expect(mapped.cause).toBe(error); // kept as is: nothing secret in it
      if (code !== "E_CONFIG") expect(mapped.path).toBe("a/b.txt");
    });
  }

  it("keeps the service's first message line, not the RequestId noise", () => {
    const mapped = mapAzureError(
      rest(403, "AuthorizationFailure", "This request is not authorized.\nRequestId:1\nTime:2"),
    );
    expect(mapped.message).toContain("403 AuthorizationFailure: This request is not authorized.");
    expect(mapped.message).not.toContain("RequestId");
  });

  it("a missing container says to create it and names the container", () => {
    expect(mapAzureError(rest(404, "ContainerNotFound"), { container: "media" }).message).toMatch(
      /container "media" does not exist: create it/,
    );
  });

  it("names Azure's request id, for support tickets", () => {
    const error = new RestError("Server busy", {
      statusCode: 503,
      code: "ServerBusy",
      response: {
        headers: { get: (name: string) => (name === "x-ms-request-id" ? "req-42" : undefined) },
      } as never,
    });
    expect(mapAzureError(error).message).toContain("(request id req-42)");
  });

  it("passes StorageErrors through unchanged", () => {
    const original = new StorageError("E_NOT_FOUND", "gone");
    expect(mapAzureError(original)).toBe(original);
  });

  it("no signature, key or Authorization header in the message, JSON or inspect output", () => {
    const key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    const error = new RestError(
      "Server failed to authenticate the request for https://a.blob.core.windows.net/c/b?sv=2025&sig=SECRETSIG%3D&se=2030 AccountKey=" +
        key,
      {
        statusCode: 403,
        code: "AuthenticationFailed",
        request: {
          url: "https://a.blob.core.windows.net/c/b?sv=2025&sig=SECRETSIG%3D",
          headers: { get: () => undefined, toJSON: () => ({ authorization: `SharedKey a:${key}` }) },
        } as never,
      },
    );
    const mapped = mapAzureError(error, { key: "c/b" });
    for (const text of [mapped.message, JSON.stringify(mapped), inspect(mapped, { depth: 10 })]) {
      expect(findSecretLeak(text), text).toBeUndefined();
      expect(text).not.toContain("SECRETSIG");
      expect(text).not.toContain(key);
    }
  });
});
