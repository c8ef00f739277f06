import { mkdir, mkdtemp, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Storage } from "@storages/core";
import type { CollectOptions } from "../src/index.js";

export async function tempDir(
  label = "storages-static-",
): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), label));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/** Writes files (name → content) under `root`, with distinct old mtimes so a later write always changes them. */
export async function writeTree(root: string, files: Record<string, string | Uint8Array>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    const path = join(root, name);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, content);
  }
}

export async function touch(path: string, seconds: number): Promise<void> {
  await utimes(path, seconds, seconds);
}

/** A small site: a CSS chain (app → base → theme), images, a font, JS with a source map. */
export function site(): Record<string, string> {
  return {
    "css/app.css": `@import "base.css";\nbody { background: url(../img/bg.png) }\n/*# sourceMappingURL=app.css.map */\n`,
    "css/app.css.map": `{"version":3,"sources":["app.scss"],"mappings":""}`,
    "css/base.css": `@import url("theme/theme.css");\n.logo { background-image: image-set("../img/logo.png" 1x, "../img/logo@2x.png" 2x) }\n${"/* padding */\n".repeat(40)}`,
    "css/theme/theme.css": `@font-face { font-family: x; src: url(../../fonts/x.woff2) format("woff2") }\n.t { background: url('/static/img/bg.png?v=1#a') }\n`,
    "img/bg.png": "png-bg",
    "img/logo.png": "png-logo",
    "img/logo@2x.png": "png-logo-2x",
    "fonts/x.woff2": "woff2",
    "js/app.js": `console.log(${JSON.stringify("x".repeat(600))});\n//# sourceMappingURL=app.js.map\n`,
    "js/app.js.map": `{"version":3,"sources":["app.ts"],"mappings":"${"A".repeat(600)}"}`,
  };
}

/** What every collect test passes: one source, its own compression cache, two threads. */
export function collectOptions(
  src: string,
  target: Storage,
  cwd: string,
  extra: Partial<CollectOptions> = {},
): CollectOptions {
  return { sources: [{ dir: src }], target, cwd, cacheDir: join(cwd, "cache"), threads: 2, ...extra };
}
