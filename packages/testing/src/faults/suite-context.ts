/**
 * What every group of `describeFaults` shares: the suite's options, the tally, the retries seen,
 * the proxy and main storage (set in beforeAll, so groups read `ctx.proxy` / `ctx.s` inside a
 * test, never while declaring it), and the helpers that make a fresh storage, run a call under a
 * fault and check that nothing was left behind. suite.ts builds it; each suite-*.ts group uses it.
 */
import type { Driver, RetryEvent, Storage, StorageOptions } from "@storages/core";
import type { Dialect, FaultProxy, FaultRule } from "./proxy.js";
import type { SoakOptions } from "./soak.js";
import type { Tally } from "./tally.js";

export const KiB = 1024;

export const MiB = 1024 * KiB;

export interface FaultSuiteOptions {
  /** Label of the driver, e.g. "s3". */
  name: string;
  /** What it runs against, e.g. "Ceph RGW 19.2". */
  server: string;
  dialect: Dialect;
  /** The real server's URL; the proxy forwards to it. */
  upstream: string;
  /** A driver whose service endpoint is `endpoint` (the proxy), rooted at `prefix` (fresh per call). */
  createDriver: (context: { endpoint: string; prefix: string }) => Driver | Promise<Driver>;
  /**
   * Unfinished uploads under `prefix` (open multipart uploads, uncommitted blocks), listed through
   * the service's own API and not through the proxy. Must be none after any failed upload.
   */
  leftovers?: ((prefix: string) => Promise<string[]>) | undefined;
  /** Why this server cannot list unfinished uploads (the check is reported NOT VERIFIABLE). */
  leftoversGap?: string | undefined;
  /** Every credential the driver was given: none may appear in an error, a log line or describe(). */
  secrets: readonly string[];
  /**
   * A driver with wrong credentials against the real server (through the proxy): its refusal must
   * be a PermissionDeniedError that quotes neither the wrong nor the right secret.
   */
  badCredentials?:
    | ((context: {
        endpoint: string;
        prefix: string;
      }) =>
        | { driver: Driver; secrets: readonly string[] }
        | Promise<{ driver: Driver; secrets: readonly string[] }>)
    | undefined;
  /** Why this server cannot refuse bad credentials (reported NOT VERIFIABLE). */
  badCredentialsGap?: string | undefined;
  /**
   * Why this server does not refuse a create-exclusive write of a taken name (the soak's
   * concurrent saves of one name are then NOT VERIFIABLE).
   */
  conditionalWriteGap?: string | undefined;
  /** Bytes of the upload that goes in parts or blocks (above the driver's single-request size). */
  largeUploadSize?: number | undefined;
  soak?: SoakOptions | undefined;
  teardown?: (() => Promise<void>) | undefined;
}

export async function outcome<T>(
  promise: Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error };
  }
}

export interface FaultSuiteContext {
  options: FaultSuiteOptions;
  tally: Tally;
  /** Every retry the suite's storages made (their onRetry hook). */
  retries: RetryEvent[];
  /** The fault proxy in front of the real server (from beforeAll on). */
  readonly proxy: FaultProxy;
  /** The main storage, through the proxy (from beforeAll on). */
  readonly s: Storage;
  /** A fresh prefix of this run. */
  nextPrefix(): string;
  /** A fresh storage through the proxy, under its own prefix, with the suite's retry policy. */
  fresh(storageOptions?: StorageOptions): Promise<{ storage: Storage; prefix: string }>;
  /** A unique file name under `dir`. */
  name(dir: string, suffix?: string): string;
  /** No unfinished upload under the storage's prefix, as the service itself lists them. */
  expectNoLeftovers(prefix: string): Promise<void>;
  /** Nothing visible under `dir` (no partial or temporary object). */
  expectNothingVisible(storage: Storage, dir: string): Promise<void>;
  /** A connection whose answer the proxy stalled is closed by the client soon after it gives up. */
  expectNoStalledConnection(what: string): Promise<void>;
  /** Runs `call` with `rule` in force; returns its outcome, the faults injected and the retries made. */
  underFault<T>(
    rule: FaultRule,
    call: () => Promise<T>,
  ): Promise<{
    result: { ok: true; value: T } | { ok: false; error: unknown };
    injected: number;
    retries: number;
  }>;
}
