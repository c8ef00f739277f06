/**
 * The app side: staticUrl/integrity from the manifest the app carries, and readManifest's errors.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { MemoryDriver, Storage } from "@storages/core";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import {
  configureStaticUrls,
  createStaticUrls,
  InvalidManifestError,
  integrity,
  publicManifest,
  publicManifestText,
  readManifest,
  StaticFileNotFoundError,
  type StaticManifest,
  serializeManifest,
  staticUrl,
} from "../src/index.js";
import { tempDir } from "./helpers.js";

const manifest: StaticManifest = {
  version: 1,
  release: "r1",
  createdAt: "2026-12-01T00:00:00.000Z",
  files: {
    "css/app.css": {
      name: "css/app.0123456789ab.css",
      size: 10,
      sha256: "0".repeat(64),
      integrity: "sha384-abc",
      hashed: true,
      contentType: "text/css; charset=utf-8",
      encodings: { br: 5 },
    },
    "img/my logo.png": {
      name: "img/my logo.0123456789ab.png",
      size: 3,
      sha256: "1".repeat(64),
      integrity: "sha384-def",
      hashed: true,
      contentType: "image/png",
      encodings: {},
    },
  },
};

afterEach(() => {
  configureStaticUrls();
});

describe("createStaticUrls", () => {
  it("maps original names to hashed URLs under the base, keeping query and fragment", () => {
    const urls = createStaticUrls({
      manifest,
      baseUrl: "https://cdn.example.com/static",
      mode: "production",
    });
    expect(urls.staticUrl("css/app.css")).toBe("https://cdn.example.com/static/css/app.0123456789ab.css");
    expect(urls.staticUrl("/css/app.css?v=1#top")).toBe(
      "https://cdn.example.com/static/css/app.0123456789ab.css?v=1#top",
    );
    expect(urls.staticUrl("img/my logo.png")).toBe(
      "https://cdn.example.com/static/img/my%20logo.0123456789ab.png",
    );
    expect(urls.integrity("css/app.css")).toBe("sha384-abc");
  });

  it("production: an unknown name is a StaticFileNotFoundError with a stable code", () => {
    const urls = createStaticUrls({ manifest, mode: "production" });
    let error: unknown;
    try {
      urls.staticUrl("css/typo.css");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StaticFileNotFoundError);
    expect((error as StaticFileNotFoundError).code).toBe("E_NOT_FOUND");
    expect((error as Error).message).toContain("css/typo.css");
    expect(() => urls.integrity("css/typo.css")).toThrow(StaticFileNotFoundError);
    // Names of Object's own properties are names like any other, not the prototype's members.
    for (const name of ["constructor", "toString", "hasOwnProperty", "__proto__"]) {
      expect(() => urls.staticUrl(name), name).toThrow(StaticFileNotFoundError);
      expect(() => urls.integrity(name), name).toThrow(StaticFileNotFoundError);
    }
  });

  it("development: the plain name", () => {
    const urls = createStaticUrls({ manifest, mode: "development" });
    expect(urls.staticUrl("css/new.css")).toBe("/static/css/new.css");
    expect(urls.integrity("css/new.css")).toBeUndefined();
  });
});

describe("staticUrl() / integrity()", () => {
  it("use the configured instance", () => {
    configureStaticUrls({ manifest, baseUrl: "/assets/", mode: "production" });
    expect(staticUrl("css/app.css")).toBe("/assets/css/app.0123456789ab.css");
    expect(integrity("css/app.css")).toBe("sha384-abc");
  });
});

describe("readManifest", () => {
  it("from a file, from a storage; a missing file is E_NOT_FOUND, a foreign one E_INVALID_ARGUMENT", async () => {
    const dir = await tempDir();
    try {
      await writeFile(join(dir.path, "m.json"), JSON.stringify(manifest));
      expect(await readManifest(join(dir.path, "m.json"))).toEqual(manifest);
      await expect(readManifest(join(dir.path, "none.json"))).rejects.toMatchObject({ code: "E_NOT_FOUND" });
      await writeFile(join(dir.path, "bad.json"), `{"paths":{},"version":"1.0"}`);
      await expect(readManifest(join(dir.path, "bad.json"))).rejects.toBeInstanceOf(InvalidManifestError);
      await writeFile(join(dir.path, "broken.json"), `{`);
      await expect(readManifest(join(dir.path, "broken.json"))).rejects.toMatchObject({
        code: "E_INVALID_ARGUMENT",
      });
    } finally {
      await dir.cleanup();
    }
    const storage = new Storage(new MemoryDriver());
    await storage.save("staticfiles.json", JSON.stringify(manifest));
    expect((await readManifest(storage)).release).toBe("r1");
  });
});

describe("publicManifestText", () => {
  const build = {
    options: "0123456789abcdef",
    sources: { "css/app.css": [10, 1_700_000_000_000, "2".repeat(64)] as [number, number, string] },
    warnings: [
      { code: "missing", file: "css/app.css", line: 3, message: 'a "quoted", \n odd "build": message' },
    ],
  };
  it("is the public manifest's serialisation, cut from the whole one's", () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(fc.string(), { maxLength: 4 }),
        fc.dictionary(fc.string(), fc.string(), { maxKeys: 4 }),
        (withOriginals, originals, names) => {
          const files = Object.fromEntries(
            Object.entries(names).map(([original, name]) => [
              original,
              { ...manifest.files["css/app.css"]!, name },
            ]),
          );
          const m: StaticManifest = {
            ...manifest,
            files: { ...manifest.files, ...files },
            ...(withOriginals && { originals }),
            build,
          };
          expect(publicManifestText(serializeManifest(m))).toBe(serializeManifest(publicManifest(m)));
        },
      ),
    );
  });
  it("is undefined for a text not laid out by the writer: then the caller serialises", () => {
    const { build: _none, ...rest } = { ...manifest, build };
    expect(publicManifestText(serializeManifest(manifest))).toBeUndefined(); // no build
    expect(publicManifestText(JSON.stringify({ ...rest, build }, null, 2))).toBeUndefined();
    expect(
      publicManifestText(`${JSON.stringify({ ...manifest, build, after: 1 }, null, 1)}\n`),
    ).toBeUndefined();
  });
});
