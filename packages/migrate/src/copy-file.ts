/**
 * Copying one file from a source side to a destination side, and checking what arrived.
 *
 * The one place that decides how a body travels (service-side copy, local file to local file,
 * small file read whole, or a stream) and how its size and MD5 are checked against the source's
 * record and the destination's report; migrate.ts only calls `copyFile` per file, under its retry.
 */
import { createHash, hash } from "node:crypto";
import { Transform } from "node:stream";
import {
  ChecksumMismatchError,
  type ObjectStat,
  type SaveOptions,
  type SaveResult,
  type Storage,
  StorageError,
  type Visibility,
} from "@storages/core";
import type { Side } from "./endpoints.js";
import type { ListedFile } from "./join.js";

/**
 * Files up to this size are read whole and sent as bytes (see copyFile): most files of a media or
 * static tree, at a fraction of a stream's cost each; memory: concurrency × this at most.
 */
const WHOLE_READ_MAX = 1024 * 1024;

/** The first `limit` bytes of a file (all of it when it is shorter; an empty file is empty). */
async function readAtMost(storage: Storage, name: string, limit: number, signal: AbortSignal | undefined) {
  try {
    return await storage.readBytes(name, { signal, range: { start: 0, end: limit - 1 } });
  } catch (error) {
    // A range that starts past the end: the file is empty (now).
    if (StorageError.hasCode(error, "E_RANGE_NOT_SATISFIABLE")) return Buffer.alloc(0);
    throw error;
  }
}

export interface CopyContext {
  serverSide: boolean;
  signal: AbortSignal | undefined;
  visibility: Visibility | undefined;
  verifyDestination: boolean;
  onBytes: (bytes: number) => void;
}

/**
 * Copies one file and checks it; returns its size. The destination write is one `save()` (or one
 * service-side copy), so the file is whole or absent at the destination whatever happens.
 */
