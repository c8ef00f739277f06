// The Cloud Storage emulator that ships inside firebase-tools (Google's own), run as a real HTTP
// server for the GCS conformance suite.
//
// Why not `firebase emulators:start --only storage`: that also starts the security-rules runtime,
// a Java 21 jar downloaded on first use, and neither Java 21 nor the download is available here.
// The GCS JSON API routes go through the emulator's admin storage layer, which never consults the
// rules, so this module runs the emulator's HTTP app in-process with the rules runtime stubbed out.
//
// What this server does NOT check (declared as serverGaps by packages/gcs/test): signatures and
// expiry of signed URLs, ACLs / anonymous access, preconditions (ifGenerationMatch), chunked
// resumable uploads (it finalises after the first chunk), signed PUT (501), POST policy
// conditions. Bodies are limited to 130 MB. createBucket answers 501; buckets appear on first write.
//
// Protocol: see scripts/servers.mjs. Alone: `node scripts/servers/gcs-emulator.mjs start|stop [workDir]`.

import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { isAlive, logTail, sleep } from "./process.mjs";
import { ensureTools, pinnedVersion, toolsRequire } from "./tools.mjs";

/** The one version this recipe was checked against; another one may route or behave differently. */
const FIREBASE_TOOLS_VERSION = "15.34.2";
const DEFAULT_PORT = 9199;
const PROJECT_ID = "demo-storages";
const HOST = "127.0.0.1";
const PID_FILE = "gcs-emulator.pid";
const LOG_FILE = "gcs-emulator.log";

const thisFile = fileURLToPath(import.meta.url);

export const id = "gcs-emulator";
export const label = `Cloud Storage emulator (firebase-tools ${FIREBASE_TOOLS_VERSION}, without the rules runtime)`;

/** firebase-tools comes with the test servers' pinned tools (scripts/servers/tools), installed on first use. */
export async function install() {
  const pinned = pinnedVersion("firebase-tools");
  if (pinned !== FIREBASE_TOOLS_VERSION) {
    throw new Error(
      `scripts/servers/tools/package.json pins firebase-tools ${pinned} but this recipe was checked against ${FIREBASE_TOOLS_VERSION}: re-check the recipe (routes, rules stubs) against ${pinned}, then update FIREBASE_TOOLS_VERSION.`,
    );
  }
  await ensureTools((line) => process.stderr.write(`[gcs-emulator] ${line}\n`));
}

/** The pid in the file, only if that process is still this script's emulator (pids get recycled). */
function ourPid(workDir) {
  const file = join(workDir, PID_FILE);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, "utf8").trim());
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    if (!cmdline.includes("gcs-emulator.mjs")) return undefined;
  } catch {
    // No /proc (not Linux): trust the pid file.
  }
  return pid;
}

