/**
 * Reading, listing and deleting at an address: the library side of `ls`, `stat`, `cat` and `rm`.
 * Each takes a resolved address (`resolveAddress`) and returns typed results; none prints.
 */
import {
  type ByteRange,
  type ListEntry,
  NotFoundError,
  type ObjectStat,
  type ReadStream,
  StorageError,
} from "@storages/core";
import { type Location, requireFile } from "../address.js";
import { UsageError } from "../errors.js";

function folderPrefix(path: string): string {
  return path === "" || path.endsWith("/") ? path : `${path}/`;
}

export interface ListOptions {
  recursive?: boolean | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * What is at an address: the entries of the folder it names (one level, or every file with
 * `recursive`), or — for a name that is no folder — that one file, as `ls file` shows it. Throws
 * NotFoundError when nothing is there (except at a storage's root, which may be empty).
 */
export async function* list(location: Location, options: ListOptions = {}): AsyncGenerator<ListEntry> {
  const prefix = folderPrefix(location.path);
  let any = false;
  for await (const entry of location.storage.list(prefix, options)) {
    any = true;
    yield entry;
  }
  if (any || location.path === "") return;
  if (!location.path.endsWith("/")) {
    try {
      const stat = await location.storage.stat(location.path, { signal: options.signal });
      yield {
        type: "file",
        name: stat.name,
        size: stat.size,
        lastModified: stat.lastModified,
        etag: stat.etag,
      };
      return;
    } catch (error) {
      if (!StorageError.hasCode(error, "E_NOT_FOUND")) throw error;
    }
  }
  throw new NotFoundError(`Nothing at ${location.text}: no file of that name and no file below it.`, {
    operation: "list",
    path: location.path,
    backend: location.storage.backend,
  });
}

export async function statFile(
  location: Location,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<ObjectStat> {
  requireFile(location, "stat");
  return location.storage.stat(location.path, options);
}

/**
 * A byte range as written on a command line: `START-END` (inclusive), `START-` (to the end) or
 * `-LAST` (the last LAST bytes, which needs the size).
 */
export type RangeSpec = { start: number; end?: number | undefined } | { last: number };

export function parseRange(text: string): RangeSpec {
  const full = /^(\d+)-(\d*)$/.exec(text.trim());
  if (full) {
    const start = Number(full[1]);
    const end = full[2] === "" ? undefined : Number(full[2]);
    if (Number.isSafeInteger(start) && (end === undefined || (Number.isSafeInteger(end) && end >= start))) {
      return { start, end };
    }
  }
  const suffix = /^-(\d+)$/.exec(text.trim());
  if (suffix && Number.isSafeInteger(Number(suffix[1]))) return { last: Number(suffix[1]) };
  throw new UsageError(
    `--range takes START-END (bytes, both included, END ≥ START), START- (to the end) or -LAST (the last LAST bytes), e.g. --range 0-1023; got "${text}".`,
  );
}

/** A stream of a file or of a range of it. */
export async function readFile(
  location: Location,
  options: { range?: RangeSpec | undefined; signal?: AbortSignal | undefined } = {},
): Promise<ReadStream> {
  requireFile(location, "cat");
  let range: ByteRange | undefined;
  if (options.range && "last" in options.range) {
    const { size } = await location.storage.stat(location.path, { signal: options.signal });
    range = { start: Math.max(0, size - options.range.last) };
    if (options.range.last === 0) range = { start: size };
  } else range = options.range;
  return location.storage.open(location.path, { range, signal: options.signal });
}

export interface RemoveResult {
  /** What was deleted: a file name, or a folder prefix ("" for the whole storage). */
  path: string;
  recursive: boolean;
  deleted: number;
}

/**
 * Deletes the file at an address, or (with `recursive`) every file below the folder it names —
 * the whole storage for a root address, which the caller must have confirmed. A missing file is a
 * NotFoundError, so a typo never passes for a deletion.
 */
export async function remove(
  location: Location,
  options: { recursive?: boolean | undefined; signal?: AbortSignal | undefined } = {},
): Promise<RemoveResult> {
  const signal = options.signal;
  if (options.recursive) {
    const prefix = folderPrefix(location.path);
    const { deleted } = await location.storage.deletePrefix(prefix, { signal, all: prefix === "" });
    return { path: prefix, recursive: true, deleted };
  }
  if (location.directory) {
    throw new UsageError(`${location.text} is a folder: add -r to delete every file below it.`);
  }
  await location.storage.stat(location.path, { signal });
  await location.storage.delete(location.path, { signal });
  return { path: location.path, recursive: false, deleted: 1 };
}
