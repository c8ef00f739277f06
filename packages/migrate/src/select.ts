/**
 * Which files a run looks at: include/exclude globs and the shard, both on the name relative to
 * the compared folders, so a source file and its copy are always selected (or not) together.
 */
import { createHash } from "node:crypto";
import { InvalidArgumentError } from "@storages/core";
import picomatch from "picomatch";

export interface Shard {
  /** 0-based: this worker's part, from 0 to count - 1. */
  index: number;
  /** How many workers split the names. */
  count: number;
}

/**
 * The shard of a name: the first 4 bytes of the SHA-1 of its UTF-8 bytes, read as an unsigned
 * big-endian integer, modulo `count`. Only the name decides it — never the process, the machine,
 * the time or the order of listing — so N workers on N machines split one tree with no
 * coordinator, and a resumed worker takes exactly the files it had.
 */
export function shardOf(name: string, count: number): number {
  return createHash("sha1").update(name, "utf8").digest().readUInt32BE(0) % count;
}

export function checkShard(shard: Shard | undefined): void {
  if (shard === undefined) return;
  const { index, count } = shard;
  if (
    !Number.isSafeInteger(count) ||
    count < 1 ||
    !Number.isSafeInteger(index) ||
    index < 0 ||
    index >= count
  ) {
    throw new InvalidArgumentError(
      `shard must be { index, count } with 0 <= index < count (whole numbers), got ${JSON.stringify(shard)}.`,
    );
  }
}

export interface Selection {
  include?: readonly string[] | undefined;
  exclude?: readonly string[] | undefined;
  shard?: Shard | undefined;
}

/** A predicate over relative names: in the shard, matching an include glob (if any), no exclude glob. */
export function selector(selection: Selection): (name: string) => boolean {
  checkShard(selection.shard);
  const glob = (patterns: readonly string[] | undefined) => {
    if (!patterns || patterns.length === 0) return undefined;
    for (const pattern of patterns) {
      if (typeof pattern !== "string" || pattern === "")
        throw new InvalidArgumentError(
          `include/exclude patterns must be non-empty glob strings, got ${JSON.stringify(pattern)}.`,
        );
    }
    return picomatch([...patterns], { dot: true });
  };
  const included = glob(selection.include);
  const excluded = glob(selection.exclude);
  const shard = selection.shard;
  return (name) =>
    (shard === undefined || shard.count === 1 || shardOf(name, shard.count) === shard.index) &&
    (included === undefined || included(name)) &&
    (excluded === undefined || !excluded(name));
}
