/**
 * The built `storages` command against Ceph RGW, as a script would run it:
 *
 * - `storages copy` killed with SIGKILL at random points of its work 10 times, then run to the end: `verify`
 *   finds zero differences (content hashes compared), no extra or partial object, and the runs
 *   together copied each file about once (a resumed run does only what is left).
 * - 4 `storages copy --shard K/4` workers at once, no coordinator: together they copy every file
 *   exactly once, and `verify` of the whole finds zero differences.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { MigrationResult } from "@storages/migrate";
import { afterAll, describe, expect, it } from "vitest";
import { type NamedStorage, namedStorage, open } from "./migrate/backends.js";

const BIN = join(import.meta.dirname, "..", "packages", "cli", "bin", "storages.js");

const created: NamedStorage[] = [];
afterAll(async () => {
  await Promise.allSettled(created.map((n) => n.cleanup()));
});

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI; with `killAfterCopied`, SIGKILLs it once it reports (with --verbose) that many
 * files copied in this run — a moment in the middle of the work, whatever the machine's speed.
 */
function storages(args: string[], env: Record<string, string>, killAfterCopied?: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...env, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr!.on("data", (chunk) => {
      stderr += chunk;
      if (killAfterCopied !== undefined && count(stderr, COPIED) >= killAfterCopied) child.kill("SIGKILL");
    });
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Under --json, each --verbose note is a JSON line on stderr: one per file copied. */
const COPIED = '{"debug":{"message":"copied ';

function count(text: string, needle: string): number {
  let n = 0;
  for (let at = text.indexOf(needle); at !== -1; at = text.indexOf(needle, at + needle.length)) n++;
  return n;
}

/** A source of `count` small files and a few large ones (multipart uploads on S3). */
async function seed(
  count: number,
  large: number,
): Promise<{ src: NamedStorage; files: number; bytes: number }> {
  const src = await namedStorage("fs", "src");
  created.push(src);
  const [storage] = await open(src);
  let bytes = 0;
  const names: Array<[string, Buffer]> = [];
  for (let i = 0; i < count; i++)
    names.push([`dir${i % 9}/file-${i}.dat`, randomBytes(1000 + ((i * 7919) % 30_000))]);
  for (let i = 0; i < large; i++) names.push([`large/part-${i}.bin`, randomBytes(6 * 1024 * 1024 + i)]);
  for (let i = 0; i < names.length; i += 16) {
    await Promise.all(
      names.slice(i, i + 16).map(([name, body]) => {
        bytes += body.length;
        return storage!.save(name, body, { overwrite: true, metadata: { seq: String(i) } });
      }),
    );
  }
  await storage!.close();
  return { src, files: names.length, bytes };
}

function result(run: Run): MigrationResult {
  try {
    return JSON.parse(run.stdout) as MigrationResult;
  } catch {
    throw new Error(`not one JSON document (exit ${run.code}): ${run.stdout}\n${run.stderr}`);
  }
}

describe("storages copy on RGW", () => {
  it("killed with SIGKILL 10 times and resumed ends with verify at zero differences", async () => {
    const { src, files, bytes } = await seed(400, 5);
    const dst = await namedStorage("s3", "dst");
    created.push(dst);
    const env = { ...src.env, ...dst.env };
    const kills: string[] = [];
    let killed = 0;
    let left = files;
    for (let i = 0; i < 10; i++) {
      // Not seeded on purpose: each run of the suite kills at other moments (printed on failure).
      // Between 1 file and a third of what is left, so every run has work left to be killed in.
      const after = 1 + Math.floor(Math.random() * Math.max(1, left / 3));
      const run = await storages(
        ["copy", "--json", "--verbose", "--concurrency", "8", "src:", "dst:"],
        env,
        after,
      );
      const copied = count(run.stderr, COPIED);
      kills.push(`${after}→${copied}`);
      left -= copied;
      if (run.signal === "SIGKILL") killed++;
      // Finished before the kill: everything was copied already (then later runs copy nothing).
      else expect(run.code, `${run.stderr} (kills after ${kills.join(", ")} files)`).toBe(0);
    }
    const last = await storages(["copy", "--json", "src:", "dst:"], env);
    expect(last.code, last.stderr).toBe(0);
    const final = result(last);
    expect(final.failed.files).toBe(0);
    // A resumed run does only what is left: the final one copies fewer files than there are.
    expect(final.copied.files + final.equal.files).toBe(files);
    expect(final.copied.files, `kills after ${kills.join(", ")} files`).toBeLessThan(files);

    const check = await storages(["verify", "--json", "src:", "dst:"], env);
    expect(check.code, check.stderr).toBe(0);
    const verified = result(check);
    expect(verified).toMatchObject({
      ok: true,
      equal: { files, bytes },
      missing: { files: 0 },
      different: { files: 0 },
      extra: { files: 0 },
    });
    // No partial or temporary object is visible: the bucket holds exactly the source's names.
    const [storage] = await open(dst);
    let listed = 0;
    for await (const entry of storage!.list("", { recursive: true })) if (entry.type === "file") listed++;
    expect(listed).toBe(files);
    await storage!.close();
    // The kills did land in the middle of runs (a test that never killed anything proves nothing).
    expect(killed, `kills after ${kills.join(", ")} files`).toBeGreaterThanOrEqual(8);
  });

  it("4 shard workers at once copy every file once, and verify finds zero differences", async () => {
    const { src, files } = await seed(200, 0);
    const dst = await namedStorage("s3", "dst");
    created.push(dst);
    const env = { ...src.env, ...dst.env };
    const runs = await Promise.all(
      [1, 2, 3, 4].map((k) => storages(["copy", "--json", "--shard", `${k}/4`, "src:", "dst:"], env)),
    );
    const copied = runs.map((run) => {
      expect(run.code, run.stderr).toBe(0);
      return result(run).copied.files;
    });
    expect(copied.reduce((a, b) => a + b, 0)).toBe(files);
    for (const n of copied) expect(n).toBeGreaterThan(files / 8);
    const check = await storages(["verify", "--json", "src:", "dst:"], env);
    expect(check.code, check.stderr).toBe(0);
    expect(result(check)).toMatchObject({
      ok: true,
      equal: { files },
      missing: { files: 0 },
      different: { files: 0 },
    });
    // A missing file is exit 1, for scripts.
    const [storage] = await open(dst);
    await storage!.delete("dir0/file-0.dat");
    await storage!.close();
    const broken = await storages(["verify", "--json", "src:", "dst:"], env);
    expect(broken.code).toBe(1);
    expect(result(broken)).toMatchObject({
      ok: false,
      missing: { files: 1 },
      samples: { missing: ["dir0/file-0.dat"] },
    });
  });
});
