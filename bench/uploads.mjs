#!/usr/bin/env node
/**
 * Upload services: 100 concurrent 10 MiB multipart uploads into an HTTP server, side by side:
 *
 *   busboy → fs.createWriteStream        the baseline a hand-written service would be
 *   busboy → createWriteStream + fsync   the same, durable like the fs driver's saves
 *   multer (disk storage)                the Express ecosystem's usual choice
 *   @storages/http → fs                  handleUpload (sniffing, limits, cleanup) into fsStorage (MD5 + fsync)
 *   @storages/http → fs, young           the same, the server run as docs/uploads.md and the example
 *                                        app run an upload server: node --max-semi-space-size=2
 *   @storages/http → fs, batch           the same with durability "batch" (no per-save fsync)
 *   @storages/http → fs, plain           durability "batch" and records: false (no MD5, no record):
 *                                        what createWriteStream does, through the handler (also -young)
 *   busboy → fsStorage.save              the same driver without the handler: what the handler adds
 *   busboy → lib-storage Upload → RGW    the raw SDK baseline for S3 (when STORAGES_TEST_S3_* is set)
 *   @storages/http → RGW                 handleUpload into s3Storage (defaults: maxPartBuffers 5 × 5 MiB parts)
 *   @storages/http → RGW, young          the same, run with node --max-semi-space-size=2 (the documented setup)
 *   @storages/http → RGW, lean           the same with maxPartBuffers 2 and 5 MiB parts (docs/uploads.md)
 *   @storages/http → RGW, lean, young    the same in a server run with --max-semi-space-size=2 (docs/uploads.md)
 *
 * Each case's server runs in a child process (its peak RSS is its own); this process is the client.
 * Rounds alternate cases; medians; throughput = bytes / wall time; ratios against the baseline.
 *
 *   node bench/uploads.mjs                       (fs cases; RGW too when STORAGES_TEST_S3_* is set:
 *   node bench/run.mjs uploads                    starts RGW for you)
 *   BENCH_UPLOADS_ROUNDS=3 BENCH_UPLOADS_COUNT=100 BENCH_UPLOADS_MIB=10 BENCH_UPLOADS_CLIENTS=100
 *   node bench/uploads.mjs --report              (the table again from results/uploads.json)
 */
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { MiB, median } from "./harness.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROUNDS = Number(process.env.BENCH_UPLOADS_ROUNDS ?? 3);
const COUNT = Number(process.env.BENCH_UPLOADS_COUNT ?? 100);
// BENCH_UPLOADS_CLIENTS: uploads in flight at once (default all of COUNT); fewer, with a larger
// COUNT, keeps one server busy for longer (a server's memory after minutes, not one burst).
const CLIENTS = Math.min(COUNT, Number(process.env.BENCH_UPLOADS_CLIENTS ?? COUNT));
const SIZE = Number(process.env.BENCH_UPLOADS_MIB ?? 10) * MiB;
const BOUNDARY = "----storages-bench-boundary";

const s3 = process.env.STORAGES_TEST_S3_ENDPOINT
  ? {
      endpoint: process.env.STORAGES_TEST_S3_ENDPOINT,
      region: process.env.STORAGES_TEST_S3_REGION ?? "us-east-1",
      accessKeyId: process.env.STORAGES_TEST_S3_ACCESS_KEY_ID,
      secretAccessKey: process.env.STORAGES_TEST_S3_SECRET_ACCESS_KEY,
      profile: process.env.STORAGES_TEST_S3_PROFILE ?? "generic",
    }
  : undefined;

