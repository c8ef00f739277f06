/**
 * Lazy loading, observed in the real module loader (not a stub): a resolve hook records every
 * module Node resolves in this process (each test file runs in its own process). An app whose
 * storages are all file:// must never pull in a cloud SDK; the positive control proves the hook
 * does see one when a gs:// storage is used.
 */

import { mkdtemp, rm } from "node:fs/promises";
import { registerHooks } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const resolved: string[] = [];
const hooks = registerHooks({
  resolve(specifier, context, nextResolve) {
    const result = nextResolve(specifier, context);
    resolved.push(result.url);
    return result;
  },
});

const CLOUD_SDK = /node_modules\/(@aws-sdk|@smithy|@google-cloud|@azure|google-auth-library|gaxios)\//;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "storages-lazy-"));
});
afterAll(async () => {
  hooks.deregister();
  await rm(dir, { recursive: true, force: true });
});

describe("lazy driver loading (real module loader)", () => {
  it("importing the registry and using file:// storages loads no cloud SDK", async () => {
    const { createStorages } = await import("@storages/core");
    const registry = createStorages({
      cwd: dir,
      configFile: false,
      mountInfo: "",
      onWarning: () => {},
      env: {
        STORAGES_DEFAULT: `file://${dir}/media`,
        STORAGES_STATICFILES: `file://${dir}/static`,
        // A remote storage configured for production does not load its SDK in local mode.
        STORAGES_PRIVATE: "gs://private-docs/docs",
        STORAGES_MODE: "local",
      },
    });
    const media = await registry.get("default");
    expect(media.backend).toBe("fs");
    const { name } = await media.save("hello.txt", "hi");
    expect(await media.readText(name)).toBe("hi");
    expect((await registry.get("private")).backend).toBe("fs");
    await registry.close();

    expect(resolved.length).toBeGreaterThan(0);
    expect(resolved.filter((url) => CLOUD_SDK.test(url))).toEqual([]);
  });

  it("positive control: a gs:// storage does load @google-cloud/storage, and the hook sees it", async () => {
    const { createStorages } = await import("@storages/core");
    const registry = createStorages({
      cwd: dir,
      configFile: false,
      mountInfo: "",
      env: { STORAGES_DEFAULT: "gs://some-bucket/media?endpoint=http://127.0.0.1:9&projectId=test" },
    });
    expect((await registry.get("default")).backend).toBe("gcs");
    await registry.close();
    expect(resolved.some((url) => /node_modules\/@google-cloud\/storage\//.test(url))).toBe(true);
  });
});
