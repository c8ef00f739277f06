#!/usr/bin/env node
/**
 * Bundles a package's built dist/ into one module per entry point, after `tsc -b` (each package's
 * `build` script: `tsc -b && node ../../scripts/bundle-dist.mjs [src/extra-entry.ts…]`).
 *
 * Why: Node loads an ES module graph file by file — resolve, read, compile (or read the compile
 * cache), link — and a command's start-up was mostly that: `storages --version` loaded ~90 modules.
 * One module per package does the same work once.
 *
 * What stays as it was:
 * - package boundaries: every bare specifier (`@storages/core`, `mime`, `node:fs`…) stays an
 *   import, so an application still has one copy of core (never inlined into a driver);
 * - tsc's declarations (`dist/**\/*.d.ts` and their maps): types come from tsc, not from here;
 * - source maps, to the TypeScript sources (`src/` is published);
 * - the entry files' paths, so `exports` maps and `bin` scripts are unchanged. The entries are
 *   `src/index.ts` plus the extra ones given (a CLI's bin, a worker file loaded by its path);
 *   modules shared between entries go to `dist/chunk-*.js`.
 *
 * tsc's own per-file JavaScript is removed afterwards (every module is in the bundle); its
 * declarations stay. The unbundled output also works: a checkout that only ran `tsc -b` runs the
 * same code, module by module.
 */
import { readdirSync, rmSync } from "node:fs";
import { join, relative } from "node:path";
import { build } from "rolldown";

const packageDir = process.cwd();
const dist = join(packageDir, "dist");
const entries = ["src/index.ts", ...process.argv.slice(2)];
const input = Object.fromEntries(
  entries.map((file) => [file.replace(/^src\//, "").replace(/\.ts$/, ""), join(packageDir, file)]),
);

const output = await build({
  input,
  cwd: packageDir,
  platform: "node",
  // Only the package's own modules are bundled: dependencies, peer packages and Node's built-ins
  // are imported at run time, as before.
  external: (id) => !id.startsWith(".") && !id.startsWith("/") && !/^[A-Za-z]:[\\/]/.test(id),
  // The sources say which files have side effects through package.json's "sideEffects".
  treeshake: true,
  logLevel: "warn",
  write: true,
  output: {
    dir: dist,
    format: "esm",
    sourcemap: true,
    // The maps point at src/, which every package publishes: no second copy of the sources in them.
    sourcemapExcludeSources: true,
    entryFileNames: "[name].js",
    chunkFileNames: "chunk-[hash].js",
    // Names, line breaks and comments kept: stack traces and a reader of dist/ see the code as written.
    minify: false,
  },
});

// tsc's per-module JavaScript is now dead weight in the package: keep only what the bundle wrote
// (and every declaration file).
const written = new Set(output.output.map((file) => join(dist, file.fileName)));
for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
  const path = join(entry.parentPath, entry.name);
  if (!entry.isFile() || written.has(path)) continue;
  if (/\.js(\.map)?$/.test(entry.name) && !entry.name.endsWith(".d.ts.map")) rmSync(path);
}
// Folders tsc made for nested modules now hold declarations only; nothing else to clean.
process.stdout.write(
  `bundled ${relative(process.cwd(), dist) || "dist"}: ${output.output
    .filter((f) => f.type === "chunk")
    .map((f) => f.fileName)
    .join(", ")}\n`,
);
