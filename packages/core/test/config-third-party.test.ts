/**
 * A third-party backend gets what the bundled ones get by filling the same BackendDefinition
 * fields: its query parameters parsed with core's parsers, validation at load() naming the
 * variable, overlap checks, secret variables in messages and stray-variable warnings, a safe
 * describe(). Core has no list of backends to update.
 */
import {
  type BackendDefinition,
  type ConfigWarning,
  createStorages,
  MemoryDriver,
  OptionChecker,
  type StoragesOptions,
  storageVariable,
  urlParam,
} from "@storages/core";
import { describe, expect, it } from "vitest";
import { configError } from "./config-helpers.js";

interface VaultOptions {
  container: string;
  prefix?: string | undefined;
  region?: string | undefined;
  chunkSize?: number | string | undefined;
  token?: string | undefined;
}

const check: OptionChecker = new OptionChecker("Vault storage");

const vault: BackendDefinition<VaultOptions> = {
  name: "vault",
  schemes: ["vault"],
  optionKeys: ["container", "prefix", "region", "chunkSize", "token"],
  urlParams: { region: urlParam.string, chunkSize: urlParam.size },
  fromUrl(url, context) {
    const token = context.env[storageVariable(context.storageName, "TOKEN")];
    return { container: url.hostname, prefix: url.pathname.slice(1), ...(token ? { token } : {}) };
  },
  validate(options) {
    check.keys(options, vault.optionKeys, "{ container }");
    if (!/^[a-z]+$/.test(options.container)) check.fail("container", "must be lower-case letters");
    check.size("chunkSize", options.chunkSize, { min: 1024 });
    if (options.token !== undefined && options.token.length < 20)
      check.fail("token", "is too short for a vault token");
  },
  location: (options) => ({
    kind: "bucket",
    service: "vault",
    namespace: options.region ?? "global",
    bucket: options.container,
    prefix: options.prefix ? `${options.prefix.replace(/\/+$/, "")}/` : "",
  }),
  describe: (options) => ({
    location: `vault://${options.container}/${options.prefix ?? ""}`,
    settings: { region: options.region ?? "global", token: options.token ? "set" : "none" },
  }),
  secretVariables: (name) => [{ name: storageVariable(name, "TOKEN"), option: "token" }],
  create: () => new MemoryDriver(),
};

function registry(env: Record<string, string>, extra: StoragesOptions = {}) {
  const warnings: ConfigWarning[] = [];
  const reg = createStorages({
    env,
    configFile: false,
    mountInfo: "",
    backends: [vault],
    onWarning: (w) => warnings.push(w),
    ...extra,
  });
  return { reg, warnings };
}

describe("a third-party backend", () => {
  it("has its parameters parsed with core's parsers and its options validated at load(), naming the variable", async () => {
    const ok = registry({ STORAGES_DEFAULT: "vault://media/up?region=eu&chunkSize=64KiB" });
    const [d] = await ok.reg.describe();
    expect(d).toMatchObject({
      backend: "vault",
      location: "vault://media/up",
      settings: { region: "eu", token: "none" },
      sources: { region: "STORAGES_DEFAULT (region=)", chunkSize: "STORAGES_DEFAULT (chunkSize=)" },
    });
    const bad = registry({
      STORAGES_DEFAULT: "vault://media?chunkSize=10",
      STORAGES_PRIVATE: "vault://Docs",
      STORAGES_EXPORTS: "vault://exports?regoin=eu",
      STORAGES_REPORTS: "vault://reports",
      STORAGES_REPORTS_TOKEN: "short-token",
    });
    expect((await configError(bad.reg.load())).message).toBe(
      "The storage configuration has 4 problems:\n" +
        "- STORAGES_DEFAULT (chunkSize=) must be at least 1 KiB, not 10 bytes.\n" +
        "- STORAGES_EXPORTS: unknown query parameter `regoin` (did you mean `region`?) (vault takes region, chunkSize; " +
        "every storage takes visibility, overwrite, publicUrl, baseUrl, expiresIn, timeout, readOnly, allowOverlap).\n" +
        "- STORAGES_PRIVATE: container must be lower-case letters.\n" +
        "- STORAGES_REPORTS_TOKEN is too short for a vault token.",
    );
  });

  it("gets the overlap rules from its location()", async () => {
    const { reg } = registry({
      STORAGES_STATICFILES: "vault://site/static",
      STORAGES_DEFAULT: "vault://site/static/uploads",
    });
    expect((await configError(reg.load())).message).toMatch(
      /^STORAGES_DEFAULT and STORAGES_STATICFILES point to nested locations \(vault:\/\/site\/static\/uploads and vault:\/\/site\/static\): publishing static files/,
    );
    const apart = registry({
      STORAGES_STATICFILES: "vault://site/static?region=eu",
      STORAGES_DEFAULT: "vault://site/static?region=us",
    });
    await expect(apart.reg.load()).resolves.toBe(apart.reg);
  });

  it("gets its secret variables named where a secret was pasted, and a warning for one nobody reads", async () => {
    const pasted = registry({ STORAGES_DEFAULT: "vault://media?token=abcdefghijklmnopqrstuvwxyz" });
    const message = (await configError(pasted.reg.load())).message;
    expect(message).toBe(
      "STORAGES_DEFAULT has a secret in its query string (`token`): URLs get logged. Remove it from the URL and set " +
        "its secret variables (STORAGES_DEFAULT_TOKEN) instead.",
    );
    const stray = registry({
      STORAGES_DEFAULT: "vault://media",
      STORAGES_DEFAULT_TOKN: "abcdefghijklmnopqrstuvwxyz",
    });
    await stray.reg.load();
    expect(stray.warnings).toEqual([
      {
        code: "W_UNKNOWN_VARIABLE",
        storage: "default",
        source: "STORAGES_DEFAULT_TOKN",
        message:
          'STORAGES_DEFAULT_TOKN is set, but the vault backend of storage "default" does not read it (did you mean ' +
          "`STORAGES_DEFAULT_TOKEN`?). It reads STORAGES_DEFAULT_TOKEN; STORAGES_DEFAULT_TOKN is ignored.",
      },
    ]);
    // The variables of a storage whose name extends another's belong to that one.
    const nested = registry({
      STORAGES_MEDIA: "vault://media",
      STORAGES_MEDIA_ARCHIVE: "vault://archive",
      STORAGES_MEDIA_ARCHIVE_TOKEN: "abcdefghijklmnopqrstuvwxyz",
    });
    await nested.reg.load();
    expect(nested.warnings).toEqual([]);
  });

  it("without localOptions it cannot stand in for local folders: local mode says so", async () => {
    const { reg } = registry({ STORAGES_MODE: "local" }, { backends: [{ ...vault, schemes: ["file"] }] });
    expect((await configError(reg.load())).message).toMatch(
      /the vault backend registered for file:\/\/ has no local mode \(localOptions\)/,
    );
  });
});
