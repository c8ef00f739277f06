#!/usr/bin/env node
/**
 * The floors: what the least work any Node program can do for three of the speed goals costs, side
 * by side with the peer the goal names and with ours, in one run. A goal the floor itself misses
 * is out of reach for a Node implementation on this machine, whatever ours does; the distance from
 * ours to the floor is what is left to win.
 *
 *   node bench/floors.mjs [CORPUS_DIR]     (default /tmp/static-bench: gen_corpus.py's output with
 *                                           djproj/ copied beside assets/, as collectstatic.mjs)
 *   BENCH_ROUNDS=5 node bench/floors.mjs   (rounds, order rotated each round; default 3)
 *
 * Needs /usr/bin/python3 with Debian's python3-django, Debian's rclone, GNU time (/usr/bin/time).
 *
 * The groups, each case a whole process, timed wall-clock with its CPU time and peak RSS, an
 * empty destination made (and `sync` run, outside the clock) before each:
 *   - collectstatic fresh (issue 15: ≥ 5× faster than Django's ManifestStaticFilesStorage):
 *     Django; ours with --no-compress; `floor-collect` — list the three sources (first found
 *     wins), then on one worker thread per core read each file, SHA-256 and SHA-384 it, write its
 *     content-hashed copy (temporary file + rename) and hard-link the original name to it, with
 *     synchronous calls (no thread-pool round trips). No reference parsing, no manifest, no fsync:
 *     less than Django does.
 *   - corpus fs → fs (issue 16: ≤ 0.8× rclone's time): rclone copy; ours (default durability:
 *     fsync of file and folder) and ours with durability=batch; `floor-copy` — copyFileSync and
 *     utimes of each file on one thread per core: no temporary file, no fsync, no checksum (rclone
 *     takes an MD5 of what passes); and, with files on the disk when the command returns (rclone
 *     syncs nothing), rclone followed by `sync -f` and `floor-copy-durable` — what durability
 *     "full" must do per file (exclusive temporary file, kernel copy, fsync, rename, folder fsync)
 *     with synchronous calls on one thread per core.
 *   - no-change sync fs → fs (issue 16: ≤ 0.5× rclone's time, peak RSS ≤ rclone's): rclone sync;
 *     ours; `floor-nochange` — both trees listed with stat data, synchronously, and compared by
 *     size and modification time; `node -e 0`, the start of a Node process and nothing else.
 * The floor programs are this file, run with their name as first argument.
 */
import { createHash } from "node:crypto";
import {
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { availableParallelism, loadavg } from "node:os";
import { dirname, extname, join, relative } from "node:path";
import { isMainThread, threadId, Worker, workerData } from "node:worker_threads";

/** Regular files under `root`, as paths relative to it. */
function filesUnder(root) {
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)));
}

/** Runs this file's floor `name` on one worker thread per core, each with its share of `items`. */
async function onEveryCore(name, items, shared) {
  const threads = availableParallelism();
  await Promise.all(
    Array.from(
      { length: threads },
      (_, i) =>
        new Promise((resolve, reject) => {
          const worker = new Worker(new URL(import.meta.url), {
            workerData: { name, items: items.filter((_, j) => j % threads === i), ...shared },
          });
          worker.on("error", reject);
          worker.on("exit", (code) =>
            code === 0 ? resolve() : reject(new Error(`${name} worker exited ${code}`)),
          );
        }),
    ),
  );
}

/** Makes each folder once per thread: the floor does not ask the kernel again for one it made. */
function folderMaker() {
  const made = new Set();
  return (dir) => {
    if (made.has(dir)) return;
    mkdirSync(dir, { recursive: true });
    made.add(dir);
  };
}

