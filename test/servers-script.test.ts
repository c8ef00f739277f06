/**
 * scripts/servers.mjs, the parts every server shares: the environment file a shell can source, the
 * retry that says why and keeps the first attempt's logs, and preset servers left alone.
 */
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { shellAssignments, startServers, startWithRetry } from "../scripts/servers.mjs";

const work = await mkdtemp(join(tmpdir(), "servers-script-"));
afterAll(() => rm(work, { recursive: true, force: true }));

describe("servers.env", () => {
  it("can be sourced by a POSIX shell, whatever the values hold", async () => {
    const env = {
      STORAGES_TEST_S3_SERVER: "Ceph RGW 16.2.15 (single-node memstore)",
      STORAGES_TEST_AZURE_CONNECTION_STRING:
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a/b+c==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;",
      STORAGES_TEST_QUOTES: `it's "quoted" & $HOME \`not run\``,
    };
    const file = join(work, "servers.env");
    await writeFile(file, `${shellAssignments(env)}\n`);
    const printed = execFileSync("sh", ["-c", `set -a; . "$0"; set +a; env`, file], { encoding: "utf8" });
    for (const [key, value] of Object.entries(env)) expect(printed).toContain(`${key}=${value}\n`);
  });
});

describe("startWithRetry", () => {
  it("logs why the first start failed, keeps that attempt's folder, and starts again", async () => {
    const workDir = join(work, "flaky");
    let attempts = 0;
    const module = {
      async start({ workDir: dir }: { workDir: string }) {
        attempts += 1;
        await writeFile(join(dir, "daemon.log"), `attempt ${attempts}\n`);
        if (attempts === 1) throw new Error("the monitor did not settle within 60 s (logs in daemon.log)");
        return { env: { STORAGES_TEST_FLAKY: "up" } };
      },
      async stop() {},
    };
    await mkdir(workDir, { recursive: true });
    const said: string[] = [];
    const env = await startWithRetry("flaky", module, workDir, (line: string) => said.push(line));
    expect(env).toEqual({ STORAGES_TEST_FLAKY: "up" });
    expect(said.join("\n")).toMatch(
      /flaky: start failed; retrying once\. Why:\n.*the monitor did not settle/,
    );
    expect(said.join("\n")).toContain(`${workDir}.failed-attempt`);
    expect(await readFile(join(`${workDir}.failed-attempt`, "daemon.log"), "utf8")).toBe("attempt 1\n");
    expect(await readFile(join(workDir, "daemon.log"), "utf8")).toBe("attempt 2\n");
  });
});

describe("startServers", () => {
  it("starts no server whose variables are preset, and reports none as started (so none is stopped)", async () => {
    const preset = {
      STORAGES_TEST_S3_ENDPOINT: "http://127.0.0.1:9",
      STORAGES_TEST_AZURE_CONNECTION_STRING: "UseDevelopmentStorage=true",
      STORAGES_TEST_GCS_ENDPOINT: "http://127.0.0.1:9",
    };
    expect(await startServers([], preset)).toEqual({ env: {}, started: [] });
  });
});
