#!/usr/bin/env node
/**
 * `storages collectstatic` vs Django's ManifestStaticFilesStorage and whitenoise's
 * CompressedManifestStaticFilesStorage (gzip + brotli q11), on the corpus of
 * ../shared/reference/static-bench (gen_corpus.py: 2,122 files, 72.5 MB), side by side in one run.
 *
 *   node bench/collectstatic.mjs [CORPUS_DIR]      (default /tmp/static-bench)
 *   BENCH_ROUNDS=3 node bench/collectstatic.mjs    (rounds; default 1 — whitenoise takes minutes a run)
 *   BENCH_COMPRESS=0 node bench/collectstatic.mjs  (only ours --no-compress vs Django's manifest storage)
 *   BENCH_NOCHANGE_RUNS=5                          (no-change runs under 20 s per round, median; default 5)
 *   BENCH_STORAGES_BIN=…/bin/storages.js           (another build's CLI, for a before/after comparison)
 *
 * Needs /usr/bin/python3 with Debian's python3-django, python3-whitenoise, python3-brotli, GNU time
 * (/usr/bin/time, for peak RSS), the corpus generated and djproj/ copied to CORPUS_DIR.
 *
 * Each case is a whole process (the CLI, or manage.py collectstatic), timed wall-clock with its
 * peak RSS. "fresh": an empty target (and for ours an empty compression cache too, so nothing is
 * reused); "no change": the same command again. Against Django's manifest storage (which
 * compresses nothing) ours runs with --no-compress; against whitenoise, with br + gzip (what
 * whitenoise does); BENCH_ZSTD=1 adds ours with the default br + gzip + zstd. Writes
 * bench/results/collectstatic.json and .md.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { discard, median, timedProcess } from "./harness.mjs";

const LB = process.argv[2] ?? "/tmp/static-bench";
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);
const NOCHANGE_RUNS = Number(process.env.BENCH_NOCHANGE_RUNS ?? 5);
// BENCH_COMPRESS=0: only the --no-compress comparison with Django's manifest storage (a quick run
// while working on it: results/collectstatic-nocompress.*; collectstatic.* are the full run's).
const COMPRESS = process.env.BENCH_COMPRESS !== "0";
const ROOT = join(import.meta.dirname, "..");
// BENCH_STORAGES_BIN: another build's bin (a before/after comparison of two checkouts).
const BIN = process.env.BENCH_STORAGES_BIN ?? join(ROOT, "packages/cli/bin/storages.js");
const SCRATCH = join(LB, "scratch-bench");
const TRASH = join(LB, "scratch-bench-trash");
mkdirSync(SCRATCH, { recursive: true });

/** A whole process under GNU time, its stdout kept (ours prints its --json report). */
const timed = (command, args, options) => timedProcess(command, args, { ...options, stdout: true });

function django(storage, root) {
  return timed("/usr/bin/python3", ["manage.py", "collectstatic", "--noinput"], {
    cwd: join(LB, "djproj"),
    env: { LB_STORAGE: storage, LB_STATIC_ROOT: root, LB_ASSETS: join(LB, "assets") },
  });
}

function ours(root, encodings, extra = []) {
  return timed(
    process.execPath,
    [
      BIN,
      "collectstatic",
      "--source",
      join(LB, "assets/django-admin"),
      "--source",
      join(LB, "assets/frontend"),
      "--source",
      `${join(LB, "assets/vendor")}=vendor`,
      "--to",
      `${root}/`,
      ...(encodings === "" ? ["--no-compress"] : ["--encodings", encodings]),
      ...extra,
      "--manifest-out",
      join(root, "..", `${root.split("/").pop()}-app-manifest.json`),
      "--json",
    ],
    { cwd: SCRATCH, env: { STORAGES_CONFIG: "" } },
  );
}

/** Total bytes of `.br` and `.gz` files under a folder (both tools write siblings for both names). */
function compressedBytes(root) {
  const totals = { br: 0, gz: 0, zst: 0, files: 0 };
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const ext = entry.name.slice(entry.name.lastIndexOf(".") + 1);
    if (ext in totals) totals[ext] += statSync(join(entry.parentPath, entry.name)).size;
    else if (!entry.name.startsWith(".~storages-meta")) totals.files++;
  }
  return totals;
}

