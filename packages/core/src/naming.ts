/**
 * File names with Django's semantics: clean a user-supplied file name, place it with an
 * `uploadTo` template, and make collision-safe alternatives ("avatar.jpg" → "avatar_k3Jd9aQ.jpg").
 *
 * Alternatives are only candidates: whether a name is free is decided atomically by the backend
 * (create-exclusive write), never by checking first.
 */
import { randomInt } from "node:crypto";
import { AlreadyExistsError, InvalidArgumentError, InvalidPathError } from "./errors.js";
import { basename, dirname, MAX_NAME_BYTES, MAX_SEGMENT_BYTES, normalizeName } from "./path.js";

const ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/** Django uses 7 characters: 62^7 ≈ 3.5e12 candidates, so a random collision is not a concern. */
export const RANDOM_SUFFIX_LENGTH = 7;

export function randomSuffix(length = RANDOM_SUFFIX_LENGTH): string {
  let out = "";
  for (let i = 0; i < length; i++) out += ALPHABET[randomInt(ALPHABET.length)];
  return out;
}

/** Splits "dir/name.tar.gz" into root "dir/name.tar" and extension ".gz" (dot files have no extension). */
export function splitExtension(name: string): { root: string; ext: string } {
  const base = basename(name);
  const dot = base.lastIndexOf(".");
  if (dot <= 0) return { root: name, ext: "" };
  return { root: name.slice(0, name.length - (base.length - dot)), ext: base.slice(dot) };
}

/**
 * Like Django's `get_valid_name`: keeps letters, digits, "-", "_" and "." (any script), turns spaces
 * into underscores, drops everything else — and, unlike it, leading dots: a name a user sent never
 * makes a hidden file (`.htaccess` → `htaccess`), which listings hide, servers that deny dot files
 * refuse to serve, and some servers give a meaning. For names that come from users (an upload's
 * filename); `save()` itself never rewrites names.
 */
export function getValidName(name: string): string {
  const cleaned = String(name)
    .trim()
    .replace(/\s+/g, "_")
    .replace(/[^-\p{L}\p{N}\p{M}_.]/gu, "")
    .replace(/^\.+/, "");
  if (cleaned === "") {
    throw new InvalidPathError(
      `Could not derive a valid file name from ${JSON.stringify(String(name).slice(0, 120))}.`,
      {
        path: String(name).slice(0, 120),
      },
    );
  }
  return cleaned;
}

function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let out = "";
  for (const char of text) {
    if (Buffer.byteLength(out + char) > maxBytes) break;
    out += char;
  }
  return out;
}

/**
 * Shortens a name so its last segment fits in `maxSegmentBytes` and the whole name in
 * `maxNameBytes`, cutting the file's root and keeping its extension.
 */
export function shortenName(
  name: string,
  { maxSegmentBytes = MAX_SEGMENT_BYTES, maxNameBytes = MAX_NAME_BYTES, reserve = 0 } = {},
): string {
  const dir = dirname(name);
  const { root, ext } = splitExtension(basename(name));
  const budget =
    Math.min(maxSegmentBytes, maxNameBytes - Buffer.byteLength(dir)) - Buffer.byteLength(ext) - reserve;
  if (Buffer.byteLength(root) <= budget) return name;
  if (budget < 1) {
    throw new InvalidPathError(
      `Cannot shorten ${JSON.stringify(name.slice(0, 120))}: its directory and extension alone exceed the name length limit.`,
      { path: name.slice(0, 120) },
    );
  }
  return `${dir}${truncateUtf8(root, budget)}${ext}`;
}

/**
 * A candidate for a taken name: "dir/avatar.jpg" → "dir/avatar_k3Jd9aQ.jpg", shortened when the
 * suffix would push it over the length limits. `suffix` (default random) is for a name that must
 * come out the same each time it is derived.
 */
export function alternativeName(name: string, suffix: string = randomSuffix()): string {
  suffix = `_${suffix}`;
  const fitted = shortenName(name, { reserve: Buffer.byteLength(suffix) });
  const { root, ext } = splitExtension(fitted);
  return `${root}${suffix}${ext}`;
}

/**
 * How many names one create-exclusive save tries (the requested one included) before it gives up:
 * the one budget shared by the facade, the decorators and every driver.
 */
export const MAX_NAME_ATTEMPTS = 10;

/**
 * The names a create-exclusive save may take: the requested one first, then fresh alternatives.
 * One instance per save, shared by the facade (which retries a replayable body) and the driver
 * (which may retry a commit itself through `nextKey`), so the attempt budget is counted once.
 */
export class NameCandidates {
  #used = 1;

  constructor(readonly requested: string) {}

  /** A fresh alternative; AlreadyExistsError (retryable) once the budget is spent. */
  next(cause?: unknown): string {
    if (this.#used >= MAX_NAME_ATTEMPTS) {
      throw new AlreadyExistsError(
        `No free name found for "${this.requested}" after ${this.#used} attempts: concurrent writers keep taking them. Retry the save.`,
        { cause, retryable: true, path: this.requested },
      );
    }
    this.#used++;
    return alternativeName(this.requested);
  }
}

export type UploadTo = string | ((filename: string) => string);

function strftime(template: string, date: Date): string {
  const pad = (n: number, width = 2) => String(n).padStart(width, "0");
  return template.replace(/%([YmdHMS%])/g, (_m, c: string) => {
    switch (c) {
      case "Y":
        return pad(date.getUTCFullYear(), 4);
      case "m":
        return pad(date.getUTCMonth() + 1);
      case "d":
        return pad(date.getUTCDate());
      case "H":
        return pad(date.getUTCHours());
      case "M":
        return pad(date.getUTCMinutes());
      case "S":
        return pad(date.getUTCSeconds());
      default:
        return "%";
    }
  });
}

export interface GenerateFilenameOptions {
  /**
   * Where uploads go: a directory template with strftime codes (%Y %m %d %H %M %S, in UTC), e.g.
   * "avatars/%Y/%m/", or a function of the cleaned file name returning the full name.
   */
  uploadTo?: UploadTo | undefined;
  /** The clock for templates (tests). */
  now?: Date | undefined;
}

/**
 * Turns an untrusted file name (an upload's `filename`) into a safe storage name: only its last
 * path component is kept (so "../../etc/passwd" becomes "passwd"), it is cleaned with
 * getValidName, placed with `uploadTo`, shortened to the limits, and validated.
 */
export function generateFilename(filename: string, options: GenerateFilenameOptions = {}): string {
  if (typeof filename !== "string") {
    throw new InvalidArgumentError(`generateFilename expects a string file name, got ${typeof filename}.`);
  }
  const lastComponent = filename.split(/[\\/]/).pop() ?? "";
  const clean = getValidName(lastComponent);
  const { uploadTo } = options;
  let name: string;
  if (typeof uploadTo === "function") {
    name = uploadTo(clean);
  } else if (typeof uploadTo === "string" && uploadTo !== "") {
    const dir = strftime(uploadTo, options.now ?? new Date());
    name = `${dir.endsWith("/") ? dir : `${dir}/`}${clean}`;
  } else {
    name = clean;
  }
  return normalizeName(shortenName(name));
}
