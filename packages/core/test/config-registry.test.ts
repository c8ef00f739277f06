import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type ConfigWarning,
  createStorages,
  MemoryDriver,
  ReadOnlyError,
  Storage,
  type StoragesOptions,
} from "@storages/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { configError, stubBackend, stubPackages } from "./config-helpers.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "storages-config-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A registry over stub driver packages, an isolated cwd, no mount table, warnings collected. */
function registry(options: StoragesOptions = {}) {
  const packages = stubPackages();
  const warnings: ConfigWarning[] = [];
  const reg = createStorages({
    cwd: dir,
    env: {},
    mountInfo: "",
    importPackage: packages.importPackage,
    onWarning: (w) => warnings.push(w),
    ...options,
  });
  return { reg, packages, warnings };
}

describe("sources and precedence: code > environment > config file", () => {
  it("reads each storage from its STORAGES_<NAME> variable", async () => {
    const { reg, packages } = registry({
      env: {
        STORAGES_DEFAULT: "s3://media/uploads?region=eu-west-1&visibility=public",
        STORAGES_PRIVATE: "s3://private-docs?visibility=private&expiresIn=600",
        STORAGES_STATICFILES: "gs://static-site/static",
        STORAGES_EXPORTS: "azure://acct/exports/daily",
      },
    });
    expect(await reg.names()).toEqual(["default", "exports", "private", "staticfiles"]);
    const media = await reg.get("default");
    expect(media.visibility).toBe("public");
    const priv = await reg.get("private");
    expect(priv.visibility).toBe("private");
    expect(priv.signedUrlExpiresIn).toBe(600);
    expect(packages.backends["@storages/s3"].created).toEqual([
      { bucket: "media", prefix: "uploads", region: "eu-west-1" },
      { bucket: "private-docs", prefix: "" },
    ]);
  });

  it("code beats the environment, which beats the config file, entry by entry and as a whole", async () => {
    await writeFile(
      join(dir, "storages.config.json"),
      JSON.stringify({
        default: "s3://from-file?region=eu-west-1",
        exports: { url: "s3://file-exports", visibility: "private" },
        reports: "memory://",
      }),
    );
    const { reg } = registry({
      storages: { default: "memory://?visibility=public" },
      env: { STORAGES_DEFAULT: "s3://from-env", STORAGES_EXPORTS: "gs://env-exports" },
    });
    const described = Object.fromEntries((await reg.describe()).map((d) => [d.name, d]));
    expect(described.default).toMatchObject({ backend: "memory", sourceKind: "code" });
    // env replaces the file's entry entirely: its visibility=private does not leak into the env one
    // (the storage is private by its driver's default, set by nobody).
    expect(described.exports).toMatchObject({
      backend: "gcs",
      sourceKind: "env",
      source: "STORAGES_EXPORTS",
    });
    expect(described.exports!.sources.visibility).toBeUndefined();
    expect(described.reports).toMatchObject({
      backend: "memory",
      sourceKind: "file",
      source: "storages.config.json › reports",
    });
  });

  it("loads storages.config.js, .mjs and .ts (default export)", async () => {
    for (const [file, body] of [
      ["storages.config.js", `export default { default: "memory://?visibility=public" };`],
      ["storages.config.mjs", `export default { default: { url: "memory://", visibility: "public" } };`],
      [
        "storages.config.ts",
        `const c: Record<string, string> = { default: "memory://?visibility=public" };\nexport default c;`,
      ],
    ] as const) {
      const sub = await mkdtemp(join(dir, "cfg-"));
      await writeFile(join(sub, file), body);
      const { reg } = registry({ cwd: sub });
      expect((await reg.get("default")).visibility, file).toBe("public");
    }
  });

  it("STORAGES_CONFIG and configFile name the file; configFile: false ignores it", async () => {
    await writeFile(join(dir, "elsewhere.json"), JSON.stringify({ default: "memory://?visibility=public" }));
    await writeFile(
      join(dir, "storages.config.json"),
      JSON.stringify({ default: "memory://?visibility=private" }),
    );
    expect(
      (await registry({ env: { STORAGES_CONFIG: "elsewhere.json" } }).reg.get("default")).visibility,
    ).toBe("public");
    expect((await registry({ configFile: join(dir, "elsewhere.json") }).reg.get("default")).visibility).toBe(
      "public",
    );
    expect((await registry().reg.get("default")).visibility).toBe("private");
    expect(await registry({ configFile: false }).reg.names()).toEqual([]);
  });

  it("refuses two config files, a missing named one, bad JSON and a non-object", async () => {
    await writeFile(join(dir, "storages.config.json"), "{}");
    await writeFile(join(dir, "storages.config.js"), "export default {};");
    expect((await configError(registry().reg.load())).message).toMatch(
      /^Found .*storages\.config\.json and .*storages\.config\.js: keep one storages config file/,
    );
    expect((await configError(registry({ env: { STORAGES_CONFIG: "nope.json" } }).reg.load())).message).toBe(
      `STORAGES_CONFIG names ${join(dir, "nope.json")}, which does not exist: fix the path or unset it.`,
    );
    await writeFile(join(dir, "bad.json"), "{ default: 1 ");
    expect((await configError(registry({ configFile: "bad.json" }).reg.load())).message).toMatch(
      /^bad\.json is not valid JSON: .*\. Fix the file\.$/,
    );
    await writeFile(join(dir, "list.json"), "[]");
    expect((await configError(registry({ configFile: "list.json" }).reg.load())).message).toMatch(
      /^list\.json must hold an object mapping storage names to URLs or entries/,
    );
  });

  it("per-storage secret variables are not storages; an unrelated STORAGES_ variable draws a warning", async () => {
    const { reg, packages, warnings } = registry({
      env: {
        STORAGES_DEFAULT: "s3://media",
        STORAGES_DEFAULT_SECRET_ACCESS_KEY: "s3cr3t-value",
        STORAGES_DEFAULT_ENDPOINT: "http://127.0.0.1:7480",
        STORAGES_DEFUALT_ACCESS_KEY_ID: "AKIA",
        STORAGES_TEST_S3_ENDPOINT: "http://127.0.0.1:7480",
        STORAGES_EMPTY: "",
        OTHER: "s3://not-ours",
      },
    });
    expect(await reg.names()).toEqual(["default"]);
    await reg.get("default");
    expect(packages.backends["@storages/s3"].created[0]).toMatchObject({ secretAccessKey: "s3cr3t-value" });
    expect(warnings).toEqual([
      expect.objectContaining({
        code: "W_UNKNOWN_VARIABLE",
        source: "STORAGES_DEFUALT_ACCESS_KEY_ID",
        message: expect.stringMatching(
          /is set but is neither a storage URL \(scheme:\/\/…\) nor a variable of a configured storage/,
        ),
      }),
      // A variable of a configured storage that its backend does not read is a stray too.
      expect.objectContaining({
        code: "W_UNKNOWN_VARIABLE",
        storage: "default",
        source: "STORAGES_DEFAULT_ENDPOINT",
        message:
          'STORAGES_DEFAULT_ENDPOINT is set, but the s3 backend of storage "default" does not read it. It reads ' +
          "STORAGES_DEFAULT_SECRET_ACCESS_KEY; STORAGES_DEFAULT_ENDPOINT is ignored.",
      }),
    ]);
    // No secret in anything the registry reports.
    expect(JSON.stringify(await reg.describe())).not.toContain("s3cr3t");
  });

  it("secrets of default and staticfiles are recognised even when only local mode defines them", async () => {
    const { reg, warnings } = registry({
      env: { STORAGES_MODE: "local", STORAGES_DEFAULT_SIGNING_SECRET: "x".repeat(48) },
    });
    await reg.load();
    expect(warnings).toEqual([]);
  });

  it("an unknown name suggests the closest configured one and the variable to set", async () => {
    const { reg } = registry({ env: { STORAGES_DEFAULT: "memory://", STORAGES_PRIVATE: "memory://" } });
    expect((await configError(reg.get("privte"))).message).toBe(
      'No storage named "privte" (did you mean `private`?). Set STORAGES_PRIVTE to a storage URL, or define "privte" in ' +
        "storages.config.json or createStorages({ storages }). Configured: default, private.",
    );
  });

  it("code may hand over a ready Storage, used as is", async () => {
    const ready = new Storage(new MemoryDriver(), { visibility: "public" });
    const { reg } = registry({ storages: { default: ready } });
    expect(await reg.get("default")).toBe(ready);
  });

  it("object entries take backend + options, checked against the backend's option keys", async () => {
    const { reg, packages } = registry({
      storages: {
        default: { backend: "s3", options: { bucket: "media", region: "eu-west-1" }, visibility: "public" },
      },
    });
    expect((await reg.get("default")).visibility).toBe("public");
    expect(packages.backends["@storages/s3"].created).toEqual([{ bucket: "media", region: "eu-west-1" }]);
  });
});

