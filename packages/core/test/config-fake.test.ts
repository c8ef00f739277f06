import { createStorages, ReadOnlyError } from "@storages/core";
import { describe, expect, it } from "vitest";
import { stubPackages } from "./config-helpers.js";

/** The kind of application code the helpers are for. */
async function uploadAvatar(registry: ReturnType<typeof createStorages>, user: string, bytes: string) {
  const media = await registry.get("default");
  const { name } = await media.save(`avatars/${user}.png`, bytes);
  const docs = await registry.get("private");
  await docs.save(`audit/${user}.log`, `avatar ${name}`);
  return name;
}

describe("storages.fake(): every named storage swapped for memory in one call", () => {
  it("needs no environment, and asserts on what the app wrote", async () => {
    const packages = stubPackages([]);
    // A broken production config must not matter to application tests.
    const registry = createStorages({
      env: { STORAGES_DEFAULT: "s3://" },
      importPackage: packages.importPackage,
    });
    const fakes = registry.fake();
    const name = await uploadAvatar(registry, "ada", "PNG");
    expect(name).toBe("avatars/ada.png");
    await fakes.assertExists("default", "avatars/ada.png");
    await fakes.assertContent("default", "avatars/ada.png", "PNG");
    await fakes.assertContent("private", "audit/ada.log", "avatar avatars/ada.png");
    await fakes.assertMissing("default", "avatars/bob.png");
    await fakes.assertCount("default", 1);
    fakes.assertUntouched("staticfiles", "exports");
    expect(fakes.names()).toEqual(["default", "private"]);
    expect(packages.imported).toEqual([]);
    // Collisions behave as in production: a second save gets a new name.
    expect(await uploadAvatar(registry, "ada", "PNG2")).not.toBe("avatars/ada.png");
    await fakes.assertCount("default", 2);
  });

  it("failures name the storage and list what it holds", async () => {
    const registry = createStorages({ env: {} });
    const fakes = registry.fake();
    await (await registry.get("default")).save("a.txt", "x");
    await expect(fakes.assertExists("default", "b.txt")).rejects.toThrow(
      '[storage "default"] Expected "b.txt" to exist in the fake storage; it holds: "a.txt".',
    );
    await expect(fakes.assertContent("default", "a.txt", "y")).rejects.toThrow(
      /^\[storage "default"\] Expected "a.txt" to hold 1 bytes "y", found 1 bytes "x"/,
    );
    await expect(fakes.assertCount("default", 0)).rejects.toThrow(/^\[storage "default"\] Expected 0 files/);
    await expect(fakes.assertMissing("default", "a.txt")).rejects.toThrow(/not to exist/);
    expect(() => fakes.assertUntouched("default")).toThrow(
      'Expected storage "default" to stay empty; it holds a.txt.',
    );
  });

  it("staticfiles stays read-only for the app; the test seeds it through the writer", async () => {
    const registry = createStorages({ env: {} });
    const fakes = registry.fake();
    await fakes.storage("staticfiles").save("app.css", "body{}", { overwrite: true });
    const app = await registry.get("staticfiles");
    expect(await app.readText("app.css")).toBe("body{}");
    await expect(app.save("evil.js", "x")).rejects.toSatisfy(ReadOnlyError.isInstance);
    expect(await registry.getWriter("staticfiles")).toBe(fakes.storage("staticfiles"));
  });

  it("takes per-storage options, can fake only some names, and restore() brings the real ones back", async () => {
    const registry = createStorages({
      env: { STORAGES_EXPORTS: "memory://?visibility=public" },
      configFile: false,
    });
    const fakes = registry.fake(["private"], { storages: { private: { visibility: "private" } } });
    expect((await registry.get("private")).visibility).toBe("private");
    expect((await registry.get("exports")).backend).toBe("memory");
    expect(fakes.files("private")).toEqual([]);
    const faked = await registry.get("private");
    fakes.restore();
    await expect(registry.get("private")).rejects.toThrow(/No storage named "private"/);
    expect(faked.backend).toBe("memory");
  });

  it("refuses invalid names like the real registry", () => {
    const fakes = createStorages({ env: {} }).fake();
    expect(() => fakes.storage("Bad Name")).toThrow(/storage name "Bad Name" is invalid/);
  });
});
