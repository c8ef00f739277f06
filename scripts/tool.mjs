#!/usr/bin/env node
/**
 * Runs a pinned build tool: `node scripts/tool.mjs turbo run build`, `node scripts/tool.mjs biome check .`
 *
 * turbo and biome ship their binaries as per-platform optional packages. npm cannot lock those for
 * platforms its registry does not serve (npm/cli#8320), and `npm ci` then refuses the lockfile. So
 * they are not devDependencies: `npm exec` installs the pinned version for this platform only, into
 * npm's cache, the first time, and reuses it after. The versions are pinned here, in one place.
 *
 * Also the one place that decides what every tool run prints: no telemetry banner, no "no local
 * turbo" or update notice (turbo runs from npm's cache on purpose), and no colour codes unless the
 * output is a terminal and colour is not switched off (NO_COLOR, FORCE_COLOR=0).
 */
import { spawnSync } from "node:child_process";
import { pathToFileURL } from "node:url";

export const TOOLS = {
  turbo: "turbo@2.11.11",
  biome: "@biomejs/biome@2.6.8",
};

/** Whether child output may carry colour codes: a terminal, and colour not switched off. */
export function colourWanted(env = process.env, stream = process.stdout) {
  if ("NO_COLOR" in env || env.FORCE_COLOR === "0" || env.FORCE_COLOR === "false") return false;
  return Boolean(stream.isTTY) || (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "");
}

/**
 * The environment every tool and test run gets. Colour off means NO_COLOR=1 and no FORCE_COLOR at
 * all: vitest's colour library treats any FORCE_COLOR, even "0", as "force colour on".
 */
export function toolEnv(env = process.env) {
  const result = {
    ...env,
    TURBO_TELEMETRY_DISABLED: "1",
    TURBO_GLOBAL_WARNING_DISABLED: "1",
    TURBO_NO_UPDATE_NOTIFIER: "1",
    DO_NOT_TRACK: "1",
  };
  if (!colourWanted(env)) {
    delete result.FORCE_COLOR;
    result.NO_COLOR = "1";
  }
  return result;
}

/**
 * One line, once per command, when the Node that runs npm is older than the one the project runs
 * on: npm's EBADENGINE warnings about it are silenced in .npmrc, and this says why they do not matter.
 */
export function nodeNotice(env = process.env) {
  if (env.STORAGES_NODE_NOTICE_SHOWN) return;
  env.STORAGES_NODE_NOTICE_SHOWN = "1";
  const machineNode = /\bnode\/v(\d+)\.\S*/.exec(env.npm_config_user_agent ?? "");
  if (!machineNode || Number(machineNode[1]) >= 22) return;
  process.stderr.write(
    `note: this machine's Node is ${machineNode[0].slice(5)}; the project needs >= 22 and runs its scripts on its own ` +
      `Node ${process.version} (the \`node\` devDependency), so npm's engine warnings are silenced (.npmrc).\n`,
  );
}

/** The argv that runs `tool` with `args` (for spawn). */
export function toolCommand(tool, args) {
  const pkg = TOOLS[tool];
  if (!pkg) throw new Error(`Unknown tool "${tool}"; known: ${Object.keys(TOOLS).join(", ")}`);
  const colourFlag = tool === "turbo" ? [colourWanted() ? "--color" : "--no-color"] : [];
  // --prefer-offline: once the pinned version is in npm's cache, no registry round trip per run
  // (without it every turbo or biome run asked the registry first: 70 s of TLS retries where the
  // registry's certificate authority is not in the environment, e.g. inside a turbo task's env).
  return [
    "npm",
    ["exec", "--yes", "--prefer-offline", `--package=${pkg}`, "--", tool, ...colourFlag, ...args],
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [tool, ...args] = process.argv.slice(2);
  nodeNotice();
  const [command, commandArgs] = toolCommand(tool, args);
  const result = spawnSync(command, commandArgs, { stdio: "inherit", env: toolEnv() });
  process.exit(result.status ?? 1);
}