describe("get(): lazy, cached, read-only static files", () => {
  it("builds on first get and returns the same instance after, even under concurrency", async () => {
    const { reg, packages } = registry({ env: { STORAGES_DEFAULT: "s3://media" } });
    await reg.load();
    expect(packages.backends["@storages/s3"].created).toHaveLength(0);
    const [a, b] = await Promise.all([reg.get("default"), reg.get("default")]);
    expect(a).toBe(b);
    expect(await reg.get("default")).toBe(a);
    expect(packages.backends["@storages/s3"].created).toHaveLength(1);
    await reg.close();
    expect(await reg.get("default")).not.toBe(a);
  });

  it("staticfiles is read-only for the app; getWriter() returns the writable one", async () => {
    const { reg } = registry({ env: { STORAGES_STATICFILES: "memory://?visibility=public" } });
    const writer = await reg.getWriter("staticfiles");
    await writer.save("app.css", "body{}", { overwrite: true });
    const app = await reg.get("staticfiles");
    expect(await app.readText("app.css")).toBe("body{}");
    await expect(app.save("app.css", "hacked", { overwrite: true })).rejects.toSatisfy(
      ReadOnlyError.isInstance,
    );
    await expect(app.delete("app.css")).rejects.toSatisfy(ReadOnlyError.isInstance);
    expect(await writer.readText("app.css")).toBe("body{}");
  });

  it("readOnly=true makes any storage read-only for the app; readOnly=false opts staticfiles out", async () => {
    const { reg } = registry({
      env: { STORAGES_ARCHIVE: "memory://?readOnly=true", STORAGES_STATICFILES: "memory://?readOnly=false" },
    });
    await expect((await reg.get("archive")).save("a.txt", "x")).rejects.toSatisfy(ReadOnlyError.isInstance);
    await (await reg.get("staticfiles")).save("a.txt", "x");
    expect((await reg.describe()).map((d) => [d.name, d.readOnly])).toEqual([
      ["archive", true],
      ["staticfiles", false],
    ]);
  });

  it("a driver constructor that throws becomes a ConfigError naming the variable", async () => {
    const { reg } = registry({ env: { STORAGES_DEFAULT: "s3://media?explode=1" } });
    expect((await configError(reg.get("default"))).message).toBe(
      "STORAGES_DEFAULT: the s3 driver could not be created: driver constructor blew up",
    );
  });

  it("a failed load is retried on the next call", async () => {
    const env: Record<string, string> = { STORAGES_DEFAULT: "s3://" };
    const { reg } = registry({ env });
    await configError(reg.get("default"));
    env.STORAGES_DEFAULT = "s3://media";
    await expect(reg.get("default")).resolves.toBeInstanceOf(Storage);
  });
});