/** The node flags docs/uploads.md gives an upload server (the example app's start scripts use them). */
const UPLOAD_SERVER_NODE_FLAGS = ["--max-semi-space-size=2"];
const RGW_VARIANTS = JSON.parse(process.env.BENCH_UPLOADS_RGW_VARIANTS ?? "{}");
const FS_VARIANTS = JSON.parse(process.env.BENCH_UPLOADS_FS_VARIANTS ?? "{}");
const ALL_CASES = [
  "busboy-fs",
  "busboy-fs-fsync",
  "multer-disk",
  "busboy-storage-fs",
  "storages-fs",
  "storages-fs-young",
  "storages-fs-batch",
  "storages-fs-plain",
  "storages-fs-plain-young",
  ...(s3
    ? ["busboy-s3-raw", "storages-rgw", "storages-rgw-young", "storages-rgw-lean", "storages-rgw-lean-young"]
    : []),
  // BENCH_UPLOADS_RGW_VARIANTS: more RGW cases, s3Storage options by name as JSON, e.g.
  // '{"4x5":{"maxPartBuffers":4,"partSize":"5MiB"}}' adds storages-rgw-4x5: settings side by side.
  ...(s3 ? Object.keys(RGW_VARIANTS).map((name) => `storages-rgw-${name}`) : []),
  // BENCH_UPLOADS_FS_BEFORE: another build of the fs driver (its dist/index.js, e.g. an earlier
  // commit's built beside packages/fs), run as storages-fs-before: a before/after in one run.
  ...(process.env.BENCH_UPLOADS_FS_BEFORE ? ["storages-fs-before"] : []),
  // BENCH_UPLOADS_FS_VARIANTS: more cases of the media fs storage (durability full, records), as
  // JSON by name: fsStorage options under "storage", handler options under "handler", e.g.
  // '{"c32":{"handler":{"concurrency":32}}}' adds storages-fs-v-c32.
  ...Object.keys(FS_VARIANTS).map((name) => `storages-fs-v-${name}`),
];
// BENCH_UPLOADS_CASES: a regular expression choosing cases, for a quick look (the ratios need the baselines).
const CASES = ALL_CASES.filter((c) => new RegExp(process.env.BENCH_UPLOADS_CASES ?? ".").test(c));

// ---------------------------------------------------------------------------------------------
// The server side: one case, in a child process.

