/**
 * The fs driver's options and their validation: one function the driver's constructor, the
 * backend's `validate` (run by `load()`) and `fsStorage()` share, so a bad value reads the same
 * everywhere and is caught before the first call. Validation touches nothing on disk.
 */
import { isAbsolute, resolve } from "node:path";
import { type BackendDescription, OptionChecker, unsafeUrlProblem, type Visibility } from "@storages/core";
import { checkSigningKey } from "./signer.js";

export interface FsSigningOptions {
  /** HMAC key, at least 32 bytes (strings are taken as UTF-8). Keep it out of source control. */
  key: string | Uint8Array;
  /**
   * Where `createFsHandler` is mounted, e.g. "/private-media/" or "https://app.example.com/files/".
   * Defaults to `baseUrl`.
   */
  baseUrl?: string | undefined;
}

/**
 * When a save is on disk for good: "full" (the default) syncs the file, its record and its folder
 * before the save returns, so a power cut after it loses nothing; "batch" syncs nothing per save and
 * everything saved since at `flush()` (and `close()`): for rebuildable files (collectstatic output)
 * written by the thousand. A save is atomic either way while the system runs; after a crash before
 * the flush, files saved since the last one may be missing, empty or older.
 */
export type Durability = "full" | "batch";

export const DURABILITIES: readonly Durability[] = ["full", "batch"];

/**
 * What a listing does with a symbolic link it does not follow — one to a folder (never followed:
 * no cycles), one that leads out of the root (never read through), one that points nowhere:
 * "skip" (the default) leaves it out, as an app's storage should; "refuse" fails the listing with
 * E_UNSUPPORTED naming the link and where it points, for a migration or a backup, where a folder
 * left out in silence is data lost (`media/uploads -> /mnt/disk2/uploads`). A link to a file inside
 * the root is listed either way.
 */
export type LinkPolicy = "skip" | "refuse";

export const LINK_POLICIES: readonly LinkPolicy[] = ["skip", "refuse"];

export interface FsDriverOptions {
  /** Absolute directory holding the files; created (with `directoryMode`) when missing. */
  root: string;
  /** URL prefix the files are served under: "/media/" or "https://cdn.example.com/media/". */
  baseUrl?: string | undefined;
  /** Enables signed URLs and signed uploads, verified by `createFsHandler`. */
  signing?: FsSigningOptions | undefined;
  /** Permission bits of stored files (default 0o644), applied exactly (not filtered by the umask). */
  fileMode?: number | undefined;
  /** Permission bits of directories the driver creates (default 0o755). */
  directoryMode?: number | undefined;
  /** Default: "public" when `baseUrl` is set, else "private" (the visibility rule of every storage). */
  defaultVisibility?: Visibility | undefined;
  /** "full" (default: every save synced) or "batch" (synced at flush()/close(); rebuildable files only). */
  durability?: Durability | undefined;
  /**
   * true (default): each file's MD5, content type and custom metadata are kept in a record beside
   * it. false: a plain folder, as a tool writing into a user's own directory needs — nothing but
   * the files is written, so no checksum, content type or metadata is kept (metadata: unsupported).
   */
  records?: boolean | undefined;
  /**
   * false (default): `createFsHandler` serves files a browser would run (HTML, XHTML, SVG, XML,
   * scripts: core's `isActiveContentType`) as attachments under `Content-Security-Policy: sandbox`,
   * so an uploaded page or SVG never runs as the app's origin. true: serve them inline as stored —
   * only for a storage whose every file the app itself wrote (never user uploads).
   */
  inlineActiveContent?: boolean | undefined;
  /** "skip" (default: links a listing does not follow are left out) or "refuse" (they fail it). */
  links?: LinkPolicy | undefined;
}

export const DRIVER_OPTION_KEYS = [
  "root",
  "baseUrl",
  "signing",
  "fileMode",
  "directoryMode",
  "defaultVisibility",
  "durability",
  "records",
  "inlineActiveContent",
  "links",
] as const satisfies readonly (keyof FsDriverOptions)[];

export interface ResolvedFsOptions {
  root: string;
  baseUrl: string | undefined;
  signingKey: Buffer | undefined;
  /** Where signed URLs point (signing.baseUrl, else baseUrl). */
  signingBaseUrl: string | undefined;
  fileMode: number;
  directoryMode: number;
  defaultVisibility: Visibility;
  durability: Durability;
  records: boolean;
  inlineActiveContent: boolean;
  links: LinkPolicy;
}

