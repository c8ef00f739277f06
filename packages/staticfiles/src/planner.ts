/**
 * The planner of collectStatic: each file's published name, hash and bytes, in dependency order —
 * a file's hash covers its rewritten content, which names the published files it references, so
 * those are planned first (a depth-first walk; a reference that closes a cycle, leaves the static
 * files or names a missing file is left as written, with a warning).
 *
 * Separate from collect.ts because its state (the planned entries, the walk's stack, the cycles
 * seen, the rewritten bytes held in memory) belongs to planning alone; the run asks it for a
 * file's plan (`plan`), early for some while the others are still being read, and reads the
 * entries and cycles when all are planned.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import {
  abortError,
  ChecksumMismatchError,
  guessContentType,
  InvalidArgumentError,
  NotFoundError,
} from "@storages/core";
import { cachePath } from "./cache.js";
import type { SourceDigest } from "./digests.js";
import type { FoundFile } from "./finders.js";
import type { Encoding, ManifestEntry, StaticManifest } from "./manifest.js";
import { hashedName, isCompressible, looksBundlerHashed } from "./names.js";
import { own } from "./own.js";
import { replaceLastSegment, resolveReference, spliceReferences } from "./references.js";
import type { CollectWarning } from "./types.js";

/** Rewritten CSS/JS held in memory by one run; past it, they are written to the local cache. */
const IN_MEMORY_BUDGET = 64 * 1024 * 1024;

/** Files a chain of references may nest (a.css imports b.css imports c.css…); 1,000 still fits the stack. */
const MAX_REFERENCE_DEPTH = 500;

export interface Planned {
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

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function integrityOf(bytes: Uint8Array): string {
  return `sha384-${createHash("sha384").update(bytes).digest("base64")}`;
}

/** Whole or not at all (a temporary name, then a rename): a crash never leaves a cache entry a later run would trust. */
function writeWhole(path: string, bytes: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(temporary, bytes);
  renameSync(temporary, path);
}

/**
 * A source's text, read again for planning (digests.ts kept no more texts past its budget): the
 * bytes the scan hashed and found the references in, or an error — offsets into other bytes would
 * splice the wrong text.
 */
function readAgain(file: FoundFile, sourceSha: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file.path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    throw new NotFoundError(
      `${file.path} (${file.name}) was removed while collectstatic ran: let the build finish, then run collectstatic again.`,
      { path: file.name, cause: error },
    );
  }
  if (sha256Hex(bytes) !== sourceSha) {
    throw new ChecksumMismatchError(
      `${file.path} (${file.name}) changed while collectstatic ran (its bytes are no longer those it read at the start): let the build finish, then run collectstatic again.`,
      { path: file.name },
    );
  }
  return bytes.toString("utf8");
}

export interface PlannerInput {
  byName: ReadonlyMap<string, FoundFile>;
  /** Every source's digest by the time it is planned (a rewritten file's text is dropped from it). */
  digests: Map<string, SourceDigest>;
  /** Bundler output: published under its own name. */
  bundled: ReadonlySet<string>;
  previous: StaticManifest | undefined;
  /** The stored manifest was made with the same options (and no --clear): its entries are reusable. */
  sameOutput: boolean;
  baseUrlPath: string;
  cacheDir: string;
  encodings: readonly Encoding[];
  /** The run's warnings, added to. */
  warnings: CollectWarning[];
  signal: AbortSignal | undefined;
}

export class Planner {
  /** Entries in dependency order, by original name. */
  readonly entries = new Map<string, Planned>();
  readonly cycles: string[][] = [];
  readonly #in: PlannerInput;
  readonly #visiting: string[] = [];
  readonly #cycleSeen = new Set<string>();
  #inMemory = 0;

  constructor(input: PlannerInput) {
    this.#in = input;
  }

  #keepsName(name: string): boolean {
    return this.#in.bundled.has(name) || looksBundlerHashed(name);
  }

  /**
   * A name a bundler hashed is trusted to change with its content: published as it is, cached as
   * immutable. Bytes that changed under the same name (a hand-edited build output, a bundler
   * whose hashing is off) would reach no browser or CDN that cached the old ones, and would be
   * what a rollback to the previous release gets: a warning, naming both.
   */
  #checkKeptName(name: string, sourceSha: string): void {
    const previous = this.#in.previous;
    const recorded = previous?.build?.sources;
    const before = own(recorded, name)?.[2];
    if (before === undefined || before === sourceSha) return;
    this.#in.warnings.push({
      code: "changed-hashed-name",
      file: name,
      message: `${name} looks content-hashed by a bundler, but its bytes differ from release ${previous!.release}'s under the same name: browsers and CDNs that cached it (immutable) keep the old bytes, and a rollback to ${previous!.release} gets the new ones. Rebuild with the bundler's content hashing on, or give the file a new name.`,
    });
  }

  /** The stored manifest's entry for this name, when it is for these bytes and still valid. */
  previousEntry(name: string, sha: string): ManifestEntry | undefined {
    const previousFiles = this.#in.previous?.files;
    const p = own(previousFiles, name);
    return this.#in.sameOutput && p && p.sha256 === sha ? p : undefined;
  }

  /** The file's plan (made once, after those of the files it references). */
  plan(name: string): Planned {
    const { byName, digests, signal, warnings, baseUrlPath, cacheDir, encodings } = this.#in;
    const visiting = this.#visiting;
    const done = this.entries.get(name);
    if (done) return done;
    const file = byName.get(name)!;
    if (signal?.aborted) throw abortError(signal);
    const d = digests.get(name)!;
    let bytes: Buffer | undefined;
    let sha = d.sourceSha;
    let integrity = d.integrity;
    if (d.unparsed) {
      warnings.push({
        code: "unparsed",
        file: name,
        message: `${name}: its references are left as written: the CSS does not tokenize (an unclosed string, comment or url(, or braces that do not balance), so they cannot be found reliably. Fix the file (a stray "}" or an unquoted url() holding quotes or parentheses).`,
      });
    }
    if (d.references) {
      const sourceText = d.text ?? readAgain(file, d.sourceSha);
      d.text = undefined;
      // Planned depth-first, one call per level: a chain deeper than this would exhaust the stack.
      if (visiting.length >= MAX_REFERENCE_DEPTH) {
        throw new InvalidArgumentError(
          `References nest more than ${MAX_REFERENCE_DEPTH} files deep (${visiting.slice(0, 3).join(" → ")} → … → ${name}): no browser loads such a chain in reasonable time. Flatten the @import chain, or bundle it first.`,
        );
      }
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
          if (!this.#cycleSeen.has(key)) {
            this.#cycleSeen.add(key);
            this.cycles.push(cycle);
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
        const dep = this.plan(to.name);
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
    if (bytes && this.#inMemory + bytes.length > IN_MEMORY_BUDGET) {
      rewritten = cachePath(cacheDir, sha, "src");
      writeWhole(rewritten, bytes);
      bytes = undefined;
    } else if (bytes) this.#inMemory += bytes.length;
    const keepName = this.#keepsName(name);
    if (keepName) this.#checkKeptName(name, d.sourceSha);
    const publishedName = keepName ? name : hashedName(name, sha);
    const prev = this.previousEntry(name, sha);
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
    this.entries.set(name, planned);
    return planned;
  }
}
