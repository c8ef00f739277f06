/**
 * collectStatic against the fs driver: dependency-ordered hashing, incremental runs, compression
 * reuse, releases and pruning safety, strict mode, dry runs, bundler output.
 */
import { writeFileSync } from "node:fs";
import { mkdir, readdir, readFile, realpath, rm, stat, symlink, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { brotliDecompressSync, gunzipSync, zstdDecompressSync } from "node:zlib";
import { prefixed, type Storage } from "@storages/core";
import { fsStorage } from "@storages/fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type CollectOptions,
  collectStatic,
  LOCK_NAME,
  MissingReferenceError,
  RELEASES_PREFIX,
  readManifest,
} from "../src/index.js";
import { collectOptions, site, tempDir, touch, writeTree } from "./helpers.js";

let dir: { path: string; cleanup: () => Promise<void> };
let src: string;
let out: string;
let target: Storage;
let calls: string[];
let lockCalls: string[];

/** The target with every facade call recorded (the calls the collector makes, not a stand-in for them). */
function recorded(storage: Storage): Storage {
  return new Proxy(storage, {
    get(t, prop, receiver) {
      const value = Reflect.get(t, prop, receiver);
      if (typeof value !== "function" || typeof prop !== "string") return value;
      return (...args: unknown[]) => {
        if (
          [
            "save",
            "readText",
            "readBytes",
            "list",
            "deleteMany",
            "delete",
            "stat",
            "exists",
            "open",
          ].includes(prop)
        ) {
          const call = `${prop} ${typeof args[0] === "string" ? args[0] : ""}`.trim();
          // The publishing lock's own calls (lock.test.ts covers them): the rest is what is published.
          (String(args[0]).startsWith(".storages/lock") ? lockCalls : calls).push(call);
        }
        return value.apply(t, args);
      };
    },
  });
}

function options(extra: Partial<CollectOptions> = {}): CollectOptions {
  return collectOptions(src, target, dir.path, extra);
}

async function files(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && !e.name.startsWith(".~storages-meta"))
    .map((e) => join(e.parentPath, e.name).slice(root.length + 1))
    .sort();
}

beforeEach(async () => {
  dir = await tempDir();
  src = join(dir.path, "src");
  out = join(dir.path, "out");
  await writeTree(src, site());
  calls = [];
  lockCalls = [];
  target = recorded(fsStorage({ root: out }));
});

afterEach(async () => {
  await target.close();
  await dir.cleanup();
});

