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
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import {
  abortError,
  guessContentType,
  InvalidArgumentError,
  type LocalFile,
  localFile,
  NotFoundError,
  type SaveOptions,
  StorageError,
  throwIfAborted,
} from "@storages/core";
import pLimit from "p-limit";
import { cachePath, cacheStem, zstdAvailable } from "./cache.js";
import { bundlerOutputs, type FoundFile, findFiles, packageSources, type StaticSource } from "./finders.js";
import {
  ENCODING_SUFFIX,
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
import {
  CACHE_IMMUTABLE,
  CACHE_SHORT,
  hashedName,
  isCompressible,
  looksBundlerHashed,
  referenceKind,
} from "./names.js";
import { WorkerPool } from "./pool.js";
import { type Reference, replaceLastSegment, resolveReference, spliceReferences } from "./references.js";
import { clearTracked, prune, readStored, writeLocalManifest } from "./releases.js";
import type { CollectOptions, CollectProgress, CollectResult, CollectWarning } from "./types.js";
import type { WorkerEncoding } from "./worker.js";

/** A reference to a missing file with `strict`: nothing was published. Code `E_INVALID_ARGUMENT`. */
export class MissingReferenceError extends InvalidArgumentError {
  readonly warnings: CollectWarning[];
  constructor(warnings: CollectWarning[]) {
    const shown = warnings
      .slice(0, 10)
      .map((w) => `  ${w.file}:${w.line ?? "?"}: ${w.reference}`)
      .join("\n");
    super(
      `${warnings.length} reference(s) to missing files (--strict: nothing was published):\n${shown}${warnings.length > 10 ? `\n  … and ${warnings.length - 10} more` : ""}\nAdd the files to a static source, fix the references, or run without --strict (they are then left as written).`,
    );
    this.warnings = warnings;
  }
}

/** Bump when the output for the same input changes (the fast path must not reuse older output). */
const OUTPUT_FORMAT = 1;
const RELEASE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Files up to this size are read whole for upload (replayable on a retry); larger ones stream. */
const WHOLE_FILE_LIMIT = 8 * 1024 * 1024;
const MIN_SAVING = 0.05;
/** Rewritten CSS/JS held in memory by one run; past it, they are written to the local cache. */
const IN_MEMORY_BUDGET = 64 * 1024 * 1024;
/** A scan task's batch: up to this many files or bytes (a big file goes alone). */
const SCAN_BATCH_FILES = 64;
const SCAN_BATCH_BYTES = 2 * 1024 * 1024;

interface Planned {
  file: FoundFile;
  /** SHA-256 of the source bytes. */
  sourceSha: string;
  /**
   * The rewritten bytes, when the file had references that changed: spilled to the local cache
   * (by content hash), so memory does not grow with the number of files.
   */
  rewritten?: string | undefined;
  /** …or held here, within IN_MEMORY_BUDGET for all files together. */
  bytes?: Buffer | undefined;
  entry: ManifestEntry;
  /** The target already holds `entry.name` with these bytes (from the stored manifest). */
  published: boolean;
  compressible: boolean;
}

function sha256Hex(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function integrityOf(bytes: Uint8Array): string {
  return `sha384-${createHash("sha384").update(bytes).digest("base64")}`;
}

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
    const r = recorded[file.name];
    if (!r || r[0] !== file.size || r[1] !== file.mtimeMs) return false;
  }
  return true;
}

