#!/usr/bin/env node
/**
 * `storages copy` / `sync` against Debian's rclone, side by side in one run, same concurrency:
 *
 *   - the static-bench corpus (2,122 files, 72 MB; generate it with
 *     /work/shared/reference/static-bench/gen_corpus.py --out DIR and pass BENCH_CORPUS=DIR),
 *     fs → fs and fs → RGW, into an empty destination;
 *   - a no-change sync of the same (everything already there);
 *   - one 1 GiB file, fs → fs and fs → RGW.
 *
 * Each case is one whole process (`node packages/cli/bin/storages.js …` or `rclone …`) run under
 * GNU time: wall time from start to exit, CPU time (user + system: what a loaded machine distorts
 * least) and peak RSS. Cases alternate round by round; medians and ratios (storages / rclone; < 1
 * is faster) from this one run, with the load average before and after each case. Before each
 * timed run, outside the clock, `sync` writes back what the previous run left dirty: else the first
 * fsync of a storages run waited for the ~72 MB rclone had just written and never synced.
 *
 * What each side does, matched case by case: both compare size and modification time (no
 * --checksum), copy only what is missing, keep modification times; rclone local → local writes the
 * file in place (no fsync, no temporary file) and checks an MD5 it takes of the bytes as they pass;
 * storages writes a temporary file renamed into place, fsyncs file and folder (durability "full",
 * the default) or everything once at the end (durability=batch), and checks the size (a plain
 * folder keeps no MD5; a recorded one is checked). To RGW both send each small file in one PUT and
 * check the MD5 against the ETag.
 *
 *   BENCH_CORPUS=/tmp/mig-bench/assets node bench/migrate.mjs        (RGW: STORAGES_TEST_S3_* set,
 *   BENCH_MIGRATE_ROUNDS=3  BENCH_MIGRATE_CONCURRENCY=8                or run it through bench/run.mjs)
 *   BENCH_STORAGES_BIN=…/bin/storages.js      another build's CLI (before/after)
 *   BENCH_MIGRATE_CASES='no-change sync fs'   only the cases whose label contains this text (no RGW
 *                                             needed when none of them uses it); results go to
 *                                             results/migrate-selected.{json,md}, not migrate.*
 */
import { spawnSync } from "node:child_process";

