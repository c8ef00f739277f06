/**
 * `storages check`, `storages nginx` and `storages caddy` as a user runs them: exit codes, --json,
 * --ignore, --out. What the checks and configurations do is proven in @storages/deploy (real
 * directories, a real user, real nginx and Caddy); here, that the commands pass it through.
 */
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FINDING_IDS } from "@storages/deploy";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { baseEnv, cli } from "./helpers.js";

let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "storages-cli-deploy-"));
  await mkdir(join(dir, "static"), { recursive: true });
  await mkdir(join(dir, "releases", "r1", "media"), { recursive: true });
  await writeFile(
    join(dir, "static", "staticfiles.json"),
    JSON.stringify({ version: 1, release: "r1", createdAt: "2026-12-03T00:00:00.000Z", files: {} }),
  );
  await writeFile(join(dir, ".storages-backup"), "nightly");
  env = baseEnv({
    STORAGES_STATICFILES: `file://${dir}/static?publicUrl=/static/`,
    STORAGES_DEFAULT: `file://${dir}/releases/r1/media?publicUrl=/media/`,
  });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const run = (args: string[], extra: Record<string, string> = {}) =>
  cli(args, { env: { ...env, ...extra }, cwd: dir });

describe("storages check", () => {
  it("its help names every finding id (from the list the checks report, so it cannot fall behind)", async () => {
    const help = await run(["help", "check"]);
    expect(help.code).toBe(0);
    const text = help.stdout.replace(/\s+/g, " ");
    expect(FINDING_IDS).toEqual(
      expect.arrayContaining(["manifest-unreadable", "media-symlink-out", "access-probe-failed"]),
    );
    for (const id of FINDING_IDS) expect(text, id).toMatch(new RegExp(`[ ,]${id}[,.]`));
  });

  it("exits 1 on an error finding, naming its id and its fix", async () => {
    const r = await run(["check", "--offline"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("error   media-in-release-dir [default]:");
    expect(r.stdout).toContain("fix: Keep media in a directory every release shares");
    expect(r.stdout).toContain("1 error(s), 0 warning(s)");
  });

  it("--json prints the report; --ignore (or STORAGES_CHECK_IGNORE) silences an id: exit 0", async () => {
    const r = await run(["--json", "check", "--offline"]);
    expect(r.code).toBe(1);
    expect(r.json()).toMatchObject({
      ok: false,
      findings: [{ id: "media-in-release-dir", severity: "error", storage: "default" }],
    });
    const ignored = await run(["--json", "check", "--offline", "--ignore", "media-in-release-dir"]);
    expect(ignored.code).toBe(0);
    expect(ignored.json()).toMatchObject({
      ok: true,
      findings: [],
      ignored: [{ id: "media-in-release-dir" }],
    });
    const fromEnv = await run(["check", "--offline"], { STORAGES_CHECK_IGNORE: "media-in-release-dir" });
    expect(fromEnv.code).toBe(0);
    expect(fromEnv.stdout).toContain("ok: no errors");
  });

  it("--mountinfo judges another machine's mounts: media on a container's overlay root", async () => {
    const fixture = join(dir, "mountinfo");
    await writeFile(fixture, "1200 1100 0:50 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u\n");
    const r = await run([
      "--json",
      "check",
      "--offline",
      "--mountinfo",
      fixture,
      "--ignore",
      "media-in-release-dir",
    ]);
    expect(r.code).toBe(1);
    expect(r.json().findings.map((f: { id: string }) => f.id)).toEqual(["media-on-ephemeral-fs"]);
    const missing = await run(["check", "--mountinfo", join(dir, "missing")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(
      `--mountinfo ${join(dir, "missing")}: ${join(dir, "missing")} does not exist.`,
    );
    expect(missing.stderr).not.toContain("ENOENT");
  });

  it("refuses bad options and unknown ids with exit 2", async () => {
    expect((await run(["check", "--sample", "0"])).code).toBe(2);
    const exponent = await run(["check", "--concurrency", "1e3"]);
    expect(exponent.code).toBe(2);
    expect(exponent.stderr).toContain(
      '--concurrency "1e3": give a whole number from 1 to 1024 (digits only).',
    );
    // Bounded as every --concurrency is: far more requests at once only fail.
    const huge = await run(["check", "--offline", "--concurrency", "99999999999"]);
    expect(huge.code).toBe(2);
    expect(huge.stderr).toContain('--concurrency "99999999999": give a whole number from 1 to 1024');
    expect((await run(["check", "--base-url", "www.example.com"])).code).toBe(2);
    const typo = await run(["check", "--offline", "--ignore", "media-in-release"]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("Unknown finding id(s) to ignore: media-in-release");
  });
});

describe("storages check: options refused before anything is checked", () => {
  it("--timeout above 2^31-1 ms, zero or not digits is exit 2, with no TimeoutOverflowWarning", async () => {
    for (const value of ["1e99", "99999999999", "2147483648", "0", "-5", "abc", "10s"]) {
      const r = await run(["check", "--timeout", value]);
      expect(r.code, `--timeout ${value}: ${r.stderr}`).toBe(2);
      expect(r.stderr, value).toMatch(/^error E_USAGE: --timeout /);
      expect(r.stderr, value).toContain("--timeout 30000");
      expect(r.stderr).not.toContain("Warning");
    }
    expect((await run(["check", "--timeout", "99999999999"])).stderr).toContain("at most 2147483647 ms");
    const json = await run(["--json", "check", "--timeout", "1e99"]);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stderr).error).toMatchObject({ code: "E_USAGE" });
    // The largest timer Node takes is still a timeout: the check runs.
    const longest = await run(["check", "--offline", "--timeout", "2147483647"]);
    expect(longest.stderr).not.toContain("E_USAGE");
    expect(longest.stderr).not.toContain("Warning");
  });

  it("--base-url or --origin with --offline is exit 2: they contradict, neither is silently ignored", async () => {
    const base = await run(["check", "--offline", "--base-url", "https://www.example.com"]);
    expect(base.code).toBe(2);
    expect(base.stderr).toContain("--base-url and --offline contradict each other");
    expect(base.stderr).toContain("Drop --offline");
    const origin = await run(["--json", "check", "--origin", "https://www.example.com", "--offline"]);
    expect(origin.code).toBe(2);
    expect(JSON.parse(origin.stderr).error.message).toContain("--origin and --offline contradict each other");
  });

  it("--app-dir that is missing or a file is exit 2, naming it", async () => {
    const missing = await run(["check", "--offline", "--app-dir", join(dir, "no-such-app")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(
      `--app-dir ${join(dir, "no-such-app")}: ${join(dir, "no-such-app")} does not exist`,
    );
    await writeFile(join(dir, "a-file"), "");
    const notFolder = await run(["check", "--offline", "--app-dir", "a-file"]);
    expect(notFolder.code).toBe(2);
    expect(notFolder.stderr).toContain(`${join(dir, "a-file")} is a file, not a folder`);
    const relative = await run(["check", "--offline", "--app-dir", "missing-dir"]);
    expect(relative.stderr).toContain(`${join(dir, "missing-dir")} does not exist`);
  });
});

describe("storages nginx / caddy", () => {
  it("prints the nginx server block, or writes it with --out", async () => {
    const printed = await run([
      "nginx",
      "--server-name",
      "www.example.com",
      "--upstream",
      "http://127.0.0.1:8000",
    ]);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toContain(`alias ${dir}/static/;`);
    expect(printed.stdout).toContain("server_name www.example.com;");
    expect(printed.stdout).toContain("proxy_pass http://127.0.0.1:8000;");
    const out = join(dir, "site.conf");
    const written = await run(["nginx", "--out", out]);
    expect(written.code).toBe(0);
    expect(written.stdout).toContain(`wrote ${out}`);
    expect(await readFile(out, "utf8")).toContain("location ^~ /media/ {");
  });

  it("--out replaces a file whole, through a symlink, and leaves no temporary file", async () => {
    const available = join(dir, "sites-available");
    const enabled = join(dir, "sites-enabled");
    await mkdir(available);
    await mkdir(enabled);
    await writeFile(join(available, "app"), "# the previous configuration\n");
    await symlink(join(available, "app"), join(enabled, "app"));
    const written = await run(["caddy", "--out", join(enabled, "app")]);
    expect(written.code, written.stderr).toBe(0);
    expect((await lstat(join(enabled, "app"))).isSymbolicLink()).toBe(true);
    expect(await readFile(join(available, "app"), "utf8")).toContain("handle_path /static/* {");
    expect(await readdir(available)).toEqual(["app"]);
    expect(await readdir(enabled)).toEqual(["app"]);
  });

  it("an --out or --standalone that cannot be written, or an empty one, is exit 2 in words, not Node's errno text", async () => {
    await writeFile(join(dir, "plain-file"), "x");
    const cases: Array<[string[], string]> = [
      [["nginx", "--out", dir], `${dir} is a folder: give a file name in it; nothing was written.`],
      [
        ["nginx", "--out", join(dir, "missing", "x.conf")],
        `the folder of ${join(dir, "missing", "x.conf")} does not exist`,
      ],
      [["caddy", "--out", join(dir, "plain-file", "x")], "has a file where one of its folders should be"],
      [["nginx", "--standalone", join(dir, "plain-file")], "is a file, not a folder: give a folder."],
      [["nginx", "--standalone", ""], "--standalone is empty"],
      [["caddy", "--out", ""], "--out is empty"],
    ];
    for (const [args, message] of cases) {
      const r = await run(["--json", ...args]);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stdout).toBe("");
      const { error } = JSON.parse(r.stderr);
      expect(error.code).toBe("E_USAGE");
      expect(error.message).toContain(message);
      expect(error.message).not.toMatch(/E[A-Z]{3,}:/); // no "EISDIR: illegal operation on a directory"
    }
  });

  it("prints the Caddyfile; a bad upstream is exit 2", async () => {
    const printed = await run(["caddy", "--listen", "8080"]);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toContain("handle_path /static/* {");
    expect(printed.stdout).toContain("precompressed br zstd gzip");
    expect((await run(["caddy", "--upstream", "ftp://x"])).code).toBe(2);
  });
});
