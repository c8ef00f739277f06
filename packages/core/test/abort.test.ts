/**
 * Aborts, timeouts and stalls at every point of a read: none may crash the process (an 'error'
 * event nobody listens to), leak the driver's stream, or hang.
 */
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it, vi } from "vitest";
import { settleOnAbort, watchIdle } from "../src/abort.js";
import { AbortedError, TimeoutError } from "../src/errors.js";
import { MemoryDriver } from "../src/memory.js";
import { Storage } from "../src/storage.js";
import type { Driver, DriverReadOptions } from "../src/types.js";

/** A stream that records the 'error' events Node would have thrown as uncaught (no listener). */
class TrackedStream extends Readable {
  unheard = 0;
  reads = 0;
  constructor(
    private readonly chunks: number,
    private readonly stallAfter = Number.POSITIVE_INFINITY,
  ) {
    super();
  }
  override _read(): void {
    const n = this.reads++;
    if (n >= this.stallAfter) return; // the source stalls: never pushes again
    if (n >= this.chunks) this.push(null);
    else setTimeout(() => this.push(Buffer.alloc(1024, 97)), 1);
  }
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === "error" && this.listenerCount("error") === 0) {
      this.unheard++;
      return false;
    }
    return super.emit(event, ...args);
  }
}

/** A memory driver whose reads take `delayMs` to produce their stream, and hand out TrackedStreams. */
function slowReadDriver(delayMs: number, make: () => TrackedStream = () => new TrackedStream(4)) {
  const inner = new MemoryDriver();
  const produced: TrackedStream[] = [];
  const driver: Driver = {
    backend: "slow",
    capabilities: inner.capabilities,
    write: (k, b, o) => inner.write(k, b, o),
    stat: (k, o) => inner.stat(k, o),
    listPage: (p, o) => inner.listPage(p, o),
    delete: (k) => inner.delete(k),
    // Like an SDK call that cannot be cancelled: the signal is ignored, the stream comes late.
    read: async (_key: string, _options: DriverReadOptions) => {
      await sleep(delayMs);
      const stream = make();
      produced.push(stream);
      return stream;
    },
  };
  return { driver, produced };
}

describe("aborts and timeouts while a read is being opened", () => {
  for (const how of ["caller signal", "call timeout", "storage timeout"] as const) {
    for (const method of ["open", "readText", "readBytes"] as const) {
      it(`${method}: ${how} before the driver returns its stream settles at once and releases the late stream without an unheard error`, async () => {
        // The driver is far slower than the 10 ms abort, so a loaded machine's late timers cannot
        // let it win the race.
        const { driver, produced } = slowReadDriver(400);
        const storage = new Storage(driver, how === "storage timeout" ? { timeout: 10 } : {});
        const controller = new AbortController();
        const options =
          how === "caller signal"
            ? { signal: controller.signal }
            : how === "call timeout"
              ? { timeout: 10 }
              : {};
        if (how === "caller signal") setTimeout(() => controller.abort(), 10);
        const error = await storage[method]("a.txt", options).then(
          () => undefined,
          (e: unknown) => e,
        );
        // Settled at the abort, not when the driver finally produced its stream.
        expect(produced, "the call waited for the driver").toHaveLength(0);
        expect(
          how === "caller signal" ? AbortedError.isInstance(error) : TimeoutError.isInstance(error),
        ).toBe(true);
        await vi.waitFor(() => expect(produced).toHaveLength(1), { timeout: 5_000 }); // the late stream arrives
        await sleep(20); // and is released
        expect(produced[0]!.destroyed).toBe(true);
        expect(produced[0]!.unheard).toBe(0);
      });
    }
  }

  it("a signal aborted before the call never reaches the driver", async () => {
    const { driver, produced } = slowReadDriver(1);
    const storage = new Storage(driver);
    await expect(storage.open("a.txt", { signal: AbortSignal.abort() })).rejects.toSatisfy(
      AbortedError.isInstance,
    );
    await sleep(10);
    expect(produced).toHaveLength(0);
  });
});