const ALL_CASES = [
  { name: "Django ManifestStaticFilesStorage", run: (root) => django("manifest", root) },
  // Django's manifest storage compresses nothing: compared with ours doing the same work.
  { name: "storages collectstatic --no-compress", run: (root) => ours(root, ""), cache: true },
  { name: "whitenoise CompressedManifestStaticFilesStorage", run: (root) => django("whitenoise", root) },
  {
    name: "storages collectstatic (br + gzip)",
    run: (root) => ours(root, "br,gzip"),
    cache: true,
  },
  ...(process.env.BENCH_ZSTD
    ? [
        {
          name: "storages collectstatic default (br + gzip + zstd)",
          run: (root) => ours(root, "br,gzip,zstd"),
          cache: true,
        },
      ]
    : []),
];
const CASES = COMPRESS ? ALL_CASES : ALL_CASES.slice(0, 2);

const samples = Object.fromEntries(
  CASES.map((c) => [
    c.name,
    { fresh: [], nochange: [], freshCpu: [], nochangeCpu: [], rss: [], sizes: undefined },
  ]),
);
for (let round = 0; round < ROUNDS; round++) {
  // Rotate the order each round: every case sees the same background noise.
  const order = CASES.map((_, i) => CASES[(i + round) % CASES.length]);
  for (const c of order) {
    const root = join(SCRATCH, `out-${CASES.indexOf(c)}`);
    await discard(root, TRASH);
    if (c.cache) await discard(join(SCRATCH, "node_modules/.cache/storages-staticfiles"), TRASH);
    execFileSync("sync");
    const fresh = await c.run(root);
    execFileSync("sync");
    // A short no-change run (a start-up and a listing) is the median of several; one that takes
    // minutes (whitenoise compresses everything again) is measured once.
    const nochanges = [await c.run(root)];
    while (nochanges[0].seconds < 20 && nochanges.length < NOCHANGE_RUNS) nochanges.push(await c.run(root));
    const nochange = nochanges.toSorted((a, b) => a.seconds - b.seconds)[nochanges.length >> 1];
    const s = samples[c.name];
    s.fresh.push(fresh.seconds);
    s.nochange.push(nochange.seconds);
    s.freshCpu.push(fresh.cpuSeconds);
    s.nochangeCpu.push(nochange.cpuSeconds);
    s.rss.push(Math.max(fresh.rssMiB, nochange.rssMiB));
    s.sizes = compressedBytes(root);
    if (c.cache) s.report = JSON.parse(nochange.stdout);
    console.error(
      `round ${round + 1}: ${c.name}: fresh ${fresh.seconds.toFixed(2)} s, no change ${nochange.seconds.toFixed(2)} s, peak RSS ${Math.max(fresh.rssMiB, nochange.rssMiB).toFixed(0)} MiB`,
    );
  }
}
// The rounds are over: deleting what they set aside can no longer slow a timed run.
rmSync(TRASH, { recursive: true, force: true });

