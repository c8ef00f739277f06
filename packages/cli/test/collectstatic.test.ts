/**
 * `storages collectstatic` (the real binary) over the fs backend: flags, --json, exit codes. The
 * library's behaviour is tested in @storages/staticfiles; the same command against RGW is in
 * packages/staticfiles/test/collect.server.test.ts.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { baseEnv, cli } from "./helpers.js";

let dir: string;
let env: Record<string, string>;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "storages-cli-static-"));
  await mkdir(join(dir, "assets/css"), { recursive: true });
  await mkdir(join(dir, "vendor"), { recursive: true });
  await writeFile(
    join(dir, "assets/css/app.css"),
    `.a{background:url(../img.png)}\n.b{background:url(gone.png)}\n`,
  );
  await writeFile(join(dir, "assets/img.png"), "png");
  await writeFile(join(dir, "vendor/kit.js"), "export {}");
  env = baseEnv({ STORAGES_STATICFILES: `${pathToFileURL(join(dir, "public")).href}?baseUrl=/static/` });
});

afterEach(() => rm(dir, { recursive: true, force: true }));

const run = (args: string[]) => cli(["collectstatic", ...args], { env, cwd: dir });

describe("storages collectstatic", () => {
  it("publishes to the staticfiles storage, prints a summary, warns with file and line", async () => {
    const r = await run(["--source", "assets", "--source", "vendor=kit/"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/published release [0-9a-f]{12}: 3 files found, 3 copied, 0 unchanged/);
    expect(r.stderr).toContain("css/app.css:2: gone.png");
    const manifest = JSON.parse(await readFile(join(dir, "staticfiles.json"), "utf8"));
    expect(Object.keys(manifest.files).sort()).toEqual(["css/app.css", "img.png", "kit/kit.js"]);
    const css = await readFile(join(dir, "public", manifest.files["css/app.css"].name), "utf8");
    expect(css).toContain(manifest.files["img.png"].name);
    const again = await run(["--source", "assets", "--source", "vendor=kit/"]);
    expect(again.stdout).toContain("nothing changed: 3 files already published");
  });

  it("--to a folder that is, holds or lies inside the media storage: refused, the uploads untouched", async () => {
    const media = join(dir, "media");
    await mkdir(media, { recursive: true });
    // An upload named like a static file: what a publish there would replace.
    await writeFile(join(media, "img.png"), "a user's upload");
    const withMedia = { ...env, STORAGES_DEFAULT: pathToFileURL(media).href };
    const cases: Array<[string, string]> = [
      ["media/", 'is where the "default" storage keeps its files'],
      ["media/static/", 'is inside the "default" storage (its folder "static/")'],
      [".", `holds the "default" storage's files (in its folder "media/")`],
      ["default:static/", 'is inside the "default" storage (its folder "static/")'],
    ];
    for (const [to, where] of cases) {
      const r = await cli(["collectstatic", "--source", "assets", "--no-compress", "--to", to], {
        env: withMedia,
        cwd: dir,
      });
      expect(r.code, `${to}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(`--to ${to} ${where}: collectstatic would replace`);
    }
    expect(await readFile(join(media, "img.png"), "utf8")).toBe("a user's upload");
    // A folder of its own is published to.
    const apart = await cli(["collectstatic", "--source", "assets", "--no-compress", "--to", "static/"], {
      env: withMedia,
      cwd: dir,
    });
    expect(apart.code, apart.stderr).toBe(0);
  });

  it("--to a URL into the bucket of a named media storage: refused before any request", async () => {
    // Port 9 (discard): nothing answers there, and nothing is asked — the refusal comes first.
    const bucket = (prefix: string) =>
      `s3://media-bucket/${prefix}?endpoint=http://127.0.0.1:9&region=us-east-1`;
    const r = await cli(["collectstatic", "--source", "assets", "--no-compress", "--to", bucket("static/")], {
      env: { ...env, STORAGES_DEFAULT: bucket(""), AWS_ACCESS_KEY_ID: "x", AWS_SECRET_ACCESS_KEY: "y" },
      cwd: dir,
    });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('is inside the "default" storage (its folder "static/")');
  });

  it("--json: one document on stdout; --dry-run writes nothing", async () => {
    const r = await run(["--source", "assets", "--dry-run", "--json", "--manifest-out", "build/m.json"]);
    expect(r.code).toBe(0);
    const report = r.json();
    expect(report).toMatchObject({ dryRun: true, found: 2, copied: 2, written: 0 });
    expect(report.warnings).toEqual([
      expect.objectContaining({ code: "missing-reference", file: "css/app.css", line: 2 }),
    ]);
    await expect(readFile(join(dir, "build/m.json"))).rejects.toThrow();
    await expect(readFile(join(dir, "public/staticfiles.json"))).rejects.toThrow();
  });

  it("--strict fails on a missing file with a usage exit code, and publishes nothing", async () => {
    const r = await run(["--source", "assets", "--strict"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("css/app.css:2: gone.png");
    await expect(readFile(join(dir, "public/staticfiles.json"))).rejects.toThrow();
  });

  it("--to a local folder, --no-compress, --no-originals, --release", async () => {
    const r = await run([
      "--source",
      "assets",
      "--to",
      join(dir, "elsewhere") + "/",
      "--no-compress",
      "--no-originals",
      "--release",
      "v1.2.3",
      "--json",
    ]);
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ release: "v1.2.3", bytesAfter: { br: 0, gzip: 0, zstd: 0 } });
    const stored: { originals?: string[]; files: Record<string, { encodings: object }> } = JSON.parse(
      await readFile(join(dir, "elsewhere/.storages/releases/v1.2.3.json"), "utf8"),
    );
    expect(stored.originals).toBeUndefined();
    // A local folder is a plain folder: no metadata records beside the files for nginx to serve.
    const { readdir } = await import("node:fs/promises");
    const names = await readdir(join(dir, "elsewhere"), { recursive: true });
    expect(names.filter((n) => n.includes(".~storages-meta"))).toEqual([]);
    expect(Object.values(stored.files).every((e) => Object.keys(e.encodings).length === 0)).toBe(true);
  });

  it("another run's lock on the target: waits, or with --lock-wait 0 fails (exit 1, E_ALREADY_EXISTS); --break-lock removes it", async () => {
    const lock = join(dir, "public/.storages/lock.json");
    await mkdir(join(dir, "public/.storages"), { recursive: true });
    const holder = {
      owner: "o",
      host: "ci-runner-3",
      pid: 77,
      startedAt: "2026-12-03T10:00:00Z",
      renewedAt: "2026-12-03T10:00:00Z",
    };
    await writeFile(lock, JSON.stringify(holder));
    const refused = await run(["--source", "assets", "--lock-wait", "0s", "--json"]);
    expect(refused.code).toBe(1);
    const report = JSON.parse(refused.stderr.trim().split("\n").at(-1)!);
    expect(report).toMatchObject({ error: { code: "E_ALREADY_EXISTS", retryable: true } });
    expect(report.error.message).toContain("pid 77 on ci-runner-3");
    await expect(readFile(join(dir, "public/staticfiles.json"))).rejects.toThrow();

    // Waiting: the note names the holder at once; the holder goes away (here: its file is removed).
    const waiting = run(["--source", "assets", "--lock-wait", "30s"]);
    await new Promise((r) => setTimeout(r, 1500));
    await rm(lock);
    const waited = await waiting;
    expect(waited.code).toBe(0);
    expect(waited.stderr).toContain("pid 77 on ci-runner-3");
    expect(waited.stderr).toContain("waiting for it");

    await writeFile(lock, JSON.stringify(holder));
    await writeFile(join(dir, "assets/img.png"), "png2");
    const broken = await run(["--source", "assets", "--lock-wait", "0", "--break-lock"]);
    expect(broken.code).toBe(0);
    await expect(readFile(lock)).rejects.toThrow();

    const bad = await run(["--source", "assets", "--lock-wait", "soon"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--lock-wait");
  });

  it("--encodings with --no-compress is exit 2, naming both, and publishes nothing", async () => {
    const r = await run(["--source", "assets", "--no-compress", "--encodings", "br"]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain("--encodings and --no-compress contradict each other");
    await expect(readFile(join(dir, "public", "staticfiles.json"))).rejects.toThrow("ENOENT");
  });

  it("without --source: a usage error that says what to give", async () => {
    const r = await run([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--source DIR");
    expect(r.stderr).toContain('"staticfiles"');
  });

  it('without --source: the folders the app\'s package.json declares in "staticfiles", in order', async () => {
    await writeFile(
      join(dir, "package.json"),
      JSON.stringify({ name: "app", staticfiles: ["assets", { dir: "vendor", prefix: "kit/" }] }),
    );
    const r = await run(["--json"]);
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ found: 3, copied: 3 });
    const manifest = JSON.parse(await readFile(join(dir, "staticfiles.json"), "utf8"));
    expect(Object.keys(manifest.files).sort()).toEqual(["css/app.css", "img.png", "kit/kit.js"]);
    // --source replaces the declaration (explicit flags win, as in every other option).
    const only = await run(["--source", "vendor", "--dry-run", "--json"]);
    expect(only.json()).toMatchObject({ found: 1 });
  });

  it('a malformed "staticfiles" in package.json: a configuration error naming the entry and the forms', async () => {
    await writeFile(join(dir, "package.json"), JSON.stringify({ staticfiles: ["assets", { folder: "x" }] }));
    const r = await run(["--json"]);
    expect(r.code).toBe(2);
    const { error } = JSON.parse(r.stderr);
    expect(error.code).toBe("E_CONFIG");
    expect(error.message).toContain('"staticfiles"[1]');
    expect(error.message).toContain('"DIR=PREFIX"');
    expect(r.stdout).not.toContain("published");
  });
});
