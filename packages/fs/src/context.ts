/**
 * What the driver's changes share: the rooted paths, the storage's file mode, durability policy
 * and record keeping, the saves a batch storage has not synced yet, and the start of the sweep.
 *
 * FsDriver builds one in its constructor and hands it to the modules that hold its operations
 * (save.ts, copy-move.ts, removal.ts), which are functions rather than methods: the driver's own
 * state stays private (it is not part of FsDriver's type), and the operations stay separable from
 * the class that routes calls to them.
 */
import type { PendingSyncs } from "./durability.js";
import type { Durability } from "./options.js";
import type { RootedPaths } from "./paths.js";

export interface DriverContext {
  readonly paths: RootedPaths;
  readonly fileMode: number;
  readonly durability: Durability;
  /** Whether files get a record (MD5, content type, metadata); false: a plain folder. */
  readonly records: boolean;
  /** Batch durability: what flush() has to sync. */
  readonly pending: PendingSyncs;
  /** Starts, once, the sweep of the temporary files killed writers left (FsDriver.startSweep). */
  readonly startSweep: () => void;
}
