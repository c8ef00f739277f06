/**
 * A copy or sync whose two folders are one, or one inside the other, is refused: copying into a
 * folder of its own source copies the copies again (and a listing that sees them may never end);
 * a sync from a folder of its destination deletes the source's own files there, and a copy from
 * one can overwrite source files with other source files. Leaving the inner folder out (an exclude
 * pattern covering it) makes the run legal, and then the outer side never lists that folder at
 * all, whatever the patterns say deeper down.
 *
 * Decided only from what is known for certain: one key space (a storage, or storages over one
 * driver through core's prefix and read-only views) with two folders; two local folders (their
 * real paths, symlinks resolved); two buckets both endpoints locate (`location`). Storages nothing
 * says anything about are taken as apart. verify changes nothing and is never refused.
 */
import { relative, sep } from "node:path";
import {
  type Driver,
  InvalidArgumentError,
  isWithin,
  PrefixedDriver,
  ReadOnlyDriver,
  resolveExisting,
  Storage,
} from "@storages/core";
import { type Endpoint, type Side, side } from "./endpoints.js";
import { selector } from "./select.js";

/** How the two folders of a run lie: the same one, or `folder` (relative to the outer one's root) is the inner one. */
export type Overlap = { kind: "same" } | { kind: "nested"; outer: "source" | "destination"; folder: string };

/** The driver a storage's names end up in, and its folder there: core's views unwrapped. */
function keySpace(storage: Storage): { driver: Driver; prefix: string } {
  let driver = storage.driver;
  let prefix = "";
  for (;;) {
    if (driver instanceof PrefixedDriver) {
      prefix = driver.prefix + prefix;
      driver = driver.inner;
    } else if (driver instanceof ReadOnlyDriver) driver = driver.inner;
    else return { driver, prefix };
  }
}

/** Two folders of one key space ("" or "a/b/"): equal, nested, or apart. */
function nesting(source: string, destination: string): Overlap | undefined {
  if (source === destination) return { kind: "same" };
  if (destination.startsWith(source))
    return { kind: "nested", outer: "source", folder: destination.slice(source.length) };
  if (source.startsWith(destination))
    return { kind: "nested", outer: "destination", folder: source.slice(destination.length) };
  return undefined;
}

/** The real path of a side's root, for a storage whose files are local files. */
async function localRoot(side: Side): Promise<string> {
  const path = side.storage.driver.path!(`${side.root}x`);
  return resolveExisting(path.slice(0, path.length - 1));
}

/** Two local folders (real paths): equal, nested, or apart. */
function localNesting(source: string, destination: string): Overlap | undefined {
  const folder = (outer: string, inner: string) => `${relative(outer, inner).split(sep).join("/")}/`;
  if (source === destination) return { kind: "same" };
  if (isWithin(source, destination))
    return { kind: "nested", outer: "source", folder: folder(source, destination) };
  if (isWithin(destination, source))
    return { kind: "nested", outer: "destination", folder: folder(destination, source) };
  return undefined;
}

async function findOverlap(
  [sourceEndpoint, source]: [Endpoint, Side],
  [destinationEndpoint, destination]: [Endpoint, Side],
): Promise<Overlap | undefined> {
  const a = keySpace(source.storage);
  const b = keySpace(destination.storage);
  if (a.driver === b.driver) return nesting(a.prefix + source.root, b.prefix + destination.root);
  if (source.localFiles && destination.localFiles)
    return localNesting(...(await Promise.all([localRoot(source), localRoot(destination)])));
  const x = Storage.isInstance(sourceEndpoint) ? undefined : sourceEndpoint.location;
  const y = Storage.isInstance(destinationEndpoint) ? undefined : destinationEndpoint.location;
  if (
    x?.kind === "bucket" &&
    y?.kind === "bucket" &&
    x.service === y.service &&
    x.namespace === y.namespace &&
    x.bucket === y.bucket
  )
    return nesting(x.prefix + source.root, y.prefix + destination.root);
  return undefined;
}

/**
 * How two folders lie, for other tools that copy one tree into another (`storages put -r` and
 * `get -r` refuse a destination inside its source, as cp does): the same folder, one inside the
 * other, or apart (undefined; also when nothing certain says otherwise).
 */
export function overlapOf(source: Endpoint, destination: Endpoint): Promise<Overlap | undefined> {
  return findOverlap(
    [source, side(source, "", "source")],
    [destination, side(destination, "", "destination")],
  );
}

/**
 * Refuses a copy or sync between overlapping folders, unless the include/exclude patterns leave
 * the inner folder out; then the outer side is told never to list that folder (`Side.skip`: the
 * patterns were only checked on probe names, the skip makes it the whole folder).
 */
export async function guardOverlap(
  operation: "copy" | "sync",
  source: [Endpoint, Side],
  destination: [Endpoint, Side],
  patterns: { include?: readonly string[] | undefined; exclude?: readonly string[] | undefined },
): Promise<void> {
  const overlap = await findOverlap(source, destination);
  if (overlap === undefined) return;
  if (overlap.kind === "same")
    throw new InvalidArgumentError(
      `${operation}: the source and the destination are the same folder, so there is nothing to ${operation}: give two different folders.`,
    );
  const { outer, folder } = overlap;
  const chosen = selector({ include: patterns.include, exclude: patterns.exclude });
  if (!chosen(`${folder}x`) && !chosen(`${folder}x/y`)) {
    (outer === "source" ? source : destination)[1].skip = folder;
    return;
  }
  const why =
    outer === "source"
      ? `the destination is the source's folder "${folder}", so the copies would be copied again (into "${folder}${folder}"…)`
      : operation === "sync"
        ? `the source is the destination's folder "${folder}", so sync would delete the source's own files there`
        : `the source is the destination's folder "${folder}", so the copy could overwrite source files with other source files`;
  throw new InvalidArgumentError(
    `${operation} between overlapping folders: ${why}. Give folders side by side, or leave that folder out with an exclude pattern ("${folder}**"; on the command line --exclude '${folder}**').`,
  );
}
