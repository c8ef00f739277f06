/**
 * Option values shared by several commands, parsed with core's own parsers (the ones the storage
 * configuration uses), so `--expires 10m` means what `expiresIn=10m` means in a storage URL.
 * A bad value is a UsageError (exit 2) that says what to write.
 */
import {
  MAX_SIGNED_URL_EXPIRES_IN,
  parseDuration,
  parseSize,
  parseVisibility,
  type Visibility,
} from "@storages/core";
import type { LinkPolicy } from "@storages/fs";
import { type Command, InvalidArgumentError } from "commander";
import { UsageError } from "../errors.js";

function usage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Seconds, from `600`, `10m`, `1h`, `7d`. */
export function expiresOption(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  return usage(() => parseDuration(value, "--expires", "s", { max: MAX_SIGNED_URL_EXPIRES_IN }));
}

/**
 * A commander argument parser: milliseconds, from `0` (do not wait), `90` or `90s`, `10m` (at most
 * a day: a deploy waiting longer is stuck).
 */
export function lockWaitOption(value: string): number {
  if (/^\s*0+\s*(ms|s|m|h|d)?\s*$/i.test(value)) return 0; // 0, 0s, 0m: do not wait
  try {
    return parseDuration(value, "the value", "s", { max: 86_400 }) * 1000;
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

/** Bytes, from `1048576`, `10MiB`; `range` bounds it (`{ min: 1 }`). */
export function sizeOption(
  value: string | undefined,
  flag: string,
  range: { min?: number; max?: number } = {},
): number | undefined {
  if (value === undefined) return undefined;
  return usage(() => parseSize(value, flag, range));
}

// RFC 9110 §8.3.1: type "/" subtype *( OWS ";" OWS parameter ), parameter = token "=" ( token /
// quoted-string ). Nothing else: no control character can reach a header or a signature.
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const QUOTED = '"(?:[\\t !#-\\[\\]-~]|\\\\[\\t -~])*"';
const MEDIA_TYPE = new RegExp(`^${TOKEN}/${TOKEN}(?:[ \\t]*;[ \\t]*${TOKEN}=(?:${TOKEN}|${QUOTED}))*$`);
const MEDIA_TYPE_HINT =
  "give a MIME type, type/subtype with optional parameters (image/png, text/plain; charset=utf-8)";

/** A value shown back in a message: quoted, control characters escaped, long ones cut. */
function shown(value: string): string {
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
}

/**
 * A Content-Type the client must send (`--content-type`): a MIME type with optional parameters. It
 * is signed into the URL and printed as a header, so a line break (a second header folded in), a
 * word that is no type, or an empty value is refused rather than signed.
 */
export function contentTypeOption(value: string | undefined, flag = "--content-type"): string | undefined {
  if (value === undefined) return undefined;
  if (value.trim() === "") {
    throw new UsageError(`${flag} is empty: ${MEDIA_TYPE_HINT}, or leave ${flag} out.`);
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused.
  if (/[\u0000-\u001f\u007f]/.test(value)) {
    throw new UsageError(
      `${flag} ${shown(value)} contains a control character (a line break?): ${MEDIA_TYPE_HINT}; one value, not headers.`,
    );
  }
  if (!MEDIA_TYPE.test(value.trim())) {
    throw new UsageError(`${flag} ${shown(value)} is not a MIME type: ${MEDIA_TYPE_HINT}.`);
  }
  return value.trim();
}

export function visibilityOption(value: string | undefined): Visibility | undefined {
  if (value === undefined) return undefined;
  return usage(() => parseVisibility(value, "--visibility"));
}

/** `--metadata key=value`, repeatable. */
export function metadataOption(values: readonly string[] | undefined): Record<string, string> | undefined {
  if (!values || values.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const pair of values) {
    const eq = pair.indexOf("=");
    if (eq <= 0)
      throw new UsageError(`--metadata takes KEY=VALUE (e.g. --metadata owner=ops), got "${pair}".`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/**
 * A count or a number of milliseconds from `min` to `max`, or undefined: digits only, since `1e3`,
 * `0x10`, ` 5 `, `1.0` and an empty value are not what anyone types for a count (Number() takes
 * them all, the empty one as 0). The one rule of every whole-number option; callers word the error.
 */
export function wholeNumber(value: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (!/^\d+$/.test(value)) return undefined;
  const n = Number(value);
  return n >= min && n <= max ? n : undefined;
}

/** A commander argument parser (commander reports its error as a usage error). */
export function positiveInteger(value: string): number {
  const n = wholeNumber(value, 1);
  if (n === undefined) throw new InvalidArgumentError("a whole number above 0 is needed (digits only).");
  return n;
}

/**
 * The most files or requests a command runs at once (what @storages/migrate allows for copy and
 * sync): each one holds open files and sockets, and far more fail with EMFILE, not faster.
 */
export const MAX_CONCURRENCY = 1024;

/** A commander argument parser for `--concurrency`: 1 to MAX_CONCURRENCY. */
export function concurrencyOption(value: string): number {
  const n = wholeNumber(value, 1, MAX_CONCURRENCY);
  if (n === undefined)
    throw new InvalidArgumentError(
      `a whole number from 1 to ${MAX_CONCURRENCY} is needed (digits only): more at once runs out of open files.`,
    );
  return n;
}

/** A commander argument parser for a count that may be 0. */
export function nonNegativeInteger(value: string): number {
  const n = wholeNumber(value, 0);
  if (n === undefined) throw new InvalidArgumentError("a whole number (0 or more) is needed (digits only).");
  return n;
}

/**
 * `--skip-links`, of every command that reads a local folder whole (copy, sync, verify; put, get
 * and ls with -r). A local folder's link to a folder (`uploads -> /mnt/disk2/uploads`), out of it
 * or to nothing is not listed: left out, its files would be neither copied nor compared, and the
 * command would report success (a deploy's `put -r ./build/` missing a linked folder without a
 * word). So such a link fails the command, naming it, unless --skip-links leaves links out.
 */
export function skipLinksOption(command: Command, what = "the command"): Command {
  return command.option(
    "--skip-links",
    `leave out symbolic links a local folder's listing does not follow (default: they fail ${what})`,
  );
}

/** How the command opens a local folder (ResolveOptions.links): "refuse" unless --skip-links. */
export function linkPolicy(options: { skipLinks?: boolean | undefined }): LinkPolicy {
  return options.skipLinks ? "skip" : "refuse";
}
