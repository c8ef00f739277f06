/**
 * One publishing run at a time per target. Two collectstatic runs into one target (a retried CI job
 * beside the first, several replicas running it at boot) could otherwise prune each other's files:
 * run A reuses a hashed file of the release it read as current, run B finishes meanwhile and prunes
 * that release, and A then makes current a manifest that references a deleted file. Pruning is
 * only safe when the releases it reads cannot change under it.
 *
 * The lock is a lease kept in the target itself (`.storages/lock.json`), so it holds across
 * machines whatever the storage: it is created exclusively (the backends' If-None-Match,
 * ifGenerationMatch=0, a hard link), renewed while the run goes on, and deleted at the end. A run
 * that finds it waits (by default), then proceeds on what the holder published — the run after a
 * replica's is then the no-change one. A run that was killed leaves its lock behind; a waiting run
 * takes it over once it has watched it go unrenewed for a whole lease, judged by its own clock
 * (never by the timestamps inside, which come from another machine's clock).
 *
 * A no-change run and a dry run write nothing, so they take no lock: a no-change run still sends
 * only the manifest request.
 *
 * What it cannot promise: the storages offer no conditional overwrite or delete, so a renewal is a
 * read and then a write. A holder stalled for longer than two renewal periods between the two
 * could write its record back over a takeover it did not see, after the taking run's check; both
 * would then write until the taking run's next renewal finds the other's record and stops it (at
 * most a quarter of a lease). Every other interleaving leaves one run publishing.
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import {
  AlreadyExistsError,
  abortError,
  type CallOptions,
  NotFoundError,
  type Storage,
  StorageError,
  throwIfAborted,
  UnsupportedError,
} from "@storages/core";
import { RESERVED_FOLDER } from "./manifest.js";

/** Beside the release manifests: never published (a reserved name), never served (a dot folder). */
export const LOCK_NAME = `${RESERVED_FOLDER}lock.json`;

/** What the lock records about the run holding it (for the message of a run that finds it). */
export interface PublishLockHolder {
  host: string;
  pid: number;
  startedAt: string;
  renewedAt: string;
}

interface LockRecord extends PublishLockHolder {
  owner: string;
}

export interface PublishLockOptions {
  /** How long to wait for another run's lock, in ms; 0: fail at once. */
  waitMs: number;
  /** How long a lock stays valid without renewal, in ms: a killed run's lock is taken over after it. */
  leaseMs: number;
  /** Delete whatever lock is there first: the run that held it is known to be dead. */
  breakLock: boolean;
  signal?: AbortSignal | undefined;
  /** Called once when the lock is held by another run and this one starts waiting (at most `waitMs`). */
  onWait?: ((holder: PublishLockHolder | undefined, waitMs: number) => void) | undefined;
}

/** Another run holds the target's lock and did not release it in time. Code `E_ALREADY_EXISTS`, retryable. */
export class PublishLockedError extends AlreadyExistsError {}

export interface PublishLock {
  /** Aborts when the lock was lost (taken over by another run): the run must stop writing. */
  readonly signal: AbortSignal;
  /** Why `signal` aborted. */
  readonly lost: Error | undefined;
  /** Stops renewing and deletes the lock if it is still this run's. Never throws. */
  release(): Promise<void>;
}

/**
 * Takes the target's publishing lock, waiting for another run's as `options` say. Undefined when
 * the target cannot create files exclusively (some S3-compatible servers): no lock is possible there.
 */
export async function acquirePublishLock(
  target: Storage,
  options: PublishLockOptions,
): Promise<PublishLock | undefined> {
  const { signal } = options;
  const startedAt = new Date().toISOString();
  const record: LockRecord = {
    owner: randomUUID(),
    host: hostname(),
    pid: process.pid,
    startedAt,
    renewedAt: startedAt,
  };
  const deadline = performance.now() + options.waitMs;
  const poll = Math.max(10, Math.min(2000, options.leaseMs / 4));
  if (options.breakLock) await breakPublishLock(target, signal);
  let announced = false;
  let tookOver = false;
  for (;;) {
    if (signal) throwIfAborted(signal);
    let created: boolean;
    try {
      created = await tryCreate(target, record, signal);
    } catch (error) {
      if (UnsupportedError.isInstance(error)) return undefined;
      throw error;
    }
    if (created && tookOver) {
      // The run judged dead may only have been stalled: a renewal of its that read its own lock
      // just before the takeover writes it back. Two of its renewal periods later, the lock says
      // which run is alive; only that one goes on.
      tookOver = false;
      await sleep(options.leaseMs / 2, signal);
      if (parseRecord((await readLock(target, signal)) ?? "")?.owner === record.owner)
        return held(target, record, options);
    } else if (created) return held(target, record, options);
    // Held by another run: watch it until it is released, goes stale, or the wait is over.
    let seen: { text: string; since: number } | undefined;
    for (;;) {
      const text = await readLock(target, signal);
      if (text === undefined) break; // released: try again at once
      const now = performance.now();
      if (seen?.text !== text) seen = { text, since: now };
      else if (now - seen.since >= options.leaseMs) {
        // Not renewed for a whole lease by this run's own clock: the run holding it is gone.
        await deleteLock(target, signal);
        tookOver = true;
        break;
      }
      const holder = parseHolder(text);
      if (now >= deadline) throw lockedError(holder, options);
      if (!announced) {
        announced = true;
        options.onWait?.(holder, options.waitMs);
      }
      await sleep(Math.min(poll, Math.max(0, deadline - now)), signal);
    }
  }
}