const FLOOR_WORK = {
  collect({ items, out }) {
    const makeFolder = folderMaker();
    for (const { path, name } of items) {
      const bytes = readFileSync(path);
      const sha256 = createHash("sha256").update(bytes).digest("hex");
      createHash("sha384").update(bytes).digest("base64"); // the manifest's integrity value
      const extension = extname(name);
      const hashed = join(
        out,
        `${name.slice(0, name.length - extension.length)}.${sha256.slice(0, 12)}${extension}`,
      );
      makeFolder(dirname(hashed));
      writeFileSync(`${hashed}.tmp`, bytes);
      renameSync(`${hashed}.tmp`, hashed);
      linkSync(hashed, join(out, name));
    }
  },
  /**
   * What durability "full" must do for each file, and no more: a temporary file created
   * exclusively in the destination folder, filled by the kernel's copy, synced, renamed into place,
   * and the folder synced — so that every file counted as copied is whole and on the disk.
   */
  "copy-durable"({ items, source, out }) {
    const makeFolder = folderMaker();
    let serial = 0;
    for (const name of items) {
      const to = join(out, name);
      const folder = dirname(to);
      makeFolder(folder);
      const temp = join(folder, `.~floor-${threadId}-${serial++}.tmp`);
      const fd = openSync(temp, "wx");
      copyFileSync(join(source, name), temp);
      fsyncSync(fd);
      closeSync(fd);
      renameSync(temp, to);
      const folderFd = openSync(folder, "r");
      fsyncSync(folderFd);
      closeSync(folderFd);
    }
  },
  copy({ items, source, out }) {
    const makeFolder = folderMaker();
    for (const name of items) {
      const to = join(out, name);
      makeFolder(dirname(to));
      copyFileSync(join(source, name), to);
      const { atime, mtime } = statSync(join(source, name));
      utimesSync(to, atime, mtime);
    }
  },
};

const FLOORS = {
  /** floor-collect OUT SRC[=PREFIX]… */
  async "floor-collect"(out, ...sources) {
    const byName = new Map();
    for (const spec of sources) {
      const [dir, prefix = ""] = spec.split("=");
      for (const file of filesUnder(dir)) {
        const name = prefix ? `${prefix}/${file}` : file;
        if (!byName.has(name)) byName.set(name, { path: join(dir, file), name });
      }
    }
    await onEveryCore("collect", [...byName.values()], { out });
  },
  /** floor-copy SRC OUT */
  async "floor-copy"(source, out) {
    await onEveryCore("copy", filesUnder(source), { source, out });
  },
  /** floor-copy-durable SRC OUT */
  async "floor-copy-durable"(source, out) {
    await onEveryCore("copy-durable", filesUnder(source), { source, out });
  },
  /** floor-nochange SRC OUT: exits 1 when a file differs (the floor must have had nothing to do). */
  "floor-nochange"(source, out) {
    const listing = (root) =>
      new Map(
        filesUnder(root).map((name) => {
          const { size, mtimeMs } = statSync(join(root, name));
          return [name, [size, mtimeMs]];
        }),
      );
    const theirs = listing(out);
    for (const [name, [size, mtimeMs]] of listing(source)) {
      const other = theirs.get(name);
      if (!other || other[0] !== size || Math.abs(other[1] - mtimeMs) >= 1) process.exit(1);
    }
  },
};

if (!isMainThread) {
  FLOOR_WORK[workerData.name](workerData);
} else if (process.argv[2]?.startsWith("floor-")) {
  const run = FLOORS[process.argv[2]];
  if (!run) throw new Error(`Unknown floor "${process.argv[2]}"; known: ${Object.keys(FLOORS).join(", ")}`);
  await run(...process.argv.slice(3));
} else {
  await compare();
}

