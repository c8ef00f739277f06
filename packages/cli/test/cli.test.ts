/**
 * The `storages` binary, spawned as a user runs it, against local folders (the fs backend): every
 * command, --json output parsed, exit codes, configuration sources, errors, and Ctrl-C during an
 * upload. The same commands run against Ceph RGW in cli.server.test.ts.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFsHandler, fsStorage } from "@storages/fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, baseEnv, cli, finished, start, stderrShows, writeSlowly, writeTree } from "./helpers.js";

let dir: string;
let media: string;
let env: Record<string, string>;
const SIGNING = randomBytes(48).toString("base64");

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "storages-cli-"));
  media = join(dir, "media");
  await mkdir(join(dir, "work"));
  env = baseEnv({
    STORAGES_DEFAULT: `file://${media}`,
    STORAGES_STATICFILES: `file://${dir}/static?baseUrl=https://cdn.example.com/static/`,
    STORAGES_PRIVATE: `file://${dir}/private?signingBaseUrl=http://127.0.0.1:1/private/`,
    STORAGES_PRIVATE_SIGNING_SECRET: SIGNING,
  });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const run = (
  args: string[],
  options: { input?: string | Buffer; env?: Record<string, string>; cwd?: string } = {},
) => cli(args, { env: options.env ?? env, cwd: options.cwd ?? join(dir, "work"), input: options.input });

/** Every name under a folder on disk, the fs driver's own entries (`.~storages-…`) included. */
async function onDisk(folder: string): Promise<string[]> {
  try {
    return (await readdir(folder, { recursive: true })).map(String).sort();
  } catch {
    return [];
  }
}