async function answers(endpoint) {
  try {
    const res = await fetch(`${endpoint}/b`, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

/** One write, read and delete, so the first test does not pay for lazy initialisation. */
async function warmUp(endpoint) {
  const bucket = "storages-warmup";
  const name = `warmup-${process.pid}-${Date.now()}`;
  const up = await fetch(`${endpoint}/upload/storage/v1/b/${bucket}/o?uploadType=media&name=${name}`, {
    method: "POST",
    headers: { "content-type": "text/plain" },
    body: "warm",
  });
  if (up.status !== 200) throw new Error(`warm-up upload answered ${up.status}: ${await up.text()}`);
  await up.arrayBuffer().catch(() => {});
  const get = await fetch(`${endpoint}/b/${bucket}/o/${name}?alt=media`);
  if ((await get.text()) !== "warm") throw new Error(`warm-up read answered ${get.status}`);
  await (await fetch(`${endpoint}/b/${bucket}/o/${name}`, { method: "DELETE" })).arrayBuffer();
}

export async function start({ workDir, port = DEFAULT_PORT } = {}) {
  await install();
  const dir = resolve(workDir ?? join(tmpdir(), "storages-servers", id));
  mkdirSync(dir, { recursive: true });
  const endpoint = `http://${HOST}:${port}`;
  if (ourPid(dir) !== undefined) await stop({ workDir: dir });
  if (await answers(endpoint)) {
    throw new Error(
      `Something already answers on ${endpoint}. Stop it (\`node scripts/servers/gcs-emulator.mjs stop <workDir>\`) or pick another port.`,
    );
  }
  // The emulator keeps blobs under os.tmpdir()/firebase and deletes that folder on stop: give each
  // instance its own TMPDIR so two instances never delete each other's files.
  const emulatorTmp = join(dir, "tmp");
  mkdirSync(emulatorTmp, { recursive: true });
  const log = openSync(join(dir, LOG_FILE), "a");
  let child;
  try {
    child = spawn(process.execPath, [thisFile, "serve"], {
      detached: true,
      stdio: ["ignore", log, log],
      env: { ...process.env, PORT: String(port), PROJECT: PROJECT_ID, TMPDIR: emulatorTmp },
    });
  } finally {
    closeSync(log);
  }
  writeFileSync(join(dir, PID_FILE), `${child.pid}\n`);
  child.unref();
  try {
    const deadline = Date.now() + 30_000;
    while (!(await answers(endpoint))) {
      if (!isAlive(child.pid))
        throw new Error(`the emulator exited during start-up:\n${logTail(join(dir, LOG_FILE))}`);
      if (Date.now() > deadline)
        throw new Error(
          `the emulator did not answer on ${endpoint} within 30 s:\n${logTail(join(dir, LOG_FILE))}`,
        );
      await sleep(100);
    }
    await warmUp(endpoint);
  } catch (error) {
    await stop({ workDir: dir });
    throw error;
  }
  return {
    env: {
      STORAGES_TEST_GCS_ENDPOINT: endpoint,
      STORAGES_TEST_GCS_PROJECT: PROJECT_ID,
      STORAGES_TEST_GCS_SERVER: label,
    },
  };
}

export async function stop({ workDir } = {}) {
  const dir = resolve(workDir ?? join(tmpdir(), "storages-servers", id));
  const pid = ourPid(dir);
  if (pid !== undefined) {
    process.kill(pid, "SIGTERM");
    const deadline = Date.now() + 5000;
    while (isAlive(pid) && Date.now() < deadline) await sleep(50);
    if (isAlive(pid)) process.kill(pid, "SIGKILL");
  }
  rmSync(join(dir, PID_FILE), { force: true });
  rmSync(join(dir, "tmp"), { recursive: true, force: true });
}

/** Runs in the detached child: the emulator's HTTP app without the Java rules runtime. */
async function serve() {
  const require = toolsRequire();
  if (!require)
    throw new Error(
      "firebase-tools is not installed yet: run `node scripts/servers/gcs-emulator.mjs install`.",
    );
  const port = Number(process.env.PORT || DEFAULT_PORT);
  const server = require("firebase-tools/lib/emulator/storage/server");
  // express as firebase-tools resolves it, so the wrapper and the emulator's app are the same version.
  const express = createRequire(require.resolve("firebase-tools/package.json"))("express");
  const { StorageEmulator } = require("firebase-tools/lib/emulator/storage");
  const { EmulatorRegistry } = require("firebase-tools/lib/emulator/registry");
  // @google-cloud/storage sends PATCH, copy/rewrite and ACL calls to /storage/v1/b/…; the emulator
  // routes most object calls only under /b/…. The upload and download paths are already right.
  const createApp = server.createApp;
  server.createApp = async (...args) => {
    const inner = await createApp(...args);
    const outer = express();
    outer.use((req, _res, next) => {
      if (req.url.startsWith("/storage/v1/b/")) req.url = req.url.slice("/storage/v1".length);
      next();
    });
    outer.use(inner);
    return outer;
  };
  const emulator = new StorageEmulator({
    projectId: process.env.PROJECT || PROJECT_ID,
    host: HOST,
    port,
    rules: { name: "/dev/null", content: "" },
    auto_download: false,
  });
  const noop = async () => {};
  emulator._rulesRuntime.start = noop;
  emulator._rulesRuntime.stop = noop;
  emulator._rulesManager.start = async () => [];
  emulator._rulesManager.stop = noop;
  await EmulatorRegistry.start(emulator);
  console.log(`${label} listening on http://${HOST}:${port} (pid ${process.pid})`);
  const shutdown = () => {
    emulator.stop().finally(() => process.exit(0));
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [command, workDir] = process.argv.slice(2);
  try {
    if (command === "serve") {
      await serve();
    } else if (command === "start") {
      const { env } = await start({ workDir, port: Number(process.env.PORT || DEFAULT_PORT) });
      for (const [key, value] of Object.entries(env)) console.log(`${key}=${value}`);
    } else if (command === "stop") {
      await stop({ workDir });
    } else if (command === "install") {
      await install();
    } else {
      console.error("usage: node scripts/servers/gcs-emulator.mjs install|start|stop [workDir]");
      process.exitCode = 2;
    }
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  }
}
