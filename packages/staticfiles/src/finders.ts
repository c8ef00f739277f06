/**
 * Finders: where static files come from, in order — the configured source folders (each with an
 * optional prefix under which its files are published), then installed packages that declare a
 * static folder in their package.json. First found wins; a later source with the same name is
 * reported with both sources named. Only stat data is read here: a no-change run reads no file.
 */
import { lstatSync, readdirSync, readlinkSync, realpathSync, type Stats, statSync } from "node:fs";
import { readdir, readFile, realpath } from "node:fs/promises";
import { createRequire } from "node:module";
import { join, relative, resolve, sep } from "node:path";
import { ConfigError, isWithin } from "@storages/core";
import type picomatchModule from "picomatch";
import { MANIFEST_NAME, RESERVED_FOLDER } from "./manifest.js";
import { looksBundlerHashed } from "./names.js";
import type { CollectWarning } from "./types.js";

export interface StaticSource {
  /** A local folder. */
  dir: string;
  /** Published under this prefix (`admin/`); default none. */
  prefix?: string | undefined;
  /** Shown in warnings: `--source ./assets`, `package django-admin`. Default the folder. */
  label?: string | undefined;
}

export interface FoundFile {
  /** The original name: prefix + path below the source folder, `/`-separated. */
  name: string;
  /** Absolute path of the source file. */
  path: string;
  size: number;
  mtimeMs: number;
  source: string;
}

const load = createRequire(import.meta.url);

/** Django's defaults (`CVS`, `.*`, `*~`) as globs over the names. */
export const DEFAULT_IGNORE = ["**/.*", "**/.*/**", "**/*~", "**/CVS/**"];

/**
 * Installed packages (`node_modules/<name>/package.json`, scoped ones too) that declare
 * `"staticfiles": "dir"` or `"staticfiles": { "dir": "…", "prefix": "…" }`; the prefix defaults to
 * the package name.
 */
export async function packageSources(root: string): Promise<StaticSource[]> {
  const modules = join(root, "node_modules");
  const names: string[] = [];
  let entries: string[];
  try {
    entries = await readdir(modules);
  } catch {
    return [];
  }
  for (const entry of entries.sort()) {
    if (entry.startsWith(".")) continue;
    if (entry.startsWith("@")) {
      const scoped = await readdir(join(modules, entry)).catch(() => [] as string[]);
      for (const inner of scoped.sort()) names.push(`${entry}/${inner}`);
    } else names.push(entry);
  }
  const sources: StaticSource[] = [];
  for (const name of names) {
    let pkg: { staticfiles?: unknown };
    try {
      pkg = JSON.parse(await readFile(join(modules, name, "package.json"), "utf8"));
    } catch {
      continue;
    }
    const declared = pkg.staticfiles;
    if (declared === undefined) continue;
    const spec =
      typeof declared === "string" ? { dir: declared } : (declared as { dir?: unknown; prefix?: unknown });
    if (typeof spec.dir !== "string") continue;
    const base = resolve(modules, name);
    const dir = resolve(base, spec.dir);
    if (!(dir === base || dir.startsWith(base + sep))) continue; // a package may not point outside itself
    sources.push({
      dir,
      prefix: typeof spec.prefix === "string" ? spec.prefix : `${name}/`,
      label: `package ${name}`,
    });
  }
  return sources;
}

/** Whether one of DEFAULT_IGNORE's globs could match `name` (a quick superset of what they match). */
export function mayMatchDefaults(name: string): boolean {
  return name.startsWith(".") || name.includes("/.") || name.endsWith("~") || name.includes("CVS");
}

function normalisePrefix(prefix: string | undefined): string {
  if (!prefix) return "";
  const trimmed = prefix.replace(/^\/+|\/+$/g, "");
  if (trimmed.split("/").some((s) => s === ".." || s === ".")) {
    throw new ConfigError(
      `The static prefix "${prefix}" has a "." or ".." segment: give a plain folder name.`,
    );
  }
  return trimmed === "" ? "" : `${trimmed}/`;
}

