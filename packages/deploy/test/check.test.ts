/**
 * `checkDeployment` against misconfigurations built for real: directories, a symlinked `current`
 * release, the app's own folder, a tmpfs mount (or a mountinfo fixture where mounting is not
 * allowed), permissions checked as a real non-root user, URL prefixes and the static manifest.
 * Each catches its problem; the correct setup passes. No network (network: false; once a loopback
 * port nobody listens on): the bucket and URL checks have their own suites against real servers.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import {
  chmod,
  chown,
  mkdir,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import { userInfo } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { type CheckOptions, checkDeployment, type FindingId } from "../src/index.js";
import { freePort, makeSite, publishStatic, type Site } from "./support/site.js";

let site: Site;
beforeEach(async () => {
  site = await makeSite();
});
afterEach(async () => {
  await site.cleanup();
});

const OVERLAY_ROOT = [
  "1200 1100 0:50 / / rw,relatime master:1 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/A,upperdir=/var/lib/docker/overlay2/x/diff",
  "1201 1200 0:52 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw",
  "1210 1200 254:1 /volumes/app-media/_data /srv/volume rw,relatime - ext4 /dev/vda1 rw",
].join("\n");

async function check(env: Record<string, string>, extra: Partial<CheckOptions> = {}) {
  return checkDeployment({ env, cwd: site.root, configFile: false, network: false, mountInfo: "", ...extra });
}

/** A storage URL for a folder whatever its name holds (a space, a quote). */
function fileUrl(dir: string, query: string): string {
  return `${pathToFileURL(dir).href}?${query}`;
}