/** True when this run created the lock; false when the name was taken. */
async function tryCreate(
  target: Storage,
  record: LockRecord,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  // Exclusive: LOCK_NAME or nothing, decided atomically by the backend.
  try {
    await target.save(LOCK_NAME, JSON.stringify(record), lockWrite("create", signal));
    return true;
  } catch (error) {
    if (StorageError.hasCode(error, "E_ALREADY_EXISTS")) return false;
    throw error;
  }
}

/** The lock's write: "create" only where no lock is, "renew" over this run's own. */
function lockWrite(mode: "create" | "renew", signal: AbortSignal | undefined) {
  const common = { contentType: "application/json", cacheControl: "no-store", signal };
  return mode === "create" ? { ...common, exclusive: true } : { ...common, overwrite: true };
}

function held(target: Storage, record: LockRecord, options: PublishLockOptions): PublishLock {
  const controller = new AbortController();
  let lost: Error | undefined;
  let renewing: Promise<void> | undefined;
  const renew = async () => {
    try {
      const text = await readLock(target, undefined);
      const current = text === undefined ? undefined : parseRecord(text);
      if (current?.owner !== record.owner) {
        lost = new PublishLockedError(
          `This run's lock on the target (${LOCK_NAME}) was taken over by another run (it went unrenewed for ${seconds(options.leaseMs)}: the process was stalled, or its storage unreachable). This run stopped; the other one publishes. Run again if that was not meant.`,
          { retryable: true },
        );
        clearInterval(timer);
        controller.abort(lost);
        return;
      }
      record.renewedAt = new Date().toISOString();
      await target.save(LOCK_NAME, JSON.stringify(record), lockWrite("renew", undefined));
    } catch {
      // A failed renewal is tried again at the next tick; a lease has several ticks.
    }
  };
  const timer = setInterval(() => {
    renewing ??= renew().finally(() => {
      renewing = undefined;
    });
  }, options.leaseMs / 4);
  timer.unref();
  return {
    signal: controller.signal,
    get lost() {
      return lost;
    },
    async release() {
      clearInterval(timer);
      await renewing;
      if (lost) return;
      try {
        const text = await readLock(target, undefined);
        if (text !== undefined && parseRecord(text)?.owner === record.owner) await target.delete(LOCK_NAME);
      } catch {
        // Left behind, the lock is taken over by the next run once it goes unrenewed for a lease.
      }
    },
  };
}

/**
 * The target's lock as another tool sees it (`storages check`): undefined when there is none, else
 * its holder (undefined when the record does not parse).
 */
export async function readPublishLock(
  target: Storage,
  options: CallOptions = {},
): Promise<{ holder: PublishLockHolder | undefined } | undefined> {
  const text = await readLock(target, options.signal, options.timeout);
  return text === undefined ? undefined : { holder: parseHolder(text) };
}

async function readLock(
  target: Storage,
  signal: AbortSignal | undefined,
  timeout?: number,
): Promise<string | undefined> {
  try {
    return await target.readText(LOCK_NAME, { signal, timeout });
  } catch (error) {
    if (NotFoundError.isInstance(error)) return undefined;
    throw error;
  }
}

/** Removes the target's lock, whoever holds it (`--break-lock`: the run that held it is dead). */
export const breakPublishLock = deleteLock;

async function deleteLock(target: Storage, signal: AbortSignal | undefined): Promise<void> {
  try {
    await target.delete(LOCK_NAME, { signal });
  } catch (error) {
    if (!NotFoundError.isInstance(error)) throw error;
  }
}

function parseRecord(text: string): LockRecord | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockRecord> | null;
    if (typeof value?.owner !== "string") return undefined;
    return {
      owner: value.owner,
      host: String(value.host ?? "?"),
      pid: Number(value.pid ?? 0),
      startedAt: String(value.startedAt ?? "?"),
      renewedAt: String(value.renewedAt ?? "?"),
    };
  } catch {
    return undefined;
  }
}

function parseHolder(text: string): PublishLockHolder | undefined {
  const record = parseRecord(text);
  if (!record) return undefined;
  const { owner: _owner, ...holder } = record;
  return holder;
}

/** The words for a lock held by `holder`: who, since when, and what to do. */
export function describeHolder(holder: PublishLockHolder | undefined): string {
  return holder
    ? `another collectstatic (pid ${holder.pid} on ${holder.host}, started ${holder.startedAt}, renewed ${holder.renewedAt})`
    : `another collectstatic (its lock ${LOCK_NAME} does not say which)`;
}

function lockedError(holder: PublishLockHolder | undefined, options: PublishLockOptions): PublishLockedError {
  const waited = options.waitMs > 0 ? `after waiting ${seconds(options.waitMs)}` : "(no wait asked)";
  return new PublishLockedError(
    `${describeHolder(holder)} is publishing to this target: nothing was written ${waited}. Run again when it is done (or wait longer: --lock-wait). If that run is dead, its lock is taken over once it goes unrenewed for ${seconds(options.leaseMs)}; --break-lock removes it now.`,
    { retryable: true },
  );
}

function seconds(ms: number): string {
  return ms >= 60_000 && ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 100) / 10} s`;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal as AbortSignal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
