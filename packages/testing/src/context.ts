/**
 * What every group of conformance tests shares: the options, the driver's declared capabilities,
 * storages (each at its own prefix, cleaned up after the run), and the assertion helpers.
 */
import { randomBytes } from "node:crypto";
import type { Capabilities, ErrorCode, Operation, Storage, StorageError } from "@storages/core";
import { StorageError as StorageErrorClass } from "@storages/core";
import { expect, it } from "vitest";

/** Checks a particular test SERVER does not perform (not driver capabilities). */
export const SERVER_GAPS = [
  "signatureTamper",
  "signatureExpiry",
  "conditionalWrite",
  "anonymousAccess",
  "signedUploadPut",
  "signedUploadPost",
  "uploadSizeLimit",
  "largeMultipart",
  "signedUrlOverrides",
  "listingOrder",
] as const;
export type ServerGap = (typeof SERVER_GAPS)[number];

export interface CreateStorageContext {
  /**
   * Unique for each storage the suite asks for: lower-case letters, digits and "-", at most 40
   * characters, so it also works as a bucket or container name. Use it as a key prefix (add "/")
   * or as a fresh bucket.
   */
  prefix: string;
  /** The default visibility the storage must have (public/private access tests). */
  visibility?: "public" | "private" | undefined;
  /** The default `overwrite` the storage must have. */
  overwrite?: boolean | undefined;
}

export interface ConformanceOptions {
  /** Label of the driver, e.g. "s3". */
  name: string;
  /** What it runs against, e.g. "Ceph RGW 16.2"; appears in the describe title. */
  server: string;
  /** A Storage rooted at a fresh, unique prefix (or bucket). Called whenever the suite needs one. */
  createStorage: (context: CreateStorageContext) => Promise<Storage>;
  /** Runs after every test and the suite's own cleanup (remove buckets, stop servers). */
  teardown?: (() => Promise<void>) | undefined;
  /**
   * Checks this SERVER does not perform, with the reason. Each affected test is registered as a
   * skipped "NOT VERIFIABLE on <server>" test and listed in a table printed once.
   */
  serverGaps?: Partial<Record<ServerGap, string>> | undefined;
  /** Bytes of the large (multipart) file test. Default 24 MiB. */
  largeFileSize?: number | undefined;
  /** Generated unicode names that must round-trip exactly (groups/fuzz.ts). Default 300; 0 skips. */
  fuzzNames?: number | undefined;
}

/** One skipped check and every gap that prevents it (a check can need several). */
export interface GapRow {
  gaps: ServerGap[];
  test: string;
}

