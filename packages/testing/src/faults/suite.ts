/**
 * `describeFaults`: a driver against its real server through the fault proxy. What must hold:
 * transient faults are retried within the budget (by the storage's one retry policy, never
 * multiplied by an SDK's), timeouts fire and clean up, a failed or aborted upload leaves no visible
 * partial object and no unfinished upload (listed through the service's own API), a read that
 * breaks mid-body ends in an error (never a short "successful" read), no credential appears in an
 * error, a log line or describe(), and 16 concurrent workers lose nothing.
 *
 * This namespace sets the suite up (the proxy, the storages, the retry policy, cleanup and the
 * reliability report) and runs its groups, each in its own module: suite-transient.ts,
 * suite-uploads.ts, suite-downloads.ts, suite-timeouts.ts, suite-secrets.ts; the soak is
 * soak.ts. suite-context.ts holds the options and what the groups share.
 */

import { setTimeout as sleep } from "node:timers/promises";
import { type RetryEvent, type RetryOptions, Storage, type StorageOptions } from "@storages/core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { emptyStorage, listAllNames } from "../context.js";
import { randomBytes } from "../helpers.js";
import { FaultProxy, type FaultRule } from "./proxy.js";
import { runSoak } from "./soak.js";
import { type FaultSuiteContext, type FaultSuiteOptions, outcome } from "./suite-context.js";
import { describeCutDownloads } from "./suite-downloads.js";
import { describeNoSecretLeaks } from "./suite-secrets.js";
import { describeStallsAndTimeouts } from "./suite-timeouts.js";
import { describeTransientFaults } from "./suite-transient.js";
import { bodyMayExceed, describeCutUploads } from "./suite-uploads.js";
import { Tally } from "./tally.js";

// The public names, exported from this module as before the split (index.ts re-exports them).
export type { FaultSuiteOptions } from "./suite-context.js";
export { expectNoSecretIn, printedForms } from "./suite-secrets.js";
export { bodyMayExceed };

