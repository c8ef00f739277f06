#!/usr/bin/env node
/**
 * Runs a pinned build tool: `node scripts/tool.mjs turbo run build`, `node scripts/tool.mjs biome check .`
 *
 * turbo and biome ship their binaries as per-platform optional packages. npm cannot lock those for
 * platforms its registry does not serve (npm/cli#8320), and `npm ci` then refuses the lockfile. So
 * they are not devDependencies: `npm exec` installs the pinned version for this platform only, into
 * npm's cache, the first time, and reuses it after. The versions are pinned here, in one place.
 */
import { spawnSync } from "node:child_process";
import { pathToFileURL } from "node:url";

export const TOOLS = {
  turbo: "turbo@2.11.11",
  biome: "@biomejs/biome@2.6.8",
};

/** The argv that runs `tool` with `args` (for spawn). */
export function toolCommand(tool, args) {
  const pkg = TOOLS[tool];
  if (!pkg) throw new Error(`Unknown tool "${tool}"; known: ${Object.keys(TOOLS).join(", ")}`);
  return ["npm", ["exec", "--yes", `--package=${pkg}`, "--", tool, ...args]];
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [tool, ...args] = process.argv.slice(2);
  const [command, commandArgs] = toolCommand(tool, args);
  const result = spawnSync(command, commandArgs, { stdio: "inherit" });
  process.exit(result.status ?? 1);
}
