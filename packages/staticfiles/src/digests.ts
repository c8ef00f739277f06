/**
 * The scan step of collectStatic: each source's digest (SHA-256, SHA-384, and for CSS and JS the
 * references and the text to rewrite), reused from the stored manifest or read and hashed on the
 * worker pool in batches.
 *
 * Separate from collect.ts because the batching (how many files per message, which files may skip
 * the read) is its own decision; the run only hears of each finished batch (`onBatch`), to plan and
 * publish early what that batch settled.
 */
import type { FoundFile } from "./finders.js";
import { referenceKind } from "./names.js";
import { own } from "./own.js";
import type { WorkerPool } from "./pool.js";
import type { Reference } from "./references.js";
import type { CollectProgress } from "./types.js";

/** A scan task's batch: up to this many files or bytes (a big file goes alone). */
const SCAN_BATCH_FILES = 64;
const SCAN_BATCH_BYTES = 2 * 1024 * 1024;
/**
 * Text of CSS and JS files kept from the scan until they are planned, in UTF-16 code units for
 * all files together; past it, a file's text is dropped and read again when it is planned. Those
 * files are planned once every source is scanned (what they reference must be named first), so
 * without a bound their texts would all be in memory at once (the bench corpus holds 9.5 M; four
 * copies of it, 38 M).
 */
const TEXT_BUDGET = 16 * 1024 * 1024;

/** Each file's source digest (and, for a CSS or JS file with references, what to rewrite). */
export interface SourceDigest {
  sourceSha: string;
  integrity?: string | undefined;
  references?: Reference[] | undefined;
  /**
   * The text to rewrite (a CSS or JS file with references), dropped once it is planned — or
   * never kept, past TEXT_BUDGET: then the planner reads the file again.
   */
  text?: string | undefined;
  /** A CSS file that does not tokenize (see Scanned.unparsed). */
  unparsed?: true | undefined;
}

export interface DigestSourcesInput {
  found: readonly FoundFile[];
  /** The stored manifest's stat data and SHA-256 per source (empty when its options differ). */
  recorded: Record<string, [number, number, string]>;
  pool: WorkerPool;
  /** Also scan relative ES module specifiers (`rewriteModules`). */
  modules: boolean;
  /** Filled here, by name: the planner reads it. */
  digests: Map<string, SourceDigest>;
  progress: (p: CollectProgress) => void;
  /** A batch's digests are in `digests` (called after its progress report). */
  onBatch: (batch: readonly FoundFile[]) => void;
}

/**
 * Source digests, read and hashed on the pool (CSS and JS scanned for references there too), in
 * batches: one message per file would cost more than hashing a small one. A file without
 * references whose stat data matches the stored manifest is not read: its digest is reused.
 */
export async function digestSources({
  found,
  recorded,
  pool,
  modules,
  digests,
  progress,
  onBatch,
}: DigestSourcesInput): Promise<void> {
  const toScan: FoundFile[] = [];
  for (const file of found) {
    const r = own(recorded, file.name);
    // Files that may hold references are always read: what they reference may have changed.
    if (!referenceKind(file.name) && r && r[0] === file.size && r[1] === file.mtimeMs)
      digests.set(file.name, { sourceSha: r[2] });
    else toScan.push(file);
  }
  let hashed = digests.size;
  let textHeld = 0;
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
        modules,
      });
      batch.forEach((file, i) => {
        const d = scanned[i]!;
        const keep = d.text !== undefined && textHeld + d.text.length <= TEXT_BUDGET;
        if (keep) textHeld += d.text!.length;
        digests.set(file.name, {
          sourceSha: d.sha256,
          integrity: d.integrity,
          references: d.references,
          text: keep ? d.text : undefined,
          unparsed: d.unparsed,
        });
      });
      hashed += batch.length;
      progress({ phase: "hash", done: hashed, total: found.length, bytesDone: 0, bytesTotal: 0 });
      onBatch(batch);
    }),
  );
}
