/**
 * Who can write where, checked as the app's user: static files must not be writable by the app
 * (a compromised or buggy process could rewrite its own assets), media must be (uploads fail
 * otherwise). The probe runs in a child process that takes the user's uid, gid and groups
 * (`initgroups`, like login does), and really tries: it creates and removes a file in each
 * directory, and asks `access(W_OK)` of existing static files. Asking as root proves nothing
 * (root writes everywhere), so without `asUser` a root check says so and skips.
 */
import { type ExecFileException, execFile } from "node:child_process";
import { InvalidArgumentError, shellQuote } from "@storages/core";
import type { Finding } from "./findings.js";
import type { DeploymentLayout, DeployStorage } from "./layout.js";

export interface AccessTarget {
  path: string;
  /** Static trees get their files sampled too. */
  sampleFiles: boolean;
  /** Media trees are searched for symlinks that lead out of them. */
  findLinksOut?: boolean | undefined;
}

export interface AccessResult {
  path: string;
  exists: boolean;
  /** A new file could be created (and was removed again). */
  canCreate: boolean;
  /** Existing files (up to the sample size) the user may write, or owns (and so may chmod). */
  writableFiles: string[];
  /** Folders below the target (or the target, when not creatable) the user may write or owns (static trees only). */
  writableDirs?: string[] | undefined;
  /** A folder above the target the user may write or own: it can swap the whole tree (static trees only). */
  replaceableVia?: string | undefined;
  /** It exists, but is not a folder (a file, a device). */
  notFolder?: boolean | undefined;
  /** Symlinks below the target whose real path is outside it (up to 5), and how many were found. */
  linksOut?: { examples: string[]; count: number; truncated: boolean } | undefined;
  /** The errno code that refused the write, if one did. */
  refusedWith?: string | undefined;
  /** The errno code (EACCES…) that kept the user from even seeing the folder: a parent it cannot enter. */
  unreachable?: string | undefined;
}

export interface UserIds {
  name: string;
  uid: number;
  gid: number;
}

