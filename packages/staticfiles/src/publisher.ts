/**
 * The publisher of collectStatic: writes each planned file (and its siblings) under its hashed name
 * with immutable caching, and under its original name (a hard link on a plain local folder, else
 * written with short caching), through a p-limit queue; counts what it wrote for the progress
 * reports and the result.
 *
 * Separate from collect.ts because publishing starts before planning ends (`early`): the queue,
 * the first-save-per-folder rule and the progress counters are shared by every file enqueued, from
 * the scan, the compression or the final pass, and the run must wait for (or, failing, settle) all
 * of them before it returns.
 *
 * Most files are published once the manifest is planned; settled ones earlier, while digests still
 * come in (`early` in collect.ts). To a local folder (the fs driver), a file is handed over as
 * `localFile(path)`, which the driver copies in the kernel without opening it first (measured: fewer
 * system calls than reading it into memory and writing the bytes); elsewhere as bytes, or a large
 * file as `localFile` too: either can be sent again by a retry. Original names: see `linkOriginals`.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname } from "node:path";
import {
  type LocalFile,
  localFile,
  NotFoundError,
  type SaveOptions,
  type Storage,
  StorageError,
} from "@storages/core";
import pLimit, { type LimitFunction } from "p-limit";
import { cachePath } from "./cache.js";
import { ENCODING_SUFFIX, type Encoding } from "./manifest.js";
import { CACHE_IMMUTABLE, CACHE_SHORT } from "./names.js";
import type { Planned } from "./planner.js";
import type { CollectOptions, CollectProgress } from "./types.js";

/** Files up to this size are read whole for upload (replayable on a retry); larger ones stream. */
const WHOLE_FILE_LIMIT = 8 * 1024 * 1024;

type Step = () => Promise<void>;

export interface PublisherInput {
  target: Storage;
  signal: AbortSignal | undefined;
  options: Pick<CollectOptions, "concurrency" | "siblingContentEncoding">;
  cacheDir: string;
  /** Also publish each hashed file under its original name. */
  originals: boolean;
  /** The original names the stored manifest says were published. */
  previousOriginals: ReadonlySet<string>;
  /** Whether `publishEarly` publishes (see collect.ts). */
  early: boolean;
  progress: (p: CollectProgress) => void;
}

export class Publisher {
  /** Files (and siblings) written or linked so far. */
  written = 0;
  readonly #in: PublisherInput;
  readonly #localFiles: boolean;
  /**
   * On a local folder that keeps no metadata (the nginx/Caddy layout: cache headers come from the
   * server's configuration), an original name holds nothing its hashed name does not: it is made
   * a hard link of it (and its siblings of theirs), no byte written or synced twice.
   */
  readonly #linkOriginals: boolean;
  readonly #limit: LimitFunction;
  readonly #running: Promise<void>[] = [];
  readonly #queued = new Set<Planned>();
  /**
   * On a local folder, the first file saved into each folder goes alone: the driver creates the
   * folder (a checked mkdir -p), and saves racing it into the same new folder would each walk
   * the careful path too (strace -c: a realpath per save, and failed mkdirs).
   */
  readonly #firstInFolder = new Map<string, Promise<unknown>>();
  #steps = 0;
  #bytesTotal = 0;
  #filesDone = 0;
  #bytesDone = 0;

  constructor(input: PublisherInput) {
    this.#in = input;
    this.#localFiles = input.target.backend === "fs";
    this.#linkOriginals = this.#localFiles && !input.target.capabilities.metadata;
    this.#limit = pLimit(input.options.concurrency ?? 8);
  }

  /** A file whose name and siblings are settled, published now when `early` allows. */
  publishEarly(p: Planned): void {
    // Aborted (by the progress callback too): nothing more is started.
    if (this.#in.early && !this.#in.signal?.aborted) this.enqueue(p);
  }

  /** Whether the file was enqueued already (early). */
  isQueued(p: Planned): boolean {
    return this.#queued.has(p);
  }

  enqueue(p: Planned): void {
    this.#queued.add(p);
    const job = this.#stepsOf(p);
    if (job.length === 0) return;
    this.#steps += job.length;
    const task = async () => {
      for (const step of job) await step();
    };
    // Both names of a file (and its siblings) are in one folder.
    const folder = this.#localFiles ? dirname(p.file.name) : undefined;
    const first = folder === undefined ? undefined : this.#firstInFolder.get(folder);
    const run = first ? first.then(() => this.#limit(task)) : this.#limit(task);
    if (folder !== undefined && !first)
      this.#firstInFolder.set(
        folder,
        run.catch(() => {}),
      );
    run.catch(() => {}); // awaited with the others; a failure must not go unhandled meanwhile
    this.#running.push(run);
  }

  /** Every enqueued file published (rejects with the first failure). */
  async finish(): Promise<void> {
    await Promise.all(this.#running);
  }

  /** Every enqueued file published or failed: none left running (on the way out of a failed run). */
  async settle(): Promise<void> {
    await Promise.allSettled(this.#running);
  }

  #done(bytes: number): void {
    this.#bytesDone += bytes;
    this.written++;
    this.#in.progress({
      phase: "publish",
      done: ++this.#filesDone,
      total: this.#steps,
      bytesDone: this.#bytesDone,
      bytesTotal: this.#bytesTotal,
    });
  }