describe("a fresh run", () => {
  it("hashes every file, rewrites the CSS chain in dependency order, precompresses, writes the manifests", async () => {
    const result = await collectStatic(options());
    expect(result.found).toBe(10);
    expect(result.copied).toBe(10);
    expect(result.warnings).toEqual([]);
    const m = result.manifest;
    const base = await readFile(join(out, m.files["css/base.css"]!.name), "utf8");
    expect(base).toContain(`@import url("theme/${m.files["css/theme/theme.css"]!.name.split("/").pop()}")`);
    expect(base).toContain(`"../img/${m.files["img/logo.png"]!.name.split("/").pop()}" 1x`);
    expect(base).toContain(`"../img/${m.files["img/logo@2x.png"]!.name.split("/").pop()}" 2x`);
    const theme = await readFile(join(out, m.files["css/theme/theme.css"]!.name), "utf8");
    expect(theme).toContain(`url('/static/${m.files["img/bg.png"]!.name}?v=1#a')`);
    expect(theme).toContain(`url(../../${m.files["fonts/x.woff2"]!.name})`);
    const app = await readFile(join(out, m.files["css/app.css"]!.name), "utf8");
    expect(app).toContain(`sourceMappingURL=${m.files["css/app.css.map"]!.name.split("/").pop()}`);
    const js = await readFile(join(out, m.files["js/app.js"]!.name), "utf8");
    expect(js).toContain(`//# sourceMappingURL=${m.files["js/app.js.map"]!.name.split("/").pop()}`);

    // Every manifest entry describes the bytes published under its name.
    for (const [original, entry] of Object.entries(m.files)) {
      const bytes = await readFile(join(out, entry.name));
      expect(entry.size, original).toBe(bytes.length);
      const { createHash } = await import("node:crypto");
      expect(entry.sha256).toBe(createHash("sha256").update(bytes).digest("hex"));
      expect(entry.integrity).toBe(`sha384-${createHash("sha384").update(bytes).digest("base64")}`);
      expect(entry.name).toMatch(/\.[0-9a-f]{12}(\.|$)/);
      for (const [encoding, size] of Object.entries(entry.encodings)) {
        const suffix = { br: ".br", gzip: ".gz", zstd: ".zst" }[encoding]!;
        const packed = await readFile(join(out, entry.name + suffix));
        expect(packed.length).toBe(size);
        const unpacked =
          encoding === "br"
            ? brotliDecompressSync(packed)
            : encoding === "gzip"
              ? gunzipSync(packed)
              : zstdDecompressSync(packed);
        expect(unpacked.equals(bytes)).toBe(true);
        expect(size).toBeLessThanOrEqual(bytes.length * 0.95);
      }
    }
    // Compressible and large enough: JS, its map, base.css. Images and tiny files: none.
    expect(Object.keys(m.files["js/app.js"]!.encodings).sort()).toEqual(["br", "gzip", "zstd"]);
    expect(m.files["img/bg.png"]!.encodings).toEqual({});
    // Cache headers.
    const hashedStat = await target.stat(m.files["css/app.css"]!.name);
    expect(hashedStat.cacheControl).toBe("public, max-age=31536000, immutable");
    expect((await target.stat("css/app.css")).cacheControl).toBe("public, max-age=60");
    expect((await target.stat(`${m.files["js/app.js"]!.name}.br`)).contentEncoding).toBe("br");
    // The manifests: current, release, and the app's copy (without the build state).
    const stored = await readManifest(target);
    expect(stored.release).toBe(result.release);
    expect(await readManifest(target, { name: `${RELEASES_PREFIX}${result.release}.json` })).toMatchObject({
      files: m.files,
    });
    const local = await readManifest(join(dir.path, "staticfiles.json"));
    expect(local.files).toEqual(m.files);
    expect(local.build).toBeUndefined();
  });

  it("changing an image changes the hash of the CSS that uses it and of the CSS that imports that CSS", async () => {
    const first = (await collectStatic(options())).manifest;
    await writeFile(join(src, "img/logo.png"), "png-logo-v2");
    const second = await collectStatic(options());
    const m = second.manifest;
    expect(m.files["img/logo.png"]!.name).not.toBe(first.files["img/logo.png"]!.name);
    expect(m.files["css/base.css"]!.name).not.toBe(first.files["css/base.css"]!.name);
    expect(m.files["css/app.css"]!.name).not.toBe(first.files["css/app.css"]!.name);
    expect(m.files["css/theme/theme.css"]!.name).toBe(first.files["css/theme/theme.css"]!.name);
    expect(m.files["js/app.js"]!.name).toBe(first.files["js/app.js"]!.name);
    // Only what changed was uploaded (logo, base.css, app.css), the rest is known to be there.
    expect(second.copied).toBe(3);
    expect(second.unchanged).toBe(7);
  });

  it("reports a cycle of references and never loops", async () => {
    await writeTree(src, {
      "css/a.css": `@import "b.css";\n.a{}`,
      "css/b.css": `@import "c.css";\n.b{}`,
      "css/c.css": `@import "a.css";\n.c{}`,
    });
    const result = await collectStatic(options());
    expect(result.cycles).toHaveLength(1);
    expect([...result.cycles[0]!].sort()).toEqual(
      ["css/a.css", "css/a.css", "css/b.css", "css/c.css"].sort(),
    );
    expect(result.warnings.filter((w) => w.code === "cycle")).toHaveLength(1);
  });

  it("warns about a missing file with its file and line, leaves the reference, and publishes", async () => {
    await writeTree(src, {
      "js/lib.js": `x();\n\n//# sourceMappingURL=lib.js.map\n`,
      "css/m.css": `.a{}\n.b{background:url(nope.png)}`,
    });
    const result = await collectStatic(options());
    expect(result.warnings).toEqual([
      expect.objectContaining({
        code: "missing-reference",
        file: "css/m.css",
        line: 2,
        reference: "nope.png",
      }),
      expect.objectContaining({
        code: "missing-reference",
        file: "js/lib.js",
        line: 3,
        reference: "lib.js.map",
      }),
    ]);
    const lib = await readFile(join(out, result.manifest.files["js/lib.js"]!.name), "utf8");
    expect(lib).toContain("sourceMappingURL=lib.js.map");
  });

  it("--strict: a missing file is an error and nothing is written", async () => {
    await writeTree(src, { "css/m.css": `.b{background:url(nope.png)}` });
    const error = await collectStatic(options({ strict: true })).catch((e) => e);
    expect(MissingReferenceError.isInstance(error)).toBe(true);
    expect(error.code).toBe("E_INVALID_ARGUMENT");
    expect(error.message).toContain("css/m.css:1: nope.png");
    expect(calls.filter((c) => c.startsWith("save"))).toEqual([]);
    expect(await target.exists(LOCK_NAME)).toBe(false); // released on the error too
  });

  it("a CSS file that does not tokenize is a warning naming it (its references left as written), and --strict refuses it", async () => {
    await writeTree(src, { "css/broken.css": `.a{background:url(../img/logo.png)}\n}\n` });
    const result = await collectStatic(options());
    expect(result.warnings).toEqual([expect.objectContaining({ code: "unparsed", file: "css/broken.css" })]);
    const error = await collectStatic(options({ strict: true, clear: true })).catch((e) => e);
    expect(MissingReferenceError.isInstance(error)).toBe(true);
    expect(error.message).toContain("css/broken.css: does not tokenize");
  });

  it("never publishes a source file under a name collectstatic writes itself (the manifest, its release records)", async () => {
    await writeTree(src, {
      "staticfiles.json": "{}",
      ".storages/releases/000000000000.json": JSON.stringify({ files: { "victim.txt": {} } }),
    });
    await writeFile(join(dir.path, "victim-outside.txt"), "x");
    const result = await collectStatic(options({ ignore: ["nothing/**"] }));
    expect(
      result.warnings
        .filter((w) => w.code === "reserved")
        .map((w) => w.file)
        .sort(),
    ).toEqual([".storages/releases/000000000000.json", "staticfiles.json"]);
    expect(Object.keys(result.manifest.files)).not.toContain("staticfiles.json");
    expect(result.releases).toEqual([result.manifest.release]);
    // A no-change run says it again, once (the finder's warnings are not stored with the build).
    const again = await collectStatic(options({ ignore: ["nothing/**"] }));
    expect(again.nothingChanged).toBe(true);
    expect(again.warnings.filter((w) => w.code === "reserved")).toHaveLength(2);
  });

  it("a reference chain too deep to plan is a typed error, not a stack overflow; no release published", async () => {
    const chain: Record<string, string> = {};
    for (let i = 0; i < 600; i++) chain[`deep/c${i}.css`] = i < 599 ? `@import "c${i + 1}.css";\n` : ".x{}\n";
    await writeTree(src, chain);
    const error = await collectStatic(options()).catch((e) => e);
    expect(error).toMatchObject({ code: "E_INVALID_ARGUMENT" });
    expect(error.message).toContain("nest more than 500 files deep");
    // Hashed files may have gone out early; no release did (the previous one stays current).
    expect(calls).not.toContain("save staticfiles.json");
  });

  it("files named like Object's own properties are entries like any other", async () => {
    await writeTree(src, { ["__proto__"]: "p", constructor: "c" });
    const result = await collectStatic(options());
    expect(Object.keys(result.manifest.files)).toEqual(expect.arrayContaining(["__proto__", "constructor"]));
    const stored = await readManifest(target);
    expect(Object.hasOwn(stored.files, "__proto__")).toBe(true);
  });

  it("sources with no file at all stop the run: nothing published, nothing pruned", async () => {
    await collectStatic(options());
    const before = await files(out);
    const error = await collectStatic(options({ ignore: ["**"], keep: 1 })).catch((e) => e);
    expect(error).toMatchObject({ code: "E_CONFIG" });
    expect(error.message).toContain("No static files were found");
    expect(await files(out)).toEqual(before);
  });

  it("--dry-run computes everything and writes nothing", async () => {
    const result = await collectStatic(options({ dryRun: true }));
    expect(result.copied).toBe(10);
    expect(calls).toEqual(["readText staticfiles.json"]);
    await expect(stat(join(dir.path, "staticfiles.json"))).rejects.toThrow();
  });

  it("keeps a bundler's hashed output under its own name (Vite manifest and name pattern)", async () => {
    await writeTree(src, {
      ".vite/manifest.json": JSON.stringify({
        "src/main.ts": { file: "assets/main-abcdefgh.js", css: ["assets/main-qwertyui.css"] },
      }),
      "assets/main-abcdefgh.js": "export {}",
      "assets/main-qwertyui.css": ".x{}",
      "assets/vendor-BvT3kq9x.js": "export {}",
    });
    const m = (await collectStatic(options())).manifest;
    for (const name of ["assets/main-abcdefgh.js", "assets/main-qwertyui.css", "assets/vendor-BvT3kq9x.js"]) {
      expect(m.files[name]).toMatchObject({ name, hashed: false });
    }
    expect(m.files[".vite/manifest.json"]).toBeUndefined();
    expect(m.originals).not.toContain("assets/main-abcdefgh.js");

    // The same hashed-looking name with other bytes (hand-edited output): published, and warned of.
    await writeFile(join(src, "assets/vendor-BvT3kq9x.js"), "export const edited = 1;");
    const edited = await collectStatic(options());
    expect(edited.warnings).toEqual([
      expect.objectContaining({ code: "changed-hashed-name", file: "assets/vendor-BvT3kq9x.js" }),
    ]);
    expect(edited.warnings[0]!.message).toContain(`release ${m.release}`);
    // A touched file with the same bytes is not a change.
    await writeFile(join(src, "assets/main-abcdefgh.js"), "export {}");
    const touched = await collectStatic(options());
    expect(touched.warnings.map((w) => w.code)).not.toContain("changed-hashed-name");
  });

  it("first found wins, with a warning naming both sources", async () => {
    const other = join(dir.path, "other");
    await writeTree(other, { "img/bg.png": "other-bg", "img/new.png": "new" });
    const result = await collectStatic(
      options({
        sources: [
          { dir: src, label: "app" },
          { dir: other, label: "vendor" },
        ],
      }),
    );
    expect(result.warnings).toEqual([expect.objectContaining({ code: "conflict", file: "img/bg.png" })]);
    expect(result.warnings[0]!.message).toContain("app");
    expect(result.warnings[0]!.message).toContain("vendor");
    expect(await readFile(join(out, "img/bg.png"), "utf8")).toBe("png-bg");
    expect(result.manifest.files["img/new.png"]).toBeDefined();
  });

  it("collects installed packages that declare a static folder, under their name; ignore globs", async () => {
    await writeTree(join(dir.path, "node_modules"), {
      "ui-kit/package.json": JSON.stringify({ name: "ui-kit", staticfiles: "static" }),
      "ui-kit/static/ui.css": ".ui{}",
      "ui-kit/index.js": "not static",
      "@acme/icons/package.json": JSON.stringify({ staticfiles: { dir: "dist", prefix: "icons/" } }),
      "@acme/icons/dist/a.svg": "<svg/>",
      "escape/package.json": JSON.stringify({ staticfiles: "../../src" }),
      "plain/package.json": JSON.stringify({ name: "plain" }),
    });
    const m = (await collectStatic(options({ packages: true, ignore: ["**/*.map", "fonts/**"] }))).manifest;
    expect(m.files["ui-kit/ui.css"]).toBeDefined();
    expect(m.files["icons/a.svg"]).toBeDefined();
    expect(Object.keys(m.files).some((n) => n.startsWith("escape") || n.includes("index.js"))).toBe(false);
    expect(Object.keys(m.files).filter((n) => n.endsWith(".map") || n.startsWith("fonts/"))).toEqual([]);
    // The CSS that named the ignored font keeps its reference, with a warning.
    expect(m.files["css/theme/theme.css"]).toBeDefined();
  });

  it("warns of a link in a source to a folder or to nothing, naming it (nothing published under it); a workspace's linked package is collected", async () => {
    const shared = join(dir.path, "shared-img");
    await writeTree(shared, { "s.png": "s" });
    await symlink(shared, join(src, "shared"));
    await symlink(join(dir.path, "not-built"), join(src, "dist"));
    await symlink(join(shared, "s.png"), join(src, "s-link.png"));
    // npm workspaces: node_modules/<pkg> is a link to the package's own folder.
    const workspace = join(dir.path, "packages", "theme");
    await writeTree(workspace, {
      "package.json": JSON.stringify({ name: "theme", staticfiles: "static" }),
      "static/t.css": ".t{}",
    });
    await mkdir(join(dir.path, "node_modules"), { recursive: true });
    await symlink(workspace, join(dir.path, "node_modules", "theme"));
    for (const run of ["first", "no change"]) {
      const result = await collectStatic(options({ packages: true }));
      expect(result.nothingChanged, run).toBe(run === "no change");
      const links = result.warnings.filter((w) => w.code === "link");
      expect(links.map((w) => w.file).sort(), run).toEqual(["dist", "shared"]);
      expect(links.find((w) => w.file === "shared")!.message, run).toContain(
        `shared (in ${src}) is a symbolic link to the folder ${await realpath(shared)}`,
      );
      expect(links.find((w) => w.file === "dist")!.message, run).toContain("does not exist");
      const names = Object.keys(result.manifest.files);
      expect(
        names.filter((n) => n.startsWith("shared/") || n.startsWith("dist")),
        run,
      ).toEqual([]);
      // A link to a file is published; the workspace package too, without a warning.
      expect(names, run).toContain("s-link.png");
      expect(names, run).toContain("theme/t.css");
    }
  });

  it("publishes a source under its prefix", async () => {
    const vendor = join(dir.path, "vendor");
    await writeTree(vendor, { "ui.css": ".ui{background:url(i.png)}", "i.png": "i" });
    const m = (await collectStatic(options({ sources: [{ dir: vendor, prefix: "ui-kit/" }] }))).manifest;
    expect(Object.keys(m.files).sort()).toEqual(["ui-kit/i.png", "ui-kit/ui.css"]);
    expect(await readFile(join(out, m.files["ui-kit/ui.css"]!.name), "utf8")).toContain(
      m.files["ui-kit/i.png"]!.name.slice(7),
    );
  });
});

