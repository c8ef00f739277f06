/**
 * Staged block uploads with bounded memory.
 *
 * Why not the SDK's `uploadStream`: it buffers `bufferSize × maxConcurrency`, uses one block size
 * for the whole stream (so an unknown-length stream either wastes memory or hits the 50,000-block
 * limit), never passes the abort signal to in-flight `stageBlock` calls, and always stages + commits
 * even a 3-byte stream. Here: a body that ends inside the first block goes up in one Put Blob; a
 * longer one is staged with at most `concurrency` blocks in flight plus the one being filled, and an
 * abort cancels every request at once.
 *
 * Block sizes: with a known size, the block size is the smallest whole MiB ≥ `baseBlockSize` that
 * fits the size into 50,000 blocks. With an unknown size, blocks start at `baseBlockSize` and double
 * every 10,000 blocks, so an 8 MiB base covers ~2.36 TiB in 50,000 blocks while memory stays at
 * (concurrency + 1) × 8 MiB for anything under 78 GiB. Azure accepts mixed block sizes in one blob.
 *
 * Checksums: Azure computes the Content-MD5 of a Put Blob itself, but never of a committed block
 * list; so the body is hashed here as it is read (one pass, in stream order) and the commit sets
 * the blob's Content-MD5 to it. Azure stores that value as given (Azurite checked: it verifies
 * nothing at commit), which is why it must be the MD5 of exactly the bytes staged.
 */
