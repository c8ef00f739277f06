/**
 * One rule for a storage's default visibility, applied by code construction (`fsStorage()`,
 * `s3Storage()`…), storage URLs and config entries, and local mode alike:
 *
 *   an explicit `visibility` always wins; otherwise a storage with a public base URL (`publicUrl`,
 *   `baseUrl`, or a driver's own base such as the fs `baseUrl`) is public; otherwise the driver's
 *   default (private for every bundled driver).
 *
 * A base URL says "files are served there"; a storage that is meant to be private behind a CDN
 * (signed cookies, an authenticating proxy) says `visibility: "private"`.
 */
import { STORAGE_OPTION_KEYS, Storage, type StorageOptions } from "../storage.js";
import type { Driver, Visibility } from "../types.js";
import { OptionChecker } from "./params.js";

/** The visibility the rule gives: undefined leaves it to the driver's default. */
export function implicitVisibility(settings: {
  visibility?: Visibility | undefined;
  publicUrl?: string | undefined;
}): Visibility | undefined {
  return settings.visibility ?? (settings.publicUrl !== undefined ? "public" : undefined);
}

// A StorageOptions field missing from STORAGE_OPTION_KEYS fails typechecking here, so the
// shortcuts never reject (or hand the driver) a facade option added later.
type UnlistedStorageOption = Exclude<keyof StorageOptions, (typeof STORAGE_OPTION_KEYS)[number]>;
const everyStorageOptionListed: [UnlistedStorageOption] extends [never] ? true : UnlistedStorageOption = true;
void everyStorageOptionListed;

export interface SplitOptions {
  driver: Record<string, unknown>;
  storage: StorageOptions;
}

/**
 * Splits the one options object of a shortcut (`s3Storage({ bucket, region, publicUrl })`) into
 * driver and facade options: a key that is neither is an OptionError naming the closest valid one
 * (`regoin` → `region`), never ignored. The visibility rule is applied, and a driver that keeps
 * visibility in the service (it lists `visibility` among its options) gets the same value.
 */
export function splitStorageOptions(
  options: object,
  driverKeys: readonly string[],
  subject: string,
  example: string,
): SplitOptions {
  const checker = new OptionChecker(subject);
  const all = checker.keys(options, [...new Set([...driverKeys, ...STORAGE_OPTION_KEYS])], example);
  const driver: Record<string, unknown> = {};
  const storage: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(all)) {
    if (value === undefined) continue;
    if ((STORAGE_OPTION_KEYS as readonly string[]).includes(key)) storage[key] = value;
    else driver[key] = value;
  }
  const visibility = implicitVisibility(storage as StorageOptions);
  if (visibility !== undefined) {
    storage.visibility = visibility;
    if (driverKeys.includes("visibility")) driver.visibility = visibility;
  }
  return { driver, storage: storage as StorageOptions };
}

/**
 * The body of every `xStorage()` shortcut: split the one options object (misspelt keys refused,
 * the visibility rule applied), build the driver from its part and a Storage around it.
 */
export function storageFromOptions<D extends object>(
  options: object,
  spec: { subject: string; driverKeys: readonly string[]; example: string; driver: (options: D) => Driver },
): Storage {
  const split = splitStorageOptions(options, spec.driverKeys, spec.subject, spec.example);
  return new Storage(spec.driver(split.driver as D), split.storage);
}
