/**
 * Writing a streamed body into an open temporary file while its MD5 is taken — off the main thread.
 *
 * The MD5 is most of what a streamed save costs this process (~2 s of CPU per GiB on the machines
 * we measure), and it used to run on the main thread, where it competed with everything else a
 * server does: 100 concurrent uploads through the handler were bound by the main thread
 * (bench/uploads.mjs). Now the main thread only writes: it gathers the body's chunks as they come
 * (no copy) and writes each batch with one `writev` (one thread-pool trip per BATCH_BYTES instead
 * of one per chunk); once a batch is on the file, a worker thread reads that range back from the
 * page cache through the same descriptor and hashes it, in file order. So the checksum is of the
 * bytes the file holds, taken on another core, and the main thread's extra work is one message
 * per batch. Memory per save: the chunks of two batches at most (one being written, one filling).
 *
 * A body that ends within its first batch is hashed here (no worker round trip, and no worker at
 * all for a process that only saves small files); a plain folder's (records: false) is not hashed
 * at all, since nothing keeps the checksum. The descriptor must be open for reading too. If
 * the worker cannot start or dies, the save fails with that error (never a wrong checksum); the
 * next save starts a new worker. This settles only when neither the thread pool nor the worker
 * will touch the descriptor again, so the caller may close it at once.
 */
import { createHash } from "node:crypto";
import { writev } from "node:fs";
import { availableParallelism } from "node:os";
import type { Readable } from "node:stream";
import { Worker } from "node:worker_threads";
import { abortError, chunkReader } from "@storages/core";

/** Bytes gathered per write: 4 × fewer writes than 64 KiB chunks; two batches per save at most. */
export const BATCH_BYTES = 256 * 1024;

