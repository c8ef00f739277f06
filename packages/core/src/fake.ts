/**
 * `fake()`: an in-memory Storage for an application's own tests, with assertions that fail with
 * readable messages (plain Errors, so they work under any test runner).
 */
import { MemoryDriver } from "./memory.js";
import { Storage, type StorageOptions } from "./storage.js";

export class FakeStorage extends Storage {
  declare readonly driver: MemoryDriver;

  constructor(options: StorageOptions = {}) {
    super(new MemoryDriver({ defaultVisibility: options.visibility }), options);
  }

  /** Every stored name, sorted. */
  files(): string[] {
    return this.driver.keys();
  }

  /** Removes every file. */
  reset(): void {
    this.driver.clear();
  }

  async assertExists(name: string): Promise<void> {
    if (!(await this.exists(name))) {
      throw new Error(
        `Expected "${name}" to exist in the fake storage; it holds: ${describeFiles(this.files())}.`,
      );
    }
  }

  async assertMissing(name: string): Promise<void> {
    if (await this.exists(name)) throw new Error(`Expected "${name}" not to exist in the fake storage.`);
  }

  async assertContent(name: string, expected: string | Uint8Array): Promise<void> {
    await this.assertExists(name);
    const actual = await this.readBytes(name);
    const wanted = typeof expected === "string" ? Buffer.from(expected) : Buffer.from(expected);
    if (!actual.equals(wanted)) {
      throw new Error(
        `Expected "${name}" to hold ${wanted.length} bytes ${JSON.stringify(wanted.subarray(0, 60).toString())}, found ${actual.length} bytes ${JSON.stringify(actual.subarray(0, 60).toString())}.`,
      );
    }
  }

  assertCount(expected: number): void {
    const files = this.files();
    if (files.length !== expected) {
      throw new Error(
        `Expected ${expected} files in the fake storage, found ${files.length}: ${describeFiles(files)}.`,
      );
    }
  }
}

function describeFiles(files: string[]): string {
  if (files.length === 0) return "nothing";
  const shown = files.slice(0, 20).map((f) => JSON.stringify(f));
  return shown.join(", ") + (files.length > 20 ? `, … (${files.length} in all)` : "");
}

/** An empty in-memory Storage with assertion helpers. */
export function fake(options: StorageOptions = {}): FakeStorage {
  return new FakeStorage(options);
}