// Runs as the probed user: plain JavaScript, no import of this package (the child may not be able
// to read it). Input and output are JSON on argv / stdout.
const PROBE = `
const fs = require("node:fs");
const path = require("node:path");
const input = JSON.parse(process.argv[1]);
if (input.user) {
  process.initgroups(input.user.name, input.user.gid);
  process.setgid(input.user.gid);
  process.setuid(input.user.uid);
}
const out = [];
for (const target of input.targets) {
  const r = { path: target.path, exists: false, canCreate: false, writableFiles: [] };
  // existsSync says "no" for a folder the user cannot reach too: tell the two apart.
  try { r.exists = true; r.notFolder = !fs.statSync(target.path).isDirectory(); } catch (e) { r.exists = false; if (e.code !== "ENOENT") r.unreachable = e.code; }
  if (r.exists) {
    const probe = path.join(target.path, ".storages-check-" + process.pid + "-" + Date.now());
    try {
      fs.writeFileSync(probe, "", { flag: "wx" });
      fs.unlinkSync(probe);
      r.canCreate = true;
    } catch (e) {
      r.refusedWith = e.code;
    }
    if (target.findLinksOut) {
      // The fs driver never makes a symlink nor reads through one that leaves its root, but a web
      // server may (Caddy cannot refuse them): one left in media serves whatever it points at.
      // Entries are read a few at a time, and at most maxEntries of them.
      r.linksOut = { examples: [], count: 0, truncated: false };
      const root = target.path + path.sep;
      const stack = [target.path];
      let entries = 0;
      while (stack.length && !r.linksOut.truncated) {
        const dir = stack.pop();
        let handle;
        try { handle = fs.opendirSync(dir); } catch { continue; }
        try {
          for (let e = handle.readSync(); e !== null; e = handle.readSync()) {
            if (entries++ >= input.maxEntries) { r.linksOut.truncated = true; break; }
            const p = path.join(dir, e.name);
            if (e.isDirectory()) stack.push(p);
            else if (e.isSymbolicLink()) {
              let real;
              try { real = fs.realpathSync(p); } catch { continue; }
              if (real !== target.path && !real.startsWith(root)) {
                r.linksOut.count++;
                if (r.linksOut.examples.length < 5) r.linksOut.examples.push(p + " -> " + real);
              }
            }
          }
        } finally { handle.closeSync(); }
      }
    }
    if (target.sampleFiles) {
      // What the user may write, or own: an owner may chmod a read-only file or folder back
      // to writable, so 0444 files of the app's own are no protection.
      const uid = process.getuid();
      // Mount points (field 5 of mountinfo, octal-escaped): a bind mount keeps the device number.
      const mountPoints = new Set();
      try {
        for (const line of fs.readFileSync("/proc/self/mountinfo", "utf8").split("\\n")) {
          const field = line.split(" ")[4];
          if (field) mountPoints.add(field.replace(/\\\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))));
        }
      } catch {}
      const writable = (p) => {
        // (Not on a read-only mount, such as a static volume mounted :ro into the app: there
        // neither the owner nor root may write, and access() says EROFS.)
        try { fs.accessSync(p, fs.constants.W_OK); return true; } catch (e) { if (e.code === "EROFS") return false; }
        try { return fs.lstatSync(p).uid === uid; } catch { return false; }
      };
      // A folder above that the user may write (or own) lets it rename the tree away and put
      // its own in place, unless the sticky bit keeps that to the entry's owner, or the entry is
      // a mount point (renaming one fails with EBUSY; a folder further up may still move it all).
      for (let child = target.path, dir = path.dirname(child); dir !== child; child = dir, dir = path.dirname(dir)) {
        let st;
        let childSt;
        try { st = fs.statSync(dir); childSt = fs.lstatSync(child); } catch { break; }
        if (childSt.dev !== st.dev || mountPoints.has(child)) continue;
        const sticky = (st.mode & 0o1000) !== 0;
        if (writable(dir) && (!sticky || childSt.uid === uid)) {
          r.replaceableVia = dir;
          break;
        }
      }
      // Every folder (a writable one lets its files be replaced by rename, whatever their own
      // modes), and a sample of the files.
      r.writableDirs = [];
      const stack = [target.path];
      let seen = 0;
      let folders = 0;
      while (stack.length && folders++ < input.maxFolders) {
        const dir = stack.pop();
        // The static folder itself counts when the user owns it without being able to create in it.
        if ((dir !== target.path || !r.canCreate) && writable(dir)) r.writableDirs.push(dir);
        let entries = [];
        try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { continue; }
        for (const e of entries) {
          const p = path.join(dir, e.name);
          if (e.isDirectory()) stack.push(p);
          else if (e.isFile() && seen++ < input.sample && writable(p)) r.writableFiles.push(p);
        }
      }
    }
  }
  out.push(r);
}
process.stdout.write(JSON.stringify(out));
`;

/** Entries of a media tree searched for symlinks (it may hold millions; the probe has 60 s). */
const LINK_SCAN_ENTRIES = 200_000;

const PROBE_TIMEOUT = 60_000;

function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: PROBE_TIMEOUT, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(failureReason(file, error, String(stderr))));
      else resolve(String(stdout));
    });
  });
}

/** Why a child process gave no result, in a line: killed for time, not started, or its own error. */
function failureReason(file: string, error: ExecFileException, stderr: string): string {
  if (error.code === "ERR_CHILD_PROCESS_STDIO_MAXBUFFER") return "its answer was too large";
  if (error.killed) return `no answer within ${PROBE_TIMEOUT / 1000} s (stopped)`;
  if (typeof error.code === "string") return `${file} could not be started (${error.code})`;
  // An uncaught error prints a stack: its first line naming an error is the reason.
  const lines = stderr.split("\n").map((l) => l.trim());
  const named = lines.find((l) => /^[A-Z]\w*Error\b/.test(l)) ?? lines.find((l) => l !== "");
  return named ?? `it exited with ${error.code ?? error.signal}`;
}

/** uid and gid of a user name (getent: /etc/passwd, LDAP, whatever NSS knows). */
export async function lookupUser(name: string): Promise<UserIds> {
  let line: string;
  try {
    line = (await run("getent", ["passwd", name])).trim();
  } catch {
    throw new InvalidArgumentError(
      `--as-user ${name}: no such user on this machine (\`getent passwd ${shellQuote(name)}\` found nothing). Give the user the app runs as (e.g. www-data).`,
    );
  }
  const [, , uid, gid] = line.split(":");
  return { name, uid: Number(uid), gid: Number(gid) };
}

