/**
 * `storages copy`, `sync` and `verify` as scripts run them (the real binary, local folders and
 * named fs storages): summaries, --json, exit codes 0 / 1 / 2, and 130 when interrupted.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, baseEnv, cli, finished, start, stderrShows, writeTree } from "./helpers.js";

let dir: string;
let src: string;
const SECRET = randomBytes(32).toString("base64");

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "storages-cli-migrate-"));
  src = join(dir, "src");
  await mkdir(join(src, "sub"), { recursive: true });
  await writeFile(join(src, "a.txt"), "alpha");
  await writeFile(join(src, "sub", "b.bin"), randomBytes(50_000));
  await writeFile(join(src, "sub", "c.css"), "body{}");
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("storages copy / sync / verify", () => {
  it("copies a folder, copies nothing the second time, and verify exits 0", async () => {
    const dst = join(dir, "dst1");
    const first = await cli(["copy", "--json", `${src}/`, `${dst}/`]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.json()).toMatchObject({
      operation: "copy",
      ok: true,
      copied: { files: 3 },
      failed: { files: 0 },
    });
    expect((await readdir(join(dst, "sub"))).sort()).toEqual(["b.bin", "c.css"]);
    const again = await cli(["copy", `${src}/`, `${dst}/`]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("3 files equal");
    const check = await cli(["verify", `${src}/`, `${dst}/`]);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toContain("OK: the destination matches the source.");
  });

  it("a single different or missing file is exit 1, and sync repairs it and deletes extras", async () => {
    const dst = join(dir, "dst2");
    expect((await cli(["copy", `${src}/`, `${dst}/`])).code).toBe(0);
    await writeFile(join(dst, "a.txt"), "ALPHA"); // same size: found by its hash
    await rm(join(dst, "sub", "c.css"));
    await writeFile(join(dst, "extra.txt"), "x");
    const check = await cli(["verify", "--json", `${src}/`, `${dst}/`]);
    expect(check.code).toBe(1);
    expect(check.json()).toMatchObject({
      ok: false,
      different: { files: 1 },
      missing: { files: 1 },
      extra: { files: 1 },
      samples: { different: ["a.txt"], missing: ["sub/c.css"], extra: ["extra.txt"] },
    });
    const guarded = await cli(["sync", "--checksum", "--max-delete", "0", `${src}/`, `${dst}/`]);
    expect(guarded.code).toBe(1);
    expect(guarded.stderr).toContain("E_MAX_DELETE");
    const synced = await cli(["sync", "--checksum", "--json", `${src}/`, `${dst}/`]);
    expect(synced.code, synced.stderr).toBe(0);
    expect(synced.json()).toMatchObject({ ok: true, deleted: { files: 1 } });
    expect((await cli(["verify", `${src}/`, `${dst}/`])).code).toBe(0);
  });

  it("dry run changes nothing", async () => {
    const dst = join(dir, "dst3");
    const run = await cli(["copy", "-n", `${src}/`, `${dst}/`]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("3 files would be copied");
    expect(run.stdout).toContain("Dry run: nothing was changed");
    expect(run.stdout).not.toContain("matches the source");
    expect(await readdir(dst).catch(() => [])).toEqual([]);
  });

  it("a mistyped source deletes nothing: a missing path is exit 1 and is not created", async () => {
    const dst = join(dir, "dst-typo");
    expect((await cli(["copy", `${src}/`, `${dst}/`])).code).toBe(0);
    for (const typo of [join(dir, "srcc"), `${join(dir, "srcc")}/`, `file://${join(dir, "srcc")}/`]) {
      for (const command of ["sync", "copy", "verify", "ls"]) {
        const run = await cli(command === "ls" ? [command, typo] : [command, "--json", typo, `${dst}/`]);
        expect(run.code, `${command} ${typo}`).toBe(1);
        expect(run.stderr).toContain("E_NOT_FOUND");
        expect(run.stderr).toContain("does not exist");
      }
    }
    expect(await readdir(dir)).not.toContain("srcc");
    // An empty source folder that exists: sync deletes nothing unless --max-delete says how many.
    const empty = join(dir, "empty");
    await mkdir(empty);
    const refused = await cli(["sync", `${empty}/`, `${dst}/`]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("E_EMPTY_SOURCE");
    expect(refused.stderr).toContain("--max-delete 3");
    expect((await readdir(dst)).sort()).toEqual(["a.txt", "sub"]);
    const emptied = await cli(["sync", "--max-delete", "3", `${empty}/`, `${dst}/`]);
    expect(emptied.code, emptied.stderr).toBe(0);
    expect(await readdir(dst)).toEqual([]);
  });

  it("a local file where a folder is meant is exit 2 with one message, not an error per file", async () => {
    const file = join(dir, "a-file");
    await writeFile(file, "x");
    const asDestination = await cli(["copy", `${src}/`, file]);
    expect(asDestination.code).toBe(2);
    expect(asDestination.stderr).toContain("is a file: give a folder");
    for (const args of [
      ["copy", `${src}/`, `${file}/`],
      ["ls", `${file}/`],
    ]) {
      const slashed = await cli(args);
      expect(slashed.code, args.join(" ")).toBe(2);
      expect(slashed.stderr).toContain("names a folder (it ends in /)");
    }
  });

  it("refuses overlapping folders (exit 2, nothing changed) unless the inner one is excluded", async () => {
    const tree = join(dir, "tree");
    await mkdir(join(tree, "sub"), { recursive: true });
    await writeFile(join(tree, "f.txt"), "f");
    await writeFile(join(tree, "sub", "s.txt"), "s");
    const intoItself = await cli(["sync", `${join(tree, "sub")}/`, `${tree}/`]);
    expect(intoItself.code).toBe(2);
    expect(intoItself.stderr).toContain("E_INVALID_ARGUMENT");
    expect(intoItself.stderr).toContain("would delete the source's own files");
    const copiesOfCopies = await cli(["copy", "--json", `${tree}/`, `${join(tree, "sub", "backup")}/`]);
    expect(copiesOfCopies.code).toBe(2);
    expect(copiesOfCopies.stderr).toContain("--exclude 'sub/backup/**'");
    expect((await readdir(tree)).sort()).toEqual(["f.txt", "sub"]);
    expect(await readdir(join(tree, "sub"))).toEqual(["s.txt"]);
    const excluded = await cli([
      "copy",
      "--exclude",
      "sub/backup/**",
      `${tree}/`,
      `${join(tree, "sub", "backup")}/`,
    ]);
    expect(excluded.code, excluded.stderr).toBe(0);
    expect((await readdir(join(tree, "sub", "backup"))).sort()).toEqual(["f.txt", "sub"]);
    expect(await readdir(join(tree, "sub", "backup", "sub"))).toEqual(["s.txt"]);
  });

  it("between named storages: keeps no secret in --json or errors", async () => {
    const env = baseEnv({
      STORAGES_MEDIA: `file://${src}?records=false`,
      STORAGES_BACKUP: `file://${join(dir, "backup")}?signingBaseUrl=/b/`,
      STORAGES_BACKUP_SIGNING_SECRET: SECRET,
    });
    const run = await cli(["copy", "--json", "--include", "**/*.css", "media:", "backup:"], { env });
    expect(run.code, run.stderr).toBe(0);
    expect(run.json()).toMatchObject({ copied: { files: 1 } });
    expect(run.stdout + run.stderr).not.toContain(SECRET);
    const shard = await cli(["copy", "--json", "--shard", "1/2", "media:", "backup:"], { env });
    expect(shard.code, shard.stderr).toBe(0);
  });

  it("refuses an address with credentials in its query string, never printing them (exit 2)", async () => {
    const secret = "TOPSECRETVALUE";
    const params = ["sas", "key", "secret_key", "access_key", "accountKey", "credential", "pwd", "sig"];
    const local = `${src}/`;
    for (const [index, name] of params.entries()) {
      const command = (["copy", "sync", "verify"] as const)[index % 3]!;
      // As the source (s3) or the destination (azure, file), with other parameters around it.
      const address = [
        `s3://bucket/prefix/?region=eu-west-1&${name}=${secret}`,
        `azure://account/container/?${name}=${secret}&blockSize=8MiB`,
        `file://${join(dir, "secret-dst")}/?${name}=${secret}`,
      ][index % 3]!;
      const [from, to] = index % 3 === 0 ? [address, local] : [local, address];
      for (const json of [false, true]) {
        const run = await cli([command, ...(json ? ["--json"] : []), from, to]);
        const what = `${command} ${name} ${json ? "--json" : ""}: ${run.stderr}`;
        expect(run.code, what).toBe(2);
        expect(run.stderr, what).toContain(`has a secret in its query string (\`${name}\`)`);
        expect(run.stderr, what).toContain("STORAGES_<NAME>");
        expect(run.stdout + run.stderr, what).not.toContain(secret);
        if (json) expect(JSON.parse(run.stderr).error.code).toBe("E_CONFIG");
      }
    }
    expect(await readdir(dir)).not.toContain("secret-dst");
  });

  it("a source folder holding a name that is not UTF-8 fails the run (exit 1) rather than leave the file out", async () => {
    const tree = join(dir, "latin1");
    await mkdir(join(tree, "photos"), { recursive: true });
    await writeFile(join(tree, "ok.txt"), "ok");
    await mkdir(join(dir, "latin1-dst"));
    // "caf\xe9.jpg": a Latin-1 name, which Linux stores as it is given.
    writeFileSync(
      Buffer.from([...Buffer.from(join(tree, "photos", "caf")), 0xe9, ...Buffer.from(".jpg")]),
      "x",
    );
    for (const command of ["sync", "copy", "verify"]) {
      const run = await cli([command, "--json", `${tree}/`, `${join(dir, "latin1-dst")}/`]);
      const what = `${command}: ${run.stderr}`;
      expect(run.code, what).toBe(1);
      const report = JSON.parse(run.stderr.trim().split("\n").at(-1)!).error;
      expect(report.code, what).toBe("E_UNSUPPORTED");
      expect(report.message, what).toContain(
        'The folder "photos/" holds an entry whose name is not valid UTF-8 (its bytes: "caf\\xe9.jpg")',
      );
      expect(report.message, what).toContain("convmv");
      expect(run.stdout, what).not.toContain("OK");
    }
  });

  it("a source that lists nothing by sync's delete pass fails the run (E_SOURCE_CHANGED, exit 1) and deletes nothing", async () => {
    const dst = join(dir, "vanishing-dst");
    await mkdir(dst);
    for (const name of ["a.txt", "old-1.txt", "old-2.txt"]) await writeFile(join(dst, name), name);
    const preload = join(import.meta.dirname, "fixtures", "faulty-backends.mjs");
    const env = baseEnv({ NODE_OPTIONS: `--import=${preload}` });
    for (const json of [false, true]) {
      const run = await cli(["sync", ...(json ? ["--json"] : []), "vanishing://", `${dst}/`], { env });
      expect(run.code, run.stderr).toBe(1);
      expect(run.stderr).toContain("E_SOURCE_CHANGED");
      expect(run.stderr).toContain("Check the source, then run sync again");
      if (json)
        expect(run.json()).toMatchObject({
          ok: false,
          deleted: { files: 0 },
          deletesSkipped: { code: "E_SOURCE_CHANGED" },
        });
      else expect(run.stdout).toContain("NOT OK");
    }
    expect((await readdir(dst)).sort()).toEqual(["a.txt", "b.txt", "old-1.txt", "old-2.txt"]);
  });

  it("a local folder it may not read fails the run naming that folder and what to do (E_PERMISSION_DENIED, exit 1)", async () => {
    const media = join(dir, "unreadable-media");
    await mkdir(join(media, "private"), { recursive: true });
    await writeFile(join(media, "a.txt"), "alpha");
    await writeFile(join(media, "private", "p.txt"), "private");
    const dst = join(dir, "unreadable-dst");
    await mkdir(dst);
    // Root reads every folder whatever its mode: as root, the CLI runs as nobody.
    const asRoot = process.getuid?.() === 0;
    await chmod(dir, 0o755);
    await chmod(dst, 0o777);
    await chmod(join(media, "private"), 0o000);
    try {
      const args = ["copy", "--json", `${media}/`, `${dst}/`];
      const child = asRoot
        ? spawn("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", BIN, ...args], {
            env: baseEnv(),
            stdio: ["ignore", "pipe", "pipe"],
          })
        : spawn(BIN, args, { env: baseEnv(), stdio: ["ignore", "pipe", "pipe"] });
      const run = await finished(child);
      expect(run.code, run.stderr).toBe(1);
      const error = JSON.parse(run.stderr.trim().split("\n").at(-1)!).error;
      expect(error.code).toBe("E_PERMISSION_DENIED");
      expect(error.message).toContain('the folder "private/"');
      expect(error.message).toContain("run as the owner of the files");
      expect(run.json()).toMatchObject({ ok: false, listingFailed: { code: "E_PERMISSION_DENIED" } });
    } finally {
      await chmod(join(media, "private"), 0o755);
    }
  });

  it("a local folder holding a link to a folder fails the run (exit 1, naming the link) unless --skip-links", async () => {
    // The common layout: media/uploads -> a folder on another disk.
    const disk2 = join(dir, "disk2", "uploads");
    await mkdir(disk2, { recursive: true });
    await writeFile(join(disk2, "u.jpg"), "upload");
    const media = join(dir, "linked-media");
    await mkdir(media);
    await writeFile(join(media, "a.txt"), "alpha");
    await symlink(disk2, join(media, "uploads"));
    const dst = join(dir, "linked-dst");
    await mkdir(dst);
    for (const command of ["copy", "sync", "verify"]) {
      for (const from of [`${media}/`, `file://${media}/`]) {
        const run = await cli([command, "--json", from, `${dst}/`]);
        const what = `${command} ${from}: ${run.stderr}`;
        expect(run.code, what).toBe(1);
        const report = JSON.parse(run.stderr.trim().split("\n").at(-1)!).error;
        expect(report.code, what).toBe("E_UNSUPPORTED");
        expect(report.message, what).toContain(`The symbolic link "uploads"`);
        expect(report.message, what).toContain(`points to the folder ${disk2}`);
        expect(report.message, what).toContain(`storages copy '${disk2}' 'DESTINATION/uploads/'`);
        expect(report.message, what).toContain("--skip-links");
        // The summary is still printed, saying what stopped the run.
        expect(run.json(), what).toMatchObject({
          ok: false,
          listingFailed: { side: "source", code: "E_UNSUPPORTED" },
        });
      }
      const plain = await cli([command, `${media}/`, `${dst}/`]);
      expect(plain.code).toBe(1);
      expect(plain.stdout).toContain("NOT OK");
      expect(plain.stderr).toContain(`The symbolic link "uploads"`);
    }
    expect(await readdir(dst)).toEqual([]);
    // Leaving links out is explicit: the flag, or links=skip in a file:// URL.
    for (const command of ["copy", "sync", "verify"]) {
      const run = await cli([command, "--skip-links", "--json", `${media}/`, `${dst}/`]);
      expect(run.code, `${command}: ${run.stderr}`).toBe(0);
      expect(run.json().listingFailed).toBeUndefined();
    }
    expect(await readdir(dst)).toEqual(["a.txt"]);
    const url = await cli(["verify", `file://${media}/?links=skip`, `${dst}/`]);
    expect(url.code, url.stderr).toBe(0);
    // A destination is listed the same way.
    const back = await cli(["verify", `${dst}/`, `${media}/`]);
    expect(back.code).toBe(1);
    expect(back.stderr).toContain("Listing the destination failed");
    // A named storage keeps its configured option (links: "skip" unless it says otherwise).
    const named = await cli(["verify", "media:", `${dst}/`], {
      env: baseEnv({ STORAGES_MEDIA: `file://${media}?records=false` }),
    });
    expect(named.code, named.stderr).toBe(0);
    const refusing = await cli(["verify", "media:", `${dst}/`], {
      env: baseEnv({ STORAGES_MEDIA: `file://${media}?records=false&links=refuse` }),
    });
    expect(refusing.code).toBe(1);
    expect(refusing.stderr).toContain(`The symbolic link "uploads"`);
  });

  it("a source listing that fails part-way still prints the summary of the copies made (exit 1)", async () => {
    const preload = join(import.meta.dirname, "fixtures", "faulty-backends.mjs");
    const env = baseEnv({ NODE_OPTIONS: `--import=${preload}` });
    const dst = join(dir, "broken-listing-dst");
    const run = await cli(["copy", "--json", "brokenlisting://", `${dst}/`], { env });
    expect(run.code, run.stderr).toBe(1);
    expect(run.json()).toMatchObject({
      ok: false,
      copied: { files: 2 },
      failed: { files: 0 },
      listingFailed: { side: "source", code: "E_BACKEND" },
    });
    expect(run.stderr).toContain("Listing the source failed, so copy stopped comparing");
    expect(run.stderr).toContain("the listing broke (test fault)");
    expect((await readdir(dst)).sort()).toEqual(["f1.txt", "f2.txt"]);
    const plain = await cli(["sync", "brokenlisting://", `${dst}/`], { env });
    expect(plain.code).toBe(1);
    expect(plain.stdout).toContain("2 files equal");
    expect(plain.stdout).toContain("NOT OK");
    expect(plain.stderr).toContain("E_BACKEND");
  });

  it("usage errors are exit 2 and say what to write", async () => {
    const badShard = await cli(["copy", "--shard", "5/4", `${src}/`, join(dir, "x/")]);
    expect(badShard.code).toBe(2);
    expect(badShard.stderr).toContain("K/N");
    const stdin = await cli(["copy", "-", join(dir, "x/")]);
    expect(stdin.code).toBe(2);
    const file = await cli(["verify", join(src, "a.txt"), join(dir, "x/")]);
    expect(file.code).toBe(2);
    expect(file.stderr).toContain("folders");
    const missing = await cli(["sync", `${src}/`]);
    expect(missing.code).toBe(2);
    const policy = await cli(["copy", "--overwrite", "sometimes", `${src}/`, join(dir, "x/")]);
    expect(policy.code).toBe(2);
  });
});

