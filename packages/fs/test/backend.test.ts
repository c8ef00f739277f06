import { join } from "node:path";
import { inspectStorageUrl, OptionError, StorageError } from "@storages/core";
import { afterAll, describe, expect, it } from "vitest";
import { backend, FsDriver, fsStorage } from "../src/index.js";
import { SIGNING_KEY, tempDir } from "./helpers.js";

const temp = await tempDir();
afterAll(() => temp.cleanup());

const inspect = (url: string, env: Record<string, string> = {}) =>
  inspectStorageUrl(backend, url, { storageName: "media", env });

async function configError(action: () => unknown): Promise<string> {
  try {
    await action();
  } catch (error) {
    expect(StorageError.hasCode(error, "E_CONFIG"), String(error)).toBe(true);
    return (error as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("backend (file:// URLs)", () => {
  it("declares its name, scheme, option keys and URL parameters", () => {
    expect(backend.name).toBe("fs");
    expect(backend.schemes).toEqual(["file"]);
    expect(backend.optionKeys).toEqual(
      expect.arrayContaining(["root", "baseUrl", "signing", "fileMode", "directoryMode"]),
    );
    expect(Object.keys(backend.urlParams ?? {}).sort()).toEqual([
      "directoryMode",
      "durability",
      "fileMode",
      "inlineActiveContent",
      "links",
      "records",
      "signingBaseUrl",
    ]);
  });

  it("parses the root (percent-decoded) and octal modes", async () => {
    const { options, sources } = await inspect(
      "file:///var/lib/my%20app/media/?fileMode=640&directoryMode=0o750",
    );
    expect(options).toEqual({ root: "/var/lib/my app/media", fileMode: 0o640, directoryMode: 0o750 });
    expect(sources).toMatchObject({ root: "STORAGES_MEDIA", fileMode: "STORAGES_MEDIA (fileMode=)" });
    expect((await inspect("file://localhost/srv/media")).options).toEqual({ root: "/srv/media" });
  });

  it("reads the signing secret from STORAGES_<NAME>_SIGNING_SECRET, never from the URL", async () => {
    expect(backend.secretVariables?.("media")).toEqual([
      { name: "STORAGES_MEDIA_SIGNING_SECRET", option: "signing" },
    ]);
    const { options, sources, secrets, description } = await inspect(
      "file:///srv/private?signingBaseUrl=/private/",
      { STORAGES_MEDIA_SIGNING_SECRET: SIGNING_KEY },
    );
    expect(options).toEqual({
      root: "/srv/private",
      signingBaseUrl: "/private/",
      signing: { key: SIGNING_KEY },
    });
    expect(sources.signing).toBe("STORAGES_MEDIA_SIGNING_SECRET");
    expect(secrets).toEqual(["STORAGES_MEDIA_SIGNING_SECRET"]);
    expect(description.settings).toMatchObject({ signedUrls: true, signingBaseUrl: "/private/" });
    const driver = backend.create({ ...options, root: join(temp.path, "p") });
    expect(driver.capabilities.signedUrl).toBe(true);
    expect(JSON.stringify(driver)).not.toContain(SIGNING_KEY);
    expect(JSON.stringify(description)).not.toContain(SIGNING_KEY);
  });

  it("says what is missing, naming the variable and the fix", async () => {
    expect(
      await configError(() => inspect("file:///srv/p", { STORAGES_MEDIA_SIGNING_SECRET: "x".repeat(40) })),
    ).toMatch(/signingBaseUrl/);
    expect(await configError(() => inspect("file:///srv/p?signingBaseUrl=/p/"))).toMatch(
      /STORAGES_MEDIA_SIGNING_SECRET/,
    );
    expect(await configError(() => inspect("file:///srv/p?fileMod=644"))).toMatch(
      /unknown query parameter `fileMod` \(did you mean `fileMode`\?\)/,
    );
    expect(await configError(() => inspect("file:///srv/p?fileMode=rw-r--r--"))).toBe(
      "STORAGES_MEDIA (fileMode=) must be an octal permission such as 644 or 0o644.",
    );
    expect(await configError(() => inspect("file://server/share"))).toMatch(
      /not a host \("server"\).*file:\/\/\//,
    );
  });

  it("a short signing secret fails at load time, naming its variable, without echoing it", async () => {
    const message = await configError(() =>
      inspect("file:///srv/p?signingBaseUrl=/p/", { STORAGES_MEDIA_SIGNING_SECRET: "tooshort" }),
    );
    expect(message).toBe(
      "STORAGES_MEDIA_SIGNING_SECRET is 8 bytes long; signed URLs need at least 32. Generate one with: openssl rand -base64 48.",
    );
    expect(await configError(() => inspect("file:///srv/p?signingBaseUrl=//x"))).toBe(
      "STORAGES_MEDIA sets signingBaseUrl but STORAGES_MEDIA_SIGNING_SECRET is not set: put a secret of at least 32 bytes there (openssl rand -base64 48).",
    );
    expect(
      await configError(() =>
        inspect("file:///srv/p?signingBaseUrl=ftp://x/", { STORAGES_MEDIA_SIGNING_SECRET: SIGNING_KEY }),
      ),
    ).toBe(
      'STORAGES_MEDIA (signingBaseUrl=) must be an http(s) URL without a query string, e.g. "/media/" or "https://cdn.example.com/media/".',
    );
  });

  it("location and description: the resolved directory, the driver's own base URL, no secret", () => {
    const options = { root: "/srv/media/", baseUrl: "/media", signing: { key: SIGNING_KEY } };
    expect(backend.location?.(options)).toEqual({ kind: "dir", path: "/srv/media" });
    expect(backend.describe?.(options)).toEqual({
      location: "/srv/media",
      publicUrl: "/media/",
      settings: {
        fileMode: "0o644",
        directoryMode: "0o755",
        signedUrls: true,
        signingBaseUrl: "/media/",
        durability: "full",
        inlineActiveContent: false,
        records: true,
        links: "skip",
      },
    });
  });

  it("durability=batch from the URL; anything else is refused naming the parameter", async () => {
    expect((await inspect("file:///srv/static?durability=batch")).options).toEqual({
      root: "/srv/static",
      durability: "batch",
    });
    expect(backend.describe?.({ root: "/srv/static", durability: "batch" }).settings).toMatchObject({
      durability: "batch",
    });
    const message = await configError(() => inspect("file:///srv/static?durability=none"));
    expect(message).toMatch(/durability/);
    expect(message).toMatch(/"full"|full, batch|"batch"/);
  });

  it("inlineActiveContent=true from the URL; off unless asked", async () => {
    expect((await inspect("file:///srv/static?inlineActiveContent=true")).options).toEqual({
      root: "/srv/static",
      inlineActiveContent: true,
    });
    expect((backend.create({ root: "/srv/static" }) as FsDriver).inlineActiveContent).toBe(false);
    expect(
      (backend.create({ root: "/srv/static", inlineActiveContent: true }) as FsDriver).inlineActiveContent,
    ).toBe(true);
    expect(await configError(() => inspect("file:///srv/static?inlineActiveContent=maybe"))).toMatch(
      /inlineActiveContent/,
    );
  });

  it("links=refuse from the URL; skip unless asked; anything else is refused naming the parameter", async () => {
    expect((await inspect("file:///srv/media?links=refuse")).options).toEqual({
      root: "/srv/media",
      links: "refuse",
    });
    expect((backend.create({ root: "/srv/media" }) as FsDriver).links).toBe("skip");
    expect((backend.create({ root: "/srv/media", links: "refuse" }) as FsDriver).links).toBe("refuse");
    expect(backend.describe?.({ root: "/srv/media", links: "refuse" }).settings).toMatchObject({
      links: "refuse",
    });
    expect(await configError(() => inspect("file:///srv/media?links=follow"))).toMatch(/links/);
  });

  it("local mode: a folder signed under its base URL, with the configured secret or one per process", () => {
    const ctx = { storageName: "media", directory: "/app/.storages/media", baseUrl: "/storages/media/" };
    const configured = backend.localOptions!({ ...ctx, env: { STORAGES_MEDIA_SIGNING_SECRET: SIGNING_KEY } });
    expect(configured).toEqual({
      root: "/app/.storages/media",
      signingBaseUrl: "/storages/media/",
      signing: { key: SIGNING_KEY },
    });
    const generated = backend.localOptions!({ ...ctx, env: {} });
    expect(String(generated.signing?.key).length).toBeGreaterThanOrEqual(32);
    expect(backend.localOptions!({ ...ctx, env: {} }).signing).toEqual(generated.signing);
  });

  it("create() builds a working driver; fsStorage() splits driver and storage options", async () => {
    const driver = backend.create({ root: join(temp.path, "c"), baseUrl: "/c/" });
    expect(driver).toBeInstanceOf(FsDriver);
    const storage = fsStorage({
      root: join(temp.path, "s"),
      baseUrl: "/s/",
      overwrite: true,
      signedUrlExpiresIn: 60,
    });
    expect(storage.visibility).toBe("public");
    expect(storage.overwrite).toBe(true);
    await storage.save("x.txt", "x");
    await storage.save("x.txt", "y");
    expect(await storage.readText("x.txt")).toBe("y");
    expect(storage.publicUrl("a b.txt")).toBe("/s/a%20b.txt");
  });
});

describe("fsStorage(): one rule for visibility, no silently ignored option", () => {
  it("a public base URL makes it public, whether baseUrl (the driver's) or publicUrl (the storage's)", () => {
    expect(fsStorage({ root: temp.path, publicUrl: "https://cdn.example.com/m/" }).visibility).toBe("public");
    expect(fsStorage({ root: temp.path, baseUrl: "/m/" }).visibility).toBe("public");
    expect(fsStorage({ root: temp.path }).visibility).toBe("private");
  });

  it("an explicit visibility always wins", () => {
    expect(
      fsStorage({ root: temp.path, publicUrl: "https://cdn.example.com/m/", visibility: "private" })
        .visibility,
    ).toBe("private");
    expect(fsStorage({ root: temp.path, baseUrl: "/m/", visibility: "private" }).visibility).toBe("private");
    expect(fsStorage({ root: temp.path, baseUrl: "/m/", defaultVisibility: "private" }).visibility).toBe(
      "private",
    );
  });

  it("a misspelt option is an OptionError naming the closest valid one", () => {
    let error: unknown;
    try {
      fsStorage({ roots: "/x" } as never);
    } catch (e) {
      error = e;
    }
    expect(OptionError.isOptionError(error)).toBe(true);
    expect(error).toMatchObject({ code: "E_CONFIG", option: "roots", suggestion: "root" });
    expect((error as Error).message).toMatch(
      /^fs storage option roots is not an option \(did you mean `root`\?\)/,
    );
    expect(() => fsStorage({ root: temp.path, overwite: true } as never)).toThrow(/did you mean `overwrite`/);
    expect(
      () => new FsDriver({ root: temp.path, signing: { key: SIGNING_KEY, baseURL: "/x/" } } as never),
    ).toThrow(/signing\.baseURL is not an option/);
  });
});
