// Small files, one call at a time: the per-call cost of the facade and the memory and fs drivers,
// side by side with the plain Node code that does the same work.
//
//   node bench/small-files.mjs                     5 rounds (after one warm-up round); the memory
//                                                  cases, a second each, run 3 times a round
//   BENCH_SMALL_ROUNDS=9 node bench/small-files.mjs
//   BENCH_SMALL_FS_FILES=500 BENCH_SMALL_MEMORY_FILES=20000 node bench/small-files.mjs   (a quick look)
//   BENCH_SMALL_DIR=/mnt/disk node bench/small-files.mjs    where the fs cases write (default: the OS temp dir)
//   BENCH_SMALL_CASES='^fs read' node bench/small-files.mjs  only the cases whose name matches
//
// Every case runs in its own child process, once per round, cases in a rotating order. Inside the
// child, a warm-up of the same calls runs untimed first (JIT, the driver's first-call setup), then
// the timed calls run one after another (each awaited: the cost of one call, not throughput). A
// round's figure is the mean time per call — CPU time for the memory cases (they never wait, so
// that is their whole cost, and it does not count what other processes on the shared cores took
// meanwhile), wall-clock time for the fs ones (their cost is mostly waiting for the disk); a
// case's figure is the median over the rounds.
// Before every fs write case, the parent removes that case's output folder of the previous round
// (one rm -r for every case alike), so each case writes new files into an empty folder.
//
// The ratios: memory, the median over the rounds of each round's storages/Map ratio. fs: the
// disk here is shared with other work (a Ceph OSD among it) and its latency moves within seconds,
// so two cases run one after the other do not see the same disk; each fs ratio comes from paired
// runs instead — the storages case and its baseline in one process, alternating every 50 calls,
// each into its own empty folder — one paired run per round, median of their ratios. The separate
// runs' medians are printed too (the absolute figures, and their ratio for comparison).
//
// What each side does (the fs baselines' durability matched case by case):
// - memory put: the storages facade + memory driver's save() of 1 KiB (overwrite: true) vs a Map
//   that stores a copy of the bytes and their MD5 (what the driver keeps: it hashes every save),
//   both with the one-shot crypto.hash() (the driver's; ~0.7 µs faster than a Hash object here).
// - memory get: readBytes() vs Map lookup + a copy (readBytes returns bytes the caller may change).
// - fs save, 4 KiB, default (media) durability: the file fsynced, renamed, its folder fsynced, and
//   its MD5 record written. Baselines: "durable" = temp file, write, fsync, close, rename, folder
//   fsync, by hand; "durable + MD5 record" = the same plus a second small file holding the MD5
//   (written, fsynced, renamed next to it before the folder fsync) — the same work the driver does.
// - fs save, durability "batch": no fsync per file, one flush() at the end of the run (timed with
//   it) vs fs.promises.writeFile (no fsync at all).
// - fs read, 4 KiB: readBytes() vs fs.promises.readFile of the same files.
// - fs list: a recursive list() of the files (with their MD5) vs readdir + stat of each file.
// - syscalls per call, counted with strace -f (every thread) between two marker calls, for 50
//   calls after the warm-up: "work" counts the calls that do the work (file calls, and the odd
//   getpid or mmap); "all" adds the event loop's and thread pool's signalling (futex, epoll_pwait,
//   reads and writes of libuv's eventfds) that every asynchronous fs call costs in Node, ours and
//   plain Node's alike (about 5 per trip through the thread pool).
//
// Results: bench/results/small-files.json and a markdown table on stdout. Needs the built
// packages (npm run build).
import { execFileSync, spawnSync } from "node:child_process";
import { hash, randomBytes } from "node:crypto";
import { accessSync, readFileSync, rmSync } from "node:fs";
import { mkdir, mkdtemp, open, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { median, runJsonChild } from "./harness.mjs";

const SELF = fileURLToPath(import.meta.url);
const KiB = 1024;
const FS_FILES = Number(process.env.BENCH_SMALL_FS_FILES ?? 2000);
const MEMORY_FILES = Number(process.env.BENCH_SMALL_MEMORY_FILES ?? 100_000);
const ROUNDS = Number(process.env.BENCH_SMALL_ROUNDS ?? 5);
/** The memory cases take a second a round: they run this many times more rounds. */
const MEMORY_ROUND_FACTOR = 3;
/** Untimed calls before the timed ones, in every child. */
const WARMUP = { memory: 10_000, fs: 100 };
/** Calls counted under strace. */
const STRACE_CALLS = 50;

async function fsStorageOf(root, options = {}) {
  const { fsStorage } = await import("@storages/fs");
  return fsStorage({ root, overwrite: true, ...options });
}

/** µs per call of `count` awaited calls of `call(i)`: wall-clock time. */
async function perCall(count, call) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) await call(i);
  return Number(process.hrtime.bigint() - start) / 1e3 / count;
}

