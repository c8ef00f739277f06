/**
 * Node filesystem errors → StorageError subclasses, in one place.
 */
import {
  AbortedError,
  AlreadyExistsError,
  abortError,
  BackendError,
  InvalidPathError,
  NotFoundError,
  PermissionDeniedError,
  StorageError,
} from "@storages/core";
import { errnoCode } from "./paths.js";

/** Errors worth retrying: the system was short of a resource for a moment. */
const TRANSIENT = new Set(["EMFILE", "ENFILE", "EAGAIN", "EBUSY", "EINTR", "EIO", "ETIMEDOUT"]);

export function toStorageError(error: unknown, key: string | undefined, signal?: AbortSignal): StorageError {
  if (StorageError.isInstance(error)) return error;
  if (signal?.aborted) return abortError(signal);
  if (error instanceof Error && error.name === "AbortError")
    return new AbortedError(undefined, { cause: error });
  const code = errnoCode(error);
  const options = { path: key, cause: error };
  switch (code) {
    case "ENOENT":
    case "ENOTDIR":
      return new NotFoundError(undefined, options);
    case "EEXIST":
      return new AlreadyExistsError(undefined, options);
    case "EISDIR":
    case "ENOTEMPTY":
      return new InvalidPathError(
        `"${key?.slice(0, 200)}" is a directory in this storage (it holds other files), so it cannot also be a file. Choose another name.`,
        options,
      );
    case "ENAMETOOLONG":
      return new InvalidPathError("The name is too long for this filesystem. Shorten it.", options);
    case "ELOOP":
      return new InvalidPathError("The name runs through a loop of symbolic links.", options);
    case "EACCES":
    case "EPERM":
      return key === undefined || key === ""
        ? accessRefused(
            code,
            {
              what: "the storage's root folder",
              fix: "access to it, or to the folder it is created in (chown it to that user, or chmod it)",
            },
            options,
          )
        : accessRefused(
            code,
            {
              what: `"${key.slice(0, 200)}"`,
              fix: "access to it and to the folders it is in (chown them to that user, or chmod them: read to read it, write to save or delete it)",
            },
            options,
          );
    case "EROFS":
      return new PermissionDeniedError("The storage root is on a read-only filesystem.", options);
    case "ENOSPC":
    case "EDQUOT":
      return new BackendError("The disk (or the user's quota) is full: free space, then retry.", options);
    default:
      return new BackendError(`Filesystem error${code ? ` ${code}` : ""}.`, {
        ...options,
        retryable: code !== undefined && TRANSIENT.has(code),
      });
  }
}

/**
 * EACCES or EPERM on `refused.what`: a key, quoted, or the root folder, never where the root is on
 * this machine (a message ends up in logs and HTTP error bodies), then what to do. The listing and
 * the metadata records say more precisely than a key what was refused (a folder, a record).
 */
export function accessRefused(
  code: "EACCES" | "EPERM",
  refused: { what: string; effect?: string | undefined; fix: string },
  options: { path: string | undefined; cause: unknown },
): PermissionDeniedError {
  const effect = refused.effect === undefined ? "" : `: ${refused.effect}`;
  return new PermissionDeniedError(
    `The filesystem refused access to ${refused.what} (${code})${effect}. Give the user running this process ${refused.fix}, or run as the owner of the files, then run again.`,
    options,
  );
}
