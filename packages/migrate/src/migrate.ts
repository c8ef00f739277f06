/**
 * `copy`, `sync` and `verify` between two storages (or two folders of them).
 *
 * - The two trees are compared by a streaming merge-join of their listings (join.ts): listings
 *   carry size, time and the checksums the service keeps, so a comparison costs listings, not a
 *   call per file, and memory stays flat whatever the number of files.
 * - Bodies stream from `open()` into `save()`; inside one service and account the copy is the
 *   service's own (`Storage.copy`), decided from `describe()`, never from a backend's name.
 * - A copy keeps content type, cache control, disposition, encoding, custom metadata and (where both
 *   sides have per-file visibility) visibility; the MD5 of the bytes sent is checked against the
 *   one recorded at the source and the one the destination reports.
 * - No state file: every driver writes atomically (a file is whole or absent), so a run killed at
 *   any moment and started again re-compares the listings and does only what is left.
 * - Every storage call already runs under core's one retry policy; the one retry here is of a file
 *   whose streamed body broke mid-way, which no single call can repeat (fileRetry). A file still
 *   failing after that is reported as failed, and makes the result not ok.
 *
 * This module is the run itself (`migrate`: compare, copy, settle, report); the pieces it uses live
 * beside it: endpoints.ts (the two sides and their listings), copy-file.ts (one file's copy and
 * checks), delete-extras.ts (sync's delete phase), failures.ts (errors and the per-file retry),
 * options.ts and result.ts (the public options and result), pool.ts, checksums.ts.
 */
import { getMaxListeners, setMaxListeners } from "node:events";
import { type Checksums, InvalidArgumentError, type StorageError, withRetry } from "@storages/core";
import { sameHashes } from "./checksums.js";
import { copyFile } from "./copy-file.js";
import { deleteExtras, ExtrasSeen } from "./delete-extras.js";
import { type Endpoint, listFiles, READ_AHEAD, type Side, sameService, side } from "./endpoints.js";
import { fileRetry, sentence, streamBroken, toStorageError } from "./failures.js";
import { joinListings, type ListedFile } from "./join.js";
import { checkOptions, type MigrationOptions } from "./options.js";
import { guardOverlap } from "./overlap.js";
import { Pool } from "./pool.js";
import { readAhead } from "./read-ahead.js";
import { emptyCount, type MigrationProgress, type MigrationResult, type Outcome } from "./result.js";
import { selector } from "./select.js";

// The public names, exported from this module as before the split (index.ts re-exports them).
export { type Endpoint, sameService } from "./endpoints.js";
export type { MigrationOptions, OverwritePolicy } from "./options.js";
export type {
  FileEvent,
  FileFailure,
  MigrationProgress,
  MigrationResult,
  Outcome,
  OutcomeCount,
} from "./result.js";

const MAX_FAILURES = 1000;
const MAX_SAMPLES = 100;

const NEVER_ABORTED = new AbortController().signal;

/** Copies every selected file of `source` that is missing or different at `destination`. */
export function copy(source: Endpoint, destination: Endpoint, options: MigrationOptions = {}) {
  return migrate("copy", source, destination, options);
}

/** `copy`, then deletes destination files the source does not have (guarded by `maxDelete`). */
export function sync(source: Endpoint, destination: Endpoint, options: MigrationOptions = {}) {
  return migrate("sync", source, destination, options);
}

/** Compares the two trees and reports missing, different and extra files; changes nothing. */
export function verify(source: Endpoint, destination: Endpoint, options: MigrationOptions = {}) {
  return migrate("verify", source, destination, options);
}

/**
 * Why sync must delete none of the `extras` it found, or undefined when it may delete them: a copy
 * failed; more would go than maxDelete allows; or the source has no files at all (a mistyped
 * path or prefix looks just like that, and would empty the destination), unless maxDelete says
 * how many may go.
 */