/** Runs the probe in a child process, as `user` when given (which needs root). */
export async function probeAccess(targets: readonly AccessTarget[], user?: UserIds): Promise<AccessResult[]> {
  if (user && process.getuid?.() !== 0 && process.getuid?.() !== user.uid) {
    throw new InvalidArgumentError(
      `--as-user ${user.name}: only root can take another user's identity. Run the check with sudo, or as ${user.name} without --as-user.`,
    );
  }
  const input = JSON.stringify({
    user: user ?? null,
    targets,
    sample: 200,
    maxFolders: 100_000,
    maxEntries: LINK_SCAN_ENTRIES,
  });
  return JSON.parse(await run(process.execPath, ["-e", PROBE, input])) as AccessResult[];
}

export async function accessFindings(
  layout: DeploymentLayout,
  asUser: string | undefined,
): Promise<{ findings: Finding[]; notes: string[] }> {
  const local = layout.storages.filter((s) => s.directory !== undefined);
  if (local.length === 0) return { findings: [], notes: [] };
  const user = asUser === undefined ? undefined : await lookupUser(asUser);
  const uid = process.getuid?.();
  if (!user && uid === 0) {
    // Root's writes prove nothing, but a media folder that is not there is missing for any user
    // (a volume not mounted): that much a root check still reports.
    const media = local.filter((s) => s.role === "media" && !s.description.readOnly);
    const results = await probeOrFinding(
      media.map((s) => ({ path: s.directory!, sampleFiles: false, findLinksOut: true })),
      undefined,
      "root",
    );
    if (!Array.isArray(results)) return { findings: [results], notes: [] };
    return {
      findings: media.flatMap((s, i) => [
        ...(results[i]!.exists && !results[i]!.notFolder
          ? []
          : [mediaNotWritable(s, results[i]!, "root", undefined)]),
        ...linksOutFindings(s, results[i]!),
      ]),
      notes: [
        "permissions: not checked (running as root, who may write anywhere): pass --as-user APP_USER",
        ...linksOutNotes(media, results),
      ],
    };
  }
  const who = user ? `user ${user.name} (uid ${user.uid})` : `the current user (uid ${uid})`;
  const results = await probeOrFinding(
    local.map((s) => ({
      path: s.directory!,
      sampleFiles: s.role === "static",
      findLinksOut: s.role === "media",
    })),
    user,
    who,
  );
  if (!Array.isArray(results)) return { findings: [results], notes: [] };
  const findings: Finding[] = [];
  local.forEach((s, i) => {
    const r = results[i]!;
    const writableDirs = r.writableDirs ?? [];
    if (
      s.role === "static" &&
      (r.canCreate || r.replaceableVia !== undefined || writableDirs.length > 0 || r.writableFiles.length > 0)
    ) {
      const what = r.canCreate
        ? `can create files in ${r.path}`
        : r.replaceableVia !== undefined
          ? `can write (or owns) ${r.replaceableVia}, above ${r.path}, and so rename the static folder away and put its own in place`
          : writableDirs.length > 0
            ? `can write ${writableDirs.length} folder(s) of it, e.g. ${writableDirs[0]} (and so replace the files in them)`
            : `can write ${r.writableFiles.length} static file(s), e.g. ${r.writableFiles[0]}`;
      findings.push({
        id: "static-writable",
        severity: "error",
        storage: s.name,
        message: `${who} ${what}: the app could rewrite its own assets.`,
        fix:
          r.replaceableVia !== undefined && !r.canCreate
            ? `Let the deploy user own the folders above the static one and the app only enter them: \`chown deploy: ${shellQuote(r.replaceableVia)} && chmod go-w ${shellQuote(r.replaceableVia)}\` (keep media in a folder of its own the app owns).`
            : `Let the deploy user own the static files and the app only read them: \`chown -R deploy: ${shellQuote(r.path)} && chmod -R go-w ${shellQuote(r.path)}\`.`,
      });
    }
    if (s.role === "media" && !s.description.readOnly && !r.canCreate)
      findings.push(mediaNotWritable(s, r, who, user));
    findings.push(...linksOutFindings(s, r));
  });
  return { findings, notes: [`permissions: checked as ${who}`, ...linksOutNotes(local, results)] };
}

