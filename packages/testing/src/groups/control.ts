/**
 * Cancellation and errors: AbortSignal and timeout on transfers, and what errors carry.
 */
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { listAllNames, type SuiteContext } from "../context.js";
import { DeterministicBody, slowBody } from "../helpers.js";

const MiB = 1024 * 1024;

export function registerControl(ctx: SuiteContext): void {
  describe("AbortSignal and timeout", () => {
    for (const kind of ["AsyncIterable", "Node Readable"] as const) {
      it(`aborting the save of a slow ${kind} body gives E_ABORTED and no file under the name`, async () => {
        const s = ctx.main;
        const dir = ctx.unique("abort-save", "");
        const name = `${dir}/big.bin`;
        const controller = new AbortController();
        let chunks = 0;
        const source = slowBody({
          onChunk: (n) => {
            chunks = n;
            if (n === 40) controller.abort();
          },
        });
        const body = kind === "AsyncIterable" ? source : Readable.from(source, { objectMode: false });
        await ctx.expectError(s.save(name, body, { signal: controller.signal }), "E_ABORTED", {
          operation: "save",
          path: name,
        });
        expect(chunks, "the body was read up to the abort").toBeGreaterThanOrEqual(40);
        expect(await s.exists(name)).toBe(false);
        expect(await listAllNames(s, `${dir}/`), "no partial or temporary file is visible").toEqual([]);
      });
    }

    it("an aborted overwrite leaves the previous content in place", async () => {
      const s = ctx.main;
      const name = ctx.unique("abort-overwrite", ".bin");
      await s.save(name, "previous content");
      const controller = new AbortController();
      const body = slowBody({ onChunk: (n) => n === 20 && controller.abort() });
      await ctx.expectError(s.save(name, body, { signal: controller.signal, overwrite: true }), "E_ABORTED");
      expect(await s.readText(name)).toBe("previous content");
      await s.delete(name);
    });

    it("an already-aborted signal fails every call with E_ABORTED and changes nothing", async () => {
      const s = ctx.main;
      const name = ctx.unique("pre-aborted");
      await s.save(name, "untouched");
      const signal = AbortSignal.abort();
      const target = ctx.unique("pre-aborted");
      await ctx.expectError(s.save(target, "x", { signal }), "E_ABORTED", { operation: "save" });
      await ctx.expectError(s.save(name, "changed", { signal, overwrite: true }), "E_ABORTED");
      await ctx.expectError(s.stat(name, { signal }), "E_ABORTED", { operation: "stat" });
      await ctx.expectError(s.exists(name, { signal }), "E_ABORTED");
      await ctx.expectError(async () => (await s.open(name, { signal })).bytes(), "E_ABORTED");
      await ctx.expectError(s.readBytes(name, { signal }), "E_ABORTED");
      await ctx.expectError(s.copy(name, target, { signal }), "E_ABORTED", { operation: "copy" });
      await ctx.expectError(s.delete(name, { signal }), "E_ABORTED", { operation: "delete" });
      await ctx.expectError(async () => {
        for await (const _ of s.list("", { signal })) break;
      }, "E_ABORTED");
      expect(await s.exists(target)).toBe(false);
      expect(await s.readText(name)).toBe("untouched");
      await s.delete(name);
    });

    it("aborting a large read makes the stream fail with E_ABORTED", async () => {
      const s = ctx.main;
      const name = ctx.unique("abort-read", ".bin");
      const body = new DeterministicBody(8 * MiB, 4);
      await s.save(name, body.stream());

      // Aborted right after open: nothing more may be delivered as a complete file.
      const early = new AbortController();
      const stream = await s.open(name, { signal: early.signal });
      early.abort();
      await ctx.expectError(() => stream.bytes(), "E_ABORTED");

      // Aborted mid-transfer.
      const controller = new AbortController();
      const reader = (await s.open(name, { signal: controller.signal }))[Symbol.asyncIterator]();
      const first = await reader.next();
      expect(first.done).toBe(false);
      const firstSize = (first.value as Buffer).byteLength;
      controller.abort();
      let received = firstSize;
      const outcome = await (async () => {
        try {
          for (;;) {
            const next = await reader.next();
            if (next.done) return "ended";
            received += (next.value as Buffer).byteLength;
          }
        } catch (error) {
          return error;
        }
      })();
      if (firstSize < body.size) {
        // Data was still in flight: the stream must fail, not end as if the file were complete.
        expect(outcome, "the stream ended normally after abort()").not.toBe("ended");
        await ctx.expectError(Promise.reject(outcome), "E_ABORTED");
        expect(received).toBeLessThan(body.size);
      } else if (outcome !== "ended") {
        // The whole file came in the first chunk; failing afterwards is still allowed.
        await ctx.expectError(Promise.reject(outcome), "E_ABORTED");
      }
      await s.delete(name);
    });

    for (const kind of ["Node Readable", "AsyncIterable"] as const) {
      it(`timeout gives E_TIMEOUT (retryable) on a stalled ${kind} upload, before the body resumes, and no file`, async () => {
        const s = ctx.main;
        const dir = ctx.unique("timeout", "");
        const name = `${dir}/stalled.bin`;
        let guard: NodeJS.Timeout | undefined;
        let released = false;
        // The body stalls until the consumer gives up or, at the latest, 20 s pass: then it ends, so
        // a timeout that never fires makes the save succeed (and the test fail) instead of hanging.
        const release = new Promise<void>((resolve) => {
          guard = setTimeout(() => {
            released = true;
            resolve();
          }, 20_000);
          guard.unref();
        });
        const source = slowBody({ stallAfter: 2, release, limit: 4 * 64 * 1024 });
        const body = kind === "AsyncIterable" ? source : Readable.from(source, { objectMode: false });
        let releasedBeforeSettling = false;
        const error = await ctx.expectError(
          s.save(name, body, { timeout: 300 }).finally(() => {
            releasedBeforeSettling = released;
          }),
          "E_TIMEOUT",
          { operation: "save", path: name },
        );
        clearTimeout(guard);
        expect(
          releasedBeforeSettling,
          "the 300 ms timeout only took effect once the body resumed (20 s)",
        ).toBe(false);
        expect(error.retryable).toBe(true);
        expect(await s.exists(name)).toBe(false);
        expect(await listAllNames(s, `${dir}/`)).toEqual([]);
      });
    }

    it("a timeout that is not reached changes nothing", async () => {
      const s = ctx.main;
      const name = ctx.unique("timeout");
      await s.save(name, "in time", { timeout: 60_000 });
      expect(await s.readText(name, { timeout: 60_000 })).toBe("in time");
      await s.delete(name, { timeout: 60_000 });
    });
  });

  describe("errors", () => {
    it("errors carry code, operation, path and backend, serialise to JSON, and are not retryable when final", async () => {
      const s = ctx.main;
      const missing = ctx.unique("errors");
      const error = await ctx.expectError(s.stat(missing), "E_NOT_FOUND", {
        operation: "stat",
        path: missing,
      });
      expect(error.retryable).toBe(false);
      expect(error.message.length).toBeGreaterThan(0);
      expect(JSON.parse(JSON.stringify(error))).toMatchObject({
        code: "E_NOT_FOUND",
        operation: "stat",
        path: missing,
        backend: ctx.backend,
        retryable: false,
      });
      expect(s.backend).toBe(ctx.backend);
    });
  });
}
