/**
 * The stall-and-timeout group of `describeFaults`: a call's timeout and the idle timeout fire on a
 * server that stalls (before answering or mid-body), the stalled connection is let go, latency under
 * the timeout still succeeds, and a timed-out upload stores nothing.
 */
import { StorageError } from "@storages/core";
import { describe, expect, it } from "vitest";
import { collect, randomBytes } from "../helpers.js";
import { type FaultSuiteContext, KiB, MiB } from "./suite-context.js";

/** Stalls and added latency: timeouts fire, and the stalled connections are let go. */
export function describeStallsAndTimeouts(ctx: FaultSuiteContext): void {
  const {
    tally,
    fresh,
    name,
    expectNoLeftovers,
    expectNothingVisible,
    expectNoStalledConnection,
    underFault,
  } = ctx;
  describe("stalls and timeouts fire and clean up", () => {
    it("a server that never answers: the call's timeout fires, and the connection is let go", async () => {
      const file = name("stall");
      await ctx.s.save(file, "x");
      const started = Date.now();
      const { result, injected } = await underFault(
        { kind: "metadata", fault: { type: "stall", ms: 20_000 } },
        () => ctx.s.stat(file, { timeout: 500 }),
      );
      expect(injected).toBe(1);
      expect(StorageError.hasCode((result as { error?: unknown }).error, "E_TIMEOUT"), String(result)).toBe(
        true,
      );
      expect(Date.now() - started).toBeLessThan(3_000);
      tally.failedCleanly += 1;
      // The abandoned request's connection is closed by the client, not left open for 20 s.
      await expectNoStalledConnection("the timed-out call");
      expect(await ctx.s.exists(file)).toBe(true); // and the storage still works
    });

    it("added latency under the timeout succeeds; over it, the timeout fires", async () => {
      const file = name("latency");
      await ctx.s.save(file, "x");
      const slow = { kind: "metadata", fault: { type: "latency", ms: 300 } } as const;
      const ok = await underFault(slow, () => ctx.s.stat(file, { timeout: 5_000 }));
      if (!ok.result.ok) throw ok.result.error;
      const late = await underFault(slow, () => ctx.s.stat(file, { timeout: 100 }));
      expect(StorageError.hasCode((late.result as { error?: unknown }).error, "E_TIMEOUT")).toBe(true);
      tally.recovered += 1;
      tally.failedCleanly += 1;
    });

    it("a body that stalls mid-way: the idle timeout ends the read with E_TIMEOUT", async () => {
      const { storage } = await fresh({ idleTimeout: 500 });
      const file = name("idle");
      const body = randomBytes(1 * MiB);
      await storage.save(file, body);
      for (const read of ["open", "readBytes"] as const) {
        const started = Date.now();
        const { result, injected } = await underFault(
          { kind: "download", fault: { type: "stall", ms: 20_000, afterBytes: 64 * KiB } },
          async () => (read === "open" ? collect(await storage.open(file)) : storage.readBytes(file)),
        );
        expect(injected, read).toBe(1);
        expect(result.ok, `${read} succeeded through a stalled body`).toBe(false);
        const error = (result as { error: unknown }).error;
        expect(StorageError.hasCode(error, "E_TIMEOUT"), `${read}: ${String(error)}`).toBe(true);
        expect(Date.now() - started, read).toBeLessThan(5_000);
        tally.failedCleanly += 1;
        // The stalled response's connection is let go by the client, not held until the server gives up.
        await expectNoStalledConnection(read);
      }
    });

    it("an upload whose answer never comes: the timeout fires and nothing is stored", async () => {
      const { storage, prefix } = await fresh();
      const dir = name("stall-upload", "");
      const { result, injected } = await underFault(
        { kind: "upload", fault: { type: "stall", ms: 20_000 } },
        () => storage.save(`${dir}/file.bin`, randomBytes(64 * KiB), { timeout: 1_000 }),
      );
      expect(injected).toBe(1);
      expect(StorageError.hasCode((result as { error?: unknown }).error, "E_TIMEOUT"), String(result)).toBe(
        true,
      );
      tally.failedCleanly += 1;
      await expectNothingVisible(storage, dir);
      await expectNoLeftovers(prefix);
      await expectNoStalledConnection("the timed-out upload");
    });
  });
}
