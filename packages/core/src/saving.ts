/**
 * How a save reaches the driver once its name and options are checked: an overwriting save's
 * first attempt straight to the driver (retry state only when it fails), resends while the body
 * can be sent again, and for `overwrite: false` the name loop (a taken name is an answer, not a
 * fault) with the check that a resent body's lost answer is not taken for a collision; an
 * `exclusive` save is that path with a single name: a taken one ends it.
 *
 * Separate from the facade (storage.ts), whose save() keeps its checks and its call scope: this
 * is the most intricate path of the facade, and the one small files pay for on every call.
 */

import { checkHeaderOptions, checkMetadata } from "./argument-checks.js";
import { type BodySource, collectBytes, toBodySource } from "./body.js";
import { driverExists } from "./driver-fallbacks.js";
import { AlreadyExistsError, InvalidArgumentError, StorageError, UnsupportedError } from "./errors.js";
import { guessContentType } from "./headers.js";
import { NameCandidates } from "./naming.js";
import type { ResolvedRetry } from "./retry.js";
import { retrying } from "./retrying.js";
import type {
  BodyInput,
  Driver,
  DriverWriteOptions,
  DriverWriteResult,
  SaveOptions,
  SaveResult,
  Visibility,
} from "./types.js";

/** The work of one save() under its call scope: `key` is the checked name asked for. */
export async function writeSave(
  driver: Driver,
  key: string,
  body: BodyInput,
  options: SaveOptions,
  overwrite: boolean,
  visibility: Visibility,
  signal: AbortSignal,
  policy: ResolvedRetry,
): Promise<SaveResult> {
  checkMetadata(options.metadata, driver.capabilities);
  checkHeaderOptions(options);
  if (options.size !== undefined && !(Number.isSafeInteger(options.size) && options.size >= 0)) {
    throw new InvalidArgumentError(`size must be a non-negative integer, got ${options.size}.`);
  }
  const exclusive = options.exclusive === true;
  if (exclusive && options.overwrite === true) {
    throw new InvalidArgumentError(
      "exclusive: true stores only under a free name, overwrite: true replaces what is there: pass one of them.",
    );
  }
  if (!overwrite && !driver.capabilities.conditionalWrite) {
    throw new UnsupportedError(
      exclusive
        ? `The ${driver.backend} backend cannot create files exclusively, so exclusive: true cannot be guaranteed. Use a backend that can (storage.capabilities.conditionalWrite), or coordinate writers another way.`
        : `The ${driver.backend} backend cannot create files exclusively, so overwrite: false cannot be guaranteed. Pass overwrite: true, or generate unique names yourself.`,
    );
  }
  const source = toBodySource(body);
  // The names a save without overwrite may take: only `key` itself when it is exclusive.
  const names = overwrite || exclusive ? undefined : new NameCandidates(key);
  const base = {
    signal,
    contentType: options.contentType ?? guessContentType(key),
    cacheControl: options.cacheControl,
    contentDisposition: options.contentDisposition,
    contentEncoding: options.contentEncoding,
    metadata: options.metadata,
    visibility,
    size: options.size ?? source.size,
    bytes: source.bytes,
    ifNotExists: !overwrite,
    nextKey: names && (() => names.next()),
  };
  if (overwrite) {
    // Overwriting (bulk jobs, most uploads): the first attempt goes straight to the driver;
    // the retry state is set up only when it fails. Per-call cost is what small files pay.
    const started = Date.now();
    let result: DriverWriteResult;
    try {
      result = await send(driver, key, source, base);
    } catch (error) {
      result = await retrying(
        driver.backend,
        "save",
        key,
        signal,
        () => send(driver, key, source, base),
        () => source.canResend(),
        policy,
        { started, error },
      );
    }
    return { name: result.key, size: result.size, etag: result.etag, checksums: result.checksums };
  }
  let candidate = key;
  // A stream can be sent once: when the name is visibly taken, start from a fresh one (or, for an
  // exclusive save, stop) rather than upload it all for a refusal. (Only a hint: the write below
  // still decides atomically.)
  if (
    !source.replayable &&
    (await retrying(
      driver.backend,
      "save",
      key,
      signal,
      () => driverExists(driver, key, signal),
      true,
      policy,
    ))
  ) {
    if (!names) throw takenError(key);
    candidate = names.next();
  }
  let sent = 0;
  const writeOnce = async (target: string): Promise<SaveResult> => {
    // Resending without overwrite: the last attempt may have stored the file and lost only its
    // answer. If the name now holds exactly these bytes, that file is this save's.
    if (sent++ > 0 && source.bytes && (await holds(driver, target, source.bytes, signal))) {
      return { name: target, size: source.bytes.byteLength };
    }
    const result = await send(driver, target, source, base);
    return { name: result.key, size: result.size, etag: result.etag, checksums: result.checksums };
  };
  for (;;) {
    try {
      // A failed send is repeated while the body can be sent again (in memory, or a stream
      // the service refused before reading any of it).
      // A taken name is an answer, not a fault: it goes to the name loop below, never to a retry.
      return await retrying(
        driver.backend,
        "save",
        candidate,
        signal,
        () => writeOnce(candidate),
        (error) => error.code !== "E_ALREADY_EXISTS" && source.canResend(),
        policy,
      );
    } catch (error) {
      if (!StorageError.hasCode(error, "E_ALREADY_EXISTS")) throw error;
      if (!names) throw takenError(candidate, error);
      if (!source.replayable) {
        throw new AlreadyExistsError(
          `Another writer created "${candidate}" while this stream was being uploaded, and a stream cannot be sent twice. Retry the save: it will pick a new name.`,
          { cause: error, retryable: true, path: candidate },
        );
      }
      candidate = names.next(error);
    }
  }
}

/** What an exclusive save throws when its name is taken. */
function takenError(key: string, cause?: unknown): AlreadyExistsError {
  return new AlreadyExistsError(
    `"${key.slice(0, 200)}" already exists, and this save is exclusive (stores under exactly that name or not at all). Another writer holds the name: read or delete it, or save under another name.`,
    { cause, path: key },
  );
}

/** One write of a save's body: bytes in memory straight to the driver when it takes them. */
function send(
  driver: Driver,
  target: string,
  source: BodySource,
  options: DriverWriteOptions,
): Promise<DriverWriteResult> {
  return source.bytes && driver.writeBytes
    ? driver.writeBytes(target, source.bytes, options)
    : driver.write(target, source.stream(), options);
}

/** Whether `key` holds exactly `bytes` (checked by size, then by content). */
async function holds(driver: Driver, key: string, bytes: Uint8Array, signal: AbortSignal): Promise<boolean> {
  try {
    const stat = await driver.stat(key, { signal });
    if (stat.size !== bytes.byteLength) return false;
    const stored = await (driver.readBytes
      ? driver.readBytes(key, { signal })
      : collectBytes(await driver.read(key, { signal })));
    return (
      Buffer.compare(Buffer.from(stored), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) === 0
    );
  } catch {
    return false;
  }
}
