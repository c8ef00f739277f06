/**
 * The local compression cache's layout and whether this Node can produce zstd: here, not in
 * worker.ts, so that the main thread of a run with nothing to compress (a no-change run) never
 * loads node:zlib.
 */
import { createRequire } from "node:module";
import { join } from "node:path";
import type * as Zlib from "node:zlib";

/**
 * Where the cache keeps what it knows of one content: `<cacheDir>/ab/abcdef…`, to which a suffix
 * is added (`.br`; `.br.none` records "not worth it" for that encoding). The worker gets this stem
 * in its task, so the layout is decided here only.
 */
export function cacheStem(cacheDir: string, sha256: string): string {
  return join(cacheDir, sha256.slice(0, 2), sha256);
}

/** `<cacheDir>/ab/abcdef….br` (see cacheStem). */
export function cachePath(cacheDir: string, sha256: string, encoding: string): string {
  return `${cacheStem(cacheDir, sha256)}.${encoding}`;
}

/** zstd is in node:zlib from Node 22.15 / 23.8; on an older Node it is simply not produced. */
export function zstdAvailable(): boolean {
  const zlib = createRequire(import.meta.url)("node:zlib") as typeof Zlib;
  return typeof zlib.zstdCompress === "function";
}
