/**
 * Where an upload's parts come from: a storage's shared, bounded pool of part buffers
 * (PartBuffers), and the parts of a body — views of one in memory, or a stream's chunks copied into
 * pooled buffers. multipart-upload.ts decides what to send with them (one PutObject or a multipart
 * upload).
 */
import type { Readable } from "node:stream";
import { chunkReader } from "@storages/core";

/**
 * A body that ends within this many parts goes in one PutObject, not a multipart upload: it is held
 * in as many part buffers either way (one part sending while the next fills), and one request
 * instead of five (create, two parts, complete, the copy that records the MD5) cut the server CPU
 * of 10 MiB uploads by a quarter (bench/uploads.mjs).
 */
export const SINGLE_REQUEST_PARTS = 2;

/**
 * The part buffers of a storage's uploads: at most `limit` held at once across all of them, and
 * reused from one upload to the next.
 *
 * Each upload holds up to `queueSize + 1` parts, so without a bound across uploads a server's
 * memory grew with its concurrent uploads; and buffers allocated per upload and dropped when it
 * ended were freed late by V8 (external memory): 100 uploads of 10 MiB through a server, 8 saves
 * at a time, peaked at ~350 MiB (bench/uploads.mjs). An upload waits for a permit before it starts
 * filling a part and gives it back when the part is sent. Only sends and a body's own bytes are
 * ever waited on while a permit is held, so an upload waiting here always gets one (no deadlock);
 * permits are tied to the upload's lifetime (`PartSource.finish`), so a failed upload never
 * leaks one.
 */
export class PartBuffers {
  private readonly idle: Buffer[] = [];
  private available: number;
  private readonly queue: Array<{ count: number; grant: () => void }> = [];

  constructor(
    readonly partSize: number,
    readonly limit: number,
  ) {
    this.available = limit;
  }

  /**
   * Permits to hold `count` buffers, granted together (now or when other uploads give enough back):
   * an upload that takes its first two parts at once never holds one while it waits for the other,
   * which two such uploads could otherwise do to each other forever. Granted in the order asked.
   */
  acquire(count = 1): { granted: Promise<void>; cancel: () => boolean } {
    if (this.queue.length === 0 && this.available >= count) {
      this.available -= count;
      return { granted: Promise.resolve(), cancel: () => false };
    }
    let grant!: () => void;
    const granted = new Promise<void>((resolve) => {
      grant = resolve;
    });
    const waiter = { count, grant };
    this.queue.push(waiter);
    return {
      granted,
      // True when it was still waiting (nothing to give back).
      cancel: () => {
        const at = this.queue.indexOf(waiter);
        if (at >= 0) this.queue.splice(at, 1);
        if (at === 0) this.grantWaiting();
        return at >= 0;
      },
    };
  }

  releasePermit(): void {
    this.available += 1;
    this.grantWaiting();
  }

  private grantWaiting(): void {
    for (let next = this.queue[0]; next && next.count <= this.available; next = this.queue[0]) {
      this.queue.shift();
      this.available -= next.count;
      next.grant();
    }
  }

  /** A buffer for a permit just granted: an idle one, else a new one. */
  take(): Buffer {
    return this.idle.pop() ?? Buffer.allocUnsafe(this.partSize);
  }

  /** Keeps a buffer nothing reads any more for the next part (idle + held never exceed `limit`). */
  give(buffer: Buffer): void {
    if (this.idle.length < this.limit) this.idle.push(buffer);
  }
}

export interface Part {
  data: Uint8Array;
  release(): void;
}

export interface PartSource {
  /**
   * Parts read before choosing between one PutObject and a multipart upload (SINGLE_REQUEST_PARTS,
   * fewer when the buffers allow fewer): their permits are granted together.
   */
  readonly headParts: number;
  /** Gives back permits granted for head parts the body turned out not to need. */
  releaseUnused(): void;
  /** The next part, or undefined at the end. Calls must not overlap. */
  next(): Promise<Part | undefined>;
  /** True when nothing follows what has been read (reads ahead one chunk at most). */
  ended(): Promise<boolean>;
  destroy(reason: unknown): void;
  /** The upload is over (settled, every request of it done): gives back the part permits it holds. */
  finish(): void;
}

