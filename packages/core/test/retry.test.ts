/**
 * The retry policy: which failures are retried, how long it waits, what it never repeats, and that
 * the caller's signal and timeout cover every attempt.
 */
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { BackendError, NotFoundError, type StorageError, TimeoutError } from "../src/errors.js";
import { MemoryDriver } from "../src/memory.js";
import { mirror } from "../src/mirror.js";
import { backoff, DEFAULT_RETRY, parseRetryAfter, type RetryEvent, resolveRetry } from "../src/retry.js";
import { Storage } from "../src/storage.js";
import type { Driver } from "../src/types.js";

const fast = { baseDelay: 1, maxDelay: 5 };

/** A memory driver whose named methods fail the first `failures` calls with `error()`. */
function flaky(methods: string[], failures: number, error: () => unknown = () => resetError()) {
  const inner = new MemoryDriver();
  const calls: Record<string, number> = {};
  const driver: Driver = {
    backend: "flaky",
    capabilities: inner.capabilities,
    write: (k, b, o) => inner.write(k, b, o),
    writeBytes: (k, b, o) => inner.writeBytes(k, b, o),
    read: (k, o) => inner.read(k, o),
    readBytes: (k, o) => inner.readBytes(k, o),
    stat: (k, o) => inner.stat(k, o),
    listPage: (p, o) => inner.listPage(p, o),
    delete: (k) => inner.delete(k),
    copy: (a, b, o) => inner.copy(a, b, o),
  };
  for (const method of methods) {
    const original = (driver as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>)[method]!;
    (driver as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
      calls[method] = (calls[method] ?? 0) + 1;
      if (calls[method]! <= failures) throw error();
      return original(...args);
    };
  }
  return { driver, inner, calls };
}

function resetError(): Error {
  return Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
}

describe("backoff", () => {
  it("is full jitter under a doubling cap, and honours the service's Retry-After up to maxDelay", () => {
    const policy = resolveRetry({ baseDelay: 100, maxDelay: 1000 });
    const error = new BackendError("x", { retryable: true });
    expect(backoff(policy, 1, error, () => 0.999)).toBeLessThanOrEqual(100);
    expect(backoff(policy, 3, error, () => 0.999)).toBeLessThanOrEqual(400);
    expect(backoff(policy, 10, error, () => 0.999)).toBeLessThanOrEqual(1000);
    expect(backoff(policy, 3, error, () => 0)).toBe(0);
    expect(backoff(policy, 1, new BackendError("slow down", { retryable: true, retryAfter: 700 }))).toBe(700);
    expect(backoff(policy, 1, new BackendError("slow down", { retryable: true, retryAfter: 60_000 }))).toBe(
      1000,
    );
  });

  it("reads Retry-After as seconds or as an HTTP date, and ignores what it cannot read", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(parseRetryAfter("3", now)).toBe(3000);
    expect(parseRetryAfter(" 0 ", now)).toBe(0);
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:00:02 GMT", now)).toBe(2000);
    expect(parseRetryAfter("Wed, 31 Dec 2025 23:59:00 GMT", now)).toBe(0);
    // The obsolete forms an HTTP-date may still come in (the same reader as the conditional headers).
    expect(parseRetryAfter("Thursday, 01-Jan-26 00:00:05 GMT", now)).toBe(5000);
    expect(parseRetryAfter("Thu Jan  1 00:00:07 2026", now)).toBe(7000);
    for (const unreadable of [undefined, null, "", "soon", "-1", "1.5", 7, "Thu, 1 Jan 2026 00:00:02 GMT"]) {
      expect(parseRetryAfter(unreadable, now)).toBeUndefined();
    }
  });

  it("refuses a bad policy with a typed error", () => {
    expect(() => resolveRetry({ attempts: 0 })).toThrow(/retry.attempts/);
    expect(() => resolveRetry({ atempts: 3 } as never)).toThrow(/unknown option "atempts"/);
    expect(resolveRetry(false).attempts).toBe(1);
    expect(resolveRetry(undefined)).toBe(DEFAULT_RETRY);
  });
});

