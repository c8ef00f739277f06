#!/usr/bin/env node
/**
 * Throughput of serveStatic() (with its memory cache, and without: from disk like the peers) vs
 * sirv, serve-static and @fastify/static, with autocannon, serving
 * the same collectstatic output (a small hashed CSS file, ~460 B like the nginx reference, and a
 * 60 KB JS file with a .br sibling requested with Accept-Encoding: br).
 *
 *   node bench/static-serve.mjs            BENCH_SERVE_SECONDS=5 BENCH_SERVE_ROUNDS=3
 *
 * Each server runs in its own child process (one core's worth of event loop); autocannon runs in
 * this one, 64 connections. Cases alternate round by round; medians of requests/s, as ratios to
 * ours. Writes bench/results/static-serve.md.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { median } from "./harness.mjs";

// "from disk": the same helper with its memory cache off, reading each request from the folder as
// the peers do (the default keeps small hashed files in memory after their first request).
const KINDS = [
  "storages serveStatic",
  "storages serveStatic, from disk",
  "sirv",
  "serve-static",
  "@fastify/static",
];

async function serve(kind, root, manifestPath) {
  const { readManifest, staticRequestListener } = await import("@storages/staticfiles");
  let server;
  if (kind.startsWith("storages serveStatic")) {
    const manifest = await readManifest(manifestPath);
    const memoryCache = kind.endsWith("from disk") ? false : undefined;
    server = createServer(staticRequestListener(root, { manifest, memoryCache }));
  } else if (kind === "sirv") {
    const sirv = (await import("sirv")).default;
    const handler = sirv(root, { brotli: true, gzip: true, etag: true, immutable: true, maxAge: 31536000 });
    server = createServer((req, res) => handler(req, res, () => res.writeHead(404).end()));
  } else if (kind === "serve-static") {
    const serveStatic = (await import("serve-static")).default;
    const handler = serveStatic(root, { immutable: true, maxAge: "1y", index: false });
    server = createServer((req, res) => handler(req, res, () => res.writeHead(404).end()));
  } else {
    const Fastify = (await import("fastify")).default;
    const app = Fastify();
    await app.register((await import("@fastify/static")).default, {
      root,
      preCompressed: true,
      immutable: true,
      maxAge: "1y",
      index: false,
    });
    await app.listen({ port: 0, host: "127.0.0.1" });
    console.log(JSON.stringify({ port: app.server.address().port }));
    return;
  }
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  console.log(JSON.stringify({ port: server.address().port }));
}

if (process.argv[2] === "--serve") {
  await serve(process.argv[3], process.argv[4], process.argv[5]);
} else {
  const autocannon = (await import("autocannon")).default;
  const { collectStatic } = await import("@storages/staticfiles");
  const { fsStorage } = await import("@storages/fs");
  const seconds = Number(process.env.BENCH_SERVE_SECONDS ?? 5);
  const rounds = Number(process.env.BENCH_SERVE_ROUNDS ?? 3);
  const dir = await mkdtemp(join(tmpdir(), "storages-serve-bench-"));
  const src = join(dir, "src");
  const { mkdir } = await import("node:fs/promises");
  await mkdir(join(src, "css"), { recursive: true });
  await mkdir(join(src, "js"), { recursive: true });
  await writeFile(
    join(src, "css/app.css"),
    `body{margin:0;font:16px/1.5 system-ui}${".c{color:#123456}".repeat(24)}`,
  );
  const words = Array.from({ length: 6000 }, (_, i) => `w${(i * 7919) % 1000}`).join(" ");
  await writeFile(join(src, "js/app.js"), `console.log(${JSON.stringify(words)});\n`.repeat(2));
  const root = join(dir, "out");
  const target = fsStorage({ root, records: false });
  const { manifest } = await collectStatic({
    sources: [{ dir: src }],
    target,
    cwd: dir,
    manifestOut: join(dir, "staticfiles.json"),
  });
  await target.close();
  const css = `/${manifest.files["css/app.css"].name}`;
  const js = `/${manifest.files["js/app.js"].name}`;
  const results = Object.fromEntries(KINDS.map((k) => [k, { css: [], js: [] }]));
  for (let round = 0; round < rounds; round++) {
    for (const kind of KINDS.map((_, i) => KINDS[(i + round) % KINDS.length])) {
      const child = spawn(
        process.execPath,
        [import.meta.filename, "--serve", kind, root, join(dir, "staticfiles.json")],
        {
          stdio: ["ignore", "pipe", "inherit"],
        },
      );
      const [line] = await once(child.stdout, "data");
      const { port } = JSON.parse(String(line));
      for (const [what, path, headers] of [
        ["css", css, {}],
        ["js", js, { "accept-encoding": "br" }],
      ]) {
        const url = `http://127.0.0.1:${port}${path}`;
        const check = await fetch(url, { headers });
        if (check.status !== 200) throw new Error(`${kind} answered ${check.status} for ${path}`);
        const r = await autocannon({ url, connections: 64, duration: seconds, headers });
        if (r.non2xx > 0 || r.errors > 0) throw new Error(`${kind}: ${r.non2xx} non-2xx, ${r.errors} errors`);
        results[kind][what].push(r.requests.average);
        console.error(
          `round ${round + 1}: ${kind} ${what}: ${r.requests.average.toFixed(0)} req/s (${check.headers.get("content-encoding") ?? "identity"})`,
        );
      }
      child.kill();
      await once(child, "exit");
    }
  }
  await rm(dir, { recursive: true, force: true });
  const med = (kind, what) => median(results[kind][what]);
  const ratio = (ours, kind, what) => (med(ours, what) / med(kind, what)).toFixed(2);
  const [cached, disk] = KINDS;
  const lines = [
    `serving, ${new Date().toISOString()}, ${rounds} rounds × ${seconds} s, 64 connections, Node ${process.version}`,
    "",
    "Ratios: requests/s of ours (memory cache on, the default; and off, every request read from disk) over the server's.",
    "",
    "| server | hashed CSS (req/s) | ours / them | ours from disk / them | JS, Accept-Encoding: br (req/s) | ours / them | ours from disk / them |",
    "|---|---:|---:|---:|---:|---:|---:|",
    ...KINDS.map(
      (k) =>
        `| ${k} | ${med(k, "css").toFixed(0)} | ${ratio(cached, k, "css")} | ${ratio(disk, k, "css")} | ${med(k, "js").toFixed(0)} | ${ratio(cached, k, "js")} | ${ratio(disk, k, "js")} |`,
    ),
  ];
  console.log(lines.join("\n"));
  const { writeFileSync, mkdirSync } = await import("node:fs");
  mkdirSync(join(import.meta.dirname, "results"), { recursive: true });
  writeFileSync(join(import.meta.dirname, "results/static-serve.md"), `${lines.join("\n")}\n`);
}