describe("lazy driver packages", () => {
  it("imports only the packages of the configured schemes", async () => {
    const { reg, packages } = registry({
      env: { STORAGES_DEFAULT: "file:///srv/app-media", STORAGES_CACHE: "memory://" },
    });
    await reg.get("default");
    await reg.get("cache");
    expect(packages.imported).toEqual(["@storages/fs"]);
  });

  it("a missing driver package is a ConfigError naming the package to install", async () => {
    const packages = stubPackages(["@storages/fs"]);
    const reg = createStorages({
      cwd: dir,
      mountInfo: "",
      configFile: false,
      importPackage: packages.importPackage,
      env: { STORAGES_DEFAULT: "file:///srv/app-media", STORAGES_PRIVATE: "s3://docs" },
    });
    expect((await configError(reg.load())).message).toBe(
      "STORAGES_PRIVATE uses s3://, which needs the package @storages/s3: run `npm install @storages/s3`.",
    );
  });

  it("a package that fails for another reason says so", async () => {
    const reg = createStorages({
      cwd: dir,
      configFile: false,
      importPackage: async () => {
        throw new Error(
          "Cannot find package '@aws-sdk/client-s3' imported from /x/@storages/s3/dist/index.js",
        );
      },
      env: { STORAGES_DEFAULT: "s3://docs" },
    });
    expect((await configError(reg.load())).message).toMatch(
      /^STORAGES_DEFAULT uses s3:\/\/, but @storages\/s3 failed to load \(Cannot find package '@aws-sdk\/client-s3'.*\)\. Reinstall it/,
    );
  });

  it("a package without a backend export, or for another scheme, is refused", async () => {
    const base = { cwd: dir, configFile: false as const, env: { STORAGES_DEFAULT: "gs://b" } };
    expect(
      (await configError(createStorages({ ...base, importPackage: async () => ({}) }).load())).message,
    ).toBe(
      "@storages/gcs does not export a `backend` definition: upgrade it to a version matching @storages/core.",
    );
    const s3 = stubPackages().backends["@storages/s3"];
    expect(
      (await configError(createStorages({ ...base, importPackage: async () => ({ backend: s3 }) }).load()))
        .message,
    ).toBe("@storages/gcs's backend does not handle gs:// (it handles s3).");
  });

  it("third-party backends come in through options.backends", async () => {
    const sftp = stubPackages().backends["@storages/s3"];
    const custom = { ...sftp, name: "sftp", schemes: ["sftp"] };
    const { reg, packages } = registry({ backends: [custom], env: { STORAGES_DEFAULT: "sftp://host/dir" } });
    await reg.get("default");
    expect(packages.imported).toEqual([]);
  });
});