describe("storages copy interrupted", () => {
  it("by SIGTERM: exit 130, one E_ABORTED line saying what was copied, no partial file, and a rerun finishes", async () => {
    const tree = join(dir, "many");
    await writeTree(tree, 60, 1024 * 1024);
    const dst = join(dir, "many-copy");
    const { child, done } = start(["copy", "--verbose", "--concurrency", "1", `${tree}/`, `${dst}/`]);
    child.stdin!.end();
    // Stopped once the first file is copied (--verbose reports each one on stderr).
    await stderrShows(child, "debug: copied ");
    child.kill("SIGTERM");
    const out = await done;
    expect(out.code, out.stderr).toBe(130);
    const aborted = out.stderr.split("\n").filter((line) => line.startsWith("error E_ABORTED"));
    expect(aborted).toHaveLength(1);
    expect(aborted[0]).toMatch(
      /^error E_ABORTED: interrupted: \d+ files? copied completely; no partial file is left at the destination: run the same command again to do the rest\.$/,
    );
    // The files stopped midway are no failures to look into, and nothing says "see above".
    expect(out.stderr).not.toContain("more file(s) failed");
    expect(out.stdout).not.toContain("NOT OK");
    expect(out.stdout).toContain("stopped or failed");
    const left = (await readdir(dst)).filter((name) => !/^\.~storages-meta-[0-9a-f]+\.json$/.test(name));
    for (const name of left) {
      expect(name).toMatch(/^f\d\d\.bin$/); // no temporary file
      expect((await stat(join(dst, name))).size).toBe(1024 * 1024);
    }
    const rerun = await cli(["copy", `${tree}/`, `${dst}/`]);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stdout).toContain("OK: the destination matches the source.");
  });
});
