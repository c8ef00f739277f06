import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, realpath, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type ConfigWarning,
  checkOverlaps,
  createStorages,
  type LocatedStorage,
  type StorageLocation,
  type StorageOverlap,
} from "@storages/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mountFor, parseMountInfo, resolveExisting } from "../src/config/locations.js";
import { configError, stubPackages } from "./config-helpers.js";

let dir: string;
beforeEach(async () => {
  dir = await realpath(await mkdtemp(join(tmpdir(), "storages-layout-")));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function registry(env: Record<string, string>, extra: { mountInfo?: string; cwd?: string } = {}) {
  const warnings: ConfigWarning[] = [];
  const reg = createStorages({
    cwd: extra.cwd ?? dir,
    env,
    configFile: false,
    mountInfo: extra.mountInfo ?? "",
    importPackage: stubPackages().importPackage,
    onWarning: (w) => warnings.push(w),
  });
  return { reg, warnings };
}

const bucket = (name: string, prefix = "", extra: Partial<Record<"service" | "namespace", string>> = {}) =>
  ({ kind: "bucket", service: "s3", namespace: "aws", bucket: name, prefix, ...extra }) as const;

function located(name: string, location: StorageLocation, allowOverlap = false): LocatedStorage {
  return { name, source: `STORAGES_${name.toUpperCase()}`, location, allowOverlap };
}

describe("overlap rules between buckets and containers (backend-agnostic)", () => {
  it("refuses staticfiles and media in the same bucket with the same or nested prefixes", () => {
    expect(() =>
      checkOverlaps([
        located("staticfiles", bucket("app", "static/")),
        located("default", bucket("app", "static/")),
      ]),
    ).toThrow(
      'STORAGES_STATICFILES and STORAGES_DEFAULT point to the same location (s3 bucket "app" prefix "static/"): ' +
        "publishing static files would overwrite or delete uploads, and uploads would be served as static assets. " +
        "Give staticfiles and every other storage separate locations (e.g. …/static and …/media side by side).",
    );
    expect(() =>
      checkOverlaps([located("staticfiles", bucket("app")), located("default", bucket("app", "media/"))]),
    ).toThrow(/point to nested locations \(s3 bucket "app" prefix "" and s3 bucket "app" prefix "media\/"\)/);
    expect(() =>
      checkOverlaps([
        located("staticfiles", bucket("site", "a/b/c/")),
        located("default", bucket("site", "a/")),
      ]),
    ).toThrow(/nested/);
  });

  it("messages use the backend's own description of the location when there is one", () => {
    const a = { ...located("staticfiles", bucket("web", "static/")), display: "azure://acct/web/static/" };
    const b = { ...located("default", bucket("web")), display: "azure://acct/web/" };
    expect(() => checkOverlaps([a, b])).toThrow(
      /nested locations \(azure:\/\/acct\/web\/static\/ and azure:\/\/acct\/web\/\)/,
    );
  });

  it("accepts siblings, prefixes that only share characters, other buckets, namespaces and services", () => {
    const ok: Array<[StorageLocation, StorageLocation]> = [
      [bucket("app", "static/"), bucket("app", "media/")],
      [bucket("app", "media/"), bucket("app", "media2/")],
      [bucket("app-static"), bucket("app-media")],
      [bucket("app", "", { namespace: "http://127.0.0.1:7480" }), bucket("app")],
      [bucket("app"), bucket("app", "", { service: "gs" })],
      [{ kind: "isolated" }, { kind: "isolated" }],
      [{ kind: "dir", path: "/srv/static" }, bucket("srv", "static/")],
    ];
    for (const [a, b] of ok) {
      expect(
        () => checkOverlaps([located("staticfiles", a), located("default", b)]),
        `${JSON.stringify(a)} vs ${JSON.stringify(b)}`,
      ).not.toThrow();
    }
  });

  it("between two non-static storages: refused (a private file would be reachable publicly) unless allowOverlap", () => {
    expect(() =>
      checkOverlaps([located("default", bucket("app")), located("private", bucket("app", "private/"))]),
    ).toThrow(
      'STORAGES_DEFAULT and STORAGES_PRIVATE point to nested locations (s3 bucket "app" prefix "" and s3 bucket ' +
        '"app" prefix "private/"): files of one are reachable through the other (a private file could be served by ' +
        "a public URL), and cleaning one deletes the other's files. Give each its own directory or prefix, side by " +
        "side, or set allowOverlap=true on one of them if sharing is intended.",
    );
    expect(() =>
      checkOverlaps([located("default", bucket("app")), located("private", bucket("app", "private/"), true)]),
    ).not.toThrow();
    // allowOverlap never excuses staticfiles.
    expect(() =>
      checkOverlaps([located("staticfiles", bucket("app")), located("default", bucket("app", "m/"), true)]),
    ).toThrow();
  });

  it("allowOverlap never lets a private storage share a public one's location: the public URL would serve it", () => {
    const withVisibility = (l: LocatedStorage, visibility: "public" | "private") => ({ ...l, visibility });
    const media = withVisibility(located("default", { kind: "dir", path: "/srv/media" }), "public");
    const inside = (visibility: "public" | "private") =>
      withVisibility(located("private", { kind: "dir", path: "/srv/media/priv" }, true), visibility);
    expect(() => checkOverlaps([media, inside("private")])).toThrow(
      "STORAGES_DEFAULT and STORAGES_PRIVATE point to nested locations (/srv/media and /srv/media/priv): the public " +
        "one would serve the private one's files under its URL, to anyone. Give them separate locations side by side " +
        "(allowOverlap never applies between a public and a private storage).",
    );
    expect(() => checkOverlaps([media, inside("public")])).not.toThrow();
  });

  it("lists every overlapping pair in one error", () => {
    expect(() =>
      checkOverlaps([
        located("staticfiles", bucket("app")),
        located("default", bucket("app", "m/")),
        located("private", bucket("app", "m/p/")),
      ]),
    ).toThrow(
      /^Storage locations overlap:\n- STORAGES_STATICFILES and STORAGES_DEFAULT .*\n- STORAGES_STATICFILES and STORAGES_PRIVATE .*\n- STORAGES_DEFAULT and STORAGES_PRIVATE /,
    );
  });

  it("the registry compares what each backend's location() says, so third-party backends are covered too", async () => {
    const { reg } = registry({
      STORAGES_STATICFILES: "s3://app/static?endpoint=http://127.0.0.1:7480",
      STORAGES_DEFAULT: "s3://App/static/uploads?endpoint=HTTP://127.0.0.1:7480/",
    });
    expect((await configError(reg.load())).message).toMatch(
      /^STORAGES_DEFAULT and STORAGES_STATICFILES point to nested locations \(s3:\/\/App\/static\/uploads\/ and s3:\/\/app\/static\/\)/,
    );
    const other = registry({
      STORAGES_STATICFILES: "s3://app/static?endpoint=http://127.0.0.1:7480",
      STORAGES_DEFAULT: "s3://app/static?endpoint=http://127.0.0.1:9000",
    });
    await expect(other.reg.load()).resolves.toBe(other.reg);
  });
});

describe("onOverlap: overlaps reported, not thrown (deployment checks)", () => {
  it("hands every overlapping pair to onOverlap and loads the storages anyway", async () => {
    const overlaps: StorageOverlap[] = [];
    const reg = createStorages({
      cwd: dir,
      env: { STORAGES_STATICFILES: `file://${dir}/www`, STORAGES_DEFAULT: `file://${dir}/www/media` },
      configFile: false,
      mountInfo: "",
      onWarning: () => {},
      onOverlap: (o) => overlaps.push(o),
    });
    await expect(reg.load()).resolves.toBe(reg);
    expect(overlaps).toEqual([
      expect.objectContaining({ storages: ["default", "staticfiles"], kind: "nested", involvesStatic: true }),
    ]);
    expect((await reg.describe()).map((d) => d.name)).toEqual(["default", "staticfiles"]);
  });
});

describe("STORAGES_CHECK_IGNORE", () => {
  it("is a global variable (for storages check), not a stray storage variable", async () => {
    const { reg, warnings } = registry({
      STORAGES_DEFAULT: `file://${dir}/media`,
      STORAGES_CHECK_IGNORE: "media-without-backup",
    });
    await reg.load();
    expect(warnings.filter((w) => w.code === "W_UNKNOWN_VARIABLE")).toEqual([]);
    expect(await reg.names()).toEqual(["default"]);
  });
});

describe("overlap rules between directories (through the registry)", () => {
  it("refuses the same directory and nested directories", async () => {
    const same = registry({
      STORAGES_STATICFILES: `file://${dir}/public`,
      STORAGES_DEFAULT: `file://${dir}/public/`,
    });
    expect((await configError(same.reg.load())).message).toBe(
      `STORAGES_DEFAULT and STORAGES_STATICFILES point to the same location (${dir}/public): publishing static files ` +
        "would overwrite or delete uploads, and uploads would be served as static assets. Give staticfiles and every " +
        "other storage separate locations (e.g. …/static and …/media side by side).",
    );
    const nested = registry({
      STORAGES_STATICFILES: `file://${dir}/public`,
      STORAGES_DEFAULT: `file://${dir}/public/media`,
    });
    expect((await configError(nested.reg.load())).message).toMatch(
      new RegExp(`point to nested locations \\(${dir}/public/media and ${dir}/public\\)`),
    );
    const dotdot = registry({
      STORAGES_STATICFILES: `file://${dir}/public`,
      STORAGES_DEFAULT: `file://${dir}/x/../public/m`,
    });
    expect((await configError(dotdot.reg.load())).message).toMatch(/nested locations/);
  });

  it("sees through symlinks, and creates nothing while checking", async () => {
    await mkdir(join(dir, "real/static"), { recursive: true });
    await symlink(join(dir, "real"), join(dir, "link"));
    const { reg } = registry({
      STORAGES_STATICFILES: `file://${dir}/real/static`,
      STORAGES_DEFAULT: `file://${dir}/link/static/uploads/2024`,
    });
    expect((await configError(reg.load())).message).toMatch(
      new RegExp(`nested locations \\(${dir}/real/static/uploads/2024 and ${dir}/real/static\\)`),
    );
    expect(await readdir(join(dir, "real/static"))).toEqual([]);
    const ok = registry({
      STORAGES_STATICFILES: `file://${dir}/real/static`,
      STORAGES_DEFAULT: `file://${dir}/link/media`,
    });
    await ok.reg.load();
    expect(existsSync(join(dir, "real/media"))).toBe(false);
  });

  it("accepts side-by-side directories and names that only share a prefix", async () => {
    const { reg } = registry({
      STORAGES_STATICFILES: `file://${dir}/static`,
      STORAGES_DEFAULT: `file://${dir}/static-media`,
      STORAGES_PRIVATE: `file://${dir}/private`,
    });
    await expect(reg.load()).resolves.toBe(reg);
  });
});

describe("warnings for media that a deploy or restart would lose", () => {
  it("inside a Capistrano/Deployer release directory", async () => {
    const media = `${dir}/app/releases/20240601120000/public/media`;
    const { reg, warnings } = registry({ STORAGES_DEFAULT: `file://${media}` }, { cwd: "/" });
    await reg.load();
    expect(warnings).toEqual([
      {
        code: "W_RELEASE_DIR",
        storage: "default",
        source: "STORAGES_DEFAULT",
        message:
          `STORAGES_DEFAULT points inside a release directory (${media}): the next deploy starts from a fresh ` +
          "release and release cleanup deletes this one with its uploads. Point it at the shared directory " +
          "(e.g. /var/www/app/shared/media) instead.",
      },
    ]);
  });

  it("inside the application's working directory (remote mode only)", async () => {
    const app = join(dir, "app");
    await mkdir(app);
    const { reg, warnings } = registry({ STORAGES_DEFAULT: `file://${app}/uploads` }, { cwd: app });
    await reg.load();
    expect(warnings.map((w) => w.code)).toEqual(["W_APP_DIR"]);
    expect(warnings[0]!.message).toBe(
      `STORAGES_DEFAULT points inside the application directory (${app}): a redeploy or a fresh checkout replaces ` +
        "it, and the app's own files sit next to user uploads. Use a directory outside it (e.g. /var/lib/<app>/media).",
    );
    const local = registry({ STORAGES_MODE: "local" }, { cwd: app });
    await local.reg.load();
    expect(local.warnings).toEqual([]);
  });

  it("on a container's overlay root without a volume", async () => {
    const mountInfo = [
      "540 480 0:52 / / rw,relatime master:244 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/X,upperdir=/u,workdir=/w",
      "541 540 0:55 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw",
      `560 540 8:1 /volumes/media ${dir}/with\\040volume rw,relatime - ext4 /dev/sda1 rw`,
    ].join("\n");
    const { reg, warnings } = registry(
      {
        STORAGES_DEFAULT: `file://${dir}/no-volume`,
        STORAGES_PRIVATE: `file://${dir}/with%20volume/private`,
      },
      { mountInfo, cwd: "/" },
    );
    await reg.load();
    expect(warnings).toEqual([
      expect.objectContaining({
        code: "W_EPHEMERAL_FS",
        storage: "default",
        message:
          `STORAGES_DEFAULT (${dir}/no-volume) is on the container's own filesystem, which is discarded when the ` +
          "container is replaced: mount a volume at that directory, or use a bucket.",
      }),
    ]);
  });

  it("static files and read-only storages draw none (they are rebuilt on deploy)", async () => {
    const { reg, warnings } = registry(
      {
        STORAGES_STATICFILES: `file://${dir}/releases/1/static`,
        STORAGES_ARCHIVE: `file://${dir}/releases/1/archive?readOnly=true`,
      },
      { mountInfo: "1 0 0:1 / / rw - overlay overlay rw", cwd: dir },
    );
    await reg.load();
    expect(warnings).toEqual([]);
  });

  it("go to console.warn by default", async () => {
    const original = console.warn;
    const seen: unknown[] = [];
    console.warn = (...args: unknown[]) => seen.push(args.join(" "));
    try {
      await createStorages({
        cwd: "/",
        env: { STORAGES_DEFAULT: `file://${dir}/releases/7/media` },
        configFile: false,
        mountInfo: "",
        importPackage: stubPackages().importPackage,
      }).load();
    } finally {
      console.warn = original;
    }
    expect(seen).toEqual([
      expect.stringMatching(/^\[storages\] STORAGES_DEFAULT points inside a release directory/),
    ]);
  });
});

describe("helpers", () => {
  it("resolveExisting follows the deepest existing ancestor", async () => {
    await mkdir(join(dir, "a"));
    await symlink(join(dir, "a"), join(dir, "b"));
    expect(await resolveExisting(join(dir, "b/c/d"))).toBe(join(dir, "a/c/d"));
    expect(existsSync(join(dir, "a/c"))).toBe(false);
  });

  it("parseMountInfo unescapes mount points; mountFor picks the deepest", () => {
    const mounts = parseMountInfo(
      "1 0 0:1 / / rw - overlay overlay rw\n2 1 8:1 / /srv/my\\040data rw - ext4 /dev/sda1 rw\n",
    );
    expect(mounts).toEqual([
      { mountPoint: "/", fsType: "overlay" },
      { mountPoint: "/srv/my data", fsType: "ext4" },
    ]);
    expect(mountFor("/srv/my data/media", mounts)?.fsType).toBe("ext4");
    expect(mountFor("/srv/my", mounts)?.fsType).toBe("overlay");
  });
});