import { createHash, randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import { AbortedError, chunkReader, InvalidArgumentError } from "@storages/core";

export const MiB = 1024 * 1024;
/** Azure's limit on committed blocks per blob. */
export const MAX_BLOCKS = 50_000;
/** Largest block Azure accepts (service version 2019-12-12 and later). */
export const MAX_BLOCK_SIZE = 4000 * MiB;
export const DEFAULT_BLOCK_SIZE = 8 * MiB;
/** Unknown-length streams double their block size after this many blocks. */
export const BLOCK_GROWTH_INTERVAL = 10_000;
/** Largest blob Azure stores: 50,000 blocks of 4,000 MiB (~190.7 TiB). */
export const MAX_BLOB_SIZE = MAX_BLOCKS * MAX_BLOCK_SIZE;

/** Block size for a body of `expectedSize` bytes (undefined: unknown). */
export function plannedBlockSize(
  expectedSize: number | undefined,
  baseBlockSize = DEFAULT_BLOCK_SIZE,
): number {
  if (expectedSize === undefined) return baseBlockSize;
  if (expectedSize > MAX_BLOB_SIZE) {
    throw new InvalidArgumentError(
      `The body is ${expectedSize} bytes; an Azure block blob holds at most ${MAX_BLOB_SIZE} bytes (50,000 blocks of 4,000 MiB). Split the file.`,
    );
  }
  const needed = Math.ceil(Math.ceil(expectedSize / MAX_BLOCKS) / MiB) * MiB;
  return Math.min(MAX_BLOCK_SIZE, Math.max(baseBlockSize, needed));
}

/** Size of block number `index` (0-based): the planned size, grown for streams longer than planned. */
export function blockSizeAt(index: number, planned: number, baseBlockSize = DEFAULT_BLOCK_SIZE): number {
  const grown = baseBlockSize * 2 ** Math.floor(index / BLOCK_GROWTH_INTERVAL);
  return Math.min(MAX_BLOCK_SIZE, Math.max(planned, grown));
}

/** Largest stream of unknown length that fits in 50,000 blocks with this base block size. */
export function maxUnknownLengthSize(baseBlockSize = DEFAULT_BLOCK_SIZE): number {
  let total = 0;
  for (let group = 0; group < MAX_BLOCKS / BLOCK_GROWTH_INTERVAL; group++) {
    total += BLOCK_GROWTH_INTERVAL * blockSizeAt(group * BLOCK_GROWTH_INTERVAL, baseBlockSize, baseBlockSize);
  }
  return total;
}

/** Block ids must be base64 and all of the same length within a blob. */
export function blockId(uploadId: string, index: number): string {
  return Buffer.from(`${uploadId}-${String(index).padStart(6, "0")}`).toString("base64");
}

/** What `uploadBlocks` needs from a blob; the driver binds it to the SDK (tests bind it to a stub). */
export interface BlockTarget {
  /** The whole body in one request (it ended inside the first block). */
  putWhole(body: Buffer, signal: AbortSignal): Promise<{ etag?: string | undefined }>;
  /** Called once before the first block is staged (the body is longer than one block). */
  beforeStaging?(signal: AbortSignal): Promise<void>;
  stageBlock(id: string, body: Buffer, signal: AbortSignal): Promise<void>;
  /** `md5`: the MD5 of every byte staged, in order (the blob's Content-MD5). */
  commit(ids: string[], signal: AbortSignal, md5: Buffer): Promise<{ etag?: string | undefined }>;
}

export interface UploadBlocksOptions {
  signal: AbortSignal;
  /** From plannedBlockSize(). */
  blockSize: number;
  baseBlockSize?: number | undefined;
  /** Blocks uploading at once (memory: (concurrency + 1) × block size). */
  concurrency: number;
}

export interface UploadBlocksResult {
  size: number;
  etag?: string | undefined;
  blocks: number;
}

export async function uploadBlocks(
  body: Readable,
  target: BlockTarget,
  options: UploadBlocksOptions,
): Promise<UploadBlocksResult> {
  const base = options.baseBlockSize ?? DEFAULT_BLOCK_SIZE;
  const concurrency = Math.max(1, options.concurrency);
  // One controller for every request of this upload: a failed block or the caller's abort stops all.
  const controller = new AbortController();
  const signal = controller.signal;
  const onOuterAbort = () => controller.abort(options.signal.reason);
  if (options.signal.aborted) throw new AbortedError();
  options.signal.addEventListener("abort", onOuterAbort, { once: true });
  // A source that stalls would keep `for await` waiting forever: destroy it on abort.
  const onAbort = () => body.destroy(new AbortedError());
  signal.addEventListener("abort", onAbort, { once: true });

  const uploadId = randomBytes(12).toString("hex");
  const ids: string[] = [];
  const inflight = new Set<Promise<void>>();
  // An object, so TypeScript sees that the request callbacks change it between awaits.
  const state: { failure?: { error: unknown } } = {};
  let parts: Buffer[] = [];
  let filled = 0;
  let total = 0;

  const throwIfFailed = () => {
    if (state.failure) throw state.failure.error;
  };
  const fail = (error: unknown) => {
    state.failure ??= { error };
    controller.abort(error);
  };

  // Block buffers are reused once their request is done: without a pool, every 8 MiB block is a
  // fresh allocation and the process's RSS climbs with garbage long before the GC returns it.
  const pool: Buffer[] = [];
  const assemble = (blockSize: number): { block: Buffer; pooled?: Buffer } => {
    if (parts.length === 1) return { block: parts[0] as Buffer };
    let buffer = pool.pop();
    while (buffer && buffer.length < filled) buffer = pool.pop(); // outgrown (block sizes grew)
    buffer ??= Buffer.allocUnsafe(blockSize);
    let offset = 0;
    for (const part of parts) offset += part.copy(buffer, offset);
    return { block: buffer.subarray(0, filled), pooled: buffer };
  };

  const stage = async ({ block, pooled }: { block: Buffer; pooled?: Buffer }) => {
    if (ids.length === 0) await target.beforeStaging?.(signal);
    const id = blockId(uploadId, ids.length);
    ids.push(id);
    const request: Promise<void> = target.stageBlock(id, block, signal).then(
      () => {
        inflight.delete(request);
        if (pooled) pool.push(pooled);
      },
      (error: unknown) => {
        inflight.delete(request);
        fail(error);
      },
    );
    inflight.add(request);
    while (inflight.size >= concurrency && !state.failure) await Promise.race(inflight);
  };

  // Chunk by chunk as pushed: the stream's async iterator would concatenate buffered chunks into
  // fresh Buffers (a copy of the body, and the garbage that drove peak RSS).
  const read = chunkReader(body);
  const md5 = createHash("md5");
  try {
    for (let chunk = await read(); chunk !== undefined; chunk = await read()) {
      md5.update(chunk);
      let rest = chunk;
      while (rest.length > 0) {
        const size = blockSizeAt(ids.length, options.blockSize, base);
        const take = Math.min(rest.length, size - filled);
        parts.push(take === rest.length ? rest : rest.subarray(0, take));
        rest = rest.subarray(take);
        filled += take;
        total += take;
        if (filled === size) {
          const assembled = assemble(size);
          parts = [];
          filled = 0;
          await stage(assembled);
          throwIfFailed();
        }
      }
    }
    throwIfFailed();
    if (ids.length === 0) {
      const whole = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, filled);
      const { etag } = await target.putWhole(whole, signal);
      return { size: total, etag, blocks: 0 };
    }
    if (filled > 0) await stage(assemble(filled));
    parts = [];
    while (inflight.size > 0) await Promise.race(inflight);
    throwIfFailed();
    const { etag } = await target.commit(ids, signal, md5.digest());
    return { size: total, etag, blocks: ids.length };
  } catch (error) {
    fail(error);
    // Let in-flight requests settle (they were aborted) so none outlives the call.
    await Promise.allSettled([...inflight]);
    if (!body.destroyed) body.destroy();
    if (options.signal.aborted) throw new AbortedError(undefined, { cause: options.signal.reason });
    throw state.failure?.error ?? error;
  } finally {
    options.signal.removeEventListener("abort", onOuterAbort);
    signal.removeEventListener("abort", onAbort);
  }
}
