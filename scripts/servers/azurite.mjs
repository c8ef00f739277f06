// Azurite (Microsoft's Azure Storage emulator, npm `azurite`), blob service only, in memory.
// Test-server protocol: install() / start({ workDir, port }) / stop({ workDir }); see scripts/servers.mjs.
// Runs alone too: `node scripts/servers/azurite.mjs start|stop [workDir] [port]` prints KEY=value lines.
import { execFileSync, spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { isAlive, logTail, sleep, tcpListening } from "./process.mjs";
import { ensureTools, pinnedVersion, toolsRequire } from "./tools.mjs";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

/** Azurite's documented well-known development account: public on purpose, never a real secret. */
export const ACCOUNT_NAME = "devstoreaccount1";
export const ACCOUNT_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
export const DEFAULT_PORT = 10000;
const HOST = "127.0.0.1";

export const id = "azurite";
export const label = `Azurite ${pinnedVersion("azurite")} (blob, in-memory)`;

/** Azurite 3.37 needs Node >= 22: use this process's Node when it qualifies, else the project's Node 24. */
function nodeBinary() {
  const major = Number(process.versions.node.split(".")[0]);
  if (major >= 22) return process.execPath;
  const projectNode = join(repoRoot, "node_modules", "node", "bin", "node");
  if (existsSync(projectNode)) return projectNode;
  throw new Error(
    `Azurite needs Node >= 22 and this is Node ${process.versions.node}; run through the project's Node (npx from the repo root).`,
  );
}

function azuriteEntry() {
  const require = toolsRequire();
  if (!require)
    throw new Error("Azurite is not installed yet: call install() first (scripts/servers/tools.mjs).");
  return require.resolve("azurite/dist/src/blob/main.js");
}

/** Azurite comes with the test servers' pinned tools (scripts/servers/tools), installed on first use. */
export async function install() {
  await ensureTools((line) => process.stderr.write(`[azurite] ${line}\n`));
}

export function connectionString(port) {
  return (
    `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT_NAME};AccountKey=${ACCOUNT_KEY};` +
    `BlobEndpoint=http://${HOST}:${port}/${ACCOUNT_NAME};`
  );
}

/** The `Server` header of one request to `url`. */
async function serverHeader(url) {
  if (url.startsWith("http:")) {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.headers.get("server") ?? "";
  }
  // HTTPS with the throw-away self-signed certificate: trusted for this probe only.
  const { request } = await import("node:https");
  return new Promise((resolve, reject) => {
    const req = request(url, { rejectUnauthorized: false, timeout: 2000 }, (res) => {
      res.resume();
      res.on("end", () => resolve(String(res.headers.server ?? "")));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

/** Waits until Azurite answers (any status: an unauthenticated request gets 403, which proves it listens). */
async function waitReady(baseUrl, pid, logFile, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) {
      throw new Error(`Azurite exited during start-up; see ${logFile}:\n${logTail(logFile)}`);
    }
    try {
      if ((await serverHeader(`${baseUrl}?comp=list`)).includes("Azurite")) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(
    `Azurite did not answer at ${baseUrl} within ${timeoutMs / 1000} s; see ${logFile}:\n${logTail(logFile)}`,
  );
}

/** A throw-away self-signed certificate for 127.0.0.1 (Azurite's OAuth mode requires HTTPS). */
function selfSignedCertificate(workDir) {
  const cert = join(workDir, "azurite-cert.pem");
  const key = join(workDir, "azurite-key.pem");
  if (!existsSync(cert) || !existsSync(key)) {
    try {
      execFileSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "rsa:2048",
          "-nodes",
          "-keyout",
          key,
          "-out",
          cert,
          "-days",
          "2",
          "-subj",
          "/CN=127.0.0.1",
          "-addext",
          "subjectAltName=IP:127.0.0.1",
        ],
        { stdio: "ignore" },
      );
    } catch (error) {
      throw new Error(
        `Could not create a TLS certificate for Azurite's OAuth mode with openssl (apt-get install -y openssl): ${error.message}`,
      );
    }
  }
  return { cert, key };
}

/**
 * Starts Azurite. `oauth: true` serves HTTPS with a self-signed certificate and accepts bearer
 * tokens (`--oauth basic`: issuer, audience and lifetime are checked, the token signature is not),
 * which is what user delegation keys and their SAS need.
 */
export async function start({
  workDir = join(tmpdir(), "storages-azurite"),
  port = DEFAULT_PORT,
  oauth = false,
} = {}) {
  await install();
  mkdirSync(workDir, { recursive: true });
  const pidFile = join(workDir, "azurite.pid");
  const logFile = join(workDir, "azurite.log");
  if (existsSync(pidFile)) await stop({ workDir });
  if (await tcpListening(port, HOST)) {
    throw new Error(
      `Port ${port} on ${HOST} is already in use: stop what listens there (is an Azurite already running? ` +
        `\`node scripts/servers/azurite.mjs stop\`) or pass another port.`,
    );
  }
  const log = openSync(logFile, "a");
  const args = [
    azuriteEntry(),
    "--blobHost",
    HOST,
    "--blobPort",
    String(port),
    "--inMemoryPersistence",
    "--skipApiVersionCheck",
    "--disableTelemetry",
    "--silent",
  ];
  if (oauth) {
    const { cert, key } = selfSignedCertificate(workDir);
    args.push("--oauth", "basic", "--cert", cert, "--key", key);
  }
  const baseUrl = `${oauth ? "https" : "http"}://${HOST}:${port}/${ACCOUNT_NAME}`;
  // In memory (no --location: Azurite refuses it with --inMemoryPersistence); cwd keeps any debug files in workDir.
  const child = spawn(nodeBinary(), args, { detached: true, stdio: ["ignore", log, log], cwd: workDir });
  closeSync(log);
  child.unref();
  if (child.pid === undefined) throw new Error(`Could not spawn Azurite; see ${logFile}`);
  writeFileSync(pidFile, `${child.pid}\n`);
  try {
    await waitReady(baseUrl, child.pid, logFile);
  } catch (error) {
    await stop({ workDir });
    throw error;
  }
  if (oauth) {
    return {
      env: {
        STORAGES_TEST_AZURE_OAUTH_ENDPOINT: baseUrl,
        STORAGES_TEST_AZURE_OAUTH_CONNECTION_STRING: `DefaultEndpointsProtocol=https;AccountName=${ACCOUNT_NAME};AccountKey=${ACCOUNT_KEY};BlobEndpoint=${baseUrl};`,
        STORAGES_TEST_AZURE_SERVER: `${label}, HTTPS + OAuth`,
      },
    };
  }
  return {
    env: {
      STORAGES_TEST_AZURE_CONNECTION_STRING: connectionString(port),
      STORAGES_TEST_AZURE_SERVER: label,
    },
  };
}

export async function stop({ workDir = join(tmpdir(), "storages-azurite") } = {}) {
  const pidFile = join(workDir, "azurite.pid");
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, "utf8").trim());
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
    // Detached: the pid leads its own process group, so the signal reaches everything it spawned.
    const signal = (sig) => {
      try {
        process.kill(-pid, sig);
      } catch {
        try {
          process.kill(pid, sig);
        } catch {}
      }
    };
    signal("SIGTERM");
    const deadline = Date.now() + 5000;
    while (isAlive(pid) && Date.now() < deadline) await sleep(50);
    if (isAlive(pid)) signal("SIGKILL");
    while (isAlive(pid)) await sleep(20);
  }
  rmSync(pidFile, { force: true });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [command, workDir, port] = process.argv.slice(2);
  const options = { ...(workDir ? { workDir } : {}), ...(port ? { port: Number(port) } : {}) };
  if (command === "start") {
    const { env } = await start(options);
    for (const [key, value] of Object.entries(env)) console.log(`${key}=${value}`);
  } else if (command === "stop") {
    await stop(options);
  } else if (command === "install") {
    await install();
  } else {
    console.error("usage: node scripts/servers/azurite.mjs start|stop|install [workDir] [port]");
    process.exitCode = 2;
  }
}