describe("aborts while a stream is being read", () => {
  it("an abort after open() destroys the stream with AbortedError even when nobody listens yet", async () => {
    const { driver, produced } = slowReadDriver(0, () => new TrackedStream(1000));
    const storage = new Storage(driver);
    const controller = new AbortController();
    const stream = await storage.open("a.txt", { signal: controller.signal });
    controller.abort();
    await sleep(10);
    expect(produced[0]!.destroyed).toBe(true);
    expect(produced[0]!.unheard).toBe(0);
    // A consumer that starts now still learns why.
    await expect(stream.bytes()).rejects.toSatisfy(AbortedError.isInstance);
  });

  it("an abort mid-read stops the driver's source from being read further", async () => {
    const { driver, produced } = slowReadDriver(0, () => new TrackedStream(1_000_000));
    const storage = new Storage(driver);
    const controller = new AbortController();
    const stream = await storage.open("a.txt", { signal: controller.signal });
    let received = 0;
    const consumed = (async () => {
      for await (const chunk of stream) {
        received += (chunk as Buffer).length;
        if (received >= 10 * 1024) controller.abort();
      }
    })();
    await expect(consumed).rejects.toSatisfy(AbortedError.isInstance);
    const readsAtAbort = produced[0]!.reads;
    await sleep(30);
    expect(produced[0]!.reads).toBe(readsAtAbort);
    expect(received).toBeLessThan(100 * 1024);
  });

  it("readBytes: the call's timeout covers the whole read, not only the opening", async () => {
    const { driver } = slowReadDriver(0, () => new TrackedStream(10, 3));
    const storage = new Storage(driver, { idleTimeout: 0 });
    await expect(storage.readBytes("a.txt", { timeout: 50 })).rejects.toSatisfy(TimeoutError.isInstance);
  });
});

describe("idle timeout on reads", () => {
  it("a source that stalls mid-body ends the read in a TimeoutError instead of hanging", async () => {
    const { driver, produced } = slowReadDriver(0, () => new TrackedStream(10, 3));
    const storage = new Storage(driver, { idleTimeout: 40 });
    const stream = await storage.open("a.txt");
    const error = await stream.bytes().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(TimeoutError.isInstance(error)).toBe(true);
    expect((error as TimeoutError).operation).toBe("open");
    expect(produced[0]!.destroyed).toBe(true);
    expect(produced[0]!.unheard).toBe(0);
  });

  it("per call: readText with idleTimeout", async () => {
    const { driver } = slowReadDriver(0, () => new TrackedStream(10, 2));
    const storage = new Storage(driver, { idleTimeout: 0 });
    await expect(storage.readText("a.txt", { idleTimeout: 30 })).rejects.toSatisfy(TimeoutError.isInstance);
  });

  it("a slow consumer does not trip it: the clock runs only while the consumer waits for the source", async () => {
    const { driver } = slowReadDriver(0, () => new TrackedStream(8));
    const storage = new Storage(driver, { idleTimeout: 30 });
    const stream = await storage.open("a.txt");
    let total = 0;
    for await (const chunk of stream) {
      total += (chunk as Buffer).length;
      await sleep(60); // the consumer is slower than the idle timeout, twice over
    }
    expect(total).toBe(8 * 1024);
  });

  it("watchIdle stops watching when the stream closes (no timer left behind)", async () => {
    const stream = new TrackedStream(2);
    let fired = 0;
    watchIdle(stream, 20, () => fired++);
    await stream.toArray();
    await sleep(40);
    expect(fired).toBe(0);
  });
});

describe("settleOnAbort", () => {
  it("releases a value that arrives after the abort, and swallows a late rejection", async () => {
    const controller = new AbortController();
    const released: string[] = [];
    const late = sleep(20).then(() => "handle");
    const settled = settleOnAbort(late, controller.signal, (value) => released.push(value));
    controller.abort(new TimeoutError("t"));
    await expect(settled).rejects.toSatisfy(TimeoutError.isInstance);
    await sleep(30);
    expect(released).toEqual(["handle"]);
    const failing = sleep(5).then(() => Promise.reject(new Error("late")));
    await expect(settleOnAbort(failing, AbortSignal.abort())).rejects.toSatisfy(AbortedError.isInstance);
    await sleep(10); // an unhandled rejection here would fail the run
  });
});
