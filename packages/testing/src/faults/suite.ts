/**
 * `describeFaults`: a driver against its real server through the fault proxy. What must hold:
 * transient faults are retried within the budget (by the storage's one retry policy, never
 * multiplied by an SDK's), timeouts fire and clean up, a failed or aborted upload leaves no visible
 * partial object and no unfinished upload (listed through the service's own API), a read that
 * breaks mid-body ends in an error (never a short "successful" read), no credential appears in an
 * error, a log line or describe(), and 16 concurrent workers lose nothing.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { inspect } from "node:util";
import {
  type Driver,
  type RetryEvent,
  type RetryOptions,
  Storage,
  StorageError,
  type StorageOptions,
} from "@storages/core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { emptyStorage, listAllNames } from "../context.js";
import { collect, DeterministicBody, randomBytes } from "../helpers.js";
import { type Dialect, FaultProxy, type FaultRule, type RequestKind } from "./proxy.js";
import { runSoak, type SoakOptions } from "./soak.js";
import { Tally } from "./tally.js";

const KiB = 1024;
const MiB = 1024 * KiB;

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

/**
 * Where a large upload's request is cut: below S3's smallest part (5 MiB, the S3 driver's default
 * part size), so the cut lands inside a part or block of every backend, not at a part's end.
 */
const CUT_INSIDE_A_PART = 4 * MiB;

/** A rule for requests whose body may be longer than `bytes` (no length announced, or a longer one). */
export function bodyMayExceed(bytes: number): FaultRule["match"] {
  return (request) => {
    const length = request.headers["content-length"];
    return length === undefined || Number(length) > bytes;
  };
}

/** Everything a logger or a caller could print of an error or event. */
export function printedForms(value: unknown): string[] {
  const forms = [inspect(value, { depth: 8 }), String(value)];
  try {
    forms.push(JSON.stringify(value) ?? "");
  } catch {
    // Circular values: inspect covers them.
  }
  if (value instanceof Error) forms.push(value.message, value.stack ?? "");
  return forms;
}

/** Secrets that are in the request the proxy saw: signatures in URLs and Authorization headers. */
function wireSecrets(proxy: FaultProxy): string[] {
  const found = new Set<string>();
  for (const request of proxy.log) {
    const auth = request.headers.authorization;
    if (typeof auth === "string") {
      found.add(auth);
      for (const match of auth.matchAll(/(?:Signature|Credential)=([^,\s]+)/g)) found.add(match[1]!);
      const sharedKey = /^SharedKey [^:]+:(.+)$/.exec(auth);
      if (sharedKey) found.add(sharedKey[1]!);
    }
    for (const [name, value] of Object.entries(request.headers)) {
      if (typeof value === "string" && /copy-source/i.test(name)) {
        for (const match of value.matchAll(/[?&](?:sig|X-Amz-Signature|X-Goog-Signature)=([^&]+)/gi))
          found.add(decodeURIComponent(match[1]!));
      }
    }
    for (const match of request.url.matchAll(/[?&](?:sig|X-Amz-Signature|X-Goog-Signature)=([^&]+)/gi))
      found.add(decodeURIComponent(match[1]!));
  }
  return [...found].filter((secret) => secret.length >= 8);
}

export function expectNoSecretIn(value: unknown, secrets: readonly string[], what: string): void {
  for (const text of printedForms(value)) {
    for (const secret of secrets) {
      if (secret.length < 6) continue;
      expect(
        text.includes(secret),
        `${what} quotes a secret (${secret.slice(0, 4)}…): ${text.slice(0, 400)}`,
      ).toBe(false);
    }
  }
}

async function outcome<T>(
  promise: Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error };
  }
}

