import { ConfigError, openStorageUrl, type StorageError } from "@storages/core";
import { describe, expect, it } from "vitest";
import { stubPackages } from "./config-helpers.js";

describe("openStorageUrl: one storage URL, resolved as the registry resolves STORAGES_<NAME>", () => {
  it("imports the backend by scheme and builds a working storage with the URL's settings", async () => {
    const packages = stubPackages();
    const opened = await openStorageUrl(
      "s3://media/uploads?region=eu-west-1&visibility=public&readOnly=true",
      {
        importPackage: packages.importPackage,
      },
    );
    expect(packages.imported).toEqual(["@storages/s3"]);
    expect(packages.backends["@storages/s3"].created).toEqual([
      { bucket: "media", prefix: "uploads", region: "eu-west-1" },
    ]);
    expect(opened.storage.visibility).toBe("public");
    // The writer: readOnly= is reported for the caller to apply, as getWriter() does.
    expect(opened.readOnly).toBe(true);
    await opened.storage.save("a.txt", "x", { overwrite: true });
    expect(await opened.storage.readText("a.txt")).toBe("x");
    expect(opened.location).toEqual({
      kind: "bucket",
      service: "s3",
      namespace: "s3",
      bucket: "media",
      prefix: "uploads/",
    });
    expect(opened.description.location).toBe("s3://media/uploads/");
  });

  it("memory:// needs no package", async () => {
    const opened = await openStorageUrl("memory://");
    expect(opened.storage.backend).toBe("memory");
    expect(opened.location).toEqual({ kind: "isolated" });
  });

  it("names its source in every message and says what to write instead", async () => {
    const packages = stubPackages(["@storages/fs"]);
    const source = 'the address "x"';
    const refused = async (url: string) => {
      const error = await openStorageUrl(url, { source, importPackage: packages.importPackage }).catch(
        (e: unknown) => e,
      );
      expect(ConfigError.isInstance(error), String(error)).toBe(true);
      return (error as StorageError).message;
    };
    expect(await refused("nope://bucket")).toMatch(
      /^the address "x" uses the scheme "nope:", which no backend/,
    );
    expect(await refused("s3://bucket")).toContain("npm install @storages/s3");
    expect(await refused("file:relative")).toContain("three slashes");
    expect(await refused("file:///srv/media?colour=red")).toContain("unknown query parameter `colour`");
  });

  it("reads no secret variable unless given an environment, and never repeats a secret", async () => {
    const packages = stubPackages();
    const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    process.env.STORAGES_DEFAULT_SECRET_ACCESS_KEY = secret;
    try {
      await openStorageUrl("s3://media", { importPackage: packages.importPackage });
      expect(packages.backends["@storages/s3"].created.at(-1)).toEqual({ bucket: "media", prefix: "" });
    } finally {
      delete process.env.STORAGES_DEFAULT_SECRET_ACCESS_KEY;
    }
    await openStorageUrl("s3://media", {
      storageName: "backup",
      env: { STORAGES_BACKUP_SECRET_ACCESS_KEY: secret },
      importPackage: packages.importPackage,
    });
    expect(packages.backends["@storages/s3"].created.at(-1)).toMatchObject({ secretAccessKey: secret });
    // A driver that echoes its options in an error: the value is cut out of the message.
    const error = await openStorageUrl("s3://media?explode=" + "1", {
      storageName: "backup",
      env: { STORAGES_BACKUP_SECRET_ACCESS_KEY: secret },
      importPackage: async (specifier) => {
        const mod = (await packages.importPackage(specifier)) as { backend: Record<string, unknown> };
        return {
          backend: {
            ...mod.backend,
            create: () => {
              throw new Error(`bad key ${secret}`);
            },
          },
        };
      },
    }).catch((e: unknown) => e);
    expect(ConfigError.isInstance(error)).toBe(true);
    expect((error as Error).message).not.toContain(secret);
  });
});