/**
 * The probe's results, or the finding that says it gave none (no answer in time, a child process
 * that could not start): what it would have checked is unknown, and the rest of the report stands.
 */
async function probeOrFinding(
  targets: readonly AccessTarget[],
  user: UserIds | undefined,
  who: string,
): Promise<AccessResult[] | Finding> {
  try {
    return await probeAccess(targets, user);
  } catch (error) {
    if (InvalidArgumentError.isInstance(error)) throw error;
    const reason = error instanceof SyntaxError ? "its answer was not JSON" : (error as Error).message;
    const sudo = user === undefined ? "" : `sudo -u ${shellQuote(user.name)} `;
    const media = targets.filter((t) => t.findLinksOut).map((t) => t.path);
    const statics = targets.filter((t) => t.sampleFiles).map((t) => t.path);
    const byHand = [
      ...media.map(
        (p) =>
          `\`${sudo}test -w ${shellQuote(p)}\` (must succeed) and \`find ${shellQuote(p)} -type l\` (must list nothing leading out)`,
      ),
      ...statics.map((p) => `\`${sudo}find ${shellQuote(p)} -writable\` (must print nothing)`),
    ];
    return {
      id: "access-probe-failed",
      severity: "error",
      message: `The permission probe (a child process run as ${who}) gave no result: ${reason}. Not checked: ${targets.map((t) => t.path).join(", ")} — whether they exist, who may write them, and symlinks leading out of media.`,
      fix: `Check by hand: ${byHand.join("; ")}. Then run the check again (a media tree on a slow mount can take more than ${PROBE_TIMEOUT / 1000} s).`,
    };
  }
}

function mediaNotWritable(
  s: DeployStorage,
  r: AccessResult,
  who: string,
  user: UserIds | undefined,
): Finding {
  return {
    id: "media-not-writable",
    severity: "error",
    storage: s.name,
    message: r.notFolder
      ? `${r.path} is not a folder: uploads will fail.`
      : r.exists
        ? `${who} cannot create files in ${r.path} (${r.refusedWith ?? "refused"}): uploads will fail.`
        : r.unreachable
          ? `${who} cannot reach ${r.path} (${r.unreachable}: a parent folder it may not enter): uploads will fail.`
          : `${r.path} does not exist: uploads will fail until it is created (or land wherever the app creates it: is its volume mounted?).`,
    fix: r.unreachable
      ? `Let ${user?.name ?? "the app's user"} enter every parent of ${r.path} (chmod o+x, or a group it is in), or move the media folder.`
      : r.notFolder
        ? `Fix the media storage's path, or move that file away and create the folder: \`${createFolder(r.path, user)}\`.`
        : `Create the directory and give it to the app's user: \`${createFolder(r.path, user)}\`.`,
  };
}

/** The command that creates a media folder owned by the app's user (APP_USER: a placeholder to replace). */
function createFolder(path: string, user: UserIds | undefined): string {
  return `install -d -o ${user === undefined ? "APP_USER" : shellQuote(user.name)} ${shellQuote(path)}`;
}

function linksOutFindings(s: DeployStorage, r: AccessResult): Finding[] {
  const links = r.linksOut;
  if (links === undefined || links.count === 0) return [];
  return [
    {
      id: "media-symlink-out",
      severity: "error",
      storage: s.name,
      message: `${links.count}${links.truncated ? "+" : ""} symlink(s) in ${r.path} lead out of it, e.g. ${links.examples.join("; ")}: Caddy serves what they point at under the media URL (the app never reads through them, and \`storages nginx\` refuses them).`,
      fix: `Remove them (\`find ${shellQuote(r.path)} -type l\` lists them), and keep whatever unpacks uploads from creating links.`,
    },
  ];
}

function linksOutNotes(storages: readonly DeployStorage[], results: readonly AccessResult[]): string[] {
  return storages.flatMap((s, i) =>
    results[i]?.linksOut?.truncated
      ? [`symlinks in ${s.name}: only the first ${LINK_SCAN_ENTRIES} entries searched`]
      : [],
  );
}