export function describeFaults(options: FaultSuiteOptions): void {
  describe(`${options.name} under faults, through a fault proxy to ${options.server}`, () => {
    const tally = new Tally();
    const created: Storage[] = [];
    const retries: RetryEvent[] = [];
    const policy: RetryOptions = {
      attempts: 4,
      baseDelay: 5,
      maxDelay: 50,
      budget: 20_000,
      onRetry: (event) => retries.push(event),
    };
    const runId = randomBytes(4).toString("hex");
    let counter = 0;
    let proxy: FaultProxy;
    let s: Storage;
    let mainPrefix: string;

    const nextPrefix = () => `faults-${runId}-${String(++counter).padStart(3, "0")}`;
    async function fresh(storageOptions: StorageOptions = {}): Promise<{ storage: Storage; prefix: string }> {
      const prefix = nextPrefix();
      const driver = await options.createDriver({ endpoint: proxy.url, prefix });
      const storage = new Storage(driver, { overwrite: false, retry: policy, ...storageOptions });
      created.push(storage);
      return { storage, prefix };
    }
    const name = (dir: string, suffix = ".bin") =>
      `${dir}/${++counter}-${randomBytes(3).toString("hex")}${suffix}`;

    /** No unfinished upload under the storage's prefix, as the service itself lists them. */
    async function expectNoLeftovers(prefix: string): Promise<void> {
      if (!options.leftovers) return;
      const left = await options.leftovers(prefix);
      tally.lost += left.length;
      expect(left, "unfinished uploads left behind").toEqual([]);
    }
    /** Nothing visible under `dir` (no partial or temporary object). */
    async function expectNothingVisible(storage: Storage, dir: string): Promise<void> {
      const visible = await listAllNames(storage, `${dir}/`);
      tally.lost += visible.length;
      expect(visible, "a partial object is visible").toEqual([]);
    }

    beforeAll(async () => {
      proxy = await FaultProxy.start({ upstream: options.upstream, dialect: options.dialect });
      ({ storage: s, prefix: mainPrefix } = await fresh());
      if (!options.leftovers)
        tally.notVerifiable.push(`unfinished uploads: ${options.leftoversGap ?? "no way to list them"}`);
      if (!options.badCredentials)
        tally.notVerifiable.push(`bad credentials: ${options.badCredentialsGap ?? "not given"}`);
      if (options.conditionalWriteGap)
        tally.notVerifiable.push(`concurrent saves of one name (soak): ${options.conditionalWriteGap}`);
    });

    afterEach(() => {
      proxy.clear();
    });

    afterAll(async () => {
      proxy.clear();
      const problems: string[] = [];
      for (const storage of created) {
        try {
          await emptyStorage(storage);
        } catch (error) {
          problems.push(`cleanup failed: ${(error as Error).message}`);
        }
        await storage.close().catch(() => undefined);
      }
      const dir = process.env.STORAGES_TEST_RELIABILITY;
      if (dir) {
        tally.write(dir, {
          backend: options.name,
          server: options.server,
          injected: proxy.stats.injected,
          byType: { ...proxy.stats.byType } as Record<string, number>,
        });
      }
      await proxy.close();
      await options.teardown?.();
      if (problems.length > 0) throw new Error(problems.join("; "));
    }, 120_000);

    /** A connection whose answer the proxy stalled is closed by the client soon after it gives up. */
    async function expectNoStalledConnection(what: string): Promise<void> {
      const stalled = () => proxy.describeOpenConnections().filter((c) => c.includes("[stall]"));
      const until = Date.now() + 3_000;
      while (stalled().length > 0 && Date.now() < until) await sleep(50);
      expect(stalled(), `connections of ${what}, still open 3 s after it gave up`).toEqual([]);
    }

    /** Runs `call` with `rule` in force; returns its outcome, the faults injected and the retries made. */
    async function underFault<T>(rule: FaultRule, call: () => Promise<T>) {
      const handle = proxy.inject(rule);
      const before = retries.length;
      const result = await outcome(call());
      handle.remove();
      return { result, injected: handle.injected, retries: retries.length - before };
    }

    // -----------------------------------------------------------------------------------------
    describe("transient faults are retried within the budget", () => {
      type Op = { label: string; kind: RequestKind; run: (file: string) => Promise<unknown> };
      const content = randomBytes(64 * KiB);
      const ops: Op[] = [
        {
          label: "save (bytes)",
          kind: "upload",
          run: async (file) => {
            await s.save(file, content, { overwrite: true });
            expect(Buffer.compare(await s.readBytes(file), content)).toBe(0);
          },
        },
        {
          label: "stat",
          kind: "metadata",
          run: async (file) => expect((await s.stat(file)).size).toBe(content.length),
        },
        { label: "exists", kind: "metadata", run: async (file) => expect(await s.exists(file)).toBe(true) },
        {
          label: "readBytes",
          kind: "download",
          run: async (file) => expect(Buffer.compare(await s.readBytes(file), content)).toBe(0),
        },
        {
          label: "open",
          kind: "download",
          run: async (file) => expect(Buffer.compare(await collect(await s.open(file)), content)).toBe(0),
        },
        {
          label: "list",
          kind: "list",
          run: async (file) => expect(await listAllNames(s, `${file.split("/")[0]}/`)).toContain(file),
        },
        {
          label: "copy",
          kind: "copy",
          run: async (file) => {
            await s.copy(file, `${file}.copy`);
            expect((await s.stat(`${file}.copy`)).size).toBe(content.length);
          },
        },
        {
          label: "delete",
          kind: "delete",
          run: async (file) => {
            await s.delete(file);
            expect(await s.exists(file)).toBe(false);
          },
        },
      ];
      const faults = [
        {
          label: "503 (SlowDown / ServerBusy / backendError)",
          fault: { type: "status", status: 503 } as const,
        },
        { label: "500 InternalError", fault: { type: "status", status: 500 } as const },
        { label: "a connection reset before the answer", fault: { type: "reset" } as const },
      ];
      for (const { label, fault } of faults) {
        it(`${label}, twice in a row: every operation succeeds on its third attempt`, async () => {
          const dir = name("transient", "");
          for (const op of ops) {
            const file = `${dir}/${op.label.replace(/\W+/g, "-")}.bin`;
            if (op.kind !== "upload") await s.save(file, content, { overwrite: true });
            const {
              result,
              injected,
              retries: made,
            } = await underFault({ kind: op.kind, times: 2, fault }, () => op.run(file));
            if (!result.ok) throw result.error;
            expect(injected, `${op.label}: faults injected`).toBe(2);
            expect(made, `${op.label}: retries the storage made (the SDK must make none)`).toBe(2);
            tally.recovered += 1;
          }
        });
      }

      it("Retry-After is honoured: the wait is the service's, and the error says it", async () => {
        const file = name("retry-after");
        await s.save(file, "x");
        const events: RetryEvent[] = [];
        const started = Date.now();
        const { result, injected } = await underFault(
          { kind: "metadata", fault: { type: "status", status: 503, retryAfter: 1 } },
          () => s.stat(file, { retry: { attempts: 2, maxDelay: 5_000, onRetry: (e) => events.push(e) } }),
        );
        if (!result.ok) throw result.error;
        expect(injected).toBe(1);
        expect(events.map((e) => e.delay)).toEqual([1000]);
        expect(events[0]!.error.retryAfter).toBe(1000);
        expect(Date.now() - started).toBeGreaterThanOrEqual(950);
        tally.recovered += 1;
      });

      it("a fault that persists ends after exactly `attempts` requests, retryable, whatever was called before", async () => {
        // A fresh client, so no earlier call has changed how its SDK retries (GCS's once switched
        // its retries off for good on the first overwriting save).
        const { storage } = await fresh();
        const file = name("persistent");
        const check = async (
          label: string,
          kind: RequestKind,
          call: () => Promise<unknown>,
          body?: string,
        ) => {
          const { result, injected } = await underFault(
            { kind, times: Number.POSITIVE_INFINITY, fault: { type: "status", status: 503, body } },
            call,
          );
          expect(result.ok, `${label} succeeded under a persistent 503`).toBe(false);
          const error = (result as { error: unknown }).error;
          expect(StorageError.isInstance(error), `${label}: ${String(error)}`).toBe(true);
          const e = error as StorageError;
          expect(e.retryable, `${label}: retryable (${e.message})`).toBe(true);
          expect(e.attempts, `${label}: attempts`).toBe(4);
          expect(injected, `${label}: requests the server would have seen (4 = no SDK retries)`).toBe(4);
          tally.failedCleanly += 1;
        };
        await check("save (bytes, create-exclusive)", "upload", () => storage.save(file, content));
        await storage.save(file, content);
        await check("stat", "metadata", () => storage.stat(file));
        await check("readBytes", "download", () => storage.readBytes(file));
        // A save that replaces a file must not change how later calls retry.
        await storage.save(file, content, { overwrite: true });
        await check("stat after an overwriting save", "metadata", () => storage.stat(file));
        await check("save (bytes, replacing)", "upload", () =>
          storage.save(file, content, { overwrite: true }),
        );
        // A load balancer's 503 is an HTML page, or nothing: still the service's own "try again".
        const html = "<html><body><h1>503 Service Unavailable</h1></body></html>";
        await check(
          "save under an HTML 503",
          "upload",
          () => storage.save(file, content, { overwrite: true }),
          html,
        );
        await check("stat under an empty 503", "metadata", () => storage.stat(file), "");
      });
    });

    // -----------------------------------------------------------------------------------------
    describe("an upload cut mid-body", () => {
      const large = () => options.largeUploadSize ?? 12 * MiB;

      it("bytes in memory are sent again and arrive whole", async () => {
        const file = name("cut-bytes");
        const body = randomBytes(1 * MiB);
        const {
          result,
          injected,
          retries: made,
        } = await underFault(
          {
            kind: "upload",
            match: bodyMayExceed(256 * KiB),
            fault: { type: "resetUpload", afterBytes: 256 * KiB },
          },
          () => s.save(file, body),
        );
        if (!result.ok) throw result.error;
        expect(injected).toBe(1);
        expect(made).toBeGreaterThanOrEqual(1);
        expect(Buffer.compare(await s.readBytes(result.value.name), body)).toBe(0);
        tally.recovered += 1;
      });

      for (const [label, size] of [
        ["a small stream", 512 * KiB],
        ["a stream sent in parts or blocks", 0],
      ] as const) {
        it(`${label} fails with a typed, retryable error and leaves nothing behind`, async () => {
          const { storage, prefix } = await fresh();
          const dir = name("cut-stream", "");
          const bytes = size || large();
          const body = new DeterministicBody(bytes, 3);
          const cutAt = size ? 64 * KiB : CUT_INSIDE_A_PART;
          const { result, injected } = await underFault(
            {
              kind: "upload",
              match: bodyMayExceed(cutAt),
              fault: { type: "resetUpload", afterBytes: cutAt },
            },
            () => storage.save(`${dir}/file.bin`, body.stream(256 * KiB)),
          );
          expect(injected).toBe(1);
          expect(result.ok, "a stream cut mid-upload cannot have been stored whole").toBe(false);
          const error = (result as { error: unknown }).error;
          expect(StorageError.isInstance(error), String(error)).toBe(true);
          expect((error as StorageError).retryable, (error as StorageError).message).toBe(true);
          tally.failedCleanly += 1;
          await expectNothingVisible(storage, dir);
          await expectNoLeftovers(prefix);
        });
      }

      it("large bytes in memory: the failed attempt's parts are cleaned up, the retry arrives whole", async () => {
        const { storage, prefix } = await fresh();
        const file = name("cut-large-bytes");
        const body = new DeterministicBody(large(), 4).slice(0, large());
        const { result, injected } = await underFault(
          {
            kind: "upload",
            match: bodyMayExceed(CUT_INSIDE_A_PART),
            fault: { type: "resetUpload", afterBytes: CUT_INSIDE_A_PART },
          },
          () => storage.save(file, body),
        );
        if (!result.ok) throw result.error;
        expect(injected).toBe(1);
        expect(Buffer.compare(await storage.readBytes(result.value.name), body)).toBe(0);
        tally.recovered += 1;
        await expectNoLeftovers(prefix);
      });

      it("an upload aborted mid-body leaves no partial object and no unfinished upload", async () => {
        const { storage, prefix } = await fresh();
        const dir = name("abort", "");
        const controller = new AbortController();
        const body = new DeterministicBody(large(), 5);
        let sent = 0;
        const stream = body.stream(256 * KiB);
        stream.on("data", (chunk: Buffer) => {
          sent += chunk.length;
          if (sent >= large() / 2) controller.abort();
        });
        const result = await outcome(storage.save(`${dir}/file.bin`, stream, { signal: controller.signal }));
        expect(result.ok).toBe(false);
        expect(StorageError.hasCode((result as { error: unknown }).error, "E_ABORTED")).toBe(true);
        tally.failedCleanly += 1;
        await sleep(200);
        await expectNothingVisible(storage, dir);
        await expectNoLeftovers(prefix);
      });
    });

    // -----------------------------------------------------------------------------------------
    describe("a download cut mid-body ends in an error, never in a short read", () => {
      const size = 1 * MiB;
      const cuts = [
        { label: "a connection reset", fault: { type: "resetDownload", afterBytes: 100 * KiB } as const },
        {
          label: "a body cut short (clean close)",
          fault: { type: "truncate", afterBytes: 100 * KiB } as const,
        },
      ];
      for (const { label, fault } of cuts) {
        it(`${label} on every attempt: open() errors and readBytes() fails`, async () => {
          const file = name("cut-download");
          const body = randomBytes(size);
          await s.save(file, body);
          for (const read of ["open", "readBytes"] as const) {
            const { result, injected } = await underFault(
              { kind: "download", times: Number.POSITIVE_INFINITY, fault },
              async () => (read === "open" ? collect(await s.open(file)) : s.readBytes(file)),
            );
            expect(injected, read).toBeGreaterThanOrEqual(1);
            if (result.ok) {
              tally.lost += 1;
              expect.fail(`${read} "succeeded" with ${result.value.length} of ${size} bytes`);
            }
            const error = (result as { error: unknown }).error;
            // The same typed error whichever way the file is read: a stream that breaks after
            // open() returned is no excuse for the SDK's raw error.
            expect(StorageError.isInstance(error), `${read}: ${String(error)}`).toBe(true);
            expect((error as StorageError).retryable, `${read}: ${String(error)}`).toBe(true);
            tally.failedCleanly += 1;
          }
        });

        it(`${label} once: the read errors or is whole (a driver may resume it), never short`, async () => {
          const file = name("cut-download-once");
          const body = randomBytes(size);
          await s.save(file, body);
          for (const read of ["open", "readBytes"] as const) {
            const { result } = await underFault({ kind: "download", fault }, async () =>
              read === "open" ? collect(await s.open(file)) : s.readBytes(file),
            );
            if (result.ok) {
              const whole = Buffer.compare(result.value, body) === 0;
              if (!whole) tally.lost += 1;
              expect(whole, `${read} returned ${result.value.length} of ${size} bytes`).toBe(true);
              tally.recovered += 1;
            } else {
              tally.failedCleanly += 1;
            }
          }
        });
      }
    });

    // -----------------------------------------------------------------------------------------
    describe("stalls and timeouts fire and clean up", () => {
      it("a server that never answers: the call's timeout fires, and the connection is let go", async () => {
        const file = name("stall");
        await s.save(file, "x");
        const started = Date.now();
        const { result, injected } = await underFault(
          { kind: "metadata", fault: { type: "stall", ms: 20_000 } },
          () => s.stat(file, { timeout: 500 }),
        );
        expect(injected).toBe(1);
        expect(StorageError.hasCode((result as { error?: unknown }).error, "E_TIMEOUT"), String(result)).toBe(
          true,
        );
        expect(Date.now() - started).toBeLessThan(3_000);
        tally.failedCleanly += 1;
        // The abandoned request's connection is closed by the client, not left open for 20 s.
        await expectNoStalledConnection("the timed-out call");
        expect(await s.exists(file)).toBe(true); // and the storage still works
      });

      it("added latency under the timeout succeeds; over it, the timeout fires", async () => {
        const file = name("latency");
        await s.save(file, "x");
        const slow = { kind: "metadata", fault: { type: "latency", ms: 300 } } as const;
        const ok = await underFault(slow, () => s.stat(file, { timeout: 5_000 }));
        if (!ok.result.ok) throw ok.result.error;
        const late = await underFault(slow, () => s.stat(file, { timeout: 100 }));
        expect(StorageError.hasCode((late.result as { error?: unknown }).error, "E_TIMEOUT")).toBe(true);
        tally.recovered += 1;
        tally.failedCleanly += 1;
      });

      it("a body that stalls mid-way: the idle timeout ends the read with E_TIMEOUT", async () => {
        const { storage } = await fresh({ idleTimeout: 500 });
        const file = name("idle");
        const body = randomBytes(1 * MiB);
        await storage.save(file, body);
        for (const read of ["open", "readBytes"] as const) {
          const started = Date.now();
          const { result, injected } = await underFault(
            { kind: "download", fault: { type: "stall", ms: 20_000, afterBytes: 64 * KiB } },
            async () => (read === "open" ? collect(await storage.open(file)) : storage.readBytes(file)),
          );
          expect(injected, read).toBe(1);
          expect(result.ok, `${read} succeeded through a stalled body`).toBe(false);
          const error = (result as { error: unknown }).error;
          expect(StorageError.hasCode(error, "E_TIMEOUT"), `${read}: ${String(error)}`).toBe(true);
          expect(Date.now() - started, read).toBeLessThan(5_000);
          tally.failedCleanly += 1;
          // The stalled response's connection is let go by the client, not held until the server gives up.
          await expectNoStalledConnection(read);
        }
      });

      it("an upload whose answer never comes: the timeout fires and nothing is stored", async () => {
        const { storage, prefix } = await fresh();
        const dir = name("stall-upload", "");
        const { result, injected } = await underFault(
          { kind: "upload", fault: { type: "stall", ms: 20_000 } },
          () => storage.save(`${dir}/file.bin`, randomBytes(64 * KiB), { timeout: 1_000 }),
        );
        expect(injected).toBe(1);
        expect(StorageError.hasCode((result as { error?: unknown }).error, "E_TIMEOUT"), String(result)).toBe(
          true,
        );
        tally.failedCleanly += 1;
        await expectNothingVisible(storage, dir);
        await expectNoLeftovers(prefix);
        await expectNoStalledConnection("the timed-out upload");
      });
    });

    // -----------------------------------------------------------------------------------------
    describe("no credential in any error, log line or description", () => {
      it("a server error that quotes the whole request (URL, headers) is told without its secrets", async () => {
        const file = name("echo");
        await s.save(file, randomBytes(1 * KiB));
        const calls: Array<[RequestKind, () => Promise<unknown>]> = [
          ["upload", () => s.save(name("echo"), "x", { overwrite: true })],
          ["download", () => s.readBytes(file)],
          ["metadata", () => s.stat(file)],
          ["list", () => listAllNames(s, "echo/")],
          ["copy", () => s.copy(file, `${file}.copy`)],
          ["delete", () => s.delete(file)],
        ];
        proxy.log.length = 0;
        const before = retries.length;
        for (const [kind, call] of calls) {
          const { result, injected } = await underFault(
            { kind, times: Number.POSITIVE_INFINITY, fault: { type: "echo" } },
            call,
          );
          expect(injected, kind).toBeGreaterThanOrEqual(1);
          expect(result.ok, kind).toBe(false);
          const secrets = [...options.secrets, ...wireSecrets(proxy)];
          expectNoSecretIn((result as { error: unknown }).error, secrets, `the ${kind} error`);
          tally.failedCleanly += 1;
        }
        // What an app's onRetry hook logs: the event, with its error.
        const events = retries.slice(before);
        expect(events.length).toBeGreaterThan(0);
        const secrets = [...options.secrets, ...wireSecrets(proxy)];
        for (const event of events) expectNoSecretIn(event, secrets, "a retry event (what onRetry logs)");
      });

      it("describe(), the storage and its driver, printed, hold no secret", async () => {
        for (const value of [s.describe(), s, s.driver, s.driver.describe?.()]) {
          expectNoSecretIn(value, options.secrets, "a printed storage");
        }
      });

      const bad = options.badCredentials;
      (bad ? it : it.skip)(
        bad
          ? "wrong credentials against the real server: PermissionDenied, quoting no secret"
          : `NOT VERIFIABLE on ${options.server}: ${options.badCredentialsGap ?? "no bad-credentials driver"} — wrong credentials are refused without quoting a secret`,
        async () => {
          const { driver, secrets } = await bad!({ endpoint: proxy.url, prefix: nextPrefix() });
          const storage = new Storage(driver, { retry: false });
          try {
            proxy.log.length = 0;
            for (const call of [
              () => storage.stat("x.txt"),
              () => storage.save("x.txt", "x", { overwrite: true }),
            ]) {
              const result = await outcome(call());
              expect(result.ok).toBe(false);
              const error = (result as { error: unknown }).error;
              expect(StorageError.hasCode(error, "E_PERMISSION_DENIED"), String(error)).toBe(true);
              expectNoSecretIn(error, [...secrets, ...options.secrets, ...wireSecrets(proxy)], "the refusal");
              tally.failedCleanly += 1;
            }
          } finally {
            await storage.close();
          }
        },
      );
    });

    // -----------------------------------------------------------------------------------------
    describe("a concurrency soak", () => {
      it("16 workers of mixed operations under random faults: nothing lost, listings consistent, no socket left open", async () => {
        const { storage, prefix } = await fresh();
        const figures = await runSoak(storage, proxy, {
          ...options.soak,
          sharedName: options.conditionalWriteGap === undefined,
          leftovers: options.leftovers && (() => options.leftovers!(prefix)),
        });
        tally.soak = figures.figures;
        tally.lost += figures.lost.length;
        tally.failedCleanly += figures.figures.failedCleanly;
        tally.recovered += figures.recovered;
        expect(figures.lost, "writes lost, reads wrong, listings inconsistent").toEqual([]);
        expect(figures.figures.socketsLeftDoing, "driver connections left open after close()").toEqual([]);
        expect(
          figures.figures.handlesAfter,
          "process handles after close() (before the soak: handlesBefore)",
        ).toBeLessThanOrEqual(figures.figures.handlesBefore);
      }, 180_000);
    });

    it("leaves nothing behind in its main storage", async () => {
      void mainPrefix;
      await expectNoLeftovers(mainPrefix);
    });
  });
}
