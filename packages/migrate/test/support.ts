/**
 * Storages for the unit tests: the memory driver, and drivers that list in another order than
 * core's (as Azurite and the GCS emulator do), or fail on chosen files.
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import {
  BackendError,
  type DriverListOptions,
  type DriverReadOptions,
  type DriverWriteOptions,
  type ListEntry,
  type ListPage,
  MemoryDriver,
  Storage,
} from "@storages/core";

export { MemoryDriver, Storage };

export function memory(): Storage {
  return new Storage(new MemoryDriver(), { overwrite: true, retry: false });
}

/** Every file name in a storage, in listing order. */
export async function allNames(storage: Storage): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of storage.list("", { recursive: true })) names.push(entry.name);
  return names;
}

/** A memory driver whose listing comes in one page in the order `compare` gives. */
export class ReorderedDriver extends MemoryDriver {
  constructor(private readonly compare: (a: string, b: string) => number) {
    super();
  }
  override async listPage(prefix: string, options: DriverListOptions): Promise<ListPage> {
    const entries: ListEntry[] = [];
    let cursor: string | undefined;
    do {
      const page = await super.listPage(prefix, { ...options, cursor, pageSize: 1000 });
      entries.push(...page.entries);
      cursor = page.cursor;
    } while (cursor !== undefined);
    entries.sort((a, b) => this.compare(a.name, b.name));
    return { entries };
  }
}

/** A memory driver whose reads of the chosen names always fail with a retryable error. */
export class FailingDriver extends MemoryDriver {
  reads = 0;
  constructor(private readonly failing: ReadonlySet<string>) {
    super();
  }
  private fail(key: string): void {
    if (!this.failing.has(key)) return;
    this.reads++;
    throw new BackendError(`"${key}" is unavailable (test fault).`, { retryable: true, path: key });
  }
  override async read(key: string, options: DriverReadOptions) {
    this.fail(key);
    return super.read(key, options);
  }
  override async readBytes(key: string, options: DriverReadOptions) {
    this.fail(key);
    return super.readBytes(key, options);
  }
}

/**
 * A memory driver whose read streams of the chosen names break mid-body, with a retryable error (a
 * connection reset), on their first `breaks` opens: open() itself succeeds, as it does on a server.
 */
export class BreakingDriver extends MemoryDriver {
  opens = 0;
  constructor(
    private readonly breaking: ReadonlySet<string>,
    private breaks: number,
  ) {
    super();
  }
  override async read(key: string, options: DriverReadOptions) {
    const body = await super.read(key, options);
    if (!this.breaking.has(key)) return body;
    this.opens++;
    if (this.breaks <= 0) return body;
    this.breaks--;
    const bytes = await this.readBytes(key, options);
    body.destroy();
    return Readable.from(
      (async function* () {
        yield bytes.subarray(0, bytes.length >> 1);
        throw new BackendError(`the connection was reset reading "${key}" (test fault)`, {
          retryable: true,
          path: key,
        });
      })(),
    );
  }
}

/**
 * A memory driver that stores every body reversed (a corrupting destination) and, like S3 and the
 * fs driver, reports the MD5 of what it stored in the save's result.
 */
export class ReversingDriver extends MemoryDriver {
  saves = 0;
  override async write(key: string, body: Readable, options: DriverWriteOptions) {
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    return this.writeBytes(key, Buffer.concat(chunks), options);
  }
  override async writeBytes(key: string, bytes: Uint8Array, options: DriverWriteOptions) {
    this.saves++;
    const stored = Buffer.from(bytes).reverse();
    const result = await super.writeBytes(key, stored, { ...options, bytes: stored });
    return { ...result, checksums: { md5: createHash("md5").update(stored).digest("hex") } };
  }
}

/**
 * A memory driver whose listings can be changed, page by page: `change(listing, page, entries)`
 * gives the entries of page `page` (from 1) of listing `listing` (from 1: each listing starts
 * without a cursor), or throws. A source that went away or lost files between two listings of one
 * run, or a listing that fails part-way. Pages hold at most `pageSize` entries.
 */
export class RelistingDriver extends MemoryDriver {
  private listings = 0;
  private pages = 0;
  constructor(
    private readonly change: (listing: number, page: number, entries: ListEntry[]) => ListEntry[],
    private readonly pageSize = 1000,
  ) {
    super();
  }
  override async listPage(prefix: string, options: DriverListOptions): Promise<ListPage> {
    if (options.cursor === undefined) {
      this.listings++;
      this.pages = 0;
    }
    this.pages++;
    const page = await super.listPage(prefix, {
      ...options,
      pageSize: Math.min(options.pageSize, this.pageSize),
    });
    return { ...page, entries: this.change(this.listings, this.pages, page.entries) };
  }
}

/**
 * A memory driver that lists and stats the chosen files at another size than they hold: a file
 * that grew or shrank between its listing and its read.
 */
export class ResizedDriver extends MemoryDriver {
  constructor(private readonly sizes: ReadonlyMap<string, number>) {
    super();
  }
  override async listPage(prefix: string, options: DriverListOptions): Promise<ListPage> {
    const page = await super.listPage(prefix, options);
    return {
      ...page,
      entries: page.entries.map((entry) =>
        entry.type === "file" && this.sizes.has(entry.name)
          ? { ...entry, size: this.sizes.get(entry.name)! }
          : entry,
      ),
    };
  }
  override async stat(...args: Parameters<MemoryDriver["stat"]>) {
    const stat = await super.stat(...args);
    return this.sizes.has(stat.name) ? { ...stat, size: this.sizes.get(stat.name)! } : stat;
  }
}