describe("CSS and JS held in memory (a budget of 16 Mi characters for all texts together)", () => {
  /** A stylesheet past the budget on its own: its text is read again when it is planned. */
  const big = () => `/* ${"x".repeat(17 * 1024 * 1024)} */\n.big { background: url("../img/bg.png"); }\n`;

  it("a text past the budget is read again to be rewritten: the same output", async () => {
    await writeTree(src, { "css/big.css": big() });
    const m = (await collectStatic(options({ encodings: [] }))).manifest;
    const published = await readFile(join(out, m.files["css/big.css"]!.name), "utf8");
    expect(
      published.endsWith(
        `.big { background: url("../img/${m.files["img/bg.png"]!.name.split("/").pop()}"); }\n`,
      ),
    ).toBe(true);
    expect(published.length).toBe(big().length + m.files["img/bg.png"]!.name.length - "img/bg.png".length);
  });

  it("a text past the budget that changed since the scan is an error, and nothing is published", async () => {
    await writeTree(src, { "css/big.css": big() });
    const run = collectStatic(
      options({
        encodings: [],
        onProgress: (p) => {
          // Every source scanned (the CSS is planned after): the build rewrites it meanwhile.
          if (p.phase === "hash" && p.done === p.total)
            writeFileSync(join(src, "css/big.css"), `${big()}.x{}`);
        },
      }),
    );
    await expect(run).rejects.toMatchObject({ code: "E_CHECKSUM_MISMATCH", path: "css/big.css" });
    await expect(run).rejects.toThrow(/changed while collectstatic ran/);
    await expect(readManifest(target)).rejects.toThrow();
  });
});

