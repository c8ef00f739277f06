/**
 * `storages config --json` and the app agree: run in examples/env-switch with the app's own
 * environment, the binary reports exactly the storages the running app reports at /api/config
 * (its `registry.describe()`), in remote and in local mode — and neither prints a secret, with a
 * real-looking value in every secret variable each configured backend reads.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backend as azure } from "@storages/azure";
import { backend as fs } from "@storages/fs";
import { backend as gcs } from "@storages/gcs";
import { backend as s3 } from "@storages/s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { baseEnv, cli, ROOT } from "./helpers.js";

const EXAMPLE = join(ROOT, "examples", "env-switch");
let dir: string;
let keyJson: string;
let privateKeyPem: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "storages-cli-envswitch-"));
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  privateKeyPem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  keyJson = JSON.stringify({
    type: "service_account",
    project_id: "acme-prod",
    private_key_id: randomBytes(20).toString("hex"),
    private_key: privateKeyPem,
    client_email: "media@acme-prod.iam.gserviceaccount.com",
    client_id: "104729384756102938475",
  });
  await writeFile(join(dir, "gcs-key.json"), keyJson);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const b64 = (bytes: number) => randomBytes(bytes).toString("base64");
const ACCOUNT = "acmemedia";

/** A real-looking value for each secret variable, by its suffix. */
function secretValue(variable: string): string {
  if (variable.endsWith("_ACCESS_KEY_ID")) return `AKIA${randomBytes(8).toString("hex").toUpperCase()}`;
  if (variable.endsWith("_SECRET_ACCESS_KEY")) return b64(30);
  if (variable.endsWith("_SESSION_TOKEN")) return `IQoJb3JpZ2luX2VjE${b64(180)}`;
  if (variable.endsWith("_CONNECTION_STRING"))
    return `DefaultEndpointsProtocol=https;AccountName=${ACCOUNT};AccountKey=${b64(64)};EndpointSuffix=core.windows.net`;
  if (variable.endsWith("_ACCOUNT_KEY")) return b64(64);
  if (variable.endsWith("_SAS_TOKEN"))
    return `sv=2022-11-02&ss=b&srt=co&sp=rwdlac&se=2030-01-01T00:00:00Z&st=2024-01-01T00:00:00Z&spr=https&sig=${encodeURIComponent(b64(32))}`;
  if (variable.endsWith("_CREDENTIALS_JSON") || variable.endsWith("_CREDENTIALS")) return keyJson;
  if (variable.endsWith("_KEY_FILE")) return join(dir, "gcs-key.json");
  if (variable.endsWith("_SIGNING_SECRET")) return b64(48);
  throw new Error(`no test value for ${variable}`);
}

const REMOTE = {
  STORAGES_DEFAULT: "s3://acme-media/uploads?region=eu-west-1&visibility=public",
  STORAGES_PRIVATE: `azure://${ACCOUNT}/private-docs?visibility=private&expiresIn=300`,
  STORAGES_STATICFILES: "gs://acme-static/static?projectId=acme-prod&visibility=public",
};

/**
 * Round `round` of the remote configuration: every S3 secret variable, and the `round`-th of the
 * Azure and GCS ones (each of those backends takes exactly one of its variables).
 */
function remoteEnv(round: number): Record<string, string> {
  const env: Record<string, string> = {
    ...REMOTE,
    STORAGES_UPLOADS: `file://${dir}/uploads?signingBaseUrl=/uploads/`,
  };
  for (const v of s3.secretVariables!("default")) env[v.name] = secretValue(v.name);
  const azureVariables = azure.secretVariables!("private");
  env[azureVariables[round % azureVariables.length]!.name] = secretValue(
    azureVariables[round % azureVariables.length]!.name,
  );
  const gcsVariables = gcs.secretVariables!("staticfiles");
  env[gcsVariables[round % gcsVariables.length]!.name] = secretValue(
    gcsVariables[round % gcsVariables.length]!.name,
  );
  for (const v of fs.secretVariables!("uploads")) env[v.name] = secretValue(v.name);
  return env;
}

function localEnv(): Record<string, string> {
  const env: Record<string, string> = {
    ...remoteEnv(0),
    STORAGES_MODE: "local",
    STORAGES_LOCAL_ROOT: join(dir, "local"),
  };
  // Local mode: every storage is an fs folder; their signing secrets are set too.
  for (const name of ["default", "private", "staticfiles", "uploads"])
    for (const v of fs.secretVariables!(name)) env[v.name] = secretValue(v.name);
  return env;
}

