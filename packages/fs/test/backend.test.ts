import { join } from "node:path";
import { StorageError } from "@storages/core";
import { afterAll, describe, expect, it } from "vitest";
import { backend, FsDriver, fsStorage, signingSecretVar } from "../src/index.js";
import { SIGNING_KEY, tempDir } from "./helpers.js";

const context = (env: Record<string, string | undefined> = {}) => ({
  source: "STORAGES_MEDIA",
  storageName: "media",
  env,
});
const temp = await tempDir();
afterAll(() => temp.cleanup());

function configError(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    expect(StorageError.hasCode(error, "E_CONFIG"), String(error)).toBe(true);
    return (error as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("backend (file:// URLs)", () => {
  it("declares its name, scheme and option keys", () => {
    expect(backend.name).toBe("fs");
    expect(backend.schemes).toEqual(["file"]);
    expect(backend.optionKeys).toEqual(
      expect.arrayContaining(["root", "baseUrl", "signing", "fileMode", "directoryMode"]),
    );
  });

  it("parses the root (percent-decoded) and octal modes", () => {
    const options = backend.fromUrl(
      new URL("file:///var/lib/my%20app/media/?fileMode=640&directoryMode=0o750"),
      context(),
    );
    expect(options).toEqual({ root: "/var/lib/my app/media", fileMode: 0o640, directoryMode: 0o750 });
    expect(backend.fromUrl(new URL("file://localhost/srv/media"), context())).toEqual({ root: "/srv/media" });
  });

  it("reads the signing secret from STORAGES_<NAME>_SIGNING_SECRET, never from the URL", () => {
    expect(signingSecretVar("media")).toBe("STORAGES_MEDIA_SIGNING_SECRET");
    const options = backend.fromUrl(
      new URL("file:///srv/private?signingBaseUrl=/private/"),
      context({ STORAGES_MEDIA_SIGNING_SECRET: SIGNING_KEY }),
    );
    expect(options.signing).toEqual({ key: SIGNING_KEY, baseUrl: "/private/" });
    const driver = backend.create({ ...options, root: join(temp.path, "p") });
    expect(driver.capabilities.signedUrl).toBe(true);
    expect(JSON.stringify(driver)).not.toContain(SIGNING_KEY);
  });

  it("says what is missing, naming the variable and the fix", () => {
    expect(
      configError(() =>
        backend.fromUrl(new URL("file:///srv/p"), context({ STORAGES_MEDIA_SIGNING_SECRET: "x".repeat(40) })),
      ),
    ).toMatch(/signingBaseUrl/);
    expect(
      configError(() => backend.fromUrl(new URL("file:///srv/p?signingBaseUrl=/p/"), context())),
    ).toMatch(/STORAGES_MEDIA_SIGNING_SECRET/);
    expect(configError(() => backend.fromUrl(new URL("file:///srv/p?mode=1"), context()))).toMatch(
      /unknown query parameter `mode`/,
    );
    expect(
      configError(() => backend.fromUrl(new URL("file:///srv/p?fileMode=rw-r--r--"), context())),
    ).toMatch(/octal/);
    expect(configError(() => backend.fromUrl(new URL("file://server/share"), context()))).toMatch(/host/);
    const short = backend.fromUrl(
      new URL("file:///srv/p?signingBaseUrl=/p/"),
      context({ STORAGES_MEDIA_SIGNING_SECRET: "short" }),
    );
    const message = configError(() => backend.create(short));
    expect(message).toMatch(/at least 32/);
    expect(message).not.toContain("short");
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