async function serve(kind, dir, bucket) {
  const { createServer } = await import("node:http");
  const { createWriteStream } = await import("node:fs");
  const { randomBytes } = await import("node:crypto");
  let handler;
  const done = (res, status = 201) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end('{"ok":true}');
  };
  if (kind === "busboy-fs" || kind === "busboy-fs-fsync") {
    const busboy = (await import("busboy")).default;
    const durable = kind === "busboy-fs-fsync";
    handler = (req, res) => {
      const parser = busboy({ headers: req.headers, limits: { fileSize: 2 * SIZE, files: 1 } });
      const writes = [];
      parser.on("file", (_field, file) => {
        const out = createWriteStream(join(dir, `${randomBytes(8).toString("hex")}.png`), { flush: durable });
        writes.push(once(out, "close"));
        file.pipe(out);
      });
      parser.on("close", () => Promise.all(writes).then(() => done(res)));
      req.pipe(parser);
    };
  } else if (kind === "busboy-storage-fs") {
    const busboy = (await import("busboy")).default;
    const { fsStorage } = await import("@storages/fs");
    const storage = fsStorage({ root: dir });
    handler = (req, res) => {
      const parser = busboy({ headers: req.headers, limits: { fileSize: 2 * SIZE, files: 1 } });
      const saves = [];
      parser.on("file", (_field, file, info) => {
        saves.push(storage.save(info.filename, file, { contentType: "image/png" }));
      });
      parser.on("close", () =>
        Promise.all(saves).then(
          () => done(res),
          () => done(res, 500),
        ),
      );
      req.pipe(parser);
    };
  } else if (kind === "multer-disk") {
    const multer = (await import("multer")).default;
    const upload = multer({
      storage: multer.diskStorage({ destination: dir }),
      limits: { fileSize: 2 * SIZE },
    }).single("file");
    handler = (req, res) => upload(req, res, (error) => done(res, error ? 500 : 201));
  } else if (kind === "busboy-s3-raw") {
    const busboy = (await import("busboy")).default;
    const { S3Client } = await import("@aws-sdk/client-s3");
    const { Upload } = await import("@aws-sdk/lib-storage");
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
    handler = (req, res) => {
      const parser = busboy({ headers: req.headers, limits: { fileSize: 2 * SIZE, files: 1 } });
      const uploads = [];
      parser.on("file", (_field, file) => {
        const key = `raw/${randomBytes(8).toString("hex")}.png`;
        // The same part size and queue as the storages S3 driver's defaults (5 MiB, 4).
        uploads.push(
          new Upload({
            client,
            params: { Bucket: bucket, Key: key, Body: file, ContentType: "image/png" },
            partSize: 5 * MiB,
            queueSize: 4,
          }).done(),
        );
      });
      parser.on("close", () =>
        Promise.all(uploads).then(
          () => done(res),
          () => done(res, 500),
        ),
      );
      req.pipe(parser);
    };
  } else {
    const { createUploadHandler } = await import("@storages/http");
    let storage;
    if (kind.startsWith("storages-rgw")) {
      const { s3Storage } = await import("@storages/s3");
      storage = s3Storage({
        bucket,
        prefix: "storages",
        endpoint: s3.endpoint,
        region: s3.region,
        profile: s3.profile,
        credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        // docs/uploads.md's settings for an upload server on S3: few part buffers, smallest parts.
        ...(kind.startsWith("storages-rgw-lean") ? { maxPartBuffers: 2, partSize: "5MiB" } : {}),
        ...RGW_VARIANTS[kind.slice("storages-rgw-".length)],
        // BENCH_UPLOADS_S3_OPTIONS: s3Storage options as JSON, e.g. '{"maxPartBuffers":4}'.
        ...JSON.parse(process.env.BENCH_UPLOADS_S3_OPTIONS ?? "{}"),
      });
    } else {
      const before = kind === "storages-fs-before";
      // The storage of the case, however its server is run ("-young": node flags only).
      const base = kind.replace(/-young$/, "");
      // The media storage: MD5 records, fsync of file and folder.
      const media = base === "storages-fs" || before || kind.startsWith("storages-fs-v-");
      const { fsStorage } = await import(
        before ? pathToFileURL(process.env.BENCH_UPLOADS_FS_BEFORE).href : "@storages/fs"
      );
      storage = fsStorage({
        root: dir,
        durability: media ? "full" : "batch",
        records: base !== "storages-fs-plain",
        ...FS_VARIANTS[kind.slice("storages-fs-v-".length)]?.storage,
      });
    }
    handler = createUploadHandler(storage, {
      allowedTypes: ["image/png"],
      maxFileSize: 2 * SIZE,
      maxFiles: 1,
      maxTotalSize: 3 * SIZE,
      onError: (error) => console.error(error),
      ...(process.env.BENCH_UPLOADS_CONCURRENCY
        ? { concurrency: Number(process.env.BENCH_UPLOADS_CONCURRENCY) }
        : {}),
      ...FS_VARIANTS[kind.slice("storages-fs-v-".length)]?.handler,
    });
  }
  let startupCpu = 0;
  // Where the peak is: the largest V8 heap and Buffer memory seen, sampled every 50 ms.
  const peaks = { heapUsedMiB: 0, arrayBuffersMiB: 0, atPeakRss: {} };
  // BENCH_UPLOADS_MEMLOG: a file for the server's memory every 50 ms (one JSON line each, MiB).
  const memlog = process.env.BENCH_UPLOADS_MEMLOG
    ? (await import("node:fs")).createWriteStream(`${process.env.BENCH_UPLOADS_MEMLOG}.${kind}.jsonl`)
    : undefined;
  let peakRss = 0;
  const t0 = performance.now();
  setInterval(() => {
    const m = process.memoryUsage();
    const mib = Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Math.round(v / MiB)]));
    peaks.heapUsedMiB = Math.max(peaks.heapUsedMiB, mib.heapUsed);
    peaks.arrayBuffersMiB = Math.max(peaks.arrayBuffersMiB, mib.arrayBuffers);
    // What the memory was made of when RSS was at its highest.
    if (m.rss > peakRss) {
      peakRss = m.rss;
      peaks.atPeakRss = mib;
    }
    memlog?.write(`${JSON.stringify({ t: Math.round(performance.now() - t0), ...mib })}\n`);
  }, 50).unref();
  const server = createServer((req, res) => {
    if (req.url === "/__done") {
      const usage = process.resourceUsage();
      res.end(
        JSON.stringify({
          maxRssMiB: Math.round(usage.maxRSS / 1024),
          // The uploads' CPU: without starting up (loading modules), which differs by case.
          cpuSeconds: (usage.userCPUTime + usage.systemCPUTime - startupCpu) / 1e6,
          ...peaks,
        }),
      );
      setImmediate(() => process.exit(0));
      return;
    }
    handler(req, res);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const started = process.resourceUsage();
  startupCpu = started.userCPUTime + started.systemCPUTime;
  // What the process holds before the first upload (Node, the modules, the storage).
  peaks.idleRssMiB = Math.round(process.memoryUsage().rss / MiB);
  console.log(JSON.stringify({ port: server.address().port }));
}

// ---------------------------------------------------------------------------------------------
// The client side: this process.

function multipartParts() {
  // A PNG header, then one random MiB repeated: sniffed as image/png, not compressible.
  const payload = Buffer.alloc(SIZE);
  const head = Buffer.from("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489", "hex");
  head.copy(payload);
  const idat = Buffer.alloc(8);
  idat.writeUInt32BE(SIZE - head.length - 12);
  idat.write("IDAT", 4, "latin1");
  idat.copy(payload, head.length);
  const random = Buffer.from(Array.from({ length: MiB }, () => Math.floor(Math.random() * 256)));
  for (let at = head.length + 8; at < SIZE; at += MiB) random.copy(payload, at, 0, Math.min(MiB, SIZE - at));
  // Each upload its own file name, as different users' files mostly are (same-name races are the
  // tests' business, not the benchmark's).
  const tail = Buffer.from(`\r\n--${BOUNDARY}--\r\n`);
  return (index) => [
    Buffer.from(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="photo-${index}.png"\r\nContent-Type: image/png\r\n\r\n`,
    ),
    payload,
    tail,
  ];
}

function upload(port, parts) {
  const length = parts.reduce((n, p) => n + p.length, 0);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/upload",
        headers: { "content-type": `multipart/form-data; boundary=${BOUNDARY}`, "content-length": length },
      },
      (res) => {
        res.resume();
        res.on("end", () =>
          res.statusCode === 201 ? resolve() : reject(new Error(`status ${res.statusCode}`)),
        );
      },
    );
    req.on("error", reject);
    for (const part of parts) req.write(part);
    req.end();
  });
}

async function startChild(kind, dir, bucket) {
  const { spawn } = await import("node:child_process");
  // BENCH_UPLOADS_SERVER_WRAP: a command the servers run under, e.g. "strace -f -c -o /tmp/s.txt".
  const wrap = process.env.BENCH_UPLOADS_SERVER_WRAP?.split(" ").filter(Boolean) ?? [];
  const child = spawn(
    wrap[0] ?? process.execPath,
    [
      ...(wrap.length ? [...wrap.slice(1), process.execPath] : []),
      // BENCH_UPLOADS_SERVER_ARGS: extra node flags for the servers, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p".
      ...(process.env.BENCH_UPLOADS_SERVER_ARGS?.split(" ").filter(Boolean) ?? []),
      // "-young": a small young generation, how docs/uploads.md and the example app run an upload
      // server: V8 keeps a ~6 MiB young generation instead of growing it to ~50 MiB, and collects
      // more often, in cheap scavenges rather than mark-compacts.
      ...(kind.endsWith("-young") ? UPLOAD_SERVER_NODE_FLAGS : []),
      fileURLToPath(import.meta.url),
      "--serve",
      kind,
      dir,
      bucket ?? "",
    ],
    {
      stdio: ["ignore", "pipe", "inherit"],
      env: process.env,
    },
  );
  // The port line; the rest of its stdout (--trace-gc writes there too) is passed on to stderr.
  const line = await new Promise((resolve, reject) => {
    let out = "";
    const onData = (chunk) => {
      out += chunk;
      const lines = out.split("\n");
      const at = lines.findIndex((l) => l.startsWith('{"port"'));
      if (at < 0) return;
      child.stdout.off("data", onData);
      const rest = lines.filter((_, i) => i !== at).join("\n");
      if (rest.trim()) process.stderr.write(`${rest}\n`);
      child.stdout.on("data", (more) => process.stderr.write(more));
      resolve(lines[at]);
    };
    child.stdout.on("data", onData);
    child.once("exit", (code) => reject(new Error(`The ${kind} server exited (${code}) before listening.`)));
  });
  return { child, port: JSON.parse(line).port };
}

async function finish(port) {
  const response = await fetch(`http://127.0.0.1:${port}/__done`);
  return response.json();
}

async function s3Admin() {
  const { S3Client, CreateBucketCommand } = await import("@aws-sdk/client-s3");
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  const bucket = `bench-uploads-${Date.now().toString(36)}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return { client, bucket };
}

async function emptyBucket({ client, bucket }) {
  const { ListObjectsV2Command, DeleteObjectsCommand } = await import("@aws-sdk/client-s3");
  for (;;) {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key }));
    if (keys.length === 0) return;
    await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
  }
}

/** The machine's CPU counters (/proc/stat), to tell how busy all cores were during a case (Linux). */
function machineCpu() {
  let fields = [];
  try {
    fields = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  } catch {}
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return {
    total,
    idle,
    busyShare: (before) => 1 - (idle - before.idle) / (total - before.total || 1),
  };
}

async function main() {
  const parts = multipartParts();
  const admin = s3 ? await s3Admin() : undefined;
  const samples = Object.fromEntries(
    CASES.map((c) => [c, { seconds: [], rss: [], serverCpu: [], clientCpu: [], machineBusy: [], load: [] }]),
  );
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      // Alternate the order each round so no case always runs first (or right after a big delete).
      const order = round % 2 ? CASES : [...CASES].reverse();
      for (const kind of order) {
        const dir = await mkdtemp(join(tmpdir(), "bench-uploads-"));
        const { child, port } = await startChild(kind, dir, admin?.bucket);
        let seconds;
        let rss;
        let serverCpu;
        let clientSeconds;
        let busy;
        let memory;
        try {
          const started = performance.now();
          const clientCpu = process.cpuUsage();
          const machine = machineCpu();
          let next = 0;
          await Promise.all(
            Array.from({ length: CLIENTS }, async () => {
              while (next < COUNT) await upload(port, parts(next++));
            }),
          );
          seconds = (performance.now() - started) / 1000;
          const used = process.cpuUsage(clientCpu);
          clientSeconds = (used.user + used.system) / 1e6;
          busy = machineCpu().busyShare(machine);
          ({ maxRssMiB: rss, cpuSeconds: serverCpu, ...memory } = await finish(port));
          await once(child, "exit").catch(() => {});
        } finally {
          // A failed case must not leave its server behind.
          if (child.exitCode === null) child.kill("SIGKILL");
        }
        samples[kind].seconds.push(seconds);
        samples[kind].rss.push(rss);
        samples[kind].serverCpu.push(serverCpu);
        samples[kind].clientCpu.push(clientSeconds);
        samples[kind].machineBusy.push(+busy.toFixed(2));
        samples[kind].load.push(+loadavg()[0].toFixed(2));
        console.error(
          `  round ${round} ${kind}: ${seconds.toFixed(2)} s, ${((COUNT * SIZE) / MiB / seconds).toFixed(0)} MiB/s, server CPU ${serverCpu.toFixed(2)} s, client CPU ${clientSeconds.toFixed(2)} s, machine busy ${(busy * 100).toFixed(0)} %, peak RSS ${rss} MiB (idle ${memory.idleRssMiB}, heap ${memory.heapUsedMiB}, buffers ${memory.arrayBuffersMiB}; at the peak ${JSON.stringify(memory.atPeakRss)}), load ${loadavg()[0].toFixed(2)}`,
        );
        await rm(dir, { recursive: true, force: true });
        if (admin && (kind.includes("s3") || kind.includes("rgw"))) await emptyBucket(admin);
      }
    }
  } finally {
    if (admin) {
      await emptyBucket(admin);
      const { DeleteBucketCommand } = await import("@aws-sdk/client-s3");
      await admin.client.send(new DeleteBucketCommand({ Bucket: admin.bucket }));
    }
  }
  await report({
    count: COUNT,
    clients: CLIENTS,
    bytes: SIZE,
    rounds: ROUNDS,
    node: process.version,
    samples,
  });
}

/**
 * The table and results/uploads.{json,md} from a run's samples (`--report` redoes them from
 * results/uploads.json). Ratios are medians of per-round ratios: a case against the baseline of
 * the same round, so a load that changes between rounds (other work on the machine) cancels out.
 */
async function report(run) {
  const { count, bytes, rounds, samples } = run;
  const cases = Object.keys(samples);
  const has = (kind) => samples[kind] !== undefined;
  const mibPerSecond = (kind, round) => (count * bytes) / MiB / samples[kind].seconds[round];
  const perRound = (kind, base, of) =>
    has(kind) && has(base)
      ? +median(Array.from({ length: rounds }, (_, i) => of(kind, i) / of(base, i))).toFixed(2)
      : undefined;
  const speed = (kind, base) => perRound(kind, base, mibPerSecond);
  // Server CPU for the same bytes: on a machine other work keeps busy, wall time follows it.
  const cpu = (kind, base) => perRound(base, kind, (k, i) => samples[k].serverCpu[i]);
  const rows = cases.map((kind) => ({
    case: kind,
    mibPerSecond: Math.round(median(samples[kind].seconds.map((_, i) => mibPerSecond(kind, i)))),
    vsBusboyFs: speed(kind, "busboy-fs"),
    vsBusboyFsFsync: speed(kind, "busboy-fs-fsync"),
    vsMulter: speed(kind, "multer-disk"),
    vsRawS3: kind.includes("rgw") ? speed(kind, "busboy-s3-raw") : undefined,
    serverCpuSeconds: +median(samples[kind].serverCpu).toFixed(2),
    /** The baseline's server CPU over this case's: ≥ 1 needs no more CPU than busboy → fs. */
    cpuVsBusboyFs: cpu(kind, "busboy-fs"),
    cpuVsRawS3: kind.includes("rgw") ? cpu(kind, "busboy-s3-raw") : undefined,
    peakRssMiB: Math.max(...samples[kind].rss),
  }));
  const loads = Object.values(samples).flatMap((s) => s.load);
  const busy = Object.values(samples).flatMap((s) => s.machineBusy);
  const x = (v) => (v === undefined ? "" : `${v}×`);
  const lines = [
    `${count === run.clients ? `${count} concurrent uploads` : `${count} uploads, ${run.clients} at a time,`} of ${bytes / MiB} MiB, ${rounds} rounds, Node ${run.node}, load average ${Math.min(...loads)}–${Math.max(...loads)}, all cores ${Math.round(Math.min(...busy) * 100)}–${Math.round(Math.max(...busy) * 100)} % busy. MiB/s: median; ratios: median of per-round ratios (throughput: ≥ 1 is as fast or faster; CPU: the baseline's server CPU over this case's, ≥ 1 needs no more).`,
    "",
    "| case | MiB/s | vs busboy→fs | vs busboy→fs + fsync | vs multer disk | vs raw SDK | server CPU | CPU vs busboy→fs | CPU vs raw SDK | peak RSS |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows.map(
      (r) =>
        `| ${r.case} | ${r.mibPerSecond} | ${x(r.vsBusboyFs)} | ${x(r.vsBusboyFsFsync)} | ${x(r.vsMulter)} | ${x(r.vsRawS3)} | ${r.serverCpuSeconds} s | ${x(r.cpuVsBusboyFs)} | ${x(r.cpuVsRawS3)} | ${r.peakRssMiB} MiB |`,
    ),
  ];
  console.log(`\n${lines.join("\n")}`);
  // A quick look at some cases (BENCH_UPLOADS_CASES) leaves the full run's results alone.
  if (process.env.BENCH_UPLOADS_CASES && !run.fromFile) return;
  await mkdir(join(HERE, "results"), { recursive: true });
  const summary = rows.map((r) => `${r.case} ${r.vsBusboyFs}× (${r.peakRssMiB} MiB)`).join(", ");
  await writeFile(
    join(HERE, "results", "uploads.json"),
    `${JSON.stringify({ ...run, fromFile: undefined, rows, summary }, null, 2)}\n`,
  );
  await writeFile(join(HERE, "results", "uploads.md"), `${lines.join("\n")}\n`);
}

if (process.argv[2] === "--serve")
  await serve(process.argv[3], process.argv[4], process.argv[5] || undefined);
else if (process.argv[2] === "--report")
  await report({
    ...JSON.parse(await readFile(join(HERE, "results", "uploads.json"), "utf8")),
    fromFile: true,
  });
else await main();