describe("into a plain local folder (records: false, what `storages collectstatic --to DIR` makes)", () => {
  it("original names are hard links of their hashed files and siblings; a hashed file removed by hand is written again", async () => {
    const plain = fsStorage({ root: out, records: false, durability: "batch" });
    const inode = async (name: string) => (await stat(join(out, name))).ino;
    try {
      const { manifest: m } = await collectStatic(collectOptions(src, plain, dir.path));
      for (const [original, entry] of Object.entries(m.files)) {
        expect(await inode(original), original).toBe(await inode(entry.name));
        for (const suffix of Object.keys(entry.encodings).map(
          (e) => ({ br: ".br", gzip: ".gz", zstd: ".zst" })[e]!,
        ))
          expect(await inode(original + suffix), original + suffix).toBe(await inode(entry.name + suffix));
      }
      // A later release: a changed file's original name now names its new hashed file; the old
      // hashed file (kept for a rolled-back app) keeps its own bytes.
      const before = m.files["js/app.js"]!.name;
      await writeFile(join(src, "js/app.js"), `console.log(${JSON.stringify("y".repeat(600))});\n`);
      const { manifest: next } = await collectStatic(collectOptions(src, plain, dir.path));
      expect(next.files["js/app.js"]!.name).not.toBe(before);
      expect(await inode("js/app.js")).toBe(await inode(next.files["js/app.js"]!.name));
      expect(await readFile(join(out, before), "utf8")).toContain("x".repeat(600));
      expect(await readFile(join(out, "js/app.js"), "utf8")).toContain("y".repeat(600));
    } finally {
      await plain.close();
    }
  });

  it("an original name whose hashed file was removed by hand is written from the source", async () => {
    const plain = fsStorage({ root: out, records: false });
    try {
      // Published without original names, then one hashed file removed: linking it is impossible.
      const { manifest: m } = await collectStatic(collectOptions(src, plain, dir.path, { originals: false }));
      await rm(join(out, m.files["img/bg.png"]!.name));
      await collectStatic(collectOptions(src, plain, dir.path));
      expect(await readFile(join(out, "img/bg.png"), "utf8")).toBe("png-bg");
      expect(await readFile(join(out, "css/app.css"), "utf8")).toContain(
        m.files["css/base.css"]!.name.split("/").pop(),
      );
    } finally {
      await plain.close();
    }
  });
});

