/**
 * Where the files live on disk: static and media apart, media outside release directories, the
 * app's code and ephemeral filesystems, and covered by a backup the team declares. The layout
 * rules themselves are core's (`findOverlaps`, `directoryWarnings`: the app logs the same ones at
 * start-up); this module turns them into findings and adds what only a deploy check can see.
 */
import { constants, existsSync, type Stats } from "node:fs";
import { type FileHandle, open, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { directoryWarnings, mountFor, parseMountInfo, readMountInfo, shellQuote } from "@storages/core";
import type { Finding } from "./findings.js";
import type { DeploymentLayout } from "./layout.js";

/**
 * The backup marker: a file of this name in a media directory or any directory above it says
 * "this tree is backed up" (its text, if any, names the job: "restic, nightly, 30 days"). The
 * check cannot see backups; the marker is the team's declaration, kept next to the data.
 */
export const BACKUP_MARKER = ".storages-backup";

/** Filesystems whose contents are gone after a reboot: media there is lost like on a container root. */
const VOLATILE_FS_TYPES = new Set(["tmpfs", "ramfs"]);

export interface FilesystemCheckOptions {
  /** The application directory (the folder with its package.json). Default: found from `cwd` up. */
  appDir?: string | undefined;
  cwd: string;
  /** Contents of /proc/self/mountinfo (a fixture); default: read from the system. */
  mountInfo?: string | undefined;
}

/** The nearest directory at or above `from` holding a package.json: the app's code. */
export function findAppDir(from: string): string | undefined {
  let dir = resolve(from);
  for (;;) {
    if (existsSync(join(dir, "package.json"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** The backup marker covering `dir` (in it or above it), if any. */
export function findBackupMarker(dir: string): string | undefined {
  let current = dir;
  for (;;) {
    const marker = join(current, BACKUP_MARKER);
    if (existsSync(marker)) return marker;
    const parent = dirname(current);
    if (parent === current) return undefined;
    current = parent;
  }
}

/** Enough of a marker for its first line; a huge file is not read whole. */
const MARKER_READ_MAX = 4096;

/** What a marker says: the first line of a plain file, or the kind of entry that declares nothing. */
type MarkerContents = { declares: true; what: string } | { declares: false; kind: string };

function entryKind(st: Stats): string {
  if (st.isFIFO()) return "a FIFO (named pipe)";
  if (st.isDirectory()) return "a folder";
  if (st.isSocket()) return "a socket";
  return "a device";
}

/**
 * Reads a marker without ever waiting on it: only a plain file is opened (a FIFO's open would
 * block until a writer comes, a device's may do anything), and non-blocking even so, its type
 * checked again on the open handle (it could have been swapped in between). A file it may not
 * read still declares, as a present file does: the line is only shown.
 */
async function readMarker(marker: string): Promise<MarkerContents> {
  let st: Stats;
  try {
    st = await stat(marker);
  } catch {
    return { declares: true, what: "" };
  }
  if (!st.isFile()) return { declares: false, kind: entryKind(st) };
  let handle: FileHandle;
  try {
    handle = await open(marker, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return { declares: true, what: "" };
  }
  try {
    const opened = await handle.stat();
    if (!opened.isFile()) return { declares: false, kind: entryKind(opened) };
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(MARKER_READ_MAX), 0, MARKER_READ_MAX, 0);
    return { declares: true, what: buffer.subarray(0, bytesRead).toString("utf8").trim().split("\n")[0]! };
  } catch {
    return { declares: true, what: "" };
  } finally {
    await handle.close().catch(() => {});
  }
}

const FIXES = {
  W_RELEASE_DIR:
    "Keep media in a directory every release shares (/srv/app/shared/media), and symlink or configure it from each release.",
  W_APP_DIR:
    "Keep media outside the application's code (e.g. /var/lib/<app>/media): a redeploy or fresh checkout replaces that folder.",
  W_EPHEMERAL_FS:
    "Mount a volume at the media directory (docker run -v media:/data/media, a Kubernetes PersistentVolume), or use a bucket.",
} as const;

const IDS = {
  W_RELEASE_DIR: "media-in-release-dir",
  W_APP_DIR: "media-in-app-dir",
  W_EPHEMERAL_FS: "media-on-ephemeral-fs",
} as const;

export async function filesystemFindings(
  layout: DeploymentLayout,
  options: FilesystemCheckOptions,
): Promise<{ findings: Finding[]; notes: string[] }> {
  const findings: Finding[] = [];
  const notes: string[] = [];
  for (const overlap of layout.overlaps) {
    findings.push({
      id: overlap.involvesStatic ? "static-media-overlap" : "storages-overlap",
      severity: "error",
      storage: overlap.storages.find((n) => n !== "staticfiles") ?? overlap.storages[0],
      message: overlap.message,
      fix: overlap.involvesStatic
        ? "Give staticfiles and the media storages separate locations side by side (…/static and …/media)."
        : "Give each storage its own directory or prefix, or set allowOverlap=true on one if sharing is intended.",
    });
  }

  const appDir = options.appDir ? resolve(options.appDir) : findAppDir(options.cwd);
  const mountInfo = options.mountInfo ?? readMountInfo();
  notes.push(
    mountInfo === undefined
      ? "ephemeral filesystems: not checked (no /proc/self/mountinfo on this system)"
      : `ephemeral filesystems: checked against ${options.mountInfo !== undefined ? "the given mountinfo" : "/proc/self/mountinfo"}`,
  );
  const mounts = mountInfo === undefined ? [] : parseMountInfo(mountInfo);
  for (const storage of layout.storages) {
    const dir = storage.directory;
    if (storage.role !== "media" || dir === undefined || storage.description.readOnly) continue;
    const warnings = await directoryWarnings(
      { name: storage.name, source: storage.description.source, path: dir },
      // The app directory rule is core's "inside cwd" rule, applied to the app's own folder.
      { cwd: appDir ?? "/", mountInfo, localMode: false },
    );
    for (const w of warnings) {
      if (!(w.code in IDS)) continue;
      const code = w.code as keyof typeof IDS;
      findings.push({
        id: IDS[code],
        severity: "error",
        storage: storage.name,
        message: w.message,
        fix: FIXES[code],
      });
    }
    const mount = mountFor(dir, mounts);
    if (mount && VOLATILE_FS_TYPES.has(mount.fsType) && !warnings.some((w) => w.code === "W_EPHEMERAL_FS")) {
      findings.push({
        id: "media-on-ephemeral-fs",
        severity: "error",
        storage: storage.name,
        message: `${storage.description.source} (${dir}) is on a ${mount.fsType} mounted at ${mount.mountPoint}: its files live in memory and are gone after a restart.`,
        fix: FIXES.W_EPHEMERAL_FS,
      });
    }
    const marker = findBackupMarker(dir);
    const contents = marker === undefined ? undefined : await readMarker(marker);
    if (marker === undefined) {
      findings.push({
        id: "media-without-backup",
        severity: "warning",
        storage: storage.name,
        message: `Nothing declares a backup of ${dir} (no ${BACKUP_MARKER} file in it or above it).`,
        fix: `Back the directory up, then declare it: \`echo 'restic, nightly' > ${shellQuote(join(dir, BACKUP_MARKER))}\` (or in a parent directory the backup covers).`,
      });
    } else if (contents?.declares === false) {
      findings.push({
        id: "media-without-backup",
        severity: "warning",
        storage: storage.name,
        message: `${marker} is ${contents.kind}, not a file: it declares no backup of ${dir} (and was not read).`,
        fix: `Move it away, then declare the backup in a plain file of that name: \`echo 'restic, nightly' > ${shellQuote(marker)}\`.`,
      });
    } else {
      const what = contents?.what ?? "";
      notes.push(`backup of ${storage.name}: declared by ${marker}${what ? ` (${what.slice(0, 80)})` : ""}`);
    }
  }
  return { findings, notes };
}
