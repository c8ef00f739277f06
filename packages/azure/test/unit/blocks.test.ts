import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { AbortedError } from "@storages/core";
import { describe, expect, it } from "vitest";
import {
  BLOCK_GROWTH_INTERVAL,
  type BlockTarget,
  blockId,
  blockSizeAt,
  DEFAULT_BLOCK_SIZE,
  MAX_BLOB_SIZE,
  MAX_BLOCK_SIZE,
  MAX_BLOCKS,
  MiB,
  maxUnknownLengthSize,
  plannedBlockSize,
  uploadBlocks,
} from "../../src/blocks.js";

const GiB = 1024 * MiB;
const TiB = 1024 * GiB;

describe("block size plan", () => {
  it("keeps the base size while it fits 50,000 blocks", () => {
    expect(plannedBlockSize(0)).toBe(DEFAULT_BLOCK_SIZE);
    expect(plannedBlockSize(1 * GiB)).toBe(DEFAULT_BLOCK_SIZE);
    expect(plannedBlockSize(MAX_BLOCKS * DEFAULT_BLOCK_SIZE)).toBe(DEFAULT_BLOCK_SIZE);
  });

  it("grows to the smallest whole MiB that fits the declared size into 50,000 blocks", () => {
    expect(plannedBlockSize(MAX_BLOCKS * DEFAULT_BLOCK_SIZE + 1)).toBe(DEFAULT_BLOCK_SIZE + MiB);
    for (const size of [500 * GiB, 1 * TiB, 4.75 * TiB, 100 * TiB, MAX_BLOB_SIZE]) {
      const block = plannedBlockSize(size);
      expect(block % MiB).toBe(0);
      expect(Math.ceil(size / block)).toBeLessThanOrEqual(MAX_BLOCKS);
      expect(Math.ceil(size / (block - MiB))).toBeGreaterThan(MAX_BLOCKS);
    }
    expect(plannedBlockSize(MAX_BLOB_SIZE)).toBe(MAX_BLOCK_SIZE);
  });

  it("refuses a declared size no block blob can hold", () => {
    expect(() => plannedBlockSize(MAX_BLOB_SIZE + 1)).toThrow(/at most .* bytes/);
  });

  it("unknown lengths start at the base size and double every 10,000 blocks, capped at 4000 MiB", () => {
    expect(blockSizeAt(0, DEFAULT_BLOCK_SIZE)).toBe(8 * MiB);
    expect(blockSizeAt(BLOCK_GROWTH_INTERVAL - 1, DEFAULT_BLOCK_SIZE)).toBe(8 * MiB);
    expect(blockSizeAt(BLOCK_GROWTH_INTERVAL, DEFAULT_BLOCK_SIZE)).toBe(16 * MiB);
    expect(blockSizeAt(4 * BLOCK_GROWTH_INTERVAL, DEFAULT_BLOCK_SIZE)).toBe(128 * MiB);
    expect(blockSizeAt(49_999, 1000 * MiB, 1000 * MiB)).toBe(MAX_BLOCK_SIZE);
    // A planned size larger than the growth schedule wins.
    expect(blockSizeAt(0, 20 * MiB)).toBe(20 * MiB);
  });

  it("an unknown-length stream can reach ~2.36 TiB with the default 8 MiB base", () => {
    expect(maxUnknownLengthSize()).toBe(8 * MiB * 10_000 * (1 + 2 + 4 + 8 + 16));
    expect(maxUnknownLengthSize() / TiB).toBeCloseTo(2.365, 2);
  });

  it("block ids are base64 of equal length", () => {
    const ids = [0, 9, 10, 49_999].map((i) => blockId("abc", i));
    expect(new Set(ids.map((id) => id.length)).size).toBe(1);
    expect(Buffer.from(ids[3] as string, "base64").toString()).toBe("abc-049999");
  });
});

/** A BlockTarget that records calls; stageBlock resolves when the test releases it. */
function recordingTarget(options: { failAt?: number; delayMs?: number } = {}) {
  const calls: string[] = [];
  const staged = new Map<string, Buffer>();
  const committed: Array<{ ids: string[]; md5: Buffer }> = [];
  let inflight = 0;
  let maxInflight = 0;
  const signals: AbortSignal[] = [];
  const target: BlockTarget = {
    async putWhole(body) {
      calls.push(`put:${body.length}`);
      return { etag: "whole" };
    },
    async beforeStaging() {
      calls.push("before");
    },
    async stageBlock(id, body, signal) {
      signals.push(signal);
      inflight++;
      maxInflight = Math.max(maxInflight, inflight);
      try {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(resolve, options.delayMs ?? 2);
          signal.addEventListener("abort", () => {
            clearTimeout(timer);
            reject(signal.reason ?? new Error("aborted"));
          });
        });
        if (options.failAt !== undefined && staged.size === options.failAt) throw new Error("block failed");
        staged.set(id, Buffer.from(body));
        calls.push(`stage:${body.length}`);
      } finally {
        inflight--;
      }
    },
    async commit(ids, _signal, md5) {
      calls.push(`commit:${ids.length}`);
      committed.push({ ids, md5 });
      return { etag: "committed" };
    },
  };
  return { target, calls, staged, committed, signals, maxInflight: () => maxInflight };
}

function chunks(total: number, chunkSize: number): Readable {
  return Readable.from(
    (function* () {
      for (let offset = 0; offset < total; offset += chunkSize) {
        yield Buffer.alloc(Math.min(chunkSize, total - offset), offset % 251);
      }
    })(),
  );
}

