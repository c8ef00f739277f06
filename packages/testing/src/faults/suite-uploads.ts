/**
 * The cut-upload group of `describeFaults`: bytes in memory are sent again whole; a stream cut or
 * aborted mid-upload fails with a typed error and leaves no partial object and no unfinished
 * upload. `bodyMayExceed` and the cut point are here because only these tests cut request bodies.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { StorageError } from "@storages/core";
import { describe, expect, it } from "vitest";
import { DeterministicBody, randomBytes } from "../helpers.js";
import type { FaultRule } from "./proxy.js";
import { type FaultSuiteContext, KiB, MiB, outcome } from "./suite-context.js";

/**
 * Where a large upload's request is cut: below S3's smallest part (5 MiB, the S3 driver's default
 * part size), so the cut lands inside a part or block of every backend, not at a part's end.
 */
const CUT_INSIDE_A_PART = 4 * MiB;

/** A rule for requests whose body may be longer than `bytes` (no length announced, or a longer one). */
export function bodyMayExceed(bytes: number): FaultRule["match"] {
  return (request) => {
    const length = request.headers["content-length"];
    return length === undefined || Number(length) > bytes;
  };
}

/** Uploads cut or aborted mid-body: sent again whole, or failed typed, with nothing left behind. */
export function describeCutUploads(ctx: FaultSuiteContext): void {
  const { options, tally, fresh, name, expectNoLeftovers, expectNothingVisible, underFault } = ctx;
  describe("an upload cut mid-body", () => {
    const large = () => options.largeUploadSize ?? 12 * MiB;

    it("bytes in memory are sent again and arrive whole", async () => {
      const file = name("cut-bytes");
      const body = randomBytes(1 * MiB);
      const {
        result,
        injected,
        retries: made,
      } = await underFault(
        {
          kind: "upload",
          match: bodyMayExceed(256 * KiB),
          fault: { type: "resetUpload", afterBytes: 256 * KiB },
        },
        () => ctx.s.save(file, body),
      );
      if (!result.ok) throw result.error;
      expect(injected).toBe(1);
      expect(made).toBeGreaterThanOrEqual(1);
      expect(Buffer.compare(await ctx.s.readBytes(result.value.name), body)).toBe(0);
      tally.recovered += 1;
    });

    for (const [label, size] of [
      ["a small stream", 512 * KiB],
      ["a stream sent in parts or blocks", 0],
    ] as const) {
      it(`${label} fails with a typed, retryable error and leaves nothing behind`, async () => {
        const { storage, prefix } = await fresh();
        const dir = name("cut-stream", "");
        const bytes = size || large();
        const body = new DeterministicBody(bytes, 3);
        const cutAt = size ? 64 * KiB : CUT_INSIDE_A_PART;
        const { result, injected } = await underFault(
          {
            kind: "upload",
            match: bodyMayExceed(cutAt),
            fault: { type: "resetUpload", afterBytes: cutAt },
          },
          () => storage.save(`${dir}/file.bin`, body.stream(256 * KiB)),
        );
        expect(injected).toBe(1);
        expect(result.ok, "a stream cut mid-upload cannot have been stored whole").toBe(false);
        const error = (result as { error: unknown }).error;
        expect(StorageError.isInstance(error), String(error)).toBe(true);
        expect((error as StorageError).retryable, (error as StorageError).message).toBe(true);
        tally.failedCleanly += 1;
        await expectNothingVisible(storage, dir);
        await expectNoLeftovers(prefix);
      });
    }

    it("large bytes in memory: the failed attempt's parts are cleaned up, the retry arrives whole", async () => {
      const { storage, prefix } = await fresh();
      const file = name("cut-large-bytes");
      const body = new DeterministicBody(large(), 4).slice(0, large());
      const { result, injected } = await underFault(
        {
          kind: "upload",
          match: bodyMayExceed(CUT_INSIDE_A_PART),
          fault: { type: "resetUpload", afterBytes: CUT_INSIDE_A_PART },
        },
        () => storage.save(file, body),
      );
      if (!result.ok) throw result.error;
      expect(injected).toBe(1);
      expect(Buffer.compare(await storage.readBytes(result.value.name), body)).toBe(0);
      tally.recovered += 1;
      await expectNoLeftovers(prefix);
    });

    it("an upload aborted mid-body leaves no partial object and no unfinished upload", async () => {
      const { storage, prefix } = await fresh();
      const dir = name("abort", "");
      const controller = new AbortController();
      const body = new DeterministicBody(large(), 5);
      let sent = 0;
      const stream = body.stream(256 * KiB);
      stream.on("data", (chunk: Buffer) => {
        sent += chunk.length;
        if (sent >= large() / 2) controller.abort();
      });
      const result = await outcome(storage.save(`${dir}/file.bin`, stream, { signal: controller.signal }));
      expect(result.ok).toBe(false);
      expect(StorageError.hasCode((result as { error: unknown }).error, "E_ABORTED")).toBe(true);
      tally.failedCleanly += 1;
      await sleep(200);
      await expectNothingVisible(storage, dir);
      await expectNoLeftovers(prefix);
    });
  });
}
