#!/usr/bin/env node
/**
 * `npm run bench`: every benchmark in one go, against the same real servers the tests use.
 *
 *   node bench/run.mjs [fs] [small-files] [s3] [gcs] [azure] [migrate]      (default: all)
 *
 * Each bench/<name>.mjs runs its cases side by side (alternating rounds, medians, peak RSS per case
 * in a child process) and writes bench/results/<name>.json; this script starts the servers the
 * chosen benchmarks need, runs them one after another (never two at once: they would share the
 * 2 cores and distort each other), stops the servers it started (a server given through its
 * STORAGES_TEST_* variables is left alone), and prints the combined ratios.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startServers, stopServers } from "../scripts/servers.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const ALL = {
  fs: [],
  "small-files": [],
  s3: ["rgw"],
  gcs: ["gcs-emulator"],
  azure: ["azurite"],
  migrate: ["rgw"],
  uploads: ["rgw"],
};
const chosen = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(ALL);
for (const name of chosen)
  if (!(name in ALL)) throw new Error(`Unknown benchmark "${name}"; known: ${Object.keys(ALL).join(", ")}`);

const servers = [...new Set(chosen.flatMap((name) => ALL[name]))];
const env = { ...process.env };
// Servers whose STORAGES_TEST_* variables are preset are used, not started: stop only ours.
let started = [];
if (servers.length) {
  const result = await startServers(servers, env);
  Object.assign(env, result.env);
  started = result.started;
}

let failed = false;
try {
  for (const name of chosen) {
    console.log(`\n## ${name}\n`);
    const code = await new Promise((resolve) => {
      const child = spawn(process.execPath, [join(HERE, `${name}.mjs`)], { stdio: "inherit", env });
      child.on("exit", (c) => resolve(c ?? 1));
    });
    if (code !== 0) {
      failed = true;
      console.error(`bench ${name} exited with ${code}`);
    }
  }
} finally {
  await stopServers(started);
}

console.log("\n## Summary (ratio = storages time / baseline time; < 1 is faster)\n");
for (const name of chosen) {
  const file = join(HERE, "results", `${name}.json`);
  if (!existsSync(file)) continue;
  const result = JSON.parse(await readFile(file, "utf8"));
  console.log(`- ${name}: ${result.summary ?? JSON.stringify(result.ratios ?? {}).slice(0, 400)}`);
}
process.exit(failed ? 1 : 0);
