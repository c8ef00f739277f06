/**
 * The `storages` binary against a real S3 server: Ceph RGW in CI (`npm test` starts it), or
 * whatever STORAGES_TEST_S3_* points at. Every command through a named storage configured as an
 * app configures it (STORAGES_<NAME> + secret variables), a storage URL with the AWS default
 * credential chain, --json output, exit codes, and Ctrl-C during a multipart upload from a slow
 * stdin. Without a server every test fails with the command to run; none is skipped.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  adminClient,
  createBucket,
  openUploads,
  removeBucket,
  requireTestServer,
  type S3TestServer,
  uniqueBucketName,
} from "../../s3/test/support/server.js";
import { baseEnv, cli, start, writeSlowly } from "./helpers.js";

let server: S3TestServer;
let client: S3Client;
let bucket: string;
let dir: string;
let env: Record<string, string>;
let query: string;

beforeAll(async () => {
  server = requireTestServer();
  client = adminClient(server);
  bucket = server.bucket ?? uniqueBucketName("cli");
  if (!server.bucket) await createBucket(client, bucket);
  dir = await mkdtemp(join(tmpdir(), "storages-cli-s3-"));
  query = new URLSearchParams({
    endpoint: server.endpoint,
    region: server.region,
    profile: server.profile,
  }).toString();
  const secrets = (name: string) => ({
    [`STORAGES_${name}_ACCESS_KEY_ID`]: server.accessKeyId,
    [`STORAGES_${name}_SECRET_ACCESS_KEY`]: server.secretAccessKey,
  });
  env = baseEnv({
    STORAGES_DEFAULT: `s3://${bucket}/cli-media?${query}&visibility=public`,
    STORAGES_PRIVATE: `s3://${bucket}/cli-private?${query}&visibility=private&expiresIn=300`,
    ...secrets("DEFAULT"),
    ...secrets("PRIVATE"),
  });
});

afterAll(async () => {
  if (client) {
    if (server.bucket) {
      const { emptyBucket } = await import("../../s3/test/support/server.js");
      for (const prefix of ["cli-media/", "cli-private/", "cli-url/"])
        await emptyBucket(client, bucket, prefix);
    } else await removeBucket(client, bucket);
    client.destroy();
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

const run = (args: string[], options: { input?: string | Buffer; env?: Record<string, string> } = {}) =>
  cli(args, { env: options.env ?? env, cwd: dir, input: options.input });

const sha = (data: Buffer | string) => createHash("sha256").update(data).digest("hex");

describe(`storages against S3 (${process.env.STORAGES_TEST_S3_SERVER ?? process.env.STORAGES_TEST_S3_ENDPOINT ?? "no server"})`, () => {
  it("put, ls, stat, cat --range, get and rm round-trip a file, --json checked", async () => {
    await writeFile(join(dir, "report.csv"), "a,b\n1,2\n");
    const put = await run([
      "--json",
      "put",
      "--cache-control",
      "public, max-age=60",
      "report.csv",
      "default:exports/",
    ]);
    expect(put.code, put.stderr).toBe(0);
    expect(put.json()).toMatchObject({
      copied: 1,
      bytes: 8,
      files: [{ from: "report.csv", to: "default:exports/report.csv", name: "exports/report.csv", size: 8 }],
    });
    const ls = await run(["--json", "ls", "-r", "default:"]);
    expect(ls.lines().map((e) => [e.type, e.name, e.size])).toEqual([["file", "exports/report.csv", 8]]);
    expect((await run(["ls", "default:"])).stdout).toBe("exports/\n");
    const st = await run(["--json", "stat", "default:exports/report.csv"]);
    expect(st.json()).toMatchObject({
      name: "exports/report.csv",
      size: 8,
      cacheControl: "public, max-age=60",
    });
    expect(st.json().contentType).toMatch(/^text\/csv/);
    expect((await run(["cat", "default:exports/report.csv"])).stdout).toBe("a,b\n1,2\n");
    expect((await run(["cat", "--range", "4-6", "default:exports/report.csv"])).stdout).toBe("1,2");
    expect((await run(["cat", "--range", "-2", "default:exports/report.csv"])).stdout).toBe("2\n");
    const get = await run(["get", "default:exports/report.csv", join(dir, "back.csv")]);
    expect(get.code, get.stderr).toBe(0);
    expect(await readFile(join(dir, "back.csv"), "utf8")).toBe("a,b\n1,2\n");
    const removed = await run(["--json", "rm", "default:exports/report.csv"]);
    expect(removed.json()).toMatchObject({ deleted: 1 });
    const missing = await run(["stat", "default:exports/report.csv"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error E_NOT_FOUND: /);
  });

  it("streams 20 MiB from stdin (a multipart upload) and back to stdout", async () => {
    const body = randomBytes(20 * 1024 * 1024 + 3);
    const put = await run(["--json", "put", "-", "default:big/stdin.bin"], { input: body });
    expect(put.code, put.stderr).toBe(0);
    expect(put.json().bytes).toBe(body.length);
    const { child, done } = start(["get", "default:big/stdin.bin", "-"], { env, cwd: dir });
    child.stdin!.end();
    const hash = createHash("sha256");
    child.stdout!.on("data", (c: Buffer) => hash.update(c));
    const got = await done;
    expect(got.code, got.stderr).toBe(0);
    expect(hash.digest("hex")).toBe(sha(body));
  });

  it("put -r, get -r and rm -r --yes a folder", async () => {
    const tree = join(dir, "tree");
    await mkdir(join(tree, "css"), { recursive: true });
    await writeFile(join(tree, "index.html"), "<h1>hi</h1>");
    await writeFile(join(tree, "css", "app.css"), "body{}");
    await writeFile(join(tree, "css", "with space.css"), "p{}");
    const put = await run(["--json", "put", "-r", tree, "default:site/"]);
    expect(put.code, put.stderr).toBe(0);
    expect(put.json().copied).toBe(3);
    expect((await run(["ls", "-r", "default:site/"])).stdout).toBe(
      "css/app.css\ncss/with space.css\nindex.html\n",
    );
    const out = join(dir, "site-copy");
    const get = await run(["get", "-r", "default:site/", `${out}/`]);
    expect(get.code, get.stderr).toBe(0);
    expect(await readFile(join(out, "css", "with space.css"), "utf8")).toBe("p{}");
    const refused = await run(["rm", "-r", "default:site/"]);
    expect(refused.code).toBe(2);
    const removed = await run(["--json", "rm", "-r", "--yes", "default:site/"]);
    expect(removed.json()).toMatchObject({ recursive: true, deleted: 3 });
    expect((await run(["ls", "default:site/"])).code).toBe(1);
  });

  it("url: a public file's plain URL and a private file's signed URL both fetch; unsigned private is refused", async () => {
    await run(["put", "-", "default:pub/hello.txt"], { input: "public hello" });
    const pub = await run(["--json", "url", "default:pub/hello.txt"]);
    expect(pub.json()).toMatchObject({ signed: false });
    const fetched = await fetch(pub.json().url);
    expect(fetched.status).toBe(200);
    expect(await fetched.text()).toBe("public hello");

    await run(["put", "-", "private:docs/secret.txt"], { input: "private data" });
    const signed = await run(["url", "--download", "mine.txt", "private:docs/secret.txt"]);
    expect(signed.code, signed.stderr).toBe(0);
    const url = signed.stdout.trim();
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("private data");
    expect(response.headers.get("content-disposition")).toContain("mine.txt");
    const unsigned = new URL(url);
    unsigned.search = "";
    expect([401, 403]).toContain((await fetch(unsigned)).status);
    const json = await run(["--json", "url", "--expires", "2m", "private:docs/secret.txt"]);
    expect(Date.parse(json.json().expiresAt) - Date.now()).toBeLessThanOrEqual(120_000);
  });

  it("sign-upload: the printed PUT works from a plain HTTP client", async () => {
    const put = await run([
      "--json",
      "sign-upload",
      "--overwrite",
      "--content-type",
      "text/plain",
      "private:up/put.txt",
    ]);
    expect(put.code, put.stderr).toBe(0);
    const u = put.json();
    expect(u).toMatchObject({ method: "PUT", name: "up/put.txt" });
    const sent = await fetch(u.url, { method: "PUT", headers: u.headers, body: "via PUT" });
    expect(sent.status).toBe(200);
    expect((await run(["cat", "private:up/put.txt"])).stdout).toBe("via PUT");
  });

  it("sign-upload --max-bytes: the printed POST form uploads, and the server refuses a bigger body", async (context) => {
    const config = await run(["--json", "config", "private"]);
    if (!config.json().storages[0].features.signedUploadMaxBytes.includes("post")) {
      context.skip(`NOT VERIFIABLE on ${server.label}: its profile (${server.profile}) has no POST policies`);
    }
    const post = await run(["--json", "sign-upload", "--max-bytes", "1KiB", "private:up/post.txt"]);
    expect(post.code, post.stderr).toBe(0);
    const p = post.json();
    expect(p.method).toBe("POST");
    expect(p.name).toMatch(/^up\/post_[A-Za-z0-9]{7}\.txt$/);
    const form = new FormData();
    for (const [k, v] of Object.entries(p.fields as Record<string, string>)) form.append(k, v);
    form.append("file", new Blob(["via POST"]), "post.txt");
    const posted = await fetch(p.url, { method: "POST", body: form });
    expect(posted.status).toBeLessThan(300);
    expect((await run(["cat", `private:${p.name}`])).stdout).toBe("via POST");
    const tooBig = new FormData();
    for (const [k, v] of Object.entries(p.fields as Record<string, string>)) tooBig.append(k, v);
    tooBig.append("file", new Blob([randomBytes(4096)]), "post.txt");
    expect((await fetch(p.url, { method: "POST", body: tooBig })).status).toBeGreaterThanOrEqual(400);
  });

  it("a storage URL address works with the AWS default credential chain", async () => {
    const urlEnv = baseEnv({
      AWS_ACCESS_KEY_ID: server.accessKeyId,
      AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
    });
    const address = (path: string) => `s3://${bucket}/cli-url/${path}?${query}`;
    const put = await run(["put", "-", address("notes/a.txt")], { input: "by url", env: urlEnv });
    expect(put.code, put.stderr).toBe(0);
    expect(put.stdout).toBe(`uploaded - → s3://${bucket}/cli-url/notes/a.txt (6 B)\n`);
    expect((await run(["ls", "-r", address("")], { env: urlEnv })).stdout).toBe("notes/a.txt\n");
    expect((await run(["ls", address("notes")], { env: urlEnv })).stdout).toBe("a.txt\n");
    expect((await run(["cat", address("notes/a.txt")], { env: urlEnv })).stdout).toBe("by url");
    // The configured storages' secrets are never used for a URL typed on the command line: without
    // a default chain, it is a configuration error that says where credentials go.
    const noChain = await run(["ls", "-r", address("")], { env });
    expect(noChain.code).toBe(2);
    expect(noChain.stderr).toContain("Set credentials");
    expect(noChain.stderr).not.toContain(server.secretAccessKey);
  });

  it("config --json shows the S3 storages with their sources, the secret variables' names and no secret", async () => {
    const out = await run(["--json", "config"]);
    expect(out.code, out.stderr).toBe(0);
    const [first, second] = out.json().storages;
    expect(first).toMatchObject({
      name: "default",
      backend: "s3",
      location: `s3://${bucket}/cli-media/`,
      locationParts: { kind: "bucket", bucket, prefix: "cli-media/" },
      visibility: "public",
      secrets: ["STORAGES_DEFAULT_ACCESS_KEY_ID", "STORAGES_DEFAULT_SECRET_ACCESS_KEY"],
      sources: { credentials: "STORAGES_DEFAULT_ACCESS_KEY_ID and STORAGES_DEFAULT_SECRET_ACCESS_KEY" },
    });
    expect(second).toMatchObject({ name: "private", visibility: "private", signedUrlExpiresIn: 300 });
    expect(out.stdout + out.stderr).not.toContain(server.secretAccessKey);
  });

  it("wrong credentials: exit 1 with the service's refusal, and never the secret", async () => {
    const wrong = "wrongSecretKeyValueThatMustNotLeak000000";
    const out = await run(["--verbose", "ls", "default:"], {
      env: { ...env, STORAGES_DEFAULT_SECRET_ACCESS_KEY: wrong },
    });
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/error E_(PERMISSION_DENIED|BACKEND): /);
    expect(out.stderr).not.toContain(wrong);
  });

  it("Ctrl-C during a multipart put from a slow stdin: exit 130, no object, no open upload", async () => {
    const { child, done } = start(["put", "-", "default:interrupted/big.bin"], { env, cwd: dir });
    // 20 MiB at a slow pace: the first 8 MiB parts are being uploaded when Ctrl-C comes.
    await writeSlowly(child, 20 * 1024 * 1024, randomBytes(512 * 1024), 10);
    child.kill("SIGINT");
    const out = await done;
    child.stdin!.destroy();
    expect(out.code, out.stderr).toBe(130);
    expect(out.stderr).toContain("interrupted: no file was written");
    expect((await run(["ls", "-r", "default:"])).stdout).not.toContain("interrupted/");
    expect(await openUploads(client, bucket, "cli-media/interrupted/")).toEqual([]);
  });
});
