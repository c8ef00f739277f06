import type { Storage } from "@storages/core";
import type { StaticSource } from "./finders.js";
import type { PublishLockHolder } from "./lock.js";
import type { Encoding, StaticManifest } from "./manifest.js";

export interface CollectWarning {
  /**
   * `missing-reference`: a reference to a file that is not among the static files (left as written);
   * `outside`: a reference that leaves the static files or names a folder (left as written);
   * `cycle`: files that reference each other (the reference closing the cycle is left as written);
   * `conflict`: two sources hold the same name (the first one is used);
   * `unparsed`: a CSS file that does not tokenize (its references are left as written);
   * `reserved`: a source file under a name collectstatic writes itself (not published);
   * `unlocked`: the target cannot create files exclusively, so this run took no lock (`file` is the lock's name);
   * `changed-hashed-name`: a name a bundler hashed (kept as it is) holds other bytes than in the previous release;
   * `link`: a symbolic link in a source to a folder (not followed) or to nothing: nothing published under it;
   * `unpruned`: a stored release manifest does not parse, so nothing was pruned (`file` is its name).
   */
  code:
    | "missing-reference"
    | "outside"
    | "cycle"
    | "conflict"
    | "unparsed"
    | "reserved"
    | "unlocked"
    | "changed-hashed-name"
    | "link"
    | "unpruned";
  /** The original name of the file the warning is about (the referencing file). */
  file: string;
  /** 1-based line of the reference, when it is about one. */
  line?: number | undefined;
  /** The reference as written. */
  reference?: string | undefined;
  message: string;
}

export type CollectPhase = "scan" | "hash" | "compress" | "publish" | "prune";

export interface CollectProgress {
  phase: CollectPhase;
  /** Files done in this phase, and known so far. */
  done: number;
  total: number;
  /** Bytes published so far, and to publish (publish phase). */
  bytesDone: number;
  bytesTotal: number;
}

export interface CollectOptions {
  /** Source folders, first found wins. */
  sources: readonly StaticSource[];
  /** Also look in installed packages that declare `"staticfiles"` in their package.json (node_modules below this folder; `true`: cwd). */
  packages?: boolean | string | undefined;
  /** Globs over the original names to leave out. Default: dot files and folders, `*~`, `CVS/`. */
  ignore?: readonly string[] | undefined;
  /** Where to publish. */
  target: Storage;
  /** The path of the static URL (`/static/`): root-relative references start with it. Default `/static/`. */
  baseUrlPath?: string | undefined;
  /** Release id. Default: derived from the files' names and hashes. */
  release?: string | undefined;
  /** Releases whose files are kept (the current one included). Default 3. */
  keep?: number | undefined;
  /** Compute and report, write nothing. */
  dryRun?: boolean | undefined;
  /** Delete every file earlier runs wrote (tracked by their manifests) before publishing. Never a file collectstatic did not write. */
  clear?: boolean | undefined;
  /** A reference to a missing file is an error (nothing is published) instead of a warning. */
  strict?: boolean | undefined;
  /** Precompression encodings; `[]` for none. Default br, gzip, zstd. */
  encodings?: readonly Encoding[] | undefined;
  /** Rewrite relative ES module specifiers (`import "./a.js"`) too. Default false. */
  rewriteModules?: boolean | undefined;
  /** Publish each hashed file also under its original name (short cache). Default true. */
  originals?: boolean | undefined;
  /** Write the app's manifest here (absolute or relative to cwd); `false`: do not. Default `./staticfiles.json`. */
  manifestOut?: string | false | undefined;
  /** Local cache of compression results by content hash. Default `node_modules/.cache/storages-staticfiles` under cwd. */
  cacheDir?: string | undefined;
  /** Uploads at once. Default 8. */
  concurrency?: number | undefined;
  /** Worker threads for hashing and compression. Default: the number of cores. */
  threads?: number | undefined;
  /** Brotli quality (default 11), gzip level (default 9), zstd level (default 19). */
  brotliQuality?: number | undefined;
  gzipLevel?: number | undefined;
  zstdLevel?: number | undefined;
  cwd?: string | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((progress: CollectProgress) => void) | undefined;
  /**
   * How long to wait, in ms, while another run publishes to the same target (it holds the
   * target's lock, `.storages/lock.json`); then `PublishLockedError`. 0: fail at once. Default 10 min.
   */
  lockWaitMs?: number | undefined;
  /** A lock left unrenewed this long (ms) is taken over: its run is gone. Default 60 s. */
  lockLeaseMs?: number | undefined;
  /** Delete the target's lock before taking it: the run that held it is known to be dead. */
  breakLock?: boolean | undefined;
  /** Called once when another run holds the lock and this one starts waiting for it. */
  onLockWait?: ((holder: PublishLockHolder | undefined, waitMs: number) => void) | undefined;
  /** Set Content-Encoding on the uploaded siblings (for buckets that serve them directly). Default true. */
  siblingContentEncoding?: boolean | undefined;
}

export interface CollectResult {
  release: string;
  dryRun: boolean;
  /** Static files found in the sources. */
  found: number;
  /** Files published by this run (new or changed content; siblings and originals not counted). */
  copied: number;
  /** Files already published with the same content. */
  unchanged: number;
  /** Contents compressed by this run (each unique content once), and ones whose results were reused from the cache. */
  compressed: number;
  compressionReused: number;
  /** Bytes of the published files (after rewriting), and of the compressible ones among them. */
  bytes: number;
  bytesBefore: number;
  /** Total size of the precompressed siblings, per encoding. */
  bytesAfter: Record<Encoding, number>;
  /** Objects written to the target (files, siblings, originals, manifests). */
  written: number;
  /** Names deleted: pruned releases' files (and all tracked files with `clear`). */
  deleted: string[];
  /** Releases kept after this run, newest first. */
  releases: string[];
  warnings: CollectWarning[];
  /** Cycles of references found (original names, in order). */
  cycles: string[][];
  manifest: StaticManifest;
  /** Where the app's manifest was written (absolute), if it was. */
  manifestOut: string | undefined;
  /** True when the stored manifest matched the sources' stat data: nothing was read, hashed, compressed or written. */
  nothingChanged: boolean;
  durationMs: number;
}