function deletesRefused(
  result: MigrationResult,
  extras: number,
  sourceFiles: number,
  { maxDelete, dryRun }: MigrationOptions,
): MigrationResult["deletesSkipped"] {
  const outcome = dryRun ? "it would delete none" : "nothing was deleted";
  // The extras found before are real, but a source that listed only part-way cannot say which
  // destination files it lacks: a deletion needs the whole comparison.
  if (result.listingFailed)
    return {
      code: result.listingFailed.code,
      message: `The ${result.listingFailed.side}'s listing failed before sync compared every file, so ${outcome}: fix what failed (see the listing's error) and run sync again.`,
    };
  if (result.failed.files > 0)
    return {
      code: "E_COPY_FAILED",
      message: `${result.failed.files} file(s) failed, so ${dryRun ? "sync would delete no destination file" : "no destination file was deleted"}: fix the failures and run sync again.`,
    };
  if (maxDelete !== undefined && extras > maxDelete)
    return {
      code: "E_MAX_DELETE",
      message: `sync would delete ${extras} destination file(s), more than maxDelete (${maxDelete}): ${outcome}. Check the source and destination, then raise maxDelete (--max-delete) if this is intended.`,
    };
  if (maxDelete === undefined && sourceFiles === 0)
    return {
      code: "E_EMPTY_SOURCE",
      message: `The source has no files, so sync would delete all ${extras} destination file(s): ${outcome}. Check the source's address; if the destination is to be emptied, set maxDelete (--max-delete ${extras}).`,
    };
  return undefined;
}

