/**
 * The value parsers every configuration path shares: storage URLs' query parameters, config-file
 * entries and option objects passed from code. Each parser has one wording for its problem
 * ("must be true or false, not …"), so a bad `partSize` reads the same whether it came from
 * `STORAGES_MEDIA`, `storages.config.json` or `s3Storage({ … })`; only the subject differs.
 *
 * Sizes and durations are parsed here rather than with a library: the common ones disagree on
 * what "8MB" means (1000² or 1024²), and a part size off by 5% is a silent bug. Sizes take plain
 * bytes or IEC units (8MiB); durations take the documented unit or an explicit one (10m, 30s), in
 * any case but an upper-case M (10M: minutes or months?).
 */
import { ConfigError } from "../errors.js";
import { unsafeUrlProblem } from "../storage-options.js";
import type { SecretVariable, Visibility } from "../types.js";

// ---------------------------------------------------------------------------------------------
// Variable names

/**
 * The environment variable of a storage: `storageVariable("default")` is `STORAGES_DEFAULT` (its
 * URL), `storageVariable("media", "ACCESS_KEY_ID")` is `STORAGES_MEDIA_ACCESS_KEY_ID`. The one
 * place that builds these names, for core and every backend.
 */
export function storageVariable(storageName: string, suffix?: string): string {
  const base = `STORAGES_${storageName.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;
  return suffix === undefined ? base : `${base}_${suffix.toUpperCase()}`;
}

/**
 * A backend's `secretVariables()` from its table: each variable's suffix (`STORAGES_<NAME>_<SUFFIX>`)
 * and the option it fills.
 */
export function secretVariablesOf(
  table: readonly { suffix: string; option: string }[],
): (storageName: string) => SecretVariable[] {
  return (storageName) =>
    table.map((v) => ({ name: storageVariable(storageName, v.suffix), option: v.option }));
}

// ---------------------------------------------------------------------------------------------
// Problems

/** A problem phrase completes a sentence about the value: "must be true or false, not \"yes\"". */
type Result<T> = { ok: true; value: T } | { ok: false; problem: string };

const ok = <T>(value: T): Result<T> => ({ ok: true, value });
const bad = (problem: string): Result<never> => ({ ok: false, problem });

/** Ends a message with a full stop unless it has one. */
export function sentence(text: string): string {
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

function unwrap<T>(result: Result<T>, where: string): T {
  if (result.ok) return result.value;
  throw new ConfigError(sentence(`${where} ${result.problem}`));
}

/**
 * A driver option that is wrong. `option` names it ("partSize", "signing.key"); `problem` finishes
 * a sentence about it. The registry rewrites the subject into the variable or config key that holds
 * the value (`STORAGES_MEDIA (partSize=) must be …`); code that built the options sees
 * `S3 storage option partSize must be …`.
 */
export class OptionError extends ConfigError {
  readonly option: string;
  readonly problem: string;
  /** For an unknown option: the closest valid one, when there is one. */
  readonly suggestion: string | undefined;

  constructor(
    subject: string,
    option: string,
    problem: string,
    extra: { suggestion?: string | undefined; cause?: unknown } = {},
  ) {
    super(
      sentence(`${subject} option ${option} ${problem}`),
      extra.cause === undefined ? {} : { cause: extra.cause },
    );
    this.option = option;
    this.problem = problem;
    this.suggestion = extra.suggestion;
  }

  /** Works across two copies of core, like every StorageError check. */
  static isOptionError(error: unknown): error is OptionError {
    const e = error as Partial<OptionError> | undefined;
    return ConfigError.isInstance(error) && typeof e?.option === "string" && typeof e.problem === "string";
  }
}

// ---------------------------------------------------------------------------------------------
// Suggestions for misspelt names

export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = levenshtein(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

export function didYouMean(word: string, candidates: readonly string[]): string {
  const c = closest(word, candidates);
  return c ? ` (did you mean \`${c}\`?)` : "";
}

// ---------------------------------------------------------------------------------------------
// Value checks (the shared wording)

/** Short description of a bad value for messages; strings are shown only when short and harmless. */
export function describeValue(value: unknown): string {
  if (typeof value === "string") {
    return value.length <= 40 && /^[\w .:/@+-]*$/.test(value) ? JSON.stringify(value) : "the given string";
  }
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
}

export interface Range {
  min?: number | undefined;
  max?: number | undefined;
}

function checkBoolean(value: unknown): Result<boolean> {
  if (value === true || value === "true" || value === "1") return ok(true);
  if (value === false || value === "false" || value === "0") return ok(false);
  return bad(`must be true or false, not ${describeValue(value)}`);
}

function inRange(n: number, range: Range, show: (n: number) => string, what: string): Result<number> {
  const { min, max } = range;
  if ((min !== undefined && n < min) || (max !== undefined && n > max)) {
    const span =
      min !== undefined && max !== undefined
        ? `${what} from ${show(min)} to ${show(max)}`
        : min !== undefined
          ? `at least ${show(min)}`
          : `at most ${show(max!)}`;
    return bad(`must be ${span}, not ${show(n)}`);
  }
  return ok(n);
}

function checkInteger(value: unknown, range: Range, unit: string): Result<number> {
  const n = typeof value === "string" && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
  const what = unit === "" ? "a whole number" : `a whole number of ${unit}`;
  if (typeof n !== "number" || !Number.isSafeInteger(n))
    return bad(`must be ${what}, not ${describeValue(value)}`);
  return inRange(n, range, String, what);
}

/** A size in bytes: a number, or a string with an IEC unit ("8MiB", "512KiB", "1GiB"). */
export type ByteSize = number | string;

const SIZE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

/** "8 MiB", "4000 MiB", "262144 bytes": the largest IEC unit that divides the size exactly. */
export function formatSize(bytes: number): string {
  for (const [unit, factor] of [
    ["TiB", 1024 ** 4],
    ["GiB", 1024 ** 3],
    ["MiB", 1024 ** 2],
    ["KiB", 1024],
  ] as const) {
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor} ${unit}`;
  }
  return bytes === 1 ? "1 byte" : `${bytes} bytes`;
}

const SIZE_HINT = 'a number of bytes, or a size such as "8MiB"';

function checkSize(value: unknown, range: Range): Result<number> {
  let bytes: number | undefined;
  if (typeof value === "number") bytes = value;
  else if (typeof value === "string") {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
    if (m) {
      const unit = (m[2] ?? "").toLowerCase();
      const factor = unit === "" ? 1 : SIZE_UNITS[unit];
      if (factor === undefined) {
        // 8MB or 8M could mean 8,000,000 or 8,388,608 bytes: say which to write instead of guessing.
        return bad(
          `must be ${SIZE_HINT}: "${m[2]}" is not a unit here (use B, KiB, MiB, GiB or TiB, e.g. "${m[1]}MiB")`,
        );
      }
      bytes = Number(m[1]) * factor;
    }
  }
  if (bytes === undefined || !Number.isSafeInteger(bytes) || bytes < 0) {
    return bad(`must be ${SIZE_HINT}, not ${describeValue(value)}`);
  }
  return inRange(bytes, range, formatSize, "a size");
}

export type DurationUnit = "ms" | "s";

const DURATION_UNITS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const UNIT_WORD: Record<DurationUnit, string> = { ms: "milliseconds", s: "seconds" };

function checkDuration(value: unknown, unit: DurationUnit, range: Range): Result<number> {
  const word = UNIT_WORD[unit];
  const hint = `a number of ${word}, or a duration such as "30s", "10m" or "1h"`;
  let ms: number | undefined;
  if (typeof value === "number") ms = value * DURATION_UNITS[unit]!;
  else if (typeof value === "string") {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
    if (m) {
      const given = m[2] ?? "";
      const lower = given.toLowerCase();
      // "10M" reads as ten months as readily as ten minutes (and "5MS" as megaseconds): say which
      // to write instead of guessing, as sizes do for "8M". Other units are unambiguous in any case.
      if (given.includes("M") && (lower === "m" || lower === "ms")) {
        const [meant, other] = lower === "m" ? ["minutes", "months"] : ["milliseconds", "megaseconds"];
        return bad(
          `must be ${hint}: "${given}" is ambiguous (${meant} or ${other}?); write "${m[1]}${lower}" for ${meant}`,
        );
      }
      const factor = given === "" ? DURATION_UNITS[unit] : DURATION_UNITS[lower];
      if (factor === undefined) return bad(`must be ${hint}: "${given}" is not a unit (ms, s, m, h, d)`);
      ms = Number(m[1]) * factor;
    }
  }
  const amount = ms === undefined ? Number.NaN : ms / DURATION_UNITS[unit]!;
  if (!Number.isSafeInteger(amount) || amount <= 0) {
    return bad(`must be ${hint} (whole ${word}, above 0), not ${describeValue(value)}`);
  }
  return inRange(amount, range, (n) => `${n} ${word}`, "a duration");
}

function checkOneOf<T extends string>(value: unknown, allowed: readonly T[]): Result<T> {
  if (typeof value === "string" && (allowed as readonly string[]).includes(value)) return ok(value as T);
  const hint = typeof value === "string" ? didYouMean(value, allowed) : "";
  return bad(
    `must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}, not ${describeValue(value)}${hint}`,
  );
}

function checkString(value: unknown): Result<string> {
  if (typeof value === "string" && value.trim() !== "") return ok(value);
  return bad(`must be a non-empty string, not ${describeValue(value)}`);
}

/** A service endpoint: http(s), no credentials, no query or fragment. Returned without trailing slash. */
function checkHttpUrl(value: unknown, example: string): Result<string> {
  if (typeof value === "string") {
    let url: URL | undefined;
    try {
      url = new URL(value);
    } catch {
      return bad(`must be a URL with its scheme, e.g. "${example}", not ${describeValue(value)}`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      return bad(`must be an http:// or https:// URL, e.g. "${example}", not ${url.protocol}//…`);
    }
    if (url.username !== "" || url.password !== "") {
      return bad(
        "must not contain credentials (user:password@): secrets go in their own variables or options",
      );
    }
    if (url.search !== "" || url.hash !== "") {
      return bad(`must not have a query string or fragment, e.g. "${example}"`);
    }
    return ok(url.href.replace(/\/+$/, ""));
  }
  return bad(`must be a URL string such as "${example}", not ${describeValue(value)}`);
}

