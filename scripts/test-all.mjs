#!/usr/bin/env node
/**
 * `npm test`: every test of every package, each backend against a real server.
 *
 * 1. builds the packages (examples and the end-to-end test run the built code);
 * 2. installs (apt-get for Ceph RGW) and starts RGW, Azurite and the GCS emulator — unless their
 *    STORAGES_TEST_* variables already point at a server — in parallel;
 * 3. runs every workspace's tests through turbo with the servers' environment;
 * 4. stops what it started, prints a table per package and one closing line
 *    "N passed, N failed, N skipped" (skips are only server gaps, each named in the output).
 *
 * Options: --no-servers (core, fs, testing only), --keep-servers (leave them running).
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { RUN_DIR, startServers, stopServers } from "./servers.mjs";
import { toolCommand } from "./tool.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = new Set(process.argv.slice(2));
const withServers = !args.has("--no-servers");
const REPORTS = join(RUN_DIR, "reports");

function run(command, commandArgs, env) {
  return new Promise((resolve) => {
    const child = spawn(command, commandArgs, { cwd: ROOT, stdio: "inherit", env });
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

function turbo(...turboArgs) {
  const [command, commandArgs] = toolCommand("turbo", turboArgs);
  return run(command, commandArgs, env);
}

async function summarise() {
  if (!existsSync(REPORTS)) return { passed: 0, failed: 0, skipped: 0, rows: [] };
  const rows = [];
  for (const file of (await readdir(REPORTS)).filter((f) => f.endsWith(".json")).sort()) {
    const report = JSON.parse(await readFile(join(REPORTS, file), "utf8"));
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
  return { passed: sum("passed"), failed: sum("failed"), skipped: sum("skipped"), rows };
}

const t0 = Date.now();
const env = {
  ...process.env,
  STORAGES_TEST_REPORT: join(REPORTS, "{pkg}.json"),
  FORCE_COLOR: process.env.FORCE_COLOR ?? "0",
};
await rm(REPORTS, { recursive: true, force: true });
await mkdir(REPORTS, { recursive: true });

let exitCode = await turbo("run", "build", "--output-logs=errors-only");
if (exitCode !== 0) {
  console.error("Build failed; not running tests.");
  process.exit(exitCode);
}

let started = false;
try {
  if (withServers) {
    Object.assign(env, await startServers([], env));
    started = true;
  }
  const filters = withServers
    ? []
    : ["--filter=@storages/core", "--filter=@storages/fs", "--filter=@storages/testing"];
  // Two at a time: the machine has 2 cores and the servers need some of them.
  exitCode = await turbo("run", "test", "--concurrency=2", "--continue", ...filters);
} catch (error) {
  console.error(error?.stack ?? error);
  exitCode = 1;
} finally {
  if (started && !args.has("--keep-servers")) await stopServers();
}

const { passed, skipped, rows, ...counts } = await summarise();
let { failed } = counts;
if (exitCode !== 0 && failed === 0) {
  // A run can fail with every test green (an unhandled error, a crash, a file that did not load):
  // the closing count must not read as a pass.
  console.log("\nA test run failed without a failing test (unhandled error or crash): see its output above.");
  failed = 1;
}
console.log("\npackage                      passed  failed  skipped");
for (const r of rows) {
  console.log(
    `${r.pkg.padEnd(28)} ${String(r.passed).padStart(6)}  ${String(r.failed).padStart(6)}  ${String(r.skipped).padStart(7)}`,
  );
}
console.log(`(${((Date.now() - t0) / 1000).toFixed(0)} s)`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
if (passed === 0 && exitCode === 0) exitCode = 1; // a run that tested nothing is not a pass
process.exit(exitCode !== 0 || failed > 0 ? 1 : 0);
