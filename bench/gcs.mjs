#!/usr/bin/env node
/**
 * @storages/gcs vs raw @google-cloud/storage, against the Cloud Storage emulator, side by side in one run.
 *
 *   node bench/gcs.mjs            (after `npx tsc -b packages/gcs`: it runs the built packages)
 *
 * Cases (each round runs every case once, alternating which side goes first; each case runs in its
 * own child process so its peak RSS is its own):
 *   small  — 1,000 objects of 4 KiB: put all (16 at a time), then get all (16 at a time)
 *   stream — one stream of BENCH_GCS_BYTES (default 100 MiB) of unknown length: upload, then download
 *   paired — the small objects again, both sides in one process, one operation each in turn: the
 *            steadiest ratio on a busy machine (no peak RSS: the process is shared)
 * Both sides use the same SDK copy and build (ESM), each with its defaults: the same upload protocol
 * (one multipart request for the small objects; one streaming resumable request for the stream)
 * and CRC32C validation, so the ratio measures the driver. Ratio = storages time / raw time
 * (< 1: storages is faster; the goal is ≤ 1.05, i.e. ≥ 0.95× raw throughput).
 *
 * Server: STORAGES_TEST_GCS_ENDPOINT when set (bench/run.mjs starts the emulator), else this script
 * starts the emulator itself (scripts/servers/gcs-emulator.mjs, port 19299) and stops it at the end.
 * Knobs: BENCH_GCS_BYTES (stream size, ≤ 130 MB on the emulator), BENCH_GCS_ROUNDS (default 3),
 * BENCH_GCS_SMALL (default 1000). Writes bench/results/gcs.json and bench/results/gcs.md.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { findPackageJSON } from "node:module";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { fileURLToPath, pathToFileURL } from "node:url";
import { drain, inParallel, MiB, median, runJsonChild, source } from "./harness.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const STREAM_BYTES = Number(process.env.BENCH_GCS_BYTES ?? 100 * MiB);
const ROUNDS = Math.max(3, Number(process.env.BENCH_GCS_ROUNDS ?? 3));
const SMALL_COUNT = Number(process.env.BENCH_GCS_SMALL ?? 1000);
const SMALL_SIZE = 4096;
const PARALLEL_SMALL = 16;
const PROJECT = "demo-storages";

/**
 * The SDK exactly as @storages/gcs loads it, so both sides run the same code underneath. The
 * package ships two builds: @storages/gcs is an ES module and gets the "import" one (build/esm);
 * require.resolve would pick the "require" one (build/cjs), other code with other timings.
 */
async function loadSdk() {
  const manifest = findPackageJSON(
    "@google-cloud/storage",
    pathToFileURL(join(HERE, "..", "packages", "gcs", "package.json")),
  );
  const entry = JSON.parse(readFileSync(manifest, "utf8")).exports["."].import.default;
  return import(pathToFileURL(join(dirname(manifest), entry)).href);
}

// ---------------------------------------------------------------------------------------------
// Child: one case, one side; prints {"putMs","getMs","peakRssMB"} as its last line.

/** A stream of unknown length: the same 1 MiB buffer over and over (cheap, same for both sides). */

/** put(name, body) and get(name) → bytes read, for one side, under its own prefix. */
async function makeSide(side, endpoint, bucketName, prefix) {
  if (side === "storages") {
    const { Storage } = await import("@storages/core");
    const { GcsDriver } = await import("@storages/gcs");
    const storage = new Storage(
      new GcsDriver({
        bucket: bucketName,
        prefix,
        endpoint,
        projectId: PROJECT,
        uniformAccess: true,
      }),
      { overwrite: true },
    );
    return {
      put: (name, body) => storage.save(name, body),
      get: async (name) => drain(await storage.open(name)),
    };
  }
  const { Storage: GcsClient } = await loadSdk();
  const bucket = new GcsClient({ apiEndpoint: endpoint, projectId: PROJECT }).bucket(bucketName);
  return {
    put: (name, body) =>
      Buffer.isBuffer(body)
        ? bucket.file(prefix + name).save(body, { resumable: false, contentType: "application/octet-stream" })
        : pipeline(
            body,
            bucket
              .file(prefix + name)
              .createWriteStream({ resumable: true, contentType: "application/octet-stream" }),
          ),
    get: (name) => drain(bucket.file(prefix + name).createReadStream()),
  };
}

