import { Readable } from "node:stream";
import {
  AlreadyExistsError,
  type Driver,
  MemoryDriver,
  MirrorDivergedError,
  mirror,
  NotFoundError,
  PartialFailureError,
  Storage,
  StorageError,
  UnsupportedError,
} from "@storages/core";
import { describe, expect, it } from "vitest";

function memory(options: ConstructorParameters<typeof Storage>[1] = {}) {
  return new Storage(new MemoryDriver(), options);
}

/** A memory storage whose chosen operations fail like an unreachable backend. */
function flaky(fail: Set<string>) {
  const driver = new MemoryDriver();
  const failing = new Proxy(driver, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      // The bytes fast paths are the same operations as write/read.
      const operation = prop === "writeBytes" ? "write" : prop === "readBytes" ? "read" : prop;
      if (typeof operation === "string" && fail.has(operation) && typeof value === "function") {
        return async (...args: unknown[]) => {
          const body = args[1];
          if (body instanceof Readable) body.destroy();
          throw new StorageError("E_BACKEND", `secondary ${operation} is down`, { retryable: true });
        };
      }
      return typeof value === "function" ? value.bind(target) : value;
    },
  }) as Driver;
  return new Storage(failing, { retry: false });
}

describe("mirror(primary, ...secondaries)", () => {
  it("writes to all under the name the primary chose, reads from the primary", async () => {
    const primary = memory();
    const secondary = memory();
    const m = mirror(primary, secondary);
    await primary.save("a.txt", "old");
    const saved = await m.save("a.txt", "new");
    // The primary decided the suffix; the secondary stored that exact name.
    expect(saved.name).not.toBe("a.txt");
    expect(await secondary.readText(saved.name)).toBe("new");
    expect(await secondary.exists("a.txt")).toBe(false);
    expect(await m.readText(saved.name)).toBe("new");
    expect(await m.readText("a.txt")).toBe("old");
  });

  it("streams a non-replayable body to the secondaries by reading it back from the primary", async () => {
    const primary = memory();
    const secondaries = [memory(), memory()];
    const m = mirror(primary, ...secondaries);
    const chunks = Array.from({ length: 50 }, (_, i) => Buffer.alloc(1024, i));
    const saved = await m.save("big.bin", Readable.from(chunks), {
      contentType: "application/x-test",
      metadata: { k: "v" },
    });
    const expected = Buffer.concat(chunks);
    for (const s of [primary, ...secondaries]) {
      expect((await s.readBytes(saved.name)).equals(expected)).toBe(true);
      const stat = await s.stat(saved.name);
      expect(stat.contentType).toBe("application/x-test");
      expect(stat.metadata).toEqual({ k: "v" });
    }
  });

  it("a save that must not overwrite never overwrites a file that only a secondary has", async () => {
    const [fresh, legacy] = [memory(), memory()];
    await legacy.save("avatar.png", "legacy");
    const m = mirror(fresh, legacy);
    const saved = await m.save("avatar.png", "new upload");
    expect(saved.name).not.toBe("avatar.png");
    expect(await legacy.readText("avatar.png")).toBe("legacy");
    expect(await legacy.readText(saved.name)).toBe("new upload");
    expect(await m.readText("avatar.png")).toBe("legacy");
    // The same with a stream body.
    const streamed = await m.save("avatar.png", Readable.from([Buffer.from("streamed")]));
    expect(streamed.name).not.toBe("avatar.png");
    expect(await legacy.readText("avatar.png")).toBe("legacy");
  });

  it("a file appearing on a secondary meanwhile is reported as a divergence, never replaced", async () => {
    const legacyDriver = new MemoryDriver();
    // exists() that misses the file: what a concurrent writer looks like between check and write.
    const blind = new Proxy(legacyDriver, {
      get(target, prop, receiver) {
        if (prop === "exists") return async () => false;
        const value = Reflect.get(target, prop, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    }) as Driver;
    const legacy = new Storage(blind);
    await legacy.save("report.csv", "legacy");
    const error = await mirror(memory(), legacy)
      .save("report.csv", "new")
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MirrorDivergedError);
    expect((error as MirrorDivergedError).failed).toEqual(["secondary 1 (memory)"]);
    expect((error as MirrorDivergedError).message).toMatch(
      /already exists there \(written by something else\): it was not overwritten/,
    );
    expect(legacyDriver.keys()).toEqual(["report.csv"]);
    expect(await legacy.readText("report.csv")).toBe("legacy");
  });

  it("copy with overwrite: false does not replace a secondary's file", async () => {
    const [p, s] = [memory(), memory()];
    await p.save("a.txt", "A");
    await s.save("a.txt", "A");
    await s.save("b.txt", "legacy b");
    const error = await mirror(p, s)
      .copy("a.txt", "b.txt", { overwrite: false })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MirrorDivergedError);
    expect(await s.readText("b.txt")).toBe("legacy b");
    expect(await p.readText("b.txt")).toBe("A");
  });

  it("exclusive: a name taken on the primary or on a secondary is E_ALREADY_EXISTS, nothing written", async () => {
    const [pd, sd] = [new MemoryDriver(), new MemoryDriver()];
    const [p, s] = [new Storage(pd), new Storage(sd)];
    await s.save("legacy.json", "legacy");
    await p.save("new.json", "new");
    const m = mirror(p, s);
    for (const name of ["legacy.json", "new.json"]) {
      await expect(m.save(name, "mine", { exclusive: true })).rejects.toSatisfy(
        AlreadyExistsError.isInstance,
      );
    }
    expect(await p.exists("legacy.json")).toBe(false);
    expect(await s.readText("legacy.json")).toBe("legacy");
    expect(await p.readText("new.json")).toBe("new");
    expect(await s.exists("new.json")).toBe(false);
    expect((await m.save("free.json", "mine", { exclusive: true })).name).toBe("free.json");
    expect(await s.readText("free.json")).toBe("mine");
    // A copy without overwrite through the stream fallback is exclusive too: never a suffixed name.
    await expect(m.copy("free.json", "new.json", { overwrite: false })).rejects.toSatisfy(
      AlreadyExistsError.isInstance,
    );
    expect(pd.keys()).toEqual(["free.json", "new.json"]);
    expect(sd.keys()).toEqual(["free.json", "legacy.json"]);
  });

  it("overwrite: true replaces the file everywhere", async () => {
    const [p, s] = [memory(), memory()];
    await s.save("x.txt", "stale-on-secondary");
    const m = mirror(p, s);
    await m.save("x.txt", "v2", { overwrite: true });
    expect(await p.readText("x.txt")).toBe("v2");
    expect(await s.readText("x.txt")).toBe("v2");
  });

  it("falls back to the secondaries on NotFound (stat, exists, open, ranges, visibility)", async () => {
    const [p, s] = [memory(), memory()];
    await s.save("legacy.txt", "0123456789", { visibility: "public" });
    const m = mirror(p, s);
    expect(await m.exists("legacy.txt")).toBe(true);
    expect((await m.stat("legacy.txt")).size).toBe(10);
    expect(await m.readText("legacy.txt")).toBe("0123456789");
    expect((await m.readBytes("legacy.txt", { range: { start: 2, end: 4 } })).toString()).toBe("234");
    expect(await m.getVisibility("legacy.txt")).toBe("public");
    await expect(m.readText("nowhere.txt")).rejects.toSatisfy(NotFoundError.isInstance);
    expect(await m.exists("nowhere.txt")).toBe(false);
  });

  it("lists from the primary only", async () => {
    const [p, s] = [memory(), memory()];
    await p.save("d/a.txt", "a");
    await s.save("d/b.txt", "b");
    const names: string[] = [];
    for await (const e of mirror(p, s).list("d/")) names.push(e.name);
    expect(names).toEqual(["d/a.txt"]);
  });

  it("deletes, copies, moves and visibility changes go to all", async () => {
    const [p, s] = [memory(), memory()];
    const m = mirror(p, s);
    await m.save("a.txt", "A", { overwrite: true });
    await m.copy("a.txt", "b.txt");
    expect(await s.readText("b.txt")).toBe("A");
    await m.move("b.txt", "c.txt");
    expect(await p.exists("b.txt")).toBe(false);
    expect(await s.exists("b.txt")).toBe(false);
    expect(await s.readText("c.txt")).toBe("A");
    await m.setVisibility("c.txt", "public");
    expect(await s.getVisibility("c.txt")).toBe("public");
    await m.delete("c.txt");
    await m.delete("c.txt"); // idempotent
    expect(await p.exists("c.txt")).toBe(false);
    expect(await s.exists("c.txt")).toBe(false);
    await m.deleteMany(["a.txt"]);
    expect(await s.exists("a.txt")).toBe(false);
  });

  it("a copy whose source is not on a secondary yet sends the primary's file there", async () => {
    const [p, s] = [memory(), memory()];
    await p.save("old.txt", "from-before-the-mirror", { contentType: "text/x-old" });
    await mirror(p, s).copy("old.txt", "new.txt");
    expect(await s.readText("new.txt")).toBe("from-before-the-mirror");
    expect((await s.stat("new.txt")).contentType).toBe("text/x-old");
  });

  it("a secondary failure after the primary wrote throws MirrorDivergedError naming the stored file and members", async () => {
    const p = memory();
    const ok = memory();
    const down = flaky(new Set(["write"]));
    const m = mirror(p, ok, down);
    const error = await m.save("doc.txt", "data").then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(MirrorDivergedError);
    const diverged = error as MirrorDivergedError;
    expect(PartialFailureError.isInstance(diverged)).toBe(true);
    expect(diverged.code).toBe("E_PARTIAL_FAILURE");
    expect(diverged.key).toBe("doc.txt");
    expect(diverged.succeeded).toEqual(["primary (memory)", "secondary 1 (memory)"]);
    expect(diverged.failed).toEqual(["secondary 2 (memory)"]);
    expect(diverged.retryable).toBe(true);
    expect(diverged.operation).toBe("save");
    expect(diverged.message).toMatch(
      /^mirror: save of "doc.txt" succeeded on primary \(memory\), secondary 1 \(memory\) but failed on secondary 2 \(memory\): .*secondary write is down.*The storages have diverged/,
    );
    // Nothing is rolled back: the primary's copy is the user's data.
    expect(await p.readText("doc.txt")).toBe("data");
    expect(await ok.readText("doc.txt")).toBe("data");
  });

  it("onSecondaryError: a callback reports the divergence and the save succeeds", async () => {
    const reported: MirrorDivergedError[] = [];
    const m = mirror(memory(), flaky(new Set(["write", "delete"])), {
      onSecondaryError: (e) => reported.push(e),
    });
    const saved = await m.save("a.txt", "x");
    expect(saved.name).toBe("a.txt");
    await m.delete("a.txt");
    expect(reported.map((e) => [e.operation, e.key, e.failed])).toEqual([
      ["save", "a.txt", ["secondary 1 (memory)"]],
      ["delete", "a.txt", ["secondary 1 (memory)"]],
    ]);
  });

  it("a primary delete failure is thrown even when the secondaries deleted", async () => {
    const p = flaky(new Set(["delete"]));
    const s = memory();
    await s.save("a.txt", "x");
    const error = await mirror(p, s)
      .delete("a.txt")
      .catch((e: unknown) => e);
    expect((error as MirrorDivergedError).failed).toEqual(["primary (memory)"]);
    expect((error as MirrorDivergedError).succeeded).toEqual(["secondary 1 (memory)"]);
  });

  it("a primary failure fails the save before any secondary is touched", async () => {
    const s = memory();
    await expect(mirror(flaky(new Set(["write"])), s).save("a.txt", "x")).rejects.toThrow(
      /secondary write is down/,
    );
    expect(await s.exists("a.txt")).toBe(false);
  });

  it("refuses signed uploads, and URLs come from the primary", async () => {
    const p = memory({ publicUrl: "https://cdn.example.com/media/", visibility: "public" });
    const m = mirror(p, memory());
    expect(m.publicUrl("a b.txt")).toBe(p.publicUrl("a b.txt"));
    expect(await m.url("x.txt")).toBe("https://cdn.example.com/media/x.txt");
    await expect(m.signedUpload("a.txt")).rejects.toSatisfy(UnsupportedError.isInstance);
    expect(m.capabilities.signedUpload).toEqual([]);
    expect(m.visibility).toBe("public");
  });

  it("checks its arguments", () => {
    const p = memory();
    expect(() => mirror(p)).toThrow(
      "mirror() needs at least one secondary storage: mirror(primary, secondary).",
    );
    expect(() => mirror(p, p)).toThrow(/same storage twice/);
    expect(() => mirror(p, {} as Storage, memory())).toThrow(/takes Storage instances/);
  });
});
