/**
 * Where a storage keeps its files, and the layout rules between storages: static and media must
 * never share or nest (collectstatic would overwrite or delete uploads, and uploads would be served
 * as static files); two storages that overlap let a private file be reached through a public one.
 * Media inside a release directory, the application directory or a container's ephemeral root is
 * legal but loses data on the next deploy or restart: that is a warning.
 *
 * Checking never creates anything: paths are resolved through the deepest existing ancestor.
 */
import { readFileSync } from "node:fs";
import { realpath } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { ConfigError } from "../errors.js";
import type { StorageLocation } from "../types.js";

export type { StorageLocation } from "../types.js";

/** "media", "/media/", "a//b" → "media/", "a/b/"; "" for the whole bucket. For backends' `location()`. */
export function normalizeKeyPrefix(prefix: string | undefined): string {
  const parts = (prefix ?? "").split("/").filter((p) => p !== "");
  return parts.length === 0 ? "" : `${parts.join("/")}/`;
}

/**
 * An endpoint as a bucket namespace for `location()`: scheme and host, lower-cased, so
 * `HTTP://Host:7480/` and `http://host:7480` are one namespace. `fallback` when there is none
 * (the service's public one: "aws", "gcs").
 */
export function endpointNamespace(endpoint: string | undefined, fallback: string): string {
  if (!endpoint) return fallback;
  try {
    const u = new URL(endpoint);
    return `${u.protocol}//${u.host}`.toLowerCase();
  } catch {
    return endpoint.toLowerCase();
  }
}

/** realpath() of the deepest existing ancestor, plus the rest: follows symlinks without creating anything. */
export async function resolveExisting(path: string): Promise<string> {
  let current = resolve(path);
  const tail: string[] = [];
  for (;;) {
    try {
      const real = await realpath(current);
      return tail.length === 0 ? real : join(real, ...tail.reverse());
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR") return join(current, ...tail.reverse());
      const parent = dirname(current);
      if (parent === current) return join(current, ...tail.reverse());
      tail.push(current.slice(parent.length).replace(/^[/\\]+/, ""));
      current = parent;
    }
  }
}

/** true when `inner` is `outer` or below it (both absolute, resolved). */
export function isWithin(outer: string, inner: string): boolean {
  const rel = relative(outer, inner);
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
}

// ---------------------------------------------------------------------------------------------
// Overlap rules

export interface LocatedStorage {
  name: string;
  /** Variable or config key the location came from, for messages. */
  source: string;
  location: StorageLocation;
  /** The location for people (the backend's `describe().location`), for messages. */
  display?: string | undefined;
  allowOverlap: boolean;
  /** Its default visibility: allowOverlap never lets a private storage share a public one's location. */
  visibility?: "public" | "private" | undefined;
}

const STATIC = "staticfiles";

function describeLocation(storage: LocatedStorage): string {
  const loc = storage.location;
  if (loc.kind === "dir") return loc.path;
  if (storage.display !== undefined) return storage.display;
  if (loc.kind === "bucket") return `${loc.service} bucket "${loc.bucket}" prefix "${loc.prefix}"`;
  return "(isolated)";
}

function overlapKind(a: StorageLocation, b: StorageLocation): "same" | "nested" | undefined {
  if (a.kind === "dir" && b.kind === "dir") {
    if (a.path === b.path) return "same";
    return isWithin(a.path, b.path) || isWithin(b.path, a.path) ? "nested" : undefined;
  }
  if (a.kind === "bucket" && b.kind === "bucket") {
    if (a.service !== b.service || a.namespace !== b.namespace || a.bucket !== b.bucket) return undefined;
    if (a.prefix === b.prefix) return "same";
    return a.prefix.startsWith(b.prefix) || b.prefix.startsWith(a.prefix) ? "nested" : undefined;
  }
  return undefined;
}

/** Two storages whose locations are equal or nested: what `findOverlaps` reports. */
export interface StorageOverlap {
  /** The two storages' names, in configuration order. */
  storages: [string, string];
  kind: "same" | "nested";
  /** True when one of them is `staticfiles` (never allowed, whatever allowOverlap says). */
  involvesStatic: boolean;
  /** The problem and its fix, naming the variables or config keys. */
  message: string;
}

/**
 * Every overlapping pair (allowOverlap respected). Directory locations must already be resolved
 * with `resolveExisting` (so a symlink cannot hide the nesting).
 */
