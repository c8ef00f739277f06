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
import { InvalidArgumentError } from "commander";
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

/** Bytes, from `1048576`, `10MiB`, `5MB`. */
export function sizeOption(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  return usage(() => parseSize(value, flag));
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

/** A commander argument parser (commander reports its error as a usage error). */
export function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError("a whole number above 0 is needed.");
  return n;
}
