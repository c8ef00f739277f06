/**
 * Writing a streamed body into an open temporary file while its MD5 is taken.
 *
 * The body's chunks are gathered as they come (no copy) and written a batch at a time with one
 * `writev` — one thread-pool trip per BATCH_BYTES instead of one per chunk, and no stream stages
 * (the driver used to pipe the body through a hashing Transform into a WriteStream). While one
 * batch is being written the next one gathers, so memory per save is two batches at most.
 *
 * The MD5 is taken here, chunk by chunk, on the calling thread. Hashing on worker threads (reading
 * each written batch back) was measured against this in one run of bench/uploads.mjs (100
 * concurrent 10 MiB uploads, two busy cores): it freed the main thread but cost 0.7 s more CPU per
 * GiB (the read-back, the messages) and ~18 MiB of RSS per worker, and it was slower overall
 * (0.62× vs 0.75× the baseline's throughput; 195 vs 161 MiB peak). A plain folder
 * (records: false) is not hashed: nothing keeps the checksum.
 */
import { createHash } from "node:crypto";
import { writev } from "node:fs";
import type { Readable } from "node:stream";
import { abortError, chunkReader } from "@storages/core";

/** Bytes gathered per write: 4 × fewer writes than 64 KiB chunks; two batches per save at most. */
export const BATCH_BYTES = 256 * 1024;

function writevAt(fd: number, chunks: Buffer[], position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    writev(fd, chunks, position, (error, written) => (error ? reject(error) : resolve(written)));
  });
}

/** Writes all of `chunks` at `position` (one writev unless the kernel writes less). */
async function writeChunks(fd: number, chunks: Buffer[], position: number): Promise<void> {
  let rest = chunks;
  for (let at = position; rest.length > 0; ) {
    let written = await writevAt(fd, rest, at);
    at += written;
    while (rest.length > 0 && written >= rest[0]!.length) written -= rest.shift()!.length;
    if (rest.length > 0 && written > 0) rest = [rest[0]!.subarray(written), ...rest.slice(1)];
  }
}

/**
 * Writes `body` into `fd` (empty, open for writing) and returns the MD5 (hex) of what was written,
 * or undefined when `hashed` is false. Settles only when no write it started is still running, so
 * the caller may close `fd` at once.
 */
export async function writeBody(
  body: Readable,
  fd: number,
  signal: AbortSignal,
  hashed: boolean,
): Promise<string | undefined> {
  const read = chunkReader(body);
  const onAbort = () => body.destroy(abortError(signal));
  signal.addEventListener("abort", onAbort, { once: true });
  const digest = hashed ? createHash("md5") : undefined;
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let position = 0;
  /** The last batch's write; it settles only after the one before it has. */
  let previous: Promise<void> = Promise.resolve();
  const flush = async () => {
    const writing = writeChunks(fd, batch, position);
    position += batchBytes;
    batch = [];
    batchBytes = 0;
    const before = previous;
    previous = Promise.allSettled([before, writing]).then(([earlier, own]) => {
      if (earlier.status === "rejected") throw earlier.reason;
      if (own.status === "rejected") throw own.reason;
    });
    previous.catch(() => {}); // awaited below, or by the next batch
    // At most two batches at once: wait for the one before this.
    await before;
  };
  try {
    for (let chunk = await read(); chunk !== undefined; chunk = await read()) {
      digest?.update(chunk);
      batch.push(chunk);
      batchBytes += chunk.length;
      if (batchBytes >= BATCH_BYTES) await flush();
    }
    if (signal.aborted) throw abortError(signal);
    if (batchBytes > 0) await flush();
    await previous;
    return digest?.digest("hex");
  } catch (error) {
    if (!body.destroyed) body.destroy();
    throw signal.aborted ? abortError(signal) : error;
  } finally {
    signal.removeEventListener("abort", onAbort);
    await previous.catch(() => {}); // no write may still be running on the descriptor
  }
}
