/**
 * The concurrency soak: W workers, each running N mixed operations against the real server while
 * the fault proxy injects random transient faults. Each worker owns a folder and keeps a model of
 * what it holds; all of them also save the same name without overwrite, at once. At the end,
 * with the faults off, everything acknowledged must be there with its bytes, every listing must
 * have matched the model, and no connection or handle may be left open after close().
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { type RetryOptions, type Storage, StorageError } from "@storages/core";
import pLimit from "p-limit";
import { listAllNames } from "../context.js";
import { randomBytes } from "../helpers.js";
import { type ChaosOptions, type FaultProxy, seededRandom } from "./proxy.js";
import type { SoakFigures } from "./tally.js";

export interface SoakOptions {
  /** Default 16, or STORAGES_TEST_SOAK_WORKERS. */
  workers?: number | undefined;
  /** Operations per worker. Default 500, or STORAGES_TEST_SOAK_OPERATIONS. */
  operations?: number | undefined;
  /** Share of requests that get a random fault. Default 0.03. */
  faultRate?: number | undefined;
  seed?: number | undefined;
  /** Every worker also saves one shared name without overwrite (needs create-exclusive writes). Default true. */
  sharedName?: boolean | undefined;
  /** Unfinished uploads left (service API), checked at the end. */
  leftovers?: (() => Promise<string[]>) | undefined;
}

export interface SoakResult {
  figures: SoakFigures;
  /** Every loss found: acknowledged writes missing or different, wrong reads, inconsistent listings. */
  lost: string[];
  /** Operations that met a fault and still succeeded. */
  recovered: number;
}

const DEFAULT_WORKERS = 16;
/**
 * 16 workers × 500 operations, in every `npm test`: 27–36 s per backend on a quiet 2-core CI
 * machine (docs/reliability.md has the last run's times); STORAGES_TEST_SOAK_OPERATIONS sizes it
 * down for a quick local run or up for a longer soak.
 */
const DEFAULT_OPERATIONS = 500;

/** Transient faults only: ones a retry can cure, and mid-body cuts of downloads (a read must then fail). */
export const SOAK_FAULTS: ChaosOptions["faults"] = [
  { fault: { type: "status", status: 503 } },
  { fault: { type: "status", status: 500 } },
  { fault: { type: "reset" } },
  { fault: { type: "latency", ms: 40 } },
  { fault: { type: "resetDownload", afterBytes: 16 }, kind: "download" },
  { fault: { type: "truncate", afterBytes: 16 }, kind: "download" },
];

