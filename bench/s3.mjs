#!/usr/bin/env node
/**
 * @storages/s3 vs raw @aws-sdk/client-s3 (+ lib-storage) vs the Node peers users would pick instead
 * (flydrive's S3 driver, @flystorage/aws-s3), against a real S3 server (Ceph RGW), in one run.
 *
 *   npx tsc -b packages/s3 && node bench/s3.mjs     (runs the built packages)
 *
 * Cases, each in its own child process (so its peak RSS is its own), rounds alternating the order:
 *   upload   — one stream of BENCH_S3_BYTES (default 1 GiB) of unknown length
 *   download — the same size, streamed and discarded
 *   put      — BENCH_S3_SMALL (default 1,000) objects of 16 KiB, 16 at a time
 *   get      — the same objects read back, 16 at a time
 * Every side gets the same client settings (path style, WHEN_REQUIRED checksums: what RGW needs)
 * and the same multipart tuning (8 MiB parts, 4 in flight) where it lets us set it, so the ratio
 * measures the library, not a different tuning. storages runs with overwrite: true (a plain put,
 * like the others); overwrite: false adds one HEAD per streamed save and If-None-Match.
 * Reported: median seconds of ≥ 3 rounds, throughput relative to raw (raw time / side time: ≥ 1
 * is as fast or faster), peak RSS. A side that fails a case is reported with its error.
 *
 * Server: STORAGES_TEST_S3_* when set (bench/run.mjs starts RGW), else this script starts RGW itself
 * (scripts/servers/rgw.mjs) and stops it at the end.
 * Knobs: BENCH_S3_BYTES, BENCH_S3_ROUNDS (min 3), BENCH_S3_SMALL, BENCH_S3_SIDES and BENCH_S3_CASES
 * (comma lists), BENCH_S3_PART_SIZE / BENCH_S3_QUEUE_SIZE (multipart tuning, the same for every side).
 * Writes bench/results/s3.json and bench/results/s3.md.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { drain, inParallel, MiB, median, source } from "./harness.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const BIG_BYTES = Number(process.env.BENCH_S3_BYTES ?? 1024 * MiB);
const ROUNDS = Math.max(3, Number(process.env.BENCH_S3_ROUNDS ?? 3));
const SMALL_COUNT = Number(process.env.BENCH_S3_SMALL ?? 1000);
const SMALL_SIZE = 16 * 1024;
const PART_SIZE = Number(process.env.BENCH_S3_PART_SIZE ?? 8 * MiB);
const QUEUE_SIZE = Number(process.env.BENCH_S3_QUEUE_SIZE ?? 4);
const PARALLEL_SMALL = 16;
const ALL_SIDES = ["raw", "storages", "flydrive", "flystorage"];
const SIDES = (process.env.BENCH_S3_SIDES ?? ALL_SIDES.join(",")).split(",").filter(Boolean);
const ALL_CASES = ["upload", "download", "put", "get"];
const CASES = (process.env.BENCH_S3_CASES ?? ALL_CASES.join(",")).split(",").filter(Boolean);
const DOWNLOAD_KEY = "bench/download.bin";
const smallKey = (prefix, i) => `${prefix}/${String(i).padStart(5, "0")}.bin`;

function serverFromEnv() {
  const env = process.env;
  return {
    endpoint: env.STORAGES_TEST_S3_ENDPOINT,
    region: env.STORAGES_TEST_S3_REGION || "us-east-1",
    accessKeyId: env.STORAGES_TEST_S3_ACCESS_KEY_ID,
    secretAccessKey: env.STORAGES_TEST_S3_SECRET_ACCESS_KEY,
    profile: env.STORAGES_TEST_S3_PROFILE || "ceph",
    label: env.STORAGES_TEST_S3_SERVER || env.STORAGES_TEST_S3_ENDPOINT,
  };
}

function clientConfig(server) {
  return {
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  };
}

/** A stream of unknown length: one random 1 MiB buffer over and over (cheap, identical for every side). */

// ---------------------------------------------------------------------------------------------
// The sides: each returns { upload(key, stream), download(key) -> bytes, put(key, buffer), get(key) -> bytes, close() }

