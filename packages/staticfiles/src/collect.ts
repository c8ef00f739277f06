/**
 * collectStatic: find → digest → rewrite in dependency order → hash → compress → publish → prune.
 *
 * Incremental by the stored manifest (one GET): when every source's size and mtime match what the
 * last run recorded, nothing is read, hashed, compressed or written. Otherwise only sources whose
 * stat changed are hashed again (a changed mtime with the same bytes is still "unchanged"), only
 * contents the target does not already hold under their name are uploaded, and only contents never
 * compressed before (neither in the target's manifest nor in the local cache) are compressed.
 *
 * Publishing order makes a release switch atomic for readers: files and siblings first, then the
 * release's manifest, then `staticfiles.json`; pruning runs last and deletes only names a pruned
 * release's manifest lists and no kept one does.
 *
 * This file is the sequence of the steps, the fast path and the manifest; the steps are modules of
 * their own: digests.ts (the scan, in batches on the worker pool), planner.ts (names and rewritten
 * bytes in dependency order, cycles and warnings), compression.ts (each content once, largest
 * first), publisher.ts (the upload queue: early publishing, hashed and original names).
 */
import { dirname, resolve } from "node:path";
import {
  abortError,
  ConfigError,
  InvalidArgumentError,
  resolveExisting,
  throwIfAborted,
} from "@storages/core";
import { zstdAvailable } from "./cache.js";
import { compressPlanned } from "./compression.js";
import { digestSources, type SourceDigest } from "./digests.js";
import {
  bundlerOutputs,
  FINDER_WARNINGS,
  type FoundFile,
  findFiles,
  packageSources,
  refuseTargetAmongSources,
  type StaticSource,
} from "./finders.js";
import { acquirePublishLock, breakPublishLock, LOCK_NAME } from "./lock.js";
import {
  ENCODINGS,
  type Encoding,
  MANIFEST_NAME,
  type ManifestEntry,
  manifestTotals,
  publicManifest,
  publicManifestText,
  RELEASES_PREFIX,
  type StaticManifest,
  serializeManifest,
} from "./manifest.js";
import { referenceKind } from "./names.js";
import { own } from "./own.js";
import { Planner, sha256Hex } from "./planner.js";
import { WorkerPool } from "./pool.js";
import { Publisher } from "./publisher.js";
import { clearTracked, prune, readStored, writeLocalManifest } from "./releases.js";
import type { CollectOptions, CollectProgress, CollectResult, CollectWarning } from "./types.js";

/** A reference to a missing file (or a CSS file that does not tokenize) with `strict`: nothing was published. Code `E_INVALID_ARGUMENT`. */
export class MissingReferenceError extends InvalidArgumentError {
  readonly warnings: CollectWarning[];
  constructor(warnings: CollectWarning[]) {
    const shown = warnings
      .slice(0, 10)
      .map((w) =>
        w.code === "unparsed"
          ? `  ${w.file}: does not tokenize (its references are unknown)`
          : `  ${w.file}:${w.line ?? "?"}: ${w.reference}`,
      )
      .join("\n");
    super(
      `${warnings.length} reference(s) to missing files or unreadable CSS (--strict: nothing was published):\n${shown}${warnings.length > 10 ? `\n  … and ${warnings.length - 10} more` : ""}\nAdd the files to a static source, fix the references or the CSS, or run without --strict (they are then left as written).`,
    );
    this.warnings = warnings;
  }
}

/** Bump when the output for the same input changes (the fast path must not reuse older output). */
const OUTPUT_FORMAT = 1;
const RELEASE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function fingerprint(options: CollectOptions, encodings: readonly Encoding[]): string {
  return sha256Hex(
    JSON.stringify({
      format: OUTPUT_FORMAT,
      encodings: [...encodings].sort(),
      modules: options.rewriteModules ?? false,
      originals: options.originals ?? true,
      base: options.baseUrlPath ?? "/static/",
      q: [options.brotliQuality ?? 11, options.gzipLevel ?? 9, options.zstdLevel ?? 19],
      encodingMetadata: options.siblingContentEncoding ?? true,
    }),
  ).slice(0, 16);
}

function sameSources(
  found: readonly FoundFile[],
  recorded: Record<string, [number, number, string]>,
): boolean {
  if (Object.keys(recorded).length !== found.length) return false;
  for (const file of found) {
    const r = own(recorded, file.name);
    if (!r || r[0] !== file.size || r[1] !== file.mtimeMs) return false;
  }
  return true;
}

/** A duration option in ms: a non-negative whole number, else `fallback` when absent. */
function nonNegative(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0)
    throw new InvalidArgumentError(`${name} must be a whole number of milliseconds ≥ 0, not ${value}.`);
  return value;
}

