#!/usr/bin/env node
/**
 * `npm test` and `npm run test:unit`: the one test runner.
 *
 *   npm test             builds the packages (examples and the end-to-end test run the built code);
 *                        installs and starts RGW, Azurite and the GCS emulator in parallel — unless
 *                        their STORAGES_TEST_* variables already point at servers; runs every test of
 *                        every workspace through turbo with the servers' environment; stops what it
 *                        started. Option --keep-servers leaves them running.
 *   npm run test:unit    (--unit) every test that needs no server: each package's tests except the
 *                        server-backed suites (*.server.test.ts, see vitest.shared.ts) and the
 *                        integration package; no build, no server. Says how many suites it left.
 *
 * Both run every package even when one fails, print a table per package and one closing line
 * "N passed, N failed, N skipped" (skips are only server gaps, each named in the output).
 *
 * Whatever the outcome — passed, failed or interrupted (Ctrl-C, SIGTERM) — a run leaves nothing
 * behind: the tests get a temporary folder of their own (TMPDIR) that is removed at the end, and
 * every process still alive at the end that carries this run's STORAGES_TEST_RUN marker (it is in
 * the environment of everything the tests start, orphaned or detached) is stopped. A test that left
 * a process or a temporary file behind fails an otherwise green run, named, so it gets fixed.
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { writeReliabilityDoc } from "./reliability.mjs";
import { processesWithEnv, sleep, terminate } from "./servers/process.mjs";
import { startServers, stopServers, writeServersEnv } from "./servers.mjs";
import { nodeNotice, toolCommand, toolEnv } from "./tool.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = new Set(process.argv.slice(2));
const unit = args.has("--unit");
const RUN_MARKER = "STORAGES_TEST_RUN";

/** The suites `--unit` leaves for `npm test`: server-backed files, and the integration package. */
function suitesLeftForServers() {
  const files = (dir) => {
    try {
      return readdirSync(dir, { recursive: true }).map(String);
    } catch {
      return [];
    }
  };
  const serverBacked = readdirSync(join(ROOT, "packages")).flatMap((pkg) =>
    files(join(ROOT, "packages", pkg, "test")).filter((f) => f.endsWith(".server.test.ts")),
  ).length;
  const integration = files(join(ROOT, "test")).filter(
    (f) => f.endsWith(".test.ts") && !f.includes("node_modules"),
  ).length;
  return { serverBacked, integration };
}

/**
 * The report names (a package folder's name, see vitest.shared.ts) the run should leave: every
 * workspace with a test script, narrowed by plain `--filter=NAME` / `--filter=!NAME` arguments.
 * A package whose report is missing is named in the table instead of silently left out.
 */
function expectedReports(filters) {
  const include = filters.filter((f) => !f.startsWith("--filter=!")).map((f) => f.slice("--filter=".length));
  const exclude = filters.filter((f) => f.startsWith("--filter=!")).map((f) => f.slice("--filter=!".length));
  const folders = ["packages", "examples"].flatMap((parent) => {
    try {
      return readdirSync(join(ROOT, parent)).map((name) => join(parent, name));
    } catch {
      return [];
    }
  });
  const expected = [];
  for (const folder of [...folders, "test", "bench"]) {
    let manifest;
    try {
      manifest = JSON.parse(readFileSync(join(ROOT, folder, "package.json"), "utf8"));
    } catch {
      continue;
    }
    if (!manifest.scripts?.test) continue;
    if (include.length > 0 && !include.includes(manifest.name)) continue;
    if (exclude.includes(manifest.name)) continue;
    expected.push(folder.split("/").pop());
  }
  return expected;
}