/** Whether a name (relative to its source folder, or with its prefix) is ignored. */
function ignoreMatcher(ignore: readonly string[] | undefined): (name: string) => boolean {
  const patterns = [...(ignore ?? DEFAULT_IGNORE)];
  let compiled: ((name: string) => boolean) | undefined;
  // picomatch is loaded and the globs compiled on the first name to test: with the default globs
  // a run whose names the pre-check clears needs neither (~5–9 ms of a no-change run).
  const globs = (name: string) => {
    compiled ??= (load("picomatch") as typeof picomatchModule)(patterns, { dot: true });
    return compiled(name);
  };
  // With the default globs, a name with no segment starting with ".", no "CVS" and no trailing "~"
  // cannot match: most names skip the four regular expressions (a tenth of a no-change run).
  return ignore === undefined ? (name: string) => mayMatchDefaults(name) && globs(name) : globs;
}

/**
 * Refuses a target folder on this machine (`targetRoot`, a real path) that is a source folder,
 * holds one, or lies inside one: published files would be found as sources on the next run (hashed
 * again, the manifest among them) or land on the sources they came from. Django refuses a
 * STATIC_ROOT among its STATICFILES_DIRS for the same reason. A target inside a source is allowed
 * when the ignore patterns leave its whole folder out.
 */
export async function refuseTargetAmongSources(
  targetRoot: string,
  sources: readonly StaticSource[],
  ignore: readonly string[] | undefined,
): Promise<void> {
  const ignored = ignoreMatcher(ignore);
  for (const source of sources) {
    let dir: string;
    try {
      dir = await realpath(source.dir);
    } catch {
      continue; // findFiles reports a source that is not a readable folder
    }
    const label = source.label ?? source.dir;
    let why: string | undefined;
    if (dir === targetRoot) why = `it is the static source ${label}`;
    else if (isWithin(dir, targetRoot)) {
      const folder = relative(dir, targetRoot).split(sep).join("/");
      if (ignored(`${folder}/x`) && ignored(`${folder}/x/y`)) continue;
      why = `it is the folder "${folder}" of the static source ${label} (leave it out with --ignore '${folder}/**', or publish elsewhere)`;
    } else if (isWithin(targetRoot, dir)) why = `it holds the static source ${label}`;
    if (why)
      throw new ConfigError(
        `collectstatic would publish into ${targetRoot}, and ${why}: the published files would be collected again as sources. Give a target folder outside the sources.`,
      );
  }
}

/**
 * Names collectstatic writes in the target: the manifest and its release records. A source file
 * under one of them would be overwritten, or — read back as a release — decide what pruning
 * deletes. Refused whatever the ignore patterns say.
 */
function isReservedName(name: string): boolean {
  return name === MANIFEST_NAME || name.startsWith(RESERVED_FOLDER);
}

export async function findFiles(
  sources: readonly StaticSource[],
  options: { ignore?: readonly string[] | undefined; warnings: CollectWarning[] },
): Promise<FoundFile[]> {
  const ignored = ignoreMatcher(options.ignore);
  const found = new Map<string, FoundFile>();
  for (const source of sources) {
    const dir = resolve(source.dir);
    const label = source.label ?? source.dir;
    const prefix = normalisePrefix(source.prefix);
    let listing: string[];
    try {
      const info = statSync(dir);
      if (!info.isDirectory()) throw new Error("not a folder");
      listing = listFolder(dir);
    } catch (error) {
      throw new ConfigError(
        `The static source ${label} (${dir}) is not a readable folder (${(error as Error).message}): check --source or the configuration.`,
        { cause: error },
      );
    }
    listing.sort();
    const files = listing.map((rel) => {
      const name = prefix + rel;
      if (ignored(rel) || (prefix !== "" && ignored(name))) return undefined;
      const path = sep === "/" ? `${dir}/${rel}` : join(dir, rel);
      let info: Stats | undefined;
      try {
        info = statSync(path, { throwIfNoEntry: false });
      } catch {
        // a link that cannot be followed (a loop), or removed meanwhile
      }
      if (!info?.isFile()) {
        const warning = linkNotFollowed(path, name, label, info);
        if (warning) options.warnings.push(warning);
        return undefined;
      }
      return { name, path, size: info.size, mtimeMs: Math.round(info.mtimeMs), source: label };
    });
    for (const file of files) {
      if (!file) continue;
      if (isReservedName(file.name)) {
        options.warnings.push({
          code: "reserved",
          file: file.name,
          message: `${file.name} (in ${file.source}) is not published: collectstatic writes that name itself (${file.name === MANIFEST_NAME ? "the manifest" : "the records of its releases"}). Rename the file.`,
        });
        continue;
      }
      const first = found.get(file.name);
      if (first) {
        options.warnings.push({
          code: "conflict",
          file: file.name,
          message: `${file.name} is in ${first.source} and in ${file.source}: the one from ${first.source} is used (first found wins).`,
        });
        continue;
      }
      found.set(file.name, file);
    }
  }
  return [...found.values()];
}

