/**
 * Cancellation and errors: AbortSignal and timeout on transfers, and what errors carry.
 */
import { readdirSync, readlinkSync } from "node:fs";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import type { Storage } from "@storages/core";
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
        let closed = false;
        const source = slowBody({
          onChunk: (n) => {
            chunks = n;
            if (n === 40) controller.abort();
          },
          onClose: () => {
            closed = true;
          },
        });
        const body = kind === "AsyncIterable" ? source : Readable.from(source, { objectMode: false });
        await ctx.expectError(s.save(name, body, { signal: controller.signal }), "E_ABORTED", {
          operation: "save",
          path: name,
        });
        expect(chunks, "the body was read up to the abort").toBeGreaterThanOrEqual(40);
        // The driver must stop reading the body, not only the facade settle: a few chunks may still
        // be in flight while it tears down, then nothing more is pulled and the body is let go.
        await sleep(300);
        const settled = chunks;
        await sleep(300);
        expect(chunks - settled, "the driver kept reading the body after the abort").toBe(0);
        expect(closed, "the body was not released (return()/destroy) after the abort").toBe(true);
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
      // 8 MiB never arrives in one chunk: data is still in flight, so the stream must fail, not end
      // as if the file were complete.
      expect(firstSize, "the first chunk held the whole file: the test proves nothing").toBeLessThan(
        body.size,
      );
      expect(outcome, "the stream ended normally after abort()").not.toBe("ended");
      await ctx.expectError(Promise.reject(outcome), "E_ABORTED");
      expect(received).toBeLessThan(body.size);
      await s.delete(name);
    });

    it("an abort at any point of any call (before it, while it waits on the service, mid-read) settles with E_ABORTED or a result, and never crashes the process", async () => {
      const s = ctx.main;
      const dir = ctx.unique("abort-points", "");
      const name = `${dir}/file.bin`;
      await s.save(name, new DeterministicBody(2 * MiB, 9).stream(), { overwrite: true });
      const filesBefore = openFiles();
      const crashes: unknown[] = [];
      const onCrash = (error: unknown) => crashes.push(error);
      process.on("uncaughtException", onCrash);
      process.on("unhandledRejection", onCrash);
      const calls: Array<[string, (signal: AbortSignal) => Promise<unknown>]> = [
        ["open + read", async (signal) => (await s.open(name, { signal })).bytes()],
        ["open, never read", (signal) => s.open(name, { signal })],
        ["readBytes", (signal) => s.readBytes(name, { signal })],
        ["readText", (signal) => s.readText(name, { signal })],
        ["stat", (signal) => s.stat(name, { signal })],
        ["exists", (signal) => s.exists(name, { signal })],
        ["list", (signal) => s.listPage(`${dir}/`, { signal })],
        [
          "save",
          (signal) =>
            s.save(`${dir}/saved.bin`, new DeterministicBody(MiB, 3).stream(), { signal, overwrite: true }),
        ],
        ["copy", (signal) => s.copy(name, `${dir}/copied.bin`, { signal })],
        ["delete", (signal) => s.delete(`${dir}/never.bin`, { signal })],
        ["checksum", (signal) => s.checksum(name, "sha256", { signal })],
      ];
      const unexpected: string[] = [];
      try {
        for (const [label, call] of calls) {
          // Pre-aborted; on the next turn of the event loop (the request is in flight); after 1–8 ms.
          for (const when of ["before", "immediate", 1, 3, 8] as const) {
            const controller = new AbortController();
            if (when === "before") controller.abort();
            else if (when === "immediate") setImmediate(() => controller.abort());
            else setTimeout(() => controller.abort(), when);
            try {
              await call(controller.signal);
              if (when === "before")
                unexpected.push(`${label}: succeeded with a signal aborted before the call`);
            } catch (error) {
              const code = (error as { code?: unknown })?.code;
              if (code !== "E_ABORTED")
                unexpected.push(`${label} (${when}): ${String(code)} ${(error as Error)?.message}`);
            }
          }
        }
        await sleep(300); // late streams and handles come back, and are released
      } finally {
        process.off("uncaughtException", onCrash);
        process.off("unhandledRejection", onCrash);
      }
      expect(crashes.map(String), "an abort crashed the process (an error nobody could catch)").toEqual([]);
      expect(unexpected).toEqual([]);
      // No file handle outlives its aborted call (sockets are left to the HTTP agents' pools).
      if (filesBefore !== undefined) {
        // Handles other tests still held may have closed meanwhile: only new ones count.
        const opened = (openFiles() ?? []).filter((file) => !filesBefore.includes(file));
        expect(opened, "file handles leaked by aborted calls").toEqual([]);
      }
      await cleanup(s, `${dir}/`);
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

async function cleanup(s: Storage, prefix: string): Promise<void> {
  const names = await listAllNames(s, prefix);
  if (names.length) await s.deleteMany(names);
}

/** The regular files this process holds open (Linux /proc), sorted; undefined where /proc is absent. */
function openFiles(): string[] | undefined {
  let fds: string[];
  try {
    fds = readdirSync("/proc/self/fd");
  } catch {
    return undefined;
  }
  const files: string[] = [];
  for (const fd of fds) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith("/") && !target.startsWith("/dev/") && !target.startsWith("/proc/"))
        files.push(target);
    } catch {
      // closed while we looked
    }
  }
  return files.sort();
}
