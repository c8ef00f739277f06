/**
 * Addresses: what every command takes to name a file or a folder of a storage.
 *
 *   NAME:path         a named storage, configured as the app configures it (`default:avatars/me.jpg`)
 *   scheme://…        a storage URL, parsed by the registry's own code (`s3://bucket/prefix?region=…`,
 *                     `file:///srv/media/a.jpg`, `gs://…`, `azure://account/container/…`, `memory://`)
 *   a plain path      a local file or folder (`./photo.jpg`, `/srv/exports/`)
 *   -                 stdin or stdout, where a command allows it
 *
 * A URL's last path segment names a file (or a folder, for `ls` and `-r`) inside the storage at the
 * URL's parent; a URL that ends in `/`, names only a bucket or container, or names an existing
 * local directory is a folder itself. A plain path is a file:// storage rooted at the file's
 * directory, or at the folder. Names are checked by the storage itself (traversal, control
 * characters…): the address only says which storage and where in it.
 */
import { realpath, stat } from "node:fs/promises";
import { basename, dirname, isAbsolute, parse, relative, resolve, sep } from "node:path";
import { pathToFileURL } from "node:url";
import {
  ConfigError,
  knownSchemes,
  NotFoundError,
  type OpenedStorageUrl,
  openStorageUrl,
  redactSecrets,
  type Storage,
  type StorageLocation,
  type StorageRegistry,
} from "@storages/core";
import type { LinkPolicy } from "@storages/fs";
import { UsageError } from "./errors.js";

export type ParsedAddress =
  | { kind: "stdio"; text: string }
  | { kind: "named"; text: string; storage: string; path: string }
  | { kind: "url"; text: string }
  | { kind: "path"; text: string };

/** Lower-case letters, digits and `_`, starting with a letter: the names `STORAGES_<NAME>` maps to. */
const NAMED_RE = /^([a-z][a-z0-9_]*):(.*)$/s;
const URL_RE = /^[a-z][a-z0-9+.-]*:\/\//i;
const WINDOWS_DRIVE_RE = /^[a-z]:[\\/]/i;
/** `Media:x`, `my-files:x`: meant as a storage name, but not a valid one. */
const NAME_LIKE_RE = /^[A-Za-z][A-Za-z0-9_-]*:/;

/** The kind of an address, from its text alone (no I/O). */
export function parseAddress(text: string): ParsedAddress {
  if (text === "")
    throw new UsageError("An address is empty: give NAME:path, a storage URL or a local path.");
  if (text === "-") return { kind: "stdio", text };
  if (URL_RE.test(text)) return { kind: "url", text };
  const named = WINDOWS_DRIVE_RE.test(text) ? null : NAMED_RE.exec(text);
  if (named) return { kind: "named", text, storage: named[1]!, path: named[2]!.replace(/^\/+/, "") };
  return { kind: "path", text };
}

/** A resolved address: a storage, and a file or folder in it. */
export interface Location {
  kind: "named" | "url" | "path";
  /** The address as typed, with any credential cut out: safe to print. */
  text: string;
  storage: Storage;
  /** Storage-relative: a file name, or a folder prefix ("" for the root, else without or with "/"). */
  path: string;
  /** The address names a folder: a storage root, a trailing `/`, an existing local directory. */
  directory: boolean;
  /** The last segment as typed: the name a copy gets inside a folder (`put photo.jpg default:`). */
  basename: string;
  /** The named storage, for NAME:path. */
  storageName?: string | undefined;
  /**
   * Where the address's storage keeps its files (a URL's, a named storage's from the
   * configuration): lets copy, sync and collectstatic tell two addresses of one bucket that
   * overlap (named storages on one storage are one key space; local paths are compared by their
   * real paths).
   */
  place?: StorageLocation | undefined;
  /** How people see a name of this storage: `default:a.jpg`, `s3://bucket/a.jpg`, `photos/a.jpg`. */
  display(name: string): string;
  /** Releases what resolving opened (URL and path storages; named ones belong to the registry). */
  close(): Promise<void>;
}

export interface ResolveOptions {
  registry: StorageRegistry;
  /** Directory that relative local paths are read from. */
  cwd: string;
  /**
   * The address is to be written: named storages resolve to the writer (deploy-time tools write
   * `staticfiles`), else to what the app gets; a local path need not exist yet.
   */
  write?: boolean | undefined;
  /**
   * How a local folder (a plain path, a `file://` URL without a `links=` of its own) lists symbolic
   * links it does not follow: the fs option `links`. copy, sync and verify give "refuse", so a
   * linked folder fails the run instead of being left out in silence; named storages keep theirs.
   */
  links?: LinkPolicy | undefined;
}