describe("validation messages name the variable and the fix", () => {
  const cases: Array<[string, Record<string, string>, string | RegExp]> = [
    [
      "unknown scheme",
      { STORAGES_DEFAULT: "ftp://host/dir" },
      /^STORAGES_DEFAULT uses the scheme "ftp:", which no backend provides\. Use one of azure, file, gs, memory, s3/,
    ],
    [
      "unknown query parameter, with a suggestion",
      { STORAGES_DEFAULT: "s3://media?regoin=eu-west-1" },
      "STORAGES_DEFAULT: unknown query parameter `regoin` (did you mean `region`?) (s3 takes bucket, prefix, region, " +
        "endpoint, forcePathStyle, secretAccessKey, explode; every storage takes visibility, overwrite, publicUrl, " +
        "baseUrl, expiresIn, timeout, readOnly, allowOverlap).",
    ],
    [
      "misspelt storage-level parameter",
      { STORAGES_DEFAULT: "s3://media?visibilty=private" },
      /^STORAGES_DEFAULT: unknown query parameter `visibilty` \(did you mean `visibility`\?\)/,
    ],
    [
      "missing bucket (from the backend)",
      { STORAGES_DEFAULT: "s3://" },
      "STORAGES_DEFAULT names no bucket: write it as s3://bucket/prefix.",
    ],
    [
      "memory with a path",
      { STORAGES_DEFAULT: "memory:///x" },
      /^STORAGES_DEFAULT: memory:\/\/ takes no path/,
    ],
    [
      "bad mode",
      { STORAGES_MODE: "dev" },
      /^STORAGES_MODE must be "local" \(every storage is a folder under STORAGES_LOCAL_ROOT\) or "remote"/,
    ],
    ["secret in a URL", { STORAGES_DEFAULT: "s3://u:p@media" }, /^STORAGES_DEFAULT contains credentials/],
  ];
  for (const [what, env, expected] of cases) {
    it(what, async () => {
      const message = (await configError(registry({ env }).reg.load())).message;
      if (typeof expected === "string") expect(message).toBe(expected);
      else expect(message).toMatch(expected);
    });
  }

  it("entry objects: unknown keys, url and backend together, options with url, bad types", async () => {
    const bad: Array<[unknown, string | RegExp]> = [
      [
        { url: "memory://", visiblity: "public" },
        /unknown key `visiblity` \(did you mean `visibility`\?\)\. Entries take url, backend/,
      ],
      [
        { url: "memory://", backend: "memory" },
        /needs exactly one of `url` \(a storage URL\) or `backend` \(with `options`\), not both\.$/,
      ],
      [
        { visibility: "public" },
        /needs exactly one of `url` \(a storage URL\) or `backend` \(with `options`\)\.$/,
      ],
      [
        { url: "s3://b", options: { region: "x" } },
        /`options` go with `backend`; with `url`, put driver options in the query string\./,
      ],
      [
        { backend: "s3", options: { bucket: "b", regin: "x" } },
        /\.options: unknown option `regin` \(did you mean `region`\?\) \(s3 takes bucket/,
      ],
      [
        { url: "memory://?visibility=public", visibility: "private" },
        /sets visibility both in its URL and as a field: keep one\.$/,
      ],
      [
        { url: "memory://", timeout: -1 },
        /\.timeout must be a number of milliseconds, or a duration such as "30s", "10m" or "1h" \(whole milliseconds, above 0\), not -1\.$/,
      ],
      [{ url: "memory://", local: 5 }, /\.local must be a storage URL \(file:\/\/\/…\) or false\.$/],
      [42, /must be a storage URL string or an object/],
    ];
    for (const [entry, expected] of bad) {
      const message = (await configError(registry({ storages: { default: entry as never } }).reg.load()))
        .message;
      expect(message).toMatch(/^createStorages\(\{ storages: \{ default \} \}\)/);
      expect(message).toMatch(expected);
    }
  });

  it("the remaining entry, file and registration errors", async () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ url: 5 }, /\.url must be a string\.$/],
      [{ backend: 5 }, /\.backend must be a string \("fs", "s3"…\)\.$/],
      [{ backend: "s3", options: [] }, /\.options must be an object\.$/],
      [
        { url: "memory://", allowOverlap: true },
        /allowOverlap is refused for staticfiles: static and media must never share a location\.$/,
      ],
    ];
    for (const [entry, expected] of bad) {
      const message = (await configError(registry({ storages: { staticfiles: entry as never } }).reg.load()))
        .message;
      expect(message).toMatch(expected);
    }
    await writeFile(join(dir, "storages.config.json"), JSON.stringify({ default: { url: "memory://" } }));
    // A Storage instance can only come from code (a JSON file cannot hold one; a .js file could).
    await writeFile(
      join(dir, "instance.mjs"),
      `import { Storage, MemoryDriver } from ${JSON.stringify(new URL("../src/index.ts", import.meta.url).href)};\n` +
        "export default { default: new Storage(new MemoryDriver()) };",
    );
    await writeFile(join(dir, "storages.yaml"), "default: memory://");
    await writeFile(join(dir, "broken.mjs"), "export default {");
    expect((await configError(registry({ configFile: "storages.yaml" }).reg.load())).message).toBe(
      "storages.yaml: config files must be .json, .js, .mjs or .ts.",
    );
    expect((await configError(registry({ configFile: "broken.mjs" }).reg.load())).message).toMatch(
      /^broken\.mjs failed to load: .*\. Fix the file\.$/,
    );
    expect((await configError(registry({ configFile: "instance.mjs" }).reg.load())).message).toBe(
      "instance.mjs › default: only code can hand over a Storage instance.",
    );
    const { registerBackend } = await import("@storages/core");
    expect(() => registerBackend({} as never)).toThrow(/^registerBackend\(\) needs a BackendDefinition/);
    expect(() => createStorages({ env: {} }).fake().restore()).not.toThrow();
    const unfaked = createStorages({ env: {} });
    expect(() => unfaked.fakeStorage("default")).toThrow(
      "This registry is not faked: call storages.fake() first.",
    );
  });

  it("invalid storage names", async () => {
    expect((await configError(registry({ storages: { Media: "memory://" } }).reg.load())).message).toMatch(
      /storage name "Media" is invalid: use lower-case letters, digits and underscores/,
    );
    expect(
      (await configError(registry({ storages: { media_local: "memory://" } }).reg.load())).message,
    ).toMatch(/storage names may not end in "_local"/);
  });

  it("every problem is reported at once", async () => {
    const error = await configError(
      registry({ env: { STORAGES_A: "s3://", STORAGES_B: "ftp://x", STORAGES_C: "memory://" } }).reg.load(),
    );
    expect(error.message).toMatch(
      /^The storage configuration has 2 problems:\n- STORAGES_A names no bucket.*\n- STORAGES_B uses the scheme "ftp:"/,
    );
  });
});