async function summarise(expected) {
  if (!existsSync(reports)) return { passed: 0, failed: 0, skipped: 0, rows: [], missing: expected };
  const rows = [];
  const failures = [];
  for (const file of (await readdir(reports)).filter((f) => f.endsWith(".json")).sort()) {
    const report = JSON.parse(await readFile(join(reports, file), "utf8"));
    for (const t of report.testResults) {
      const where = relative(process.cwd(), t.name);
      if (t.status === "failed" && t.assertionResults.length === 0)
        failures.push({ where, test: "(the file did not run)", message: t.message });
      for (const a of t.assertionResults)
        if (a.status === "failed")
          failures.push({ where, test: a.fullName, message: a.failureMessages?.[0] });
    }
    const failedFiles = report.testResults.filter(
      (t) => t.status === "failed" && t.assertionResults.length === 0,
    ).length;
    rows.push({
      pkg: file.replace(/\.json$/, ""),
      passed: report.numPassedTests,
      failed: report.numFailedTests + failedFiles,
      skipped: report.numPendingTests + report.numTodoTests,
    });
  }
  const sum = (key) => rows.reduce((n, r) => n + r[key], 0);
  const missing = expected.filter((pkg) => !rows.some((r) => r.pkg === pkg));
  return { passed: sum("passed"), failed: sum("failed"), skipped: sum("skipped"), rows, failures, missing };
}

nodeNotice();
const t0 = Date.now();
const runId = randomUUID();
// This run's own folder: the tests' TMPDIR and the per-package reports, removed at the end. Two runs
// at once (a test of this runner inside `npm test`) never share or delete each other's files.
const runDir = await mkdtemp(join(tmpdir(), "storages-test-"));
const runTmp = join(runDir, "tmp");
const reports = join(runDir, "reports");
// The fault suites' counts (@storages/testing describeFaults): docs/reliability.md is made from them.
const reliability = join(runDir, "reliability");
// Traversable by other users (mkdtemp makes it 0700): the deployment checks' tests probe folders in
// TMPDIR as a real non-root user (`storages check --as-user`).
await chmod(runDir, 0o755);
await mkdir(runTmp, { mode: 0o755 });
await mkdir(reports);
const env = toolEnv({
  ...process.env,
  TMPDIR: runTmp,
  [RUN_MARKER]: runId,
  STORAGES_TEST_REPORT: join(reports, "{pkg}.json"),
  STORAGES_TEST_RELIABILITY: reliability,
});
if (unit) env.STORAGES_TEST_SCOPE = "unit";
else delete env.STORAGES_TEST_SCOPE; // a stray export must not drop the server suites from `npm test`

let child = null;
let interrupted = null;
let startedServers = [];

