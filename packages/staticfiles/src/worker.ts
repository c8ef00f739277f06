/**
 * The CPU work of collectstatic, run on piscina worker threads (one per core): reading and hashing
 * file contents, finding the references in CSS and JS (references.ts, loaded here), and compressing
 * (brotli q11 is by far the slowest step). Node imports only, and references.ts by a path that
 * follows this file's own extension, so Node can also load it from the TypeScript sources when
 * tests run without a build.
 *
 * Compressed output goes to the local cache folder as `<sha256>.<encoding>` (named by the content
 * it compresses, so each content is compressed once, ever, on this machine) and only sizes travel
 * back: memory stays bounded whatever the file sizes.
 */
import { createHash } from "node:crypto";
import { createReadStream, readFileSync } from "node:fs";
import { mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import * as zlib from "node:zlib";

import type { ReferenceKind } from "./names.js";
import type { Reference } from "./references.js";

export interface DigestTask {
  op: "digest";
  path: string;
}

/** A batch of files to read, hash and (CSS, JS) scan for references: one message for many small files. */
export interface ScanTask {
  op: "scan";
  files: { path: string; kind: ReferenceKind }[];
  /** Also ES module specifiers in JS. */
  modules: boolean;
}

export interface Scanned extends Digest {
  /** The references found, in text order: only for a CSS or JS file that has some… */
  references?: Reference[] | undefined;
  /** …and then its text, which the collector rewrites once the files it references are named. */
  text?: string | undefined;
  /** A CSS file that does not tokenize: its references cannot be found (said as a warning). */
  unparsed?: true | undefined;
}

export interface Digest {
  sha256: string;
  /** `sha384-<base64>`. */
  integrity: string;
  size: number;
}

export type WorkerEncoding = "br" | "zstd" | "gzip";

export interface CompressTask {
  op: "compress";
  /** The file to compress: a source, or its rewritten copy in the cache… */
  path: string;
  /** …or the rewritten bytes themselves. */
  bytes?: Uint8Array | undefined;
  encodings: WorkerEncoding[];
  /** Where the results go, `.br`, `.gzip`… added (cache.ts's cacheStem of the content's SHA-256). */
  cacheStem: string;
  /** Smallest saving kept, as a fraction (0.05: a sibling must be ≥ 5 % smaller). */
  minSaving: number;
  brotliQuality: number;
  gzipLevel: number;
  zstdLevel: number;
}

export interface Compressed {
  /** Per encoding: the sibling's size, or 0 when it was not worth keeping. */
  sizes: Partial<Record<WorkerEncoding, number>>;
  /** Every result came from the local cache: nothing was compressed. */
  reused: boolean;
}

const { constants } = zlib;
/** zstd is in node:zlib from Node 22.15 / 23.8; on an older Node it is simply not produced. */
export const ZSTD_AVAILABLE = typeof zlib.zstdCompress === "function";

/**
 * Brotli's window for an input: one bit more than the input needs (the default, 22 bits, is a
 * 4 MiB window and a match finder of eight times that, allocated for a 2 KiB file too). The output
 * is the same but for a few bytes in a thousand files (measured on the bench corpus: +10 bytes in
 * 3.3 MB), and the CPU time is the same; the memory is not.
 */
function windowBits(size: number): number {
  const { BROTLI_MIN_WINDOW_BITS: min, BROTLI_DEFAULT_WINDOW: max } = constants;
  return Math.max(min, Math.min(max, Math.ceil(Math.log2(size + 16)) + 1));
}

async function digest(path: string): Promise<Digest> {
  const sha256 = createHash("sha256");
  const sha384 = createHash("sha384");
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    sha256.update(chunk as Buffer);
    sha384.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: sha256.digest("hex"), integrity: `sha384-${sha384.digest("base64")}`, size };
}