function emptySizes(): Record<Encoding, number> {
  return { br: 0, gzip: 0, zstd: 0 };
}

/**
 * Publishes the static files of `options.sources` to `options.target` (see the module comment).
 * Aborting (`options.signal`) stops at once with an `AbortedError`; whatever was uploaded by then is
 * not referenced, because `staticfiles.json` is written last: the previous release stays current.
 */
export async function collectStatic(options: CollectOptions): Promise<CollectResult> {
  try {
    return await collect(options);
  } catch (error) {
    // Worker tasks and uploads each report an abort in their own words: one typed error for all.
    if (options.signal?.aborted) throw abortError(options.signal);
    throw error;
  }
}

async function collect(options: CollectOptions): Promise<CollectResult> {
  const started = performance.now();
  const { target } = options;
  // Joined by the publishing lock's signal once it is taken: a lost lock stops the writes.
  let signal = options.signal;
  const cwd = resolve(options.cwd ?? process.cwd());
  const encodings = (options.encodings ?? ENCODINGS).filter((e) => e !== "zstd" || zstdAvailable());
  for (const e of encodings) {
    if (!ENCODINGS.includes(e))
      throw new InvalidArgumentError(`Unknown encoding "${e}": use br, gzip or zstd.`);
  }
  if (options.release !== undefined && !RELEASE_ID.test(options.release)) {
    throw new InvalidArgumentError(
      `The release id "${options.release}" is not usable as a file name: use 1–64 letters, digits, ".", "_" or "-" (a git SHA, a version, a build number).`,
    );
  }
  const keep = options.keep ?? 3;
  if (!Number.isInteger(keep) || keep < 1)
    throw new InvalidArgumentError(`--keep must be a whole number ≥ 1, not ${keep}.`);
  const lockWaitMs = nonNegative(options.lockWaitMs, 10 * 60_000, "lockWaitMs");
  const lockLeaseMs = Math.max(1, nonNegative(options.lockLeaseMs, 60_000, "lockLeaseMs"));
  const baseUrlPath = withSlash(options.baseUrlPath ?? "/static/");
  const originals = options.originals ?? true;
  const manifestOut =
    options.manifestOut === false ? undefined : resolve(cwd, options.manifestOut ?? MANIFEST_NAME);
  const progress = (p: CollectProgress) => options.onProgress?.(p);
  const warnings: CollectWarning[] = [];

  progress({ phase: "scan", done: 0, total: 0, bytesDone: 0, bytesTotal: 0 });
  const sources: StaticSource[] = options.sources.map((s) => ({ ...s, dir: resolve(cwd, s.dir) }));
  if (options.packages)
    sources.push(...(await packageSources(options.packages === true ? cwd : resolve(cwd, options.packages))));
  // A target on this machine: never among the sources (Storage.path is there for fs storages).
  if (target.driver.path)
    await refuseTargetAmongSources(
      await resolveExisting(dirname(target.driver.path("x"))),
      sources,
      options.ignore,
    );
  // The stored manifest is fetched (a thread-pool read, or a request) while the sources are listed
  // (synchronously): a no-change run is mostly these two.
  const storedRead = readStored(target, signal);
  storedRead.catch(() => {}); // awaited below; a listing that fails first leaves it unheard
  const found = await findFiles(sources, { ignore: options.ignore, warnings });
  if (signal) throwIfAborted(signal);
  // An empty release would become current and let pruning delete every published file: a build
  // not run yet, or an ignore pattern that takes everything, must stop the deploy instead.
  if (found.length === 0) {
    throw new ConfigError(
      `No static files were found in ${sources.map((s) => s.label ?? s.dir).join(", ") || "the sources"}: nothing was published and nothing pruned. Build the assets first, or check the sources and ignore patterns.`,
    );
  }
  const optionsPrint = fingerprint(options, encodings);
  let stored = await storedRead;
  let previous = stored?.manifest;

  const result = (manifest: StaticManifest, extra: Partial<CollectResult>): CollectResult => ({
    release: manifest.release,
    dryRun: options.dryRun ?? false,
    found: found.length,
    copied: 0,
    unchanged: 0,
    compressed: 0,
    compressionReused: 0,
    bytes: 0,
    bytesBefore: 0,
    bytesAfter: emptySizes(),
    written: 0,
    deleted: [],
    releases: [manifest.release],
    warnings,
    cycles: [],
    manifest,
    manifestOut: undefined,
    nothingChanged: false,
    durationMs: 0,
    ...extra,
  });

  /** The fast path: the sources' stat data is what the stored manifest recorded. */
  const unchanged = async (): Promise<CollectResult | undefined> => {
    if (
      !stored ||
      !previous?.build ||
      options.clear ||
      previous.build.options !== optionsPrint ||
      (options.release !== undefined && options.release !== previous.release) ||
      !sameSources(found, previous.build.sources)
    ) {
      return undefined;
    }
    const totals = manifestTotals(previous);
    // Those of the files' contents; the finder's were given again by this run's findFiles (a build
    // stored before they were left out of it may still hold them).
    warnings.push(
      ...((previous.build.warnings ?? []) as CollectWarning[]).filter((w) => !FINDER_WARNINGS.has(w.code)),
    );
    const out = result(previous, {
      unchanged: found.length,
      bytes: totals.bytes,
      bytesBefore: totals.before,
      bytesAfter: totals.after,
      nothingChanged: true,
      releases: [previous.release],
    });
    if (manifestOut && !options.dryRun) {
      await writeLocalManifest(
        manifestOut,
        publicManifestText(stored.text) ?? serializeManifest(publicManifest(previous)),
      );
      out.manifestOut = manifestOut;
    }
    out.durationMs = performance.now() - started;
    return out;
  };

  // Asked for explicitly: a dead run's lock goes even when this run has nothing to write.
  if (options.breakLock && !options.dryRun) await breakPublishLock(target, signal);
  const done = await unchanged();
  if (done) return done;
  if (options.dryRun) return await withPool(collectChanged);

  // Writing from here on: one run at a time per target (lock.ts says why).
  const lock = await acquirePublishLock(target, {
    waitMs: lockWaitMs,
    leaseMs: lockLeaseMs,
    breakLock: false, // done above
    signal,
    onWait: options.onLockWait,
  });
  try {
    if (lock) {
      signal = signal ? AbortSignal.any([signal, lock.signal]) : lock.signal;
      // Another run may have published since the manifest was read (this one waited for it, or
      // raced it): that release is the one to build on, and may be this very one.
      const latest = await readStored(target, signal);
      if (latest?.text !== stored?.text) {
        stored = latest;
        previous = latest?.manifest;
        const after = await unchanged();
        if (after) return after;
      }
    } else {
      warnings.push({
        code: "unlocked",
        file: LOCK_NAME,
        message: `This target cannot create files exclusively, so no lock keeps another collectstatic from publishing at the same time: run one at a time, or two runs may prune each other's files.`,
      });
    }
    return await withPool(collectChanged);
  } catch (error) {
    if (lock?.lost) throw lock.lost;
    throw error;
  } finally {
    await lock?.release();
  }

  async function withPool(run: (pool: WorkerPool) => Promise<CollectResult>): Promise<CollectResult> {
    const pool = new WorkerPool(options.threads, signal);
    try {
      return await run(pool);
    } finally {
      await pool.close();
    }
  }

  async function collectChanged(pool: WorkerPool): Promise<CollectResult> {
    const recorded = previous?.build?.options === optionsPrint ? (previous.build.sources ?? {}) : {};
    const sameOutput = previous?.build?.options === optionsPrint && !options.clear;
    const bundled = await bundlerOutputs(sources);
    const cacheDir = resolve(cwd, options.cacheDir ?? "node_modules/.cache/storages-staticfiles");
    const byName = new Map(found.map((f) => [f.name, f]));

    /**
     * Files published while the others are still being read and planned: those without references
     * and without siblings to wait for (their name is settled by their own bytes). Not when nothing
     * may be written before every file is planned: --dry-run, --strict (a missing reference
     * publishes nothing), --clear (the clearing comes first).
     */
    const early = !options.dryRun && !options.strict && !options.clear;
    const publisher = new Publisher({
      target,
      signal,
      options,
      cacheDir,
      originals,
      previousOriginals: new Set(previous?.originals ?? []),
      early,
      progress,
    });

    try {
      const digests = new Map<string, SourceDigest>();
      // Entries in dependency order: a file's name and hash cover its rewritten content, which
      // names the published files it references — so those are settled first.
      const planner = new Planner({
        byName,
        digests,
        bundled,
        previous,
        sameOutput,
        baseUrlPath,
        cacheDir,
        encodings,
        warnings,
        signal,
      });
      const entries = planner.entries;

      await digestSources({
        found,
        recorded,
        pool,
        modules: options.rewriteModules ?? false,
        digests,
        progress,
        onBatch: (batch) => {
          // Aborted (by the progress callback too): nothing more is started.
          if (early && !signal?.aborted) {
            for (const file of batch) {
              if (referenceKind(file.name)) continue;
              const p = planner.plan(file.name);
              if (!p.compressible) publisher.enqueue(p);
            }
          }
        },
      });

      for (const file of found) planner.plan(file.name);

      // Files whose digest was reused but whose entry the stored manifest lacks (options changed): hash now.
      await Promise.all(
        [...entries.values()]
          .filter((p) => p.entry.integrity === "")
          .map(async (p) => {
            const digest = await pool.digest({ path: p.file.path });
            p.entry.integrity = digest.integrity;
          }),
      );

      const missing = warnings.filter((w) => w.code === "missing-reference" || w.code === "unparsed");
      if (options.strict && missing.length > 0) throw new MissingReferenceError(missing);

      const { compressed, compressionReused } = await compressPlanned({
        planned: entries.values(),
        pool,
        encodings,
        cacheDir,
        options,
        previousEntry: (name, sha) => planner.previousEntry(name, sha),
        publishEarly: (p) => publisher.publishEarly(p),
        progress,
      });

      // The manifest.
      const sorted = [...entries.values()].sort((a, b) => (a.file.name < b.file.name ? -1 : 1));
      // No prototype: a file may be called "__proto__" or "constructor".
      const files: Record<string, ManifestEntry> = Object.create(null);
      const sourcesRecord: Record<string, [number, number, string]> = Object.create(null);
      for (const p of sorted) {
        files[p.file.name] = p.entry;
        sourcesRecord[p.file.name] = [p.file.size, p.file.mtimeMs, p.sourceSha];
      }
      const release =
        options.release ??
        sha256Hex(sorted.map((p) => `${p.file.name}\0${p.entry.name}\0${p.entry.sha256}\n`).join("")).slice(
          0,
          12,
        );
      const originalNames = originals ? sorted.filter((p) => p.entry.hashed).map((p) => p.file.name) : [];
      const manifest: StaticManifest = {
        version: 1,
        release,
        createdAt: new Date().toISOString(),
        files,
        ...(originals && { originals: originalNames }),
        build: {
          options: optionsPrint,
          sources: sourcesRecord,
          warnings: warnings.filter((w) => !FINDER_WARNINGS.has(w.code)),
        },
      };
      const totals = manifestTotals(manifest);
      const out = result(manifest, {
        bytes: totals.bytes,
        bytesBefore: totals.before,
        bytesAfter: totals.after,
        cycles: planner.cycles,
        compressed,
        compressionReused,
      });

      for (const p of sorted) {
        if (p.published) out.unchanged++;
        else out.copied++;
      }
      // With --clear, a dry run reports what clearing would delete (and everything counts as copied).
      if (options.clear) out.deleted.push(...(await clearTracked(target, previous, signal, options.dryRun)));
      if (options.dryRun) {
        out.durationMs = performance.now() - started;
        return out;
      }
      for (const p of sorted) if (!publisher.isQueued(p)) publisher.enqueue(p);
      await publisher.finish();
      // On a batch-durability folder nothing is synced per save: the files must be on disk before
      // a manifest naming them is, or a machine crash could leave the release current with its
      // files empty or missing (the rename of staticfiles.json made durable before their data).
      await target.flush({ signal });
      out.written = publisher.written;
      const manifestText = serializeManifest(manifest);
      const releaseText = publicManifestText(manifestText) ?? serializeManifest(publicManifest(manifest));
      await target.save(`${RELEASES_PREFIX}${release}.json`, releaseText, {
        contentType: "application/json",
        cacheControl: "no-cache",
        overwrite: true,
        signal,
      });
      await target.save(MANIFEST_NAME, manifestText, {
        contentType: "application/json",
        cacheControl: "no-cache",
        overwrite: true,
        signal,
      });
      out.written += 2;
      const pruned = await prune(target, manifest, keep, {
        previousRelease: previous?.release,
        signal,
        onProgress: (p) => progress(p),
      });
      out.deleted.push(...pruned.deleted);
      out.releases = pruned.kept;
      if (pruned.unreadable.length > 0) {
        warnings.push({
          code: "unpruned",
          file: pruned.unreadable[0]!,
          message: `Nothing was pruned: ${pruned.unreadable.join(", ")} is not a release manifest this collectstatic reads (written by a newer version, or edited), so the files it keeps are unknown. Run a collectstatic that reads it, or remove the file if its release is gone.`,
        });
      }
      await target.flush({ signal });
      if (manifestOut) {
        await writeLocalManifest(manifestOut, releaseText);
        out.manifestOut = manifestOut;
      }
      out.durationMs = performance.now() - started;
      return out;
    } catch (error) {
      // Files published early are still being written: none may be left running after the call.
      await publisher.settle();
      throw error;
    }
  }
}

function withSlash(path: string): string {
  const leading = path.startsWith("/") ? path : `/${path}`;
  return leading.endsWith("/") ? leading : `${leading}/`;
}
