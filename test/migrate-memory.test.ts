/**
 * Memory stays flat whatever the number of files: `verify` of two 1,000,000-file listings in a
 * child process with a 64 MiB heap, RSS and heap sampled after a forced GC every 100,000 files.
 * Not timed. A record per file (900,000 names of ~22 characters and their entries) would not fit
 * in that heap, and would show as growth between the samples.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect, it } from "vitest";

const SCRIPT = join(import.meta.dirname, "migrate", "flat-memory.mjs");
const MiB = 1024 * 1024;

it("verify over 1,000,000 files per side keeps heap and RSS flat", { timeout: 180_000 }, async () => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--max-old-space-size=64", "--expose-gc", SCRIPT],
    { cwd: import.meta.dirname, maxBuffer: 1 << 20 },
  );
  const run = JSON.parse(stdout) as {
    equal: number;
    missing: number;
    peakPending: number;
    samples: Array<{ files: number; rss: number; heapUsed: number }>;
  };
  expect(run.equal + run.missing).toBe(1_000_000);
  expect(run.missing).toBe(20);
  expect(run.peakPending).toBeLessThanOrEqual(2_000);
  const first = run.samples[1]!; // 200,000 files: past start-up and warm-up
  const last = run.samples.at(-1)!;
  console.log(
    run.samples
      .map(
        (s) =>
          `${s.files / 1000}k: RSS ${(s.rss / MiB).toFixed(1)} MiB, heap ${(s.heapUsed / MiB).toFixed(1)} MiB`,
      )
      .join("\n"),
  );
  expect(last.files).toBe(1_000_000);
  expect((last.heapUsed - first.heapUsed) / MiB).toBeLessThan(4);
  expect((last.rss - first.rss) / MiB).toBeLessThan(16);
});
