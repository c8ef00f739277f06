/**
 * url and sign-upload in process: core decides what a storage cannot sign, and the CLI turns its
 * E_UNSUPPORTED into the option or setting to change (exit 2), with the driver never asked. The
 * fs cases are proven through the binary in cli.test.ts; these are the backends and refusals a
 * local folder cannot show.
 */
import {
  type Capabilities,
  type Driver,
  type DriverSignedUploadOptions,
  MemoryDriver,
  type SignedUploadMethod,
  Storage,
  UnsupportedError,
} from "@storages/core";
import { describe, expect, it } from "vitest";
import type { Location } from "../src/address.js";
import { EXIT, exitCodeFor } from "../src/errors.js";
import { fileUrl, signUpload } from "../src/ops/urls.js";

/** A memory driver that says it signs what `capabilities` says, and counts what it is asked. */
function signingDriver(capabilities: Partial<Capabilities>, extra: Partial<Driver> = {}) {
  const asked: string[] = [];
  const driver: Driver = Object.assign(new MemoryDriver(), {
    backend: "s3",
    capabilities: { ...new MemoryDriver().capabilities, ...capabilities },
    signedUrl: async (key: string) => {
      asked.push(`signedUrl ${key}`);
      return `https://signed.invalid/${key}`;
    },
    signedUpload: async (key: string, options: DriverSignedUploadOptions) => {
      asked.push(`signedUpload ${key} ${options.method}`);
      const url = `https://signed.invalid/${key}`;
      return { method: "PUT" as const, url, headers: {}, fields: {}, expiresAt: new Date() };
    },
    ...extra,
  });
  return { driver, asked };
}

function at(storage: Storage, storageName?: string): Location {
  const text = storageName === undefined ? "s3://bucket/a.txt" : `${storageName}:a.txt`;
  return {
    kind: storageName === undefined ? "url" : "named",
    text,
    storage,
    path: "a.txt",
    directory: false,
    basename: "a.txt",
    storageName,
    display: (name) => name,
    close: async () => {},
  };
}

function uploads(methods: SignedUploadMethod[], limited: SignedUploadMethod[]) {
  const { driver, asked } = signingDriver({ signedUpload: methods, signedUploadMaxBytes: limited });
  return { location: at(new Storage(driver, { overwrite: true }), "media"), asked };
}

describe("sign-upload: core's refusals as the option to change", () => {
  it("a method the storage does not sign, or --max-bytes it cannot enforce (with that method): exit 2, naming what to give", async () => {
    const cases: Array<[SignedUploadMethod[], SignedUploadMethod[], object, string]> = [
      [
        ["put"],
        ["put"],
        { method: "post" },
        '--method post: the s3 storage "media" signs PUT uploads only: give --method put',
      ],
      [["put"], [], { maxBytes: 10 }, '--max-bytes: the s3 storage "media" cannot enforce a size limit'],
      [
        ["put", "post"],
        ["post"],
        { maxBytes: 10, method: "put" },
        '--max-bytes: the s3 storage "media" enforces it on POST uploads only: give --method post',
      ],
    ];
    for (const [methods, limited, options, message] of cases) {
      const { location, asked } = uploads(methods, limited);
      const refused = await signUpload(location, options).catch((error: unknown) => error);
      expect(refused, message).toMatchObject({ code: "E_USAGE", message: expect.stringContaining(message) });
      expect(exitCodeFor(refused, false)).toBe(EXIT.usage);
      // Core's error is kept for --verbose.
      expect((refused as Error).cause).toSatisfy(UnsupportedError.isInstance);
      expect(asked).toEqual([]);
    }
  });

  it("what core signs is signed: POST chosen for --max-bytes where only POST enforces it", async () => {
    const { location, asked } = uploads(["put", "post"], ["post"]);
    await signUpload(location, { maxBytes: 10 });
    expect(asked).toEqual(["signedUpload a.txt post"]);
  });

  it("a storage with no signed uploads: E_CONFIG for a named one, E_USAGE for an address (exit 2)", async () => {
    const { driver, asked } = signingDriver({ signedUpload: [], signedUploadMaxBytes: [] });
    const storage = new Storage(driver, { overwrite: true });
    await expect(signUpload(at(storage, "media"))).rejects.toMatchObject({
      code: "E_CONFIG",
      operation: "signedUpload",
      backend: "s3",
      message: expect.stringContaining('The s3 storage "media" cannot sign uploads as it is configured'),
    });
    await expect(signUpload(at(storage))).rejects.toMatchObject({
      code: "E_USAGE",
      message: expect.stringContaining("Use a named storage that can"),
    });
    expect(asked).toEqual([]);
  });
});

describe("url: core's refusal to sign as what to configure", () => {
  it("a storage that cannot sign URLs is E_CONFIG, and its driver is not asked", async () => {
    const { driver, asked } = signingDriver({ signedUrl: false });
    const refused = await fileUrl(at(new Storage(driver), "media"), { kind: "signed" }).catch(
      (e: unknown) => e,
    );
    expect(refused).toMatchObject({ code: "E_CONFIG", operation: "signedUrl", path: "a.txt" });
    expect((refused as Error).message).toContain(
      'The s3 storage "media" cannot sign URLs as it is configured',
    );
    expect(asked).toEqual([]);
  });

  it("a driver's own refusal, where the storage says it signs, keeps the driver's message", async () => {
    const { driver } = signingDriver(
      { signedUrl: true },
      {
        signedUrl: async () => {
          throw new UnsupportedError(
            "This storage authenticates with a SAS token: configure an account key.",
          );
        },
      },
    );
    await expect(fileUrl(at(new Storage(driver), "media"), { kind: "signed" })).rejects.toMatchObject({
      code: "E_UNSUPPORTED",
      message: expect.stringContaining("configure an account key"),
    });
  });
});
