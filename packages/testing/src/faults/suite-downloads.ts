/**
 * The cut-download group of `describeFaults`: a body reset or cut short on every attempt ends in a
 * typed, retryable error whether the file is opened or read whole; cut once, the read errors or is
 * whole (a driver may resume it) — never short.
 */
import { StorageError } from "@storages/core";
import { describe, expect, it } from "vitest";
import { collect, randomBytes } from "../helpers.js";
import { type FaultSuiteContext, KiB, MiB } from "./suite-context.js";

/** Downloads cut mid-body: an error or the whole body, never a short read. */
export function describeCutDownloads(ctx: FaultSuiteContext): void {
  const { tally, name, underFault } = ctx;
  describe("a download cut mid-body ends in an error, never in a short read", () => {
    const size = 1 * MiB;
    const cuts = [
      { label: "a connection reset", fault: { type: "resetDownload", afterBytes: 100 * KiB } as const },
      {
        label: "a body cut short (clean close)",
        fault: { type: "truncate", afterBytes: 100 * KiB } as const,
      },
    ];
    for (const { label, fault } of cuts) {
      it(`${label} on every attempt: open() errors and readBytes() fails`, async () => {
        const file = name("cut-download");
        const body = randomBytes(size);
        await ctx.s.save(file, body);
        for (const read of ["open", "readBytes"] as const) {
          const { result, injected } = await underFault(
            { kind: "download", times: Number.POSITIVE_INFINITY, fault },
            async () => (read === "open" ? collect(await ctx.s.open(file)) : ctx.s.readBytes(file)),
          );
          expect(injected, read).toBeGreaterThanOrEqual(1);
          if (result.ok) {
            tally.lost += 1;
            expect.fail(`${read} "succeeded" with ${result.value.length} of ${size} bytes`);
          }
          const error = (result as { error: unknown }).error;
          // The same typed error whichever way the file is read: a stream that breaks after
          // open() returned is no excuse for the SDK's raw error.
          expect(StorageError.isInstance(error), `${read}: ${String(error)}`).toBe(true);
          expect((error as StorageError).retryable, `${read}: ${String(error)}`).toBe(true);
          tally.failedCleanly += 1;
        }
      });

      it(`${label} once: the read errors or is whole (a driver may resume it), never short`, async () => {
        const file = name("cut-download-once");
        const body = randomBytes(size);
        await ctx.s.save(file, body);
        for (const read of ["open", "readBytes"] as const) {
          const { result } = await underFault({ kind: "download", fault }, async () =>
            read === "open" ? collect(await ctx.s.open(file)) : ctx.s.readBytes(file),
          );
          if (result.ok) {
            const whole = Buffer.compare(result.value, body) === 0;
            if (!whole) tally.lost += 1;
            expect(whole, `${read} returned ${result.value.length} of ${size} bytes`).toBe(true);
            tally.recovered += 1;
          } else {
            tally.failedCleanly += 1;
          }
        }
      });
    }
  });
}