export async function resolveAddress(
  address: string | ParsedAddress,
  options: ResolveOptions,
): Promise<Location> {
  const parsed = typeof address === "string" ? parseAddress(address) : address;
  switch (parsed.kind) {
    case "stdio":
      throw new UsageError(
        `"-" (stdin/stdout) cannot be used here: give NAME:path, a storage URL or a local path.`,
      );
    case "named":
      return resolveNamed(parsed, options);
    case "url":
      return resolveUrl(parsed.text, options.write === true, options.links);
    case "path":
      return resolvePath(parsed.text, options.cwd, options.write === true, options.links);
  }
}

/** `default:a/b.jpg` → "b.jpg"; "" for a root or a folder written with a trailing slash. */
function lastSegment(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}

async function resolveNamed(
  parsed: Extract<ParsedAddress, { kind: "named" }>,
  options: ResolveOptions,
): Promise<Location> {
  let storage: Storage;
  try {
    storage = options.write
      ? await options.registry.getWriter(parsed.storage)
      : await options.registry.get(parsed.storage);
  } catch (error) {
    // `s3:bucket` is read as the storage "s3"; a scheme without `//` was almost certainly meant as a URL.
    if (ConfigError.isInstance(error) && knownSchemes().has(parsed.storage)) {
      throw new ConfigError(
        `${error.message} (For a storage URL, write ${parsed.storage === "file" ? "file:///absolute/path, with three slashes" : `${parsed.storage}://…, with two slashes`}.)`,
        { cause: error },
      );
    }
    throw error;
  }
  const name = parsed.storage;
  return {
    kind: "named",
    text: parsed.text,
    storage,
    path: parsed.path,
    directory: parsed.path === "" || parsed.path.endsWith("/"),
    basename: lastSegment(parsed.path),
    storageName: name,
    // Where it keeps its files: copy, sync and collectstatic tell a URL into the same bucket (or
    // folder) from another one by it, as they do for two URLs.
    place: await options.registry.location(name),
    display: (key) => `${name}:${key}`,
    close: async () => {},
  };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** A `file://` URL with `links=` set, unless it sets one itself; any other URL as it is. */
function withLinks(text: string, links: LinkPolicy | undefined): string {
  if (links === undefined || !URL.canParse(text)) return text;
  const url = new URL(text);
  if (url.protocol !== "file:" || url.searchParams.has("links")) return text;
  url.searchParams.set("links", links);
  return url.href;
}

async function resolveUrl(typed: string, write: boolean, links: LinkPolicy | undefined): Promise<Location> {
  const shown = redactSecrets(typed);
  const source = `the address "${shown}"`;
  const text = withLinks(typed, links);
  const whole = await openStorageUrl(text, { source });
  // openStorageUrl accepted it, so it parses.
  const url = new URL(text);
  const pathname = url.pathname;
  const location = whole.location;
  // A file:// folder read from must exist, as a local path must (the fs storage would create it).
  if (
    !write &&
    location.kind === "dir" &&
    !(await exists(location.path)) &&
    (pathname.endsWith("/") || !(await exists(dirname(location.path))))
  ) {
    await whole.storage.close();
    throw new NotFoundError(
      `The folder of ${source} does not exist: check it (nothing was read or created).`,
      { path: location.path },
    );
  }
  const base = (u: URL) =>
    `${u.protocol}//${u.host}${u.pathname.endsWith("/") ? u.pathname : `${u.pathname}/`}`;
  const folder = (opened: OpenedStorageUrl): Location => ({
    kind: "url",
    text: shown,
    storage: opened.storage,
    place: opened.location,
    path: "",
    directory: true,
    basename: lastSegment(decodeSegment(pathname)),
    display: (key) => `${base(url)}${key}`,
    close: () => opened.storage.close(),
  });
  if (
    location.kind === "isolated" ||
    pathname === "" ||
    pathname.endsWith("/") ||
    (location.kind === "bucket" && location.prefix === "") ||
    (location.kind === "dir" && (await isDirectory(location.path)))
  ) {
    return folder(whole);
  }
  // The last segment is a name inside the storage at the URL's parent.
  await whole.storage.close();
  const cut = pathname.lastIndexOf("/");
  const parentUrl = new URL(text);
  parentUrl.pathname = pathname.slice(0, cut + 1);
  const parent = await openStorageUrl(parentUrl.href, { source });
  const name = decodeSegment(pathname.slice(cut + 1));
  return {
    kind: "url",
    text: shown,
    storage: parent.storage,
    place: parent.location,
    path: name,
    directory: false,
    basename: name,
    display: (key) => `${base(parentUrl)}${key}`,
    close: () => parent.storage.close(),
  };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new UsageError(`The address has a malformed percent-encoding in "${redactSecrets(segment)}".`);
  }
}