  #common(p: Planned, cacheControl: string): SaveOptions {
    return {
      contentType: p.entry.contentType,
      cacheControl,
      overwrite: true,
      signal: this.#in.signal,
    };
  }

  async #fromFile(path: string, size: number): Promise<Buffer | LocalFile> {
    return this.#localFiles || size > WHOLE_FILE_LIMIT ? localFile(path) : readFile(path);
  }

  #sibling(p: Planned, encoding: Encoding): string {
    const { cacheDir } = this.#in;
    const path = cachePath(cacheDir, p.entry.sha256, encoding);
    if (!existsSync(path)) {
      throw new StorageError(
        "E_NOT_FOUND",
        `The compressed copy of ${p.file.name} (${encoding}) is missing from the cache ${cacheDir}: run collectstatic with --clear, or remove the cache folder, to compress it again.`,
      );
    }
    return path;
  }

  /** The steps that write the file (and its siblings) under `name`. */
  #writes(p: Planned, name: string, cacheControl: string): Step[] {
    const { target, options } = this.#in;
    const file = async () => {
      const body = p.bytes ?? (await this.#fromFile(p.rewritten ?? p.file.path, p.entry.size));
      await target.save(name, body, { ...this.#common(p, cacheControl), size: p.entry.size });
      this.#done(p.entry.size);
    };
    const siblings = (Object.keys(p.entry.encodings) as Encoding[]).map((encoding) => {
      const size = p.entry.encodings[encoding]!;
      return async () => {
        await target.save(
          name + ENCODING_SUFFIX[encoding],
          await this.#fromFile(this.#sibling(p, encoding), size),
          {
            ...this.#common(p, cacheControl),
            ...((options.siblingContentEncoding ?? true) && {
              contentEncoding: encoding === "gzip" ? "gzip" : encoding,
            }),
            size,
          },
        );
        this.#done(size);
      };
    });
    return [file, ...siblings];
  }

  /** The steps that make the original name (and siblings) second names of the hashed ones. */
  #links(p: Planned): Step[] {
    const { target, signal } = this.#in;
    const suffixes = ["", ...(Object.keys(p.entry.encodings) as Encoding[]).map((e) => ENCODING_SUFFIX[e])];
    return suffixes.map((suffix, i) => async () => {
      try {
        await target.copy(p.entry.name + suffix, p.file.name + suffix, { link: true, signal });
      } catch (error) {
        // A published hashed file removed since (by hand): this name is written from the source.
        if (!NotFoundError.isInstance(error)) throw error;
        return this.#writes(p, p.file.name, CACHE_SHORT)[i]!();
      }
      this.#done(sizes(p)[i]!);
    });
  }

  /** The steps that publish a planned file: its hashed name (unless published), its original name. */
  #stepsOf(p: Planned): Step[] {
    const { originals, previousOriginals } = this.#in;
    const job: Step[] = [];
    const total = sizes(p).reduce((a, b) => a + b, 0);
    // Hashed by us or by the bundler: the name changes whenever the content does.
    if (!p.published) {
      job.push(...this.#writes(p, p.entry.name, CACHE_IMMUTABLE));
      this.#bytesTotal += total;
    }
    if (p.entry.hashed && originals && !(p.published && previousOriginals.has(p.file.name))) {
      job.push(...(this.#linkOriginals ? this.#links(p) : this.#writes(p, p.file.name, CACHE_SHORT)));
      this.#bytesTotal += total;
    }
    return job;
  }
}

/** The sizes of a file and its siblings, in the order `writes` and `links` take them. */
function sizes(p: Planned): number[] {
  return [p.entry.size, ...(Object.keys(p.entry.encodings) as Encoding[]).map((e) => p.entry.encodings[e]!)];
}