describe("a target among the sources (Django refuses STATIC_ROOT in STATICFILES_DIRS)", () => {
  it("refuses a target that is a source, lies inside one, or holds one, before writing anything", async () => {
    const before = await files(src);
    await symlink(src, join(dir.path, "link-to-src"));
    const refused = [
      [fsStorage({ root: src }), /it is the static source/],
      [fsStorage({ root: join(dir.path, "link-to-src") }), /it is the static source/],
      [prefixed(fsStorage({ root: dir.path }), "src/"), /it is the static source/],
      [
        fsStorage({ root: join(src, "build") }),
        /folder "build" of the static source.*--ignore 'build\/\*\*'/,
      ],
      [fsStorage({ root: dir.path }), /it holds the static source/],
    ] as const;
    for (const [storage, message] of refused) {
      for (const dryRun of [false, true])
        await expect(collectStatic(options({ target: storage, dryRun }))).rejects.toMatchObject({
          code: "E_CONFIG",
          message: expect.stringMatching(message),
        });
      await storage.close();
    }
    expect(await files(src)).toEqual(before);
    // Inside a source, with its folder ignored: allowed, and what it publishes is not collected again.
    const inside = fsStorage({ root: join(src, "build") });
    const ignore = ["build/**", "**/.*"];
    const first = await collectStatic(options({ target: inside, ignore }));
    const again = await collectStatic(options({ target: inside, ignore }));
    expect(again.found).toBe(first.found);
    expect(again.copied).toBe(0);
    await inside.close();
  });
});