describe("the local/remote switch", () => {
  it("STORAGES_MODE=local turns every storage into a folder under STORAGES_LOCAL_ROOT, keeping its role", async () => {
    const { reg, packages } = registry({
      env: {
        STORAGES_MODE: "local",
        STORAGES_LOCAL_ROOT: "var/storage",
        STORAGES_DEFAULT: "s3://media?visibility=public&publicUrl=https://cdn.example.com/",
        STORAGES_PRIVATE: "s3://docs?visibility=private&expiresIn=600",
      },
    });
    expect(await reg.mode()).toBe("local");
    expect(await reg.names()).toEqual(["default", "private", "staticfiles"]);
    const media = await reg.get("default");
    expect(media.visibility).toBe("public");
    // A CDN in front of the bucket does not serve the local folder: the app does, under /storages/<name>/.
    expect(media.publicBaseUrl).toBe("/storages/default/");
    const priv = await reg.get("private");
    expect(priv.visibility).toBe("private");
    expect(priv.signedUrlExpiresIn).toBe(600);
    await expect((await reg.get("staticfiles")).save("x.css", "")).rejects.toSatisfy(
      ReadOnlyError.isInstance,
    );
    // No cloud package is even imported.
    expect(packages.imported).toEqual(["@storages/fs"]);
    expect(packages.backends["@storages/fs"].created.map((o) => o.signingBaseUrl).sort()).toEqual([
      "/storages/default/",
      "/storages/private/",
      "/storages/staticfiles/",
    ]);
    expect(packages.backends["@storages/fs"].created.map((o) => o.root).sort()).toEqual([
      join(dir, "var/storage/default"),
      join(dir, "var/storage/private"),
      join(dir, "var/storage/staticfiles"),
    ]);
  });

  it("STORAGES_LOCAL_BASE_URL moves the local URLs; it must be a path", async () => {
    const { reg } = registry({
      env: {
        STORAGES_MODE: "local",
        STORAGES_LOCAL_BASE_URL: "/files",
        STORAGES_DEFAULT: "s3://m?visibility=public",
      },
    });
    expect((await reg.get("default")).publicBaseUrl).toBe("/files/default/");
    const bad = registry({
      env: { STORAGES_MODE: "local", STORAGES_LOCAL_BASE_URL: "https://cdn.example.com/" },
    });
    expect((await configError(bad.reg.load())).message).toBe(
      "STORAGES_LOCAL_BASE_URL must be a URL path starting with / (e.g. /storages/): local-mode files are served by the app itself.",
    );
  });

  it("STORAGES_<NAME>_LOCAL overrides one storage; its own parameters win", async () => {
    const { reg, packages } = registry({
      env: {
        STORAGES_MODE: "local",
        STORAGES_DEFAULT: "s3://media?visibility=private",
        STORAGES_DEFAULT_LOCAL: "file:///srv/dev-media?visibility=public&baseUrl=/media/",
        STORAGES_SCRATCH_LOCAL: "memory://",
      },
    });
    const media = await reg.get("default");
    expect(media.visibility).toBe("public");
    expect(media.publicBaseUrl).toBe("/media/");
    expect(packages.backends["@storages/fs"].created).toContainEqual({ root: "/srv/dev-media" });
    expect((await reg.get("scratch")).backend).toBe("memory");
    const d = (await reg.describe()).find((x) => x.name === "default")!;
    expect(d).toMatchObject({ source: "STORAGES_DEFAULT_LOCAL", sourceKind: "local" });
  });

  it("remote mode (the default) ignores _LOCAL overrides and uses the configured backends", async () => {
    const { reg } = registry({
      env: { STORAGES_DEFAULT: "s3://media", STORAGES_DEFAULT_LOCAL: "memory://" },
    });
    expect(await reg.mode()).toBe("remote");
    expect((await reg.get("default")).backend).toBe("memory"); // the s3 stub builds memory drivers…
    expect((await reg.describe())[0]).toMatchObject({ backend: "s3", source: "STORAGES_DEFAULT" });
  });

  it("entries may set local: false (kept in local mode) or their own local URL; code mode beats the variable", async () => {
    const { reg } = registry({
      mode: "local",
      env: { STORAGES_MODE: "remote" },
      storages: {
        default: { url: "s3://media", local: "memory://?visibility=public" },
        cache: { url: "memory://", local: false },
      },
    });
    expect(await reg.mode()).toBe("local");
    const described = Object.fromEntries((await reg.describe()).map((d) => [d.name, d]));
    expect(described.default).toMatchObject({ backend: "memory", visibility: "public", sourceKind: "local" });
    expect(described.cache).toMatchObject({ backend: "memory", sourceKind: "code" });
    expect(described.staticfiles).toMatchObject({ backend: "fs", sourceKind: "local" });
  });
});