/** The one command a fix prints (between backticks), as a person would paste it. */
function command(fix: string): string {
  const commands = [...fix.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
  expect(commands).toHaveLength(1);
  return commands[0]!;
}

function ids(report: { findings: { id: FindingId }[] }): FindingId[] {
  return report.findings.map((f) => f.id).sort();
}

describe("storages check: layout and filesystem", () => {
  it("passes a correct setup (static and media side by side, backed up, manifest complete)", async () => {
    const report = await check(site.env);
    expect(report.findings).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it("catches static and media overlapping", async () => {
    const report = await check({
      ...site.env,
      STORAGES_DEFAULT: `file://${site.staticDir}/uploads?publicUrl=/media/`,
    });
    expect(ids(report)).toContain("static-media-overlap");
    expect(report.ok).toBe(false);
  });

  it("catches media inside a release directory reached through a symlinked current", async () => {
    const release = join(site.root, "releases", "20261201T1040");
    await mkdir(join(release, "media"), { recursive: true });
    await writeFile(join(site.root, ".storages-backup"), "");
    await symlink(release, join(site.root, "current"));
    const report = await check({
      ...site.env,
      STORAGES_DEFAULT: `file://${site.root}/current/media?publicUrl=/media/`,
    });
    expect(ids(report)).toEqual(["media-in-release-dir"]);
    expect(report.findings[0]!.message).toContain("releases/20261201T1040/media");
  });

  it("catches media inside the application's code (the folder with its package.json)", async () => {
    const app = join(site.root, "app");
    await mkdir(join(app, "src", "lib"), { recursive: true });
    await writeFile(join(app, "package.json"), "{}");
    await mkdir(join(app, "uploads"));
    await writeFile(join(app, ".storages-backup"), "");
    const env = { ...site.env, STORAGES_DEFAULT: `file://${app}/uploads?publicUrl=/media/` };
    // Run from a subfolder: the app directory is found upwards.
    const report = await check(env, { cwd: join(app, "src", "lib") });
    expect(ids(report)).toEqual(["media-in-app-dir"]);
    expect(
      (await check(env, { cwd: join(app, "src"), appDir: join(site.root, "elsewhere") })).findings,
    ).toEqual([]);
  });

  it("catches media on a container's overlay root (mountinfo fixture) and not on a volume", async () => {
    const report = await check(site.env, { mountInfo: OVERLAY_ROOT });
    expect(ids(report)).toEqual(["media-on-ephemeral-fs", "media-on-ephemeral-fs"]);
    expect(report.notes).toContain("ephemeral filesystems: checked against the given mountinfo");
    const onVolume = OVERLAY_ROOT.replace("/srv/volume", site.shared);
    expect((await check(site.env, { mountInfo: onVolume })).findings).toEqual([]);
  });

  describe("a real tmpfs mount (root only)", () => {
    const isRoot = process.getuid?.() === 0;
    let mounted: string | undefined;
    afterAll(() => {
      if (mounted) execFileSync("umount", [mounted]);
    });
    it("catches media on a tmpfs, read from this machine's /proc/self/mountinfo", async () => {
      const dir = join(site.root, "tmpfs-media");
      await mkdir(dir);
      let how = "fixture";
      if (isRoot) {
        try {
          execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir]);
          mounted = dir;
          how = "mount";
        } catch {
          // No CAP_SYS_ADMIN (an unprivileged container): the fixture below stands in.
        }
      }
      console.log(`tmpfs check ran with ${how === "mount" ? "a real tmpfs mount" : "a mountinfo fixture"}`);
      const env = { ...site.env, STORAGES_DEFAULT: `file://${dir}?publicUrl=/media/` };
      const report =
        how === "mount"
          ? await check(env, { mountInfo: undefined })
          : await check(env, {
              mountInfo: `1 0 0:1 / / rw - ext4 /dev/vda rw\n2 1 0:2 / ${dir} rw - tmpfs tmpfs rw`,
            });
      expect(ids(report)).toContain("media-on-ephemeral-fs");
      expect(report.findings.find((f) => f.id === "media-on-ephemeral-fs")!.message).toContain("tmpfs");
      if (mounted) {
        execFileSync("umount", [mounted]);
        mounted = undefined;
        expect(ids(await check(env, { mountInfo: undefined }))).not.toContain("media-on-ephemeral-fs");
      }
    });
  });

  it("catches a symlink in media that leads out of it (Caddy would serve its target), not one that stays inside", async () => {
    await mkdir(join(site.mediaDir, "sub"), { recursive: true });
    await symlink(join(site.mediaDir, "sub"), join(site.mediaDir, "inside"));
    expect(ids(await check(site.env))).toEqual([]);
    await symlink("/etc/passwd", join(site.mediaDir, "sub", "avatar.png"));
    const report = await check(site.env);
    expect(ids(report)).toEqual(["media-symlink-out"]);
    expect(report.findings[0]!.message).toContain(
      `${join(site.mediaDir, "sub", "avatar.png")} -> /etc/passwd`,
    );
  });

  // Opening a FIFO for reading waits for a writer: a check that read it would never finish.
  it("a backup marker that is a FIFO (or a link to one) is a warning that it declares nothing, and the check finishes", async () => {
    const marker = join(site.shared, ".storages-backup");
    await rm(marker);
    execFileSync("mkfifo", [marker]);
    const report = await check(site.env);
    expect(ids(report)).toEqual(["media-without-backup", "media-without-backup"]);
    expect(report.findings[0]!.message).toBe(
      `${marker} is a FIFO (named pipe), not a file: it declares no backup of ${site.mediaDir} (and was not read).`,
    );
    expect(report.notes.some((n) => n.startsWith("backup of"))).toBe(false);
    // The nearest marker counts: a link to the FIFO in the media folder itself is read no more.
    await rm(marker);
    await writeFile(marker, "restic, nightly\n");
    execFileSync("mkfifo", [join(site.mediaDir, "pipe")]);
    await symlink("pipe", join(site.mediaDir, ".storages-backup"));
    const linked = await check(site.env);
    expect(linked.findings.map((f) => [f.id, f.storage])).toEqual([["media-without-backup", "default"]]);
    expect(linked.findings[0]!.message).toContain("is a FIFO (named pipe), not a file");
    expect(linked.notes).toContain(`backup of private: declared by ${marker} (restic, nightly)`);
  });

  it("warns about media without a declared backup, and --ignore / STORAGES_CHECK_IGNORE silence it", async () => {
    await rm(join(site.shared, ".storages-backup"));
    const report = await check(site.env);
    expect(ids(report)).toEqual(["media-without-backup", "media-without-backup"]);
    expect(report.ok).toBe(true); // a warning
    const ignored = await check(site.env, { ignore: ["media-without-backup"] });
    expect(ignored.findings).toEqual([]);
    expect(ignored.ignored).toHaveLength(2);
    const fromEnv = await check({ ...site.env, STORAGES_CHECK_IGNORE: "media-without-backup" });
    expect(fromEnv.findings).toEqual([]);
    await expect(check(site.env, { ignore: ["media-without-backups"] })).rejects.toMatchObject({
      code: "E_INVALID_ARGUMENT",
    });
  });

  it("reports a broken configuration as a finding, not a crash", async () => {
    const report = await check({ STORAGES_DEFAULT: "file://relative/path" });
    expect(ids(report)).toEqual(["config-invalid"]);
    expect(report.ok).toBe(false);
  });
});

describe("storages check: URL prefixes", () => {
  it("fails when nothing is configured (a forgotten --env-file), and for media kept in memory", async () => {
    const none = await check({});
    expect(ids(none)).toEqual(["no-storages"]);
    expect(none.ok).toBe(false);
    const memory = await check({ ...site.env, STORAGES_DEFAULT: "memory://" });
    expect(ids(memory)).toContain("media-in-memory");
  });

  it("refuses a base URL with credentials, without repeating them", async () => {
    const error = await check(site.env, { baseUrl: "http://user:LEAKPW@127.0.0.1:1/" }).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: "E_INVALID_ARGUMENT" });
    expect((error as Error).message).not.toContain("LEAKPW");
  });

  it("catches a prefix without its trailing slash", async () => {
    const report = await check({
      ...site.env,
      STORAGES_STATICFILES: `file://${site.staticDir}?publicUrl=/static`,
    });
    expect(ids(report)).toEqual(["url-prefix-no-trailing-slash"]);
  });
  it("catches equal prefixes", async () => {
    const report = await check({
      ...site.env,
      STORAGES_DEFAULT: `file://${site.mediaDir}?publicUrl=/static/`,
    });
    expect(ids(report)).toEqual(["url-prefixes-equal"]);
  });
  it("catches nested prefixes, on the same origin only", async () => {
    const nested = await check({
      ...site.env,
      STORAGES_DEFAULT: `file://${site.mediaDir}?publicUrl=/static/media/`,
    });
    expect(ids(nested)).toEqual(["url-prefixes-nested"]);
    const cdn = await check({
      ...site.env,
      STORAGES_STATICFILES: `file://${site.staticDir}?publicUrl=https://cdn.example.com/`,
      STORAGES_DEFAULT: `file://${site.mediaDir}?publicUrl=https://www.example.com/media/`,
    });
    expect(cdn.findings).toEqual([]);
  });
});

