/**
 * Copying a local file into a save's temporary file by the kernel (copy_file_range, a reflink where
 * the filesystem has them) rather than through JavaScript: which bodies qualify (a whole local
 * file nobody has read yet) and the MD5 taken of the bytes while they are copied.
 */
import { createHash, hash } from "node:crypto";
import { type BigIntStats, constants, existsSync, ReadStream } from "node:fs";
import { copyFile, stat, unlink } from "node:fs/promises";
import type { Readable } from "node:stream";
import { abortError, settleOnAbort, unreadLocalFile } from "@storages/core";
import { closeFd, openFd, readFd, writeAll } from "./io.js";
import type { Fill } from "./save.js";

/** Read size for hashing a whole file: large reads into one reused buffer, no garbage per chunk. */
const HASH_READ = 1024 * 1024;

/** MD5 of a whole file. */
export async function md5OfFile(path: string, signal: AbortSignal): Promise<string> {
  const fd = await openFd(path, constants.O_RDONLY);
  try {
    const digest = createHash("md5");
    const buffer = Buffer.allocUnsafe(HASH_READ);
    for (let position = 0; ; ) {
      if (signal.aborted) throw abortError(signal);
      const bytesRead = await readFd(fd, buffer, 0, HASH_READ, position);
      if (bytesRead === 0) return digest.digest("hex");
      digest.update(buffer.subarray(0, bytesRead));
      position += bytesRead;
    }
  } finally {
    await closeFd(fd);
  }
}

export function sameVersion(a: BigIntStats, b: BigIntStats): boolean {
  return a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

/**
 * A file of at most `size` bytes, read whole into one buffer of its size (plus one byte, so that a
 * file that grew since its size was taken is seen: then it returns undefined).
 */
async function readWhole(path: string, size: number, signal: AbortSignal): Promise<Buffer | undefined> {
  const fd = await openFd(path, constants.O_RDONLY);
  try {
    const buffer = Buffer.allocUnsafe(size + 1);
    let length = 0;
    for (;;) {
      if (signal.aborted) throw abortError(signal);
      const bytesRead = await readFd(fd, buffer, length, buffer.length - length, length);
      if (bytesRead === 0) return buffer.subarray(0, length);
      length += bytesRead;
      if (length > size) return undefined;
    }
  } finally {
    await closeFd(fd);
  }
}

/**
 * The kernel's copy of `source` into a save's temporary file `temp`: with `create`, the copy creates
 * it (COPYFILE_EXCL: O_CREAT | O_EXCL, as a save's own open would — never through a link, never
 * over a file), so no descriptor is opened and closed only for the copy to open the file again by
 * its name; else into the empty file already there. Abandoned on an abort, a copy that still
 * creates the file removes it once done: nothing is left behind for the sweep.
 */
export function kernelCopy(
  source: string,
  temp: string,
  create: boolean,
  signal: AbortSignal,
): Promise<void> {
  if (!create) return settleOnAbort(copyFile(source, temp), signal);
  return settleOnAbort(copyFile(source, temp, constants.COPYFILE_EXCL), signal, () => {
    unlink(temp).catch(() => {});
  });
}

/**
 * How a save gets the content of the local file `source`, with the MD5 of what it holds (none when
 * `hashed` is false: a storage that keeps no record takes none).
 *
 * A file up to HASH_READ is read once into a buffer of its size, hashed, and written into the
 * save's descriptor: one read for both, and no buffer larger than the file (a 1 MiB hashing buffer
 * for each small file of a tree kept the garbage collector busy for a third of the copy). Any
 * other file, or any file when nothing is hashed, is copied by the kernel (copy_file_range, a
 * reflink where the filesystem has them; the copy creates the temporary file when the save does
 * not sync it, see Fill); a large file is
 * hashed by reading it at the same time, so the copy costs the time of the slower of the two
 * rather than their sum. A source changed meanwhile is a copy of no single version: then the MD5 is
 * taken of what was copied, which is what gets published.
 */
export async function localCopyFill(source: string, signal: AbortSignal, hashed = true): Promise<Fill> {
  if (!hashed) {
    return {
      copy: async (temp, create) => {
        await kernelCopy(source, temp, create, signal);
        return undefined;
      },
    };
  }
  const before = await stat(source, { bigint: true });
  const copyHashed = async (temp: string, create: boolean): Promise<string> => {
    const reading = new AbortController(); // a failed copy stops the hashing read too
    const hashing = md5OfFile(source, AbortSignal.any([signal, reading.signal]));
    hashing.catch(() => {}); // awaited below; a copy failure must not leave it unhandled
    try {
      await kernelCopy(source, temp, create, signal);
    } catch (error) {
      reading.abort();
      throw error;
    }
    const md5 = await settleOnAbort(hashing, signal);
    const after = await stat(source, { bigint: true });
    return sameVersion(before, after) ? md5 : settleOnAbort(md5OfFile(temp, signal), signal);
  };
  // (Not a regular file: copyFile reports it, naming the path.)
  if (!before.isFile() || before.size > BigInt(HASH_READ)) return { copy: copyHashed };
  return {
    write: async (file) => {
      const bytes = await settleOnAbort(readWhole(source, Number(before.size), signal), signal);
      // It grew past its size meanwhile: copied and hashed as a large file.
      if (bytes === undefined) return copyHashed(file.temp, false);
      await writeAll(file.fd, bytes);
      return hash("md5", bytes, "hex");
    },
  };
}

/** Linux names every open descriptor under /proc/self/fd: opening that path opens the very same file. */
export const FD_PATHS = process.platform === "linux" && existsSync("/proc/self/fd");

/**
 * The streams `read()` returned for a whole file: a descriptor this driver opened, checked inside
 * its root and checked to be a regular file. Only these are copied from their descriptor (a
 * stranger's descriptor may be a pipe or a terminal: those are read as streams).
 */
export const wholeFileStreams = new WeakSet<Readable>();

/**
 * Where the kernel can copy a body from, when the body is a whole local file nobody has read yet:
 * a `localFile(path)` (never opened before: its path), an `fs.createReadStream(path)` of the
 * whole file (its path), or a whole-file stream of an fs
 * storage's `read()`: /proc/self/fd/N, the very file that descriptor was checked and opened as —
 * never its name again, which a concurrent rename could point elsewhere. The stream must stay open
 * until the copy is done; the caller destroys it after.
 */
export function untouchedFileSource(body: Readable): string | undefined {
  const local = unreadLocalFile(body);
  if (local !== undefined) return local;
  if (!(body instanceof ReadStream)) return undefined;
  const stream = body as ReadStream & { start?: number; end?: number; fd?: unknown };
  if (stream.bytesRead !== 0 || stream.destroyed) return undefined;
  if (stream.readableFlowing !== null || stream.readableLength > 0) return undefined;
  if (stream.end !== undefined && stream.end !== Infinity) return undefined;
  if (FD_PATHS && wholeFileStreams.has(body) && typeof stream.fd === "number" && stream.fd >= 0)
    return `/proc/self/fd/${stream.fd}`;
  if (typeof stream.path === "string" && stream.path !== "")
    return stream.start === undefined || stream.start === 0 ? stream.path : undefined;
  return undefined;
}
