#!/usr/bin/env node
/**
 * @storages/azure vs raw @azure/storage-blob, against Azurite, side by side in one run.
 *
 *   node bench/azure.mjs            (after `npx tsc -b` of core and azure: it runs the built packages)
 *
 * Cases (each round runs every case once, alternating which side goes first; each case runs in its
 * own child process so its peak RSS is its own):
 *   small  — 1,000 blobs of 4 KiB: put all (16 at a time), then get all (16 at a time), after 50
 *            untimed puts/gets that warm the process up (a service is long-lived)
 *   stream — one stream of BENCH_AZURE_BYTES (default 1 GiB) of unknown length: upload, then download
 * Both sides use the same block size (8 MiB) and upload concurrency (4), so the ratio measures the
 * driver, not a different tuning. Ratio = storages time / raw time (< 1: storages is faster).
 *
 * Server: STORAGES_TEST_AZURE_CONNECTION_STRING when set (bench/run.mjs starts Azurite), else this
 * script starts Azurite itself (scripts/servers/azurite.mjs) and stops it at the end.
 * Knobs: BENCH_AZURE_BYTES (stream size), BENCH_AZURE_ROUNDS (default 3), BENCH_AZURE_SMALL (default 1000).
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
const SMALL_COUNT = Number(process.env.BENCH_AZURE_SMALL ?? 1000);
const SMALL_SIZE = 4096;
const BLOCK_SIZE = 8 * MiB;
const UPLOAD_CONCURRENCY = 4;
const PARALLEL_SMALL = 16;

// ---------------------------------------------------------------------------------------------
// Child: one case, one side; prints {"putMs","getMs","peakRssMB"} as its last line.

/** A stream of unknown length: the same 1 MiB buffer over and over (cheap to produce, same for both sides). */

async function runCase(caseName, side, connectionString, container) {
  const { default: pLimit } = await import("p-limit");
  const { BlobServiceClient } = await import("@azure/storage-blob");
  const containerClient =
    BlobServiceClient.fromConnectionString(connectionString).getContainerClient(container);
  const prefix = `${caseName}-${side}-${randomBytes(4).toString("hex")}/`;
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
    let got = 0;
    if (side === "storages") {
      putMs = await timed(() =>
        storage.save(name, source(STREAM_BYTES), { contentType: "application/octet-stream" }),
      );
      getMs = await timed(async () => {
        got = await drain(await storage.open(name));
      });
    } else {
      const blob = containerClient.getBlockBlobClient(prefix + name);
      putMs = await timed(() =>
        blob.uploadStream(source(STREAM_BYTES), BLOCK_SIZE, UPLOAD_CONCURRENCY, {
          blobHTTPHeaders: { blobContentType: "application/octet-stream" },
        }),
      );
      getMs = await timed(async () => {
        got = await drain((await blob.download()).readableStreamBody);
      });
    }
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

function child(caseName, side, env) {
  return runJsonChild(fileURLToPath(import.meta.url), ["--case", caseName, side], {
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
    for (const caseName of ["small", "stream"]) {
      for (const side of ["storages", "raw"]) await child(caseName, side, warmEnv);
    }
    for (let round = 1; round <= ROUNDS; round++) {
      for (const caseName of ["small", "stream"]) {
        const sides = round % 2 ? ["storages", "raw"] : ["raw", "storages"];
        for (const side of sides) {
          const result = await child(caseName, side, env);
          samples[`${caseName}/${side}`] ??= [];
          samples[`${caseName}/${side}`].push(result);
          console.error(
            `round ${round} ${caseName}/${side}: put ${result.putMs.toFixed(0)} ms, get ${result.getMs.toFixed(0)} ms, peak RSS ${result.peakRssMB.toFixed(0)} MB`,
          );
        }
      }
    }
  } finally {
    await cleanup();
  }

  const cases = {};
  for (const [key, runs] of Object.entries(samples)) {
    cases[key] = {
      putMs: median(runs.map((r) => r.putMs)),
      getMs: median(runs.map((r) => r.getMs)),
      peakRssMB: Math.max(...runs.map((r) => r.peakRssMB)),
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
          `${ours.peakRssMB.toFixed(0)} MB`,
          `${raw.peakRssMB.toFixed(0)} MB`,
        ];
      }),
    ),
  ];
  const table = rows.map((r) => `| ${r.join(" | ")} |`);
  table.splice(1, 0, `|${rows[0].map(() => "---").join("|")}|`);
  const markdown = [
    `# @storages/azure vs raw @azure/storage-blob on ${label}`,
    "",
    `${ROUNDS} rounds, alternating order, medians; each case in its own process (peak RSS = that process's max RSS, the whole Node process included).`,
    `Both sides: ${BLOCK_SIZE / MiB} MiB blocks, ${UPLOAD_CONCURRENCY} blocks in flight; small blobs ${PARALLEL_SMALL} at a time. Ratio = storages time / raw time (< 1: faster).`,
    `Node ${process.versions.node}, ${new Date().toISOString()}.`,
    "",
    ...table,
    "",
  ].join("\n");
  const summary = `small put ${ratios.small.put.toFixed(2)}×, get ${ratios.small.get.toFixed(2)}×; ${streamMiB} MiB stream up ${ratios.stream.put.toFixed(2)}×, down ${ratios.stream.get.toFixed(2)}× (time vs raw SDK); stream peak RSS ${cases["stream/storages"].peakRssMB.toFixed(0)} MB vs ${cases["stream/raw"].peakRssMB.toFixed(0)} MB raw`;
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
  );
} else {
  await main();
}