describe("incremental", () => {
  it("a no-change run reads only the stored manifest: no file read, hashed, compressed or written", async () => {
    await collectStatic(options());
    const before = await files(out);
    const mtimes = await Promise.all(before.map(async (f) => (await stat(join(out, f))).mtimeMs));
    // Sources rewritten with other bytes of the same size, their mtimes put back: a run that read
    // any of them would publish something new; one that reads only stat data sees no change.
    for (const [name, content] of Object.entries(site())) {
      const path = join(src, name);
      const info = await stat(path);
      await writeFile(path, "#".repeat(Buffer.byteLength(content)));
      await utimes(path, info.atime, info.mtime);
    }
    await rm(join(dir.path, "cache"), { recursive: true });
    calls = [];
    const result = await collectStatic(options());
    expect(result.nothingChanged).toBe(true);
    expect(result.written).toBe(0);
    expect(result.compressed).toBe(0);
    expect(result.unchanged).toBe(10);
    expect(calls).toEqual(["readText staticfiles.json"]);
    expect(await files(out)).toEqual(before);
    expect(await Promise.all(before.map(async (f) => (await stat(join(out, f))).mtimeMs))).toEqual(mtimes);
    // The compression cache was removed and not needed.
    await expect(stat(join(dir.path, "cache"))).rejects.toThrow();
  });

  it("a touched file with the same bytes is read and hashed, but nothing is uploaded or compressed", async () => {
    await collectStatic(options());
    await touch(join(src, "js/app.js"), 1_000_000);
    await touch(join(src, "img/bg.png"), 1_000_000);
    calls = [];
    const result = await collectStatic(options());
    expect(result.nothingChanged).toBe(false);
    expect(result.copied).toBe(0);
    expect(result.compressed).toBe(0);
    // The two manifests (the build state records the new mtimes), and the listing of releases.
    expect(calls.filter((c) => c.startsWith("save"))).toEqual([
      `save ${RELEASES_PREFIX}${result.release}.json`,
      "save staticfiles.json",
    ]);
    expect((await collectStatic(options())).nothingChanged).toBe(true);
  });

  it("compresses each content once: not again for a copy, not again on a later run into another target", async () => {
    await writeTree(src, { "js/copy.js": site()["js/app.js"]! });
    const first = await collectStatic(options());
    // js/app.js and js/copy.js share bytes; with app.js.map and base.css: 3 unique contents.
    expect(first.compressed).toBe(3);
    const target2 = fsStorage({ root: join(dir.path, "out2") });
    const second = await collectStatic(options({ target: target2, manifestOut: false }));
    expect(second.compressed).toBe(0);
    expect(second.compressionReused).toBe(3);
    expect(second.manifest.files["js/app.js"]!.encodings).toEqual(
      first.manifest.files["js/app.js"]!.encodings,
    );
    await target2.close();
  });
});

describe("abort", () => {
  it("while hashing: an AbortedError, nothing published", async () => {
    const controller = new AbortController();
    const error = await collectStatic(
      options({ signal: controller.signal, onProgress: (p) => p.phase === "hash" && controller.abort() }),
    ).catch((e) => e);
    expect(error.code).toBe("E_ABORTED");
    expect(calls.filter((c) => c.startsWith("save"))).toEqual([]);
    expect(await target.exists(LOCK_NAME)).toBe(false);
  });

  it("while publishing: an AbortedError, and the previous release stays current", async () => {
    const first = await collectStatic(options());
    await writeFile(join(src, "js/app.js"), "changed();\n".repeat(100));
    const controller = new AbortController();
    const error = await collectStatic(
      options({ signal: controller.signal, onProgress: (p) => p.phase === "publish" && controller.abort() }),
    ).catch((e) => e);
    expect(error.code).toBe("E_ABORTED");
    expect((await readManifest(target)).release).toBe(first.release);
  });

  it("many files on one signal: no listener per file on it (no MaxListenersExceededWarning)", async () => {
    const many: Record<string, string> = {};
    for (let i = 0; i < 60; i++) many[`img/f${i}.svg`] = `<svg>${i}</svg>`;
    await writeTree(src, many);
    const controller = new AbortController();
    const added: number[] = [];
    const addEventListener = controller.signal.addEventListener.bind(controller.signal);
    let listening = 0;
    const watched = Object.assign(controller.signal, {
      addEventListener: (...args: Parameters<AbortSignal["addEventListener"]>) => {
        added.push(++listening);
        addEventListener(...args);
      },
    });
    const removeEventListener = watched.removeEventListener.bind(watched);
    watched.removeEventListener = (...args: Parameters<AbortSignal["removeEventListener"]>) => {
      listening--;
      removeEventListener(...args);
    };
    const result = await collectStatic(options({ signal: watched }));
    expect(result.found).toBe(70);
    // Node warns past 10 listeners of one type on one signal.
    expect(Math.max(0, ...added)).toBeLessThanOrEqual(10);
  });
});