const row = (name) => {
  const s = samples[name];
  return {
    fresh: median(s.fresh),
    nochange: median(s.nochange),
    freshCpu: median(s.freshCpu),
    nochangeCpu: median(s.nochangeCpu),
    rss: Math.max(...s.rss),
    sizes: s.sizes,
  };
};
if (!COMPRESS) {
  const [dj, us] = CASES.map((c) => row(c.name));
  const line = `no compression, ${new Date().toISOString()}, Node ${process.version}, load ${execFileSync("cat", ["/proc/loadavg"], { encoding: "utf8" }).trim()}: fresh Django ${dj.fresh.toFixed(2)} s / ours ${us.fresh.toFixed(2)} s = ${(dj.fresh / us.fresh).toFixed(2)}× (CPU ${dj.freshCpu.toFixed(2)} / ${us.freshCpu.toFixed(2)} s); no change (median of ${NOCHANGE_RUNS}) ${dj.nochange.toFixed(3)} / ${us.nochange.toFixed(3)} s = ${(dj.nochange / us.nochange).toFixed(1)}× (CPU ${dj.nochangeCpu.toFixed(2)} / ${us.nochangeCpu.toFixed(2)} s = ${(dj.nochangeCpu / us.nochangeCpu).toFixed(1)}×); peak RSS ${dj.rss.toFixed(0)} / ${us.rss.toFixed(0)} MiB`;
  console.log(line);
  // Its own results file: collectstatic.md is the full run's (whitenoise included).
  writeFileSync(
    join(ROOT, "bench/results/collectstatic-nocompress.json"),
    `${JSON.stringify({ date: new Date().toISOString(), rounds: ROUNDS, nochangeRuns: NOCHANGE_RUNS, samples, line }, null, 2)}\n`,
  );
  writeFileSync(join(ROOT, "bench/results/collectstatic-nocompress.md"), `${line}\n`);
  process.exit(0);
}
const dj = row(CASES[0].name);
const usPlain = row(CASES[1].name);
const wn = row(CASES[2].name);
const us = row(CASES[3].name);
const usDefault = CASES[4] ? row(CASES[4].name) : undefined;
const mb = (n) => `${(n / 1e6).toFixed(2)} MB`;
const lines = [
  `collectstatic, ${new Date().toISOString()}, ${ROUNDS} round(s), corpus ${LB}/assets (2,122 files), Node ${process.version}, load ${execFileSync("cat", ["/proc/loadavg"], { encoding: "utf8" }).trim()}`,
  "",
  "| case | fresh: wall (s) | fresh: CPU (s) | no change: wall (s) | no change: CPU (s) | peak RSS | .br bytes | .gz bytes | .zst bytes |",
  "|---|---|---|---|---|---|---|---|---|",
  ...CASES.map((c) => {
    const r = row(c.name);
    return `| ${c.name} | ${r.fresh.toFixed(2)} | ${r.freshCpu.toFixed(2)} | ${r.nochange.toFixed(3)} | ${r.nochangeCpu.toFixed(2)} | ${r.rss.toFixed(0)} MiB | ${r.sizes.br ? mb(r.sizes.br) : "-"} | ${r.sizes.gz ? mb(r.sizes.gz) : "-"} | ${r.sizes.zst ? mb(r.sizes.zst) : "-"} |`;
  }),
  "",
  "| ratio (how many times faster ours) | wall | CPU | goal |",
  "|---|---|---|---|",
  `| --no-compress vs Django manifest, fresh | ${(dj.fresh / usPlain.fresh).toFixed(2)}× | ${(dj.freshCpu / usPlain.freshCpu).toFixed(2)}× | ≥ 5× |`,
  `| --no-compress vs Django manifest, no change | ${(dj.nochange / usPlain.nochange).toFixed(1)}× | ${(dj.nochangeCpu / usPlain.nochangeCpu).toFixed(1)}× | ≥ 10× |`,
  `| br + gzip vs whitenoise, fresh (.br ${((us.sizes.br / wn.sizes.br) * 100).toFixed(1)} %, .gz ${((us.sizes.gz / wn.sizes.gz) * 100).toFixed(1)} % of whitenoise's bytes) | ${(wn.fresh / us.fresh).toFixed(1)}× | ${(wn.freshCpu / us.freshCpu).toFixed(1)}× | ≥ 3×, sizes ≤ |`,
  `| br + gzip vs whitenoise, no change | ${(wn.nochange / us.nochange).toFixed(0)}× | ${(wn.nochangeCpu / us.nochangeCpu).toFixed(0)}× | ≥ 100× |`,
  ...(usDefault
    ? [
        `| default (with zstd) vs whitenoise, fresh | ${(wn.fresh / usDefault.fresh).toFixed(1)}× | ${(wn.freshCpu / usDefault.freshCpu).toFixed(1)}× | |`,
      ]
    : []),
];
console.log(lines.join("\n"));
mkdirSync(join(import.meta.dirname, "results"), { recursive: true });
writeFileSync(
  join(import.meta.dirname, "results/collectstatic.json"),
  `${JSON.stringify(samples, null, 1)}\n`,
);
writeFileSync(join(import.meta.dirname, "results/collectstatic.md"), `${lines.join("\n")}\n`);
