/**
 * `storages.fake()`'s handle for application tests: the in-memory fakes behind each name, with
 * assertions whose messages name the storage. The registry swaps the storages; this is what a test
 * holds and asserts with.
 */
import type { FakeStorage, FakeStorageOptions } from "../fake.js";
import type { StorageRegistry } from "./registry.js";

export interface FakeOptions {
  /** Facade options per faked storage (e.g. `{ private: { visibility: "private" } }`). */
  storages?: Record<string, FakeStorageOptions> | undefined;
  /** Names handed out read-only by get(). Default: ["staticfiles"]. */
  readOnly?: readonly string[] | undefined;
}

/** Returned by `storages.fake()`: the fakes, with assertions that name the storage. */
export class FakeStorages {
  constructor(private readonly registry: StorageRegistry) {}

  /** The writable fake behind a name (created empty on first use). */
  storage(name: string): FakeStorage {
    return this.registry.fakeStorage(name);
  }

  /** Names the application touched so far. */
  names(): string[] {
    return this.registry.fakedNames();
  }

  files(name: string): string[] {
    return this.storage(name).files();
  }

  async assertExists(name: string, path: string): Promise<void> {
    await prefixed(name, () => this.storage(name).assertExists(path));
  }

  async assertMissing(name: string, path: string): Promise<void> {
    await prefixed(name, () => this.storage(name).assertMissing(path));
  }

  async assertContent(name: string, path: string, expected: string | Uint8Array): Promise<void> {
    await prefixed(name, () => this.storage(name).assertContent(path, expected));
  }

  async assertCount(name: string, expected: number): Promise<void> {
    await prefixed(name, async () => this.storage(name).assertCount(expected));
  }

  /** Fails when any storage other than `names` received a file (e.g. nothing written to staticfiles). */
  assertUntouched(...names: string[]): void {
    for (const name of names) {
      const files = this.registry.fakedNames().includes(name) ? this.files(name) : [];
      if (files.length > 0) {
        throw new Error(
          `Expected storage "${name}" to stay empty; it holds ${files.slice(0, 10).join(", ")}.`,
        );
      }
    }
  }

  restore(): void {
    this.registry.restore();
  }
}

async function prefixed(name: string, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (error) {
    if (error instanceof Error) error.message = `[storage "${name}"] ${error.message}`;
    throw error;
  }
}