/**
 * µs of CPU (user + system, every thread of the process: GC included) per call. For calls that
 * never wait (the memory cases) this is their cost; wall-clock time would add whatever the other
 * processes on these 2 shared cores took meanwhile.
 */
async function cpuPerCall(count, call) {
  const start = process.cpuUsage();
  for (let i = 0; i < count; i++) await call(i);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / count;
}

// ---------------------------------------------------------------------------------------------
// The hand-written baselines.

async function syncDirectory(path) {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function writeSynced(path, bytes) {
  const handle = await open(path, "wx", 0o644);
  try {
    await handle.write(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** temp + write + fsync + rename + folder fsync: what a careful programmer writes. */
async function durableSave(dir, name, bytes) {
  const temp = join(dir, `.tmp-${randomBytes(6).toString("hex")}`);
  await writeSynced(temp, bytes);
  await rename(temp, join(dir, name));
  await syncDirectory(dir);
}

/** The same, plus an MD5 record file next to it (written, fsynced, renamed): the driver's work. */
async function durableSaveWithRecord(dir, name, bytes) {
  const temp = join(dir, `.tmp-${randomBytes(6).toString("hex")}`);
  const recordTemp = join(dir, `.tmp-${randomBytes(6).toString("hex")}`);
  await writeSynced(temp, bytes);
  const md5 = hash("md5", bytes, "hex");
  await writeSynced(recordTemp, JSON.stringify({ md5, size: bytes.byteLength }));
  await rename(recordTemp, join(dir, `.${name}.md5.json`));
  await rename(temp, join(dir, name));
  await syncDirectory(dir);
}

// ---------------------------------------------------------------------------------------------
// The cases. Each returns { [measure]: µs per call }; `calls(i)` is what strace counts.

const fsSave = (label, options) => ({
  group: "fs",
  writes: true,
  async prepare(dir) {
    const storage = await fsStorageOf(dir, options);
    return {
      storage,
      call: (name, bytes) => storage.save(`files/${name}`, bytes),
      end: () => storage.flush?.(),
    };
  },
  label,
});

const CASES = {
  "memory: storages save (1 KiB)": {
    group: "memory",
    async run() {
      const { MemoryDriver, Storage } = await import("@storages/core");
      const storage = new Storage(new MemoryDriver(), { overwrite: true });
      const bytes = randomBytes(KiB);
      await perCall(WARMUP.memory, (i) => storage.save(`warm/file-${i}.bin`, bytes));
      await perCall(WARMUP.memory, (i) => storage.readBytes(`warm/file-${i}.bin`));
      const put = await cpuPerCall(MEMORY_FILES, (i) => storage.save(`files/file-${i}.bin`, bytes));
      const get = await cpuPerCall(MEMORY_FILES, (i) => storage.readBytes(`files/file-${i}.bin`));
      return { put, get };
    },
  },
  "memory: copying, hashing Map": {
    group: "memory",
    async run() {
      const map = new Map();
      const bytes = randomBytes(KiB);
      const put = (key) => {
        map.set(key, { data: Buffer.from(bytes), md5: hash("md5", bytes, "hex") });
      };
      const get = (key) => Buffer.from(map.get(key).data);
      await perCall(WARMUP.memory, async (i) => put(`warm/file-${i}.bin`));
      await perCall(WARMUP.memory, async (i) => get(`warm/file-${i}.bin`));
      return {
        put: await cpuPerCall(MEMORY_FILES, async (i) => put(`files/file-${i}.bin`)),
        get: await cpuPerCall(MEMORY_FILES, async (i) => get(`files/file-${i}.bin`)),
      };
    },
  },
  "fs save: storages (durability: full, overwrite: true)": fsSave("storages", {}),
  "fs save: durable + MD5 record by hand": {
    group: "fs",
    writes: true,
    async prepare(dir) {
      await mkdir(join(dir, "files"), { recursive: true });
      return { call: (name, bytes) => durableSaveWithRecord(join(dir, "files"), name, bytes) };
    },
  },
  "fs save: durable by hand": {
    group: "fs",
    writes: true,
    async prepare(dir) {
      await mkdir(join(dir, "files"), { recursive: true });
      return { call: (name, bytes) => durableSave(join(dir, "files"), name, bytes) };
    },
  },
  "fs save: storages (durability: full, overwrite: false)": fsSave("storages", { overwrite: false }),
  "fs save: storages (durability: batch, one flush at the end)": fsSave("storages", { durability: "batch" }),
  "fs save: writeFile": {
    group: "fs",
    writes: true,
    async prepare(dir) {
      await mkdir(join(dir, "files"), { recursive: true });
      return { call: (name, bytes) => writeFile(join(dir, "files", name), bytes) };
    },
  },
  "fs read: storages readBytes": {
    group: "fs",
    async prepare(_dir, readRoot) {
      const storage = await fsStorageOf(readRoot);
      return { call: (name) => storage.readBytes(`files/${name}`) };
    },
  },
  "fs read: readFile": {
    group: "fs",
    async prepare(_dir, readRoot) {
      return { call: (name) => readFile(join(readRoot, "files", name)) };
    },
  },
  "fs list: storages list (with MD5)": {
    group: "fs",
    list: true,
    async prepare(_dir, readRoot) {
      const storage = await fsStorageOf(readRoot);
      return {
        list: async () => {
          let n = 0;
          for await (const entry of storage.list("files/", { recursive: true }))
            if (entry.checksums?.md5) n++;
          return n;
        },
      };
    },
  },
  "fs list: readdir + stat": {
    group: "fs",
    list: true,
    async prepare(_dir, readRoot) {
      return {
        list: async () => {
          const dir = join(readRoot, "files");
          let n = 0;
          for (const entry of await readdir(dir, { withFileTypes: true })) {
            if (entry.name.startsWith(".")) continue;
            await stat(join(dir, entry.name), { bigint: true });
            n++;
          }
          return n;
        },
      };
    },
  },
};

const fileName = (prefix, i) => `${prefix}-${String(i).padStart(5, "0")}.bin`;

/** Runs one fs case in this process: warm-up, then the timed calls (or, under strace, the counted ones). */
async function runFsCase(name, dir, readRoot, mode) {
  const spec = CASES[name];
  const bytes = randomBytes(4 * KiB);
  const { call, list, end } = await spec.prepare(dir, readRoot);
  if (spec.list) {
    await list(); // warm-up
    const start = process.hrtime.bigint();
    const n = await list();
    return { list: Number(process.hrtime.bigint() - start) / 1e3 / n };
  }
  const target = (prefix, i) => (spec.writes ? fileName(prefix, i) : fileName("read", i % FS_FILES));
  await perCall(WARMUP.fs, (i) => call(target("warm", i), bytes));
  if (mode === "strace") {
    const mark = (what) => {
      try {
        accessSync(`/storages-bench-mark-${what}`);
      } catch {}
    };
    mark("start");
    for (let i = 0; i < STRACE_CALLS; i++) await call(target("file", i), bytes);
    mark("end");
    await end?.();
    return {};
  }
  const start = process.hrtime.bigint();
  for (let i = 0; i < FS_FILES; i++) await call(target("file", i), bytes);
  await end?.(); // batch durability: the one sync of the run is part of its cost
  const us = Number(process.hrtime.bigint() - start) / 1e3 / FS_FILES;
  return spec.writes ? { save: us } : { read: us };
}

/** Calls per block of a paired run: small enough that both sides see the same disk load. */
const PAIR_BLOCK = 50;

/**
 * A storages fs case and its baseline in one process, alternating every PAIR_BLOCK calls (the
 * order flips each block): on these shared cores and disk the load changes within seconds, and
 * two cases run one after the other do not see the same one. Each side writes into its own empty
 * folder, as in the separate runs.
 */
async function runFsPair(subject, baseline, dir, readRoot) {
  const bytes = randomBytes(4 * KiB);
  const sides = [];
  for (const [i, name] of [subject, baseline].entries()) {
    const spec = CASES[name];
    const { call, end } = await spec.prepare(join(dir, String(i)), readRoot);
    const target = (prefix, n) => (spec.writes ? fileName(prefix, n) : fileName("read", n % FS_FILES));
    await perCall(WARMUP.fs, (n) => call(target("warm", n), bytes));
    sides.push({ call, end, target, ns: 0n });
  }
  for (let block = 0; block * PAIR_BLOCK < FS_FILES; block++) {
    for (const side of block % 2 === 0 ? sides : [...sides].reverse()) {
      const start = process.hrtime.bigint();
      for (let n = block * PAIR_BLOCK; n < Math.min(FS_FILES, (block + 1) * PAIR_BLOCK); n++) {
        await side.call(side.target("file", n), bytes);
      }
      side.ns += process.hrtime.bigint() - start;
    }
  }
  for (const side of sides) {
    const start = process.hrtime.bigint();
    await side.end?.(); // batch durability: the one sync of the run is part of its cost
    side.ns += process.hrtime.bigint() - start;
  }
  const [a, b] = sides.map((side) => Number(side.ns) / 1e3 / FS_FILES);
  return { subject: a, baseline: b };
}

// ---------------------------------------------------------------------------------------------
// Child.

if (process.argv[2] === "--pair") {
  const [, , , subject, baseline, dir, readRoot] = process.argv;
  process.stdout.write(`${JSON.stringify(await runFsPair(subject, baseline, dir, readRoot))}\n`);
  process.exit(0);
}

if (process.argv[2] === "--case") {
  const [, , , name, dir, readRoot, mode] = process.argv;
  const result =
    CASES[name].group === "memory" ? await CASES[name].run() : await runFsCase(name, dir, readRoot, mode);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// Parent.

/**
 * Syscalls between the two markers of an strace -f log, per call: the calls that do the work, and
 * all of them (adding the event loop's and thread pool's signalling: futex, epoll, and the reads
 * and writes of libuv's eventfds, found by the eventfd2() calls that created them).
 */
function countSyscalls(log) {
  const lines = readFileSync(log, "utf8").split("\n");
  const eventFds = new Set();
  for (const line of lines) {
    const created = /\beventfd2?\(.*\)\s*=\s*(\d+)/.exec(line);
    if (created) eventFds.add(created[1]);
  }
  const from = lines.findIndex((l) => l.includes("storages-bench-mark-start"));
  const to = lines.findIndex((l) => l.includes("storages-bench-mark-end"));
  if (from < 0 || to < 0) throw new Error(`strace log ${log} has no markers`);
  let all = 0;
  let work = 0;
  const byName = {};
  for (const line of lines.slice(from + 1, to)) {
    if (line.includes("resumed>")) continue; // the second half of a call already counted
    const match = /^\d+\s+(\w+)\((\d*)/.exec(line);
    if (!match) continue;
    const [, call, fd] = match;
    all++;
    const plumbing =
      call === "futex" ||
      call.startsWith("epoll") ||
      ((call === "read" || call === "write") && eventFds.has(fd));
    if (plumbing) continue;
    work++;
    byName[call] = (byName[call] ?? 0) + 1;
  }
  const per = (n) => n / STRACE_CALLS;
  return {
    file: per(work),
    all: per(all),
    byCall: Object.fromEntries(Object.entries(byName).map(([k, v]) => [k, per(v)])),
  };
}

function hasStrace() {
  return spawnSync("strace", ["-V"], { stdio: "ignore" }).status === 0;
}

const RATIOS = [
  ["memory put", "memory: storages save (1 KiB)", "memory: copying, hashing Map", "put", 1.5],
  ["memory get", "memory: storages save (1 KiB)", "memory: copying, hashing Map", "get", 2],
  [
    "fs save 4 KiB vs durable + MD5 record (same work)",
    "fs save: storages (durability: full, overwrite: true)",
    "fs save: durable + MD5 record by hand",
    "save",
    1.2,
  ],
  [
    "fs save 4 KiB vs durable without a record",
    "fs save: storages (durability: full, overwrite: true)",
    "fs save: durable by hand",
    "save",
  ],
  [
    "fs save 4 KiB, overwrite: false vs durable + MD5 record",
    "fs save: storages (durability: full, overwrite: false)",
    "fs save: durable + MD5 record by hand",
    "save",
  ],
  [
    "fs save 4 KiB, batch durability vs writeFile",
    "fs save: storages (durability: batch, one flush at the end)",
    "fs save: writeFile",
    "save",
  ],
  ["fs read 4 KiB vs readFile", "fs read: storages readBytes", "fs read: readFile", "read", 1.3],
  [
    "fs list, per file vs readdir + stat",
    "fs list: storages list (with MD5)",
    "fs list: readdir + stat",
    "list",
  ],
];

const SYSCALL_CASES = [
  ["fs save: storages (durability: full, overwrite: true)", 40],
  ["fs save: durable by hand"],
  ["fs save: durable + MD5 record by hand"],
  ["fs save: storages (durability: batch, one flush at the end)"],
  ["fs save: writeFile"],
  ["fs read: storages readBytes", 45],
  ["fs read: readFile"],
];

async function main() {
  if (![FS_FILES, MEMORY_FILES, ROUNDS].every((n) => Number.isSafeInteger(n) && n > 0))
    throw new Error(
      "BENCH_SMALL_FS_FILES, BENCH_SMALL_MEMORY_FILES and BENCH_SMALL_ROUNDS must be positive integers",
    );
  const base = await mkdtemp(join(process.env.BENCH_SMALL_DIR ?? tmpdir(), "storages-bench-small-"));
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.once(signal, () => {
      rmSync(base, { recursive: true, force: true });
      process.exit(130);
    });
  }
  const loadBefore = loadavg();
  const readRoot = join(base, "read-root");
  try {
    // The files the read and list cases read: saved through the driver, so they have their records.
    {
      const storage = await fsStorageOf(readRoot);
      const bytes = randomBytes(4 * KiB);
      for (let i = 0; i < FS_FILES; i++) await storage.save(`files/${fileName("read", i)}`, bytes);
    }
    const only = new RegExp(process.env.BENCH_SMALL_CASES ?? "");
    const names = Object.keys(CASES).filter((n) => only.test(n));
    const samples = Object.fromEntries(names.map((n) => [n, []]));
    console.error(
      `bench/small-files: ${ROUNDS} rounds + 1 warm-up, ${MEMORY_FILES} memory calls, ${FS_FILES} fs calls per case, in ${base}; load average ${loadBefore.map((l) => l.toFixed(2)).join(" ")} on ${cpus().length} cores`,
    );
    const runCase = async (name) => {
      const dir = join(base, "work", name.replace(/[^a-z0-9]+/gi, "-"));
      if (CASES[name].writes) await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      return runJsonChild(SELF, ["--case", name, dir, readRoot, "time"], { label: name });
    };
    // One round: every case once, the memory pair MEMORY_ROUND_FACTOR times (alternating).
    const memoryNames = names.filter((n) => CASES[n].group === "memory");
    const sequence = names.flatMap((n) => {
      if (CASES[n].group !== "memory") return [n];
      return n === memoryNames[0]
        ? Array.from({ length: MEMORY_ROUND_FACTOR }, () => memoryNames).flat()
        : [];
    });
    for (let round = 0; round <= ROUNDS; round++) {
      // Each storages case runs right next to its baselines (CASES is in that order), and the
      // order reverses every round: a load that rises or falls over a round weighs on both sides.
      const order = round % 2 === 0 ? sequence : [...sequence].reverse();
      for (const name of order) {
        const result = await runCase(name);
        if (round === 0) continue; // the warm-up round: first touch of the disk, caches
        samples[name].push(result);
        console.error(
          `  round ${round}: ${name.padEnd(62)} ${Object.entries(result)
            .map(([k, v]) => `${k} ${v.toFixed(1)} µs`)
            .join(", ")}`,
        );
      }
    }
    // The fs goal ratios from paired runs (see runFsPair), ROUNDS of them per pair.
    const pairs = RATIOS.filter(
      ([, subject, baseline]) =>
        names.includes(subject) &&
        names.includes(baseline) &&
        CASES[subject].group === "fs" &&
        !CASES[subject].list,
    );
    const paired = Object.fromEntries(pairs.map(([label]) => [label, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const [label, subject, baseline] of round % 2 === 0 ? pairs : [...pairs].reverse()) {
        const dir = join(base, "pairs", label.replace(/[^a-z0-9]+/gi, "-"));
        await rm(dir, { recursive: true, force: true });
        await mkdir(dir, { recursive: true });
        const result = await runJsonChild(SELF, ["--pair", subject, baseline, dir, readRoot], { label });
        paired[label].push(result);
        console.error(
          `  paired ${round + 1}: ${label.padEnd(56)} ${result.subject.toFixed(0)} / ${result.baseline.toFixed(0)} µs = ${(result.subject / result.baseline).toFixed(2)}×`,
        );
      }
    }
    const medians = Object.fromEntries(
      names.map((name) => {
        const keys = Object.keys(samples[name][0]);
        return [name, Object.fromEntries(keys.map((k) => [k, median(samples[name].map((s) => s[k]))]))];
      }),
    );
    const ratios = RATIOS.filter(
      ([, subject, baseline]) => names.includes(subject) && names.includes(baseline),
    ).map(([label, subject, baseline, measure, goal]) => {
      // fs: the paired runs' ratios; memory (CPU time, separate processes): the rounds' own.
      const perRound = paired[label]
        ? paired[label].map((p) => p.subject / p.baseline)
        : samples[subject].map((s, i) => s[measure] / samples[baseline][i][measure]);
      return {
        label,
        subject,
        baseline,
        measure,
        // The median of the rounds' own ratios: each compares the two sides under the same load
        // (interleaved in one process for fs), which the ratio of two medians taken minutes apart
        // does not.
        ratio: median(perRound),
        ratioOfMedians: medians[subject][measure] / medians[baseline][measure],
        paired: paired[label],
        perRoundMin: Math.min(...perRound),
        perRoundMax: Math.max(...perRound),
        goal,
      };
    });

    let syscalls;
    if (hasStrace()) {
      syscalls = [];
      for (const [name, goal] of SYSCALL_CASES.filter(([n]) => names.includes(n))) {
        const dir = join(base, "strace", name.replace(/[^a-z0-9]+/gi, "-"));
        await rm(dir, { recursive: true, force: true });
        await mkdir(dir, { recursive: true });
        const log = join(base, "strace.log");
        execFileSync(
          "strace",
          ["-f", "-qq", "-o", log, process.execPath, SELF, "--case", name, dir, readRoot, "strace"],
          { stdio: ["ignore", "ignore", "inherit"] },
        );
        syscalls.push({ name, goal, ...countSyscalls(log) });
        await rm(log, { force: true });
      }
    }
    const loadAfter = loadavg();

    const summary = ratios
      .map((r) => `${r.label} ${r.ratio.toFixed(2)}×${r.goal ? ` (goal ≤ ${r.goal}×)` : ""}`)
      .concat(
        (syscalls ?? [])
          .filter((s) => s.goal)
          .map(
            (s) => `${s.name}: ${s.file.toFixed(0)} syscalls of work (${s.all.toFixed(0)} in all) per call`,
          ),
      )
      .join("; ");
    const report = {
      benchmark: "small-files",
      summary,
      date: new Date().toISOString(),
      node: process.version,
      cores: cpus().length,
      loadAverage: { before: loadBefore, after: loadAfter },
      rounds: ROUNDS,
      fsFiles: FS_FILES,
      memoryFiles: MEMORY_FILES,
      medians,
      ratios,
      syscalls,
      samples,
    };
    const resultsDir = join(dirname(SELF), "results");
    await mkdir(resultsDir, { recursive: true });
    await writeFile(join(resultsDir, "small-files.json"), `${JSON.stringify(report, null, 2)}\n`);

    const fmt = (v) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
    const lines = [
      `### small files, one call at a time (median of ${ROUNDS} rounds, ${ROUNDS * MEMORY_ROUND_FACTOR} for memory; memory in CPU µs, fs in wall-clock µs; Node ${process.version}, load average ${loadBefore[0].toFixed(1)} → ${loadAfter[0].toFixed(1)} on ${cpus().length} cores)`,
      "",
      "| case | µs per call |",
      "|---|---|",
      ...names.map(
        (n) =>
          `| ${n} | ${Object.entries(medians[n])
            .map(([k, v]) => `${k} ${fmt(v)}`)
            .join(", ")} |`,
      ),
      "",
      "| storages vs baseline | ratio (median of the rounds' ratios; fs: paired runs) | per-round range | ratio of the separate runs' medians | goal |",
      "|---|---:|---:|---:|---:|",
      ...ratios.map(
        (r) =>
          `| ${r.label} | ${r.ratio.toFixed(2)}× | ${r.perRoundMin.toFixed(2)}–${r.perRoundMax.toFixed(2)}× | ${r.ratioOfMedians.toFixed(2)}× | ${r.goal ? `≤ ${r.goal}× ${r.ratio <= r.goal ? "met" : "NOT MET"}` : ""} |`,
      ),
    ];
    if (syscalls) {
      lines.push(
        "",
        `| syscalls per call (strace -f, ${STRACE_CALLS} calls) | work | all, with event-loop and thread-pool signalling | goal (work) | work calls |`,
        "|---|---:|---:|---:|---|",
        ...syscalls.map(
          (s) =>
            `| ${s.name} | ${fmt(s.file)} | ${fmt(s.all)} | ${s.goal ? `≤ ${s.goal} ${s.file <= s.goal ? "met" : "NOT MET"}` : ""} | ${Object.entries(
              s.byCall,
            )
              .sort((a, b) => b[1] - a[1])
              .map(([k, v]) => `${k} ${fmt(v)}`)
              .join(", ")} |`,
        ),
      );
    } else {
      lines.push("", "(strace not found: syscalls not counted; apt-get install -y strace)");
    }
    console.log(lines.join("\n"));
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}

await main();
