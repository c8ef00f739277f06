/**
 * Listing: a sorted walk of the folders under a prefix, one page at a time, with a resumable
 * cursor (list-cursor.ts) and never more than one directory's entries in memory per level.
 *
 * Separate from the driver because it is its own algorithm (the name order every backend lists in,
 * the skip past a cursor, the symlink rules of a listing, the lookahead that keeps the thread pool
 * busy) and shares nothing with the write path but the root's checks (paths.ts) and the ETag.
 */
import type { BigIntStats, Dirent } from "node:fs";
import { readdir, readlink, realpath, stat } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import {
  abortError,
  compareNames,
  type DriverListOptions,
  type ListEntry,
  type ListPage,
  type PermissionDeniedError,
  printableName,
  shellQuote,
  UnsupportedError,
} from "@storages/core";
import { accessRefused } from "./errors.js";
import { decodeCursor, encodeCursor } from "./list-cursor.js";
import { etagOf } from "./lookup.js";
import type { LinkPolicy } from "./options.js";
import { errnoCode, isReservedName, type RootedPaths } from "./paths.js";
import { readRecord, recordName } from "./sidecar.js";

/** Files of a directory whose stat (and record) a listing fetches at once. */
const LIST_LOOKAHEAD = 16;
/** Sub-folders of a directory whose listing a recursive listing reads ahead. */
const LIST_LOOKAHEAD_FOLDERS = 4;

interface Candidate {
  entry: ListEntry;
  /** Position in the listing order: the name, with a trailing "/" for directories. */
  sortKey: string;
}

/** One page of the files (and, not recursive, folders) under `prefix`, from `options.cursor` on. */
export async function listingPage(
  paths: RootedPaths,
  prefix: string,
  options: DriverListOptions,
  links: LinkPolicy = "skip",
): Promise<ListPage> {
  const after = options.cursor === undefined ? undefined : decodeCursor(options.cursor, prefix);
  let directory: string;
  try {
    directory = await paths.resolveExisting(prefix, paths.dirOf(prefix));
  } catch (error) {
    if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") return { entries: [] };
    throw error;
  }
  const pageSize = Math.max(1, Math.floor(options.pageSize));
  const found: Candidate[] = [];
  // One more than the page tells whether another page follows.
  const scope: WalkScope = { paths, recursive: options.recursive, signal: options.signal, links };
  await walk(scope, directory, prefix, after, found, pageSize + 1);
  if (found.length <= pageSize) return { entries: found.map((c) => c.entry) };
  found.pop();
  const last = found[found.length - 1]!;
  return { entries: found.map((c) => c.entry), cursor: encodeCursor(prefix, last.sortKey) };
}

/** What every level of one listing's walk shares. */
interface WalkScope {
  paths: RootedPaths;
  recursive: boolean;
  signal: AbortSignal;
  links: LinkPolicy;
}

/**
 * Appends the entries under `directory` to `found` in name order, skipping everything up to and
 * including `after`, until `found` holds `limit`; returns whether it does. Order: entries sorted
 * by name with "/" appended to directories, which makes a depth-first walk produce the same order
 * as sorting all keys. (An array filled in place, not an async generator: a generator handed each
 * entry up through every level of the recursion, a promise per level, and that was most of a
 * listing's own CPU time.)
 */