// CommonJS source run with `eval`: no separate file to resolve from the sources (tests) or dist.
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { readSync } = require("node:fs");
const { createHash } = require("node:crypto");
const buffer = Buffer.allocUnsafe(${4 * BATCH_BYTES});
const jobs = new Map();
parentPort.on("message", (m) => {
  if (m.op === "range") {
    let job = jobs.get(m.id);
    if (job === undefined) jobs.set(m.id, (job = { hash: createHash("md5"), error: undefined }));
    for (let done = 0; done < m.length && job.error === undefined; ) {
      try {
        const n = readSync(m.fd, buffer, 0, Math.min(buffer.length, m.length - done), m.position + done);
        if (n === 0) throw new Error("The file is shorter than what was written to it.");
        job.hash.update(buffer.subarray(0, n));
        done += n;
      } catch (error) {
        job.error = error;
      }
    }
  } else if (m.op === "digest") {
    const job = jobs.get(m.id);
    jobs.delete(m.id);
    if (job?.error) parentPort.postMessage({ id: m.id, error: job.error });
    else parentPort.postMessage({ id: m.id, digest: (job?.hash ?? createHash("md5")).digest("hex") });
  } else if (m.op === "drop") {
    jobs.delete(m.id);
    parentPort.postMessage({ id: m.id });
  }
});
`;

interface Waiter {
  resolve: (digest: string | undefined) => void;
  reject: (error: unknown) => void;
}

/**
 * The process's MD5 worker: one thread for every save (MD5 runs at ~500 MiB/s per core, more than
 * a save's disk and network usually give it). Referenced only while some save waits on it, so an
 * idle worker never keeps the process alive.
 */
class HashWorker {
  private worker: Worker | undefined;
  private nextId = 1;
  /** Hashes opened and not yet digested or dropped: how busy it is. */
  jobs = 0;
  /** The reply each hash waits for (a digest, or the ack of a drop). */
  private readonly waiting = new Map<number, Waiter>();

  private ensure(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true, name: "storages-fs-md5" });
    worker.unref();
    worker.on("message", (message: { id: number; digest?: string; error?: unknown }) => {
      const waiter = this.waiting.get(message.id);
      this.waiting.delete(message.id);
      if (this.waiting.size === 0) worker.unref();
      if (message.error !== undefined) waiter?.reject(message.error);
      else waiter?.resolve(message.digest);
    });
    const fail = (error: unknown) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      const reason =
        error instanceof Error ? error : new Error(`The MD5 worker thread stopped (exit code ${error}).`);
      const waiters = [...this.waiting.values()];
      this.waiting.clear();
      for (const waiter of waiters) waiter.reject(reason);
    };
    worker.on("error", fail);
    worker.on("exit", fail);
    this.worker = worker;
    return worker;
  }

  /** A new hash; its ranges go to the worker that is running now. */
  open(): { id: number; worker: Worker } {
    this.jobs += 1;
    return { id: this.nextId++, worker: this.ensure() };
  }

  /** Hash `length` bytes of `fd` from `position` (after those before it); no reply. */
  range(job: { id: number; worker: Worker }, fd: number, position: number, length: number): void {
    job.worker.postMessage({ op: "range", id: job.id, fd, position, length });
  }

  /** The MD5 of every range sent; rejects if a read failed or the worker is gone. */
  digest(job: { id: number; worker: Worker }): Promise<string> {
    return this.reply(job, "digest") as Promise<string>;
  }

  /** Forgets a hash; resolves once the worker will read nothing more for it. */
  async drop(job: { id: number; worker: Worker }): Promise<void> {
    await this.reply(job, "drop").catch(() => {}); // a dead worker reads nothing either
  }

  private reply(job: { id: number; worker: Worker }, op: "digest" | "drop"): Promise<string | undefined> {
    // Called once per hash, to end it.
    this.jobs -= 1;
    if (this.worker !== job.worker) return Promise.reject(new Error("The MD5 worker thread stopped."));
    return new Promise((resolve, reject) => {
      if (this.waiting.size === 0) job.worker.ref();
      this.waiting.set(job.id, { resolve, reject });
      job.worker.postMessage({ op, id: job.id });
    });
  }
}

/**
 * One worker per core, up to 4: with many saves at once, one thread's MD5 (~500 MiB/s) fell behind
 * the bytes arriving, and every save then waited for the others' bytes to be hashed before its own
 * digest. Each save hashes on the least busy one.
 */
const hashers = Array.from({ length: Math.min(4, availableParallelism()) }, () => new HashWorker());

interface HashJob {
  hasher: HashWorker;
  id: number;
  worker: Worker;
}

function openJob(): HashJob {
  const hasher = hashers.reduce((least, h) => (h.jobs < least.jobs ? h : least));
  return { hasher, ...hasher.open() };
}

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
 * Writes `body` into `fd` (open for reading and writing, empty) and returns the MD5 (hex) of what
 * was written (undefined when `hashed` is false). Settles only when nothing it started still uses
 * `fd`.
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
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let position = 0;
  let job: HashJob | undefined;
  /** The last batch's write, then the message naming its range to the worker. */
  let previous: Promise<void> = Promise.resolve();
  try {
    const flush = async () => {
      if (hashed) job ??= openJob();
      const started = job;
      const chunks = batch;
      const at = position;
      const length = batchBytes;
      batch = [];
      batchBytes = 0;
      position += length;
      const writing = writeChunks(fd, chunks, at);
      const before = previous;
      // In file order: the worker reads a range only once it is written, and after the ones before;
      // and this settles only once this write has, whatever became of the one before.
      previous = Promise.allSettled([before, writing]).then(([earlier, own]) => {
        if (earlier.status === "rejected") throw earlier.reason;
        if (own.status === "rejected") throw own.reason;
        if (started) started.hasher.range(started, fd, at, length);
      });
      previous.catch(() => {}); // awaited below, or by the next batch
      // At most two batches at once: wait for the one before this.
      await before;
    };
    for (let chunk = await read(); chunk !== undefined; chunk = await read()) {
      batch.push(chunk);
      batchBytes += chunk.length;
      if (batchBytes >= BATCH_BYTES) await flush();
    }
    if (signal.aborted) throw abortError(signal);
    if (!hashed) {
      if (batchBytes > 0) await flush();
      await previous;
      return undefined;
    }
    if (job === undefined) {
      // All of it came in one batch: one write, hashed here.
      const digest = createHash("md5");
      for (const chunk of batch) digest.update(chunk);
      await writeChunks(fd, batch, 0);
      return digest.digest("hex");
    }
    if (batchBytes > 0) await flush();
    await previous;
    // Once asked for, the digest ends the hash (its reply comes after every range is read).
    const ending = job;
    job = undefined;
    return await ending.hasher.digest(ending);
  } catch (error) {
    if (!body.destroyed) body.destroy();
    throw signal.aborted ? abortError(signal) : error;
  } finally {
    signal.removeEventListener("abort", onAbort);
    // No write may still be running on the descriptor, and no read of it on the worker.
    await previous.catch(() => {});
    if (job !== undefined) await job.hasher.drop(job);
  }
}