async function cleanUp(endpoint, bucketName, prefix) {
  const { Storage: GcsClient } = await loadSdk();
  const bucket = new GcsClient({ apiEndpoint: endpoint, projectId: PROJECT }).bucket(bucketName);
  await bucket.deleteFiles({ prefix, force: true }).catch(() => undefined);
}

/**
 * Both sides in one process, one operation each in turn (order rotating): slow phases of a shared
 * machine hit both equally, so this ratio is the steadiest one. Prints {"storages":{putMs,getMs},"raw":…}
 * with the mean milliseconds per operation.
 */
async function runPaired(endpoint, bucketName) {
  const tag = randomBytes(4).toString("hex");
  const sides = {
    storages: await makeSide("storages", endpoint, bucketName, `paired-storages-${tag}/`),
    raw: await makeSide("raw", endpoint, bucketName, `paired-raw-${tag}/`),
  };
  const body = randomBytes(SMALL_SIZE);
  const totals = { storages: { putMs: 0, getMs: 0 }, raw: { putMs: 0, getMs: 0 } };
  for (const phase of ["put", "get"]) {
    for (let i = 0; i < SMALL_COUNT; i++) {
      const order = i % 2 === 0 ? ["storages", "raw"] : ["raw", "storages"];
      for (const side of order) {
        const t = performance.now();
        if (phase === "put") await sides[side].put(`o-${i}.bin`, body);
        else if ((await sides[side].get(`o-${i}.bin`)) !== SMALL_SIZE) throw new Error("paired: short read");
        totals[side][`${phase}Ms`] += performance.now() - t;
      }
    }
  }
  await cleanUp(endpoint, bucketName, `paired-storages-${tag}/`);
  await cleanUp(endpoint, bucketName, `paired-raw-${tag}/`);
  for (const side of Object.keys(totals)) {
    totals[side].putMs /= SMALL_COUNT;
    totals[side].getMs /= SMALL_COUNT;
  }
  console.log(JSON.stringify(totals));
}

async function runCase(caseName, side, endpoint, bucketName) {
  const prefix = `${caseName}-${side}-${randomBytes(4).toString("hex")}/`;
  const { put, get } = await makeSide(side, endpoint, bucketName, prefix);
  let putMs;
  let getMs;
  let putCpuMs;
  let getCpuMs;
  // Client CPU (user + system) besides wall time: on a shared machine it shows the driver's own
  // overhead even when the server's speed varies.
  const cpuSince = (start) => {
    const used = process.cpuUsage(start);
    return (used.user + used.system) / 1000;
  };
  if (caseName === "small") {
    const body = randomBytes(SMALL_SIZE);
    let t = performance.now();
    let cpu = process.cpuUsage();
    await inParallel(SMALL_COUNT, PARALLEL_SMALL, (i) => put(`o-${i}.bin`, body));
    putMs = performance.now() - t;
    putCpuMs = cpuSince(cpu);
    t = performance.now();
    cpu = process.cpuUsage();
    let total = 0;
    await inParallel(SMALL_COUNT, PARALLEL_SMALL, async (i) => {
      const bytes = await get(`o-${i}.bin`); // not `total += await …`: that reads `total` before awaiting
      total += bytes;
    });
    getMs = performance.now() - t;
    getCpuMs = cpuSince(cpu);
    if (total !== SMALL_COUNT * SMALL_SIZE) throw new Error(`small: read ${total} bytes`);
  } else {
    let t = performance.now();
    let cpu = process.cpuUsage();
    await put("stream.bin", source(STREAM_BYTES));
    putMs = performance.now() - t;
    putCpuMs = cpuSince(cpu);
    t = performance.now();
    cpu = process.cpuUsage();
    const total = await get("stream.bin");
    getMs = performance.now() - t;
    getCpuMs = cpuSince(cpu);
    if (total !== STREAM_BYTES) throw new Error(`stream: read ${total} of ${STREAM_BYTES} bytes`);
  }
  // Not timed: leave the emulator as empty as we found it (it keeps everything in memory).
  await cleanUp(endpoint, bucketName, prefix);
  const peakRssMB = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify({ putMs, getMs, putCpuMs, getCpuMs, peakRssMB }));
}