/** A public base is either absolute http(s) or a root-relative path (`/media/`, served by the app's proxy). */
function checkPublicUrl(value: unknown): Result<string> {
  if (typeof value === "string") {
    const unsafe = unsafeUrlProblem(value);
    if (unsafe !== undefined) return bad(unsafe);
    if (value.startsWith("/") && !value.startsWith("//")) return ok(value);
    try {
      const u = new URL(value);
      if ((u.protocol === "https:" || u.protocol === "http:") && u.username === "" && u.password === "")
        return ok(value);
    } catch {
      // fall through to the problem below
    }
  }
  return bad(
    "must be an http(s) URL without credentials (https://cdn.example.com/media/) or a path starting with / (/media/)",
  );
}

// ---------------------------------------------------------------------------------------------
// Parsers: `where` is the subject of the message (`STORAGES_MEDIA (partSize=)`)

export function parseBoolean(value: unknown, where: string): boolean {
  return unwrap(checkBoolean(value), where);
}

export function parseInteger(value: unknown, where: string, range: Range = {}, unit = ""): number {
  return unwrap(checkInteger(value, range, unit), where);
}

/** A whole number above 0, in `unit` ("seconds, e.g. expiresIn=600"). */
export function parsePositiveInt(value: unknown, where: string, unit: string): number {
  return unwrap(checkInteger(value, { min: 1 }, unit), where);
}