async function walk(
  scope: WalkScope,
  directory: string,
  keyPrefix: string,
  after: string | undefined,
  found: Candidate[],
  limit: number,
  listing?: Promise<Dirent[]>,
): Promise<boolean> {
  const { paths, recursive, signal } = scope;
  if (signal.aborted) throw abortError(signal);
  let dirents: Dirent[];
  try {
    dirents = await (listing ?? readdir(directory, { withFileTypes: true }));
  } catch (error) {
    if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") return false;
    throw refusedAccess(error, keyPrefix) ?? error;
  }
  // A name that is not UTF-8 reads back with U+FFFD in it, under which no file exists: skipped, it
  // would make a migration look complete without it.
  if (dirents.some((dirent) => dirent.name.includes("\uFFFD"))) await refuseUndecodable(directory, keyPrefix);
  const items: Array<{
    name: string;
    path: string;
    isDirectory: boolean;
    linked?: boolean;
    sortKey: string;
  }> = [];
  /** The driver's own entries of this directory: records say which files have a checksum. */
  const reserved = new Set<string>();
  for (const dirent of dirents) {
    if (isReservedName(dirent.name)) {
      reserved.add(dirent.name);
      continue;
    }
    let path = join(directory, dirent.name);
    let isDirectory: boolean;
    let linked = false;
    if (dirent.isFile()) isDirectory = false;
    else if (dirent.isDirectory()) isDirectory = true;
    else if (dirent.isSymbolicLink()) {
      // Links to files inside the root are listed; links to directories are not followed (no
      // cycles), links that leave the root are invisible, and so are links that point nowhere —
      // unless the storage may leave nothing out in silence (links: "refuse").
      const target = await linkTarget(path);
      if (target.kind !== "file" || !paths.contains(target.path)) {
        if (scope.links === "refuse" && target.kind !== "other")
          throw await refusedLink(paths, `${keyPrefix}${dirent.name}`, path, target);
        continue;
      }
      path = target.path;
      isDirectory = false;
      linked = true;
    } else continue; // sockets, FIFOs, devices: not files a storage holds
    items.push({
      name: dirent.name,
      path,
      isDirectory,
      linked,
      sortKey: `${keyPrefix}${dirent.name}${isDirectory ? "/" : ""}`,
    });
  }
  // Code point order, as every backend lists (a migration compares two listings side by side).
  items.sort((a, b) => compareNames(a.sortKey, b.sortKey));
  // A file's entry costs a stat and, when it has one, a read of its record: both are started a
  // few files ahead, so the thread pool works on several at once instead of one after another.
  const lookups = new Map<number, Promise<ListEntry | undefined>>();
  const lookup = (index: number): Promise<ListEntry | undefined> => {
    for (let next = index; next < Math.min(items.length, index + LIST_LOOKAHEAD); next++) {
      const item = items[next]!;
      if (
        item.isDirectory ||
        lookups.has(next) ||
        (after !== undefined && compareNames(item.sortKey, after) <= 0)
      )
        continue;
      const pending = fileEntry(`${keyPrefix}${item.name}`, item, reserved);
      pending.catch(() => {}); // awaited in order below, or dropped with the page
      lookups.set(next, pending);
    }
    const pending = lookups.get(index)!;
    lookups.delete(index);
    return pending;
  };
  const wholeSubtreeSeen = (item: { sortKey: string }) =>
    after !== undefined && compareNames(item.sortKey, after) <= 0 && !after.startsWith(item.sortKey);
  // Folders hold few files in many trees: the listings of the next few sub-folders are read
  // ahead too, so the walk does not wait for one folder's listing after another.
  const listings = new Map<number, Promise<Dirent[]>>();
  const listingOf = (index: number): Promise<Dirent[]> => {
    for (let next = index, ahead = 0; next < items.length && ahead < LIST_LOOKAHEAD_FOLDERS; next++) {
      const item = items[next]!;
      if (!item.isDirectory) continue;
      ahead++;
      if (listings.has(next) || wholeSubtreeSeen(item)) continue;
      const pending = readdir(item.path, { withFileTypes: true });
      pending.catch(() => {}); // awaited by the walk into it, or dropped with the page
      listings.set(next, pending);
    }
    const pending = listings.get(index)!;
    listings.delete(index);
    return pending;
  };
  for (const [index, item] of items.entries()) {
    const name = `${keyPrefix}${item.name}`;
    if (item.isDirectory) {
      if (wholeSubtreeSeen(item)) continue;
      if (recursive) {
        const listing = listingOf(index);
        if (await walk(scope, item.path, item.sortKey, after, found, limit, listing)) return true;
      } else if (after === undefined || compareNames(item.sortKey, after) > 0) {
        found.push({ entry: { type: "directory", name }, sortKey: item.sortKey });
        if (found.length >= limit) return true;
      }
      continue;
    }
    if (after !== undefined && compareNames(item.sortKey, after) <= 0) continue;
    const entry = await lookup(index);
    if (entry === undefined) continue;
    found.push({ entry, sortKey: item.sortKey });
    if (found.length >= limit) return true;
  }
  return false;
}

/** Where a symbolic link leads: a file or a folder (its real path), something else, or nowhere. */
type LinkTarget =
  | { kind: "file" | "directory" | "other"; path: string }
  | { kind: "unresolved"; errno: string | undefined };

async function linkTarget(link: string): Promise<LinkTarget> {
  try {
    const path = await realpath(link);
    const stats = await stat(path);
    return { kind: stats.isFile() ? "file" : stats.isDirectory() ? "directory" : "other", path };
  } catch (error) {
    return { kind: "unresolved", errno: errnoCode(error) };
  }
}

/**
 * The error of a listing under links: "refuse" that meets a link it does not follow: it names the
 * link, where it points, what a copy would miss, and the two ways on.
 */
