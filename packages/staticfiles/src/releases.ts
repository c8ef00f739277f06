/**
 * The target's side of releases: its current manifest (`staticfiles.json`, and the app's copy cut
 * from it), the kept releases' manifests (`.storages/releases/<id>.json`), pruning what only
 * dropped releases list, and `--clear`. Every deletion is of a name a manifest collectstatic wrote
 * lists: never a file it did not write.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { NotFoundError, type Storage } from "@storages/core";
import {
  InvalidManifestError,
  MANIFEST_NAME,
  manifestNames,
  parseManifest,
  RELEASES_PREFIX,
  type StaticManifest,
} from "./manifest.js";
import type { CollectProgress } from "./types.js";

/** The target's current manifest, and its text (the app's copy is cut from it). */
export async function readStored(
  target: Storage,
  signal: AbortSignal | undefined,
): Promise<{ manifest: StaticManifest; text: string } | undefined> {
  try {
    const text = await target.readText(MANIFEST_NAME, { signal });
    return { manifest: parseManifest(JSON.parse(text), `${MANIFEST_NAME} of the target`), text };
  } catch (error) {
    if (NotFoundError.isInstance(error)) return undefined;
    if (error instanceof SyntaxError || InvalidManifestError.isInstance(error)) {
      throw new InvalidManifestError(
        `The target's ${MANIFEST_NAME} is not a storages static manifest: it was not written by collectstatic, or the target overlaps another storage. Nothing was written; point --to at the static storage, or remove that file if it is yours to remove.`,
        { cause: error },
      );
    }
    throw error;
  }
}

/** The app's copy (the public manifest's text), written only when it differs from the one there. */
export async function writeLocalManifest(path: string, text: string): Promise<boolean> {
  const existing = await readFile(path, "utf8").catch(() => undefined);
  if (existing === text) return false;
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, text);
  await rename(temporary, path);
  return true;
}

/**
 * The kept releases' manifests, newest first, and the names of those that do not parse as one (a
 * newer collectstatic's format, a hand edit): not ours to interpret.
 */
async function storedReleases(
  target: Storage,
  signal: AbortSignal | undefined,
): Promise<{ releases: { id: string; manifest: StaticManifest }[]; unreadable: string[] }> {
  const releases: { id: string; manifest: StaticManifest }[] = [];
  const unreadable: string[] = [];
  for await (const entry of target.list(RELEASES_PREFIX, { recursive: false, signal })) {
    if (!entry.name.endsWith(".json")) continue;
    const id = entry.name.slice(RELEASES_PREFIX.length, -".json".length);
    try {
      const manifest = parseManifest(JSON.parse(await target.readText(entry.name, { signal })), entry.name);
      releases.push({ id, manifest });
    } catch (error) {
      if (NotFoundError.isInstance(error)) continue;
      if (error instanceof SyntaxError || InvalidManifestError.isInstance(error)) {
        unreadable.push(entry.name);
        continue;
      }
      throw error;
    }
  }
  releases.sort((a, b) => (a.manifest.createdAt < b.manifest.createdAt ? 1 : -1));
  return { releases, unreadable };
}

/**
 * Deletes what pruned releases wrote and no kept release (nor the current one) lists. A name is
 * deleted only when a release manifest collectstatic wrote lists it: never a file it did not write.
 */
export async function prune(
  target: Storage,
  current: StaticManifest,
  keep: number,
  options: {
    /** The release current before this run's: the one running apps and a rollback use. */
    previousRelease?: string | undefined;
    signal?: AbortSignal | undefined;
    onProgress?: ((progress: CollectProgress) => void) | undefined;
  } = {},
): Promise<{ deleted: string[]; kept: string[]; unreadable: string[] }> {
  const { previousRelease, signal, onProgress } = options;
  const stored = await storedReleases(target, signal);
  const { unreadable } = stored;
  // Newest first, but the previous current release ahead of the others: a release manifest newer
  // than it may be a run's that failed before making it current (no app ever used it), and must
  // not push the release the running apps use out of the kept ones.
  const releases = stored.releases
    .filter((r) => r.id !== current.release)
    .sort((a, b) => Number(b.id === previousRelease) - Number(a.id === previousRelease));
  const kept = [current.release, ...releases.slice(0, keep - 1).map((r) => r.id)];
  const dropped = releases.slice(keep - 1);
  // A release manifest that does not parse may be a kept release's (a newer collectstatic's, the
  // one a rolled-back app runs): the files it protects are unknown, and hashed files are shared
  // between releases, so any deletion could be one of them. Nothing is pruned until it is readable.
  if (dropped.length === 0 || unreadable.length > 0) return { deleted: [], kept, unreadable };
  const protectedNames = manifestNames(current);
  for (const r of releases.slice(0, keep - 1))
    for (const n of manifestNames(r.manifest)) protectedNames.add(n);
  const doomed = new Set<string>();
  for (const r of dropped)
    for (const n of manifestNames(r.manifest)) if (!protectedNames.has(n)) doomed.add(n);
  onProgress?.({ phase: "prune", done: 0, total: doomed.size, bytesDone: 0, bytesTotal: 0 });
  const names = [...doomed].sort();
  if (names.length > 0) await target.deleteMany(names, { signal });
  await target.deleteMany(
    dropped.map((r) => `${RELEASES_PREFIX}${r.id}.json`),
    { signal },
  );
  return { deleted: names, kept, unreadable };
}

/**
 * `--clear`: everything a stored manifest says collectstatic wrote, and those manifests (the current
 * one first); the names it deletes (or, with `dryRun`, would delete).
 */
export async function clearTracked(
  target: Storage,
  previous: StaticManifest | undefined,
  signal: AbortSignal | undefined,
  dryRun = false,
): Promise<string[]> {
  const { releases } = await storedReleases(target, signal);
  const names = new Set<string>(previous ? manifestNames(previous) : []);
  for (const r of releases) for (const n of manifestNames(r.manifest)) names.add(n);
  const sorted = [...names].sort();
  if (dryRun) return sorted;
  // The current manifest goes first: once its files are deleted, a manifest still naming them
  // would be trusted by the next run (an interrupted --clear retried without it, nothing changed)
  // and nothing republished. Without one, the next run publishes everything; the release manifests,
  // deleted last, still account for whatever this run had no time to delete.
  if (previous) await target.deleteMany([MANIFEST_NAME], { signal });
  if (sorted.length > 0) await target.deleteMany(sorted, { signal });
  const manifests = releases.map((r) => `${RELEASES_PREFIX}${r.id}.json`);
  if (manifests.length > 0) await target.deleteMany(manifests, { signal });
  return sorted;
}