const check: OptionChecker = new OptionChecker("fs storage");

/** "/media" → "/media/"; absolute http(s) URLs without a query. */
export function checkBaseUrl(value: unknown, option: string): string | undefined {
  if (value === undefined || value === "") return undefined;
  const example = '"/media/" or "https://cdn.example.com/media/"';
  if (typeof value !== "string") return check.fail(option, `must be a string such as ${example}`);
  const unsafe = unsafeUrlProblem(value);
  if (unsafe !== undefined) check.fail(option, unsafe);
  if (!(value.startsWith("/") && !value.startsWith("//"))) {
    const parsed = URL.canParse(value)
      ? new URL(value)
      : check.fail(option, `must be a path starting with "/" or an http(s) URL, e.g. ${example}`);
    if ((parsed.protocol !== "http:" && parsed.protocol !== "https:") || parsed.search || parsed.hash) {
      check.fail(option, `must be an http(s) URL without a query string, e.g. ${example}`);
    }
  }
  return value.endsWith("/") ? value : `${value}/`;
}

function checkMode(value: unknown, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > 0o7777) {
    check.fail(option, `must be a permission number such as 0o644, not ${String(value)}`);
  }
  return value;
}

function signingKeyBytes(key: unknown): Buffer {
  const checked = checkSigningKey(key);
  return "problem" in checked ? check.fail("signing.key", checked.problem) : checked.bytes;
}

/** Validates every option (OptionError naming it) and resolves the defaults. */
export function resolveFsOptions(options: FsDriverOptions): ResolvedFsOptions {
  const o = check.keys(
    options,
    DRIVER_OPTION_KEYS,
    '{ root: "/var/lib/app/media" }',
  ) as Partial<FsDriverOptions>;
  if (typeof o.root !== "string" || o.root === "" || !isAbsolute(o.root)) {
    check.fail(
      "root",
      `must be an absolute directory path, not ${JSON.stringify(o.root)}: use path.resolve() on a relative one`,
    );
  }
  const baseUrl = checkBaseUrl(o.baseUrl, "baseUrl");
  let signingKey: Buffer | undefined;
  let signingBaseUrl: string | undefined;
  if (o.signing !== undefined) {
    if (typeof o.signing !== "object" || o.signing === null) {
      check.fail(
        "signing",
        'must be an object: { key, baseUrl }, e.g. { key: process.env.MEDIA_KEY, baseUrl: "/media/" }',
      );
    }
    for (const key of Object.keys(o.signing)) {
      if (key !== "key" && key !== "baseUrl")
        check.fail(`signing.${key}`, "is not an option; signing takes key and baseUrl");
    }
    signingKey = signingKeyBytes(o.signing.key);
    signingBaseUrl = checkBaseUrl(o.signing.baseUrl, "signing.baseUrl") ?? baseUrl;
    if (signingBaseUrl === undefined) {
      check.fail(
        "signing",
        "needs a baseUrl (signing.baseUrl or baseUrl): the URL where createFsHandler is mounted",
      );
    }
  }
  return {
    root: resolve(o.root),
    baseUrl,
    signingKey,
    signingBaseUrl,
    fileMode: checkMode(o.fileMode, "fileMode", 0o644),
    directoryMode: checkMode(o.directoryMode, "directoryMode", 0o755),
    defaultVisibility:
      check.visibility("defaultVisibility", o.defaultVisibility) ?? (baseUrl ? "public" : "private"),
    durability: check.oneOf("durability", o.durability, DURABILITIES) ?? "full",
    records: check.boolean("records", o.records) ?? true,
    inlineActiveContent: check.boolean("inlineActiveContent", o.inlineActiveContent) ?? false,
    links: check.oneOf("links", o.links, LINK_POLICIES) ?? "skip",
  };
}

/** The secret-free account of an fs storage, for its backend's and its driver's `describe()`. */
export function describeFsOptions(o: ResolvedFsOptions): BackendDescription {
  const settings: Record<string, string | boolean> = {
    fileMode: `0o${o.fileMode.toString(8)}`,
    directoryMode: `0o${o.directoryMode.toString(8)}`,
    signedUrls: o.signingKey !== undefined,
    durability: o.durability,
    records: o.records,
    inlineActiveContent: o.inlineActiveContent,
    links: o.links,
  };
  if (o.signingBaseUrl !== undefined) settings.signingBaseUrl = o.signingBaseUrl;
  return { location: o.root, settings, publicUrl: o.baseUrl };
}
