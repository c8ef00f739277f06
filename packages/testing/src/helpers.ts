/**
 * Small helpers for driver tests: bodies of known content, and reading them back.
 */
import { createCipheriv, createHash, randomBytes as cryptoRandomBytes } from "node:crypto";
import { Readable } from "node:stream";

/** `n` random bytes (a Buffer, which is a Uint8Array). */
export function randomBytes(n: number): Buffer {
  return cryptoRandomBytes(n);
}

type Chunk = string | Uint8Array;

/** A Node Readable (byte mode) yielding the given chunks in order; strings are UTF-8 encoded. */
export function streamOf(...chunks: Chunk[]): Readable {
  return Readable.from(
    chunks.map((chunk) => (typeof chunk === "string" ? Buffer.from(chunk, "utf8") : Buffer.from(chunk))),
    { objectMode: false },
  );
}

/** Reads a Node stream, web ReadableStream or async iterable to the end into one Buffer. */
export async function collect(
  stream: AsyncIterable<Chunk> | NodeJS.ReadableStream | ReadableStream<Uint8Array>,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const iterable: AsyncIterable<unknown> =
    Symbol.asyncIterator in stream
      ? (stream as AsyncIterable<unknown>)
      : readWeb(stream as ReadableStream<Uint8Array>);
  for await (const chunk of iterable) {
    chunks.push(typeof chunk === "string" ? Buffer.from(chunk, "utf8") : Buffer.from(chunk as Uint8Array));
  }
  return Buffer.concat(chunks);
}

async function* readWeb(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

export function digest(data: Uint8Array, algorithm: "md5" | "sha256"): string {
  return createHash(algorithm).update(data).digest("hex");
}

// CRC-32C (Castagnoli), written out here so the suite checks core's implementation instead of
// reusing it.
const CRC32C_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32C of `data` as 8 lower-case hex digits. */
export function crc32c(data: Uint8Array): string {
  return crc32cHex(crc32cUpdate(0xffffffff, data));
}

function crc32cUpdate(state: number, data: Uint8Array): number {
  let c = state;
  for (const byte of data) c = (CRC32C_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8)) >>> 0;
  return c;
}

function crc32cHex(state: number): string {
  return ((state ^ 0xffffffff) >>> 0).toString(16).padStart(8, "0");
}

/** What the suite computes itself from the bytes, to compare with what a backend reports. */
export interface LocalDigests {
  md5: string;
  sha256: string;
  crc32c: string;
}

/** MD5, SHA-256 and CRC-32C of the concatenation of `chunks`, in one pass. */
export function digestsOf(chunks: Iterable<Uint8Array>): LocalDigests {
  const md5 = createHash("md5");
  const sha256 = createHash("sha256");
  let crc = 0xffffffff;
  for (const chunk of chunks) {
    md5.update(chunk);
    sha256.update(chunk);
    crc = crc32cUpdate(crc, chunk);
  }
  return { md5: md5.digest("hex"), sha256: sha256.digest("hex"), crc32c: crc32cHex(crc) };
}

/**
 * A large body that never sits in memory: bytes are a pure function of their offset (AES-CTR of
 * zeros under a fixed key), so any range of it can be recomputed to check a ranged read.
 */
export class DeterministicBody {
  private static readonly KEY = Buffer.alloc(16, 7);
  constructor(
    readonly size: number,
    private readonly seed = 1,
  ) {}

  /** Bytes [start, end) of the body. */
  slice(start: number, end: number): Buffer {
    const from = Math.max(0, start);
    const to = Math.min(this.size, end);
    if (to <= from) return Buffer.alloc(0);
    const block = Math.floor(from / 16);
    const iv = Buffer.alloc(16);
    iv.writeUInt32BE(this.seed, 0);
    iv.writeBigUInt64BE(BigInt(block), 8);
    const cipher = createCipheriv("aes-128-ctr", DeterministicBody.KEY, iv);
    const skip = from - block * 16;
    const out = cipher.update(Buffer.alloc(skip + (to - from)));
    return out.subarray(skip);
  }

  /** The whole body as a stream of `chunkSize` chunks, generated on demand. */
  stream(chunkSize = 1024 * 1024): Readable {
    const self = this;
    return Readable.from(
      (function* () {
        for (let offset = 0; offset < self.size; offset += chunkSize) {
          yield self.slice(offset, offset + chunkSize);
        }
      })(),
      { objectMode: false },
    );
  }

  /** MD5, SHA-256 and CRC-32C of the whole body, computed chunk by chunk. */
  digests(): LocalDigests {
    const self = this;
    const chunk = 1024 * 1024;
    return digestsOf(
      (function* () {
        for (let offset = 0; offset < self.size; offset += chunk) yield self.slice(offset, offset + chunk);
      })(),
    );
  }

  /** SHA-256 of the whole body, computed chunk by chunk. */
  sha256(): string {
    const hash = createHash("sha256");
    const chunk = 1024 * 1024;
    for (let offset = 0; offset < this.size; offset += chunk) hash.update(this.slice(offset, offset + chunk));
    return hash.digest("hex");
  }
}

/** SHA-256 and size of a stream, read without keeping it in memory. */
export async function hashStream(stream: AsyncIterable<unknown>): Promise<{ sha256: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of stream) {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Uint8Array);
    hash.update(bytes);
    size += bytes.byteLength;
  }
  return { sha256: hash.digest("hex"), size };
}

/**
 * An endless body for abort/timeout tests: yields `chunkSize` chunks, each only when the consumer
 * asks for it, and calls `onChunk` with the count so a test can act after a given amount was
 * consumed (no timers). Stops after `limit` bytes so a test whose abort never fires ends (and
 * fails) instead of hanging. Written as a plain iterator, not a generator, so a consumer that gives
 * up (`return()`) is answered at once even while the body is stalled.
 */
export function slowBody(options: {
  chunkSize?: number;
  limit?: number;
  onChunk?: (count: number) => void;
  /** Called once when the consumer gives up on the body (`return()`: destroyed, aborted). */
  onClose?: () => void;
  /** After this many chunks, wait for `release` (or the consumer to give up) before going on. */
  stallAfter?: number;
  release?: Promise<void>;
}): AsyncIterable<Uint8Array> {
  const chunkSize = options.chunkSize ?? 64 * 1024;
  const limit = options.limit ?? 256 * 1024 * 1024;
  return {
    [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
      let count = 0;
      let closed = false;
      let giveUp: (() => void) | undefined;
      const cancelled = new Promise<void>((resolve) => {
        giveUp = resolve;
      });
      const done = (): IteratorResult<Uint8Array> => ({ done: true, value: undefined });
      return {
        async next() {
          if (closed || count * chunkSize >= limit) return done();
          if (options.stallAfter !== undefined && count >= options.stallAfter) {
            await Promise.race([options.release ?? new Promise<void>(() => {}), cancelled]);
          }
          await new Promise<void>((resolve) => setImmediate(resolve));
          if (closed) return done();
          count += 1;
          options.onChunk?.(count);
          return { done: false, value: Buffer.alloc(chunkSize, count & 0xff) };
        },
        async return() {
          if (!closed) options.onClose?.();
          closed = true;
          giveUp?.();
          return done();
        },
      };
    },
  };
}
