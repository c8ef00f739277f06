/**
 * Root containment: every key becomes a path under the storage root, and nothing that resolves
 * (through symlinks) outside the root is ever read, written, listed or deleted.
 *
 * The facade has already refused `..`, absolute paths and other dangerous names, so joining a key
 * to the root is safe lexically; what remains is symlinks that already exist inside the root. The
 * checks use realpath() of what exists. A process that can create symlinks inside the root while
 * we work could still race a check (time-of-check to time-of-use); keep the root writable only by
 * the application user.
 */
import { constants, readlinkSync } from "node:fs";
import { chmod, lstat, mkdir, realpath, stat } from "node:fs/promises";
import { basename, dirname, join, sep } from "node:path";
import { InvalidPathError, PathTraversalError } from "@storages/core";
import { closeDirectory, openFd } from "./io.js";

/**
 * Opening for a read: never through a link as the last segment (those take the careful path),
 * never blocking on a FIFO, never acquiring a terminal.
 */
const OPEN_TO_READ = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;
export const OPEN_DIRECTORY = constants.O_RDONLY | constants.O_DIRECTORY;
/** What Linux appends to the path of a descriptor whose file was removed meanwhile. */
const DELETED = " (deleted)";

/**
 * Basenames starting with this are the driver's own (temporary files, metadata sidecars): never
 * listed, never served, and refused as user names.
 */
export const RESERVED_PREFIX = ".~storages-";

export function isReservedName(basename: string): boolean {
  return basename.startsWith(RESERVED_PREFIX);
}

export function errnoCode(error: unknown): string | undefined {
  return typeof error === "object" && error !== null && "code" in error
    ? String((error as { code: unknown }).code)
    : undefined;
}

/** Attempts at making a key's folder while concurrent deletes prune it (prepareParent). */
const FOLDER_ATTEMPTS = 5;

export class RootedPaths {
  /** The root with symlinks resolved (set by `init`). */
  real = "";
  /**
   * Whether the system names the file an open descriptor refers to (/proc/self/fd on Linux; set by
   * `init`). Then a file is checked after it is opened: one open and one readlink, instead of a
   * realpath (a readlink per segment) before, and what is checked is exactly what was opened.
   */
  fdPaths = false;
  /** Folders being prepared right now (prepareParent), by lexical path. */
  private readonly preparing = new Map<string, Promise<string>>();