/**
 * Warnings findFiles gives on every run (two sources with one name, a reserved name, a link not
 * followed): not stored with a build, whose warnings a no-change run repeats.
 */
export const FINDER_WARNINGS: ReadonlySet<CollectWarning["code"]> = new Set(["conflict", "reserved", "link"]);

/**
 * The warning for an entry of a source that is not a file because it is a symbolic link to a
 * folder (listFolder walks real folders only: no cycles, and a source is what its folder holds) or
 * to nothing: its files would be left out of the release without a word (a build folder's
 * `vendor -> ../node_modules/lib/dist`). Undefined for what is no link (a socket, a file removed
 * meanwhile). The source folder itself may be a link (an npm workspace's node_modules/<pkg>):
 * only links inside it are reported.
 */
function linkNotFollowed(
  path: string,
  name: string,
  label: string,
  info: Stats | undefined,
): CollectWarning | undefined {
  if (!lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink()) return undefined;
  if (info?.isDirectory()) {
    const folder = realpathSync(path);
    return {
      code: "link",
      file: name,
      message: `${name} (in ${label}) is a symbolic link to the folder ${folder}, which collectstatic does not follow: none of its files are published. Give that folder as a source of its own (--source ${folder}=${name}/), or copy it in place of the link.`,
    };
  }
  if (info !== undefined) return undefined; // a link to a socket or a device: not a static file
  let pointsTo = "?";
  try {
    pointsTo = readlinkSync(path);
  } catch {
    // removed meanwhile
  }
  return {
    code: "link",
    file: name,
    message: `${name} (in ${label}) is a symbolic link to ${pointsTo}, which does not exist (or is a loop): nothing is published under that name. Restore what it points to (a build step not run?), or remove the link.`,
  };
}

/**
 * Every entry below `dir` that is not a folder, as `/`-separated paths relative to it (links are
 * entries: the stat that follows them decides). Synchronous, here and for the stats after it:
 * nothing else runs while the sources are listed, and a call through the thread pool costs several
 * times the call itself — a no-change run is mostly this listing. The names are built by
 * concatenation as the walk goes down, not by path.relative/join per file (half the listing's
 * time when they were).
 */
function listFolder(dir: string): string[] {
  const names: string[] = [];
  const walk = (absolute: string, below: string) => {
    for (const entry of readdirSync(absolute, { withFileTypes: true })) {
      const name = below === "" ? entry.name : `${below}/${entry.name}`;
      if (entry.isDirectory()) walk(join(absolute, entry.name), name);
      else names.push(name);
    }
  };
  walk(dir, "");
  return names;
}

/** Names a bundler's own manifest lists as its (hashed) output: Vite's `.vite/manifest.json`, webpack's `manifest.json`. */
export async function bundlerOutputs(sources: readonly StaticSource[]): Promise<Set<string>> {
  const names = new Set<string>();
  for (const source of sources) {
    const prefix = source.prefix ? `${source.prefix.replace(/^\/+|\/+$/g, "")}/` : "";
    for (const candidate of [".vite/manifest.json", "manifest.json"]) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(await readFile(join(source.dir, candidate), "utf8"));
      } catch {
        continue;
      }
      if (typeof parsed !== "object" || parsed === null) continue;
      for (const value of Object.values(parsed as Record<string, unknown>)) {
        if (typeof value === "string" && looksBundlerHashed(value)) {
          names.add(prefix + value.replace(/^\/+/, "")); // webpack: "main.js": "main.1a2b3c4d.js"
        } else if (
          typeof value === "object" &&
          value !== null &&
          typeof (value as { file?: unknown }).file === "string"
        ) {
          const chunk = value as { file: string; css?: unknown; assets?: unknown };
          names.add(prefix + chunk.file);
          for (const list of [chunk.css, chunk.assets]) {
            if (Array.isArray(list)) for (const f of list) if (typeof f === "string") names.add(prefix + f);
          }
        }
      }
    }
  }
  return names;
}

/** For messages: a path relative to the working directory when it is below it. */
export function shownPath(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel.startsWith("..") ? path : rel || ".";
}