/** Whole or not at all (a temporary name, then a rename): a crash never leaves a cache entry a later run would trust. */
function writeWhole(path: string, bytes: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(temporary, bytes);
  renameSync(temporary, path);
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
  const { target, signal } = options;
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
  // The stored manifest is fetched (a thread-pool read, or a request) while the sources are listed
  // (synchronously): a no-change run is mostly these two.
  const storedRead = readStored(target, signal);
  storedRead.catch(() => {}); // awaited below; a listing that fails first leaves it unheard
  const found = await findFiles(sources, { ignore: options.ignore, warnings });
  if (signal) throwIfAborted(signal);
  const optionsPrint = fingerprint(options, encodings);
  const stored = await storedRead;
  const previous = stored?.manifest;

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

  // The fast path: the sources' stat data is what the stored manifest recorded.
  if (
    stored &&
    previous?.build &&
    !options.clear &&
    previous.build.options === optionsPrint &&
    (options.release === undefined || options.release === previous.release) &&
    sameSources(found, previous.build.sources)
  ) {
    const totals = manifestTotals(previous);
    warnings.push(...((previous.build.warnings ?? []) as CollectWarning[]));
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
  }

  const pool = new WorkerPool(options.threads, signal);
  try {
    return await collectChanged();
  } finally {
    await pool.close();
  }

  async function collectChanged(): Promise<CollectResult> {
    const recorded = previous?.build?.options === optionsPrint ? (previous.build.sources ?? {}) : {};
    const sameOutput = previous?.build?.options === optionsPrint && !options.clear;
    const bundled = await bundlerOutputs(sources);
    const cacheDir = resolve(cwd, options.cacheDir ?? "node_modules/.cache/storages-staticfiles");
    const byName = new Map(found.map((f) => [f.name, f]));

    // Publishing (after the manifest for most files, while digests come in for some: see `early`).
    // To a local folder (the fs driver), a file is handed over as `localFile(path)`, which the
    // driver copies in the kernel without opening it first (measured: fewer system calls than
    // reading it into memory and writing the bytes); elsewhere as bytes, or a large file as
    // `localFile` too: either can be sent again by a retry. Original names: see `linkOriginals`.
    const previousOriginals = new Set(previous?.originals ?? []);
    const localFiles = target.backend === "fs";
    const limit = pLimit(options.concurrency ?? 8);
    /**
     * Files published while the others are still being read and planned: those without references
     * and without siblings to wait for (their name is settled by their own bytes). Not when nothing
     * may be written before every file is planned: --dry-run, --strict (a missing reference
     * publishes nothing), --clear (the clearing comes first).
     */
    const early = !options.dryRun && !options.strict && !options.clear;
    const running: Promise<void>[] = [];
    /** A file whose name and siblings are settled, published now when `early` allows. */
    const publishEarly = (p: Planned) => {
      // Aborted (by the progress callback too): nothing more is started.
      if (early && !signal?.aborted) enqueue(p);
    };
    const queued = new Set<Planned>();
    let written = 0;
    let steps = 0;
    let bytesTotal = 0;
    let filesDone = 0;
    let bytesDone = 0;
    const done = (bytes: number) => {
      bytesDone += bytes;
      written++;
      progress({ phase: "publish", done: ++filesDone, total: steps, bytesDone, bytesTotal });
    };
    const common = (p: Planned, cacheControl: string): SaveOptions => ({
      contentType: p.entry.contentType,
      cacheControl,
      overwrite: true,
      signal,
    });
    const fromFile = async (path: string, size: number): Promise<Buffer | LocalFile> =>
      localFiles || size > WHOLE_FILE_LIMIT ? localFile(path) : readFile(path);
    const sibling = (p: Planned, encoding: Encoding) => {
      const path = cachePath(cacheDir, p.entry.sha256, encoding);
      if (!existsSync(path)) {
        throw new StorageError(
          "E_NOT_FOUND",
          `The compressed copy of ${p.file.name} (${encoding}) is missing from the cache ${cacheDir}: run collectstatic with --clear, or remove the cache folder, to compress it again.`,
        );
      }
      return path;
    };
    /** The steps that write the file (and its siblings) under `name`. */
    const writes = (p: Planned, name: string, cacheControl: string): (() => Promise<void>)[] => {
      const file = async () => {
        const body = p.bytes ?? (await fromFile(p.rewritten ?? p.file.path, p.entry.size));
        await target.save(name, body, { ...common(p, cacheControl), size: p.entry.size });
        done(p.entry.size);
      };
      const siblings = (Object.keys(p.entry.encodings) as Encoding[]).map((encoding) => {
        const size = p.entry.encodings[encoding]!;
        return async () => {
          await target.save(name + ENCODING_SUFFIX[encoding], await fromFile(sibling(p, encoding), size), {
            ...common(p, cacheControl),
            ...((options.siblingContentEncoding ?? true) && {
              contentEncoding: encoding === "gzip" ? "gzip" : encoding,
            }),
            size,
          });
          done(size);
        };
      });
      return [file, ...siblings];
    };
    /**
     * On a local folder that keeps no metadata (the nginx/Caddy layout: cache headers come from the
     * server's configuration), an original name holds nothing its hashed name does not: it is made
     * a hard link of it (and its siblings of theirs), no byte written or synced twice.
     */
    const linkOriginals = localFiles && !target.capabilities.metadata;
    /** The steps that make the original name (and siblings) second names of the hashed ones. */
    const links = (p: Planned): (() => Promise<void>)[] => {
      const suffixes = ["", ...(Object.keys(p.entry.encodings) as Encoding[]).map((e) => ENCODING_SUFFIX[e])];
      return suffixes.map((suffix, i) => async () => {
        try {
          await target.copy(p.entry.name + suffix, p.file.name + suffix, { link: true, signal });
        } catch (error) {
          // A published hashed file removed since (by hand): this name is written from the source.
          if (!NotFoundError.isInstance(error)) throw error;
          return writes(p, p.file.name, CACHE_SHORT)[i]!();
        }
        done(sizes(p)[i]!);
      });
    };
    /** The sizes of a file and its siblings, in the order `writes` and `links` take them. */
    const sizes = (p: Planned) => [
      p.entry.size,
      ...(Object.keys(p.entry.encodings) as Encoding[]).map((e) => p.entry.encodings[e]!),
    ];
    /** The steps that publish a planned file: its hashed name (unless published), its original name. */
    const stepsOf = (p: Planned): (() => Promise<void>)[] => {
      const job: (() => Promise<void>)[] = [];
      const total = sizes(p).reduce((a, b) => a + b, 0);
      // Hashed by us or by the bundler: the name changes whenever the content does.
      if (!p.published) {
        job.push(...writes(p, p.entry.name, CACHE_IMMUTABLE));
        bytesTotal += total;
      }
      if (p.entry.hashed && originals && !(p.published && previousOriginals.has(p.file.name))) {
        job.push(...(linkOriginals ? links(p) : writes(p, p.file.name, CACHE_SHORT)));
        bytesTotal += total;
      }
      return job;
    };
    /**
     * On a local folder, the first file saved into each folder goes alone: the driver creates the
     * folder (a checked mkdir -p), and saves racing it into the same new folder would each walk
     * the careful path too (strace -c: a realpath per save, and failed mkdirs).
     */
    const firstInFolder = new Map<string, Promise<unknown>>();
    const enqueue = (p: Planned) => {
      queued.add(p);
      const job = stepsOf(p);
      if (job.length === 0) return;
      steps += job.length;
      const task = async () => {
        for (const step of job) await step();
      };
      // Both names of a file (and its siblings) are in one folder.
      const folder = localFiles ? dirname(p.file.name) : undefined;
      const first = folder === undefined ? undefined : firstInFolder.get(folder);
      const run = first ? first.then(() => limit(task)) : limit(task);
      if (folder !== undefined && !first)
        firstInFolder.set(
          folder,
          run.catch(() => {}),
        );
      run.catch(() => {}); // awaited with the others; a failure must not go unhandled meanwhile
      running.push(run);
    };

    try {
      /** Each file's source digest (and, for a CSS or JS file with references, what to rewrite). */
      interface SourceDigest {
        sourceSha: string;
        integrity?: string | undefined;
        references?: Reference[] | undefined;
        /** The text to rewrite (a CSS or JS file with references), dropped once it is planned. */
        text?: string | undefined;
      }
      const digests = new Map<string, SourceDigest>();

      // Entries in dependency order: a file's name and hash cover its rewritten content, which
      // names the published files it references — so those are settled first.
      const entries = new Map<string, Planned>();
      const visiting: string[] = [];
      const cycles: string[][] = [];
      const cycleSeen = new Set<string>();

      const keepsName = (name: string) => bundled.has(name) || looksBundlerHashed(name);
      const previousEntry = (name: string, sha: string) => {
        const p = previous?.files[name];
        return sameOutput && p && p.sha256 === sha ? p : undefined;
      };

      let inMemory = 0;
      const plan = (name: string): Planned => {
        const done = entries.get(name);
        if (done) return done;
        const file = byName.get(name)!;
        if (signal?.aborted) throw abortError(signal);
        const d = digests.get(name)!;
        let bytes: Buffer | undefined;
        let sha = d.sourceSha;
        let integrity = d.integrity;
        if (d.references && d.text !== undefined) {
          const sourceText = d.text;
          d.text = undefined;
          visiting.push(name);
          const text = spliceReferences(sourceText, d.references, (reference) => {
            const to = resolveReference(reference.url, name, baseUrlPath);
            if (to.kind === "external") return undefined;
            if (to.kind === "outside") {
              warnings.push({
                code: "outside",
                file: name,
                line: reference.line,
                reference: reference.url,
                message: `${name}:${reference.line}: ${reference.url} is left as written: ${to.why}.`,
              });
              return undefined;
            }
            if (!byName.has(to.name)) {
              warnings.push({
                code: "missing-reference",
                file: name,
                line: reference.line,
                reference: reference.url,
                message: `${name}:${reference.line}: ${reference.url} names ${to.name}, which is not among the static files; the reference is left as written.`,
              });
              return undefined;
            }
            const at = visiting.indexOf(to.name);
            if (at >= 0) {
              const cycle = [...visiting.slice(at), to.name];
              const key = [...cycle].sort().join("\n");
              if (!cycleSeen.has(key)) {
                cycleSeen.add(key);
                cycles.push(cycle);
                warnings.push({
                  code: "cycle",
                  file: name,
                  line: reference.line,
                  reference: reference.url,
                  message: `${cycle.join(" → ")}: these files reference each other; ${name}:${reference.line} (${reference.url}) is left as written.`,
                });
              }
              return undefined;
            }
            const dep = plan(to.name);
            if (dep.entry.name === to.name) return undefined;
            return replaceLastSegment(reference.url, dep.entry.name);
          });
          visiting.pop();
          if (text !== sourceText) {
            bytes = Buffer.from(text, "utf8");
            sha = sha256Hex(bytes);
            integrity = integrityOf(bytes);
          }
        }
        // Rewritten bytes stay in memory up to a budget, and go to the cache (by content hash) past it.
        let rewritten: string | undefined;
        if (bytes && inMemory + bytes.length > IN_MEMORY_BUDGET) {
          rewritten = cachePath(cacheDir, sha, "src");
          writeWhole(rewritten, bytes);
          bytes = undefined;
        } else if (bytes) inMemory += bytes.length;
        const keepName = keepsName(name);
        const publishedName = keepName ? name : hashedName(name, sha);
        const prev = previousEntry(name, sha);
        if (integrity === undefined) integrity = prev?.integrity;
        const size = bytes?.length ?? file.size;
        const planned: Planned = {
          file,
          sourceSha: d.sourceSha,
          bytes,
          rewritten,
          entry: {
            name: publishedName,
            size,
            sha256: sha,
            integrity: integrity ?? "",
            hashed: !keepName,
            contentType: guessContentType(name),
            encodings: {},
          },
          published: prev !== undefined && prev.name === publishedName,
          compressible: encodings.length > 0 && isCompressible(name, size),
        };
        entries.set(name, planned);
        return planned;
      };
      // Source digests, read and hashed on the pool (CSS and JS scanned for references there too),
      // in batches: one message per file would cost more than hashing a small one. A file without
      // references whose stat data matches the stored manifest is not read: its digest is reused.
      const toScan: FoundFile[] = [];
      for (const file of found) {
        const r = recorded[file.name];
        // Files that may hold references are always read: what they reference may have changed.
        if (!referenceKind(file.name) && r && r[0] === file.size && r[1] === file.mtimeMs)
          digests.set(file.name, { sourceSha: r[2] });
        else toScan.push(file);
      }
      let hashed = digests.size;
      const batches: FoundFile[][] = [];
      for (let i = 0, batch: FoundFile[] = [], bytes = 0; i < toScan.length; i++) {
        batch.push(toScan[i]!);
        bytes += toScan[i]!.size;
        if (batch.length >= SCAN_BATCH_FILES || bytes >= SCAN_BATCH_BYTES || i === toScan.length - 1) {
          batches.push(batch);
          batch = [];
          bytes = 0;
        }
      }
      // All awaited together: when one fails (or the run is aborted), none is left unhandled.
      await Promise.all(
        batches.map(async (batch) => {
          const scanned = await pool.scan({
            files: batch.map((f) => ({ path: f.path, kind: referenceKind(f.name) })),
            modules: options.rewriteModules ?? false,
          });
          batch.forEach((file, i) => {
            const d = scanned[i]!;
            digests.set(file.name, {
              sourceSha: d.sha256,
              integrity: d.integrity,
              references: d.references,
              text: d.text,
            });
          });
          hashed += batch.length;
          progress({ phase: "hash", done: hashed, total: found.length, bytesDone: 0, bytesTotal: 0 });
          // Aborted (by the progress callback too): nothing more is started.
          if (early && !signal?.aborted) {
            for (const file of batch) {
              if (referenceKind(file.name)) continue;
              const p = plan(file.name);
              if (!p.compressible) enqueue(p);
            }
          }
        }),
      );

      for (const file of found) plan(file.name);

      // Files whose digest was reused but whose entry the stored manifest lacks (options changed): hash now.
      await Promise.all(
        [...entries.values()]
          .filter((p) => p.entry.integrity === "")
          .map(async (p) => {
            const digest = await pool.digest({ path: p.file.path });
            p.entry.integrity = digest.integrity;
          }),
      );

      const missing = warnings.filter((w) => w.code === "missing-reference");
      if (options.strict && missing.length > 0) throw new MissingReferenceError(missing);

      // Compression: each unique content once; reused from the stored manifest or the local cache.
      let compressed = 0;
      let compressionReused = 0;
      let compressDone = 0;
      const compressions = new Map<string, Promise<Partial<Record<Encoding, number>>>>();
      // Largest first: the threads finish together instead of one compressing the biggest file alone at the end.
      const toCompress = [...entries.values()]
        .filter((p) => p.compressible)
        .sort((a, b) => b.entry.size - a.entry.size);
      for (const p of toCompress) {
        const prev = previousEntry(p.file.name, p.entry.sha256);
        if (prev && p.published) {
          p.entry.encodings = { ...prev.encodings };
          compressionReused++;
          publishEarly(p);
          continue;
        }
        let job = compressions.get(p.entry.sha256);
        if (!job) {
          job = pool
            .compress({
              path: p.rewritten ?? p.file.path,
              bytes: p.bytes,
              encodings: [...encodings] as WorkerEncoding[],
              cacheStem: cacheStem(cacheDir, p.entry.sha256),
              minSaving: MIN_SAVING,
              brotliQuality: options.brotliQuality ?? 11,
              gzipLevel: options.gzipLevel ?? 9,
              zstdLevel: options.zstdLevel ?? 19,
            })
            .then(({ sizes, reused }) => {
              if (reused) compressionReused++;
              else compressed++;
              progress({
                phase: "compress",
                done: ++compressDone,
                total: compressions.size,
                bytesDone: 0,
                bytesTotal: 0,
              });
              const kept: Partial<Record<Encoding, number>> = {};
              for (const [e, size] of Object.entries(sizes)) if (size) kept[e as Encoding] = size;
              return kept;
            });
          compressions.set(p.entry.sha256, job);
        }
      }
      await Promise.all(
        toCompress
          .filter(
            (p) =>
              compressions.has(p.entry.sha256) &&
              !(previousEntry(p.file.name, p.entry.sha256) && p.published),
          )
          .map(async (p) => {
            p.entry.encodings = await compressions.get(p.entry.sha256)!;
            // Its name and siblings are settled: it goes out while the others are compressed,
            // instead of all of them after the last compression (seconds of publishing, serial).
            publishEarly(p);
          }),
      );

      // The manifest.
      const sorted = [...entries.values()].sort((a, b) => (a.file.name < b.file.name ? -1 : 1));
      const files: Record<string, ManifestEntry> = {};
      const sourcesRecord: Record<string, [number, number, string]> = {};
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
          warnings: warnings.filter((w) => w.code !== "conflict"),
        },
      };
      const totals = manifestTotals(manifest);
      const out = result(manifest, {
        bytes: totals.bytes,
        bytesBefore: totals.before,
        bytesAfter: totals.after,
        cycles,
        compressed,
        compressionReused,
      });

      for (const p of sorted) {
        if (p.published) out.unchanged++;
        else out.copied++;
      }
      if (options.dryRun) {
        out.durationMs = performance.now() - started;
        return out;
      }
      if (options.clear) out.deleted.push(...(await clearTracked(target, previous, signal)));
      for (const p of sorted) if (!queued.has(p)) enqueue(p);
      await Promise.all(running);
      out.written = written;
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
      const pruned = await prune(target, manifest, keep, signal, (p) => progress(p));
      out.deleted.push(...pruned.deleted);
      out.releases = pruned.kept;
      await target.flush({ signal });
      if (manifestOut) {
        await writeLocalManifest(manifestOut, releaseText);
        out.manifestOut = manifestOut;
      }
      out.durationMs = performance.now() - started;
      return out;
    } catch (error) {
      // Files published early are still being written: none may be left running after the call.
      await Promise.allSettled(running);
      throw error;
    }
  }
}

function withSlash(path: string): string {
  const leading = path.startsWith("/") ? path : `/${path}`;
  return leading.endsWith("/") ? leading : `${leading}/`;
}