/** Bytes: a number, or "8MiB" / "512KiB" / "1GiB". */
export function parseSize(value: unknown, where: string, range: Range = {}): number {
  return unwrap(checkSize(value, range), where);
}

/** A duration in `unit`: a number of that unit, or "30s" / "10m" / "1h" / "500ms". */
export function parseDuration(value: unknown, where: string, unit: DurationUnit, range: Range = {}): number {
  return unwrap(checkDuration(value, unit, range), where);
}

export function parseOneOf<T extends string>(value: unknown, where: string, allowed: readonly T[]): T {
  return unwrap(checkOneOf(value, allowed), where);
}

export function parseString(value: unknown, where: string): string {
  return unwrap(checkString(value), where);
}

export function parseHttpUrl(value: unknown, where: string, example = "https://storage.example.com"): string {
  return unwrap(checkHttpUrl(value, example), where);
}

export function parseVisibility(value: unknown, where: string): Visibility {
  if (value === "public" || value === "private") return value;
  throw new ConfigError(`${where} must be "public" or "private", not ${describeValue(value)}.`);
}

export function parsePublicUrl(value: unknown, where: string): string {
  return unwrap(checkPublicUrl(value), where);
}

/**
 * Query-parameter parsers for `BackendDefinition.urlParams`: each turns the parameter's text into
 * the option's value, with the shared wording. Ranges are checked by the backend's `validate`, so
 * a value has one rule whether it came from a URL or from code.
 */