async function makeSide(name, server, bucket) {
  const s3 = await import("@aws-sdk/client-s3");
  if (name === "raw") {
    const { Upload } = await import("@aws-sdk/lib-storage");
    const client = new s3.S3Client(clientConfig(server));
    return {
      upload: (Key, Body) =>
        new Upload({
          client,
          params: { Bucket: bucket, Key, Body },
          partSize: PART_SIZE,
          queueSize: QUEUE_SIZE,
        }).done(),
      download: async (Key) =>
        drain((await client.send(new s3.GetObjectCommand({ Bucket: bucket, Key }))).Body),
      put: (Key, Body) =>
        client.send(new s3.PutObjectCommand({ Bucket: bucket, Key, Body, ContentLength: Body.length })),
      get: async (Key) =>
        (
          await (
            await client.send(new s3.GetObjectCommand({ Bucket: bucket, Key }))
          ).Body.transformToByteArray()
        ).length,
      close: () => client.destroy(),
    };
  }
  if (name === "storages") {
    const { s3Storage } = await import("@storages/s3");
    const storage = s3Storage({
      bucket,
      endpoint: server.endpoint,
      region: server.region,
      profile: server.profile,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
      partSize: PART_SIZE,
      queueSize: QUEUE_SIZE,
      overwrite: true,
    });
    return {
      upload: (key, body) => storage.save(key, body),
      download: async (key) => drain(await storage.open(key)),
      put: (key, body) => storage.save(key, body),
      get: async (key) => (await storage.readBytes(key)).length,
      close: () => storage.close(),
    };
  }
  if (name === "flydrive") {
    const { S3Driver } = await import("flydrive/drivers/s3");
    const driver = new S3Driver({
      ...clientConfig(server),
      bucket,
      visibility: "private",
      supportsACL: true,
    });
    return {
      upload: (key, body) => driver.putStream(key, body),
      download: async (key) => drain(await driver.getStream(key)),
      put: (key, body) => driver.put(key, body),
      get: async (key) => (await driver.getBytes(key)).length,
      close: () => {},
    };
  }
  if (name === "flystorage") {
    const { FileStorage } = await import("@flystorage/file-storage");
    const { AwsS3StorageAdapter } = await import("@flystorage/aws-s3");
    const client = new s3.S3Client(clientConfig(server));
    const storage = new FileStorage(
      new AwsS3StorageAdapter(client, {
        bucket,
        prefix: "",
        uploadConfiguration: { partSize: PART_SIZE, queueSize: QUEUE_SIZE },
      }),
    );
    // An explicit type: flystorage otherwise sniffs the first bytes of every body, a cost of its own.
    const options = { mimeType: "application/octet-stream" };
    return {
      upload: (key, body) => storage.write(key, body, options),
      download: async (key) => drain(await storage.read(key)),
      put: (key, body) => storage.write(key, body, options),
      get: async (key) => (await storage.readToBuffer(key)).length,
      close: () => client.destroy(),
    };
  }
  throw new Error(`unknown side ${name}`);
}

async function runChild(sideName, caseName, bucket) {
  const server = serverFromEnv();
  const side = await makeSide(sideName, server, bucket);
  const start = process.hrtime.bigint();
  let bytes = 0;
  if (caseName === "upload") {
    await side.upload(`bench/up-${sideName}.bin`, source(BIG_BYTES));
    bytes = BIG_BYTES;
  } else if (caseName === "download") {
    bytes = await side.download(DOWNLOAD_KEY);
    if (bytes !== BIG_BYTES) throw new Error(`downloaded ${bytes} bytes, expected ${BIG_BYTES}`);
  } else if (caseName === "put") {
    const body = randomBytes(SMALL_SIZE);
    await inParallel(SMALL_COUNT, PARALLEL_SMALL, (i) =>
      side.put(smallKey(`bench/put-${sideName}`, i), body),
    );
    bytes = SMALL_COUNT * SMALL_SIZE;
  } else if (caseName === "get") {
    await inParallel(SMALL_COUNT, PARALLEL_SMALL, async (i) => {
      const n = await side.get(smallKey("bench/get", i));
      if (n !== SMALL_SIZE) throw new Error(`got ${n} bytes, expected ${SMALL_SIZE}`);
    });
    bytes = SMALL_COUNT * SMALL_SIZE;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await side.close();
  return { seconds, bytes, peakRssMB: process.resourceUsage().maxRSS / 1024 };
}

// ---------------------------------------------------------------------------------------------
// Parent

function runInChild(sideName, caseName, bucket) {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [fileURLToPath(import.meta.url), "--child", sideName, caseName, bucket],
      {
        stdio: ["ignore", "pipe", "pipe"],
        env: process.env,
      },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      err += d;
    });
    child.on("exit", (code) => {
      const last = out.trim().split("\n").pop() ?? "";
      try {
        const parsed = JSON.parse(last);
        resolve(code === 0 && !parsed.error ? parsed : { error: parsed.error ?? `exit ${code}` });
      } catch {
        resolve({
          error: (
            err
              .trim()
              .split("\n")
              .find((l) => /Error|error/.test(l)) ?? `exit ${code}`
          ).slice(0, 200),
        });
      }
    });
  });
}