export async function copyFile(
  source: Side,
  destination: Side,
  name: string,
  listed: ListedFile,
  context: CopyContext,
): Promise<number> {
  const { signal } = context;
  const from = source.root + name;
  const to = destination.root + name;
  if (context.serverSide) {
    await destination.storage.copy(from, to, { signal, overwrite: true });
    context.onBytes(listed.size);
    return listed.size;
  }
  // The listing has no headers or metadata: one stat of the file being copied (not of every file
  // compared) — unless the source keeps neither (a plain folder), where the destination's guess of
  // the content type from the name is the one the source would give.
  const keepsHeaders = source.storage.features.metadata || source.storage.features.visibility === "object";
  const info: Pick<
    ObjectStat,
    | "size"
    | "contentType"
    | "cacheControl"
    | "contentDisposition"
    | "contentEncoding"
    | "metadata"
    | "checksums"
    | "visibility"
  > = keepsHeaders
    ? await source.storage.stat(from, { signal })
    : { size: listed.size, metadata: {}, checksums: listed.checksums };
  const target = destination.storage.features;
  const saveOptions: SaveOptions = {
    signal,
    overwrite: true,
    size: info.size,
    contentType: info.contentType,
    cacheControl: info.cacheControl,
    contentDisposition: info.contentDisposition,
    contentEncoding: info.contentEncoding,
    metadata: target.metadata && Object.keys(info.metadata).length > 0 ? info.metadata : undefined,
    visibility:
      context.visibility ??
      (target.visibility === "object" && source.storage.features.visibility === "object"
        ? info.visibility
        : undefined),
  };
  /** A change found before anything was written: the destination's file (an older copy) stays. */
  const changed = (what: string) =>
    new ChecksumMismatchError(
      `${what} "${name}" was not copied: run again (a file that changes while it is copied is copied on the next run).`,
      { path: name, retryable: true },
    );
  /** A mismatch found after the save: what this run wrote is not the source's content. */
  const mismatch = async (what: string) => {
    // Removed, so a rerun sees the file as missing.
    await destination.storage.delete(to, { signal }).catch(() => {});
    return changed(what);
  };
  const recorded = info.checksums?.md5 ?? listed.checksums?.md5;

  if (
    source.localFiles &&
    destination.localFiles &&
    (recorded === undefined || destination.hasStoredChecksums)
  ) {
    // Local file to local file: the body goes to the destination untouched, so the driver lets
    // the kernel copy it (copy_file_range) and takes the MD5 it records itself, from the source
    // file. Hashing here too would read nothing the destination does not: the check is the size,
    // and the MD5 the destination recorded against the one the source recorded.
    const body = await source.storage.open(from, { signal });
    const saved = await destination.storage.save(to, body, saveOptions);
    if (saved.size !== info.size)
      throw await mismatch("The source changed while it was read (its size differs from the listed one):");
    if (recorded !== undefined && context.verifyDestination) {
      const stored = saved.checksums?.md5 ?? (await destination.storage.stat(to, { signal })).checksums?.md5;
      if (stored !== recorded)
        throw await mismatch("The source changed while it was read (its MD5 differs from the one recorded):");
    }
    context.onBytes(saved.size);
    return saved.size;
  }

  /** Checks what was sent and stored: its size and MD5 against the source's and the destination's. */
  const check = async (sent: number, saved: SaveResult, digest: string | undefined, reported: boolean) => {
    if (sent !== info.size || (recorded !== undefined && digest !== undefined && recorded !== digest))
      throw await mismatch(
        reported
          ? "The MD5 the destination reports differs from the one the source recorded (the source changed while it was read, or the bytes were altered on the way):"
          : "The source changed while it was read (size or MD5 differs from the one recorded):",
      );
    if (saved.size !== sent) throw await mismatch("The destination stored another size than the bytes sent:");
    // A destination that keeps no checksum (a plain folder) has nothing to check beyond the size; a
    // local one that reported its MD5 recorded exactly that (stat would read it back). A service's
    // ETag that is the MD5 is its own digest of what it received: equal, nothing to ask.
    if (
      context.verifyDestination &&
      destination.hasStoredChecksums &&
      !(reported && destination.localFiles) &&
      (digest === undefined || saved.etag !== `"${digest}"`)
    ) {
      const written = await destination.storage.stat(to, { signal });
      const stored = written.checksums?.md5;
      const expected = digest ?? recorded;
      if (written.size !== sent || (stored !== undefined && expected !== undefined && stored !== expected))
        throw await mismatch("The destination reports another size or MD5 than the bytes sent:");
    }
  };

  if (info.size <= WHOLE_READ_MAX) {
    // A small file is read whole (one read, one buffer of its size) and sent as bytes: no stream,
    // no per-chunk buffers and copies, and the destination sends it in one request. Memory stays
    // bounded: at most `concurrency` such files at once.
    // One byte past the listed size at most, however much the file grew since it was listed: a
    // grown file is a changed one, refused before anything is written.
    const bytes = await readAtMost(source.storage, from, info.size + 1, signal);
    if (bytes.length !== info.size)
      throw changed("The source changed while it was read (its size differs from the listed one):");
    const saved = await destination.storage.save(to, bytes, saveOptions);
    const reported = saved.checksums?.md5;
    await check(bytes.length, saved, reported ?? hash("md5", bytes, "hex"), reported !== undefined);
    context.onBytes(bytes.length);
    return bytes.length;
  }

  // The MD5 of the bytes sent: the destination's own when its saves report one (S3, fs with
  // records: computed on the way, like this one would be), else taken here.
  const md5 = destination.reportsMd5 === true ? undefined : createHash("md5");
  let sent = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      md5?.update(chunk);
      sent += chunk.length;
      context.onBytes(chunk.length);
      callback(null, chunk);
    },
  });
  const body = await source.storage.open(from, { signal });
  body.once("error", (error) => counted.destroy(error));
  counted.once("close", () => {
    if (!body.destroyed) body.destroy();
  });
  body.pipe(counted);
  const saved = await destination.storage.save(to, counted, saveOptions);
  const reported = saved.checksums?.md5;
  destination.reportsMd5 = reported !== undefined;
  await check(sent, saved, reported ?? md5?.digest("hex"), reported !== undefined);
  return sent;
}