/** Patterns that must never appear in an error message: a live credential or signature. */
const SECRET_LEAKS: RegExp[] = [
  /X-Amz-Signature=(?!\[redacted\])[^&\s"']+/i,
  /X-Amz-Credential=(?!\[redacted\])[^&\s"']+/i,
  /X-Amz-Security-Token=(?!\[redacted\])[^&\s"']+/i,
  /X-Goog-Signature=(?!\[redacted\])[^&\s"']+/i,
  /X-Goog-Credential=(?!\[redacted\])[^&\s"']+/i,
  /[?&]sig=(?!\[redacted\])[^&\s"']+/i,
  /[?&]signature=(?!\[redacted\])[^&\s"']+/i,
  /AccountKey=(?!\[redacted\])[^;\s"']+/i,
  /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
  /Authorization:\s*(?!\[redacted\])\S+/i,
];

export function findSecretLeak(text: string): string | undefined {
  for (const pattern of SECRET_LEAKS) {
    const match = pattern.exec(text);
    if (match) return match[0];
  }
  return undefined;
}

export class SuiteContext {
  readonly created: Storage[] = [];
  readonly gapRows: GapRow[] = [];
  /** A short random id shared by every prefix of this run. */
  readonly runId = randomBytes(6).toString("hex");
  private counter = 0;
  private uniqueCounter = 0;
  /** The storage most tests share; each test uses its own names inside it. */
  main!: Storage;
  /** What the driver declares (read from the first storage, at collection time). */
  caps!: Capabilities;
  backend!: string;

  constructor(readonly options: ConformanceOptions) {}

  /** Creates the shared storage and reads the driver's capabilities from it. */
  async init(): Promise<void> {
    let main = await this.fresh();
    this.caps = main.capabilities;
    this.backend = main.backend;
    if (!this.caps.conditionalWrite) {
      // Without create-exclusive writes the facade refuses overwrite:false (its default), so every
      // storage not explicitly testing that refusal replaces files.
      this.defaultOverwrite = true;
      main = await this.fresh();
    }
    this.main = main;
  }

  /** The `overwrite` asked of storages whose test does not set it. */
  private defaultOverwrite: boolean | undefined;

  get server(): string {
    return this.options.server;
  }

  get largeFileSize(): number {
    return this.options.largeFileSize ?? 24 * 1024 * 1024;
  }

  nextPrefix(): string {
    this.counter += 1;
    return `conformance-${this.runId}-${String(this.counter).padStart(3, "0")}`;
  }

  /** A new storage at its own prefix, removed after the run. */
  async fresh(options: { visibility?: "public" | "private"; overwrite?: boolean } = {}): Promise<Storage> {
    return (await this.freshWithPrefix(options)).storage;
  }

  async freshWithPrefix(
    options: { visibility?: "public" | "private"; overwrite?: boolean } = {},
  ): Promise<{ storage: Storage; prefix: string }> {
    const prefix = this.nextPrefix();
    const context: CreateStorageContext = { prefix, ...options };
    if (context.overwrite === undefined && this.defaultOverwrite !== undefined)
      context.overwrite = this.defaultOverwrite;
    const storage = await this.options.createStorage(context);
    this.created.push(storage);
    return { storage, prefix };
  }

  /** A name nobody else in this run uses: `<dir>/<n>-<random><suffix>`. */
  unique(dir: string, suffix = ".txt"): string {
    this.uniqueCounter += 1;
    return `${dir}/${this.uniqueCounter}-${randomBytes(4).toString("hex")}${suffix}`;
  }

  /**
   * Registers a test, or, when the server cannot perform one of `gaps`, a skipped test saying so
   * (never a pass).
   */
  verify(title: string, gaps: readonly ServerGap[], fn: () => Promise<void>, timeout?: number): void {
    const missing = gaps.filter((gap) => this.options.serverGaps?.[gap] !== undefined);
    if (missing.length === 0) {
      it(title, fn, timeout);
      return;
    }
    const reasons = missing.map((gap) => `${gap}: ${this.options.serverGaps?.[gap]}`).join("; ");
    this.gapRows.push({ gaps: missing, test: title });
    it.skip(`NOT VERIFIABLE on ${this.server}: ${reasons} — ${title}`, fn);
  }

  /**
   * Awaits `action` and asserts it failed with a StorageError of `code` (an array: any of them),
   * carrying the backend, the given operation and path, and no secret in its message.
   */
  async expectError(
    action: Promise<unknown> | (() => unknown),
    code: ErrorCode | readonly ErrorCode[],
    context: { operation?: Operation | readonly Operation[]; path?: string } = {},
  ): Promise<StorageError> {
    let outcome: { ok: true; value: unknown } | { ok: false; error: unknown };
    try {
      const value = typeof action === "function" ? await action() : await action;
      outcome = { ok: true, value };
    } catch (error) {
      outcome = { ok: false, error };
    }
    const codes = typeof code === "string" ? [code] : code;
    if (outcome.ok) {
      expect.fail(
        `expected a StorageError ${codes.join("|")}, but the call succeeded with ${preview(outcome.value)}`,
      );
    }
    const error = outcome.error;
    if (!StorageErrorClass.isInstance(error)) {
      expect.fail(`expected a StorageError ${codes.join("|")}, got ${preview(error)}`);
    }
    expect(codes, `error code (message: ${error.message})`).toContain(error.code);
    if (context.operation !== undefined) {
      const operations = typeof context.operation === "string" ? [context.operation] : context.operation;
      expect(operations, `error.operation of ${error.code}`).toContain(error.operation);
    }
    if (context.path !== undefined) expect(error.path, `error.path of ${error.code}`).toBe(context.path);
    // Refusals of bad input too: the caller's logs must say which storage refused.
    expect(error.backend, `error.backend of ${error.code}`).toBe(this.backend);
    expectNoSecret(error);
    return error;
  }
}

export function expectNoSecret(error: StorageError): void {
  const texts = [error.message, String(error), JSON.stringify(error.toJSON())];
  for (const text of texts) {
    const leak = findSecretLeak(text);
    expect(leak, `secret in error text: ${text.slice(0, 300)}`).toBeUndefined();
  }
}

export function preview(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  try {
    const text = typeof value === "string" ? value : JSON.stringify(value);
    return text === undefined ? String(value) : text.slice(0, 200);
  } catch {
    return String(value);
  }
}

/** Lists every file of a storage, recursively, as sorted names. */
export async function listAllNames(storage: Storage, prefix = ""): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of storage.list(prefix, { recursive: true })) names.push(entry.name);
  return names.sort();
}

/** Deletes everything in a storage (used by cleanup). */
export async function emptyStorage(storage: Storage): Promise<void> {
  const names = await listAllNames(storage);
  for (let i = 0; i < names.length; i += 500) {
    await storage.deleteMany(names.slice(i, i + 500));
  }
}