async function refusedLink(
  paths: RootedPaths,
  name: string,
  link: string,
  target: Exclude<LinkTarget, { kind: "other" }>,
): Promise<UnsupportedError> {
  const pointsTo = await readlink(link).catch(() => "?");
  const leaveOut =
    'or leave links out explicitly: the fs option links: "skip" (the storages CLI: --skip-links, on copy, sync, verify and put, get, ls -r).';
  let problem: string;
  let fix: string;
  if (target.kind === "unresolved") {
    problem = `points to ${printableName(pointsTo)}, which ${target.errno === "ENOENT" ? "does not exist (a disk not mounted, a folder moved?)" : `cannot be resolved (${target.errno ?? "error"})`}: what it held is not listed`;
    fix = `Mount or restore what it points to (or remove the link), then run again, ${leaveOut}`;
  } else if (target.kind === "directory" && paths.contains(target.path)) {
    const inside = relative(paths.real, target.path).split(sep).join("/");
    const folder = inside === "" ? "the storage's root folder" : `the folder "${inside}/" of this storage`;
    problem = `points to ${folder}, which a listing does not follow (no cycles): its files are listed under their own names only, never under "${name}/"`;
    fix = `If nothing needs them under "${name}/", ${leaveOut.replace(/^or /, "")}`;
  } else if (target.kind === "directory") {
    problem = `points to the folder ${printableName(pointsTo)}, outside the storage's root, which a listing never follows: none of its files would be copied or compared`;
    fix = `Migrate that folder as a source of its own (\`storages copy ${shellQuote(target.path)} ${shellQuote(`DESTINATION/${name}/`)}\`), ${leaveOut}`;
  } else {
    problem = `points to the file ${printableName(pointsTo)}, outside the storage's root, which the storage never reads through a link: it would be neither copied nor compared`;
    fix = `Copy that file on its own (\`storages put ${shellQuote(target.path)} ${shellQuote(`DESTINATION/${name}`)}\`), ${leaveOut}`;
  }
  // Named by its key and by what the link says (as `ls -l` shows it), never by the root's own
  // path; the commands to run are the one place the target's real path appears.
  return new UnsupportedError(`The symbolic link "${printableName(name.slice(0, 200))}" ${problem}. ${fix}`, {
    path: name,
  });
}

/**
 * A folder (or a file) the listing may not read (EACCES, EPERM), named by its key: the mapping of
 * errors.ts knows no name but the listed prefix, and `storages copy /srv/media …` with one
 * unreadable folder deep down must say which one, and what to do. Undefined for other errors.
 */
function refusedAccess(
  error: unknown,
  key: string,
  kind: "folder" | "file" = "folder",
): PermissionDeniedError | undefined {
  const code = errnoCode(error);
  if (code !== "EACCES" && code !== "EPERM") return undefined;
  return accessRefused(
    code,
    {
      what: `${key === "" ? "the storage's root folder" : `the ${kind} "${key}"`} while listing`,
      effect: `${kind === "folder" ? "what it holds" : "it"} cannot be listed, copied or compared`,
      fix:
        kind === "folder"
          ? "read and search permission on it (chown it to that user, or chmod it)"
          : "search permission on its folder (chmod it)",
    },
    { path: key, cause: error },
  );
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** `\xff.t`: a name's bytes, printable ASCII as it is and every other byte escaped. */
function escapedBytes(name: Buffer): string {
  let out = "";
  for (const byte of name)
    out +=
      byte >= 0x20 && byte < 0x7f && byte !== 0x5c
        ? String.fromCharCode(byte)
        : `\\x${byte.toString(16).padStart(2, "0")}`;
  return out;
}

/**
 * Throws an UnsupportedError naming the first entry of `directory` whose name is not valid UTF-8
 * (a storage's names are Unicode text: such a file can be neither named, copied nor compared);
 * returns when every name decodes (a real U+FFFD in a name is a valid one).
 */
async function refuseUndecodable(directory: string, keyPrefix: string): Promise<void> {
  let names: Buffer[];
  try {
    names = await readdir(directory, { encoding: "buffer" });
  } catch (error) {
    if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") return;
    throw error;
  }
  for (const name of names) {
    try {
      UTF8.decode(name);
    } catch {
      const folder = keyPrefix === "" ? "The storage's root folder" : `The folder "${keyPrefix}"`;
      throw new UnsupportedError(
        `${folder} holds an entry whose name is not valid UTF-8 (its bytes: "${escapedBytes(name)}"): it cannot be listed, copied or compared, and leaving it out would report a copy complete without it. Rename it to a UTF-8 name (for a Latin-1 name: convmv -f latin1 -t utf8 --notest NAME, in that folder), then run again.`,
        { path: keyPrefix },
      );
    }
  }
}

/** The listing entry of one file, or undefined when it was deleted while we listed. */
async function fileEntry(
  name: string,
  item: { name: string; path: string; linked?: boolean | undefined },
  reserved: ReadonlySet<string>,
): Promise<ListEntry | undefined> {
  let stats: BigIntStats;
  try {
    stats = await stat(item.path, { bigint: true });
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return undefined;
    throw refusedAccess(error, name, "file") ?? error;
  }
  // The checksum comes from the file's record, read only when the directory holds one (a linked
  // file's record sits next to its target, which this directory does not show). A directory with
  // no driver file at all (a plain folder) needs no record name computed (a SHA-256 per file).
  const record =
    item.linked || (reserved.size > 0 && reserved.has(recordName(item.name)))
      ? await readRecord(name, item.path, stats)
      : undefined;
  return {
    type: "file",
    name,
    size: Number(stats.size),
    lastModified: stats.mtime,
    etag: etagOf(stats),
    checksums: record?.checksums,
  };
}