/** Parts of an in-memory body: views, no copies. */
export function bytesParts(bytes: Uint8Array, partSize: number): PartSource {
  let offset = 0;
  let started = false;
  return {
    headParts: SINGLE_REQUEST_PARTS,
    releaseUnused() {},
    async next() {
      if (started && offset >= bytes.byteLength) return undefined;
      started = true;
      const data = bytes.subarray(offset, offset + partSize);
      offset += data.byteLength;
      return { data, release() {} };
    },
    async ended() {
      return offset >= bytes.byteLength;
    },
    destroy() {},
    finish() {},
  };
}

/**
 * Parts of a stream, copied into a fixed pool of reusable buffers. Chunks are read one by one as
 * the producer pushed them (core's chunkReader), not through the stream's async iterator, which
 * concatenates buffered chunks into new Buffers.
 */
export function streamParts(
  body: Readable,
  partSize: number,
  poolSize: number,
  sizeHint: number | undefined,
  shared: PartBuffers | undefined,
): PartSource {
  const read = chunkReader(body);
  const buffers = shared?.partSize === partSize ? shared : new PartBuffers(partSize, poolSize);
  const waiting: Array<(buffer: Buffer) => void> = [];
  /** Permits this upload holds (at most poolSize: the parts in flight and the one filling). */
  let held = 0;
  /** Of those, permits granted with the first and not yet turned into buffers. */
  let reserved = 0;
  const headParts = Math.min(SINGLE_REQUEST_PARTS, poolSize, buffers.limit);
  let firstPermit = true;
  let asking: { cancel: () => boolean } | undefined;
  let finished = false;
  let pending: Buffer | undefined;
  let firstPart = true;

  const release = (buffer: Buffer) => {
    if (finished) return; // its permit went back with the others; the buffer is left to the GC
    const waiter = waiting.shift();
    if (waiter) return waiter(buffer);
    held -= 1;
    buffers.give(buffer);
    buffers.releasePermit();
  };
  const take = async (): Promise<Buffer> => {
    if (reserved > 0) {
      reserved -= 1;
      return buffers.take();
    }
    if (held < poolSize) {
      // The head's parts are asked for together (see PartBuffers.acquire).
      const count = firstPermit ? headParts : 1;
      firstPermit = false;
      const permit = buffers.acquire(count);
      asking = permit;
      await permit.granted;
      asking = undefined;
      if (finished) {
        for (let i = 0; i < count; i++) buffers.releasePermit();
        throw new Error("The upload ended while it waited for a part buffer.");
      }
      held += count;
      reserved = count - 1;
      return buffers.take();
    }
    return new Promise((resolve) => waiting.push(resolve));
  };
  const pull = async (): Promise<Buffer | undefined> => {
    if (pending) {
      const chunk = pending;
      pending = undefined;
      return chunk;
    }
    return read();
  };

  return {
    headParts,
    releaseUnused() {
      if (finished) return;
      for (; reserved > 0; reserved -= 1) {
        held -= 1;
        buffers.releasePermit();
      }
    },
    async next() {
      const first = await pull();
      if (first === undefined) return undefined;
      pending = first;
      // A body announced smaller than a part starts in a buffer of its size; should it hold more
      // than announced, what was read moves into a part buffer and reading goes on.
      const small = firstPart && sizeHint !== undefined && sizeHint < partSize;
      firstPart = false;
      let buffer = small ? Buffer.allocUnsafe(Math.max(sizeHint, 1)) : await take();
      let pooled = !small;
      let filled = 0;
      while (filled < partSize) {
        if (filled === buffer.length) {
          const more = await pull();
          if (more === undefined) break;
          pending = more;
          const part = await take();
          buffer.copy(part, 0, 0, filled);
          buffer = part;
          pooled = true;
        }
        const chunk = await pull();
        if (chunk === undefined) break;
        const n = Math.min(chunk.length, buffer.length - filled);
        chunk.copy(buffer, filled, 0, n);
        filled += n;
        if (n < chunk.length) pending = chunk.subarray(n);
      }
      const data = buffer;
      return { data: data.subarray(0, filled), release: pooled ? () => release(data) : () => {} };
    },
    async ended() {
      if (pending) return false;
      pending = await pull();
      return pending === undefined;
    },
    destroy(reason) {
      if (!body.destroyed) body.destroy(reason instanceof Error ? reason : new Error(String(reason)));
    },
    finish() {
      if (finished) return;
      finished = true;
      // A permit granted while we stopped waiting goes back in take(); one still queued is dropped.
      asking?.cancel();
      reserved = 0;
      for (; held > 0; held -= 1) buffers.releasePermit();
    },
  };
}
