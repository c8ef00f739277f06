/**
 * Uploads a body of any size with bounded memory: one PutObject when it fits in a part, else a
 * multipart upload with at most `queueSize` parts in flight.
 *
 * Why not lib-storage's Upload: it reads the stream through its async iterator (which concatenates
 * buffered chunks into new Buffers) and concatenates every part into a fresh Buffer; that garbage,
 * not the parts in flight, is what drives peak RSS (measured for a 1 GiB stream with 8 MiB parts:
 * ~200–240 MB for the whole process, ~130 MB here). Here chunks are taken one by one as the producer
 * pushed them and copied into a fixed pool of `queueSize + 1` reused part buffers. The protocol is
 * lib-storage's: CRC32 declared on CreateMultipartUpload when the client computes checksums, part
 * checksums repeated on completion. Any failure or abort aborts the multipart upload before this
 * function settles, so no parts are left to bill.
 */
import type { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { chunkReader } from "@storages/core";

/** S3's limit on parts per upload. */
const MAX_PARTS = 10_000;

export interface UploadBodyOptions {
  client: S3Client;
  /** PutObject parameters without Body; create-only ones (IfNoneMatch) also go to completion. */
  params: Omit<PutObjectCommandInput, "Body" | "ContentLength">;
  partSize: number;
  queueSize: number;
  signal: AbortSignal;
  /** Runs just before CompleteMultipartUpload (create-exclusive checks on servers that ignore If-None-Match there). */
  beforeComplete?: (() => Promise<void>) | undefined;
}

export interface UploadBodyResult {
  size: number;
  etag: string | undefined;
  /** Parts used (1 for a single PutObject). */
  parts: number;
}

interface Part {
  data: Uint8Array;
  release(): void;
}

interface PartSource {
  /** The next part, or undefined at the end. Calls must not overlap. */
  next(): Promise<Part | undefined>;
  /** True when nothing follows what has been read (reads ahead one chunk at most). */
  ended(): Promise<boolean>;
  destroy(reason: unknown): void;
}

/** Parts of an in-memory body: views, no copies. */
function bytesParts(bytes: Uint8Array, partSize: number): PartSource {
  let offset = 0;
  let started = false;
  return {
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
  };
}

/**
 * Parts of a stream, copied into a fixed pool of reusable buffers. Chunks are read one by one as
 * the producer pushed them (core's chunkReader), not through the stream's async iterator, which
 * concatenates buffered chunks into new Buffers.
 */
function streamParts(body: Readable, partSize: number, poolSize: number): PartSource {
  const read = chunkReader(body);
  const free: Buffer[] = [];
  const waiting: Array<(buffer: Buffer) => void> = [];
  let allocated = 0;
  let pending: Buffer | undefined;

  const release = (buffer: Buffer) => {
    const waiter = waiting.shift();
    if (waiter) waiter(buffer);
    else free.push(buffer);
  };
  const take = async (): Promise<Buffer> => {
    const reused = free.pop();
    if (reused) return reused;
    if (allocated < poolSize) {
      allocated += 1;
      return Buffer.allocUnsafe(partSize);
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
    async next() {
      const first = await pull();
      if (first === undefined) return undefined;
      pending = first;
      const buffer = await take();
      let filled = 0;
      while (filled < partSize) {
        const chunk = await pull();
        if (chunk === undefined) break;
        const n = Math.min(chunk.length, partSize - filled);
        chunk.copy(buffer, filled, 0, n);
        filled += n;
        if (n < chunk.length) pending = chunk.subarray(n);
      }
      return { data: buffer.subarray(0, filled), release: () => release(buffer) };
    },
    async ended() {
      if (pending) return false;
      pending = await pull();
      return pending === undefined;
    },
    destroy(reason) {
      if (!body.destroyed) body.destroy(reason instanceof Error ? reason : new Error(String(reason)));
    },
  };
}

export async function uploadBody(
  body: Readable | Uint8Array,
  options: UploadBodyOptions,
): Promise<UploadBodyResult> {
  const { client, params, partSize, queueSize, signal } = options;
  const { Bucket, Key } = params;
  const source =
    body instanceof Uint8Array ? bytesParts(body, partSize) : streamParts(body, partSize, queueSize + 1);
  let uploadId: string | undefined;
  let creating: Promise<unknown> | undefined;
  let completed = false;
  /** Part requests still running: aborting the upload under them could let a part land after it. */
  const inFlight = new Set<Promise<unknown>>();

  // A stalled async-iterable body only lets its stream close when it yields again: on abort, stop
  // waiting at once (the multipart upload is aborted below either way).
  let rejectAborted: (reason: unknown) => void = () => {};
  const aborted = new Promise<never>((_, reject) => {
    rejectAborted = reject;
  });
  aborted.catch(() => {});
  const onAbort = () => {
    source.destroy(signal.reason);
    rejectAborted(signal.reason);
  };
  signal.addEventListener("abort", onAbort, { once: true });

  const run = async (): Promise<UploadBodyResult> => {
    const first = await source.next();
    if (first === undefined || (await source.ended())) {
      const data = first?.data ?? new Uint8Array(0);
      try {
        const out = await client.send(
          new PutObjectCommand({ ...params, Body: data, ContentLength: data.byteLength }),
          {
            abortSignal: signal,
          },
        );
        return { size: data.byteLength, etag: out.ETag, parts: 1 };
      } finally {
        first?.release();
      }
    }

    const checksums = (await client.config.requestChecksumCalculation()) === "WHEN_SUPPORTED";
    const { IfNoneMatch: _ifNoneMatch, ...createParams } = params;
    // Checked right before `creating` is set: an abort either prevents the upload or finds it.
    if (signal.aborted) throw signal.reason;
    // Not cancelled by the signal: a create cancelled in flight could exist without our knowing its id.
    creating = client.send(
      new CreateMultipartUploadCommand({
        ...createParams,
        ChecksumAlgorithm: checksums ? "CRC32" : params.ChecksumAlgorithm,
      }),
    );
    const created = (await creating) as { UploadId?: string };
    uploadId = created.UploadId;
    if (!uploadId) throw new Error("CreateMultipartUpload returned no UploadId.");
    if (signal.aborted) throw signal.reason;

    const parts: CompletedPart[] = [];
    let size = 0;
    let partNumber = 0;
    let failure: { error: unknown } | undefined;
    let reading: Promise<unknown> = Promise.resolve();
    let held: Part | undefined = first;
    // Reads are serialised: parts are numbered in stream order.
    const nextPart = (): Promise<{ part: Part; number: number } | undefined> => {
      const read = reading.then(async () => {
        if (failure) return undefined;
        const part = held ?? (await source.next());
        held = undefined;
        if (part === undefined) return undefined;
        partNumber += 1;
        if (partNumber > MAX_PARTS) {
          part.release();
          throw new Error(
            `The body needs more than ${MAX_PARTS} parts of ${partSize} bytes: raise partSize (or pass size).`,
          );
        }
        return { part, number: partNumber };
      });
      reading = read.catch(() => {});
      return read;
    };
    const worker = async () => {
      while (!failure) {
        const next = await nextPart();
        if (next === undefined) return;
        const { part, number } = next;
        try {
          const sending = client.send(
            new UploadPartCommand({
              Bucket,
              Key,
              UploadId: uploadId,
              PartNumber: number,
              Body: part.data,
              ContentLength: part.data.byteLength,
            }),
            { abortSignal: signal },
          );
          inFlight.add(sending);
          const out = await sending.finally(() => inFlight.delete(sending));
          size += part.data.byteLength;
          parts.push({
            PartNumber: number,
            ETag: out.ETag,
            ...(out.ChecksumCRC32 ? { ChecksumCRC32: out.ChecksumCRC32 } : {}),
          });
        } finally {
          part.release();
        }
      }
    };
    const results = await Promise.allSettled(
      Array.from({ length: queueSize }, () =>
        worker().catch((error: unknown) => {
          // One failed part dooms the upload: stop the other workers, and the body.
          failure ??= { error };
          source.destroy(error);
          throw error;
        }),
      ),
    );
    if (failure) throw failure.error;
    if (results.some((result) => result.status === "rejected")) throw new Error("A part upload failed.");
    if (signal.aborted) throw signal.reason;

    await options.beforeComplete?.();
    parts.sort((a, b) => a.PartNumber! - b.PartNumber!);
    const out = await client.send(
      new CompleteMultipartUploadCommand({
        Bucket,
        Key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts },
        IfNoneMatch: params.IfNoneMatch,
      }),
    );
    completed = true;
    return { size, etag: out.ETag, parts: parts.length };
  };

  try {
    if (signal.aborted) throw signal.reason;
    return await Promise.race([run(), aborted]);
  } catch (error) {
    source.destroy(error);
    // An abort can land while CreateMultipartUpload is in flight: wait for its id, then abort it.
    const created = (await creating?.catch(() => undefined)) as { UploadId?: string } | undefined;
    await Promise.allSettled([...inFlight]);
    const id = uploadId ?? created?.UploadId;
    if (id && !completed) {
      await client
        .send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId: id }))
        .catch(() => undefined);
    }
    throw error;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}