describe("uploadBlocks", () => {
  const signal = () => new AbortController().signal;

  it("a body that ends inside the first block is one put, no staging", async () => {
    const { target, calls } = recordingTarget();
    const result = await uploadBlocks(chunks(1000, 100), target, {
      signal: signal(),
      blockSize: MiB,
      concurrency: 4,
    });
    expect(result).toEqual({ size: 1000, etag: "whole", blocks: 0 });
    expect(calls).toEqual(["put:1000"]);
  });

  it("an empty body is one empty put", async () => {
    const { target, calls } = recordingTarget();
    await uploadBlocks(Readable.from([]), target, { signal: signal(), blockSize: MiB, concurrency: 4 });
    expect(calls).toEqual(["put:0"]);
  });

  it("a longer body is cut into exact blocks, staged with bounded concurrency, committed in order", async () => {
    const { target, calls, staged, maxInflight } = recordingTarget({ delayMs: 5 });
    const total = 10 * MiB + 7;
    const result = await uploadBlocks(chunks(total, 300_000), target, {
      signal: signal(),
      blockSize: MiB,
      baseBlockSize: MiB,
      concurrency: 3,
    });
    expect(result.blocks).toBe(11);
    expect(result.size).toBe(total);
    expect(calls[0]).toBe("before");
    expect(calls.at(-1)).toBe("commit:11");
    expect([...staged.values()].map((b) => b.length)).toContain(7);
    expect(calls.filter((c) => c === `stage:${MiB}`)).toHaveLength(10);
    expect(maxInflight()).toBeLessThanOrEqual(3);
    expect(maxInflight()).toBeGreaterThan(1);
  });

  it("the commit carries the MD5 of every byte staged, in order (Azure keeps none for staged blocks)", async () => {
    const { target, staged, committed } = recordingTarget({ delayMs: 3 });
    const total = 5 * MiB + 123;
    await uploadBlocks(chunks(total, 77_777), target, {
      signal: signal(),
      blockSize: MiB,
      baseBlockSize: MiB,
      concurrency: 3,
    });
    const [commit] = committed;
    const body = Buffer.concat(commit!.ids.map((id) => staged.get(id)!));
    expect(body.length).toBe(total);
    const expected = createHash("md5");
    for (let offset = 0; offset < total; offset += 77_777) {
      expected.update(Buffer.alloc(Math.min(77_777, total - offset), offset % 251));
    }
    expect(commit!.md5.toString("hex")).toBe(expected.digest("hex"));
    expect(commit!.md5.toString("hex")).toBe(createHash("md5").update(body).digest("hex"));
  });

  it("a failed block aborts the others, fails the upload and commits nothing", async () => {
    const { target, calls, signals } = recordingTarget({ failAt: 2, delayMs: 5 });
    await expect(
      uploadBlocks(chunks(8 * MiB, 64 * 1024), target, {
        signal: signal(),
        blockSize: MiB,
        baseBlockSize: MiB,
        concurrency: 2,
      }),
    ).rejects.toThrow("block failed");
    expect(calls.some((c) => c.startsWith("commit"))).toBe(false);
    expect(signals.every((s) => s.aborted)).toBe(true);
  });

  it("the caller's abort stops reading, cancels in-flight blocks and throws AbortedError", async () => {
    const controller = new AbortController();
    const { target, calls } = recordingTarget({ delayMs: 1000 });
    let produced = 0;
    const body = new Readable({
      read() {
        produced += 64 * 1024;
        if (produced === 2 * MiB) setTimeout(() => controller.abort(), 5);
        this.push(Buffer.alloc(64 * 1024));
      },
    });
    const started = Date.now();
    await expect(
      uploadBlocks(body, target, {
        signal: controller.signal,
        blockSize: MiB,
        baseBlockSize: MiB,
        concurrency: 2,
      }),
    ).rejects.toBeInstanceOf(AbortedError);
    expect(Date.now() - started).toBeLessThan(900);
    expect(calls.some((c) => c.startsWith("commit"))).toBe(false);
    expect(body.destroyed).toBe(true);
  });

  it("memory stays bounded: at most concurrency blocks in flight plus the one being filled", async () => {
    const { target, maxInflight } = recordingTarget({ delayMs: 3 });
    let maxBuffered = 0;
    const body = chunks(24 * MiB, 256 * 1024);
    const wrapped: BlockTarget = {
      ...target,
      stageBlock: async (id, block, s) => {
        maxBuffered = Math.max(maxBuffered, (maxInflight() + 1) * block.length);
        return target.stageBlock(id, block, s);
      },
    };
    await uploadBlocks(body, wrapped, {
      signal: signal(),
      blockSize: MiB,
      baseBlockSize: MiB,
      concurrency: 2,
    });
    expect(maxInflight()).toBeLessThanOrEqual(2);
    expect(maxBuffered).toBeLessThanOrEqual(3 * MiB);
  });

  it("strings and Uint8Arrays from the stream are accepted; objects are refused (typed)", async () => {
    const { target, calls } = recordingTarget();
    await uploadBlocks(Readable.from(["ab", new Uint8Array([99])], { objectMode: true }), target, {
      signal: signal(),
      blockSize: MiB,
      concurrency: 1,
    });
    expect(calls).toEqual(["put:3"]);
    await expect(
      uploadBlocks(Readable.from([{ nope: true }], { objectMode: true }), target, {
        signal: signal(),
        blockSize: MiB,
        concurrency: 1,
      }),
    ).rejects.toThrow(/must yield bytes/);
  });
});