  constructor(
    /** The configured root, absolute. */
    readonly root: string,
    private readonly directoryMode: number,
    /**
     * Told the real path of a folder that just got a new folder in it: that entry is durable only
     * once the folder holding it is synced (the driver syncs it now, or at the batch's flush).
     */
    private readonly onFolderCreated: (parent: string) => Promise<void> = async () => {},
  ) {}

  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: this.directoryMode });
    this.real = await realpath(this.root);
    const fd = await openFd(this.real, OPEN_DIRECTORY);
    try {
      this.fdPaths = pathOfFd(fd) === this.real;
    } finally {
      closeDirectory(fd);
    }
  }

  /** Lexical path of a key under the (real) root. Refuses the driver's reserved names. */
  pathOf(key: string): string {
    const segments = key.split("/");
    for (const segment of segments) {
      if (isReservedName(segment)) {
        throw new InvalidPathError(
          `Invalid name "${key.slice(0, 200)}": names starting with "${RESERVED_PREFIX}" are reserved for the filesystem driver's temporary files. Rename it.`,
          { path: key },
        );
      }
    }
    return join(this.real, ...segments);
  }

  /** Lexical directory of a key prefix ("" or "a/b/"). */
  dirOf(prefix: string): string {
    return prefix === "" ? this.real : this.pathOf(prefix.slice(0, -1));
  }

  contains(absolute: string): boolean {
    return absolute === this.real || absolute.startsWith(this.real + sep);
  }

  private escape(key: string): PathTraversalError {
    return new PathTraversalError(
      `"${key.slice(0, 200)}" resolves outside the storage root through a symbolic link; the filesystem driver never follows links out of its root.`,
      { path: key },
    );
  }

  /** mkdir()'s mode is filtered by the umask: set the configured one on each directory created. */
  private async applyDirectoryMode(firstCreated: string, last: string): Promise<void> {
    const created = [last];
    for (let dir = last; dir !== firstCreated && dir.length > firstCreated.length; ) {
      dir = dirname(dir);
      created.push(dir);
    }
    for (const dir of created) {
      try {
        await chmod(dir, this.directoryMode);
      } catch (error) {
        // Another writer's concurrent delete may have pruned it already; the next step will notice.
        if (errnoCode(error) !== "ENOENT") throw error;
      }
    }
  }

  /** A file where a directory is needed ("a" exists, writing "a/b"): the name cannot be created. */
  fileInTheWay(key: string, cause: unknown): InvalidPathError {
    return new InvalidPathError(
      `Cannot store "${key.slice(0, 200)}": a file exists where one of its parent directories should be. Choose another name or delete that file.`,
      { path: key, cause },
    );
  }

  /**
   * The real path of an existing file or directory (symlinks resolved), checked to be inside the
   * root. Throws the ENOENT error as is when it does not exist (callers map it to NotFoundError).
   */
  async resolveExisting(key: string, absolute = this.pathOf(key)): Promise<string> {
    const resolved = await realpath(absolute);
    if (!this.contains(resolved)) throw this.escape(key);
    return resolved;
  }

  /**
   * The real directory a key will be written into, created (with the directory mode) when missing.
   * The existing part of the chain is checked before anything is created, so `mkdir -p` never
   * runs through a link that leads out of the root.
   */
  async prepareParent(key: string): Promise<string> {
    // A concurrent delete removes folders it empties, up to the root: one can vanish between the
    // check of its parent and the mkdir in it, or right after it was made. Made again, a few times.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.prepareParentOnce(key);
      } catch (error) {
        if (errnoCode(error) !== "ENOENT" || attempt >= FOLDER_ATTEMPTS) throw error;
      }
    }
  }

  private async prepareParentOnce(key: string): Promise<string> {
    const parent = dirname(this.pathOf(key));
    // Saves into one new folder arrive together (a migration of a tree, concurrent uploads): while
    // one prepares it, the others wait for that answer instead of climbing and creating it again.
    // Only while in flight: every later call checks afresh.
    const pending = this.preparing.get(parent);
    if (pending !== undefined) {
      try {
        return await pending;
      } catch {
        // Its failure may be its own key's (a file in the way is the same for all; retry to be sure).
      }
    }
    const preparing = this.prepareDirectory(key, parent);
    this.preparing.set(parent, preparing);
    try {
      return await preparing;
    } finally {
      if (this.preparing.get(parent) === preparing) this.preparing.delete(parent);
    }
  }

  private async prepareDirectory(key: string, parent: string): Promise<string> {
    if (this.fdPaths) return this.createDirectory(key, parent);
    let existing = parent;
    for (;;) {
      try {
        const resolved = await realpath(existing);
        if (!this.contains(resolved)) throw this.escape(key);
        if (!(await stat(resolved)).isDirectory()) throw this.fileInTheWay(key, undefined);
        if (existing === parent) return resolved;
        break;
      } catch (error) {
        if (errnoCode(error) === "ENOTDIR") throw this.fileInTheWay(key, error);
        if (errnoCode(error) !== "ENOENT" || existing === this.real) throw error;
        existing = dirname(existing);
      }
    }
    try {
      const firstCreated = await mkdir(parent, { recursive: true, mode: this.directoryMode });
      if (firstCreated !== undefined) {
        await this.applyDirectoryMode(firstCreated, parent);
        // Every level from the first one made holds a new entry, and so does the one above it
        // (the deepest, `parent`, is synced by the save that writes into it).
        for (let level = parent; level !== dirname(firstCreated); ) {
          level = dirname(level);
          await this.onFolderCreated(await realpath(level));
        }
      }
    } catch (error) {
      if (errnoCode(error) === "EEXIST" || errnoCode(error) === "ENOTDIR")
        throw this.fileInTheWay(key, error);
      throw error;
    }
    const resolved = await realpath(parent);
    if (!this.contains(resolved)) throw this.escape(key);
    return resolved;
  }

  /**
   * The real path of an existing directory, checked through a descriptor of it (one open and a
   * readlink of /proc/self/fd: what was checked is what exists, no readlink per segment); undefined
   * when it does not exist (or was removed meanwhile).
   */
  private async existingDirectory(key: string, lexical: string): Promise<string | undefined> {
    let fd: number;
    try {
      fd = await openFd(lexical, OPEN_DIRECTORY);
    } catch (error) {
      if (errnoCode(error) === "ENOTDIR") throw this.fileInTheWay(key, error);
      if (errnoCode(error) === "ENOENT") return undefined;
      throw error;
    }
    try {
      const real = pathOfFd(fd);
      if (real === undefined || real.endsWith(DELETED)) return undefined;
      if (!this.contains(real)) throw this.escape(key);
      return real;
    } finally {
      closeDirectory(fd);
    }
  }

  /**
   * `directory` (lexical, under the root) created with its missing parents where descriptors name
   * their files: each level is made inside the real, checked path of its parent — never through a
   * link that leads out of the root — and checked again once made. A few trips per new folder
   * (open the parent, mkdir, chmod, open it) instead of a realpath of every level before and after.
   */
  private async createDirectory(key: string, directory: string): Promise<string> {
    if (directory === this.real) return this.real;
    if (!this.contains(directory)) throw this.escape(key);
    const up = dirname(directory);
    const parent =
      up === this.real
        ? this.real
        : ((await this.existingDirectory(key, up)) ?? (await this.createDirectory(key, up)));
    const target = join(parent, directory.slice(up.length + 1));
    try {
      await mkdir(target, { mode: this.directoryMode });
      await this.applyDirectoryMode(target, target);
      await this.onFolderCreated(parent);
    } catch (error) {
      if (errnoCode(error) === "ENOTDIR") throw this.fileInTheWay(key, error);
      // EEXIST: made by a concurrent save, or something else is there: the check below tells.
      if (errnoCode(error) !== "EEXIST") throw error;
    }
    const made = await this.existingDirectory(key, target);
    if (made === undefined) {
      // Pruned by a concurrent delete right after it was made: prepareParent makes it again.
      throw Object.assign(new Error(`ENOENT: ${target} was removed while it was prepared`), {
        code: "ENOENT",
      });
    }
    return made;
  }

  /**
   * The parent directory of a key, open (the caller closes `fd`; a durable save fsyncs it) and
   * checked to be inside the root; created with the directory mode when missing. `directory` is
   * its real path, where the save creates its temporary file.
   */
  async openParent(key: string): Promise<{ directory: string; fd: number }> {
    if (this.fdPaths) {
      const lexical = dirname(this.pathOf(key));
      let fd: number | undefined;
      try {
        fd = await openFd(lexical, OPEN_DIRECTORY);
      } catch (error) {
        if (errnoCode(error) === "ENOTDIR") throw this.fileInTheWay(key, error);
        if (errnoCode(error) !== "ENOENT") throw error;
      }
      if (fd !== undefined) {
        const real = pathOfFd(fd);
        if (real !== undefined && !real.endsWith(DELETED)) {
          if (!this.contains(real)) {
            closeDirectory(fd);
            throw this.escape(key);
          }
          return { directory: real, fd };
        }
        closeDirectory(fd); // removed meanwhile: the careful path below decides
      }
    }
    for (let attempt = 1; ; attempt++) {
      const directory = await this.prepareParent(key);
      try {
        return { directory, fd: await openFd(directory, OPEN_DIRECTORY) };
      } catch (error) {
        // Pruned again between being made and opened (see prepareParent).
        if (errnoCode(error) !== "ENOENT" || attempt >= FOLDER_ATTEMPTS) throw error;
      }
    }
  }

  /**
   * A key's folder, open and checked (one open, a readlink of /proc/self/fd: what `openExisting`
   * checks of a file's path, without opening the file), and the real path of the key's entry in it.
   * The caller closes `fd` (closeDirectory). The entry itself is not resolved: the caller lstat()s
   * it, and takes a link there the careful way. Undefined when descriptors do not name their files,
   * or the folder does not exist (or is no folder).
   */
  async openFolderOf(key: string): Promise<{ directory: string; fd: number; entry: string } | undefined> {
    if (!this.fdPaths) return undefined;
    const lexical = this.pathOf(key);
    let fd: number;
    try {
      fd = await openFd(dirname(lexical), OPEN_DIRECTORY);
    } catch (error) {
      if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") return undefined;
      throw error;
    }
    const real = pathOfFd(fd);
    if (real === undefined || real.endsWith(DELETED) || !this.contains(real)) {
      closeDirectory(fd);
      if (real !== undefined && !real.endsWith(DELETED)) throw this.escape(key);
      return undefined;
    }
    return { directory: real, fd, entry: join(real, basename(lexical)) };
  }

  /**
   * An existing file of the root, opened for reading by `opener` (a descriptor, or a FileHandle:
   * `fdOf` tells its descriptor, `release` closes it), and its real path. The caller closes it.
   * Throws ENOENT/ENOTDIR errors as they are (callers map them to NotFoundError). The caller checks
   * that it is a regular file (fstat): a directory or a FIFO opens too, without blocking.
   */
  async openExisting<T>(
    key: string,
    opener: (path: string, flags: number) => Promise<T>,
    fdOf: (opened: T) => number,
    release: (opened: T) => void,
  ): Promise<{ opened: T; path: string }> {
    const lexical = this.pathOf(key);
    if (this.fdPaths) {
      let opened: T | undefined;
      try {
        opened = await opener(lexical, OPEN_TO_READ);
      } catch (error) {
        // A link as the last segment (ELOOP under O_NOFOLLOW): resolved the careful way below.
        if (errnoCode(error) !== "ELOOP") throw error;
      }
      if (opened !== undefined) {
        const real = pathOfFd(fdOf(opened));
        if (real !== undefined && !real.endsWith(DELETED)) {
          if (!this.contains(real)) {
            release(opened);
            throw this.escape(key);
          }
          return { opened, path: real };
        }
        release(opened);
      }
    }
    const path = await this.resolveExisting(key, lexical);
    return { opened: await opener(path, OPEN_TO_READ), path };
  }

  /**
   * For delete: the real path of the parent directory, and whether the entry itself is a link that
   * leads outside the root (refused, like every other operation on it).
   */
  async resolveForDelete(key: string): Promise<string | undefined> {
    const target = this.pathOf(key);
    let parent: string;
    try {
      parent = await realpath(dirname(target));
    } catch (error) {
      if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") return undefined;
      throw error;
    }
    if (!this.contains(parent)) throw this.escape(key);
    const path = join(parent, target.slice(dirname(target).length + 1));
    let info: Awaited<ReturnType<typeof lstat>>;
    try {
      info = await lstat(path);
    } catch (error) {
      if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") return undefined;
      throw error;
    }
    if (info.isSymbolicLink()) {
      try {
        const resolved = await realpath(path);
        if (!this.contains(resolved)) throw this.escape(key);
      } catch (error) {
        // A dangling link points nowhere: removing it touches nothing outside the root.
        if (errnoCode(error) !== "ENOENT") throw error;
      }
    }
    return path;
  }
}

/**
 * The path of the file an open descriptor refers to, where the system tells (Linux), else
 * undefined. Synchronous on purpose: a readlink of /proc reads kernel memory only (no disk, no
 * network filesystem), and a trip through the thread pool would cost more than the call.
 */
function pathOfFd(fd: number): string | undefined {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return undefined;
  }
}