import { createWriteStream, existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { emptyFolder, MiB, median, source, timedProcess } from "./harness.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
// BENCH_STORAGES_BIN: another build's bin (a before/after comparison of two checkouts).
const CLI = process.env.BENCH_STORAGES_BIN ?? join(HERE, "..", "packages", "cli", "bin", "storages.js");
const CORPUS = process.env.BENCH_CORPUS ?? "/tmp/mig-bench/assets";
const ROUNDS = Number(process.env.BENCH_MIGRATE_ROUNDS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_MIGRATE_CONCURRENCY ?? 8);
const BIG_BYTES = Number(process.env.BENCH_MIGRATE_BIG_BYTES ?? 1024 * MiB);
const WORK = join(tmpdir(), `storages-bench-migrate-${process.pid}`);
const SELECTED = process.env.BENCH_MIGRATE_CASES;
const wanted = (label) => SELECTED === undefined || label.includes(SELECTED);
const RGW_WANTED = ["corpus fs → RGW", "no-change sync fs → RGW", "1 GiB file fs → RGW"].some(wanted);

if (!existsSync(CORPUS))
  throw new Error(
    `No corpus at ${CORPUS}: python3 /work/shared/reference/static-bench/gen_corpus.py --out ${CORPUS} (needs python3-django), or set BENCH_CORPUS.`,
  );
const endpoint = process.env.STORAGES_TEST_S3_ENDPOINT ?? (RGW_WANTED ? undefined : "http://127.0.0.1:1");
if (!endpoint)
  throw new Error("STORAGES_TEST_S3_ENDPOINT is not set: run through `node bench/run.mjs migrate`.");
const region = process.env.STORAGES_TEST_S3_REGION ?? "us-east-1";
const credentials = {
  accessKeyId: process.env.STORAGES_TEST_S3_ACCESS_KEY_ID,
  secretAccessKey: process.env.STORAGES_TEST_S3_SECRET_ACCESS_KEY,
};
const s3 = new S3Client({ endpoint, region, credentials, forcePathStyle: true });

/** rclone's S3 remote `rgw:` from environment variables alone (no config file). */
const RCLONE_ENV = {
  RCLONE_CONFIG: "/dev/null",
  RCLONE_CONFIG_RGW_TYPE: "s3",
  RCLONE_CONFIG_RGW_PROVIDER: "Ceph",
  RCLONE_CONFIG_RGW_ENDPOINT: endpoint,
  RCLONE_CONFIG_RGW_REGION: region,
  RCLONE_CONFIG_RGW_ACCESS_KEY_ID: credentials.accessKeyId,
  RCLONE_CONFIG_RGW_SECRET_ACCESS_KEY: credentials.secretAccessKey,
  RCLONE_CONFIG_RGW_FORCE_PATH_STYLE: "true",
  // The AWS SDK inside rclone 1.60 cannot apply a custom CA bundle to its transport (and RGW here
  // is plain HTTP): without this, a machine-wide AWS_CA_BUNDLE makes every rclone S3 call fail.
  AWS_CA_BUNDLE: undefined,
};
const RCLONE_FLAGS = ["--transfers", String(CONCURRENCY), "--checkers", String(CONCURRENCY), "-q"];

/** The bucket a storages case writes to, as a named storage (secrets in their own variables). */
function storagesEnv(bucket) {
  const query = new URLSearchParams({ endpoint, region });
  if (process.env.STORAGES_TEST_S3_PROFILE) query.set("profile", process.env.STORAGES_TEST_S3_PROFILE);
  return {
    STORAGES_DST: `s3://${bucket}?${query}`,
    STORAGES_DST_ACCESS_KEY_ID: credentials.accessKeyId,
    STORAGES_DST_SECRET_ACCESS_KEY: credentials.secretAccessKey,
  };
}

const storages = (args, env) => timedProcess(process.execPath, [CLI, ...args], { env });
const rclone = (args) => timedProcess("rclone", [...args, ...RCLONE_FLAGS], { env: RCLONE_ENV });

let buckets = 0;
async function freshBucket(tag) {
  const bucket = `bench-${tag}-${process.pid}-${buckets++}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

const freshDir = (name) => emptyFolder(join(WORK, name), join(WORK, "trash"));

const concurrency = ["--concurrency", String(CONCURRENCY)];

/**
 * The cases, in pairs: [label, storages run, rclone run]. Each run prepares its own empty (or,
 * for no-change, complete) destination the same way before the clock starts.
 */
function scenarios(bigDir) {
  return [
    {
      label: "corpus fs → fs (2,122 files)",
      prepare: async () => ({ ours: await freshDir("ours-fs"), theirs: await freshDir("rclone-fs") }),
      ours: ({ ours }) => storages(["copy", ...concurrency, `${CORPUS}/`, `${ours}/`]),
      theirs: ({ theirs }) => rclone(["copy", CORPUS, theirs]),
    },
    {
      label: "corpus fs → fs, destination synced at close (durability=batch)",
      prepare: async () => ({ ours: await freshDir("ours-fs-batch"), theirs: await freshDir("rclone-fs") }),
      ours: ({ ours }) =>
        storages(["copy", ...concurrency, `${CORPUS}/`, `file://${ours}/?records=false&durability=batch`]),
      theirs: ({ theirs }) => rclone(["copy", CORPUS, theirs]),
    },
    {
      // A media migration's usual destination: a storages fs root that keeps a record (type,
      // metadata, MD5) of each file, synced file by file (durability full).
      label: "corpus fs → fs with records (file://…/)",
      prepare: async () => ({ ours: await freshDir("ours-fs-records"), theirs: await freshDir("rclone-fs") }),
      ours: ({ ours }) => storages(["copy", ...concurrency, `${CORPUS}/`, `file://${ours}/`]),
      theirs: ({ theirs }) => rclone(["copy", CORPUS, theirs]),
    },
    {
      label: "corpus fs → RGW",
      prepare: async () => ({ ours: await freshBucket("ours"), theirs: await freshBucket("rclone") }),
      ours: ({ ours }) => storages(["copy", ...concurrency, `${CORPUS}/`, "dst:"], storagesEnv(ours)),
      theirs: ({ theirs }) => rclone(["copy", CORPUS, `rgw:${theirs}`]),
    },
    {
      label: "no-change sync fs → fs",
      once: async () => {
        const ours = await freshDir("ours-sync-fs");
        const theirs = await freshDir("rclone-sync-fs");
        await storages(["copy", ...concurrency, `${CORPUS}/`, `${ours}/`]);
        await rclone(["copy", CORPUS, theirs]);
        return { ours, theirs };
      },
      ours: ({ ours }) => storages(["sync", ...concurrency, `${CORPUS}/`, `${ours}/`]),
      theirs: ({ theirs }) => rclone(["sync", CORPUS, theirs]),
    },
    {
      label: "no-change sync fs → RGW",
      once: async () => {
        const ours = await freshBucket("ours-sync");
        const theirs = await freshBucket("rclone-sync");
        await storages(["copy", ...concurrency, `${CORPUS}/`, "dst:"], storagesEnv(ours));
        await rclone(["copy", CORPUS, `rgw:${theirs}`]);
        return { ours, theirs };
      },
      ours: ({ ours }) => storages(["sync", ...concurrency, `${CORPUS}/`, "dst:"], storagesEnv(ours)),
      theirs: ({ theirs }) => rclone(["sync", CORPUS, `rgw:${theirs}`]),
    },
    {
      label: "1 GiB file fs → fs",
      prepare: async () => ({ ours: await freshDir("ours-big"), theirs: await freshDir("rclone-big") }),
      ours: ({ ours }) => storages(["copy", ...concurrency, `${bigDir}/`, `${ours}/`]),
      theirs: ({ theirs }) => rclone(["copy", bigDir, theirs]),
    },
    {
      label: "1 GiB file fs → RGW",
      prepare: async () => ({ ours: await freshBucket("ours-big"), theirs: await freshBucket("rclone-big") }),
      ours: ({ ours }) => storages(["copy", ...concurrency, `${bigDir}/`, "dst:"], storagesEnv(ours)),
      theirs: ({ theirs }) => rclone(["copy", bigDir, `rgw:${theirs}`]),
    },
  ];
}