function envNumber(name: string): number | undefined {
  const value = process.env[name];
  if (value === undefined || value === "") return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${value}.`);
  return n;
}

/** Sockets and file handles the process holds (what a leak would grow). */
export function openHandles(): number {
  return process
    .getActiveResourcesInfo()
    .filter((type) => type === "TCPSocketWrap" || type === "FileHandle" || type === "PipeWrap").length;
}

const sha = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

export async function runSoak(
  storage: Storage,
  proxy: FaultProxy,
  options: SoakOptions = {},
): Promise<SoakResult> {
  const workers = options.workers ?? envNumber("STORAGES_TEST_SOAK_WORKERS") ?? DEFAULT_WORKERS;
  const operations = options.operations ?? envNumber("STORAGES_TEST_SOAK_OPERATIONS") ?? DEFAULT_OPERATIONS;
  const lost: string[] = [];
  let recovered = 0;
  let failedCleanly = 0;
  const injectedBefore = proxy.stats.injected;
  proxy.releaseUpstream();
  const handlesBefore = openHandles();
  const random = seededRandom(options.seed ?? 7);
  /** Acknowledged saves of the shared name, by the name each got. */
  const shared = new Map<string, string>();

  /** Runs one operation under a per-call retry hook: success after a retry counts as recovered. */
  async function op<T>(
    call: (retry: RetryOptions) => Promise<T>,
  ): Promise<{ ok: true; value: T } | { ok: false }> {
    let retried = false;
    const retry: RetryOptions = {
      attempts: 6,
      baseDelay: 5,
      maxDelay: 100,
      budget: 30_000,
      onRetry: () => {
        retried = true;
      },
    };
    try {
      const value = await call(retry);
      if (retried) recovered += 1;
      return { ok: true, value };
    } catch (error) {
      if (!StorageError.isInstance(error) && !(error instanceof Error)) throw error;
      failedCleanly += 1;
      return { ok: false };
    }
  }

  async function worker(w: number): Promise<void> {
    const dir = `w${String(w).padStart(2, "0")}`;
    const model = new Map<string, string>(); // name → sha256 of its bytes
    const names = () => [...model.keys()];
    const pick = () => names()[Math.floor(random() * model.size)];
    for (let i = 0; i < operations; i++) {
      const roll = random();
      const bytes = randomBytes(Math.floor(random() * 4096));
      if (roll < 0.22 || model.size === 0) {
        // A new file, create-exclusive: a taken name gets a suffix, the answer says which.
        const asStream = random() < 0.3;
        const result = await op((retry) =>
          storage.save(
            `${dir}/f${Math.floor(random() * 20)}.bin`,
            asStream ? Readable.from([bytes]) : bytes,
            { retry },
          ),
        );
        if (result.ok) model.set(result.value.name, sha(bytes));
      } else if (roll < 0.32) {
        const target = pick()!;
        const result = await op((retry) => storage.save(target, bytes, { overwrite: true, retry }));
        if (result.ok) model.set(target, sha(bytes));
      } else if (roll < 0.5) {
        const target = pick()!;
        const result = await op((retry) => storage.readBytes(target, { retry }));
        if (result.ok && sha(result.value) !== model.get(target))
          lost.push(`${target}: read ${result.value.length} bytes that are not what was saved`);
      } else if (roll < 0.6) {
        const target = pick()!;
        const result = await op((retry) => storage.stat(target, { retry }));
        if (result.ok && result.value.name !== target)
          lost.push(`${target}: stat names ${result.value.name}`);
      } else if (roll < 0.7) {
        const result = await op(async (retry) => {
          const found: string[] = [];
          for await (const entry of storage.list(`${dir}/`, { recursive: true, retry }))
            found.push(entry.name);
          return found.sort();
        });
        const expected = names().sort();
        if (result.ok && JSON.stringify(result.value) !== JSON.stringify(expected))
          lost.push(`${dir}: listing ${JSON.stringify(result.value)} is not ${JSON.stringify(expected)}`);
      } else if (roll < 0.8) {
        const target = pick()!;
        const result = await op((retry) => storage.delete(target, { retry }));
        if (result.ok) model.delete(target);
      } else if (roll < 0.88) {
        const from = pick()!;
        const to = `${dir}/copy-${i}.bin`;
        const result = await op((retry) => storage.copy(from, to, { retry }));
        if (result.ok) model.set(to, model.get(from)!);
      } else if (roll < 0.94) {
        const result = await op((retry) => storage.exists(pick()!, { retry }));
        if (result.ok && result.value !== true) lost.push(`${dir}: a saved file does not exist`);
      } else if (options.sharedName !== false) {
        // Every worker saves the same name without overwrite: no two may get the same one.
        const result = await op((retry) => storage.save("shared/same.bin", bytes, { retry }));
        if (result.ok) {
          if (shared.has(result.value.name)) lost.push(`shared: two saves both got ${result.value.name}`);
          shared.set(result.value.name, sha(bytes));
        }
      }
    }
    // The faults are still on for the others: check this folder once they are off (below).
    models.set(dir, model);
  }

  const models = new Map<string, Map<string, string>>();
  proxy.chaos({ rate: options.faultRate ?? 0.03, faults: SOAK_FAULTS, seed: options.seed ?? 7 });
  const started = Date.now();
  try {
    await Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
  } finally {
    proxy.chaos(undefined);
  }
  const seconds = (Date.now() - started) / 1000;

  // Faults off: everything acknowledged is there, with its bytes, and nothing else is.
  const expected = new Map<string, string>(shared);
  for (const model of models.values()) for (const [name, digest] of model) expected.set(name, digest);
  const listed = await listAllNames(storage);
  const listedNames = new Set(listed);
  const missing = [...expected.keys()].filter((name) => !listedNames.has(name));
  const extra = listed.filter((name) => !expected.has(name));
  for (const name of missing) lost.push(`${name}: acknowledged, but not listed`);
  for (const name of extra) lost.push(`${name}: listed, but never acknowledged (a partial or ghost object)`);
  const limit = pLimit(workers);
  await Promise.all(
    [...expected].map(([name, digest]) =>
      limit(async () => {
        if (!listedNames.has(name)) return;
        const bytes = await storage.readBytes(name);
        if (sha(bytes) !== digest) lost.push(`${name}: holds other bytes than the last acknowledged save`);
      }),
    ),
  );
  for (const left of (await options.leftovers?.()) ?? []) lost.push(`${left}: unfinished upload left behind`);

  await storage.close();
  // The server closes idle keep-alive connections after 5 s: one still open after that is stuck.
  const until = Date.now() + 7_000;
  while (proxy.openConnections > 0 && Date.now() < until) await sleep(100);
  proxy.releaseUpstream();
  return {
    lost,
    recovered,
    figures: {
      workers,
      operationsPerWorker: operations,
      operations: workers * operations,
      seconds,
      failedCleanly,
      faultsInjected: proxy.stats.injected - injectedBefore,
      socketsLeft: proxy.openConnections,
      socketsLeftDoing: proxy.describeOpenConnections(),
      handlesBefore,
      handlesAfter: openHandles(),
    },
  };
}