describe("visibility follows a configured public base URL", () => {
  it("makes a storage with publicUrl/baseUrl public unless visibility=private is explicit", async () => {
    const { reg } = registry({
      env: {
        STORAGES_DEFAULT: "memory://?baseUrl=/media/",
        STORAGES_PRIVATE: "memory://?publicUrl=https://cdn.example.com/p/&visibility=private",
      },
    });
    const media = await reg.get("default");
    expect(media.visibility).toBe("public");
    expect(await media.url("a b.jpg")).toBe("/media/a%20b.jpg");
    expect((await reg.get("private")).visibility).toBe("private");
  });
});

describe("one visibility rule in local mode too", () => {
  it("a storage public through its base URL alone stays public in local mode (served under /storages/<name>/)", async () => {
    const { reg } = registry({
      env: {
        STORAGES_MODE: "local",
        STORAGES_DEFAULT: "s3://media?publicUrl=https://cdn.example.com/media/",
        STORAGES_STATICFILES: "s3://static?baseUrl=https://cdn.example.com/static/",
        STORAGES_PRIVATE: "s3://docs?publicUrl=https://cdn.example.com/docs/&visibility=private",
      },
    });
    const media = await reg.get("default");
    expect(media.visibility).toBe("public");
    expect(media.publicBaseUrl).toBe("/storages/default/");
    expect((await reg.get("staticfiles")).visibility).toBe("public");
    // An explicit visibility always wins.
    const priv = await reg.get("private");
    expect(priv.visibility).toBe("private");
    expect(priv.publicBaseUrl).toBeUndefined();
    const described = Object.fromEntries((await reg.describe()).map((d) => [d.name, d]));
    expect(described.default!.sources).toMatchObject({
      visibility: "STORAGES_DEFAULT (publicUrl=) (a storage with a public base URL is public)",
      publicUrl: "STORAGES_LOCAL_BASE_URL (default /storages/) (local mode)",
    });
  });

  it("the same for entries: a publicUrl field, a driver's visibility option, a local folder's own baseUrl", async () => {
    const { reg } = registry({
      mode: "local",
      storages: {
        default: { url: "s3://media", publicUrl: "https://cdn.example.com/m/" },
        exports: { backend: "s3", options: { bucket: "exports", visibility: "public" } },
        assets: { backend: "fs", options: { root: "/srv/assets", baseUrl: "/assets/" } },
        docs: { backend: "s3", options: { bucket: "docs" } },
      },
    });
    for (const name of ["default", "exports", "assets"]) {
      expect((await reg.get(name)).visibility, name).toBe("public");
      expect((await reg.get(name)).publicBaseUrl, name).toBe(`/storages/${name}/`);
    }
    expect((await reg.get("docs")).visibility).toBe("private");
  });
});

describe("visibility reaches drivers that keep it in the service", () => {
  it("passes the URL's visibility to a driver listing it among its options, and only there", async () => {
    const withVisibility = stubBackend("s3", "s3", ["bucket", "prefix", "visibility"]);
    const without = stubBackend("gcs", "gs", ["bucket", "prefix"]);
    const { reg } = registry({
      env: {
        STORAGES_DEFAULT: "s3://media-bucket/up?visibility=public",
        STORAGES_EXPORTS: "gs://export-bucket/x?visibility=private",
      },
      importPackage: async (specifier: string) =>
        ({ "@storages/s3": { backend: withVisibility }, "@storages/gcs": { backend: without } })[specifier],
    });
    expect((await reg.get("default")).visibility).toBe("public");
    expect((await reg.get("exports")).visibility).toBe("private");
    expect(withVisibility.created.at(-1)).toMatchObject({ bucket: "media-bucket", visibility: "public" });
    expect(without.created.at(-1)).not.toHaveProperty("visibility");
  });
});
