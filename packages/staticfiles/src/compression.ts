/**
 * The compression step of collectStatic: br/gzip/zstd siblings for the compressible planned files,
 * each unique content once, reused from the stored manifest or the worker's local cache; a file
 * goes to the publisher as soon as its siblings are known.
 *
 * Separate from collect.ts because the order (largest first), the sharing of one job by equal
 * contents and the counters it reports are this step's own.
 */
import { cacheStem } from "./cache.js";
import type { Encoding, ManifestEntry } from "./manifest.js";
import type { Planned } from "./planner.js";
import type { WorkerPool } from "./pool.js";
import type { CollectOptions, CollectProgress } from "./types.js";
import type { WorkerEncoding } from "./worker.js";

const MIN_SAVING = 0.05;

export interface CompressInput {
  /** Every planned file (the compressible ones are compressed). */
  planned: Iterable<Planned>;
  pool: WorkerPool;
  encodings: readonly Encoding[];
  cacheDir: string;
  options: Pick<CollectOptions, "brotliQuality" | "gzipLevel" | "zstdLevel">;
  /** The stored manifest's entry for these bytes (Planner.previousEntry). */
  previousEntry: (name: string, sha: string) => ManifestEntry | undefined;
  /** A file whose siblings are settled (Publisher.publishEarly). */
  publishEarly: (p: Planned) => void;
  progress: (p: CollectProgress) => void;
}

/** Sets each compressible file's `entry.encodings`; returns how many contents were compressed or reused. */
export async function compressPlanned({
  planned,
  pool,
  encodings,
  cacheDir,
  options,
  previousEntry,
  publishEarly,
  progress,
}: CompressInput): Promise<{ compressed: number; compressionReused: number }> {
  // Compression: each unique content once; reused from the stored manifest or the local cache.
  let compressed = 0;
  let compressionReused = 0;
  let compressDone = 0;
  const compressions = new Map<string, Promise<Partial<Record<Encoding, number>>>>();
  // Largest first: the threads finish together instead of one compressing the biggest file alone at the end.
  const toCompress = [...planned].filter((p) => p.compressible).sort((a, b) => b.entry.size - a.entry.size);
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
          compressions.has(p.entry.sha256) && !(previousEntry(p.file.name, p.entry.sha256) && p.published),
      )
      .map(async (p) => {
        p.entry.encodings = await compressions.get(p.entry.sha256)!;
        // Its name and siblings are settled: it goes out while the others are compressed,
        // instead of all of them after the last compression (seconds of publishing, serial).
        publishEarly(p);
      }),
  );
  return { compressed, compressionReused };
}