describe("storages check: the static manifest", () => {
  it("catches a missing manifest", async () => {
    await rm(join(site.staticDir, "staticfiles.json"));
    expect(ids(await check(site.env))).toEqual(["manifest-missing"]);
  });
  it("a static folder not there yet has no manifest, and the check does not create it", async () => {
    const notYet = join(site.shared, "static-next");
    const report = await check({ ...site.env, STORAGES_STATICFILES: `file://${notYet}?publicUrl=/static/` });
    expect(ids(report)).toEqual(["manifest-missing"]);
    // Made by a root check, it would belong to root, and the deploy user's collectstatic would fail.
    expect(existsSync(notYet)).toBe(false);
  });

  it("a static storage that cannot be read (a file where its folder should be) is an error, not a note", async () => {
    const file = join(site.shared, "static.tar");
    await writeFile(file, "");
    const report = await check({ ...site.env, STORAGES_STATICFILES: `file://${file}?publicUrl=/static/` });
    expect(ids(report)).toEqual(["manifest-unreadable"]);
    expect(report.ok).toBe(false);
  });

  it("a corrupt or foreign manifest is an error, not a note", async () => {
    for (const text of ["{not json", "[]", "null", '{"paths":{}}']) {
      await writeFile(join(site.staticDir, "staticfiles.json"), text);
      const report = await check(site.env);
      expect(ids(report), text).toEqual(["manifest-invalid"]);
      expect(report.ok).toBe(false);
    }
  });

  it("offline, a manifest in a bucket is not read (no request leaves the machine)", async () => {
    const env = {
      ...site.env,
      STORAGES_STATICFILES:
        "s3://static-bucket/?endpoint=http://127.0.0.1:1&region=us-east-1&publicUrl=/static/",
    };
    const report = await check(env);
    expect(report.notes).toContain(
      "static manifest: not checked (network off, and the static storage is not a local folder)",
    );
  });

  it("catches a manifest naming files (or precompressed variants) that are not there", async () => {
    await rm(join(site.staticDir, `${site.hashedCss}.br`));
    const report = await check(site.env);
    expect(ids(report)).toEqual(["manifest-files-missing"]);
    expect(report.findings[0]!.message).toContain(`${site.hashedCss}.br`);
  });

  it("a collectstatic lock on the static storage (a run publishing, or a killed one's): a warning naming its holder", async () => {
    await mkdir(join(site.staticDir, ".storages"), { recursive: true });
    const lock = join(site.staticDir, ".storages", "lock.json");
    const holder = {
      owner: "o",
      host: "deploy-2",
      pid: 31,
      startedAt: "2026-12-03T10:00:00Z",
      renewedAt: "2026-12-03T10:00:30Z",
    };
    await writeFile(lock, JSON.stringify(holder));
    try {
      const report = await check(site.env);
      expect(ids(report)).toEqual(["collectstatic-running"]);
      expect(report.findings[0]!.severity).toBe("warning");
      expect(report.findings[0]!.message).toContain("pid 31 on deploy-2");
      expect(report.findings[0]!.fix).toContain("--break-lock");
    } finally {
      await rm(lock);
    }
  });

  it("a first deploy's collectstatic still running: its lock is reported beside the missing manifest", async () => {
    await rm(join(site.staticDir, "staticfiles.json"));
    await mkdir(join(site.staticDir, ".storages"), { recursive: true });
    const lock = join(site.staticDir, ".storages", "lock.json");
    await writeFile(
      lock,
      JSON.stringify({ owner: "o", host: "deploy-2", pid: 31, startedAt: "t", renewedAt: "t" }),
    );
    try {
      expect(ids(await check(site.env)).sort()).toEqual(["collectstatic-running", "manifest-missing"]);
    } finally {
      await rm(lock);
    }
  });

  it("catches a kept release (the rollback target) whose files cleanup deleted", async () => {
    const first = JSON.parse(await readFile(join(site.staticDir, "staticfiles.json"), "utf8"));
    await writeFile(join(site.root, "app-static", "css", "app.css"), "body { color: #654321; }\n");
    await publishStatic(site.root);
    expect((await check(site.env)).findings).toEqual([]);
    // A cleanup by hand (by age, by pattern) deletes the previous release's stylesheet.
    await rm(join(site.staticDir, first.files["css/app.css"].name));
    const report = await check(site.env);
    expect(ids(report)).toEqual(["manifest-files-missing"]);
    expect(report.findings[0]!.message).toContain(
      `The manifest of kept release ${first.release} names 1 file(s)`,
    );
    expect(report.findings[0]!.fix).toContain("A rollback to that release would 404");
  });
});

