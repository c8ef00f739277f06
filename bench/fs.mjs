// The fs driver side by side with plain Node: save and read back one big file.
//
//   node bench/fs.mjs                              1 GiB, 5 rounds
//   BENCH_FS_BYTES=67108864 BENCH_FS_ROUNDS=5 node bench/fs.mjs
//   BENCH_FS_DIR=/mnt/disk node bench/fs.mjs       where the files go (default: the OS temp dir)
//
// Every case runs in its own child process, so its peak RSS is its own. Cases alternate within
// each round (the order rotates between rounds), and every write case starts the same way: its
// previous output of the same size has just been deleted (writes right after a big rm are slower
// on some machines, so all cases pay that equally). Results: bench/results/fs.json and a markdown
// table on stdout. Needs the built packages (npm run build).
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, rmSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, open, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Transform, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { median, runJsonChild, source as uploadLikeStream } from "./harness.mjs";

const SELF = fileURLToPath(import.meta.url);
const MiB = 1024 * 1024;

/** Consumes a stream without keeping it: what a response socket does, minus the network. */
function sink() {
  return new Writable({
    write(_chunk, _encoding, callback) {
      callback();
    },
  });
}

/** The cases, each timed inside its child process (import and startup excluded). */
const CASES = {
  "write: storages save": {
    kind: "write",
    async run({ source, work }) {
      const { fsStorage } = await import("@storages/fs");
      const storage = fsStorage({ root: join(work, "storages-root"), overwrite: true });
      return time(() => storage.save("big.bin", createReadStream(source)));
    },
    output: (work) => join(work, "storages-root", "big.bin"),
  },
  "write: storages save, upload-like stream": {
    kind: "write",
    async run({ work, bytes }) {
      const { fsStorage } = await import("@storages/fs");
      const storage = fsStorage({ root: join(work, "upload-root"), overwrite: true });
      // The body every cloud benchmark uploads: unknown length, and it allocates nothing per chunk,
      // so what this case adds to the idle process is the driver's own memory.
      return time(() => storage.save("big.bin", uploadLikeStream(bytes)));
    },
    output: (work) => join(work, "upload-root", "big.bin"),
  },
  "write: pipeline(upload-like stream, write) + fsync": {
    kind: "write",
    run: ({ work, bytes }) =>
      time(() =>
        pipeline(uploadLikeStream(bytes), createWriteStream(join(work, "uploaded.bin"), { flush: true })),
      ),
    output: (work) => join(work, "uploaded.bin"),
  },
  "write: storages save, fs read stream": {
    kind: "write",
    async run({ source, work, bytes }) {
      const { fsStorage } = await import("@storages/fs");
      const storage = fsStorage({ root: join(work, "fs-stream-root"), overwrite: true });
      // An explicit end makes the body a stream like any upload (an HTTP request, a cloud download),
      // so it goes through the streaming path rather than the kernel-copy path for whole local files.
      return time(() => storage.save("big.bin", createReadStream(source, { start: 0, end: bytes - 1 })));
    },
    output: (work) => join(work, "fs-stream-root", "big.bin"),
  },
  // What a save that records an MD5 must do at least (the driver records one for every file): the
  // same copies, with the MD5 taken on the way (a Transform) or by reading the source alongside.
  "write: pipeline(upload-like stream, md5, write) + fsync": {
    kind: "write",
    run: ({ work, bytes }) =>
      time(async () => {
        const hash = createHash("md5");
        const hashing = new Transform({
          transform(chunk, _encoding, callback) {
            hash.update(chunk);
            callback(null, chunk);
          },
        });
        await pipeline(
          uploadLikeStream(bytes),
          hashing,
          createWriteStream(join(work, "uploaded-md5.bin"), { flush: true }),
        );
        return hash.digest("hex");
      }),
    output: (work) => join(work, "uploaded-md5.bin"),
  },
  "write: fs.copyFile + md5 of the source alongside": {
    kind: "write",
    run: ({ source, work }) =>
      time(async () => {
        const md5 = async () => {
          const hash = createHash("md5");
          for await (const chunk of createReadStream(source, { highWaterMark: MiB })) hash.update(chunk);
          return hash.digest("hex");
        };
        await Promise.all([copyFile(source, join(work, "copy-md5.bin")), md5()]);
      }),
    output: (work) => join(work, "copy-md5.bin"),
  },
  "write: fs.copyFile": {
    kind: "write",
    run: ({ source, work }) => time(() => copyFile(source, join(work, "copy.bin"))),
    output: (work) => join(work, "copy.bin"),
  },
  "write: pipeline(read, write)": {
    kind: "write",
    run: ({ source, work }) =>
      time(() => pipeline(createReadStream(source), createWriteStream(join(work, "piped.bin")))),
    output: (work) => join(work, "piped.bin"),
  },
  "write: pipeline + fsync": {
    kind: "write",
    run: ({ source, work }) =>
      time(() =>
        pipeline(createReadStream(source), createWriteStream(join(work, "synced.bin"), { flush: true })),
      ),
    output: (work) => join(work, "synced.bin"),
  },
  "read: storages open": {
    kind: "read",
    async run({ work }) {
      const { fsStorage } = await import("@storages/fs");
      const storage = fsStorage({ root: join(work, "read-root") });
      return time(async () => pipeline(await storage.open("big.bin"), sink()));
    },
  },
  "read: createReadStream": {
    kind: "read",
    run: ({ work }) => time(() => pipeline(createReadStream(join(work, "read-root", "big.bin")), sink())),
  },
};