function run(command, commandArgs) {
  return new Promise((resolve) => {
    child = spawn(command, commandArgs, { cwd: ROOT, stdio: "inherit", env });
    child.on("exit", (code, signal) => {
      child = null;
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

const turbo = (...turboArgs) => run(...toolCommand("turbo", turboArgs));

/** Stops what this run started and empties the tests' TMPDIR; returns what the tests left there. */
async function cleanUp() {
  if (!args.has("--keep-servers")) await stopServers(startedServers);
  startedServers = [];
  const strays = processesWithEnv(RUN_MARKER, runId);
  if (strays.length) await terminate(strays.map((p) => p.pid));
  let tempLeft = [];
  try {
    // Node's own compile cache (module.enableCompileCache(), used by vitest) is a cache, not a leftover.
    tempLeft = (await readdir(runTmp)).filter((name) => name !== "node-compile-cache");
  } catch {}
  await rm(runTmp, { recursive: true, force: true });
  return { strays, tempLeft };
}

const removeRunDir = () => rm(runDir, { recursive: true, force: true });

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, async () => {
    if (interrupted) {
      // A second signal: stop waiting for the tests to wind down.
      process.stderr.write(`\n${signal} again: stopping now.\n`);
      await cleanUp();
      await removeRunDir();
      process.exit(130);
    }
    interrupted = signal;
    process.stderr.write(`\n${signal}: stopping the tests, then the servers this run started…\n`);
    // Ctrl-C reaches the whole foreground process group; a signal sent to this process alone does not.
    const running = child;
    if (running && signal !== "SIGINT") running.kill(signal);
    else if (running) setTimeout(() => child === running && running.kill("SIGTERM"), 5000).unref();
  });
}

let exitCode = 0;
let filters = null; // null: the tests never started
try {
  if (!unit) {
    exitCode = await turbo("run", "build", "--output-logs=errors-only");
    if (exitCode !== 0) console.error("Build failed; not running tests.");
  }
  if (exitCode === 0 && !interrupted && !unit) {
    const result = await startServers([], env);
    startedServers = result.started;
    Object.assign(env, result.env);
    if (args.has("--keep-servers")) await writeServersEnv(result.env);
  }
  if (exitCode === 0 && !interrupted) {
    // `--filter=…` arguments narrow the run to some packages (turbo's syntax), e.g. for a quick check.
    const only = [...args].filter((a) => a.startsWith("--filter="));
    filters = only.length > 0 ? only : unit ? ["--filter=!@storages/integration"] : [];
    // Three at a time on 2 cores: the server-backed suites spend much of their time waiting on the
    // servers (RGW's latency, the fault suites' stalls and timeouts), which a third package fills.
    exitCode = await turbo("run", "test", "--concurrency=3", "--continue", ...filters);
  }
} catch (error) {
  console.error(error?.stack ?? error);
  exitCode = 1;
}
while (child) await sleep(50);
const { strays, tempLeft } = await cleanUp();

const { passed, skipped, rows, failures, missing, ...counts } = await summarise(
  filters && !interrupted ? expectedReports(filters) : [],
);
const reliabilityWritten = !unit && !interrupted && writeReliabilityDoc(reliability);
await removeRunDir();
let { failed } = counts;
if (exitCode !== 0 && failed === 0 && !interrupted) {
  // A run can fail with every test green (an unhandled error, a crash, a file that did not load):
  // the closing count must not read as a pass.
  console.log("\nA test run failed without a failing test (unhandled error or crash): see its output above.");
  failed = 1;
}
if (!interrupted && (strays.length || tempLeft.length)) {
  for (const p of strays)
    console.log(`A test left a process running (stopped now): pid ${p.pid}: ${p.command}`);
  if (tempLeft.length) console.log(`Tests left temporary files behind (removed now): ${tempLeft.join(", ")}`);
  failed += strays.length + (tempLeft.length ? 1 : 0);
}
console.log("\npackage                      passed  failed  skipped");
for (const r of rows) {
  console.log(
    `${r.pkg.padEnd(28)} ${String(r.passed).padStart(6)}  ${String(r.failed).padStart(6)}  ${String(r.skipped).padStart(7)}`,
  );
}
for (const pkg of missing) {
  console.log(`${pkg.padEnd(28)} no report: its tests ran (see its log above) but are not counted here`);
}
if (unit) {
  const left = suitesLeftForServers();
  console.log(
    `Left for \`npm test\`, which starts the servers: ${left.serverBacked} server-backed suites ` +
      `(packages/*/test/**/*.server.test.ts) and ${left.integration} of the integration package (test/).`,
  );
}
// Last, so that a log cut to its tail (a CI page) still says which test failed and why.
if (failures.length) console.log("\nFailed:");
for (const f of failures) {
  const message = (f.message ?? "").split("\n").slice(0, 6).join("\n    ");
  console.log(`  ${f.where} > ${f.test}\n    ${message}`);
}
if (reliabilityWritten) console.log("docs/reliability.md: written from this run's fault suites.");
console.log(`(${((Date.now() - t0) / 1000).toFixed(0)} s)`);
if (interrupted) {
  console.log(`Interrupted (${interrupted}): the counts cover only the packages that finished.`);
  console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
  process.exit(130);
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
if (passed === 0 && exitCode === 0) exitCode = 1; // a run that tested nothing is not a pass
process.exit(exitCode !== 0 || failed > 0 ? 1 : 0);
