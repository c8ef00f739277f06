/**
 * The transient-fault group of `describeFaults`: a 503, a 500 or a connection reset, twice in a row
 * on each kind of call, is retried by the storage's one policy (the SDK makes no retry of its own);
 * Retry-After is honoured; a persistent fault ends after exactly `attempts` requests, retryable.
 */
import { type RetryEvent, StorageError } from "@storages/core";
import { describe, expect, it } from "vitest";
import { listAllNames } from "../context.js";
import { collect, randomBytes } from "../helpers.js";
import type { RequestKind } from "./proxy.js";
import { type FaultSuiteContext, KiB } from "./suite-context.js";

/** Transient 503s, 500s and resets on every kind of call are retried by the storage, never by an SDK. */
export function describeTransientFaults(ctx: FaultSuiteContext): void {
  const { tally, fresh, name, underFault } = ctx;
  describe("transient faults are retried within the budget", () => {
    type Op = { label: string; kind: RequestKind; run: (file: string) => Promise<unknown> };
    const content = randomBytes(64 * KiB);
    const ops: Op[] = [
      {
        label: "save (bytes)",
        kind: "upload",
        run: async (file) => {
          await ctx.s.save(file, content, { overwrite: true });
          expect(Buffer.compare(await ctx.s.readBytes(file), content)).toBe(0);
        },
      },
      {
        label: "stat",
        kind: "metadata",
        run: async (file) => expect((await ctx.s.stat(file)).size).toBe(content.length),
      },
      { label: "exists", kind: "metadata", run: async (file) => expect(await ctx.s.exists(file)).toBe(true) },
      {
        label: "readBytes",
        kind: "download",
        run: async (file) => expect(Buffer.compare(await ctx.s.readBytes(file), content)).toBe(0),
      },
      {
        label: "open",
        kind: "download",
        run: async (file) => expect(Buffer.compare(await collect(await ctx.s.open(file)), content)).toBe(0),
      },
      {
        label: "list",
        kind: "list",
        run: async (file) => expect(await listAllNames(ctx.s, `${file.split("/")[0]}/`)).toContain(file),
      },
      {
        label: "copy",
        kind: "copy",
        run: async (file) => {
          await ctx.s.copy(file, `${file}.copy`);
          expect((await ctx.s.stat(`${file}.copy`)).size).toBe(content.length);
        },
      },
      {
        label: "delete",
        kind: "delete",
        run: async (file) => {
          await ctx.s.delete(file);
          expect(await ctx.s.exists(file)).toBe(false);
        },
      },
    ];
    const faults = [
      {
        label: "503 (SlowDown / ServerBusy / backendError)",
        fault: { type: "status", status: 503 } as const,
      },
      { label: "500 InternalError", fault: { type: "status", status: 500 } as const },
      { label: "a connection reset before the answer", fault: { type: "reset" } as const },
    ];
    for (const { label, fault } of faults) {
      it(`${label}, twice in a row: every operation succeeds on its third attempt`, async () => {
        const dir = name("transient", "");
        for (const op of ops) {
          const file = `${dir}/${op.label.replace(/\W+/g, "-")}.bin`;
          if (op.kind !== "upload") await ctx.s.save(file, content, { overwrite: true });
          const {
            result,
            injected,
            retries: made,
          } = await underFault({ kind: op.kind, times: 2, fault }, () => op.run(file));
          if (!result.ok) throw result.error;
          expect(injected, `${op.label}: faults injected`).toBe(2);
          expect(made, `${op.label}: retries the storage made (the SDK must make none)`).toBe(2);
          tally.recovered += 1;
        }
      });
    }

    it("Retry-After is honoured: the wait is the service's, and the error says it", async () => {
      const file = name("retry-after");
      await ctx.s.save(file, "x");
      const events: RetryEvent[] = [];
      const started = Date.now();
      const { result, injected } = await underFault(
        { kind: "metadata", fault: { type: "status", status: 503, retryAfter: 1 } },
        () => ctx.s.stat(file, { retry: { attempts: 2, maxDelay: 5_000, onRetry: (e) => events.push(e) } }),
      );
      if (!result.ok) throw result.error;
      expect(injected).toBe(1);
      expect(events.map((e) => e.delay)).toEqual([1000]);
      expect(events[0]!.error.retryAfter).toBe(1000);
      expect(Date.now() - started).toBeGreaterThanOrEqual(950);
      tally.recovered += 1;
    });

    it("a fault that persists ends after exactly `attempts` requests, retryable, whatever was called before", async () => {
      // A fresh client, so no earlier call has changed how its SDK retries (GCS's once switched
      // its retries off for good on the first overwriting save).
      const { storage } = await fresh();
      const file = name("persistent");
      const check = async (label: string, kind: RequestKind, call: () => Promise<unknown>, body?: string) => {
        const { result, injected } = await underFault(
          { kind, times: Number.POSITIVE_INFINITY, fault: { type: "status", status: 503, body } },
          call,
        );
        expect(result.ok, `${label} succeeded under a persistent 503`).toBe(false);
        const error = (result as { error: unknown }).error;
        expect(StorageError.isInstance(error), `${label}: ${String(error)}`).toBe(true);
        const e = error as StorageError;
        expect(e.retryable, `${label}: retryable (${e.message})`).toBe(true);
        expect(e.attempts, `${label}: attempts`).toBe(4);
        expect(injected, `${label}: requests the server would have seen (4 = no SDK retries)`).toBe(4);
        tally.failedCleanly += 1;
      };
      await check("save (bytes, create-exclusive)", "upload", () => storage.save(file, content));
      await storage.save(file, content);
      await check("stat", "metadata", () => storage.stat(file));
      await check("readBytes", "download", () => storage.readBytes(file));
      // A save that replaces a file must not change how later calls retry.
      await storage.save(file, content, { overwrite: true });
      await check("stat after an overwriting save", "metadata", () => storage.stat(file));
      await check("save (bytes, replacing)", "upload", () =>
        storage.save(file, content, { overwrite: true }),
      );
      // A load balancer's 503 is an HTML page, or nothing: still the service's own "try again".
      const html = "<html><body><h1>503 Service Unavailable</h1></body></html>";
      await check(
        "save under an HTML 503",
        "upload",
        () => storage.save(file, content, { overwrite: true }),
        html,
      );
      await check("stat under an empty 503", "metadata", () => storage.stat(file), "");
    });
  });
}