/** Ratio rows: storages case / baseline case. */
const RATIOS = [
  ["write: storages save", "write: fs.copyFile"],
  ["write: storages save", "write: fs.copyFile + md5 of the source alongside"],
  ["write: storages save, upload-like stream", "write: pipeline(upload-like stream, write) + fsync"],
  ["write: storages save, upload-like stream", "write: pipeline(upload-like stream, md5, write) + fsync"],
  ["write: storages save", "write: pipeline(read, write)"],
  ["write: storages save, fs read stream", "write: pipeline(read, write)"],
  ["write: storages save, fs read stream", "write: pipeline + fsync"],
  ["read: storages open", "read: createReadStream"],
];

/** The process's peak RSS just before the timed action: Node, the imported modules, the storage. */
let idleRssBytes = 0;

async function time(action) {
  idleRssBytes = process.resourceUsage().maxRSS * 1024;
  const start = process.hrtime.bigint();
  await action();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

// ---------------------------------------------------------------------------------------------
// Child: run one case, print {ms, rssBytes}.

if (process.argv[2] === "--case") {
  const [, , , name, source, work, bytes] = process.argv;
  const ms = await CASES[name].run({ source, work, bytes: Number(bytes) });
  // maxRSS is in kilobytes: the peak of this process, i.e. of this case alone.
  process.stdout.write(
    `${JSON.stringify({ ms, rssBytes: process.resourceUsage().maxRSS * 1024, idleRssBytes })}\n`,
  );
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// Parent.

function runChild(name, source, work, bytes) {
  return runJsonChild(SELF, ["--case", name, source, work, String(bytes)], { label: name });
}

/** A file of `bytes` bytes from a repeated random block (incompressible enough, fast to make). */
async function makeSource(path, bytes) {
  const block = randomBytes(Math.min(bytes, 4 * MiB));
  const handle = await open(path, "w");
  try {
    for (let written = 0; written < bytes; ) {
      const n = Math.min(block.length, bytes - written);
      await handle.write(block, 0, n);
      written += n;
    }
  } finally {
    await handle.close();
  }
}

async function main() {
  const bytes = Number(process.env.BENCH_FS_BYTES ?? 1024 * MiB);
  const rounds = Number(process.env.BENCH_FS_ROUNDS ?? 5);
  if (!Number.isSafeInteger(bytes) || bytes <= 0)
    throw new Error("BENCH_FS_BYTES must be a positive integer");
  if (!Number.isSafeInteger(rounds) || rounds < 1) throw new Error("BENCH_FS_ROUNDS must be at least 1");
  const base = await mkdtemp(join(process.env.BENCH_FS_DIR ?? tmpdir(), "storages-bench-fs-"));
  // An interrupted run must not leave gigabytes behind in the temp dir.
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.once(signal, () => {
      rmSync(base, { recursive: true, force: true });
      process.exit(130);
    });
  }
  const source = join(base, "source.bin");
  const work = join(base, "work");
  try {
    await mkdir(join(work, "read-root"), { recursive: true });
    await makeSource(source, bytes);
    await copyFile(source, join(work, "read-root", "big.bin"));
    const names = Object.keys(CASES);
    const samples = Object.fromEntries(names.map((n) => [n, { ms: [], rssBytes: [], addedRssBytes: [] }]));
    console.error(
      `bench/fs: ${(bytes / MiB).toFixed(0)} MiB, ${rounds} rounds, ${names.length} cases, in ${base}`,
    );
    // Warm-up: one untimed pass of every write case, so no case pays for first-touch of the disk.
    for (const name of names.filter((n) => CASES[n].kind === "write"))
      await runChild(name, source, work, bytes);
    for (let round = 0; round < rounds; round++) {
      const order = names.map((_, i) => names[(i + round) % names.length]);
      for (const name of order) {
        const spec = CASES[name];
        if (spec.kind === "write") await rm(spec.output(work), { force: true });
        const result = await runChild(name, source, work, bytes);
        samples[name].ms.push(result.ms);
        samples[name].rssBytes.push(result.rssBytes);
        samples[name].addedRssBytes.push(result.rssBytes - result.idleRssBytes);
        console.error(`  round ${round + 1}: ${name.padEnd(38)} ${result.ms.toFixed(0).padStart(7)} ms`);
      }
    }

    const cases = names.map((name) => ({
      name,
      medianMs: median(samples[name].ms),
      mibPerSecond: bytes / MiB / (median(samples[name].ms) / 1000),
      peakRssMiB: Math.max(...samples[name].rssBytes) / MiB,
      // What the transfer itself added to the idle process (its buffers and the garbage not yet collected).
      maxAddedRssMiB: Math.max(...samples[name].addedRssBytes) / MiB,
      samplesMs: samples[name].ms,
    }));
    const byName = Object.fromEntries(cases.map((c) => [c.name, c]));
    const ratios = RATIOS.map(([subject, baseline]) => ({
      subject,
      baseline,
      timeRatio: byName[subject].medianMs / byName[baseline].medianMs,
      rssRatio: byName[subject].peakRssMiB / byName[baseline].peakRssMiB,
    }));
    const report = {
      benchmark: "fs",
      date: new Date().toISOString(),
      node: process.version,
      bytes,
      rounds,
      goal: "storages save/open ≤ 1.5× the time of pipeline(createReadStream, createWriteStream), ≤ 100 MB peak RSS",
      cases,
      ratios,
    };
    const resultsDir = join(dirname(SELF), "results");
    await mkdir(resultsDir, { recursive: true });
    await writeFile(join(resultsDir, "fs.json"), `${JSON.stringify(report, null, 2)}\n`);

    const lines = [
      `### fs: save and read back ${(bytes / MiB).toFixed(0)} MiB (median of ${rounds}, Node ${process.version})`,
      "",
      "| case | median | MiB/s | peak RSS | added by the transfer |",
      "|---|---:|---:|---:|---:|",
      ...cases.map(
        (c) =>
          `| ${c.name} | ${(c.medianMs / 1000).toFixed(2)} s | ${c.mibPerSecond.toFixed(0)} | ${c.peakRssMiB.toFixed(0)} MiB | ${c.maxAddedRssMiB.toFixed(0)} MiB |`,
      ),
      "",
      "| storages vs baseline | time ratio | RSS ratio |",
      "|---|---:|---:|",
      ...ratios.map(
        (r) => `| ${r.subject} / ${r.baseline} | ${r.timeRatio.toFixed(2)}× | ${r.rssRatio.toFixed(2)}× |`,
      ),
    ];
    console.log(lines.join("\n"));
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}

await main();
