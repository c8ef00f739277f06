import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { chunkReader, LocalFile, localFile, toBodySource, unreadLocalFile } from "../src/body.js";
import { InvalidArgumentError } from "../src/errors.js";

async function readAll(read: () => Promise<Buffer | undefined>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let chunk = await read(); chunk !== undefined; chunk = await read()) out.push(chunk);
  return out;
}

describe("chunkReader", () => {
  it("hands out the producer's own chunks, never a concatenation of buffered ones", async () => {
    const pushed = [Buffer.alloc(10, 1), Buffer.alloc(20, 2), Buffer.alloc(30, 3), Buffer.alloc(5, 4)];
    let next = 0;
    // Pushes synchronously on every read: the stream's async iterator would return 2+ chunks glued
    // together into a fresh Buffer here.
    const body = new Readable({
      highWaterMark: 16,
      read() {
        this.push(pushed[next++] ?? null);
        if (next < pushed.length) this.push(pushed[next++] ?? null);
      },
    });
    const got = await readAll(chunkReader(body));
    expect(got).toHaveLength(pushed.length);
    for (const [i, chunk] of got.entries()) expect(chunk).toBe(pushed[i]);
  });

  it("turns strings and Uint8Arrays of an object-mode stream into Buffers, refuses anything else (typed)", async () => {
    const ok = await readAll(chunkReader(Readable.from(["ab", new Uint8Array([99])], { objectMode: true })));
    expect(ok.every((chunk) => Buffer.isBuffer(chunk))).toBe(true);
    expect(Buffer.concat(ok).toString()).toBe("abc");
    await expect(
      readAll(chunkReader(Readable.from([Buffer.from("x"), { nope: true }], { objectMode: true }))),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it("rejects with the stream's error, and with a premature close when destroyed without one", async () => {
    const failing = new Readable({ read() {} });
    const read = chunkReader(failing);
    setImmediate(() => failing.destroy(new Error("disk gone")));
    await expect(read()).rejects.toThrow("disk gone");

    const closed = new Readable({ read() {} });
    const readClosed = chunkReader(closed);
    setImmediate(() => closed.destroy());
    await expect(readClosed()).rejects.toMatchObject({ code: "ERR_STREAM_PREMATURE_CLOSE" });
  });

  it("settles at once on a stream that already ended or failed (no wait for events that are over)", async () => {
    const drained = Readable.from([Buffer.from("x")], { objectMode: false });
    for await (const _ of drained) {
      // consumed elsewhere
    }
    expect(await chunkReader(drained)()).toBeUndefined();

    const failed = new Readable({ read() {} });
    failed.on("error", () => {});
    failed.destroy(new Error("gone"));
    await new Promise((resolve) => setImmediate(resolve));
    await expect(chunkReader(failed)()).rejects.toThrow("gone");

    const destroyed = new Readable({ read() {} });
    destroyed.destroy();
    await new Promise((resolve) => setImmediate(resolve));
    await expect(chunkReader(destroyed)()).rejects.toMatchObject({ code: "ERR_STREAM_PREMATURE_CLOSE" });
  });

  it("does not read ahead: the stream stays paused between calls", async () => {
    let produced = 0;
    const body = new Readable({
      highWaterMark: 1,
      read() {
        produced++;
        this.push(produced <= 100 ? Buffer.alloc(1) : null);
      },
    });
    const read = chunkReader(body);
    await read();
    await new Promise((resolve) => setTimeout(resolve, 10));
    // The first chunk, plus at most what fills the stream's own small buffer.
    expect(produced).toBeLessThan(5);
  });
});

describe("localFile", () => {
  it("opens nothing until read, then streams the file; a missing file fails on read, not before", async () => {
    const { mkdtemp, rm, writeFile } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const dir = await mkdtemp(join(tmpdir(), "storages-local-file-"));
    try {
      const path = join(dir, "a.bin");
      const content = Buffer.alloc(150_000);
      for (let i = 0; i < content.length; i++) content[i] = i % 253;
      await writeFile(path, content);
      const source = toBodySource(localFile(path));
      expect(source.replayable).toBe(true);
      const first = source.stream();
      expect(unreadLocalFile(first)).toBe(path); // a driver may copy it by its path
      expect(Buffer.concat(await readAll(chunkReader(first))).equals(content)).toBe(true);
      expect(unreadLocalFile(first)).toBeUndefined(); // read: no longer a path to copy from
      // Each attempt gets a fresh stream of the file.
      expect(Buffer.concat(await readAll(chunkReader(source.stream()))).equals(content)).toBe(true);
      // Destroyed unread: nothing was opened, nothing to close.
      const unread = source.stream();
      unread.destroy();
      expect(unreadLocalFile(unread)).toBeUndefined();

      const missing = toBodySource(localFile(join(dir, "nope.bin"))).stream();
      // The caller's input, named: never the key's "not found".
      await expect(readAll(chunkReader(missing))).rejects.toMatchObject({
        code: "E_INVALID_ARGUMENT",
        message: expect.stringContaining("nope.bin"),
        cause: expect.objectContaining({ code: "ENOENT" }),
      });
      expect(() => localFile("")).toThrow(InvalidArgumentError);
      expect(localFile(path)).toBeInstanceOf(LocalFile);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