describe("retries through the facade", () => {
  it("retries a transient failure of an idempotent call and tells onRetry about each retry", async () => {
    const events: RetryEvent[] = [];
    const { driver, calls } = flaky(["stat"], 2);
    const s = new Storage(driver, { overwrite: true, retry: { ...fast, onRetry: (e) => events.push(e) } });
    await s.save("a.txt", "x");
    expect((await s.stat("a.txt")).size).toBe(1);
    expect(calls.stat).toBe(3);
    expect(events.map((e) => [e.operation, e.attempt, e.error.code])).toEqual([
      ["stat", 1, "E_BACKEND"],
      ["stat", 2, "E_BACKEND"],
    ]);
  });

  it("gives up after `attempts`, reporting how many were made", async () => {
    const { driver, calls } = flaky(["stat"], 100);
    const s = new Storage(driver, { retry: { ...fast, attempts: 3 } });
    const error = await s.stat("a.txt").catch((e: StorageError) => e);
    expect(error).toMatchObject({ code: "E_BACKEND", retryable: true, attempts: 3, operation: "stat" });
    expect(calls.stat).toBe(3);
  });

  it("a call's own retry option holds for save and move too, whose steps retry on their own", async () => {
    const { driver, calls } = flaky(["writeBytes", "copy"], 100);
    const s = new Storage(driver, { overwrite: true, retry: { ...fast, attempts: 4 } });
    await expect(s.save("a.txt", "x", { retry: false })).rejects.toMatchObject({ attempts: 1 });
    expect(calls.writeBytes).toBe(1);
    await expect(s.save("a.txt", "x", { retry: { ...fast, attempts: 2 } })).rejects.toMatchObject({
      attempts: 2,
    });
    expect(calls.writeBytes).toBe(3);
    await expect(s.move("a.txt", "b.txt", { retry: false })).rejects.toMatchObject({ attempts: 1 });
    expect(calls.copy).toBe(1);
  });

  it("never retries what is not retryable", async () => {
    const { driver, calls } = flaky(["stat"], 100, () => new NotFoundError("gone"));
    const s = new Storage(driver, { retry: fast });
    await expect(s.stat("a.txt")).rejects.toMatchObject({ code: "E_NOT_FOUND", attempts: 1 });
    expect(calls.stat).toBe(1);
  });

  it("stops within the time budget", async () => {
    const { driver, calls } = flaky(
      ["stat"],
      100,
      () => new BackendError("slow down", { retryable: true, retryAfter: 40 }),
    );
    const s = new Storage(driver, { retry: { attempts: 50, maxDelay: 40, budget: 100 } });
    await expect(s.stat("a.txt")).rejects.toMatchObject({ code: "E_BACKEND" });
    expect(calls.stat).toBeLessThanOrEqual(4);
  });

  it("the call's timeout and signal cover every attempt and every wait", async () => {
    const { driver } = flaky(
      ["stat"],
      100,
      () => new BackendError("busy", { retryable: true, retryAfter: 10_000 }),
    );
    const s = new Storage(driver, { retry: { maxDelay: 10_000 } });
    const started = Date.now();
    await expect(s.stat("a.txt", { timeout: 50 })).rejects.toSatisfy(TimeoutError.isInstance);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("retry: false, per storage or per call, makes one attempt", async () => {
    const one = flaky(["stat"], 1);
    await expect(new Storage(one.driver, { retry: false }).stat("a.txt")).rejects.toMatchObject({
      code: "E_BACKEND",
    });
    const two = flaky(["stat"], 1);
    await expect(
      new Storage(two.driver, { retry: fast }).stat("a.txt", { retry: false }),
    ).rejects.toMatchObject({ code: "E_BACKEND" });
    expect([one.calls.stat, two.calls.stat]).toEqual([1, 1]);
  });
});

describe("what is never repeated blindly", () => {
  it("a save of bytes is retried; a stream is retried only if nothing was read from it", async () => {
    const bytes = flaky(["writeBytes"], 1);
    const s = new Storage(bytes.driver, { overwrite: true, retry: fast });
    await s.save("a.txt", "hello");
    expect(await s.readText("a.txt")).toBe("hello");

    // Refused before the body was touched: sent again.
    const untouched = flaky(["write"], 1);
    await new Storage(untouched.driver, { overwrite: true, retry: fast }).save(
      "b.txt",
      Readable.from([Buffer.from("b")]),
    );
    expect(untouched.calls.write).toBe(2);

    // Failed after reading part of it: a stream cannot be sent twice, so the error stands.
    const { driver, calls } = flaky([], 0);
    let writes = 0;
    driver.write = async (_key, body) => {
      writes++;
      body.read();
      await new Promise((r) => setImmediate(r));
      throw resetError();
    };
    const stream = Readable.from([Buffer.from("partial"), Buffer.from("rest")], { objectMode: false });
    await expect(
      new Storage(driver, { overwrite: true, retry: fast }).save("c.txt", stream),
    ).rejects.toMatchObject({ code: "E_BACKEND", attempts: 1 });
    expect(writes).toBe(1);
    void calls;
  });

  it("a localFile() body is sent again from the file after a failure mid-body", async () => {
    const { mkdtemp, rm, writeFile } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { localFile } = await import("../src/body.js");
    const dir = await mkdtemp(join(tmpdir(), "storages-local-file-"));
    try {
      const path = join(dir, "upload.bin");
      const content = Buffer.alloc(200_000, 7);
      await writeFile(path, content);
      const { driver, inner } = flaky([], 0);
      let writes = 0;
      driver.write = async (key, body, options) => {
        if (++writes === 1) {
          body.read(); // a part of it went out, then the connection broke
          await new Promise((r) => setImmediate(r));
          throw resetError();
        }
        return inner.write(key, body, options);
      };
      const s = new Storage(driver, { overwrite: true, retry: fast });
      await s.save("d.bin", localFile(path));
      expect(writes).toBe(2);
      expect(Buffer.from(await s.readBytes("d.bin")).equals(content)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  /** A storage whose next write stores the file and then loses the answer (the first one does). */
  function answersLost() {
    const { driver, inner } = flaky([], 0);
    let lose = true;
    driver.writeBytes = async (key, bytes, options) => {
      const result = await inner.writeBytes(key, bytes, options);
      if (lose) {
        lose = false;
        throw resetError(); // stored, but the answer never arrived
      }
      return result;
    };
    return { s: new Storage(driver, { retry: fast }), inner, loseNextAnswer: () => (lose = true) };
  }

  it("overwrite: false — an attempt that stored the file but lost its answer is not saved twice", async () => {
    const { s, inner, loseNextAnswer } = answersLost();
    const saved = await s.save("report.pdf", "%PDF-1");
    expect(saved.name).toBe("report.pdf");
    expect(inner.keys()).toEqual(["report.pdf"]);
    // A genuinely different file under the name is still a collision: a new name, nothing replaced.
    loseNextAnswer();
    const other = await s.save("report.pdf", "%PDF-2");
    expect(other.name).not.toBe("report.pdf");
    expect(await s.readText("report.pdf")).toBe("%PDF-1");
  });

  it("exclusive — a lost answer is this save's own file; a different file under the name is refused", async () => {
    const { s, inner, loseNextAnswer } = answersLost();
    expect((await s.save("lock.json", '{"owner":"a"}', { exclusive: true })).name).toBe("lock.json");
    loseNextAnswer();
    await expect(s.save("lock.json", '{"owner":"b"}', { exclusive: true })).rejects.toMatchObject({
      code: "E_ALREADY_EXISTS",
      message: expect.stringMatching(/"lock\.json" already exists, and this save is exclusive/),
    });
    expect(inner.keys()).toEqual(["lock.json"]);
    expect(await s.readText("lock.json")).toBe('{"owner":"a"}');
  });

  it("copy without overwrite is not retried (a lost answer would become a false 'already exists')", async () => {
    const { driver, calls } = flaky(["copy"], 2);
    const s = new Storage(driver, { overwrite: true, retry: fast });
    await s.save("a.txt", "x");
    await expect(s.copy("a.txt", "b.txt", { overwrite: false })).rejects.toMatchObject({ code: "E_BACKEND" });
    await s.copy("a.txt", "c.txt");
    expect(calls.copy).toBe(3);
  });

  it("a mirror does not retry on top of its members (who retry their own calls)", async () => {
    const primary = flaky(["stat"], 1);
    const m = mirror(
      new Storage(primary.driver, { overwrite: true, retry: fast }),
      new Storage(new MemoryDriver(), { overwrite: true }),
    );
    expect(m.retry.attempts).toBe(1);
    await m.save("a.txt", "x");
    expect((await m.stat("a.txt")).size).toBe(1);
    expect(primary.calls.stat).toBe(2); // the primary's own facade retried once
  });
});
