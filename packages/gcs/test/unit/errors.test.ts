/**
 * SDK failures become typed StorageErrors with stable codes, hints, and no secrets.
 */
import { describe, expect, it } from "vitest";
import { toStorageError } from "../../src/index.js";

const where = { bucket: "media-bkt", object: "up/a.txt" };

function apiError(code: number, message: string): Error {
  return Object.assign(new Error(message), { code });
}

describe("toStorageError", () => {
  it("a key from Application Default Credentials that does not parse: E_CONFIG naming the credentials, no key text", () => {
    const cause = new Error("error:1E08010C:DECODER routines::unsupported");
    const error = toStorageError(cause, where);
    expect(error.code).toBe("E_CONFIG");
    expect(error.message).toContain("GOOGLE_APPLICATION_CREDENTIALS");
    expect(error.message).toMatch(/credentials/);
  });

  it.each([
    [404, {}, "E_NOT_FOUND", false],
    [412, { createExclusive: true }, "E_ALREADY_EXISTS", false],
    [412, {}, "E_PRECONDITION_FAILED", false],
    [416, {}, "E_RANGE_NOT_SATISFIABLE", false],
    [401, {}, "E_PERMISSION_DENIED", false],
    [403, {}, "E_PERMISSION_DENIED", false],
    [400, {}, "E_INVALID_ARGUMENT", false],
    [408, {}, "E_BACKEND", true],
    [429, {}, "E_BACKEND", true],
    [500, {}, "E_BACKEND", true],
    [503, {}, "E_BACKEND", true],
  ] as const)("HTTP %i %j → %s (retryable %s)", (status, extra, code, retryable) => {
    const cause = apiError(status, "boom");
    const error = toStorageError(cause, { ...where, ...extra });
    expect(error.code).toBe(code);
    expect(error.retryable).toBe(retryable);
    expect(error.cause).toBe(cause);
  });

  it("a missing bucket is a configuration error, not a missing file", () => {
    const error = toStorageError(apiError(404, "The specified bucket does not exist."), where);
    expect(error.code).toBe("E_CONFIG");
    expect(error.message).toMatch(/Bucket media-bkt does not exist/);
  });

  it("reads the status from GaxiosError-like shapes (status, response.status) too", () => {
    expect(toStorageError(Object.assign(new Error("x"), { status: 404 }), where).code).toBe("E_NOT_FOUND");
    expect(
      toStorageError(Object.assign(new Error("x"), { response: { status: 412 } }), {
        ...where,
        createExclusive: true,
      }).code,
    ).toBe("E_ALREADY_EXISTS");
    expect(toStorageError(Object.assign(new Error("x"), { code: "503" }), where)).toMatchObject({
      code: "E_BACKEND",
      retryable: true,
    });
  });

  it("network failures are retryable; an abort is E_ABORTED", () => {
    for (const code of ["ECONNRESET", "ECONNREFUSED", "ETIMEDOUT", "EAI_AGAIN"]) {
      expect(toStorageError(Object.assign(new Error(code), { code }), where)).toMatchObject({
        code: "E_BACKEND",
        retryable: true,
      });
    }
    const aborted = Object.assign(new Error("aborted"), { name: "AbortError" });
    expect(toStorageError(aborted, where).code).toBe("E_ABORTED");
    const controller = new AbortController();
    controller.abort();
    expect(toStorageError(new Error("socket hang up"), { ...where, signal: controller.signal }).code).toBe(
      "E_ABORTED",
    );
  });

  it("403 says which bucket and which role; uniform bucket-level access says to set uniformAccess", () => {
    const denied = toStorageError(apiError(403, "caller does not have storage.objects.create access"), where);
    expect(denied.message).toMatch(/gs:\/\/media-bkt\/up\/a\.txt/);
    expect(denied.message).toMatch(/roles\/storage\.objectUser/);
    const ubla = toStorageError(
      apiError(400, "Cannot insert legacy ACL for an object when uniform bucket-level access is enabled."),
      where,
    );
    expect(ubla.code).toBe("E_CONFIG");
    expect(ubla.message).toMatch(/uniformAccess: true/);
  });

  it("signing without a service-account identity is a config error; a refused signBlob names the role to grant", () => {
    const noEmail = Object.assign(new Error("Cannot sign data without `client_email`."), {
      name: "SigningError",
    });
    expect(toStorageError(noEmail, where)).toMatchObject({ code: "E_CONFIG" });
    const refused = Object.assign(
      new Error("Permission 'iam.serviceAccounts.signBlob' denied on resource (or it may not exist)."),
      { name: "SigningError" },
    );
    const error = toStorageError(refused, where);
    expect(error.code).toBe("E_PERMISSION_DENIED");
    expect(error.message).toMatch(/roles\/iam\.serviceAccountTokenCreator/);
    expect(error.message).toMatch(/iamcredentials\.googleapis\.com/);
  });

  it("CRC32C mismatches are retryable integrity failures", () => {
    const mismatch = Object.assign(new Error("The uploaded data did not match the data from the server."), {
      code: "FILE_NO_UPLOAD",
    });
    expect(toStorageError(mismatch, where)).toMatchObject({ code: "E_BACKEND", retryable: true });
  });

  it("never carries a signature or a private key in its message", () => {
    const leaky = apiError(
      403,
      "denied https://storage.googleapis.com/b/o?X-Goog-Signature=abcdef0123&X-Goog-Credential=x%40y -----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----",
    );
    const error = toStorageError(leaky, where);
    expect(error.message).not.toMatch(/abcdef0123|MIIE|PRIVATE KEY/);
  });
});