// ---------------------------------------------------------------------------------------------
// Parent: rounds, alternation, medians, report.

function child(caseName, side, endpoint, bucket) {
  const args =
    caseName === "paired" ? ["--paired", endpoint, bucket] : ["--child", caseName, side, endpoint, bucket];
  return runJsonChild(fileURLToPath(import.meta.url), args, { label: `${caseName}/${side}` });
}

async function main() {
  let endpoint = process.env.STORAGES_TEST_GCS_ENDPOINT;
  let serverLabel = process.env.STORAGES_TEST_GCS_SERVER;
  let stopServer;
  if (!endpoint) {
    const emulator = await import("../scripts/servers/gcs-emulator.mjs");
    const workDir = join(tmpdir(), `storages-bench-gcs-${process.pid}`);
    const { env } = await emulator.start({ workDir, port: Number(process.env.BENCH_GCS_PORT ?? 19299) });
    endpoint = env.STORAGES_TEST_GCS_ENDPOINT;
    serverLabel = env.STORAGES_TEST_GCS_SERVER;
    stopServer = async () => {
      await emulator.stop({ workDir });
      rmSync(workDir, { recursive: true, force: true });
    };
  }
  if (!["127.0.0.1", "localhost", "[::1]"].includes(new URL(endpoint).hostname)) {
    throw new Error(`The GCS bench only targets a loopback emulator, not ${endpoint}.`);
  }
  const bucket = `storages-bench-${randomBytes(4).toString("hex")}`;
  const cases = ["small", "stream"];
  // Wall times on a shared 2-core machine swing with whatever else runs: keep the load with the figures.
  const loadBefore = loadavg()[0];
  const runs = {};
  const paired = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const pair = await child("paired", "both", endpoint, bucket);
      paired.push(pair);
      process.stderr.write(
        `round ${round + 1} paired small: put ${pair.storages.putMs.toFixed(2)} / ${pair.raw.putMs.toFixed(2)} ms, get ${pair.storages.getMs.toFixed(2)} / ${pair.raw.getMs.toFixed(2)} ms per op (storages / raw)\n`,
      );
      const sides = round % 2 === 0 ? ["storages", "raw"] : ["raw", "storages"];
      for (const caseName of cases) {
        for (const side of sides) {
          const result = await child(caseName, side, endpoint, bucket);
          const key = `${caseName}/${side}`;
          runs[key] = [...(runs[key] ?? []), result];
          process.stderr.write(
            `round ${round + 1} ${caseName}/${side}: put ${result.putMs.toFixed(0)} ms (cpu ${result.putCpuMs.toFixed(0)}), get ${result.getMs.toFixed(0)} ms (cpu ${result.getCpuMs.toFixed(0)}), peak RSS ${result.peakRssMB.toFixed(0)} MB\n`,
          );
        }
      }
    }
  } finally {
    await stopServer?.();
  }

  const summaryCases = {};
  for (const [key, list] of Object.entries(runs)) {
    summaryCases[key] = {
      putMs: median(list.map((r) => r.putMs)),
      getMs: median(list.map((r) => r.getMs)),
      putCpuMs: median(list.map((r) => r.putCpuMs)),
      getCpuMs: median(list.map((r) => r.getCpuMs)),
      peakRssMB: Math.max(...list.map((r) => r.peakRssMB)),
      runs: list,
    };
  }
  const ratios = {};
  for (const caseName of cases) {
    const ours = summaryCases[`${caseName}/storages`];
    const raw = summaryCases[`${caseName}/raw`];
    ratios[`${caseName} put`] = ours.putMs / raw.putMs;
    ratios[`${caseName} get`] = ours.getMs / raw.getMs;
    ratios[`${caseName} put cpu`] = ours.putCpuMs / raw.putCpuMs;
    ratios[`${caseName} get cpu`] = ours.getCpuMs / raw.getCpuMs;
  }
  const pairedMedian = {};
  for (const side of ["storages", "raw"]) {
    pairedMedian[side] = {
      putMs: median(paired.map((p) => p[side].putMs)),
      getMs: median(paired.map((p) => p[side].getMs)),
    };
  }
  ratios["paired put"] = pairedMedian.storages.putMs / pairedMedian.raw.putMs;
  ratios["paired get"] = pairedMedian.storages.getMs / pairedMedian.raw.getMs;
  const fmt = (n) => n.toFixed(2);
  const rows = [
    "| case | storages (median ms) | raw SDK (median ms) | ratio (storages/raw) | client CPU storages / raw (ms) | CPU ratio | peak RSS storages / raw (MB) |",
    "|---|---|---|---|---|---|---|",
  ];
  for (const caseName of cases) {
    const ours = summaryCases[`${caseName}/storages`];
    const raw = summaryCases[`${caseName}/raw`];
    for (const phase of ["put", "get"]) {
      rows.push(
        `| ${caseName} ${phase} | ${ours[`${phase}Ms`].toFixed(0)} | ${raw[`${phase}Ms`].toFixed(0)} | ${fmt(ratios[`${caseName} ${phase}`])} | ${ours[`${phase}CpuMs`].toFixed(0)} / ${raw[`${phase}CpuMs`].toFixed(0)} | ${fmt(ratios[`${caseName} ${phase} cpu`])} | ${ours.peakRssMB.toFixed(0)} / ${raw.peakRssMB.toFixed(0)} |`,
      );
    }
  }
  const settings = {
    loadAverage: { before: loadBefore, after: loadavg()[0] },
    rounds: ROUNDS,
    smallCount: SMALL_COUNT,
    smallSize: SMALL_SIZE,
    parallelSmall: PARALLEL_SMALL,
    streamBytes: STREAM_BYTES,
  };
  const header = `GCS: @storages/gcs vs raw @google-cloud/storage on ${serverLabel} — ${SMALL_COUNT} × ${SMALL_SIZE / 1024} KiB objects (${PARALLEL_SMALL} at a time) and one ${STREAM_BYTES / MiB} MiB stream; medians of ${ROUNDS} alternating rounds, one child process per case; 1-min load average ${settings.loadAverage.before.toFixed(1)} → ${settings.loadAverage.after.toFixed(1)} on ${availableParallelism()} cores.`;
  const pairedRows = [
    "| paired, one op at a time, interleaved in one process | storages (ms/op) | raw SDK (ms/op) | ratio |",
    "|---|---|---|---|",
    ...["put", "get"].map(
      (phase) =>
        `| small ${phase} | ${pairedMedian.storages[`${phase}Ms`].toFixed(2)} | ${pairedMedian.raw[`${phase}Ms`].toFixed(2)} | ${fmt(ratios[`paired ${phase}`])} |`,
    ),
  ];
  const markdown = `${header}\n\n${rows.join("\n")}\n\n${pairedRows.join("\n")}\n`;
  const summary = Object.entries(ratios)
    .filter(([name]) => !name.endsWith(" cpu"))
    .map(([name, ratio]) => `${name} ${fmt(ratio)}`)
    .join(", ");
  mkdirSync(join(HERE, "results"), { recursive: true });
  writeFileSync(
    join(HERE, "results", "gcs.json"),
    `${JSON.stringify({ server: serverLabel, node: process.versions.node, date: new Date().toISOString(), settings, cases: summaryCases, paired: { median: pairedMedian, runs: paired }, ratios, summary: `ratios (storages/raw): ${summary}` }, null, 2)}\n`,
  );
  writeFileSync(join(HERE, "results", "gcs.md"), markdown);
  console.log(markdown);
}

if (process.argv[2] === "--paired") {
  await runPaired(process.argv[3], process.argv[4]);
} else if (process.argv[2] === "--child") {
  const [, , , caseName, side, endpoint, bucket] = process.argv;
  await runCase(caseName, side, endpoint, bucket);
} else {
  await main();
}
