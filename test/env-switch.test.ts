/**
 * End to end: the example upload service (examples/env-switch) runs unchanged, as a child process
 * on the built packages, against a local folder, Ceph RGW (S3), Azurite and the GCS emulator. Only
 * its environment differs. A backend whose STORAGES_TEST_* variables are missing fails with the
 * command to run (`npm test` at the root starts all three servers); nothing is skipped silently.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..");
const EXAMPLE = join(ROOT, "examples", "env-switch");
const PACKAGES = ["core", "fs", "s3", "gcs", "azure"];
const RUN = `e2e${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;

type Env = Record<string, string>;

interface Prepared {
  env: Env;
  cleanup(): Promise<void>;
}

interface Target {
  id: string;
  label: string;
  /** Expected `backend` of every storage in /api/config. */
  backend: string;
  /** Variables this target needs from the test runner's environment. */
  requires: string[];
  /** Whether the server refuses anonymous reads of private files (the GCS emulator checks nothing). */
  refusesAnonymousReads: boolean;
  prepare(): Promise<Prepared>;
}

function need(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

/** The same three storages for every backend; secrets in their own variables, never in the URL. */
function threeStorages(
  url: (role: "media" | "private" | "static") => string,
  secrets: (variable: string) => Env,
): Env {
  return {
    STORAGES_DEFAULT: `${url("media")}${url("media").includes("?") ? "&" : "?"}visibility=public`,
    STORAGES_PRIVATE: `${url("private")}${url("private").includes("?") ? "&" : "?"}visibility=private&expiresIn=300`,
    STORAGES_STATICFILES: `${url("static")}${url("static").includes("?") ? "&" : "?"}visibility=public`,
    ...secrets("STORAGES_DEFAULT"),
    ...secrets("STORAGES_PRIVATE"),
    ...secrets("STORAGES_STATICFILES"),
  };
}

const fsTarget: Target = {
  id: "fs",
  label: "local folders",
  backend: "fs",
  requires: [],
  refusesAnonymousReads: true,
  async prepare() {
    const dir = await mkdtemp(join(tmpdir(), "storages-e2e-"));
    return {
      env: {
        STORAGES_DEFAULT: `file://${dir}/media?baseUrl=/media/&visibility=public`,
        STORAGES_PRIVATE: `file://${dir}/private?visibility=private&signingBaseUrl=/private/`,
        STORAGES_PRIVATE_SIGNING_SECRET: randomBytes(48).toString("base64"),
        STORAGES_STATICFILES: `file://${dir}/static?visibility=public`,
      },
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
};

const rgwTarget: Target = {
  id: "rgw",
  label: process.env.STORAGES_TEST_S3_SERVER ?? "S3 (STORAGES_TEST_S3_*)",
  backend: "s3",
  requires: [
    "STORAGES_TEST_S3_ENDPOINT",
    "STORAGES_TEST_S3_ACCESS_KEY_ID",
    "STORAGES_TEST_S3_SECRET_ACCESS_KEY",
  ],
  refusesAnonymousReads: true,
  async prepare() {
    const { S3Client, CreateBucketCommand, DeleteBucketCommand, ListObjectsV2Command, DeleteObjectsCommand } =
      await import("@aws-sdk/client-s3");
    const endpoint = need("STORAGES_TEST_S3_ENDPOINT");
    const region = process.env.STORAGES_TEST_S3_REGION ?? "us-east-1";
    const profile = process.env.STORAGES_TEST_S3_PROFILE;
    const credentials = {
      accessKeyId: need("STORAGES_TEST_S3_ACCESS_KEY_ID"),
      secretAccessKey: need("STORAGES_TEST_S3_SECRET_ACCESS_KEY"),
    };
    const client = new S3Client({
      endpoint,
      region,
      credentials,
      forcePathStyle: true,
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
    const shared = process.env.STORAGES_TEST_S3_BUCKET;
    // Separate buckets (the usual production layout) unless the runner provides one bucket.
    const location = (role: string) =>
      shared ? { bucket: shared, prefix: `${RUN}/${role}` } : { bucket: `${RUN}-${role}`, prefix: "" };
    const roles = ["media", "private", "static"] as const;
    if (!shared)
      for (const role of roles) await client.send(new CreateBucketCommand({ Bucket: location(role).bucket }));
    const query = new URLSearchParams({ endpoint, region, ...(profile ? { profile } : {}) });
    return {
      env: threeStorages(
        (role) => {
          const { bucket, prefix } = location(role);
          return `s3://${bucket}/${prefix}?${query}`;
        },
        (v) => ({
          [`${v}_ACCESS_KEY_ID`]: credentials.accessKeyId,
          [`${v}_SECRET_ACCESS_KEY`]: credentials.secretAccessKey,
        }),
      ),
      async cleanup() {
        for (const role of roles) {
          const { bucket, prefix } = location(role);
          for (;;) {
            const page = await client.send(
              new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || undefined }),
            );
            const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
            if (keys.length === 0) break;
            await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
          }
          if (!shared) await client.send(new DeleteBucketCommand({ Bucket: bucket }));
        }
        client.destroy();
      },
    };
  },
};

const azuriteTarget: Target = {
  id: "azurite",
  label: process.env.STORAGES_TEST_AZURE_SERVER ?? "Azure (STORAGES_TEST_AZURE_*)",
  backend: "azure",
  requires: ["STORAGES_TEST_AZURE_CONNECTION_STRING"],
  refusesAnonymousReads: true,
  async prepare() {
    const { BlobServiceClient } = await import("@azure/storage-blob");
    const connectionString = need("STORAGES_TEST_AZURE_CONNECTION_STRING");
    const account = /(?:^|;)\s*AccountName=([^;]+)/i.exec(connectionString)?.[1];
    if (!account) throw new Error("STORAGES_TEST_AZURE_CONNECTION_STRING has no AccountName=");
    const service = BlobServiceClient.fromConnectionString(connectionString);
    // Azure's visibility is the container's: public media and static files, a private container for documents.
    const containers = { media: `${RUN}-media`, private: `${RUN}-private`, static: `${RUN}-static` };
    await service.createContainer(containers.media, { access: "blob" });
    await service.createContainer(containers.private);
    await service.createContainer(containers.static, { access: "blob" });
    return {
      env: threeStorages(
        (role) => `azure://${account}/${containers[role]}`,
        (v) => ({ [`${v}_CONNECTION_STRING`]: connectionString }),
      ),
      async cleanup() {
        for (const name of Object.values(containers))
          await service.deleteContainer(name).catch(() => undefined);
      },
    };
  },
};

const gcsTarget: Target = {
  id: "gcs-emulator",
  label: process.env.STORAGES_TEST_GCS_SERVER ?? "GCS (STORAGES_TEST_GCS_*)",
  backend: "gcs",
  requires: ["STORAGES_TEST_GCS_ENDPOINT", "STORAGES_TEST_GCS_PROJECT"],
  refusesAnonymousReads: false,
  async prepare() {
    const endpoint = need("STORAGES_TEST_GCS_ENDPOINT");
    const projectId = need("STORAGES_TEST_GCS_PROJECT");
    // The emulator creates buckets on first write (CreateBucket answers 501); one bucket, three prefixes.
    const bucket = process.env.STORAGES_TEST_GCS_BUCKET ?? `${RUN}-bucket`;
    const query = new URLSearchParams({ endpoint, projectId });
    // Emulators check no signature, but the SDK needs a service-account key to sign URLs at all.
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const key = JSON.stringify({
      type: "service_account",
      project_id: projectId,
      client_email: `storages-e2e@${projectId}.iam.gserviceaccount.com`,
      private_key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    });
    return {
      env: threeStorages(
        (role) => `gs://${bucket}/${RUN}/${role}?${query}`,
        (v) => ({ [`${v}_CREDENTIALS_JSON`]: key }),
      ),
      async cleanup() {
        // The JSON API directly (the SDK is a dependency of @storages/gcs only).
        const objects = `${endpoint}/storage/v1/b/${encodeURIComponent(bucket)}/o`;
        for (;;) {
          const list = await fetch(`${objects}?prefix=${encodeURIComponent(`${RUN}/`)}`);
          const items: Array<{ name: string }> = list.ok ? ((await list.json()).items ?? []) : [];
          if (items.length === 0) break;
          for (const { name } of items)
            await fetch(`${objects}/${encodeURIComponent(name)}`, { method: "DELETE" });
        }
      },
    };
  },
};

// ---------------------------------------------------------------------------------------------
// Running the example

interface Output {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The child sees only PATH and the storage variables: nothing leaks in from the runner's environment. */
function childEnv(env: Env): Env {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env };
}

function runScript(script: string, env: Env): Promise<Output> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script], {
      cwd: EXAMPLE,
      env: childEnv(env),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

interface RunningServer {
  origin: string;
  child: ChildProcess;
  stderr(): string;
  stop(): Promise<void>;
}

function startServer(env: Env): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["server.js"], {
      cwd: EXAMPLE,
      env: childEnv({ ...env, PORT: "0", HOST: "127.0.0.1" }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    const stop = () =>
      new Promise<void>((done) => {
        if (child.exitCode !== null || child.signalCode !== null) return done();
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        child.once("exit", () => {
          clearTimeout(timer);
          done();
        });
        child.kill("SIGTERM");
      });
    child.stderr.on("data", (d) => (stderr += d));
    child.stdout.on("data", (d) => {
      stdout += d;
      const line = stdout.split("\n").find((l) => l.startsWith('{"listening"'));
      if (line) resolve({ origin: JSON.parse(line).listening, child, stderr: () => stderr, stop });
    });
    child.on("error", reject);
    child.on("exit", (code) =>
      reject(new Error(`server.js exited with ${code} before listening:\n${stderr}`)),
    );
  });
}

/** Test traffic goes to loopback only: a URL pointing anywhere else fails the test instead of leaving. */
function loopback(url: string, origin: string): URL {
  const u = new URL(url, origin);
  expect(["127.0.0.1", "localhost", "[::1]"], `refusing to fetch ${u.origin}`).toContain(u.hostname);
  return u;
}

function withoutQuery(url: URL): URL {
  const u = new URL(url);
  u.search = "";
  return u;
}

beforeAll(() => {
  const missing = PACKAGES.filter((p) => !existsSync(join(ROOT, "packages", p, "dist", "index.js")));
  if (missing.length > 0) {
    throw new Error(
      `The example runs on the built packages, and ${missing.map((p) => `@storages/${p}`).join(", ")} ` +
        "is not built: run `npm run build` first (`npm test` at the repository root builds and starts the servers).",
    );
  }
});

for (const target of [fsTarget, rgwTarget, azuriteTarget, gcsTarget]) {
  describe(`examples/env-switch on ${target.id} (${target.label})`, () => {
    let prepared: Prepared | undefined;
    let server: RunningServer | undefined;
    /** Why the server is not there: every test fails with it (a missing server is a failure, not a skip). */
    let setupError: unknown;
    const api = (path: string, init?: RequestInit) => {
      if (setupError) throw setupError;
      return fetch(new URL(path, server!.origin), init);
    };

    beforeAll(async () => {
      try {
        const missing = target.requires.filter((v) => !process.env[v]);
        if (missing.length > 0) {
          throw new Error(
            `${missing.join(", ")} not set: this test needs a running ${target.id} server. Run \`npm test\` at the ` +
              `repository root (it starts RGW, Azurite and the GCS emulator), or \`node scripts/servers/${target.id}.mjs start\` ` +
              "and export the variables it prints.",
          );
        }
        prepared = await target.prepare();
        const published = await runScript("publish-static.js", prepared.env);
        if (published.code !== 0) throw new Error(`publish-static.js failed:\n${published.stderr}`);
        expect(JSON.parse(published.stdout)).toEqual({ published: 2, backend: target.backend });
        server = await startServer(prepared.env);
      } catch (error) {
        setupError = error;
      }
    });

    afterAll(async () => {
      await server?.stop();
      await prepared?.cleanup();
    });

    it("runs every named storage on the backend the environment chose", async () => {
      const config = await (await api("/api/config")).json();
      expect(config.mode).toBe("remote");
      expect(
        config.storages.map((s: { name: string; backend: string; readOnly: boolean }) => [
          s.name,
          s.backend,
          s.readOnly,
        ]),
      ).toEqual([
        ["default", target.backend, false],
        ["private", target.backend, false],
        ["staticfiles", target.backend, true],
      ]);
      // Secrets stay in their variables.
      const text = JSON.stringify(config);
      for (const [key, value] of Object.entries(prepared!.env)) {
        if (/SECRET|CONNECTION_STRING|KEY|CREDENTIALS/.test(key)) expect(text).not.toContain(value);
      }
    });

    it("saves public uploads with collision-safe names and serves them at their URL", async () => {
      const first = await api("/api/media/avatars/ada lovelace.txt", {
        method: "PUT",
        body: "hello",
        headers: { "content-type": "text/plain" },
      });
      expect(first.status).toBe(201);
      const saved = await first.json();
      expect(saved).toMatchObject({ name: "avatars/ada lovelace.txt", size: 5 });
      const second = await (
        await api("/api/media/avatars/ada lovelace.txt", { method: "PUT", body: "again" })
      ).json();
      expect(second.name).toMatch(/^avatars\/ada lovelace_[A-Za-z0-9]{7}\.txt$/);

      const direct = await fetch(loopback(saved.url, server!.origin));
      expect(direct.status).toBe(200);
      expect(await direct.text()).toBe("hello");
      const throughApp = await api(`/api/media/${encodeURIComponent(second.name)}`);
      expect(await throughApp.text()).toBe("again");
    });

    it("hands out working signed URLs for private documents", async () => {
      const response = await api("/api/private/invoices/2024-01.txt", {
        method: "PUT",
        body: "private data",
      });
      expect(response.status).toBe(201);
      const { url } = await response.json();
      const signed = loopback(url, server!.origin);
      expect(signed.search).not.toBe("");
      const fetched = await fetch(signed);
      expect(fetched.status).toBe(200);
      expect(await fetched.text()).toBe("private data");
    });

    it.skipIf(!target.refusesAnonymousReads)(
      `refuses a private document without its signature${target.refusesAnonymousReads ? "" : " (gap: the GCS emulator checks no authorisation)"}`,
      async () => {
        const { url } = await (
          await api("/api/private/secret.txt", { method: "PUT", body: "top secret" })
        ).json();
        const anonymous = await fetch(withoutQuery(loopback(url, server!.origin)));
        expect([401, 403, 404]).toContain(anonymous.status);
        expect(await anonymous.text()).not.toContain("top secret");
      },
    );

    it("reads static files published at deploy time, and refuses to let the app write them", async () => {
      const css = await api("/api/static/css/app.css");
      expect(css.status).toBe(200);
      expect(await css.text()).toContain("font-family");
      const write = await api("/api/static/css/app.css", { method: "PUT", body: "body{display:none}" });
      expect(write.status).toBe(403);
      expect((await write.json()).code).toBe("E_READ_ONLY");
      expect(await (await api("/api/static/css/app.css")).text()).toContain("font-family");
    });

    it("refuses traversal and reports missing files", async () => {
      const traversal = await api("/api/media/%2e%2e%2f%2e%2e%2fetc%2fpasswd");
      expect(traversal.status).toBe(400);
      expect((await traversal.json()).code).toBe("E_PATH_TRAVERSAL");
      const missing = await api("/api/media/nope.txt");
      expect(missing.status).toBe(404);
    });

    it("deletes", async () => {
      await api("/api/media/tmp.txt", { method: "PUT", body: "x" });
      expect((await api("/api/media/tmp.txt", { method: "DELETE" })).status).toBe(204);
      expect((await api("/api/media/tmp.txt")).status).toBe(404);
    });
  });
}

describe("the local/remote switch and configuration errors, by environment alone", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "storages-e2e-local-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("STORAGES_MODE=local puts every storage in a local folder, whatever the remote configuration says", async () => {
    const env = {
      // Production configuration, left in place; no server answers at this endpoint.
      STORAGES_DEFAULT: "s3://prod-media?endpoint=http://127.0.0.1:9&region=eu-west-1&visibility=public",
      STORAGES_PRIVATE: "azure://prodaccount/private-docs?visibility=private",
      STORAGES_STATICFILES: "gs://prod-static/static?visibility=public",
      STORAGES_MODE: "local",
      STORAGES_LOCAL_ROOT: dir,
    };
    const published = await runScript("publish-static.js", env);
    expect(JSON.parse(published.stdout)).toEqual({ published: 2, backend: "fs" });
    const server = await startServer(env);
    try {
      const config = await (await fetch(new URL("/api/config", server.origin))).json();
      expect(config.mode).toBe("local");
      expect(
        config.storages.map((s: { name: string; backend: string; visibility: string }) => [
          s.name,
          s.backend,
          s.visibility,
        ]),
      ).toEqual([
        ["default", "fs", "public"],
        ["private", "fs", "private"],
        ["staticfiles", "fs", "public"],
      ]);
      const saved = await fetch(new URL("/api/media/a.txt", server.origin), { method: "PUT", body: "local" });
      expect(saved.status).toBe(201);
      // url() works in dev as in production: the app serves the folder under /storages/<name>/.
      const { url } = await saved.json();
      expect(url).toBe("/storages/default/a.txt");
      expect(await (await fetch(new URL(url, server.origin))).text()).toBe("local");
      const doc = await fetch(new URL("/api/private/doc.txt", server.origin), {
        method: "PUT",
        body: "mine",
      });
      const signed = new URL((await doc.json()).url, server.origin);
      expect(signed.pathname).toBe("/storages/private/doc.txt");
      expect(await (await fetch(signed)).text()).toBe("mine");
      expect((await fetch(withoutQuery(signed))).status).toBe(403);
    } finally {
      await server.stop();
    }
    expect((await readdir(dir)).sort()).toEqual(["default", "private", "staticfiles"]);
    // (the fs driver keeps its metadata in ".~storages-" entries next to the files)
    expect((await readdir(join(dir, "default"))).filter((n) => !n.startsWith(".~storages-"))).toEqual([
      "a.txt",
    ]);
  });

  it("a bad configuration stops the service at boot with the variable and the fix, and no secret", async () => {
    const out = await runScript("server.js", {
      STORAGES_DEFAULT: "s3://AKIAEXAMPLE:wJalrXUtnFEMIsecretKEY@media",
      STORAGES_STATICFILES: `file://${dir}/static`,
      STORAGES_PRIVATE: `file://${dir}/static/private`,
      PORT: "0",
    });
    expect(out.code).toBe(1);
    expect(out.stderr).toContain("STORAGES_DEFAULT contains credentials (user:password@)");
    expect(out.stderr).toContain("STORAGES_DEFAULT_ACCESS_KEY_ID");
    expect(out.stderr).not.toContain("wJalrXUtnFEMIsecretKEY");
    const overlap = await runScript("server.js", {
      STORAGES_DEFAULT: `file://${dir}/media`,
      STORAGES_STATICFILES: `file://${dir}/static`,
      STORAGES_PRIVATE: `file://${dir}/static/private`,
      PORT: "0",
    });
    expect(overlap.code).toBe(1);
    expect(overlap.stderr).toContain(`STORAGES_PRIVATE and STORAGES_STATICFILES point to nested locations`);
    expect(existsSync(join(dir, "static"))).toBe(false);
  });
});
