/**
 * Child process of migrate-memory.test.ts: `verify` over two synthetic 1,000,000-file listings,
 * made up page by page (the listings themselves hold nothing), on the built packages. Prints one
 * JSON line: the result's counts and memory samples (after a forced GC) every 100,000 files.
 * Run with a small heap (--max-old-space-size): a comparison that kept a record per file would
 * not fit, and RSS cannot grow behind a heap that cannot.
 */
import { NotFoundError, Storage } from "@storages/core";
import { verify } from "@storages/migrate";

const FILES = 1_000_000;
const PER_FOLDER = 1000;
const fail = async () => {
  throw new NotFoundError("synthetic storage: listings only");
};

/** Names `photos/<folder>/<n>.jpg`, listed in code point order; `skip(i)` names are absent. */
function synthetic(skip) {
  return {
    backend: "synthetic",
    capabilities: {
      rangeRead: false,
      conditionalWrite: false,
      publicUrl: false,
      signedUrl: false,
      signedUpload: [],
      signedUploadMaxBytes: [],
      visibility: "none",
      metadata: false,
      checksums: ["md5"],
    },
    write: fail,
    read: fail,
    stat: fail,
    delete: fail,
    async listPage(_prefix, options) {
      let position = options.cursor ? Number(options.cursor) : 0;
      const entries = [];
      while (entries.length < options.pageSize && position < FILES) {
        const i = position++;
        if (skip(i)) continue;
        const folder = String(Math.floor(i / PER_FOLDER)).padStart(4, "0");
        entries.push({
          type: "file",
          name: `photos/${folder}/${String(i % PER_FOLDER).padStart(4, "0")}.jpg`,
          size: 1000 + (i % 5000),
          lastModified: new Date(1_700_000_000_000),
          checksums: { md5: ((i * 2654435761) >>> 0).toString(16).padStart(32, "0") },
        });
      }
      return position < FILES ? { entries, cursor: String(position) } : { entries };
    },
  };
}

const samples = [];
let seen = 0;
const result = await verify(
  new Storage(
    synthetic(() => false),
    { retry: false },
  ),
  // Every 50,000th file missing at the destination: counted, and only sampled in the result.
  new Storage(
    synthetic((i) => i % 50_000 === 7),
    { retry: false },
  ),
  {
    onFile() {
      if (++seen % 100_000 !== 0) return;
      globalThis.gc();
      const { rss, heapUsed } = process.memoryUsage();
      samples.push({ files: seen, rss, heapUsed });
    },
  },
);
process.stdout.write(
  `${JSON.stringify({ equal: result.equal.files, missing: result.missing.files, peakPending: result.listing.peakPending, samples })}\n`,
);