await mkdir(WORK, { recursive: true });
const bigDir = join(WORK, "big-source");
await mkdir(bigDir, { recursive: true });
if (["1 GiB file fs → fs", "1 GiB file fs → RGW"].some(wanted))
  await pipeline(source(BIG_BYTES), createWriteStream(join(bigDir, "big.bin")));
// RGW's first writes are slow (2–6 s): warm it up outside the clock.
if (RGW_WANTED) await rclone(["copy", join(HERE, "README.md"), `rgw:${await freshBucket("warmup")}`]);

const results = [];
try {
  for (const scenario of scenarios(bigDir).filter((s) => wanted(s.label))) {
    const loadBefore = loadavg()[0];
    const fixed = scenario.once ? await scenario.once() : undefined;
    const samples = { ours: [], theirs: [] };
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate who goes first, so neither always runs on a cooler machine.
      const order = round % 2 === 0 ? ["ours", "theirs"] : ["theirs", "ours"];
      for (const who of order) {
        const target = fixed ?? (await scenario.prepare());
        // Outside the clock: write back what the previous run (and the prepare's rm) left dirty.
        // Else an fsync of this run also waits for the previous run's unsynced writes (ext4
        // commits them in the same journal transaction): rclone, which syncs nothing, leaves
        // ~72 MB dirty, and the next storages run paid for it.
        spawnSync("sync");
        await new Promise((resolve) => setTimeout(resolve, 500));
        samples[who].push(await scenario[who](target));
      }
    }
    const summary = (list) => ({
      seconds: median(list.map((s) => s.seconds)),
      cpuSeconds: median(list.map((s) => s.cpuSeconds)),
      rssMiB: Math.max(...list.map((s) => s.rssMiB)),
    });
    const ours = summary(samples.ours);
    const theirs = summary(samples.theirs);
    const row = {
      case: scenario.label,
      storages: ours,
      rclone: theirs,
      timeRatio: ours.seconds / theirs.seconds,
      cpuRatio: ours.cpuSeconds / theirs.cpuSeconds,
      rssRatio: ours.rssMiB / theirs.rssMiB,
      load: [loadBefore, loadavg()[0]],
      samples,
    };
    results.push(row);
    console.log(
      `${row.case}: storages ${ours.seconds.toFixed(2)} s / rclone ${theirs.seconds.toFixed(2)} s = ${row.timeRatio.toFixed(2)}×; CPU ${ours.cpuSeconds.toFixed(2)} / ${theirs.cpuSeconds.toFixed(2)} s = ${row.cpuRatio.toFixed(2)}×; peak RSS ${ours.rssMiB.toFixed(0)} / ${theirs.rssMiB.toFixed(0)} MiB; load ${row.load.map((l) => l.toFixed(1)).join(" → ")}`,
    );
  }
} finally {
  await rm(WORK, { recursive: true, force: true });
  s3.destroy();
}

const table = [
  `| case (concurrency ${CONCURRENCY}, medians of ${ROUNDS}) | storages | rclone | time ratio | CPU storages / rclone | CPU ratio | peak RSS storages / rclone | load |`,
  "|---|---:|---:|---:|---:|---:|---:|---:|",
  ...results.map(
    (r) =>
      `| ${r.case} | ${r.storages.seconds.toFixed(2)} s | ${r.rclone.seconds.toFixed(2)} s | ${r.timeRatio.toFixed(2)}× | ${r.storages.cpuSeconds.toFixed(2)} / ${r.rclone.cpuSeconds.toFixed(2)} s | ${r.cpuRatio.toFixed(2)}× | ${r.storages.rssMiB.toFixed(0)} / ${r.rclone.rssMiB.toFixed(0)} MiB | ${r.load.map((l) => l.toFixed(1)).join("–")} |`,
  ),
].join("\n");
console.log(`\n${table}`);
const resultsDir = join(HERE, "results");
await mkdir(resultsDir, { recursive: true });
await writeFile(
  join(resultsDir, SELECTED === undefined ? "migrate.json" : "migrate-selected.json"),
  `${JSON.stringify({ date: new Date().toISOString(), concurrency: CONCURRENCY, rounds: ROUNDS, results, summary: results.map((r) => `${r.case} ${r.timeRatio.toFixed(2)}×`).join("; ") }, null, 2)}\n`,
);
await writeFile(
  join(resultsDir, SELECTED === undefined ? "migrate.md" : "migrate-selected.md"),
  `migrate${SELECTED === undefined ? "" : ` (cases: ${SELECTED})`}, ${new Date().toISOString()}, Node ${process.version}, ${ROUNDS} round(s), load average at start of each case and after it in the last column\n\n${table}\n`,
);
