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
import { chmod, lstat, mkdir, realpath, stat } from "node:fs/promises";
import { dirname, join, sep } from "node:path";
import { InvalidPathError, PathTraversalError } from "@storages/core";

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

export class RootedPaths {
  /** The root with symlinks resolved (set by `init`). */
  real = "";

  constructor(
    /** The configured root, absolute. */
    readonly root: string,
    private readonly directoryMode: number,
  ) {}

  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: this.directoryMode });
    this.real = await realpath(this.root);
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
    const target = this.pathOf(key);
    const parent = dirname(target);
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
      if (firstCreated !== undefined) await this.applyDirectoryMode(firstCreated, parent);
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
