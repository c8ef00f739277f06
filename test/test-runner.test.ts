/**
 * The test runner itself (scripts/test-all.mjs): `npm run test:unit` passes with no server, says
 * what it left for `npm test`, and leaves nothing behind — no process, no temporary file — whether
 * it completes or is interrupted with Ctrl-C.
 *
 * Each run gets a marker variable and a TMPDIR of its own. Every process it starts inherits both, so
 * a leftover shows up in /proc (what `ps` reads: the environment of every process, orphaned or
 * detached ones included) and any temporary file in that folder. Server variables are removed: this
 * is a run on a machine with no server configured.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { processesWithEnv, terminate } from "../scripts/servers/process.mjs";

const ROOT = join(import.meta.dirname, "..");
const RUNNER = join(ROOT, "scripts", "test-all.mjs");
const MARKER = "STORAGES_RUNNER_PROBE";

interface Probe {
  marker: string;
  tmp: string;
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

const probes: Probe[] = [];

/**
 * The runner is the same whatever packages it runs, so these keep this file's share of `npm test`
 * small (it runs beside the server suites, on the same 2 cores; the whole of test:unit is what CI
 * and every developer run anyway): a small suite to run to the end, and a long one to interrupt.
 */
const SMALL = ["--filter=@storages/migrate"];
const LONG = ["--filter=@storages/core"];

async function startRunner(packages: string[]): Promise<Probe> {
  const marker = randomUUID();
  const tmp = await mkdtemp(join(tmpdir(), "runner-probe-"));
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env))
    if (value !== undefined && !key.startsWith("STORAGES_")) env[key] = value;
  Object.assign(env, { [MARKER]: marker, TMPDIR: tmp, CI: "true", NO_COLOR: "1" });
  // Its own process group, so the test can send SIGINT to all of it the way Ctrl-C does.
  const child = spawn(process.execPath, [RUNNER, "--unit", ...packages], {
    cwd: ROOT,
    env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let text = "";
  child.stdout?.on("data", (chunk) => {
    text += chunk;
  });
  child.stderr?.on("data", (chunk) => {
    text += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const probe = { marker, tmp, child, output: () => text, exited };
  probes.push(probe);
  return probe;
}

/** The lines that say what failed, then the end of the output: enough to act on a red run. */
function failureReport(output: string): string {
  const failed = output
    .split("\n")
    .filter((line) => /×|FAIL|Error:|left a process|left temporary/.test(line));
  return `${failed.slice(0, 40).join("\n")}\n…\n${output.slice(-2000)}`;
}

/** What a finished run left: live processes that carry its marker, files in its TMPDIR. */
async function leftovers(probe: Probe): Promise<{ processes: string[]; files: string[] }> {
  const processes = processesWithEnv(MARKER, probe.marker).map((p) => `${p.pid} ${p.command}`);
  return { processes, files: await readdir(probe.tmp) };
}

afterAll(async () => {
  // Whatever happened above, this file leaves nothing either.
  for (const probe of probes) {
    await terminate(processesWithEnv(MARKER, probe.marker).map((p) => p.pid));
    await rm(probe.tmp, { recursive: true, force: true });
  }
});

describe("npm run test:unit", () => {
  it("passes with no server, counts what it left for npm test, and leaves no process or temp file", async () => {
    const probe = await startRunner(SMALL);
    const code = await probe.exited;
    const output = probe.output();
    expect(code, failureReport(output)).toBe(0);
    expect(output).toMatch(/^\d+ passed, 0 failed, \d+ skipped$/m);
    expect(output).toMatch(/Left for `npm test`, which starts the servers: [1-9]\d* server-backed suites/);
    expect(output).not.toMatch(/A test left a process running|Tests left temporary files behind/);
    expect(output).toMatch(/^migrate +\d+/m); // the package asked for ran: its row in the closing table
    expect(await leftovers(probe)).toEqual({ processes: [], files: [] });
  }, 600_000);

  it("interrupted with Ctrl-C, stops everything it started and removes its temp files", async () => {
    const probe = await startRunner(LONG);
    // Interrupt once the tests are under way: vitest has started on a suite that runs for many
    // seconds (waiting for a first finished file would only add time on a busy machine).
    const deadline = Date.now() + 120_000;
    while (!/:test: +RUN +v/.test(probe.output()) && probe.child.exitCode === null && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 100));
    expect(probe.child.exitCode, probe.output().slice(-2000)).toBeNull();
    process.kill(-(probe.child.pid as number), "SIGINT");
    const code = await probe.exited;
    expect(code, failureReport(probe.output())).toBe(130);
    expect(probe.output()).toMatch(/Interrupted \(SIGINT\)/);
    expect(await leftovers(probe)).toEqual({ processes: [], files: [] });
  }, 300_000);
});
