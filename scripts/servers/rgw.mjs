// Ceph RADOS Gateway (RGW) as a real S3 server for tests and benchmarks, without Docker.
//
// A single-node cluster: one monitor, one memstore OSD (objects live in RAM, nothing on disk but
// logs) and radosgw (beast frontend) on 127.0.0.1. Auth between the daemons is off; the S3 side
// still checks SigV4 signatures, expiry, POST policies, ACLs and If-None-Match.
//
// Protocol (shared with the other test servers): install(), start({ workDir, port }) -> { env },
// stop({ workDir }). Runnable alone: `node scripts/servers/rgw.mjs start|stop [workDir]`.
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, openSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { isAlive, sleep, tcpListening } from "./process.mjs";

const execFileAsync = promisify(execFile);

export const id = "rgw";
export let label = "Ceph RGW (Debian radosgw, single-node memstore)";

// The one apt-get step of the test environment: RGW's packages, plus the Debian packages other
// suites need on the same first use — the web servers @storages/deploy's tests run its nginx and
// Caddy configurations with, and chromium for the upload service's browser tests (driven by
// playwright-core, which cannot download a browser here).
const WEB_SERVER_PACKAGES = ["nginx", "libnginx-mod-http-brotli-static", "caddy"];
const PACKAGES = ["ceph-mon", "ceph-osd", "radosgw", "ceph-common", ...WEB_SERVER_PACKAGES, "chromium"];
const BINARIES = ["ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "ceph", "nginx", "caddy", "chromium"];
const DEFAULT_PORT = 7480;
const MON_PORT = 6789;
const REGION = "us-east-1";
// Stop order matters: if the OSD dies before radosgw, radosgw waits ~120 s on SIGTERM.
const DAEMONS_STOP_ORDER = ["rgw", "osd", "mon"];
const STOP_GRACE_MS = 15_000;
const STATE_DIRS = ["log", "mon", "osd", "run", "rgw"];

function which(bin) {
  for (const dir of (process.env.PATH ?? "/usr/bin:/bin").split(":").concat(["/usr/bin", "/usr/sbin"])) {
    if (existsSync(join(dir, bin))) return true;
  }
  return false;
}

/**
 * Right after the monitor starts, `ceph` commands now and then fail with "EPERM: problem getting
 * command descriptions from mon" or time out while it settles: retry those, briefly.
 */
const TRANSIENT_MON_ERROR =
  /problem getting command descriptions|error connecting to the cluster|ETIMEDOUT|monclient/i;

async function run(cmd, args, options = {}) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await runOnce(cmd, args, options);
    } catch (error) {
      if (cmd !== "ceph" || attempt >= 8 || !TRANSIENT_MON_ERROR.test(error.message)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
    }
  }
}

async function runOnce(cmd, args, { env, timeout = 120_000 } = {}) {
  try {
    const { stdout } = await execFileAsync(cmd, args, {
      env: { ...process.env, ...env },
      timeout,
      maxBuffer: 16 << 20,
    });
    return stdout;
  } catch (error) {
    // error.message already ends with the command's stderr; add what it printed on stdout.
    const detail = String(error.stdout ?? "")
      .trim()
      .slice(-2000);
    throw new Error(
      `rgw: \`${cmd} ${args.join(" ")}\` failed: ${error.message.trim()}${detail ? `\n${detail}` : ""}`,
    );
  }
}

export async function install() {
  if (BINARIES.every(which)) return await describeVersion();
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    throw new Error(
      `Ceph RGW is not installed and installing it needs root. Run:\n  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${PACKAGES.join(" ")}`,
    );
  }
  const aptEnv = { DEBIAN_FRONTEND: "noninteractive" };
  const aptInstall = () =>
    run("apt-get", ["install", "-y", "--no-install-recommends", ...PACKAGES], {
      env: aptEnv,
      timeout: 600_000,
    });
  try {
    await aptInstall();
  } catch {
    // Package lists missing or stale: refresh once, then retry.
    await run("apt-get", ["update"], { env: aptEnv, timeout: 600_000 });
    await aptInstall();
  }
  if (!BINARIES.every(which)) {
    throw new Error(
      `rgw: apt-get installed ${PACKAGES.join(" ")} but ${BINARIES.filter((b) => !which(b)).join(", ")} is still missing`,
    );
  }
  return await describeVersion();
}

async function describeVersion() {
  try {
    const out = await run("radosgw", ["--version"], { timeout: 15_000 });
    const version = /ceph version (\S+)/.exec(out)?.[1];
    if (version) label = `Ceph RGW ${version} (single-node memstore)`;
  } catch {
    // The label is cosmetic.
  }
  return label;
}

