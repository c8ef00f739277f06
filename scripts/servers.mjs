#!/usr/bin/env node
/**
 * Starts and stops the real storage servers the conformance suites run against:
 * Ceph RGW (S3), Azurite (Azure Blob) and the Cloud Storage emulator (GCS).
 *
 *   node scripts/servers.mjs start [rgw|azurite|gcs-emulator …]   installs what is missing, starts, writes .storages-run/servers.env (shell syntax)
 *   node scripts/servers.mjs stop  [ids…]
 *
 * Each server lives in scripts/servers/<id>.mjs with install(), start({ workDir, port }) → { env },
 * stop({ workDir }). A server whose STORAGES_TEST_* variables are already set in the environment
 * (a real AWS/GCS/Azure account, or a MinIO you run) is not started: the suites use that endpoint.
 */
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const RUN_DIR = join(ROOT, ".storages-run");
export const SERVERS = [
  { id: "rgw", presetVariable: "STORAGES_TEST_S3_ENDPOINT" },
  { id: "azurite", presetVariable: "STORAGES_TEST_AZURE_CONNECTION_STRING" },
  { id: "gcs-emulator", presetVariable: "STORAGES_TEST_GCS_ENDPOINT" },
];

async function load(id) {
  return import(pathToFileURL(join(ROOT, "scripts", "servers", `${id}.mjs`)).href);
}

function log(message) {
  process.stderr.write(`[servers] ${message}\n`);
}

function selected(ids) {
  const known = SERVERS.map((s) => s.id);
  for (const id of ids)
    if (!known.includes(id)) throw new Error(`Unknown server "${id}"; known: ${known.join(", ")}.`);
  return ids.length ? SERVERS.filter((s) => ids.includes(s.id)) : SERVERS;
}

/** `KEY='value'` lines a POSIX shell can source (`set -a; . .storages-run/servers.env; set +a`). */
export function shellAssignments(env) {
  return Object.entries(env)
    .map(([key, value]) => `${key}='${String(value).replaceAll("'", "'\\''")}'`)
    .join("\n");
}

/** Writes .storages-run/servers.env for servers meant to outlive the command that started them. */
export async function writeServersEnv(env) {
  await mkdir(RUN_DIR, { recursive: true });
  await writeFile(join(RUN_DIR, "servers.env"), `${shellAssignments(env)}\n`);
  return join(RUN_DIR, "servers.env");
}

/**
 * `module.start({ workDir })`, and once more if that fails: a daemon that fails to settle on a loaded
 * machine usually starts the second time. The log says why the first attempt failed, and that
 * attempt's folder (logs, config) is kept as `<workDir>.failed-attempt` instead of being overwritten.
 */
export async function startWithRetry(id, module, workDir, say = log) {
  try {
    return (await module.start({ workDir })).env;
  } catch (error) {
    await module.stop({ workDir });
    const firstAttempt = `${workDir}.failed-attempt`;
    await rm(firstAttempt, { recursive: true, force: true });
    await rename(workDir, firstAttempt);
    await mkdir(workDir, { recursive: true });
    say(
      `${id}: start failed; retrying once. Why:\n${String(error?.stack ?? error).replace(/^/gm, "    ")}\n` +
        `  ${id}: the failed attempt's logs are in ${firstAttempt}`,
    );
    return (await module.start({ workDir })).env;
  }
}

/**
 * Installs and starts the servers in parallel. Returns the environment the tests need and the ids
 * of the servers it started — not those skipped because their variables were preset: a caller
 * stops only `started`, never a server someone else runs.
 */
export async function startServers(ids = [], env = process.env) {
  const chosen = selected(ids).filter((s) => {
    if (env[s.presetVariable])
      log(`${s.id}: ${s.presetVariable} is set, using that endpoint instead of starting ${s.id}`);
    return !env[s.presetVariable];
  });
  const started = [];
  const results = await Promise.allSettled(
    chosen.map(async (server) => {
      const module = await load(server.id);
      const workDir = join(RUN_DIR, "servers", server.id);
      await mkdir(workDir, { recursive: true });
      const t0 = Date.now();
      await module.install();
      const t1 = Date.now();
      const serverEnv = await startWithRetry(server.id, module, workDir);
      started.push(server.id);
      log(
        `${module.label ?? server.id}: installed in ${((t1 - t0) / 1000).toFixed(1)} s, up in ${((Date.now() - t1) / 1000).toFixed(1)} s`,
      );
      return serverEnv;
    }),
  );
  const failures = results.filter((r) => r.status === "rejected");
  if (failures.length) {
    await stopServers(started);
    throw new Error(`Could not start: ${failures.map((f) => f.reason?.stack ?? f.reason).join("\n")}`);
  }
  return { env: Object.assign({}, ...results.map((r) => r.value)), started };
}

/** Stops the given servers (all of them when `ids` is omitted; none for an empty list). */
export async function stopServers(ids = SERVERS.map((s) => s.id)) {
  if (ids.length === 0) return;
  await Promise.allSettled(
    selected(ids).map(async (server) => {
      const module = await load(server.id);
      await module.stop({ workDir: join(RUN_DIR, "servers", server.id) });
    }),
  );
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [command, ...ids] = process.argv.slice(2);
  if (command === "start") {
    // Written for servers that outlive their command only (here, and `npm test --keep-servers`):
    // a run that stops its servers must not overwrite the file of servers someone started by hand.
    const { env } = await startServers(ids);
    const file = await writeServersEnv(env);
    process.stdout.write(`${shellAssignments(env)}\n`);
    log(
      `written to ${file} (load it with: set -a; . .storages-run/servers.env; set +a); ` +
        "stop with: npm run servers -- stop",
    );
  } else if (command === "stop") {
    await stopServers(ids.length ? ids : undefined);
  } else {
    process.stderr.write("usage: node scripts/servers.mjs start|stop [rgw|azurite|gcs-emulator …]\n");
    process.exit(2);
  }
}