export function describeFaults(options: FaultSuiteOptions): void {
  describe(`${options.name} under faults, through a fault proxy to ${options.server}`, () => {
    const tally = new Tally();
    const created: Storage[] = [];
    const retries: RetryEvent[] = [];
    const policy: RetryOptions = {
      attempts: 4,
      baseDelay: 5,
      maxDelay: 50,
      budget: 20_000,
      onRetry: (event) => retries.push(event),
    };
    const runId = randomBytes(4).toString("hex");
    let counter = 0;
    let proxy: FaultProxy;
    let s: Storage;
    let mainPrefix: string;

    const nextPrefix = () => `faults-${runId}-${String(++counter).padStart(3, "0")}`;
    async function fresh(storageOptions: StorageOptions = {}): Promise<{ storage: Storage; prefix: string }> {
      const prefix = nextPrefix();
      const driver = await options.createDriver({ endpoint: proxy.url, prefix });
      const storage = new Storage(driver, { overwrite: false, retry: policy, ...storageOptions });
      created.push(storage);
      return { storage, prefix };
    }
    const name = (dir: string, suffix = ".bin") =>
      `${dir}/${++counter}-${randomBytes(3).toString("hex")}${suffix}`;

    /** No unfinished upload under the storage's prefix, as the service itself lists them. */
    async function expectNoLeftovers(prefix: string): Promise<void> {
      if (!options.leftovers) return;
      const left = await options.leftovers(prefix);
      tally.lost += left.length;
      expect(left, "unfinished uploads left behind").toEqual([]);
    }
    /** Nothing visible under `dir` (no partial or temporary object). */
    async function expectNothingVisible(storage: Storage, dir: string): Promise<void> {
      const visible = await listAllNames(storage, `${dir}/`);
      tally.lost += visible.length;
      expect(visible, "a partial object is visible").toEqual([]);
    }

    beforeAll(async () => {
      proxy = await FaultProxy.start({ upstream: options.upstream, dialect: options.dialect });
      ({ storage: s, prefix: mainPrefix } = await fresh());
      if (!options.leftovers)
        tally.notVerifiable.push(`unfinished uploads: ${options.leftoversGap ?? "no way to list them"}`);
      if (!options.badCredentials)
        tally.notVerifiable.push(`bad credentials: ${options.badCredentialsGap ?? "not given"}`);
      if (options.conditionalWriteGap)
        tally.notVerifiable.push(`concurrent saves of one name (soak): ${options.conditionalWriteGap}`);
    });

    afterEach(() => {
      proxy.clear();
    });

    afterAll(async () => {
      proxy.clear();
      const problems: string[] = [];
      for (const storage of created) {
        try {
          await emptyStorage(storage);
        } catch (error) {
          problems.push(`cleanup failed: ${(error as Error).message}`);
        }
        await storage.close().catch(() => undefined);
      }
      const dir = process.env.STORAGES_TEST_RELIABILITY;
      if (dir) {
        tally.write(dir, {
          backend: options.name,
          server: options.server,
          injected: proxy.stats.injected,
          byType: { ...proxy.stats.byType } as Record<string, number>,
        });
      }
      await proxy.close();
      await options.teardown?.();
      if (problems.length > 0) throw new Error(problems.join("; "));
    }, 120_000);

    /** A connection whose answer the proxy stalled is closed by the client soon after it gives up. */
    async function expectNoStalledConnection(what: string): Promise<void> {
      const stalled = () => proxy.describeOpenConnections().filter((c) => c.includes("[stall]"));
      const until = Date.now() + 3_000;
      while (stalled().length > 0 && Date.now() < until) await sleep(50);
      expect(stalled(), `connections of ${what}, still open 3 s after it gave up`).toEqual([]);
    }

    /** Runs `call` with `rule` in force; returns its outcome, the faults injected and the retries made. */
    async function underFault<T>(rule: FaultRule, call: () => Promise<T>) {
      const handle = proxy.inject(rule);
      const before = retries.length;
      const result = await outcome(call());
      handle.remove();
      return { result, injected: handle.injected, retries: retries.length - before };
    }

    const ctx: FaultSuiteContext = {
      options,
      tally,
      retries,
      get proxy() {
        return proxy;
      },
      get s() {
        return s;
      },
      nextPrefix,
      fresh,
      name,
      expectNoLeftovers,
      expectNothingVisible,
      expectNoStalledConnection,
      underFault,
    };

    describeTransientFaults(ctx);
    describeCutUploads(ctx);
    describeCutDownloads(ctx);
    describeStallsAndTimeouts(ctx);
    describeNoSecretLeaks(ctx);

    // -----------------------------------------------------------------------------------------
    describe("a concurrency soak", () => {
      it("16 workers of mixed operations under random faults: nothing lost, listings consistent, no socket left open", async () => {
        const { storage, prefix } = await fresh();
        const figures = await runSoak(storage, proxy, {
          ...options.soak,
          sharedName: options.conditionalWriteGap === undefined,
          leftovers: options.leftovers && (() => options.leftovers!(prefix)),
        });
        tally.soak = figures.figures;
        tally.lost += figures.lost.length;
        tally.failedCleanly += figures.figures.failedCleanly;
        tally.recovered += figures.recovered;
        expect(figures.lost, "writes lost, reads wrong, listings inconsistent").toEqual([]);
        expect(figures.figures.socketsLeftDoing, "driver connections left open after close()").toEqual([]);
        expect(
          figures.figures.handlesAfter,
          "process handles after close() (before the soak: handlesBefore)",
        ).toBeLessThanOrEqual(figures.figures.handlesBefore);
      }, 180_000);
    });

    it("leaves nothing behind in its main storage", async () => {
      void mainPrefix;
      await expectNoLeftovers(mainPrefix);
    });
  });
}