interface AppConfig {
  mode: string;
  storages: Array<Record<string, unknown> & { name: string }>;
}

/** Starts the example app with `env`, reads /api/config, stops it. */
async function appConfig(env: Record<string, string>): Promise<{ config: AppConfig; output: string }> {
  const child: ChildProcess = spawn(process.execPath, ["server.js"], {
    cwd: EXAMPLE,
    env: baseEnv({ ...env, PORT: "0", HOST: "127.0.0.1" }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const origin = await new Promise<string>((resolve, reject) => {
    child.stdout!.on("data", (d) => {
      stdout += d;
      const line = stdout.split("\n").find((l) => l.startsWith('{"listening"'));
      if (line) resolve(JSON.parse(line).listening);
    });
    child.on("exit", (code) => reject(new Error(`server.js exited with ${code}:\n${stderr}`)));
  });
  try {
    const config = (await (await fetch(`${origin}/api/config`)).json()) as AppConfig;
    return { config, output: stdout + stderr };
  } finally {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  }
}

function secretsOf(env: Record<string, string>): string[] {
  const values = Object.entries(env)
    .filter(([key]) =>
      /_(ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN|CONNECTION_STRING|ACCOUNT_KEY|SAS_TOKEN|CREDENTIALS_JSON|CREDENTIALS|SIGNING_SECRET)$/.test(
        key,
      ),
    )
    .map(([, value]) => value);
  // The parts of a key file a leak would show: the key's body and id, as well as the whole JSON.
  const pemBody = privateKeyPem.split("\n").filter((l) => l && !l.startsWith("-----"));
  return [...values, keyJson, ...pemBody.slice(0, 3), JSON.parse(keyJson).private_key_id];
}

async function compare(env: Record<string, string>, mode: "local" | "remote") {
  const app = await appConfig(env);
  const out = await cli(["--json", "config"], { env: baseEnv(env), cwd: EXAMPLE });
  expect(out.code, out.stderr).toBe(0);
  const report = out.json();
  expect(report.mode).toBe(mode);
  expect(app.config.mode).toBe(mode);
  // The same storages, described the same way, as the app itself describes them.
  expect(
    report.storages.map(({ features: _, ...description }: Record<string, unknown>) => description),
  ).toEqual(app.config.storages);
  for (const storage of report.storages) expect(storage.features).toBeTypeOf("object");
  for (const secret of secretsOf(env)) {
    expect(out.stdout, "storages config --json").not.toContain(secret);
    expect(out.stderr).not.toContain(secret);
    expect(app.output).not.toContain(secret);
  }
  // Human output too.
  const human = await cli(["config"], { env: baseEnv(env), cwd: EXAMPLE });
  expect(human.code, human.stderr).toBe(0);
  for (const secret of secretsOf(env)) expect(human.stdout + human.stderr).not.toContain(secret);
  return report;
}

describe("storages config on examples/env-switch shows the storages the app uses", () => {
  for (const round of [0, 1, 2]) {
    it(`remote mode (S3, Azure, GCS, fs; secret variables set, round ${round + 1} of 3)`, async () => {
      const env = remoteEnv(round);
      const report = await compare(env, "remote");
      const byName = Object.fromEntries(report.storages.map((s: { name: string }) => [s.name, s]));
      expect(byName.default).toMatchObject({
        backend: "s3",
        location: "s3://acme-media/uploads/",
        visibility: "public",
      });
      expect(byName.default.secrets).toEqual(s3.secretVariables!("default").map((v) => v.name));
      expect(byName.private).toMatchObject({ backend: "azure", visibility: "private" });
      expect(byName.private.secrets).toHaveLength(1);
      expect(byName.staticfiles).toMatchObject({ backend: "gcs", readOnly: true });
      expect(byName.uploads.secrets).toEqual(["STORAGES_UPLOADS_SIGNING_SECRET"]);
    });
  }

  it("local mode (every storage a folder; the same secret variables still set)", async () => {
    const env = localEnv();
    const report = await compare(env, "local");
    expect(report.storages.map((s: { name: string; backend: string }) => [s.name, s.backend])).toEqual([
      ["default", "fs"],
      ["private", "fs"],
      ["staticfiles", "fs"],
      ["uploads", "fs"],
    ]);
    expect(report.storages[0].location).toBe(join(dir, "local", "default"));
  });
});