/** A local path: a folder or a file, which must exist unless it is to be written. */
async function resolvePath(
  text: string,
  cwd: string,
  write: boolean,
  links: LinkPolicy | undefined,
): Promise<Location> {
  const absolute = resolve(cwd, text);
  const found = await exists(absolute);
  if (!found && NAME_LIKE_RE.test(text)) {
    const name = text.slice(0, text.indexOf(":"));
    throw new UsageError(
      `"${redactSecrets(text)}" is neither a configured storage nor an existing local path. Storage names are ` +
        `lower-case letters, digits and _ (they map to STORAGES_<NAME>): write ${name.toLowerCase().replace(/-/g, "_")}:…; ` +
        `for a local file of that name, write ./${redactSecrets(text)}.`,
    );
  }
  // Read from, a path that does not exist is a mistake (a typo that sync would take for an empty
  // folder), and opening it as a storage would create it.
  if (!found && !write)
    throw new NotFoundError(
      `The local path "${redactSecrets(text)}" does not exist: check it (nothing was read or created).`,
      { path: text },
    );
  // A symlinked file or folder is read (or written) where it points, as cp does.
  const real = found ? await realpath(absolute) : absolute;
  const isFolder = found && (await isDirectory(real));
  if (found && !isFolder && /[\\/]$/.test(text))
    throw new UsageError(
      `"${redactSecrets(text)}" names a folder (it ends in /), and ${redactSecrets(text.replace(/[\\/]+$/, ""))} is a file: drop the slash to mean the file, or give a folder.`,
    );
  const directory = isFolder || /[\\/]$/.test(text);
  const root = directory ? real : dirname(real);
  // A user's own folder, not a storage: nothing is written there but the files themselves.
  const opened = await openStorageUrl(
    `${pathToFileURL(root).href}?records=false${links ? `&links=${links}` : ""}`,
    {
      source: `the local path "${redactSecrets(text)}"`,
    },
  );
  const shownRoot = directory ? absolute : dirname(absolute);
  // A symlinked file is opened under its target's name, and shown under the name typed.
  const shownKey = (key: string) => (!directory && key === basename(real) ? basename(absolute) : key);
  const display = (key: string) => {
    const full = resolve(shownRoot, shownKey(key));
    const rel = relative(cwd, full);
    return rel === "" ? "." : rel.startsWith("..") || isAbsolute(rel) ? full : rel.split(sep).join("/");
  };
  return {
    kind: "path",
    text,
    storage: opened.storage,
    path: directory ? "" : basename(real),
    directory,
    basename: basename(absolute),
    display,
    close: () => opened.storage.close(),
  };
}

/** For commands that act on one file: a folder address is a usage error naming the fix. */
export function requireFile(location: Location, command: string): void {
  if (!location.directory) return;
  const folder = location.path === "" || location.path.endsWith("/") ? location.path : `${location.path}/`;
  throw new UsageError(
    `${command} needs a file, and ${location.text} is a folder: name a file in it, e.g. ${location.display(`${folder}file.jpg`)} (storages ls ${location.text} lists them).`,
  );
}

/**
 * The local folder that a folder of an address is, when its storage keeps files as local files
 * (`./media/`, `file:///srv/`, a named fs storage); undefined for a bucket.
 */
function localFolderOf(location: Location, folder: string): string | undefined {
  const path = location.storage.driver.path?.(`${folder}x`);
  return path === undefined ? undefined : resolve(path.slice(0, -1));
}

/**
 * For commands that delete what a folder holds (`rm -r`, `sync`): a folder that is a filesystem's
 * root is refused, as rm refuses `rm -rf /`. In a script it is almost always an unset variable
 * (`storages rm -r --yes "$MEDIA_DIR/"`), and it would empty the machine.
 */
export function refuseFilesystemRoot(location: Location, folder: string, deleting: string): void {
  const local = localFolderOf(location, folder);
  if (local === undefined || parse(local).root !== local) return;
  const subject = location.text === local ? local : `${location.text} (${local})`;
  throw new UsageError(
    `${subject} is the root of the filesystem, and ${deleting} there: refused, as rm refuses rm -rf /. Name the folder you mean (an unset variable turns "$DIR/" into /).`,
  );
}