async function migrate(
  operation: "copy" | "sync" | "verify",
  sourceEndpoint: Endpoint,
  destinationEndpoint: Endpoint,
  options: MigrationOptions,
): Promise<MigrationResult> {
  const started = Date.now();
  checkOptions(operation, options);
  const prefix = options.prefix ?? "";
  const source = side(sourceEndpoint, prefix, "source");
  const destination = side(destinationEndpoint, prefix, "destination");
  const select = selector(options);
  const signal = options.signal;
  const dryRun = options.dryRun === true;
  const overwrite = options.overwrite ?? "if-different";
  const checksum = options.checksum ?? operation === "verify";
  const modifyWindow = options.modifyWindow ?? 1000;
  const writes = operation !== "verify" && !dryRun;
  const serverSide = operation !== "verify" && sameService(sourceEndpoint, destinationEndpoint);
  if (writes && destination.storage.describe().readOnly)
    throw new InvalidArgumentError(`The destination storage is read-only: ${operation} cannot write to it.`);
  // A dry run is refused too: it must say what the real run would do.
  if (operation !== "verify")
    await guardOverlap(operation, [sourceEndpoint, source], [destinationEndpoint, destination], options);

  const result: MigrationResult = {
    operation,
    dryRun,
    copied: emptyCount(),
    equal: emptyCount(),
    different: emptyCount(),
    missing: emptyCount(),
    extra: emptyCount(),
    deleted: emptyCount(),
    failed: emptyCount(),
    failures: [],
    samples: { missing: [], different: [], extra: [] },
    serverSideCopy: serverSide,
    listing: { sourceOrder: "either", destinationOrder: "either", peakPending: 0 },
    aborted: false,
    ok: false,
    elapsedMs: 0,
  };
  const progress: MigrationProgress = {
    filesDone: 0,
    filesKnown: 0,
    bytesDone: 0,
    bytesKnown: 0,
    complete: false,
  };
  let lastProgress = 0;
  const report = (force = false) => {
    if (!options.onProgress) return;
    const now = Date.now();
    if (!force && now - lastProgress < 100) return;
    lastProgress = now;
    options.onProgress({ ...progress });
  };
  const settle = (name: string, outcome: Outcome, size: number, error?: StorageError) => {
    const count = result[outcome];
    count.files++;
    count.bytes += size;
    if (outcome === "failed" && error && result.failures.length < MAX_FAILURES)
      result.failures.push({ name, code: error.code, message: error.message });
    if (
      (outcome === "missing" || outcome === "different" || outcome === "extra") &&
      result.samples[outcome].length < MAX_SAMPLES
    )
      result.samples[outcome].push(name);
    if (outcome !== "extra" && outcome !== "deleted") progress.filesDone++;
    options.onFile?.({ name, outcome, size, error });
    report();
  };

  const sameTime = (s: ListedFile, d: ListedFile) =>
    d.lastModified.getTime() + modifyWindow >= s.lastModified.getTime();
  /** Whether the two files hold the same content, from the listings alone; undefined: ask the stored hashes. */
  const compareListed = (s: ListedFile, d: ListedFile): boolean | undefined => {
    if (s.size !== d.size) return false;
    if (!checksum) return sameTime(s, d);
    return sameHashes(s.checksums, d.checksums);
  };
  /** Whether the two files hold the same content, from the stored hashes where the listings have none, else time. */
  const equalFiles = async (name: string, s: ListedFile, d: ListedFile): Promise<boolean> => {
    // The listing has no comparable hash for this file (an S3 multipart upload, a server that
    // lists none): the stored one, where the backend keeps one.
    const stored = async (side: Side, entry: ListedFile) =>
      entry.checksums && Object.keys(entry.checksums).length > 0
        ? entry.checksums
        : side.hasStoredChecksums
          ? (await side.storage.stat(side.root + name, { signal })).checksums
          : undefined;
    let [a, b] = await Promise.all([stored(source, s), stored(destination, d)]);
    // Still none on one side, and that side's files are local (a plain folder): hash the file, as
    // reading it costs a disk read, not a download. A remote side is never downloaded to compare.
    if (sameHashes(a, b) === undefined) {
      const local = async (
        side: Side,
        other: Side,
        mine: Checksums | undefined,
        theirs: Checksums | undefined,
      ) =>
        !mine?.md5 && side.localFiles && (theirs?.md5 || other.localFiles)
          ? { md5: await side.storage.checksum(side.root + name, "md5", { signal }) }
          : mine;
      [a, b] = await Promise.all([local(source, destination, a, b), local(destination, source, b, a)]);
    }
    return sameHashes(a, b) ?? sameTime(s, d);
  };
  const retry = fileRetry(source.storage, destination.storage);
  const transfer = async (name: string, entry: ListedFile) => {
    progress.bytesKnown += entry.size;
    if (dryRun) return settle(name, "copied", entry.size);
    try {
      let attemptBytes = 0;
      const bytes = await withRetry(
        retry,
        {
          operation: "copy",
          path: name,
          backend: destination.storage.backend,
          signal: signal ?? NEVER_ABORTED,
          toError: toStorageError,
          canRepeat: streamBroken,
        },
        () => {
          // A new attempt starts from byte 0: what the broken one counted is taken back.
          progress.bytesDone -= attemptBytes;
          attemptBytes = 0;
          return copyFile(source, destination, name, entry, {
            serverSide,
            signal,
            visibility: options.visibility,
            verifyDestination: options.verifyDestination ?? true,
            onBytes: (n) => {
              attemptBytes += n;
              progress.bytesDone += n;
              report();
            },
          });
        },
      );
      settle(name, "copied", bytes);
    } catch (error) {
      settle(name, "failed", entry.size, toStorageError(error));
    }
  };

  /** A file found on both sides, once compared: true when it is to be copied, else settled here. */
  const toCopy = (name: string, s: ListedFile, equal: boolean): boolean => {
    if (operation !== "verify" && (overwrite === "always" || (!equal && overwrite === "if-different")))
      return true;
    settle(name, equal ? "equal" : "different", s.size);
    return false;
  };

  const concurrency = options.concurrency ?? 16;
  // Every call in flight listens to the caller's signal: several per file, `concurrency` files.
  if (signal) setMaxListeners(Math.max(getMaxListeners(signal), concurrency * 4 + 16), signal);
  const pool = new Pool(concurrency);
  let extrasFound = 0;
  // What sync's delete pass may delete: the extras this comparison finds, no others.
  const extrasSeen = new ExtrasSeen(options.maxDelete);
  let listingError: unknown;
  /** The side whose listing failed: its error ends the comparison, not the run. */
  let failedSide: "source" | "destination" | undefined;
  async function* watched(role: "source" | "destination", pages: AsyncIterable<ListedFile[]>) {
    try {
      yield* pages;
    } catch (error) {
      failedSide ??= role;
      throw error;
    }
  }
  try {
    for await (const batch of joinListings(
      // Once the source is listed, the totals stop growing: progress can show an ETA.
      watched(
        "source",
        readAhead(
          listFiles(source, select, signal, () => {
            progress.complete = true;
          }),
          READ_AHEAD,
        ),
      ),
      watched("destination", readAhead(listFiles(destination, select, signal), READ_AHEAD)),
      result.listing,
    )) {
      for (const { name, source: s, destination: d } of batch) {
        if (signal?.aborted) break;
        if (s) progress.filesKnown++;
        if (s && !d) {
          if (operation === "verify") settle(name, "missing", s.size);
          else await pool.add(() => transfer(name, s));
        } else if (s && d) {
          if (overwrite === "always" && operation !== "verify") await pool.add(() => transfer(name, s));
          else {
            const known = compareListed(s, d);
            if (known !== undefined) {
              if (toCopy(name, s, known)) await pool.add(() => transfer(name, s));
            } else
              await pool.add(async () => {
                let equal: boolean;
                try {
                  equal = await equalFiles(name, s, d);
                } catch (error) {
                  return settle(name, "failed", s.size, toStorageError(error));
                }
                if (toCopy(name, s, equal)) await transfer(name, s);
              });
          }
        } else if (d) {
          extrasFound++;
          if (operation === "sync" && !dryRun) extrasSeen.add(name);
          if (
            operation === "sync" &&
            dryRun &&
            (options.maxDelete === undefined || extrasFound <= options.maxDelete)
          )
            settle(name, "deleted", d.size);
          else settle(name, "extra", d.size);
        }
      }
      if (signal?.aborted) break;
    }
  } catch (error) {
    listingError = error;
  }
  // No copy starts after a failure (the loop ended); the ones in flight finish and are counted.
  await pool.drain();
  if (listingError !== undefined && !signal?.aborted) {
    // A listing's own failure (after core's retries): the copies made so far are kept and counted,
    // and the result says what stopped the run. Anything else (the join's refusal of a listing in
    // no known order) means the comparison cannot be trusted at all: it throws.
    if (failedSide === undefined) throw listingError;
    const failure = toStorageError(listingError);
    result.listingFailed = {
      side: failedSide,
      code: failure.code,
      message: `Listing the ${failedSide} failed, so ${operation} stopped comparing (the files it reached before are counted, the others in no count): ${sentence(failure.message)} Fix it, then run ${operation} again${operation === "verify" ? "" : ": it does only what is left"}.`,
    };
  }
  progress.complete = true;
  result.aborted = signal?.aborted === true;

  if (operation === "sync" && extrasFound > 0 && !result.aborted) {
    const refused = deletesRefused(result, extrasFound, progress.filesKnown, options);
    if (refused) {
      result.deletesSkipped = refused;
      // A dry run settled the extras as "would be deleted" while listing: they stay.
      result.extra.files += result.deleted.files;
      result.extra.bytes += result.deleted.bytes;
      result.deleted = emptyCount();
    } else if (!dryRun)
      await deleteExtras(
        source,
        destination,
        select,
        options,
        { sourceFiles: progress.filesKnown, extras: extrasSeen },
        result,
        settle,
      );
  }
  result.ok =
    !result.aborted &&
    result.listingFailed === undefined &&
    result.failed.files === 0 &&
    result.missing.files === 0 &&
    result.different.files === 0 &&
    (operation !== "sync" || (result.extra.files === 0 && result.deletesSkipped === undefined));
  result.elapsedMs = Date.now() - started;
  report(true);
  return result;
}