type References = typeof import("./references.js");
let references: Promise<References> | undefined;
/** references.ts beside this file (built: references.js), with its parsers ready. */
function referencesModule(): Promise<References> {
  references ??= (async () => {
    const extension = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
    const module = (await import(new URL(`./references${extension}`, import.meta.url).href)) as References;
    await module.initParsers();
    return module;
  })();
  return references;
}

async function scan(task: ScanTask): Promise<Scanned[]> {
  const parsers = task.files.some((f) => f.kind) ? await referencesModule() : undefined;
  return task.files.map(({ path, kind }) => {
    // Synchronous: this thread has nothing else to do meanwhile, and one call costs a third of a
    // promise-based read of a small file.
    const bytes = readFileSync(path);
    const digest: Scanned = {
      sha256: createHash("sha256").update(bytes).digest("hex"),
      integrity: `sha384-${createHash("sha384").update(bytes).digest("base64")}`,
      size: bytes.length,
    };
    if (kind && parsers) {
      const text = bytes.toString("utf8");
      const parsed = parsers.parseReferences(kind, text, path, { modules: task.modules });
      const found = parsed.references;
      if (parsed.unparsed) digest.unparsed = true;
      if (found.length > 0) {
        digest.references = found;
        digest.text = text;
      }
    }
    return digest;
  });
}

async function cached(stem: string, encoding: string): Promise<number | undefined> {
  try {
    return (await stat(`${stem}.${encoding}`)).size;
  } catch {
    try {
      await stat(`${stem}.${encoding}.none`);
      return 0;
    } catch {
      return undefined;
    }
  }
}

/** Written whole or not at all: a crash never leaves a truncated entry that a later run would trust. */
async function store(path: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(temporary, bytes);
  await rename(temporary, path);
}

async function compress(task: CompressTask): Promise<Compressed> {
  const result: Compressed["sizes"] = {};
  let reused = true;
  let input: Buffer | undefined;
  for (const encoding of task.encodings) {
    const hit = await cached(task.cacheStem, encoding);
    if (hit !== undefined) {
      result[encoding] = hit;
      continue;
    }
    reused = false;
    input ??= task.bytes
      ? Buffer.from(task.bytes.buffer, task.bytes.byteOffset, task.bytes.byteLength)
      : await readFile(task.path);
    // Synchronous, on this thread: it has nothing else to do meanwhile, and the callback forms
    // run on Node's four shared pool threads, whose malloc arenas kept brotli's freed buffers
    // (peak RSS of a fresh br + gzip run: 316–342 MB that way, 253–263 MB this way, same time).
    // An abort rejects the run at once; this thread ends once the file in hand is compressed, as
    // the pool thread compressing it did before (measured: the CLI exits ~3 s after Ctrl-C during
    // a 6 MB file's brotli, either way).
    const out =
      encoding === "br"
        ? zlib.brotliCompressSync(input, {
            params: {
              [constants.BROTLI_PARAM_QUALITY]: task.brotliQuality,
              [constants.BROTLI_PARAM_SIZE_HINT]: input.length,
              [constants.BROTLI_PARAM_LGWIN]: windowBits(input.length),
            },
          })
        : encoding === "gzip"
          ? zlib.gzipSync(input, { level: task.gzipLevel })
          : zlib.zstdCompressSync(input, {
              params: {
                [constants.ZSTD_c_compressionLevel]: task.zstdLevel,
                [constants.ZSTD_c_checksumFlag]: 1,
              },
              pledgedSrcSize: input.length,
            } as Parameters<typeof zlib.zstdCompressSync>[1]);
    if (out.length <= input.length * (1 - task.minSaving)) {
      await store(`${task.cacheStem}.${encoding}`, out);
      result[encoding] = out.length;
    } else {
      await store(`${task.cacheStem}.${encoding}.none`, new Uint8Array());
      result[encoding] = 0;
    }
  }
  return { sizes: result, reused };
}

export default async function run(
  task: DigestTask | ScanTask | CompressTask,
): Promise<Digest | Scanned[] | Compressed> {
  if (task.op === "digest") return digest(task.path);
  if (task.op === "scan") return scan(task);
  return compress(task);
}
