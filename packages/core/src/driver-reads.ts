/**
 * How the facade gets a file, or a byte range of it, out of any driver: the driver's ranged read
 * when it has one, else the whole stream sliced here; a range past the end as an empty result;
 * bytes straight from `driver.readBytes` when it has that; and a stream whose later errors are
 * StorageErrors.
 *
 * Separate from the facade (storage.ts): open() and readBytes() share it, and `sliceStream` is
 * also for drivers (a server that ignored a Range header). Re-exported by storage.ts.
 */
import { Readable, Transform, type TransformCallback } from "node:stream";
import { translateStreamErrors } from "./abort.js";
import { bodyError } from "./error-mapping.js";
import { type Operation, StorageError } from "./errors.js";
import type { CallScope } from "./scope.js";
import type { ByteRange, Driver } from "./types.js";

/**
 * Bytes `range` of a stream of the whole file: for drivers without ranged reads, and for a server
 * that ignored a Range header and sent everything. An error of the source ends the slice with it;
 * whoever stops reading the slice early releases the source too.
 */
export function sliceStream(full: Readable, range: ByteRange): Readable {
  let position = 0;
  const end = range.end ?? Number.POSITIVE_INFINITY;
  const sliced = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      const chunkStart = position;
      position += chunk.length;
      const from = Math.max(range.start - chunkStart, 0);
      const to = Math.min(end + 1 - chunkStart, chunk.length);
      callback(null, from < to ? chunk.subarray(from, to) : undefined);
    },
  });
  full.on("error", (error) => sliced.destroy(error));
  sliced.on("close", () => {
    if (!full.destroyed) full.destroy();
  });
  full.pipe(sliced);
  return sliced;
}

function emptyStream(): Readable {
  return Readable.from([], { objectMode: false });
}

export async function readBytesDirect(
  driver: Driver,
  key: string,
  range: ByteRange | undefined,
  signal: AbortSignal,
): Promise<Buffer> {
  let bytes: Uint8Array;
  try {
    bytes = await driver.readBytes!(key, { signal, range });
  } catch (error) {
    if (!StorageError.hasCode(error, "E_RANGE_NOT_SATISFIABLE")) throw error;
    return Buffer.alloc(0);
  }
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * The driver's stream of a file or range (sliced here for drivers that cannot), failing with
 * StorageErrors only.
 */
export async function openStream(
  driver: Driver,
  operation: Operation,
  key: string,
  range: ByteRange | undefined,
  signal: AbortSignal,
  scope: CallScope,
): Promise<Readable> {
  const stream = await driverStream(driver, key, range, signal);
  translateStreamErrors(stream, (error) => scope.fired ?? bodyError(driver, error, operation, key));
  return stream;
}

async function driverStream(
  driver: Driver,
  key: string,
  range: ByteRange | undefined,
  signal: AbortSignal,
): Promise<Readable> {
  if (range && !driver.capabilities.rangeRead) return sliceStream(await driver.read(key, { signal }), range);
  try {
    return await driver.read(key, { signal, range });
  } catch (error) {
    if (!StorageError.hasCode(error, "E_RANGE_NOT_SATISFIABLE")) throw error;
    return emptyStream();
  }
}