export const urlParam = {
  string: (value: string, where: string): string => parseString(value, where),
  boolean: (value: string, where: string): boolean => parseBoolean(value, where),
  integer: (value: string, where: string): number => parseInteger(value, where),
  size: (value: string, where: string): number => parseSize(value, where),
  seconds: (value: string, where: string): number => parseDuration(value, where, "s"),
  milliseconds: (value: string, where: string): number => parseDuration(value, where, "ms"),
  httpUrl: (value: string, where: string): string => parseHttpUrl(value, where),
  oneOf:
    <T extends string>(allowed: readonly T[]) =>
    (value: string, where: string): T =>
      parseOneOf(value, where, allowed),
} as const;

// ---------------------------------------------------------------------------------------------
// Option objects from code

/**
 * Validates a driver's option object with the shared wording; every failure is an OptionError
 * naming the option. `subject` starts messages for code ("S3 storage" → "S3 storage option
 * partSize must be …").
 */
export class OptionChecker {
  constructor(readonly subject: string) {}

  fail(option: string, problem: string, extra: { suggestion?: string; cause?: unknown } = {}): never {
    throw new OptionError(this.subject, option, problem, extra);
  }

  #check<T>(option: string, result: Result<T>): T {
    if (result.ok) return result.value;
    return this.fail(option, result.problem);
  }

  /** An object of options, every key among `allowed`; a misspelt key names the closest valid one. */
  keys(options: unknown, allowed: readonly string[], example: string): Record<string, unknown> {
    if (typeof options !== "object" || options === null || Array.isArray(options)) {
      throw new ConfigError(`${this.subject}: options must be an object, e.g. ${example}.`);
    }
    for (const key of Object.keys(options)) {
      if (allowed.includes(key)) continue;
      const suggestion = closest(key, allowed);
      this.fail(
        key,
        `is not an option${suggestion ? ` (did you mean \`${suggestion}\`?)` : ""}; the options are ${allowed.join(", ")}`,
        suggestion ? { suggestion } : {},
      );
    }
    return options as Record<string, unknown>;
  }

  boolean(option: string, value: unknown): boolean | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== "boolean" && typeof value !== "string") {
      return this.fail(option, `must be true or false, not ${describeValue(value)}`);
    }
    return this.#check(option, checkBoolean(value));
  }

  integer(option: string, value: unknown, range: Range = {}, unit = ""): number | undefined {
    if (value === undefined) return undefined;
    return this.#check(option, checkInteger(value, range, unit));
  }

  size(option: string, value: unknown, range: Range = {}): number | undefined {
    if (value === undefined) return undefined;
    return this.#check(option, checkSize(value, range));
  }

  duration(option: string, value: unknown, unit: DurationUnit, range: Range = {}): number | undefined {
    if (value === undefined) return undefined;
    return this.#check(option, checkDuration(value, unit, range));
  }

  oneOf<T extends string>(option: string, value: unknown, allowed: readonly T[]): T | undefined {
    if (value === undefined) return undefined;
    return this.#check(option, checkOneOf(value, allowed));
  }

  string(option: string, value: unknown): string | undefined {
    if (value === undefined) return undefined;
    return this.#check(option, checkString(value));
  }

  httpUrl(option: string, value: unknown, example = "https://storage.example.com"): string | undefined {
    if (value === undefined) return undefined;
    return this.#check(option, checkHttpUrl(value, example));
  }

  visibility(option: string, value: unknown): Visibility | undefined {
    if (value === undefined) return undefined;
    if (value === "public" || value === "private") return value;
    return this.fail(option, `must be "public" or "private", not ${describeValue(value)}`);
  }
}