describe("releases and pruning", () => {
  it("keeps the files of the last N releases and deletes only files collectstatic wrote", async () => {
    // Files that are not collectstatic's: one in its own folder, one beside the static files.
    await writeTree(out, {
      "media/upload.jpg": "user data",
      "css/handmade.css": "mine",
      "img/bg.old.png": "x",
    });
    const r1 = await collectStatic(options({ keep: 2 }));
    await writeFile(join(src, "img/bg.png"), "v2");
    const r2 = await collectStatic(options({ keep: 2 }));
    await writeFile(join(src, "img/bg.png"), "v3");
    const r3 = await collectStatic(options({ keep: 2 }));
    expect(r3.releases).toEqual([r3.release, r2.release]);
    const names = await files(out);
    // Release 1's own bg.png (and the CSS that named it) is gone, release 2's is kept.
    expect(names).not.toContain(r1.manifest.files["img/bg.png"]!.name);
    expect(names).not.toContain(r1.manifest.files["css/app.css"]!.name);
    expect(names).toContain(r2.manifest.files["img/bg.png"]!.name);
    expect(names).toContain(r3.manifest.files["img/bg.png"]!.name);
    expect(r3.deleted).toContain(r1.manifest.files["img/bg.png"]!.name);
    // Shared files (the same in all three) are kept.
    expect(names).toContain(r1.manifest.files["img/logo.png"]!.name);
    expect(names).not.toContain(`${RELEASES_PREFIX.slice(0, -1)}/${r1.release}.json`);
    // Never a file it did not write.
    expect(names).toEqual(expect.arrayContaining(["media/upload.jpg", "css/handmade.css", "img/bg.old.png"]));
  });

  it("a rolled-back app's manifest still names existing files", async () => {
    const r1 = await collectStatic(options());
    await writeFile(join(src, "css/app.css"), "body{}");
    await collectStatic(options());
    for (const entry of Object.values(r1.manifest.files)) {
      await expect(stat(join(out, entry.name))).resolves.toBeDefined();
    }
  });

  it("--clear deletes what earlier runs wrote, and only that", async () => {
    await writeTree(out, { "media/upload.jpg": "user data" });
    const r1 = await collectStatic(options());
    await writeTree(src, { "img/gone.png": "soon gone" });
    await collectStatic(options());
    await rm(join(src, "img/gone.png"));
    const before = await files(out);
    const dry = await collectStatic(options({ clear: true, dryRun: true }));
    expect(await files(out)).toEqual(before); // nothing deleted…
    const r3 = await collectStatic(options({ clear: true }));
    expect(dry.deleted).toEqual(r3.deleted); // …but reported as what the real run deletes
    expect(dry.copied).toBe(r3.copied);
    const names = await files(out);
    expect(r3.deleted.length).toBeGreaterThan(0);
    expect(names).toContain("media/upload.jpg");
    expect(names.some((n) => n.startsWith("img/gone"))).toBe(false);
    // Republished in full.
    expect(r3.copied).toBe(10);
    expect(names).toContain(r1.manifest.files["img/bg.png"]!.name);
  });

  it("a --clear interrupted after clearing leaves no manifest naming the deleted files", async () => {
    // The clearing deletes the current release's files: until the new release is written, the
    // stored manifest must not say they are published, or the next run (a retry without --clear,
    // nothing changed) trusts it and publishes nothing, leaving the site without its files.
    await collectStatic(options());
    const stop = new AbortController();
    const error = await collectStatic(
      options({
        clear: true,
        signal: stop.signal,
        onProgress: (p) => {
          if (p.phase === "publish") stop.abort();
        },
      }),
    ).catch((e) => e);
    expect(error.code).toBe("E_ABORTED");
    const retry = await collectStatic(options());
    for (const entry of Object.values(retry.manifest.files)) {
      await expect(stat(join(out, entry.name))).resolves.toBeDefined();
    }
  });

  it("syncs the published files before writing the manifests that name them", async () => {
    const order: string[] = [];
    const watched = new Proxy(target, {
      get(t, prop, receiver) {
        const value = Reflect.get(t, prop, receiver);
        if (prop === "flush")
          return (...args: unknown[]) => {
            order.push("flush");
            return value.apply(t, args);
          };
        if (prop === "save")
          return (...args: unknown[]) => {
            if (args[0] === "staticfiles.json" || String(args[0]).startsWith(RELEASES_PREFIX))
              order.push(`save ${String(args[0]).startsWith(RELEASES_PREFIX) ? "release" : args[0]}`);
            return value.apply(t, args);
          };
        return typeof value === "function" ? value.bind(t) : value;
      },
    });
    await collectStatic(collectOptions(src, watched, dir.path));
    expect(order.slice(0, 3)).toEqual(["flush", "save release", "save staticfiles.json"]);
  });

  it("refuses a stored manifest whose names are not names, deleting nothing (--clear too)", async () => {
    const r1 = await collectStatic(options());
    const stored = JSON.parse(await readFile(join(out, "staticfiles.json"), "utf8"));
    const entry = stored.files["img/bg.png"];
    for (const broken of [
      { ...stored, originals: [...stored.originals, 42] },
      { ...stored, files: { ...stored.files, "img/bg.png": { ...entry, encodings: { xz: 3 } } } },
    ]) {
      await writeFile(join(out, "staticfiles.json"), JSON.stringify(broken));
      const before = await files(out);
      calls = [];
      const error = await collectStatic(options({ clear: true })).catch((e) => e);
      expect(error.code).toBe("E_INVALID_ARGUMENT");
      expect(error.constructor.name).toBe("InvalidManifestError");
      expect(calls.filter((c) => c.startsWith("save") || c.startsWith("delete"))).toEqual([]);
      expect(await files(out)).toEqual(before);
    }
    expect(r1.deleted).toEqual([]);
  });

  it("prunes nothing while a stored release manifest does not parse (its files are unknown)", async () => {
    const r1 = await collectStatic(options({ release: "one" }));
    const logo = r1.manifest.files["img/logo.png"]!.name;
    await writeFile(join(src, "img/logo.png"), "png-logo-b");
    await collectStatic(options({ release: "two" }));
    await writeFile(join(src, "img/logo.png"), "png-logo"); // a revert: release one's logo again
    await collectStatic(options({ release: "three" }));
    // Release three's manifest as a newer collectstatic might write it: unreadable here. Its app
    // uses release one's logo, which a run with --keep 2 (four and three) must not delete.
    const three = join(out, RELEASES_PREFIX, "three.json");
    await writeFile(three, JSON.stringify({ ...JSON.parse(await readFile(three, "utf8")), version: 2 }));
    await writeFile(join(src, "img/logo.png"), "png-logo-c");
    const before = await files(out);
    const r4 = await collectStatic(options({ release: "four", keep: 2 }));
    expect(r4.deleted).toEqual([]);
    expect(r4.warnings.map((w) => w.code)).toContain("unpruned");
    const after = await files(out);
    for (const name of before) expect(after).toContain(name);
    expect(after).toContain(logo);
  });

  it("a release a failed run never made current does not push the previous one out of --keep", async () => {
    await collectStatic(options({ release: "one" }));
    await writeFile(join(src, "img/logo.png"), "png-logo-two");
    const r2 = await collectStatic(options({ release: "two" }));
    // Run "x" writes its release manifest, then fails to write staticfiles.json: "two" stays current.
    await writeFile(join(src, "img/logo.png"), "png-logo-x");
    const failing = new Proxy(target, {
      get(t, prop, receiver) {
        const value = Reflect.get(t, prop, receiver);
        if (prop === "save")
          return (...args: unknown[]) => {
            if (args[0] === "staticfiles.json") return Promise.reject(new Error("connection reset"));
            return value.apply(t, args);
          };
        return typeof value === "function" ? value.bind(t) : value;
      },
    });
    await expect(collectStatic(collectOptions(src, failing, dir.path, { release: "x" }))).rejects.toThrow();
    expect((await readManifest(target)).release).toBe("two");
    // The next deploy with --keep 2 keeps the release the running apps use ("two"), not "x".
    await writeFile(join(src, "img/logo.png"), "png-logo-three");
    const r3 = await collectStatic(options({ release: "three", keep: 2 }));
    expect(r3.releases).toEqual(["three", "two"]);
    await expect(stat(join(out, r2.manifest.files["img/logo.png"]!.name))).resolves.toBeDefined();
  });

  it("refuses a target whose staticfiles.json is not a manifest, writing nothing", async () => {
    await writeTree(out, { "staticfiles.json": `{"some":"other file"}` });
    const error = await collectStatic(options()).catch((e) => e);
    expect(error.code).toBe("E_INVALID_ARGUMENT");
    expect(calls.filter((c) => c.startsWith("save") || c.startsWith("delete"))).toEqual([]);
  });
});
