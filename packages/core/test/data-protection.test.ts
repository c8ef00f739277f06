/**
 * `Storage.dataProtection()`: what the driver says about versioning / soft delete, passed through
 * the facade and the decorators; undefined where the driver cannot tell. The real answers (RGW
 * versioning, Azurite soft delete) are proven in @storages/deploy's bucket suite.
 */
import { MemoryDriver, prefixed, readOnly, Storage, StorageError } from "@storages/core";
import { describe, expect, it } from "vitest";

class ProtectedDriver extends MemoryDriver {
  calls = 0;
  async dataProtection() {
    this.calls++;
    return { recoverable: true, detail: "bucket versioning on" };
  }
}

describe("Storage.dataProtection()", () => {
  it("is undefined for a driver that cannot tell", async () => {
    expect(await new Storage(new MemoryDriver()).dataProtection()).toBeUndefined();
  });

  it("passes the driver's answer through the facade, readOnly and prefixed", async () => {
    const driver = new ProtectedDriver();
    const storage = new Storage(driver);
    const answer = { recoverable: true, detail: "bucket versioning on" };
    expect(await storage.dataProtection()).toEqual(answer);
    expect(await readOnly(storage).dataProtection()).toEqual(answer);
    expect(await prefixed(storage, "media/").dataProtection()).toEqual(answer);
    expect(driver.calls).toBe(3);
  });

  it("turns a driver's failure into a StorageError naming the operation", async () => {
    class Failing extends MemoryDriver {
      async dataProtection(): Promise<undefined> {
        throw new Error("boom");
      }
    }
    const error = await new Storage(new Failing()).dataProtection().catch((e: unknown) => e);
    expect(StorageError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ operation: "dataProtection" });
  });
});