describe("help", () => {
  it("lists every command, the addresses and the exit codes", async () => {
    const out = await run(["--help"]);
    expect(out.code).toBe(0);
    for (const name of ["ls", "stat", "cat", "put", "get", "rm", "url", "sign-upload", "config", "help"]) {
      expect(out.stdout).toMatch(new RegExp(`^  ${name} `, "m"));
    }
    expect(out.stdout).toContain("Exit codes:");
    expect(out.stdout).toContain("130  interrupted");
  });

  it("shows each command's help with examples, through `help NAME` and `NAME --help`", async () => {
    for (const name of ["ls", "stat", "cat", "put", "get", "rm", "url", "sign-upload", "config"]) {
      const viaHelp = await run(["help", name]);
      expect(viaHelp.code, name).toBe(0);
      expect(viaHelp.stdout).toContain(`Usage: storages ${name}`);
      expect(viaHelp.stdout).toMatch(/Examples:\n {2}storages /);
      expect(viaHelp.stdout).toContain("--json");
      expect((await run([name, "--help"])).stdout).toBe(viaHelp.stdout);
    }
  });

  it("prints its version; no command at all is a usage error that shows the help", async () => {
    const version = await run(["--version"]);
    expect(version.stdout.trim()).toBe(
      JSON.parse(await readFile(join(import.meta.dirname, "..", "package.json"), "utf8")).version,
    );
    const none = await run([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("Usage: storages");
  });
});

describe("the file commands on a named fs storage", () => {
  it("put, ls, stat, cat, get and rm round-trip a file, with --json checked at each step", async () => {
    const work = join(dir, "work");
    await writeFile(join(work, "photo.jpg"), "jpeg bytes");

    const put = await run(["--json", "put", "photo.jpg", "default:avatars/"]);
    expect(put.code, put.stderr).toBe(0);
    expect(put.json()).toEqual({
      files: [{ from: "photo.jpg", to: "default:avatars/photo.jpg", name: "avatars/photo.jpg", size: 10 }],
      failures: [],
      copied: 1,
      bytes: 10,
      aborted: false,
    });
    expect(await readFile(join(media, "avatars", "photo.jpg"), "utf8")).toBe("jpeg bytes");

    const human = await run(["put", "photo.jpg", "default:avatars/me.jpg"]);
    expect(human.stdout).toBe("uploaded photo.jpg → default:avatars/me.jpg (10 B)\n");
    expect(human.stderr).toBe("");

    const ls = await run(["--json", "ls", "default:avatars/"]);
    expect(ls.code).toBe(0);
    const entries = ls.lines();
    expect(entries.map((e) => [e.type, e.name, e.address, e.size])).toEqual([
      ["file", "avatars/me.jpg", "default:avatars/me.jpg", 10],
      ["file", "avatars/photo.jpg", "default:avatars/photo.jpg", 10],
    ]);
    expect(Number.isNaN(Date.parse(entries[0].lastModified))).toBe(false);
    expect((await run(["ls", "default:"])).stdout).toBe("avatars/\n");
    expect((await run(["ls", "-r", "default:"])).stdout).toBe("avatars/me.jpg\navatars/photo.jpg\n");
    const long = await run(["ls", "-l", "default:avatars/"]);
    expect(long.stdout).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +10 {2}me\.jpg/m);
    // A file's address lists that file; an address with nothing there is exit 1.
    expect((await run(["ls", "default:avatars/me.jpg"])).stdout).toBe("avatars/me.jpg\n");
    const nothing = await run(["ls", "default:nothing/here"]);
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toContain("E_NOT_FOUND");

    const st = await run(["--json", "stat", "default:avatars/me.jpg"]);
    expect(st.json()).toMatchObject({
      name: "avatars/me.jpg",
      address: "default:avatars/me.jpg",
      size: 10,
      contentType: "image/jpeg",
    });
    expect((await run(["stat", "default:avatars/me.jpg"])).stdout).toMatch(/^size +10 \(10 B\)$/m);

    expect((await run(["cat", "default:avatars/me.jpg"])).stdout).toBe("jpeg bytes");

    const got = await run(["--json", "get", "default:avatars/me.jpg", "copy.jpg"]);
    expect(got.code, got.stderr).toBe(0);
    expect(got.json().files).toEqual([
      { from: "default:avatars/me.jpg", to: "copy.jpg", name: "copy.jpg", size: 10 },
    ]);
    expect(await readFile(join(work, "copy.jpg"), "utf8")).toBe("jpeg bytes");
    // No metadata sidecar among the user's own files.
    expect((await readdir(work)).filter((n) => n.startsWith(".~storages-"))).toEqual([]);

    const removed = await run(["--json", "rm", "default:avatars/me.jpg"]);
    expect(removed.json()).toMatchObject({ path: "avatars/me.jpg", recursive: false, deleted: 1 });
    const again = await run(["rm", "default:avatars/me.jpg"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^error E_NOT_FOUND: /);
  });

  it("cat --range reads START-END, START- and -LAST", async () => {
    await run(["put", "-", "default:range.txt"], { input: "0123456789" });
    expect((await run(["cat", "--range", "2-4", "default:range.txt"])).stdout).toBe("234");
    expect((await run(["cat", "--range", "7-", "default:range.txt"])).stdout).toBe("789");
    expect((await run(["cat", "--range", "-3", "default:range.txt"])).stdout).toBe("789");
    expect((await run(["cat", "--range", "8-100", "default:range.txt"])).stdout).toBe("89");
    const bad = await run(["cat", "--range", "5-2", "default:range.txt"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--range takes START-END");
  });

  it("put - streams stdin to a file and get … - streams a file to stdout", async () => {
    const body = randomBytes(3 * 1024 * 1024 + 17);
    const put = await run(["put", "-", "default:blobs/stdin.bin"], { input: body });
    expect(put.code, put.stderr).toBe(0);
    expect(put.stdout).toBe("uploaded - → default:blobs/stdin.bin (3.0 MiB)\n");
    const child = start(["get", "default:blobs/stdin.bin", "-"], { env, cwd: join(dir, "work") });
    child.child.stdin!.end();
    const chunks: Buffer[] = [];
    child.child.stdout!.on("data", (c: Buffer) => chunks.push(c));
    const got = await child.done;
    expect(got.code, got.stderr).toBe(0);
    expect(Buffer.concat(chunks).equals(body)).toBe(true);
    const folder = await run(["put", "-", "default:blobs/"], { input: "x" });
    expect(folder.code).toBe(2);
    expect(folder.stderr).toContain("needs a file name");
  });

  it("put - with stdin /dev/null or closed (cron, docker run without -i) is exit 2 and replaces nothing", async () => {
    expect((await run(["put", "-", "default:backups/db.sql"], { input: "yesterday" })).code).toBe(0);
    // "ignore" gives the child /dev/null; `<&-` closes it (Node then opens /dev/null in its place).
    const nullStdin = (args: string[]) =>
      finished(
        spawn(args[0]!, args.slice(1), { cwd: join(dir, "work"), env, stdio: ["ignore", "pipe", "pipe"] }),
      );
    for (const args of [
      [BIN, "--json", "put", "-", "default:backups/db.sql"],
      ["sh", "-c", `exec "${BIN}" --json put - default:backups/db.sql <&-`],
    ]) {
      const out = await nullStdin(args);
      expect(out.code, out.stderr).toBe(2);
      expect(out.stdout).toBe("");
      expect(JSON.parse(out.stderr).error).toMatchObject({
        code: "E_USAGE",
        message: expect.stringContaining("stdin is /dev/null"),
      });
    }
    expect(await readFile(join(media, "backups", "db.sql"), "utf8")).toBe("yesterday");
    // An empty pipe is data (an empty file), as cat sees it.
    const empty = await run(["put", "-", "default:backups/empty.txt"], { input: "" });
    expect(empty.code, empty.stderr).toBe(0);
  });

  it("goes on when the reader of its stderr goes away (-v … 2>&1 | head): every file written, no temporary file, exit 0", async () => {
    const tree = join(dir, "stderr-gone");
    await writeTree(tree, 20, 256 * 1024);
    const target = join(dir, "stderr-gone-copy");
    const { child, done } = start(["--verbose", "put", "-r", "--concurrency", "1", tree, `${target}/`], {
      env,
      cwd: join(dir, "work"),
    });
    child.stdin!.end();
    // The first debug line read, the reader closes its end: every later note meets EPIPE.
    child.stderr!.once("data", () => child.stderr!.destroy());
    const out = await done;
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toBe("uploaded 20 files (5.0 MiB)\n");
    const left = await onDisk(target);
    expect(left).toHaveLength(20);
    for (const name of left) expect((await stat(join(target, name))).size).toBe(256 * 1024);
  });

  it("prints a name with a line break or an escape sequence escaped (ls, errors, verify), and --json as it is", async () => {
    const tree = join(dir, "unprintable");
    await mkdir(tree);
    const names = ["new\nline.txt", "t\u001b]0;pwned\u0007.txt", "ok.txt"];
    for (const name of names) await writeFile(join(tree, name), "x");
    const ls = await run(["ls", `${tree}/`]);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout.split("\n")).toEqual([
      "new\\u000aline.txt",
      "ok.txt",
      "t\\u001b]0;pwned\\u0007.txt",
      "",
    ]);
    const json = await run(["--json", "ls", `${tree}/`]);
    expect(json.lines().map((entry) => entry.name)).toEqual([names[0], names[2], names[1]]);
    const target = join(dir, "unprintable-copy");
    for (const args of [
      ["--verbose", "put", "-r", tree, `${target}/`],
      ["verify", `${tree}/`, `${target}/`],
    ]) {
      const out = await run(args);
      expect(out.code, args.join(" ")).toBe(1);
      // Every line is one line of the report: no raw control character from a name.
      // biome-ignore lint/suspicious/noControlCharactersInRegex: what must not be printed.
      expect(out.stdout + out.stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/);
      expect(out.stdout + out.stderr).toContain("new\\u000aline.txt");
    }
  });

  it("put -r, get -r and ls -r of a local folder holding a link to a folder fail naming it (exit 1), unless --skip-links", async () => {
    // A deploy's build folder with a linked subfolder: uploading it without the subfolder and
    // exiting 0 would publish a site with its assets missing.
    const assets = join(dir, "shared-assets");
    await mkdir(assets);
    await writeFile(join(assets, "logo.svg"), "<svg/>");
    const build = join(dir, "linked-build");
    await mkdir(build);
    await writeFile(join(build, "index.html"), "<html/>");
    await symlink(assets, join(build, "assets"));
    const copies = join(dir, "linked-build-copies");
    for (const [what, args] of [
      ["put -r", ["put", "-r", `${build}/`, "default:linked-site/"]],
      ["get -r", ["get", "-r", `${build}/`, `${copies}/`]],
      ["get -r file://", ["get", "-r", `file://${build}/`, `${copies}/`]],
      ["ls -r", ["ls", "-r", build]],
    ] as const) {
      const out = await run(["--json", ...args]);
      expect(out.code, `${what}: ${out.stderr}`).toBe(1);
      const error = JSON.parse(out.stderr.trim().split("\n").at(-1)!).error;
      expect(error.code, what).toBe("E_UNSUPPORTED");
      expect(error.message, what).toContain(`The symbolic link "assets"`);
      expect(error.message, what).toContain(`points to the folder ${assets}`);
      expect(error.message, what).toContain("--skip-links");
    }
    expect(await onDisk(copies)).toEqual([]);
    // One level lists what the folder holds as a storage sees it.
    expect((await run(["ls", build])).stdout).toBe("index.html\n");
    // Leaving links out is explicit.
    const skipped = await run(["put", "-r", "--skip-links", `${build}/`, "default:linked-site/"]);
    expect(skipped.code, skipped.stderr).toBe(0);
    expect((await run(["ls", "-r", "default:linked-site/"])).stdout).toBe("index.html\n");
    const got = await run(["get", "-r", "--skip-links", `${build}/`, `${copies}/`]);
    expect(got.code, got.stderr).toBe(0);
    expect(await onDisk(copies)).toEqual(["index.html"]);
    const listed = await run(["ls", "-r", "--skip-links", build]);
    expect(listed.stdout, listed.stderr).toBe("index.html\n");
    // A named storage keeps its configured option (links: "skip" unless it says otherwise).
    const named = await run(["ls", "-r", "build:"], {
      env: { ...env, STORAGES_BUILD: `file://${build}?records=false` },
    });
    expect(named.stdout, named.stderr).toBe("index.html\n");
  });

  it("put -r and get -r copy a folder, names kept, and report every file in --json", async () => {
    const tree = join(dir, "tree");
    await mkdir(join(tree, "a", "b"), { recursive: true });
    await writeFile(join(tree, "top.txt"), "top");
    await writeFile(join(tree, "a", "one.css"), "body{}");
    await writeFile(join(tree, "a", "b", "two words.txt"), "two");
    const noR = await run(["put", tree, "default:site/"]);
    expect(noR.code).toBe(2);
    expect(noR.stderr).toContain("is a folder: add -r");

    const put = await run(["--json", "put", "-r", tree, "default:site"]);
    expect(put.code, put.stderr).toBe(0);
    const report = put.json();
    expect(report.copied).toBe(3);
    expect(report.bytes).toBe(12);
    expect(report.files.map((f: { name: string }) => f.name).sort()).toEqual([
      "site/a/b/two words.txt",
      "site/a/one.css",
      "site/top.txt",
    ]);
    expect((await run(["ls", "-r", "default:site/"])).stdout).toBe("a/b/two words.txt\na/one.css\ntop.txt\n");

    const out = join(dir, "download");
    const get = await run(["get", "-r", "default:site/", `${out}/`]);
    expect(get.code, get.stderr).toBe(0);
    expect(get.stdout).toBe("downloaded 3 files (12 B)\n");
    expect((await onDisk(out)).filter((n) => !n.endsWith("a") && !n.endsWith("b"))).toEqual([
      "a/b/two words.txt",
      "a/one.css",
      "top.txt",
    ]);
    expect(await readFile(join(out, "a", "b", "two words.txt"), "utf8")).toBe("two");
    // -r on a file's name copies that file; on an empty remote folder it is E_NOT_FOUND.
    const one = await run(["get", "-r", "default:site/top.txt", `${out}/one/`]);
    expect(one.code, one.stderr).toBe(0);
    expect(await readFile(join(out, "one", "top.txt"), "utf8")).toBe("top");
    const none = await run(["get", "-r", "default:nothing/", `${out}/none/`]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("E_NOT_FOUND");
  });

  it("put -r and get -r refuse a destination inside the folder copied (exit 2, nothing written)", async () => {
    const tree = join(dir, "selfcopy");
    await mkdir(join(tree, "sub"), { recursive: true });
    await writeFile(join(tree, "sub", "f.txt"), "f");
    await run(["put", "-r", tree, "default:self/"]);
    for (const args of [
      ["put", "-r", tree, `${tree}/sub/copy/`],
      ["get", "-r", `${tree}/`, `${tree}/copy`],
      ["get", "-r", "default:self/", `${media}/self/sub/copy/`],
      ["put", "-r", join(media, "self"), "default:self/copy/"],
    ]) {
      const refused = await run(args);
      expect(refused.code, args.join(" ")).toBe(2);
      expect(refused.stderr).toContain("would be copied again");
    }
    expect(await onDisk(tree)).toEqual(["sub", "sub/f.txt"]);
    // Beside it, or from a folder inside into the outer one (as cp -r sub/. . does), is fine.
    expect((await onDisk(join(media, "self"))).filter((name) => !name.includes(".~storages"))).toEqual([
      "sub",
      "sub/f.txt",
    ]);
    const outward = await run(["get", "-r", "default:self/sub/", `${media}/self/`]);
    expect(outward.code, outward.stderr).toBe(0);
  });

  it("put with a --cache-control or --metadata no save accepts: one usage error (exit 2), nothing written", async () => {
    const tree = join(dir, "bad-options");
    await writeTree(tree, 5, 10);
    for (const [flags, message] of [
      [
        ["--cache-control", "public\r\nX-Injected: 1"],
        "--cache-control: cacheControl must be a header value",
      ],
      [["--metadata", "owner=a\nb"], '--metadata: Metadata value for "owner" must be printable ASCII'],
      [["--metadata", "Owner Name=x"], '--metadata: Metadata key "Owner Name" is not portable'],
    ] as const) {
      const out = await run(["--json", "put", "-r", ...flags, tree, "default:bad-options/"]);
      expect(out.code, out.stderr).toBe(2);
      expect(out.stdout).toBe("");
      expect(out.stderr.trim().split("\n")).toHaveLength(1);
      expect(JSON.parse(out.stderr).error.message).toContain(message);
    }
    expect(await onDisk(join(media, "bad-options"))).toEqual([]);
  });

  it("get -r and put -r into an existing local file: one usage error (exit 2), not one per file", async () => {
    for (let i = 0; i < 5; i++) await run(["put", "-", `default:intofile/f${i}.txt`], { input: `${i}` });
    const file = join(dir, "work", "existing.txt");
    await writeFile(file, "keep");
    for (const args of [
      ["get", "-r", "default:intofile/", "existing.txt"],
      ["put", "-r", join(media, "intofile"), "existing.txt"],
    ]) {
      const out = await run(["--json", ...args]);
      expect(out.code, `${args.join(" ")}: ${out.stderr}`).toBe(2);
      expect(out.stdout).toBe("");
      expect(out.stderr.trim().split("\n")).toHaveLength(1);
      expect(JSON.parse(out.stderr).error).toMatchObject({
        code: "E_USAGE",
        message:
          "existing.txt is a file, and a folder is copied into a folder: give a folder (a new name is created as one).",
      });
    }
    expect(await readFile(file, "utf8")).toBe("keep");
    // A name with nothing below it is that one file: it replaces the local file, as cp does.
    const one = await run(["get", "-r", "default:intofile/f1.txt", "existing.txt"]);
    expect(one.code, one.stderr).toBe(0);
    expect(await readFile(file, "utf8")).toBe("1");
  });

  it("keeps its exit code when the reader of its stdout goes away (verify A B | head -1), but ls stops with 0", async () => {
    const a = join(dir, "stdout-gone-a");
    const b = join(dir, "stdout-gone-b");
    await mkdir(a);
    await mkdir(b);
    await writeFile(join(a, "same.txt"), "same");
    await writeFile(join(b, "same.txt"), "same");
    await writeFile(join(a, "only-in-a.txt"), "missing from b");
    const gone = async (args: string[]) => {
      const { child, done } = start(args, { env, cwd: join(dir, "work") });
      child.stdin!.end();
      // The reader is gone before the command prints anything: its first line meets EPIPE.
      child.stdout!.destroy();
      return done;
    };
    const differs = await gone(["verify", `${a}/`, `${b}/`]);
    expect(differs.code, differs.stderr).toBe(1);
    const matches = await gone(["verify", `${a}/`, `${a}/`]);
    expect(matches.code, matches.stderr).toBe(0);
    // A put whose file fails still says so in its exit code; the other files are written.
    const target = join(dir, "stdout-gone-put");
    await mkdir(join(target, "taken.txt"), { recursive: true }); // a folder where a file goes
    await writeFile(join(a, "taken.txt"), "t");
    const failed = await gone(["put", "-r", `${a}/`, `${target}/`]);
    expect(failed.code, failed.stderr).toBe(1);
    expect(await readFile(join(target, "only-in-a.txt"), "utf8")).toBe("missing from b");
    // Listing is all ls does: with nobody reading, it stops, exit 0, as before.
    const listed = await gone(["ls", "-r", `${a}/`]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stderr).toBe("");
  });

  it("stops quietly when the reader of its output goes away (get … - | head)", async () => {
    await run(["put", "-", "default:pipe/big.bin"], { input: randomBytes(16 * 1024 * 1024) });
    for (const args of [
      ["get", "default:pipe/big.bin", "-"],
      ["cat", "default:pipe/big.bin"],
    ]) {
      const { child, done } = start(args, { env, cwd: join(dir, "work") });
      child.stdin!.end();
      child.stdout!.once("data", () => child.stdout!.destroy());
      const out = await done;
      expect(out.code, `${args[0]}: ${out.stderr}`).toBe(0);
      expect(out.stderr).toBe("");
    }
  });

  it("writes staticfiles through its writer (the app gets it read-only)", async () => {
    const put = await run(["put", "-", "default:x.txt"], { input: "x" });
    expect(put.code).toBe(0);
    const staticPut = await run(["put", "-", "staticfiles:css/app.css"], { input: "body{}" });
    expect(staticPut.code, staticPut.stderr).toBe(0);
    expect(await readFile(join(dir, "static", "css", "app.css"), "utf8")).toBe("body{}");
  });

  it("rm -r and sync refuse the filesystem's root, however it is written (exit 2, before any question)", async () => {
    await symlink("/", join(dir, "work", "to-root"));
    await mkdir(join(dir, "work", "empty"));
    // The only storage, so that no other one is nested in it.
    const rootEnv = baseEnv({ STORAGES_ROOT: "file:///" });
    // Never with --yes: were the refusal gone, the command would stop at the question, not delete.
    // sync's --max-delete 0 and empty source would delete nothing, too.
    for (const args of [
      ["rm", "-r", "/"],
      ["rm", "-r", "file:///"],
      ["rm", "-r", "./to-root/"],
      ["rm", "-r", "root:"],
      ["sync", "--max-delete", "0", "./empty/", "/"],
    ]) {
      const out = await run(["--json", ...args], { env: rootEnv });
      expect(out.code, `${args.join(" ")}: ${out.stderr}`).toBe(2);
      expect(JSON.parse(out.stderr).error).toMatchObject({
        code: "E_USAGE",
        message: expect.stringContaining("is the root of the filesystem"),
      });
    }
    // A folder below the root is a folder like any other.
    const tmp = await run(["rm", "-r", "root:tmp/"], { env: rootEnv });
    expect(tmp.stderr).toContain("add --yes to confirm");
  });

  it("rm -r deletes a folder only with --yes when no terminal can ask", async () => {
    await run(["put", "-", "default:tmp/a.txt"], { input: "a" });
    await run(["put", "-", "default:tmp/b/c.txt"], { input: "c" });
    const refused = await run(["rm", "-r", "default:tmp/"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("add --yes to confirm");
    expect((await run(["ls", "-r", "default:tmp/"])).stdout).toBe("a.txt\nb/c.txt\n");
    const root = await run(["rm", "-r", "default:"]);
    expect(root.stderr).toContain("EVERY file of default:");
    const done = await run(["--json", "rm", "-r", "--yes", "default:tmp"]);
    expect(done.code, done.stderr).toBe(0);
    expect(done.json()).toEqual({ path: "tmp/", recursive: true, deleted: 2, address: "default:tmp/" });
    expect((await run(["ls", "default:tmp/"])).code).toBe(1);
    const folder = await run(["rm", "default:avatars/"]);
    expect(folder.code).toBe(2);
    expect(folder.stderr).toContain("add -r");
  });
});

describe("URLs", () => {
  let server: Server;
  let origin: string;
  let uploadEnv: Record<string, string>;

  beforeAll(async () => {
    // The private storage is served by createFsHandler, as an app serves it, to check what url and sign-upload print.
    const root = join(dir, "served");
    server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const storage = fsStorage({ root, signing: { key: SIGNING, baseUrl: `${origin}/private/` } });
    const handler = createFsHandler(storage);
    server.on("request", (req, res) => handler(req, res));
    uploadEnv = {
      ...env,
      STORAGES_PRIVATE: `file://${root}?signingBaseUrl=${origin}/private/&visibility=private`,
    };
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it("url of a storage whose baseUrl is a path: printed as it is, with a note that the app serves it", async () => {
    const relative = baseEnv({ STORAGES_DEFAULT: `file://${dir}/media?baseUrl=/media/&visibility=public` });
    await run(["put", "-", "default:a.txt"], { input: "a", env: relative });
    const r = await run(["url", "default:a.txt"], { env: relative });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("/media/a.txt\n");
    expect(r.stderr).toContain("The URL is relative: the app serves it");
    expect(r.stderr).not.toContain("/media/a.txt"); // never the URL itself: a signed one is a secret
    const absolute = await run(["url", "staticfiles:logo.svg"]);
    expect(absolute.stdout).toMatch(/^https:\/\//);
    expect(absolute.stderr).toBe("");
  });

  it("url prints a public storage's public URL, and a private one's signed URL that works", async () => {
    await run(["put", "-", "staticfiles:logo.svg"], { input: "<svg/>" });
    expect((await run(["url", "staticfiles:logo.svg"])).stdout).toBe(
      "https://cdn.example.com/static/logo.svg\n",
    );
    expect((await run(["--json", "url", "staticfiles:logo.svg"])).json()).toEqual({
      url: "https://cdn.example.com/static/logo.svg",
      signed: false,
      name: "logo.svg",
    });

    await run(["put", "-", "private:docs/invoice.pdf"], { input: "%PDF", env: uploadEnv });
    const signed = await run(
      ["--json", "url", "--expires", "10m", "--download", "facture.pdf", "private:docs/invoice.pdf"],
      {
        env: uploadEnv,
      },
    );
    expect(signed.code, signed.stderr).toBe(0);
    const { url, expiresAt } = signed.json();
    expect(Date.parse(expiresAt) - Date.now()).toBeGreaterThan(590_000);
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("%PDF");
    expect(response.headers.get("content-disposition")).toContain("facture.pdf");
    // Tampered: refused.
    const tampered = new URL(url);
    tampered.pathname = tampered.pathname.replace("invoice", "other");
    expect((await fetch(tampered)).status).toBe(403);

    const publicOnPrivate = await run(["url", "--public", "--expires", "1h", "private:docs/invoice.pdf"], {
      env: uploadEnv,
    });
    expect(publicOnPrivate.code).toBe(2);
    const badExpiry = await run(["url", "--expires", "30d", "private:docs/invoice.pdf"], { env: uploadEnv });
    expect(badExpiry.code).toBe(2);
    expect(badExpiry.stderr).toContain("--expires");
  });

  it("sign-upload prints method, URL and headers that a plain HTTP client can upload with", async () => {
    const out = await run(
      ["--json", "sign-upload", "--overwrite", "--content-type", "text/plain", "private:up/hello.txt"],
      {
        env: uploadEnv,
      },
    );
    expect(out.code, out.stderr).toBe(0);
    const upload = out.json();
    expect(upload).toMatchObject({
      method: "PUT",
      name: "up/hello.txt",
      address: "private:up/hello.txt",
      fields: {},
    });
    expect(upload.curl).toContain("curl -X PUT");
    const sent = await fetch(upload.url, {
      method: upload.method,
      headers: upload.headers,
      body: "uploaded by curl",
    });
    expect(sent.status).toBeLessThan(300);
    expect((await run(["cat", "private:up/hello.txt"], { env: uploadEnv })).stdout).toBe("uploaded by curl");

    // The media default: a fresh name, printed.
    const fresh = await run(["sign-upload", "private:up/hello.txt"], { env: uploadEnv });
    expect(fresh.stdout).toMatch(/^method +PUT$/m);
    expect(fresh.stdout).toMatch(/^name +up\/hello_[A-Za-z0-9]{7}\.txt$/m);
    expect(fresh.stdout).toMatch(/^curl -X PUT /m);
  });
});

describe("URLs: what cannot be signed, and bad sign-upload options", () => {
  it("url --signed and sign-upload on an fs storage without signing: exit 2, naming signingBaseUrl= and the secret variable", async () => {
    for (const args of [
      ["url", "--signed", "default:a.txt"],
      ["url", "default:a.txt"], // private: a signed URL is what it would give
      ["sign-upload", "default:x"],
    ]) {
      const out = await run(args);
      expect(out.code, `${args.join(" ")}: ${out.stderr}`).toBe(2);
      expect(out.stderr).toMatch(/^error E_CONFIG: The fs storage "default" cannot sign (URLs|uploads)/);
      expect(out.stderr).toContain("signingBaseUrl=");
      expect(out.stderr).toContain("STORAGES_DEFAULT_SIGNING_SECRET");
      expect(out.stderr).not.toContain("backend cannot sign");
    }
    const json = await run(["--json", "sign-upload", "default:x"]);
    expect(JSON.parse(json.stderr).error).toMatchObject({
      code: "E_CONFIG",
      operation: "signedUpload",
      backend: "fs",
    });
    // A file:// address reads no secret: use a named storage.
    const address = await run(["url", "--signed", `file://${dir}/work/a.txt`]);
    expect(address.code).toBe(2);
    expect(address.stderr).toContain("E_USAGE");
    expect(address.stderr).toContain("Use a named storage");
  });

  it("url --public without a public URL says --signed (the command's option), not signedUrl()", async () => {
    const out = await run(["url", "--public", "private:a.txt"]);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('The fs storage "private" has no public URL for files: set publicUrl=');
    expect(out.stderr).toContain("--signed");
    expect(out.stderr).not.toContain("signedUrl()");
    // Without signing either, --signed is not offered.
    const neither = await run(["url", "--public", "default:a.txt"]);
    expect(neither.code).toBe(2);
    expect(neither.stderr).not.toContain("--signed");
  });

  it("sign-upload refuses a content type that is not one MIME type, an empty one, --max-bytes 0 and an unsigned method (exit 2)", async () => {
    const cases: Array<[string[], string]> = [
      [["--content-type", "image/png\nX-Evil: 1"], "contains a control character"],
      [["--content-type", "image/png\r\n"], "contains a control character"],
      [["--content-type", "garbage"], '"garbage" is not a MIME type'],
      [["--content-type", "image/"], "is not a MIME type"],
      [["--content-type", "text/plain; charset"], "is not a MIME type"],
      [["--content-type", ""], "--content-type is empty"],
      [["--content-type", "  "], "--content-type is empty"],
      [["--max-bytes", "0"], "--max-bytes must be at least 1 byte"],
      [["--max-bytes", "10M"], "MiB"],
      [["--method", "post"], 'the fs storage "private" signs PUT uploads only: give --method put'],
      [["--expires", "10M"], 'write "10m" for minutes'],
    ];
    for (const [options, fix] of cases) {
      const out = await run(["sign-upload", ...options, "private:up/x.png"]);
      expect(out.code, `${options.join(" ")}: ${out.stderr}`).toBe(2);
      expect(out.stderr, options.join(" ")).toContain("E_USAGE");
      expect(out.stderr, options.join(" ")).toContain(fix);
      expect(out.stdout).toBe("");
    }
    const json = await run(["--json", "sign-upload", "--content-type", "a\nb", "private:x"]);
    expect(JSON.parse(json.stderr).error.code).toBe("E_USAGE");
    // put takes the same option, with the same rule: nothing is written.
    const put = await run(["put", "--content-type", "text/plain\nX-Evil: 1", "-", "default:typed.txt"], {
      input: "x",
    });
    expect(put.code).toBe(2);
    expect(put.stderr).toContain("--content-type");
    expect((await run(["stat", "default:typed.txt"])).code).toBe(1);
    // Parameters, quoted or not, are a MIME type.
    for (const type of [
      "text/plain; charset=utf-8",
      'text/plain;charset="utf-8"',
      "application/vnd.api+json",
    ]) {
      const out = await run([
        "--json",
        "sign-upload",
        "--content-type",
        type,
        "--max-bytes",
        "1",
        "private:x",
      ]);
      expect(out.code, `${type}: ${out.stderr}`).toBe(0);
      expect(out.json().headers["content-type"]).toBe(type);
    }
  });

  it("url --download with an empty name (an unset variable) is exit 2, not a URL that downloads nothing", async () => {
    for (const name of ["", " "]) {
      const out = await run(["--json", "url", "--download", name, "private:docs/invoice.pdf"]);
      expect(out.code, out.stderr).toBe(2);
      expect(out.stdout).toBe("");
      expect(JSON.parse(out.stderr).error.message).toContain("--download is empty");
    }
    const own = await run(["--json", "url", "private:docs/invoice.pdf", "--download"]);
    expect(own.code, own.stderr).toBe(0);
    expect(own.json().url).toContain("disposition=attachment");
  });

  it("url --expires 10M is refused as ambiguous (months or minutes); 10m, 1h, 7d and 30s work", async () => {
    const out = await run(["url", "--expires", "10M", "private:a.txt"]);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('"M" is ambiguous (minutes or months?); write "10m" for minutes');
    for (const [value, seconds] of [
      ["10m", 600],
      ["1h", 3600],
      ["7d", 604_800],
      ["30s", 30],
    ] as const) {
      const signed = await run(["--json", "url", "--expires", value, "private:a.txt"]);
      expect(signed.code, `${value}: ${signed.stderr}`).toBe(0);
      const left = (Date.parse(signed.json().expiresAt) - Date.now()) / 1000;
      expect(left).toBeGreaterThan(seconds - 60);
      expect(left).toBeLessThanOrEqual(seconds + 1);
    }
  });

  it("sign-upload for a path on the app's site prints curl with a placeholder origin, and says to replace it", async () => {
    const relative = { ...env, STORAGES_PRIVATE: `file://${dir}/private?signingBaseUrl=/private/` };
    const out = await run(["sign-upload", "--overwrite", "private:up/a.txt"], { env: relative });
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/^url +\/private\/up\/a\.txt\?/m);
    expect(out.stdout).toMatch(
      /^curl -X PUT --data-binary @FILE 'https:\/\/YOUR-SITE\.example\/private\/up\/a\.txt\?/m,
    );
    expect(out.stderr).toContain("replace https://YOUR-SITE.example with that site's origin");
    const json = await run(["--json", "sign-upload", "--overwrite", "private:up/a.txt"], { env: relative });
    expect(json.json().url).toMatch(/^\/private\/up\/a\.txt\?/);
    expect(json.json().curl).toContain("'https://YOUR-SITE.example/private/up/a.txt?");
    // An absolute signing URL is printed as it is, with no note.
    const absolute = await run(["sign-upload", "--overwrite", "private:up/a.txt"]);
    expect(absolute.stdout).toContain("'http://127.0.0.1:1/private/up/a.txt?");
    expect(absolute.stderr).toBe("");
  });
});

describe("addresses: URLs and local paths", () => {
  it("reads and writes file:// URLs and plain paths like named storages", async () => {
    const folder = join(dir, "plain");
    await mkdir(folder);
    await writeFile(join(folder, "a.txt"), "A");
    expect((await run(["ls", folder])).stdout).toBe("a.txt\n");
    expect((await run(["ls", `file://${folder}/`])).stdout).toBe("a.txt\n");
    expect((await run(["cat", `file://${folder}/a.txt`])).stdout).toBe("A");
    expect((await run(["cat", join(folder, "a.txt")])).stdout).toBe("A");
    const put = await run(["put", join(folder, "a.txt"), `file://${folder}/copies/`]);
    expect(put.code, put.stderr).toBe(0);
    expect(await readFile(join(folder, "copies", "a.txt"), "utf8")).toBe("A");
    // A symlinked file is read where it points, and keeps the name it was given.
    await symlink(join(folder, "a.txt"), join(folder, "link.txt"));
    const viaLink = await run(["--json", "put", join(folder, "link.txt"), "default:links/"]);
    expect(viaLink.json().files[0].name).toBe("links/link.txt");
    expect((await run(["cat", "default:links/link.txt"])).stdout).toBe("A");
    // Written through, as cp writes through a symlink, and reported under the name given.
    await run(["put", "-", "default:links/new.txt"], { input: "B" });
    const through = await run(["--json", "get", "default:links/new.txt", join(folder, "link.txt")]);
    expect(through.code, through.stderr).toBe(0);
    expect(through.json().files[0].to).toBe(join(folder, "link.txt"));
    expect(await readFile(join(folder, "a.txt"), "utf8")).toBe("B");
  });

  it("memory:// works (each run its own empty storage)", async () => {
    const out = await run(["ls", "memory://"]);
    expect(out.code).toBe(0);
    expect(out.stdout).toBe("");
  });

  it("refuses bad addresses with exit 2 and a message naming the fix", async () => {
    const cases: Array<[string[], string]> = [
      [["ls", "Media:x"], "write media:…"],
      [["ls", "s3:bucket"], "s3://…, with two slashes"],
      [["ls", "nope://bucket"], 'uses the scheme "nope:", which no backend provides'],
      [["ls", "file:relative/dir"], "file:///absolute/path, with three slashes"],
      [["ls", "unknown:x"], 'No storage named "unknown"'],
      [["ls", "defualt:x"], "did you mean `default`?"],
      [["cat", "default:../etc/passwd"], "E_PATH_TRAVERSAL"],
      [["ls", "s3://AKIAXXX:supersecretvalue@bucket/"], "contains credentials"],
      [["ls", "file:///srv/x?colour=red"], "unknown query parameter `colour`"],
      [["put", "default:a.txt", "default:b.txt"], "put uploads a local file or folder"],
      [["get", "default:a.txt", "private:b.txt"], "get downloads to a local path"],
      [["cat", "default:"], "is a folder"],
    ];
    for (const [args, fix] of cases) {
      const out = await run(args);
      expect(out.code, `${args.join(" ")}: ${out.stderr}`).toBe(2);
      expect(out.stderr, args.join(" ")).toContain(fix);
      expect(out.stderr).not.toContain("supersecretvalue");
      expect(out.stderr).not.toMatch(/\n\s+at /); // no stack without --verbose
    }
  });

  it("refuses unknown options and commands with exit 2", async () => {
    const option = await run(["ls", "--bogus", "default:"]);
    expect(option.code).toBe(2);
    expect(option.stderr).toContain("unknown option '--bogus'");
    const command = await run(["lss"]);
    expect(command.code).toBe(2);
    expect(command.stderr).toContain("Did you mean ls?");
    const json = await run(["--json", "lss"]);
    expect(JSON.parse(json.stderr.split("\n")[0]!).error.code).toBe("E_USAGE");
    const concurrency = await run(["put", "-r", "--concurrency", "0", ".", "default:x/"]);
    expect(concurrency.code).toBe(2);
    // Bounded as copy bounds it: far more files open at once only fails, with EMFILE, file by file.
    for (const args of [
      ["put", "-r", "--concurrency", "1025", ".", "default:x/"],
      ["get", "-r", "--concurrency", "999999999999", "default:", "."],
      ["collectstatic", "--source", ".", "--concurrency", "5000"],
      ["copy", "--concurrency", "2048", "default:", "."],
    ]) {
      const out = await run(["--json", ...args]);
      expect(out.code, `${args.join(" ")}: ${out.stderr}`).toBe(2);
      expect(JSON.parse(out.stderr).error).toMatchObject({
        code: "E_USAGE",
        message: expect.stringContaining("a whole number from 1 to 1024"),
      });
      expect(out.stdout).toBe("");
    }
  });
});

describe("configuration: read as the app reads it", () => {
  it("config --json lists every storage with backend, location, visibility, features and sources — no secret", async () => {
    const out = await run(["--json", "config"]);
    expect(out.code, out.stderr).toBe(0);
    const report = out.json();
    expect(report.mode).toBe("remote");
    expect(report.storages.map((s: { name: string }) => s.name)).toEqual([
      "default",
      "private",
      "staticfiles",
    ]);
    const priv = report.storages.find((s: { name: string }) => s.name === "private");
    expect(priv).toMatchObject({
      backend: "fs",
      source: "STORAGES_PRIVATE",
      location: `${dir}/private`,
      locationParts: { kind: "dir", path: `${dir}/private` },
      visibility: "private",
      secrets: ["STORAGES_PRIVATE_SIGNING_SECRET"],
      features: { signedUrl: "native", rangeRead: "native" },
    });
    expect(priv.sources.signing).toBe("STORAGES_PRIVATE_SIGNING_SECRET");
    const staticfiles = report.storages.find((s: { name: string }) => s.name === "staticfiles");
    expect(staticfiles).toMatchObject({
      readOnly: true,
      visibility: "public",
      publicUrl: "https://cdn.example.com/static/",
    });
    expect(out.stdout + out.stderr).not.toContain(SIGNING);
    const human = await run(["config", "private"]);
    expect(human.stdout).toContain("secrets      STORAGES_PRIVATE_SIGNING_SECRET");
    expect(human.stdout).not.toContain("staticfiles");
    expect(human.stdout + human.stderr).not.toContain(SIGNING);
  });

  it("--env-file loads variables as node --env-file does (the environment wins), --config reads a config file", async () => {
    const envFile = join(dir, "prod.env");
    await writeFile(
      envFile,
      `STORAGES_EXPORTS=file://${dir}/exports\nSTORAGES_DEFAULT=file://${dir}/from-env-file\n`,
    );
    const out = await run(["--json", "--env-file", envFile, "config"]);
    expect(out.code, out.stderr).toBe(0);
    const byName = Object.fromEntries(
      out.json().storages.map((s: { name: string; location: string }) => [s.name, s.location]),
    );
    expect(byName.exports).toBe(`${dir}/exports`);
    expect(byName.default).toBe(media); // already in the environment: it wins, as with node --env-file
    // Node itself checks --env-file anywhere in argv (nodejs/node#54232) and stops with exit 9 when
    // the file is missing, before any of our code runs; where it does not, ours stops with exit 2.
    const missing = await run(["--env-file", join(dir, "nope.env"), "config"]);
    expect([2, 9]).toContain(missing.code);
    expect(missing.stderr).toContain(`${join(dir, "nope.env")}: not found`);
    // -e is the same option, which Node leaves alone.
    const short = await run(["--json", "-e", envFile, "config", "exports"]);
    expect(short.code, short.stderr).toBe(0);
    expect(short.json().storages[0].location).toBe(`${dir}/exports`);

    const configFile = join(dir, "storages.config.json");
    await writeFile(
      configFile,
      JSON.stringify({ reports: { url: `file://${dir}/reports`, visibility: "private" } }),
    );
    const viaFlag = await run(["--json", "--config", configFile, "config", "reports"]);
    expect(viaFlag.code, viaFlag.stderr).toBe(0);
    expect(viaFlag.json().storages[0]).toMatchObject({ name: "reports", sourceKind: "file" });
    // The same file found in the working directory, as the app finds it.
    const inCwd = await run(["--json", "config", "reports"], { cwd: dir });
    expect(inCwd.json().storages[0].location).toBe(`${dir}/reports`);
  });

  it("--config FILE, missing or a folder, is the command line's usage error (exit 2), naming --config", async () => {
    for (const [file, problem] of [
      ["missing.json", "does not exist"],
      [".", "is a folder, not a file"],
    ]) {
      for (const args of [["ls"], ["nginx"]]) {
        const out = await run(["--json", "--config", file!, ...args]);
        expect(out.code, out.stderr).toBe(2);
        expect(out.stdout).toBe("");
        expect(JSON.parse(out.stderr).error).toEqual({
          code: "E_USAGE",
          message: `--config ${file}: ${problem}. Give the app's storages config file (storages.config.json, .js, .mjs or .ts), or leave --config out.`,
        });
      }
    }
  });

  it("-e FILE, missing, a folder or given after the command, is the CLI's own usage error (exit 2, JSON with --json)", async () => {
    const missing = join(dir, "nope.env");
    const human = await run(["-e", missing, "config"]);
    expect(human.code).toBe(2);
    expect(human.stderr).toBe(
      `error E_USAGE: --env-file ${missing}: does not exist. Give the path of a .env file.\n`,
    );
    const json = await run(["--json", "-e", missing, "config"]);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stderr)).toEqual({
      error: {
        code: "E_USAGE",
        message: `--env-file ${missing}: does not exist. Give the path of a .env file.`,
      },
    });
    const folder = await run(["config", "-e", dir]);
    expect(folder.code).toBe(2);
    expect(folder.stderr).toContain(`--env-file ${dir}: is a folder, not a file`);
    expect(folder.stderr).not.toContain("node:");
    // The help says which spelling Node checks itself.
    const help = await run(["--help"]);
    expect(help.stdout).toContain("-e, --env-file <file>");
    expect(help.stdout).toContain("nodejs/node#54232");
  });

  it("ls and config with no storage configured at all say so on stderr (the app's .env not loaded), exit 0", async () => {
    const empty = join(dir, "no-config");
    await mkdir(empty);
    for (const args of [["ls"], ["config"]]) {
      const out = await run(args, { env: baseEnv(), cwd: empty });
      expect(out.code, out.stderr).toBe(0);
      expect(out.stderr).toContain(
        `No storage is configured here: no STORAGES_<NAME> variable, no --config, no storages.config.{json,js,mjs,ts} in ${empty}.`,
      );
      expect(out.stderr).toContain("storages -e .env.production");
      // Scripts get the empty answer alone.
      const json = await run(["--json", ...args], { env: baseEnv(), cwd: empty });
      expect(json.stderr).toBe("");
    }
  });

  it("a bad configuration is exit 2 with the variable and the fix, and no secret", async () => {
    const secret = "wJalrXUtnFEMIK7MDENGbPxRfiCYzzSECRET";
    const out = await run(["ls", "default:"], {
      env: { ...env, STORAGES_DEFAULT: `s3://AKIAIOSFODNN7EXAMPLE:${secret}@media` },
    });
    expect(out.code).toBe(2);
    expect(out.stderr).toContain("STORAGES_DEFAULT contains credentials (user:password@)");
    expect(out.stderr).toContain("STORAGES_DEFAULT_ACCESS_KEY_ID");
    expect(out.stderr).not.toContain(secret);
    const json = await run(["--json", "--verbose", "config"], {
      env: { ...env, STORAGES_DEFAULT: `s3://AKIAIOSFODNN7EXAMPLE:${secret}@media` },
    });
    expect(json.code).toBe(2);
    const report = JSON.parse(json.stderr.trim().split("\n").at(-1)!);
    expect(report.error.code).toBe("E_CONFIG");
    expect(report.error.stack).toContain("ConfigError"); // --verbose adds it…
    expect(json.stderr).not.toContain(secret); // …still without the secret
    const mode = await run(["config"], { env: { ...env, STORAGES_MODE: "staging" } });
    expect(mode.code).toBe(2);
    expect(mode.stderr).toContain('STORAGES_MODE must be "local"');
  });
});

describe("output conventions", () => {
  it("--quiet drops summaries but keeps data; --json never prints progress; NO_COLOR and pipes get no colour", async () => {
    const quiet = await run(["--quiet", "put", "-", "default:q.txt"], { input: "q" });
    expect(quiet.code).toBe(0);
    expect(quiet.stdout).toBe("");
    expect((await run(["--quiet", "cat", "default:q.txt"])).stdout).toBe("q");
    const json = await run(["--json", "put", "-", "default:q2.txt"], { input: "q" });
    expect(json.stderr).toBe("");
    await run(["put", "-", "default:colour/x.txt"], { input: "x" }); // a folder: ls colours folders
    const forced = await run(["ls", "default:"], { env: { ...env, FORCE_COLOR: "1" } });
    expect(forced.stdout).toContain("\u001b[");
    const noColor = await run(["ls", "default:"], { env: { ...env, FORCE_COLOR: "1", NO_COLOR: "1" } });
    expect(noColor.stdout).not.toContain("\u001b[");
    expect((await run(["ls", "default:"])).stdout).not.toContain("\u001b[");
  });

  it("draws progress on stderr when it is a terminal, and never with --json", async () => {
    const big = join(dir, "work", "progress.bin");
    await writeFile(big, Buffer.alloc(64 * 1024 * 1024));
    // `script` gives the command a terminal, as a person's shell does.
    const onTerminal = (args: string) =>
      cli(["-qec", `${BIN} ${args}`, "/dev/null"], {
        env: { ...env, TERM: "xterm" },
        cwd: join(dir, "work"),
      });
    const human = await onTerminal(`put ${big} default:progress/a.bin`);
    expect(human.code, human.stdout).toBe(0);
    expect(human.stdout).toMatch(/\d+% \| [\d.]+ MiB \/ 64\.0 MiB \| [01]\/1 files \| [\d.]+ \w+\/s/);
    expect(human.stdout).not.toContain("{done}");
    const json = await onTerminal(`--json put ${big} default:progress/b.bin`);
    expect(json.code).toBe(0);
    expect(json.stdout).not.toMatch(/\d+% \|/);
    expect(JSON.parse(json.stdout.trim()).copied).toBe(1);
  });

  it("put - from a terminal says it reads what is typed and how to end it; from a pipe it says nothing", async () => {
    const typed = await cli(["-qec", `${BIN} put - default:typed/a.txt`, "/dev/null"], {
      env: { ...env, TERM: "xterm" },
      cwd: join(dir, "work"),
      input: "typed line\n\u0004", // Ctrl-D on a line of its own ends it
    });
    expect(typed.code, typed.stdout).toBe(0);
    expect(typed.stdout).toContain(
      "Reading what you type for default:typed/a.txt: end it with Ctrl-D on a line of its own",
    );
    expect(await readFile(join(media, "typed", "a.txt"), "utf8")).toBe("typed line\n");
    const piped = await run(["put", "-", "default:typed/b.txt"], { input: "piped" });
    expect(piped.stderr).toBe("");
  });

  it("rm -r asks on a terminal, and deletes only on yes", async () => {
    await run(["put", "-", "default:ask/a.txt"], { input: "a" });
    const onTerminal = (answer: string) =>
      cli(["-qec", `${BIN} rm -r default:ask/`, "/dev/null"], {
        env: { ...env, TERM: "xterm" },
        cwd: join(dir, "work"),
        input: answer,
      });
    const no = await onTerminal("n\n");
    expect(no.stdout).toContain("Delete every file below default:ask/? [y/N]");
    expect(no.stdout).toContain("Cancelled: nothing was deleted.");
    expect(no.code).toBe(1);
    expect((await run(["ls", "default:ask/"])).stdout).toBe("a.txt\n");
    const yes = await onTerminal("y\n");
    expect(yes.code, yes.stdout).toBe(0);
    expect(yes.stdout).toContain("deleted 1 file below default:ask/");
    expect((await run(["ls", "default:ask/"])).code).toBe(1);
  });

  it("--verbose shows the stack and causes of an error; without it, only code and message", async () => {
    const plain = await run(["stat", "default:missing.txt"]);
    expect(plain.stderr).toMatch(/^error E_NOT_FOUND: .+\n$/);
    const verbose = await run(["--verbose", "stat", "default:missing.txt"]);
    expect(verbose.stderr).toMatch(/\n\s+at /);
    expect(verbose.stderr).toContain("debug: default:missing.txt → fs storage");
  });

  it("--json --verbose: stderr is NDJSON, debug notes included, as a script parses it", async () => {
    const tree = join(dir, "verbose-json");
    await writeTree(tree, 2, 10);
    const put = await run(["--json", "--verbose", "put", "-r", tree, "default:verbose-json/"]);
    expect(put.code, put.stderr).toBe(0);
    const notes = put.stderr.split("\n").filter((line) => line !== "");
    expect(notes.length).toBeGreaterThanOrEqual(4);
    // Every line one JSON object, the result document on stdout as without -v.
    const parsed = notes.map((line) => JSON.parse(line));
    for (const note of parsed) expect(Object.keys(note.debug)).toEqual(["message"]);
    const messages = parsed.map((note) => note.debug.message);
    expect(messages).toContain('default:verbose-json/ → fs storage "default", folder "verbose-json/"');
    expect(
      messages.some((m: string) => m.startsWith("uploaded ") && m.includes("default:verbose-json/f01.bin")),
    ).toBe(true);
    expect(put.json().copied).toBe(2);
    // With an error, the error is the last line, after the debug notes, all of them JSON.
    const missing = await run(["--json", "--verbose", "stat", "default:missing.txt"]);
    expect(missing.code).toBe(1);
    const lines = missing.stderr
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line));
    expect(lines[0].debug.message).toContain("default:missing.txt → fs storage");
    expect(lines.at(-1).error.code).toBe("E_NOT_FOUND");
  });
});

describe("Ctrl-C", () => {
  it("during a large put from a slow stdin: exit 130, says nothing was written, and leaves nothing behind", async () => {
    const target = join(dir, "interrupted");
    const childEnv = { ...env, STORAGES_DEFAULT: `file://${target}` };
    const { child, done } = start(["put", "-", "default:big/upload.bin"], {
      env: childEnv,
      cwd: join(dir, "work"),
    });
    // Slow: 256 KiB at a time with pauses, until 8 MiB went through (the child is mid-upload).
    await writeSlowly(child, 8 * 1024 * 1024, randomBytes(256 * 1024), 5);
    child.kill("SIGINT");
    const out = await done;
    child.stdin!.destroy();
    expect(out.code, out.stderr).toBe(130);
    expect(out.stderr).toContain("interrupted: no file was written");
    expect(out.stdout).toBe("");
    // Nothing through the storage, and nothing on disk: no partial file, no temporary file.
    const ls = await run(["ls", "-r", "default:"], { env: childEnv });
    expect(ls.stdout).toBe("");
    const left = (await onDisk(target)).filter((name) => !(name === "big"));
    expect(left).toEqual([]);
  });

  it("twice under --json: the exit is said as a JSON error line, like every other error", async () => {
    const target = join(dir, "interrupted-twice");
    const { child, done } = start(["--json", "put", "-", "default:big/twice.bin"], {
      env: { ...env, STORAGES_DEFAULT: `file://${target}` },
      cwd: join(dir, "work"),
    });
    await writeSlowly(child, 4 * 1024 * 1024, randomBytes(256 * 1024), 5);
    // Both at once (two of one signal would merge into one): the second lands while the first is
    // still being handled.
    child.kill("SIGINT");
    child.kill("SIGTERM");
    const out = await done;
    child.stdin!.destroy();
    expect(out.code, out.stderr).toBe(130);
    const lines = out.stderr
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line));
    // (Which of the two the process takes first is the kernel's choice.)
    expect(
      lines.some((line) =>
        /^A second interrupt \(SIG(INT|TERM)\): exiting now, without waiting for clean-up\.$/.test(
          line.error?.message,
        ),
      ),
      out.stderr,
    ).toBe(true);
  });

  it("during get … - (stdout): exit 130, and says stdout got only part of the file, not that nothing was written", async () => {
    await run(["put", "-", "default:interrupt/stdout.bin"], { input: randomBytes(16 * 1024 * 1024) });
    const { child, done } = start(["get", "default:interrupt/stdout.bin", "-"], {
      env,
      cwd: join(dir, "work"),
    });
    child.stdin!.end();
    // The first bytes arrived and the reader is paused: the child waits on a full pipe, mid-file,
    // and takes the signal at its next read of the file once the reader goes on.
    await new Promise<void>((resolve) => child.stdout!.once("data", () => resolve()));
    child.stdout!.pause();
    child.kill("SIGINT");
    child.stdout!.resume();
    const out = await done;
    expect(out.code, out.stderr).toBe(130);
    expect(out.stderr).toContain(
      "error E_ABORTED: interrupted: default:interrupt/stdout.bin was cut short: stdout got only the first part of it.",
    );
    expect(out.stderr).not.toContain("not written");
  });

  it("during put -r: exit 130, and every file listed as written is complete", async () => {
    const tree = join(dir, "many");
    await writeTree(tree, 40, 512 * 1024);
    const target = join(dir, "many-copy");
    const childEnv = { ...env, STORAGES_DEFAULT: `file://${target}` };
    const { child, done } = start(
      ["--json", "--verbose", "put", "-r", "--concurrency", "2", tree, "default:"],
      {
        env: childEnv,
      },
    );
    child.stdin!.end();
    // Interrupted once the first file is written (--verbose reports each one on stderr).
    await stderrShows(child, "uploaded ");
    child.kill("SIGINT");
    const out = await done;
    expect(out.code, out.stderr).toBe(130);
    const report = out.json();
    expect(report.aborted).toBe(true);
    expect(report.copied).toBeLessThan(40);
    for (const file of report.files) expect((await stat(join(target, file.name))).size).toBe(512 * 1024);
    // No temporary file is left; the records (the MD5s) of the files that were written are theirs.
    const isRecord = (n: string) => /(^|\/)\.~storages-meta-[0-9a-f]+\.json$/.test(n);
    const left = (await onDisk(target)).filter(
      (n) => (n.startsWith(".~storages-") || n.includes("/.~storages-")) && !isRecord(n),
    );
    expect(left).toEqual([]);
    // A file whose write was committed just as the signal fired may be there unreported; none is partial.
    for (const name of (await onDisk(target)).filter((n) => !isRecord(n)))
      expect((await stat(join(target, name))).size).toBe(512 * 1024);
  });
});
