/**
 * File-descriptor calls for the driver's hot paths, on Node's callback API: one trip through the
 * thread pool each, without the objects (and the extra trips) of `fs.promises` FileHandles. A
 * small save or read is a handful of these, so their overhead is most of what it costs beyond the
 * disk itself (measured in bench/small-files.mjs).
 *
 * Whoever opens a descriptor closes it: every caller here has a `finally` for it.
 */
import {
  type BigIntStats,
  closeSync,
  close as fsClose,
  fchmod as fsFchmod,
  fstat as fsFstat,
  fsync as fsFsync,
  open as fsOpen,
  read as fsRead,
  write as fsWrite,
} from "node:fs";

export function openFd(path: string, flags: number, mode?: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fsOpen(path, flags, mode, (error, fd) => (error ? reject(error) : resolve(fd)));
  });
}

export function closeFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    fsClose(fd, (error) => (error ? reject(error) : resolve()));
  });
}

/** Closes without reporting: for cleanup after another error, which is the one that matters. */
export function closeQuietly(fd: number): void {
  fsClose(fd, () => {});
}

/**
 * Closes a directory's descriptor on the calling thread: a folder the driver opened only to check
 * where it is or to fsync it, never to read its entries. Such a close writes nothing back and tells
 * no server anything (NFS keeps no open state for a directory, SMB none until it is read; FUSE
 * sends its RELEASEDIR in the background), so it cannot wait on a disk or a network, and a trip
 * through the thread pool (a futex hand-off each way) costs more than the call — as for the
 * readlink of /proc in paths.ts. Not for files: closing one may flush its writes (NFS) or tell the
 * server (SMB).
 */
export function closeDirectory(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // As closeQuietly: only a cleanup, after the work that mattered.
  }
}

export function fstatFd(fd: number): Promise<BigIntStats> {
  return new Promise((resolve, reject) => {
    fsFstat(fd, { bigint: true }, (error, stats) => (error ? reject(error) : resolve(stats)));
  });
}

export function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    fsFsync(fd, (error) => (error ? reject(error) : resolve()));
  });
}

export function fchmodFd(fd: number, mode: number): Promise<void> {
  return new Promise((resolve, reject) => {
    fsFchmod(fd, mode, (error) => (error ? reject(error) : resolve()));
  });
}

function writeOnce(fd: number, bytes: Uint8Array, offset: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fsWrite(fd, bytes, offset, bytes.byteLength - offset, position, (error, written) =>
      error ? reject(error) : resolve(written),
    );
  });
}

/** Writes all of `bytes` at the start of the file (one call unless the kernel writes less). */
export async function writeAll(fd: number, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.byteLength; ) {
    offset += await writeOnce(fd, bytes, offset, offset);
  }
}

export function readFd(
  fd: number,
  buffer: Buffer,
  offset: number,
  length: number,
  position: number,
): Promise<number> {
  return new Promise((resolve, reject) => {
    fsRead(fd, buffer, offset, length, position, (error, bytesRead) =>
      error ? reject(error) : resolve(bytesRead),
    );
  });
}
