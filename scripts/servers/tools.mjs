/**
 * The test servers' own npm tooling — Azurite and the Cloud Storage emulator inside firebase-tools —
 * kept out of the repository's `npm ci`: only `npm test` and `npm run servers -- start` need it.
 *
 * scripts/servers/tools/ holds its package.json and package-lock.json (pinned, reviewed in git).
 * The first server start installs exactly that lockfile into a cache folder named after the
 * lockfile's hash, and every later run (any clone, any worktree of this user) reuses it:
 *
 *   ${STORAGES_TOOLS_CACHE:-${XDG_CACHE_HOME:-~/.cache}/storages/server-tools}/<sha256 of the lockfile>/
 *
 * `npm ci --ignore-scripts --omit=optional`: nothing is compiled or downloaded beyond the registry's
 * tarballs. firebase-tools reaches the native `re2` module through superstatic (its hosting
 * emulator), which loads it inside a try/catch and falls back to JavaScript regexps; the storage
 * emulator never needs it. The install runs in a side folder renamed into place when complete, so a
 * run that is interrupted, or two runs at once, never leave a half-installed cache that looks whole.
 */
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { copyFile, mkdir, readdir, rename, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isAlive } from "./process.mjs";

const MANIFEST_DIR = fileURLToPath(new URL("./tools/", import.meta.url));
const MANIFEST_FILES = ["package.json", "package-lock.json"];

function cacheRoot() {
  if (process.env.STORAGES_TOOLS_CACHE) return process.env.STORAGES_TOOLS_CACHE;
  return join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "storages", "server-tools");
}

/** The folder the current lockfile installs into: one per lockfile content. */
export function toolsDir() {
  const hash = createHash("sha256");
  for (const file of MANIFEST_FILES) hash.update(readFileSync(join(MANIFEST_DIR, file)));
  return join(cacheRoot(), hash.digest("hex").slice(0, 16));
}

/** The exact version scripts/servers/tools/package.json pins for `name` (readable before any install). */
export function pinnedVersion(name) {
  return JSON.parse(readFileSync(join(MANIFEST_DIR, "package.json"), "utf8")).dependencies[name];
}

/** `require` as seen from the installed tools; undefined when they are not installed yet. */
export function toolsRequire() {
  const dir = toolsDir();
  return existsSync(join(dir, "node_modules")) ? createRequire(join(dir, "package.json")) : undefined;
}

function npmCi(cwd) {
  return new Promise((resolve, reject) => {
    const args = ["ci", "--ignore-scripts", "--omit=optional", "--no-audit", "--no-fund", "--loglevel=error"];
    const child = spawn("npm", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (code === 0) resolve();
      else
        reject(
          new Error(`\`npm ${args.join(" ")}\` in ${cwd} failed (${signal ?? `exit ${code}`}):\n${stderr}`),
        );
    });
  });
}

/** Installs under way in this process: Azurite and the emulator start in parallel and share one. */
const installing = new Map();

/**
 * Installs the tools unless this lockfile is installed already; returns the folder.
 * `log` hears one line when an install is needed (it takes a while the first time).
 */
export function ensureTools(log = () => {}) {
  const dir = toolsDir();
  if (existsSync(join(dir, "node_modules"))) return Promise.resolve(dir);
  if (!installing.has(dir)) {
    const install = installInto(dir, log).finally(() => installing.delete(dir));
    installing.set(dir, install);
  }
  return installing.get(dir);
}

/** Removes side folders of installs whose process died before finishing (killed, power loss). */
async function removeAbandonedInstalls() {
  for (const name of await readdir(cacheRoot())) {
    const pid = Number(/\.partial-(\d+)-/.exec(name)?.[1]);
    if (pid && !isAlive(pid)) await rm(join(cacheRoot(), name), { recursive: true, force: true });
  }
}

async function installInto(dir, log) {
  await mkdir(cacheRoot(), { recursive: true });
  await removeAbandonedInstalls();
  const partial = `${dir}.partial-${process.pid}-${randomBytes(3).toString("hex")}`;
  log(`installing the test servers' tools (scripts/servers/tools/package-lock.json) into ${dir}`);
  try {
    await mkdir(partial, { recursive: true });
    for (const file of MANIFEST_FILES) await copyFile(join(MANIFEST_DIR, file), join(partial, file));
    await npmCi(partial);
    await rename(partial, dir).catch(async (error) => {
      // Another run finished the same install first: use theirs.
      if (!existsSync(join(dir, "node_modules"))) throw error;
    });
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
  return dir;
}