async function compare() {
  const { discard, emptyFolder, median, timedProcess } = await import("./harness.mjs");
  const LB = process.argv[2] ?? "/tmp/static-bench";
  const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
  const CONCURRENCY = 8;
  const ROOT = join(import.meta.dirname, "..");
  const CLI = join(ROOT, "packages/cli/bin/storages.js");
  const ASSETS = join(LB, "assets");
  const WORK = join(LB, "scratch-floors");
  if (!existsSync(join(LB, "djproj")))
    throw new Error(`No corpus at ${LB}: see bench/collectstatic.mjs for how to make it.`);
  const SOURCES = [
    join(ASSETS, "django-admin"),
    join(ASSETS, "frontend"),
    `${join(ASSETS, "vendor")}=vendor`,
  ];
  const node = (args, options) => timedProcess(process.execPath, args, options);
  const floor = (...args) => node([import.meta.filename, ...args]);
  const storages = (...args) => node([CLI, ...args], { env: { STORAGES_CONFIG: "" }, cwd: WORK });
  const rclone = (...args) =>
    timedProcess("rclone", [...args, "--transfers", `${CONCURRENCY}`, "--checkers", `${CONCURRENCY}`, "-q"], {
      env: { RCLONE_CONFIG: "/dev/null" },
    });
  const concurrency = ["--concurrency", `${CONCURRENCY}`];

  const fresh = (name) => emptyFolder(join(WORK, name), join(WORK, "trash"));
  /** A case that writes into the empty folder `name`, made (and `clear` removed) outside the clock. */
  const intoEmpty =
    (name, run, clear = []) =>
    async () => {
      for (const path of clear) await discard(path, join(WORK, "trash"));
      const dir = await fresh(name);
      return () => run(dir);
    };
  /** A case that runs against what its group's `once` prepared. */
  const onPrepared = (run) => async (prepared) => () => run(prepared);

  const GROUPS = [
    {
      title: "collectstatic fresh (2,122 files, 72.5 MB)",
      goal: "≥ 5× faster than Django",
      peer: "Django ManifestStaticFilesStorage",
      // How many times faster than the peer (its time over the case's).
      ratio: (peer, x) => peer / x,
      ratioLabel: "Django / case",
      cases: {
        "Django ManifestStaticFilesStorage": intoEmpty("django", (root) =>
          timedProcess("/usr/bin/python3", ["manage.py", "collectstatic", "--noinput"], {
            cwd: join(LB, "djproj"),
            env: { LB_STORAGE: "manifest", LB_STATIC_ROOT: root, LB_ASSETS: ASSETS },
          }),
        ),
        // Its compression cache cleared too: a fresh run reuses nothing.
        "storages collectstatic --no-compress": intoEmpty(
          "ours-collect",
          (root) =>
            storages(
              "collectstatic",
              ...SOURCES.flatMap((s) => ["--source", s]),
              "--to",
              `${root}/`,
              "--no-compress",
              "--manifest-out",
              join(WORK, "ours-app-manifest.json"),
            ),
          [join(WORK, "node_modules/.cache/storages-staticfiles")],
        ),
        "floor-collect (Node, least work)": intoEmpty("floor-collect", (root) =>
          floor("floor-collect", root, ...SOURCES),
        ),
      },
    },
    {
      title: "corpus fs → fs",
      goal: "≤ 0.8× rclone's time",
      peer: "rclone copy",
      ratio: (peer, x) => x / peer,
      ratioLabel: "case / rclone",
      cases: {
        "rclone copy": intoEmpty("rclone-copy", (to) => rclone("copy", ASSETS, to)),
        "storages copy (durability full)": intoEmpty("ours-copy", (to) =>
          storages("copy", ...concurrency, `${ASSETS}/`, `${to}/`),
        ),
        "storages copy (durability=batch)": intoEmpty("ours-copy-batch", (to) =>
          storages("copy", ...concurrency, `${ASSETS}/`, `file://${to}/?records=false&durability=batch`),
        ),
        "floor-copy (Node, least work)": intoEmpty("floor-copy", (to) => floor("floor-copy", ASSETS, to)),
        // rclone syncs nothing: when it exits, its files may still be only in memory. These two
        // give every tool the same promise — files on the disk when the command returns.
        "rclone copy, then sync -f (durable at exit)": intoEmpty("rclone-copy-synced", (to) =>
          timedProcess(
            "sh",
            [
              "-c",
              'rclone copy "$1" "$2" --transfers "$3" --checkers "$3" -q && sync -f "$2"',
              "sh",
              ASSETS,
              to,
              `${CONCURRENCY}`,
            ],
            { env: { RCLONE_CONFIG: "/dev/null" } },
          ),
        ),
        "floor-copy-durable (Node, each file synced as durability full does)": intoEmpty(
          "floor-copy-durable",
          (to) => floor("floor-copy-durable", ASSETS, to),
        ),
      },
    },
    {
      title: "no-change sync fs → fs",
      goal: "≤ 0.5× rclone's time, peak RSS ≤ rclone's",
      peer: "rclone sync",
      ratio: (peer, x) => x / peer,
      ratioLabel: "case / rclone",
      // Each destination made complete once, outside the clock; every run then finds nothing to do.
      once: async () => {
        const theirs = await fresh("rclone-sync");
        const ours = await fresh("ours-sync");
        await rclone("copy", ASSETS, theirs);
        await storages("copy", ...concurrency, `${ASSETS}/`, `${ours}/`);
        return { theirs, ours };
      },
      cases: {
        "rclone sync": onPrepared(({ theirs }) => rclone("sync", ASSETS, theirs)),
        "storages sync": onPrepared(({ ours }) => storages("sync", ...concurrency, `${ASSETS}/`, `${ours}/`)),
        "floor-nochange (Node, least work)": onPrepared(({ theirs }) =>
          floor("floor-nochange", ASSETS, theirs),
        ),
        "node -e 0 (a Node process starting)": onPrepared(() => node(["-e", "0"])),
      },
    },
  ];

  await mkdir(WORK, { recursive: true });
  const { execFileSync } = await import("node:child_process");
  const sync = () => execFileSync("sync");
  const samples = new Map();
  for (const group of GROUPS) {
    const prepared = group.once ? await group.once() : {};
    const names = Object.keys(group.cases);
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < names.length; i++) {
        const name = names[(i + round) % names.length];
        const run = await group.cases[name](prepared);
        sync();
        const load = loadavg()[0];
        const r = await run();
        const s = samples.get(name) ?? { seconds: [], cpu: [], rss: [], load: [] };
        s.seconds.push(r.seconds);
        s.cpu.push(r.cpuSeconds);
        s.rss.push(r.rssMiB);
        s.load.push(load);
        samples.set(name, s);
        console.error(
          `round ${round + 1}: ${name}: ${r.seconds.toFixed(2)} s, CPU ${r.cpuSeconds.toFixed(2)} s, ${r.rssMiB.toFixed(0)} MiB`,
        );
      }
    }
  }
  // The rounds are over: deleting what they set aside can no longer slow a timed run.
  await rm(join(WORK, "trash"), { recursive: true, force: true });

  const lines = [
    `floors, ${new Date().toISOString()}, ${ROUNDS} rounds, Node ${process.version}, ${availableParallelism()} cores, corpus ${ASSETS}`,
    "",
    "Medians; ratios from the medians; load average (1 min) before each run, lowest–highest.",
  ];
  for (const group of GROUPS) {
    const peer = samples.get(group.peer);
    lines.push(
      "",
      `### ${group.title} — goal: ${group.goal}`,
      "",
      `| case | wall | CPU | peak RSS | ${group.ratioLabel}: wall | CPU | load |`,
      "|---|---:|---:|---:|---:|---:|---:|",
    );
    for (const name of Object.keys(group.cases)) {
      const s = samples.get(name);
      const wall = median(s.seconds);
      const cpu = median(s.cpu);
      lines.push(
        `| ${name} | ${wall.toFixed(2)} s | ${cpu.toFixed(2)} s | ${Math.max(...s.rss).toFixed(0)} MiB | ${group.ratio(median(peer.seconds), wall).toFixed(2)}× | ${group.ratio(median(peer.cpu), cpu).toFixed(2)}× | ${Math.min(...s.load).toFixed(1)}–${Math.max(...s.load).toFixed(1)} |`,
      );
    }
  }
  const text = `${lines.join("\n")}\n`;
  process.stdout.write(text);
  await writeFile(join(ROOT, "bench/results/floors.md"), text);
  await writeFile(
    join(ROOT, "bench/results/floors.json"),
    `${JSON.stringify({ date: new Date().toISOString(), rounds: ROUNDS, samples: Object.fromEntries(samples) }, null, 2)}\n`,
  );
}