async function clearPrefix(client, s3, bucket, prefix) {
  let token;
  do {
    const page = await client.send(
      new s3.ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    const objects = (page.Contents ?? []).map((o) => ({ Key: o.Key }));
    if (objects.length)
      await client.send(
        new s3.DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objects, Quiet: true } }),
      );
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  const uploads = await client.send(new s3.ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
  for (const u of uploads.Uploads ?? []) {
    await client.send(
      new s3.AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }),
    );
  }
}

async function parent() {
  let stopServer;
  if (!process.env.STORAGES_TEST_S3_ENDPOINT) {
    const rgw = await import("../scripts/servers/rgw.mjs");
    const workDir = join(tmpdir(), `storages-bench-rgw-${process.pid}`);
    console.error(`starting Ceph RGW in ${workDir}…`);
    const { env } = await rgw.start({ workDir });
    Object.assign(process.env, env);
    stopServer = () => rgw.stop({ workDir });
  }
  const server = serverFromEnv();
  const s3 = await import("@aws-sdk/client-s3");
  const { Upload } = await import("@aws-sdk/lib-storage");
  const admin = new s3.S3Client(clientConfig(server));
  const bucket = `storages-bench-${randomBytes(4).toString("hex")}`;
  const results = {}; // results[case][side] = [{seconds, peakRssMB} | {error}]
  try {
    await admin.send(new s3.CreateBucketCommand({ Bucket: bucket }));
    if (CASES.includes("download")) {
      console.error(`preparing: ${BIG_BYTES} bytes to download…`);
      await new Upload({
        client: admin,
        params: { Bucket: bucket, Key: DOWNLOAD_KEY, Body: source(BIG_BYTES) },
        partSize: PART_SIZE,
      }).done();
    }
    if (CASES.includes("get")) {
      console.error(`preparing: ${SMALL_COUNT} small objects to get…`);
      const small = randomBytes(SMALL_SIZE);
      await inParallel(SMALL_COUNT, PARALLEL_SMALL, (i) =>
        admin.send(new s3.PutObjectCommand({ Bucket: bucket, Key: smallKey("bench/get", i), Body: small })),
      );
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const caseName of CASES) {
        // Rotate who goes first, so no side always meets a cold (or warm) server.
        const order = SIDES.map((_, i) => SIDES[(i + round) % SIDES.length]);
        for (const side of order) {
          const result = await runInChild(side, caseName, bucket);
          results[caseName] ??= {};
          results[caseName][side] ??= [];
          results[caseName][side].push(result);
          const shown = result.error
            ? `FAILED: ${result.error}`
            : `${result.seconds.toFixed(2)} s, ${result.peakRssMB.toFixed(0)} MB`;
          console.error(`round ${round + 1}/${ROUNDS} ${caseName.padEnd(8)} ${side.padEnd(10)} ${shown}`);
          // What a case wrote is removed outside the timing, so every round starts alike.
          if (caseName === "upload") await clearPrefix(admin, s3, bucket, `bench/up-${side}`);
          if (caseName === "put") await clearPrefix(admin, s3, bucket, `bench/put-${side}/`);
        }
      }
    }
  } finally {
    await clearPrefix(admin, s3, bucket, "").catch(() => {});
    await admin.send(new s3.DeleteBucketCommand({ Bucket: bucket })).catch(() => {});
    admin.destroy();
    await stopServer?.();
  }

  const table = [];
  const summary = {};
  for (const caseName of CASES) {
    const raw = results[caseName]?.raw?.filter((r) => !r.error) ?? [];
    const rawSeconds = raw.length ? median(raw.map((r) => r.seconds)) : undefined;
    for (const side of SIDES) {
      const runs = results[caseName]?.[side] ?? [];
      const ok = runs.filter((r) => !r.error);
      const failed = runs.find((r) => r.error);
      if (ok.length < runs.length || ok.length === 0) {
        table.push({ case: caseName, side, error: failed?.error ?? "no run" });
        continue;
      }
      const seconds = median(ok.map((r) => r.seconds));
      const bytes = ok[0].bytes;
      const row = {
        case: caseName,
        side,
        seconds,
        mbPerSecond: bytes / MiB / seconds,
        throughputVsRaw: rawSeconds ? rawSeconds / seconds : undefined,
        peakRssMB: Math.max(...ok.map((r) => r.peakRssMB)),
        runs: ok.map((r) => r.seconds),
      };
      table.push(row);
      if (side === "storages") summary[caseName] = row.throughputVsRaw;
    }
  }
  const sizeLabel =
    BIG_BYTES >= 1024 * MiB
      ? `${(BIG_BYTES / 1024 / MiB).toFixed(BIG_BYTES % (1024 * MiB) ? 2 : 0)} GiB`
      : `${(BIG_BYTES / MiB).toFixed(0)} MiB`;
  const caseLabel = {
    upload: `upload ${sizeLabel} stream`,
    download: `download ${sizeLabel} stream`,
    put: `put ${SMALL_COUNT} × 16 KiB`,
    get: `get ${SMALL_COUNT} × 16 KiB`,
  };
  const lines = [
    `S3 on ${server.label} — medians of ${ROUNDS} rounds; throughput vs raw = raw time / side time (≥ 1: as fast or faster); peak RSS of the whole child process.`,
    "",
    "| case | side | median s | MB/s | throughput vs raw | peak RSS MB |",
    "|---|---|---:|---:|---:|---:|",
    ...table.map((row) =>
      row.error
        ? `| ${caseLabel[row.case]} | ${row.side} | failed: ${row.error.replace(/\|/g, "/")} | | | |`
        : `| ${caseLabel[row.case]} | ${row.side} | ${row.seconds.toFixed(2)} | ${row.mbPerSecond.toFixed(1)} | ${row.throughputVsRaw?.toFixed(2) ?? "–"}× | ${row.peakRssMB.toFixed(0)} |`,
    ),
  ];
  const markdown = `${lines.join("\n")}\n`;
  const summaryText = Object.entries(summary)
    .map(([c, ratio]) => `${caseLabel[c]} ${ratio?.toFixed(2) ?? "–"}× raw`)
    .join(", ");
  mkdirSync(join(HERE, "results"), { recursive: true });
  writeFileSync(
    join(HERE, "results", "s3.json"),
    `${JSON.stringify(
      {
        server: server.label,
        date: new Date().toISOString(),
        node: process.version,
        settings: {
          bigBytes: BIG_BYTES,
          rounds: ROUNDS,
          smallCount: SMALL_COUNT,
          smallSize: SMALL_SIZE,
          partSize: PART_SIZE,
          queueSize: QUEUE_SIZE,
          parallelSmall: PARALLEL_SMALL,
        },
        summary: `storages throughput vs raw SDK: ${summaryText}`,
        rows: table,
      },
      null,
      2,
    )}\n`,
  );
  writeFileSync(join(HERE, "results", "s3.md"), markdown);
  console.log(markdown);
}

if (process.argv[2] === "--child") {
  const [, , , sideName, caseName, bucket] = process.argv;
  try {
    console.log(JSON.stringify(await runChild(sideName, caseName, bucket)));
    process.exit(0);
  } catch (error) {
    console.log(
      JSON.stringify({
        error: `${error?.name ?? "Error"}: ${String(error?.message ?? error)
          .split("\n")[0]
          .slice(0, 160)}`,
      }),
    );
    process.exit(1);
  }
} else {
  await parent();
}