export function findOverlaps(storages: readonly LocatedStorage[]): StorageOverlap[] {
  const overlaps: StorageOverlap[] = [];
  for (let i = 0; i < storages.length; i++) {
    for (let j = i + 1; j < storages.length; j++) {
      const a = storages[i]!;
      const b = storages[j]!;
      const kind = overlapKind(a.location, b.location);
      if (!kind) continue;
      const involvesStatic = a.name === STATIC || b.name === STATIC;
      // A public storage would serve the private one's files under its URL: no flag allows that.
      const exposesPrivate =
        a.visibility !== undefined && b.visibility !== undefined && a.visibility !== b.visibility;
      if (!involvesStatic && !exposesPrivate && (a.allowOverlap || b.allowOverlap)) continue;
      const where =
        kind === "same"
          ? `the same location (${describeLocation(a)})`
          : `nested locations (${describeLocation(a)} and ${describeLocation(b)})`;
      const why = involvesStatic
        ? "publishing static files would overwrite or delete uploads, and uploads would be served as static assets. " +
          "Give staticfiles and every other storage separate locations (e.g. …/static and …/media side by side)."
        : exposesPrivate
          ? "the public one would serve the private one's files under its URL, to anyone. Give them separate " +
            "locations side by side (allowOverlap never applies between a public and a private storage)."
          : "files of one are reachable through the other (a private file could be served by a public URL), and " +
            "cleaning one deletes the other's files. Give each its own directory or prefix, side by side, or set " +
            "allowOverlap=true on one of them if sharing is intended.";
      overlaps.push({
        storages: [a.name, b.name],
        kind,
        involvesStatic,
        message: `${a.source} and ${b.source} point to ${where}: ${why}`,
      });
    }
  }
  return overlaps;
}

/** Throws one ConfigError listing every overlapping pair (see `findOverlaps`). */
export function checkOverlaps(storages: readonly LocatedStorage[]): void {
  const problems = findOverlaps(storages).map((o) => o.message);
  if (problems.length === 1) throw new ConfigError(problems[0]!);
  if (problems.length > 1) throw new ConfigError(`Storage locations overlap:\n- ${problems.join("\n- ")}`);
}

// ---------------------------------------------------------------------------------------------
// Warnings: legal, but loses uploads on the next deploy or restart

export type ConfigWarningCode = "W_RELEASE_DIR" | "W_APP_DIR" | "W_EPHEMERAL_FS" | "W_UNKNOWN_VARIABLE";

export interface ConfigWarning {
  code: ConfigWarningCode;
  /** The storage concerned, when there is one. */
  storage?: string | undefined;
  /** The variable or config key to change. */
  source: string;
  message: string;
}

export interface MountEntry {
  mountPoint: string;
  fsType: string;
}

/** Parses /proc/self/mountinfo (mount points are octal-escaped: `\040` is a space). */
export function parseMountInfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split("\n")) {
    const fields = line.trim().split(" ");
    const dash = fields.indexOf("-");
    if (fields.length < 5 || dash < 0 || dash + 1 >= fields.length) continue;
    const mountPoint = fields[4]!.replace(/\\([0-7]{3})/g, (_m, oct: string) =>
      String.fromCharCode(Number.parseInt(oct, 8)),
    );
    out.push({ mountPoint, fsType: fields[dash + 1]! });
  }
  return out;
}

export function readMountInfo(): string | undefined {
  try {
    return readFileSync("/proc/self/mountinfo", "utf8");
  } catch {
    return undefined;
  }
}

/** The mount holding `path`: the longest mount point it lies within (the last one wins on equal points). */
export function mountFor(path: string, mounts: readonly MountEntry[]): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const m of mounts) {
    if (!isWithin(m.mountPoint, path)) continue;
    if (!best || m.mountPoint.length >= best.mountPoint.length) best = m;
  }
  return best;
}

const RELEASE_DIR_RE = /(?:^|[/\\])releases[/\\][^/\\]+(?:[/\\]|$)/;

export interface WarningContext {
  cwd: string;
  /** Contents of /proc/self/mountinfo; undefined where there is none (not Linux). */
  mountInfo: string | undefined;
  /** Local mode (dev, CI): folders under the app directory are expected there. */
  localMode: boolean;
}

/** Warnings for a writable directory storage (static files are rebuilt on deploy, so they get none). */
export async function directoryWarnings(
  storage: { name: string; source: string; path: string },
  context: WarningContext,
): Promise<ConfigWarning[]> {
  const warnings: ConfigWarning[] = [];
  const { name, source, path } = storage;
  if (RELEASE_DIR_RE.test(path)) {
    warnings.push({
      code: "W_RELEASE_DIR",
      storage: name,
      source,
      message:
        `${source} points inside a release directory (${path}): the next deploy starts from a fresh release ` +
        `and release cleanup deletes this one with its uploads. Point it at the shared directory ` +
        `(e.g. /var/www/app/shared/media) instead.`,
    });
  }
  if (context.localMode) return warnings;
  const cwd = await resolveExisting(context.cwd);
  if (cwd !== "/" && isWithin(cwd, path)) {
    warnings.push({
      code: "W_APP_DIR",
      storage: name,
      source,
      message:
        `${source} points inside the application directory (${cwd}): a redeploy or a fresh checkout replaces it, ` +
        `and the app's own files sit next to user uploads. Use a directory outside it (e.g. /var/lib/<app>/media).`,
    });
  }
  if (context.mountInfo !== undefined) {
    const mount = mountFor(path, parseMountInfo(context.mountInfo));
    if (mount && mount.mountPoint === "/" && mount.fsType === "overlay") {
      warnings.push({
        code: "W_EPHEMERAL_FS",
        storage: name,
        source,
        message:
          `${source} (${path}) is on the container's own filesystem, which is discarded when the container is ` +
          `replaced: mount a volume at that directory, or use a bucket.`,
      });
    }
  }
  return warnings;
}