function cephConf(dir, port) {
  const fsid = globalThis.crypto.randomUUID();
  return `[global]
fsid = ${fsid}
mon host = v1:127.0.0.1:${MON_PORT}
ms bind msgr2 = false
public addr = 127.0.0.1
cluster addr = 127.0.0.1
run dir = ${dir}/run
admin socket = ${dir}/run/$cluster-$name.asok
auth cluster required = none
auth service required = none
auth client required = none
auth supported = none
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
osd crush chooseleaf type = 0
log file = ${dir}/log/$name.log
[mon.a]
mon data = ${dir}/mon
mon data avail crit = 0
mon allow pool delete = true
[osd.0]
osd data = ${dir}/osd
osd objectstore = memstore
# At boot an OSD sets its crush device class and location through monitor commands, and it may send
# them before the monitor's map reached it: they then carry a zero cluster fsid and fail with
# "wrong fsid" (EPERM), which kills the OSD; on a loaded 2-core machine that is every other start.
# start() puts the OSD in the crush map itself, so the OSD need not.
osd class update on start = false
osd crush update on start = false
# Room for the 1 GiB benchmark objects of several clients at once; memstore allocates lazily.
memstore device bytes = 8589934592
osd class load list = *
osd class default list = *
[client.rgw.r]
rgw frontends = beast endpoint=127.0.0.1:${port}
rgw data = ${dir}/rgw
rgw dns name = 127.0.0.1
# Deleted and overwritten objects go to RGW's garbage collector, which by default waits 2 hours:
# memstore keeps them in RAM until then. Collect within seconds, so repeated large uploads
# (benchmarks) stay within the device size.
rgw gc obj min wait = 0
rgw gc processor period = 5
rgw gc processor max time = 60
`;
}

/** Starts a foreground daemon detached from this process, with its own log and pid file. */
async function spawnDaemon(dir, name, cmd, args, env) {
  const logFd = openSync(join(dir, "log", `${name}.stdout`), "a");
  try {
    const child = spawn(cmd, args, {
      detached: true,
      stdio: ["ignore", logFd, logFd],
      env: { ...process.env, ...env },
    });
    await new Promise((ok, fail) => {
      child.once("spawn", ok);
      child.once("error", fail);
    });
    await writeFile(join(dir, "run", `${name}.pid`), `${child.pid}\n`);
    child.unref();
    return child.pid;
  } finally {
    closeSync(logFd);
  }
}

async function isCephDaemon(pid) {
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8");
    return /(?:ceph-mon|ceph-osd|radosgw)/.test(cmdline);
  } catch {
    return true; // no /proc: trust the pid file
  }
}

async function waitUntil(what, timeoutMs, check, dir) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // A check throws `fatal` errors (a daemon died): no point waiting for the deadline.
    if (
      await check().catch((error) => {
        if (error?.fatal) throw error;
        return false;
      })
    )
      return;
    if (Date.now() > deadline)
      throw new Error(`rgw: ${what} did not come up within ${timeoutMs / 1000} s (logs in ${dir}/log)`);
    await sleep(250);
  }
}

async function portInUse(port) {
  try {
    await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) });
    return true;
  } catch {
    return false;
  }
}

