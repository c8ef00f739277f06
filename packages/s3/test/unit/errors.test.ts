import { StorageError, TimeoutError } from "@storages/core";
import { describe, expect, it } from "vitest";
import { s3ErrorToStorageError } from "../../src/index.js";

function sdkError(name: string, status?: number, extra: Record<string, unknown> = {}) {
  return Object.assign(new Error(`${name} message`), {
    name,
    $metadata: { httpStatusCode: status },
    ...extra,
  });
}

const context = { bucket: "media", key: "a.txt" };

describe("S3 errors → StorageError", () => {
  const cases: Array<[string, unknown, string, boolean]> = [
    ["NoSuchKey", sdkError("NoSuchKey", 404), "E_NOT_FOUND", false],
    ["HEAD 404 (no body)", sdkError("NotFound", 404), "E_NOT_FOUND", false],
    ["NoSuchBucket", sdkError("NoSuchBucket", 404), "E_CONFIG", false],
    ["AccessDenied", sdkError("AccessDenied", 403), "E_PERMISSION_DENIED", false],
    ["HEAD 403 (no body)", sdkError("Unknown", 403), "E_PERMISSION_DENIED", false],
    ["SignatureDoesNotMatch", sdkError("SignatureDoesNotMatch", 403), "E_PERMISSION_DENIED", false],
    ["InvalidRange", sdkError("InvalidRange", 416), "E_RANGE_NOT_SATISFIABLE", false],
    ["412 without ifNotExists", sdkError("PreconditionFailed", 412), "E_PRECONDITION_FAILED", false],
    ["AccessControlListNotSupported", sdkError("AccessControlListNotSupported", 400), "E_CONFIG", false],
    ["PermanentRedirect", sdkError("PermanentRedirect", 301), "E_CONFIG", false],
    ["EntityTooLarge", sdkError("EntityTooLarge", 400), "E_INVALID_ARGUMENT", false],
    ["NotImplemented", sdkError("NotImplemented", 501), "E_UNSUPPORTED", false],
    ["SlowDown", sdkError("SlowDown", 503), "E_BACKEND", true],
    ["InternalError", sdkError("InternalError", 500), "E_BACKEND", true],
    ["502 without a code", sdkError("Unknown", 502), "E_BACKEND", true],
    ["ECONNRESET", Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }), "E_BACKEND", true],
    [
      "ECONNREFUSED",
      Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }),
      "E_BACKEND",
      true,
    ],
    ["AbortError", Object.assign(new Error("aborted"), { name: "AbortError" }), "E_ABORTED", false],
    ["unknown 400", sdkError("MalformedXML", 400), "E_BACKEND", false],
  ];
  for (const [label, error, code, retryable] of cases) {
    it(`${label} → ${code}${retryable ? " (retryable)" : ""}`, () => {
      const mapped = s3ErrorToStorageError(error, context);
      expect(mapped.code).toBe(code);
      expect(mapped.retryable).toBe(retryable);
      expect(mapped.cause).toBe(error);
    });
  }

  it("412 and 409 ConditionalRequestConflict on a create-exclusive write → E_ALREADY_EXISTS", () => {
    expect(
      s3ErrorToStorageError(sdkError("PreconditionFailed", 412), { ...context, ifNotExists: true }).code,
    ).toBe("E_ALREADY_EXISTS");
    const conflict = s3ErrorToStorageError(sdkError("ConditionalRequestConflict", 409), {
      ...context,
      ifNotExists: true,
    });
    expect(conflict.code).toBe("E_ALREADY_EXISTS");
    expect(conflict.retryable).toBe(true);
  });

  it("an abort caused by the facade's timeout is the facade's TimeoutError", () => {
    const reason = new TimeoutError("The operation did not finish within 5 ms.");
    const controller = new AbortController();
    controller.abort(reason);
    const mapped = s3ErrorToStorageError(Object.assign(new Error("aborted"), { name: "AbortError" }), {
      ...context,
      signal: controller.signal,
    });
    expect(mapped).toBe(reason);
  });

  it("StorageErrors pass through unchanged", () => {
    const original = new StorageError("E_NOT_FOUND", "x");
    expect(s3ErrorToStorageError(original, context)).toBe(original);
  });

  it("messages name the file and never a presigned URL's signature", () => {
    const leaky = sdkError("AccessDenied", 403, {
      message: "denied for https://h/b/k?X-Amz-Credential=AKIA%2F2024&X-Amz-Signature=deadbeefcafe",
    });
    const mapped = s3ErrorToStorageError(leaky, context);
    expect(mapped.message).toContain('"a.txt"');
    expect(mapped.message).not.toContain("deadbeefcafe");
    expect(mapped.message).not.toContain("AKIA%2F2024");
  });
});