describe("storages check --as-user: permissions as the app's user", () => {
  const isRoot = process.getuid?.() === 0;
  const user = isRoot ? `stcheck${process.pid}` : userInfo().username;
  let uid = process.getuid?.() ?? 0;
  let gid = process.getgid?.() ?? 0;

  beforeEach(() => {
    if (!isRoot) return;
    execFileSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user]);
    uid = Number(execFileSync("id", ["-u", user]).toString());
    gid = Number(execFileSync("id", ["-g", user]).toString());
  });
  afterEach(() => {
    if (isRoot) execFileSync("userdel", [user]);
  });

  /** As deployed right: static owned by the deploy user (root here) and read-only to others; media the app's. */
  async function deployRight() {
    await chmod(site.staticDir, 0o755);
    for (const d of [site.mediaDir, site.privateDir]) {
      if (isRoot) await chown(d, uid, gid);
      await chmod(d, 0o755);
    }
  }

  it("passes when static is read-only and media writable for the user", async () => {
    await deployRight();
    const report = await check(site.env, { asUser: user });
    expect(report.findings).toEqual([]);
    expect(report.notes.some((n) => n.startsWith(`permissions: checked as user ${user}`))).toBe(true);
  });

  it("catches static files the user can write, and media it cannot", async () => {
    await deployRight();
    if (isRoot) {
      await chown(join(site.staticDir, site.hashedCss), uid, gid);
      await chown(site.mediaDir, 0, 0);
    } else {
      await chmod(join(site.staticDir, site.hashedCss), 0o666);
      await chmod(site.mediaDir, 0o555);
    }
    const report = await check(site.env, { asUser: user });
    expect(ids(report)).toEqual(["media-not-writable", "static-writable"]);
    expect(report.findings.find((f) => f.id === "static-writable")!.message).toContain(site.hashedCss);
    if (!isRoot) await chmod(site.mediaDir, 0o755);
  });

  it("catches a static folder the user can write, though every file in it is read-only (rename replaces them)", async () => {
    await deployRight();
    const sub = join(site.staticDir, "css");
    if (isRoot) await chown(sub, uid, gid);
    else await chmod(sub, 0o777);
    const report = await check(site.env, { asUser: user });
    expect(ids(report)).toEqual(["static-writable"]);
    expect(report.findings[0]!.message).toContain(`${sub} (and so replace the files in them)`);
    if (!isRoot) await chmod(sub, 0o755);
  });

  // Both need two users: the files' owner must not be the one the fixture's folders belong to.
  it.runIf(isRoot)(
    "catches static files the user owns though no one may write them (an owner may chmod them back)",
    async () => {
      await deployRight();
      const files = [site.staticDir, join(site.staticDir, "css"), join(site.staticDir, site.hashedCss)];
      for (const p of files) await chown(p, uid, gid);
      await chmod(join(site.staticDir, site.hashedCss), 0o444);
      await chmod(join(site.staticDir, "css"), 0o555);
      await chmod(site.staticDir, 0o555);
      try {
        const report = await check(site.env, { asUser: user });
        expect(ids(report)).toEqual(["static-writable"]);
      } finally {
        await chmod(site.staticDir, 0o755);
      }
    },
  );

  it.runIf(isRoot)(
    "catches a static folder the user can swap out: it may write the folder above it",
    async () => {
      await deployRight();
      await chown(site.shared, uid, gid);
      const report = await check(site.env, { asUser: user });
      expect(ids(report)).toEqual(["static-writable"]);
      expect(report.findings[0]!.message).toContain(`${site.shared}, above ${site.staticDir}`);
      expect(report.findings[0]!.fix).toContain(`chmod go-w '${site.shared}'`);
    },
  );

  it.runIf(isRoot)(
    "passes static files the user owns on a read-only mount (a volume mounted :ro into the app), even below a folder it owns",
    async (context) => {
      await deployRight();
      for (const p of [
        site.shared,
        site.staticDir,
        join(site.staticDir, "css"),
        join(site.staticDir, site.hashedCss),
      ])
        await chown(p, uid, gid);
      try {
        execFileSync("mount", ["--bind", site.staticDir, site.staticDir]);
      } catch {
        context.skip(); // no CAP_SYS_ADMIN (an unprivileged container)
      }
      try {
        execFileSync("mount", ["-o", "remount,bind,ro", site.staticDir]);
        expect(ids(await check(site.env, { asUser: user }))).toEqual([]);
      } finally {
        execFileSync("umount", [site.staticDir]);
      }
    },
  );

  it("says a media folder the user cannot reach is unreachable, not missing", async () => {
    await deployRight();
    const parent = dirname(site.mediaDir);
    await chmod(parent, isRoot ? 0o700 : 0o000); // root's own: the app's user may not enter it
    try {
      const report = await check(site.env, { asUser: user });
      const media = report.findings.find((f) => f.id === "media-not-writable" && f.storage === "default");
      expect(media?.message).toMatch(/cannot reach .*EACCES/);
      expect(media?.fix).toContain("parent");
    } finally {
      await chmod(parent, 0o755);
    }
  });

  it("without --as-user, even as root, a media folder that does not exist is an error (a volume not mounted)", async () => {
    await deployRight();
    const missing = join(site.shared, "volume", "media");
    const report = await check({ ...site.env, STORAGES_DEFAULT: `file://${missing}?publicUrl=/media/` });
    const media = report.findings.find((f) => f.id === "media-not-writable");
    expect(media?.message).toContain(`${missing} does not exist`);
    expect(report.ok).toBe(false);
  });

  it("without --as-user, even as root, a file where the media folder should be is an error", async () => {
    const file = join(site.shared, "media.tar");
    await writeFile(file, "");
    const report = await check({ ...site.env, STORAGES_DEFAULT: `file://${file}?publicUrl=/media/` });
    const media = report.findings.find((f) => f.id === "media-not-writable");
    expect(media?.message).toContain(`${file} is not a folder`);
    expect(report.ok).toBe(false);
  });

  // A folder named with a space and a quote: pasted unquoted, `install -d … /srv/it's media` opens
  // a quote the shell never closes (or, before a later quote, makes other folders).
  it("prints a media fix that, pasted into sh, creates exactly the folder named with a space and a quote", async () => {
    await deployRight();
    const missing = join(site.shared, "it's my media");
    const report = await check(
      { ...site.env, STORAGES_DEFAULT: fileUrl(missing, "publicUrl=/media/") },
      { asUser: user },
    );
    const media = report.findings.find((f) => f.id === "media-not-writable" && f.storage === "default");
    const before = await readdir(site.shared);
    execFileSync("sh", ["-c", command(media!.fix)]);
    expect((await readdir(site.shared)).sort()).toEqual([...before, "it's my media"].sort());
    expect((await stat(missing)).uid).toBe(uid);
  });

  it.runIf(isRoot)(
    "prints a static fix that, pasted into sh (as the deploy user root), leaves the static folder named with a space and a quote read-only to the app",
    async () => {
      await deployRight();
      const tricky = join(site.shared, "it's static");
      await rename(site.staticDir, tricky);
      await chown(tricky, uid, gid);
      const env = { ...site.env, STORAGES_STATICFILES: fileUrl(tricky, "publicUrl=/static/") };
      const report = await check(env, { asUser: user });
      expect(ids(report)).toEqual(["static-writable"]);
      execFileSync("sh", ["-c", command(report.findings[0]!.fix).replace("deploy:", "root:")]);
      expect(ids(await check(env, { asUser: user }))).toEqual([]);
    },
  );

  it("refuses a user that does not exist", async () => {
    await expect(check(site.env, { asUser: "no-such-user-storages" })).rejects.toMatchObject({
      code: "E_INVALID_ARGUMENT",
    });
  });
});