export async function start({ workDir = join(tmpdir(), "storages-rgw"), port = DEFAULT_PORT } = {}) {
  const dir = resolve(workDir);
  await install();
  // A previous run in the same directory: stop it first so pid files never point at strangers.
  await stop({ workDir: dir });
  if (await tcpListening(port)) {
    throw new Error(
      `rgw: port ${port} on 127.0.0.1 is already in use; stop what listens there or pass another port`,
    );
  }
  if (await tcpListening(MON_PORT)) {
    throw new Error(
      `rgw: port ${MON_PORT} (Ceph monitor) on 127.0.0.1 is in use, probably by another run of this script: stop it with \`node scripts/servers/rgw.mjs stop <its workDir>\``,
    );
  }
  // Only what this script creates: workDir may be a directory the user cares about.
  for (const entry of [...STATE_DIRS, "ceph.conf", "started.json"])
    await rm(join(dir, entry), { recursive: true, force: true });
  for (const sub of STATE_DIRS) await mkdir(join(dir, sub), { recursive: true });
  const confPath = join(dir, "ceph.conf");
  await writeFile(confPath, cephConf(dir, port));
  const env = { CEPH_CONF: confPath };
  const t0 = Date.now();
  try {
    await run("ceph-mon", ["--id", "a", "--mkfs", "--keyring", "/dev/null"], { env });
    await writeFile(join(dir, "mon", "keyring"), "");
    // mon and osd daemonise themselves once initialised (which orders the steps below correctly);
    // they write their own pid files.
    await run("ceph-mon", ["--id", "a", "--pid-file", join(dir, "run", "mon.pid")], { env });
    // Register the OSD, under the uuid it will be created with, and place it in the crush map: with
    // the boot-time updates off (see cephConf), this is what puts it there.
    const osdUuid = globalThis.crypto.randomUUID();
    const osdId = (await run("ceph", ["osd", "create", osdUuid], { env, timeout: 60_000 })).trim();
    await run("ceph", ["osd", "crush", "add", `osd.${osdId}`, "1", "root=default"], { env });
    await run("ceph-osd", ["--id", osdId, "--mkfs", "--osd-uuid", osdUuid], { env });
    await run("ceph-osd", ["--id", osdId, "--pid-file", join(dir, "run", "osd.pid")], { env });
    await waitUntil(
      "the OSD",
      60_000,
      async () => /\b1 up\b/.test(await run("ceph", ["osd", "stat"], { env })),
      dir,
    );
    await spawnDaemon(dir, "rgw", "radosgw", ["-n", "client.rgw.r", "-f"], env);
    await waitUntil(
      `radosgw on port ${port}`,
      120_000,
      async () => {
        const pid = Number(await readFile(join(dir, "run", "rgw.pid"), "utf8"));
        if (!isAlive(pid)) {
          throw Object.assign(new Error(`rgw: radosgw exited during start-up (see ${dir}/log/rgw.stdout)`), {
            fatal: true,
          });
        }
        return portInUse(port);
      },
      dir,
    );

    const accessKeyId = `STG${randomBytes(9).toString("hex").toUpperCase()}`.slice(0, 20);
    const secretAccessKey = randomBytes(30).toString("base64url").slice(0, 40);
    await run(
      "radosgw-admin",
      [
        "user",
        "create",
        "--uid",
        "storages-test",
        "--display-name",
        "storages tests",
        `--access-key=${accessKeyId}`,
        `--secret-key=${secretAccessKey}`,
      ],
      { env },
    );
    const endpoint = `http://127.0.0.1:${port}`;
    await warmUp(endpoint, accessKeyId, secretAccessKey);
    await writeFile(
      join(dir, "started.json"),
      JSON.stringify({ endpoint, seconds: (Date.now() - t0) / 1000 }) + "\n",
    );
    return {
      env: {
        STORAGES_TEST_S3_ENDPOINT: endpoint,
        STORAGES_TEST_S3_REGION: REGION,
        STORAGES_TEST_S3_ACCESS_KEY_ID: accessKeyId,
        STORAGES_TEST_S3_SECRET_ACCESS_KEY: secretAccessKey,
        STORAGES_TEST_S3_PROFILE: "ceph",
        STORAGES_TEST_S3_SERVER: label,
      },
    };
  } catch (error) {
    await stop({ workDir: dir }).catch(() => {});
    throw error;
  }
}

/**
 * The first bucket creation and the first write after start take seconds (RGW creates its pools
 * lazily); doing them here keeps that out of test timeouts and benchmark figures.
 */
async function warmUp(endpoint, accessKeyId, secretAccessKey) {
  const s3 = await import("@aws-sdk/client-s3");
  const client = new s3.S3Client({
    endpoint,
    region: REGION,
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  const Bucket = `warmup-${randomBytes(4).toString("hex")}`;
  try {
    await client.send(new s3.CreateBucketCommand({ Bucket }));
    await client.send(new s3.PutObjectCommand({ Bucket, Key: "warmup", Body: "warm" }));
    await client
      .send(new s3.GetObjectCommand({ Bucket, Key: "warmup" }))
      .then((r) => r.Body?.transformToString());
    await client.send(new s3.DeleteObjectCommand({ Bucket, Key: "warmup" }));
    await client.send(new s3.DeleteBucketCommand({ Bucket }));
  } finally {
    client.destroy();
  }
}

export async function stop({ workDir = join(tmpdir(), "storages-rgw") } = {}) {
  const dir = resolve(workDir);
  for (const name of DAEMONS_STOP_ORDER) {
    const pidFile = join(dir, "run", `${name}.pid`);
    let pid;
    try {
      pid = Number((await readFile(pidFile, "utf8")).trim());
    } catch {
      continue;
    }
    if (Number.isInteger(pid) && pid > 1 && isAlive(pid) && (await isCephDaemon(pid))) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {}
      const deadline = Date.now() + STOP_GRACE_MS;
      while (isAlive(pid) && Date.now() < deadline) await sleep(100);
      if (isAlive(pid)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {}
        const killDeadline = Date.now() + 5_000;
        while (isAlive(pid) && Date.now() < killDeadline) await sleep(50);
      }
    }
    await rm(pidFile, { force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [command, workDir] = process.argv.slice(2);
  const options = workDir ? { workDir } : {};
  if (command === "start") {
    const { env } = await start(options);
    for (const [key, value] of Object.entries(env)) console.log(`${key}=${value}`);
  } else if (command === "stop") {
    await stop(options);
  } else if (command === "install") {
    console.log(await install());
  } else {
    console.error("usage: node scripts/servers/rgw.mjs install|start|stop [workDir]");
    process.exit(2);
  }
}
