#!/usr/bin/env node
/**
 * @storages/azure vs raw @azure/storage-blob, against Azurite, side by side in one run.
 *
 *   node bench/azure.mjs            (after `npx tsc -b` of core and azure: it runs the built packages)
 *
 * Cases (each round runs every case once, alternating which side goes first; each runs in its own
 * child process so its peak RSS is its own):
 *   small  — 1,000 blobs of 4 KiB: put all (16 at a time), then get all (16 at a time), after 50
 *            untimed puts/gets that warm the process up (a service is long-lived). Cheap and noisy
 *            (a few ms per round of scheduling on 2 shared cores moves the ratio by 5 %), so it
 *            runs BENCH_AZURE_SMALL_ROUNDS (default 9) rounds where the stream runs 3.
 *   stream — one stream of BENCH_AZURE_BYTES (default 1 GiB) of unknown length: uploaded by one
 *            child, downloaded (and checked, then deleted) by another, so each operation's peak RSS
 *            is its own and not the max of both.
 * Both sides use the same block size (8 MiB) and upload concurrency (4), so the ratio measures the
 * driver, not a different tuning. Ratio = storages time / raw time (< 1: storages is faster).
 *
 * Server: STORAGES_TEST_AZURE_CONNECTION_STRING when set (bench/run.mjs starts Azurite), else this
 * script starts Azurite itself (scripts/servers/azurite.mjs) and stops it at the end.
 * Knobs: BENCH_AZURE_BYTES (stream size), BENCH_AZURE_ROUNDS (stream rounds, default 3),
 * BENCH_AZURE_SMALL_ROUNDS (default 9), BENCH_AZURE_SMALL (blob count, default 1000).
 * One unrecorded warm-up pass (200 blobs, 64 MiB) runs first on each side.
 * Writes bench/results/azure.json and bench/results/azure.md.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { drain, MiB, median, runJsonChild, source } from "./harness.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const STREAM_BYTES = Number(process.env.BENCH_AZURE_BYTES ?? 1024 * MiB);
const ROUNDS = Math.max(3, Number(process.env.BENCH_AZURE_ROUNDS ?? 3));
const SMALL_ROUNDS = Math.max(ROUNDS, Number(process.env.BENCH_AZURE_SMALL_ROUNDS ?? 9));
const SMALL_COUNT = Number(process.env.BENCH_AZURE_SMALL ?? 1000);
const SMALL_SIZE = 4096;
const BLOCK_SIZE = 8 * MiB;
const UPLOAD_CONCURRENCY = 4;
const PARALLEL_SMALL = 16;

// ---------------------------------------------------------------------------------------------
// Child: one case, one side; prints {"putMs"?, "getMs"?, "peakRssMB"} as its last line.
// Cases: "small" (put and get), "stream-put" (leaves the blob under `prefix` for) "stream-get".

async function runCase(caseName, side, connectionString, container, streamPrefix) {
  const { default: pLimit } = await import("p-limit");
  const { BlobServiceClient } = await import("@azure/storage-blob");
  const containerClient =
    BlobServiceClient.fromConnectionString(connectionString).getContainerClient(container);
  const prefix = streamPrefix ?? `${caseName}-${side}-${randomBytes(4).toString("hex")}/`;
  let storage;
  if (side === "storages") {
    const { Storage } = await import("@storages/core");
    const { AzureDriver } = await import("@storages/azure");
    storage = new Storage(
      new AzureDriver({
        connectionString,
        container,
        prefix,
        blockSize: BLOCK_SIZE,
        concurrency: UPLOAD_CONCURRENCY,
      }),
      { overwrite: true },
    );
  }
  const limit = pLimit(PARALLEL_SMALL);
  const timed = async (fn) => {
    const start = performance.now();
    await fn();
    return performance.now() - start;
  };
  let putMs;
  let getMs;
  if (caseName === "small") {
    const bodies = (dir, count) =>
      Array.from({ length: count }, (_, i) => ({ name: `${dir}/${i}.bin`, body: randomBytes(SMALL_SIZE) }));
    const put =
      side === "storages"
        ? ({ name, body }) => storage.save(name, body)
        : ({ name, body }) =>
            containerClient.getBlockBlobClient(prefix + name).upload(body, body.length, {
              blobHTTPHeaders: { blobContentType: "application/octet-stream" },
            });
    const get =
      side === "storages"
        ? ({ name }) => storage.readBytes(name)
        : async ({ name }) => {
            const response = await containerClient.getBlockBlobClient(prefix + name).download();
            const chunks = [];
            for await (const c of response.readableStreamBody) chunks.push(c);
            return Buffer.concat(chunks);
          };
    // A service is long-lived: 50 untimed puts/gets first, so the timing is not the JIT warming up
    // (the storages side has more of its own code to compile than a bare SDK call).
    const warm = bodies("warm", 50);
    await Promise.all(warm.map((b) => limit(() => put(b))));
    await Promise.all(warm.map((b) => limit(() => get(b))));
    const timedBodies = bodies("f", SMALL_COUNT);
    putMs = await timed(() => Promise.all(timedBodies.map((b) => limit(() => put(b)))));
    getMs = await timed(() => Promise.all(timedBodies.map((b) => limit(() => get(b)))));
  } else {
    const name = "big.bin";
    const blob = containerClient.getBlockBlobClient(prefix + name);
    if (caseName === "stream-put") {
      putMs =
        side === "storages"
          ? await timed(() =>
              storage.save(name, source(STREAM_BYTES), { contentType: "application/octet-stream" }),
            )
          : await timed(() =>
              blob.uploadStream(source(STREAM_BYTES), BLOCK_SIZE, UPLOAD_CONCURRENCY, {
                blobHTTPHeaders: { blobContentType: "application/octet-stream" },
              }),
            );
      // The blob stays for this side's stream-get child, which checks it and deletes it.
      console.log(JSON.stringify({ putMs, peakRssMB: process.resourceUsage().maxRSS / 1024 }));
      return;
    }
    let got = 0;
    getMs =
      side === "storages"
        ? await timed(async () => {
            got = await drain(await storage.open(name));
          })
        : await timed(async () => {
            got = await drain((await blob.download()).readableStreamBody);
          });
    if (got !== STREAM_BYTES) throw new Error(`${side} read back ${got} of ${STREAM_BYTES} bytes`);
  }
  const peakRssMB = process.resourceUsage().maxRSS / 1024;
  // Clean up outside the timings, so Azurite's memory does not grow round after round.
  const names = [];
  for await (const item of containerClient.listBlobsFlat({ prefix })) names.push(item.name);
  for (let i = 0; i < names.length; i += 256) {
    await containerClient
      .getBlobBatchClient()
      .deleteBlobs(names.slice(i, i + 256).map((n) => containerClient.getBlobClient(n)));
  }
  console.log(JSON.stringify({ putMs, getMs, peakRssMB }));
}

// ---------------------------------------------------------------------------------------------
// Parent: server, rounds, medians, report.

function child(caseName, side, env, prefix) {
  const args = ["--case", caseName, side, ...(prefix ? [prefix] : [])];
  return runJsonChild(fileURLToPath(import.meta.url), args, {
    env,
    label: `${caseName}/${side}`,
  });
}

/** A port nothing listens on, so this run never collides with a developer's Azurite on 10000. */
async function freePort() {
  const { createServer } = await import("node:net");
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

async function main() {
  let server;
  let serverWorkDir;
  let connectionString = process.env.STORAGES_TEST_AZURE_CONNECTION_STRING;
  let label = process.env.STORAGES_TEST_AZURE_SERVER;
  if (!connectionString) {
    server = await import("../scripts/servers/azurite.mjs");
    serverWorkDir = join(tmpdir(), `storages-bench-azurite-${process.pid}`);
    const { env } = await server.start({ workDir: serverWorkDir, port: await freePort() });
    connectionString = env.STORAGES_TEST_AZURE_CONNECTION_STRING;
    label = env.STORAGES_TEST_AZURE_SERVER;
  }
  const { BlobServiceClient } = await import("@azure/storage-blob");
  const container = `bench-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
  const containerClient =
    BlobServiceClient.fromConnectionString(connectionString).getContainerClient(container);
  const env = { ...process.env, BENCH_AZURE_CS: connectionString, BENCH_AZURE_CONTAINER: container };
  const samples = {};
  // Ctrl-C / SIGTERM: still remove the container and stop the Azurite this script started.
  const cleanup = async () => {
    await containerClient.deleteIfExists().catch(() => undefined);
    if (server) {
      await server.stop({ workDir: serverWorkDir });
      rmSync(serverWorkDir, { recursive: true, force: true });
    }
  };
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.once(signal, () => {
      void cleanup().finally(() => process.exit(130));
    });
  }
  try {
    await containerClient.create();
    // Warm-up, not recorded: a fresh Azurite (a JIT-compiled Node server) is several times slower
    // on its first requests, which would penalise whichever side runs first.
    const warmEnv = { ...env, BENCH_AZURE_SMALL: "200", BENCH_AZURE_BYTES: String(64 * MiB) };
    for (const side of ["storages", "raw"]) {
      await child("small", side, warmEnv);
      const prefix = `warm-${side}-${randomBytes(4).toString("hex")}/`;
      await child("stream-put", side, warmEnv, prefix);
      await child("stream-get", side, warmEnv, prefix);
    }
    const record = (key, result) => {
      samples[key] ??= [];
      samples[key].push(result);
    };
    for (let round = 1; round <= SMALL_ROUNDS; round++) {
      const sides = round % 2 ? ["storages", "raw"] : ["raw", "storages"];
      for (const side of sides) {
        const result = await child("small", side, env);
        record(`small/${side}`, result);
        console.error(
          `round ${round} small/${side}: put ${result.putMs.toFixed(0)} ms, get ${result.getMs.toFixed(0)} ms, peak RSS ${result.peakRssMB.toFixed(0)} MB`,
        );
      }
      if (round > ROUNDS) continue;
      for (const side of sides) {
        // Upload and download in separate processes: each operation's peak RSS is its own.
        const prefix = `stream-${side}-${randomBytes(4).toString("hex")}/`;
        const put = await child("stream-put", side, env, prefix);
        const get = await child("stream-get", side, env, prefix);
        const result = {
          putMs: put.putMs,
          getMs: get.getMs,
          putPeakRssMB: put.peakRssMB,
          getPeakRssMB: get.peakRssMB,
        };
        record(`stream/${side}`, result);
        console.error(
          `round ${round} stream/${side}: put ${result.putMs.toFixed(0)} ms (peak RSS ${put.peakRssMB.toFixed(0)} MB), get ${result.getMs.toFixed(0)} ms (peak RSS ${get.peakRssMB.toFixed(0)} MB)`,
        );
      }
    }
  } finally {
    await cleanup();
  }

  const cases = {};
  for (const [key, runs] of Object.entries(samples)) {
    const maxOf = (field) => Math.max(...runs.map((r) => r[field] ?? r.peakRssMB));
    cases[key] = {
      putMs: median(runs.map((r) => r.putMs)),
      getMs: median(runs.map((r) => r.getMs)),
      // Small: one process does both, so put and get share its peak.
      putPeakRssMB: maxOf("putPeakRssMB"),
      getPeakRssMB: maxOf("getPeakRssMB"),
      runs,
    };
  }
  const ratios = {};
  for (const caseName of ["small", "stream"]) {
    const ours = cases[`${caseName}/storages`];
    const raw = cases[`${caseName}/raw`];
    ratios[caseName] = { put: ours.putMs / raw.putMs, get: ours.getMs / raw.getMs };
  }
  const streamMiB = STREAM_BYTES / MiB;
  const rows = [
    ["case", "storages (median)", "raw SDK (median)", "ratio (time)", "storages peak RSS", "raw peak RSS"],
    ...["small", "stream"].flatMap((caseName) =>
      ["put", "get"].map((op) => {
        const ours = cases[`${caseName}/storages`];
        const raw = cases[`${caseName}/raw`];
        const title =
          caseName === "small"
            ? `${SMALL_COUNT} × 4 KiB ${op}`
            : `${streamMiB >= 1024 ? `${streamMiB / 1024} GiB` : `${streamMiB} MiB`} stream ${op === "put" ? "upload" : "download"}`;
        return [
          title,
          `${ours[`${op}Ms`].toFixed(0)} ms`,
          `${raw[`${op}Ms`].toFixed(0)} ms`,
          `${ratios[caseName][op].toFixed(3)}×`,
          `${ours[`${op}PeakRssMB`].toFixed(0)} MB`,
          `${raw[`${op}PeakRssMB`].toFixed(0)} MB`,
        ];
      }),
    ),
  ];
  const table = rows.map((r) => `| ${r.join(" | ")} |`);
  table.splice(1, 0, `|${rows[0].map(() => "---").join("|")}|`);
  const markdown = [
    `# @storages/azure vs raw @azure/storage-blob on ${label}`,
    "",
    `Medians of ${SMALL_ROUNDS} rounds (small blobs) and ${ROUNDS} rounds (stream), alternating which side goes first. Peak RSS = the highest max RSS over the rounds of the process that ran the operation, the whole Node process included (with the SDK loaded, ~85 MB before any request): the small blobs' put and get share one process; the stream's upload and download each run in their own.`,
    `Both sides: ${BLOCK_SIZE / MiB} MiB blocks, ${UPLOAD_CONCURRENCY} blocks in flight; small blobs ${PARALLEL_SMALL} at a time. Ratio = storages time / raw time (< 1: faster).`,
    `Node ${process.versions.node}, ${new Date().toISOString()}.`,
    "",
    ...table,
    "",
  ].join("\n");
  const summary = `small put ${ratios.small.put.toFixed(2)}×, get ${ratios.small.get.toFixed(2)}×; ${streamMiB} MiB stream up ${ratios.stream.put.toFixed(2)}×, down ${ratios.stream.get.toFixed(2)}× (time vs raw SDK); stream peak RSS upload ${cases["stream/storages"].putPeakRssMB.toFixed(0)} MB vs ${cases["stream/raw"].putPeakRssMB.toFixed(0)} MB raw, download ${cases["stream/storages"].getPeakRssMB.toFixed(0)} MB vs ${cases["stream/raw"].getPeakRssMB.toFixed(0)} MB raw`;
  mkdirSync(join(HERE, "results"), { recursive: true });
  writeFileSync(
    join(HERE, "results", "azure.json"),
    `${JSON.stringify(
      {
        server: label,
        node: process.versions.node,
        date: new Date().toISOString(),
        settings: {
          rounds: ROUNDS,
          smallRounds: SMALL_ROUNDS,
          smallCount: SMALL_COUNT,
          smallSize: SMALL_SIZE,
          streamBytes: STREAM_BYTES,
          blockSize: BLOCK_SIZE,
          uploadConcurrency: UPLOAD_CONCURRENCY,
          parallelSmall: PARALLEL_SMALL,
        },
        cases,
        ratios,
        summary,
      },
      null,
      2,
    )}\n`,
  );
  writeFileSync(join(HERE, "results", "azure.md"), markdown);
  console.log(markdown);
}

if (process.argv[2] === "--case") {
  await runCase(
    process.argv[3],
    process.argv[4],
    process.env.BENCH_AZURE_CS,
    process.env.BENCH_AZURE_CONTAINER,
    process.argv[5],
  );
} else {
  await main();
}