describe("storages check: commands in fixes", () => {
  it("a symlink out of a media folder named with a space and a quote: the printed find lists it", async () => {
    const tricky = join(site.shared, "it's my media");
    await rename(site.mediaDir, tricky);
    await symlink(join(site.shared, "secret.txt"), join(tricky, "leak.txt"));
    const report = await check({ ...site.env, STORAGES_DEFAULT: fileUrl(tricky, "publicUrl=/media/") });
    const links = report.findings.find((f) => f.id === "media-symlink-out");
    const listed = execFileSync("sh", ["-c", command(links!.fix)]).toString();
    expect(listed).toBe(`${join(tricky, "leak.txt")}\n`);
  });

  it("the backup declaration's command writes the marker in a media folder named with a space and a quote", async () => {
    await rm(join(site.shared, ".storages-backup"));
    const tricky = join(site.shared, "it's my media");
    await rename(site.mediaDir, tricky);
    const report = await check({ STORAGES_DEFAULT: fileUrl(tricky, "publicUrl=/media/") });
    const backup = report.findings.find((f) => f.id === "media-without-backup");
    execFileSync("sh", ["-c", command(backup!.fix)]);
    expect(ids(await check({ STORAGES_DEFAULT: fileUrl(tricky, "publicUrl=/media/") }))).toEqual([]);
  });
});

describe("storages check --base-url: a site that does not answer", () => {
  it("is an error for a private storage too, and no note says its URLs were tried", async () => {
    // A loopback port nobody listens on: nothing leaves the machine.
    const port = await freePort();
    const report = await check(
      { STORAGES_PRIVATE: site.env.STORAGES_PRIVATE! },
      { network: true, baseUrl: `http://127.0.0.1:${port}/`, timeout: 2_000 },
    );
    const unreachable = report.findings.filter((f) => f.id === "url-unreachable");
    expect(unreachable.map((f) => [f.storage, f.severity])).toEqual([["private", "error"]]);
    expect(unreachable[0]!.message).toContain(`127.0.0.1:${port}/_storages/internal/private/`);
    expect(report.ok).toBe(false);
    expect(report.notes).toContain("media private (private): 0 of 1 unsigned URL(s) answered");
  });
});
