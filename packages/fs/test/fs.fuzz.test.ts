/**
 * The name rules on a real disk (fast-check, 10,000+ generated names saved through fsStorage into a
 * temporary root that holds a link leading out of it): every name is either refused with a typed
 * InvalidPath error (E_INVALID_PATH, or its subclass E_PATH_TRAVERSAL) or stored at a real path
 * inside the root — nothing lands outside it — and every accepted name, unicode included,
 * round-trips exactly: save → list → read. Names are never rewritten (no normalisation: two names
 * that differ only by Unicode normalisation are two files, as on every other backend).
 *
 * Batch durability keeps 10,000 saves quick: what is tested is where files land, not fsync.
 */
import { createHash } from "node:crypto";
import { mkdir, readdir, realpath, symlink, writeFile } from "node:fs/promises";
import { join, sep } from "node:path";
import { InvalidPathError, StorageError } from "@storages/core";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { fsStorage } from "../src/index.js";
import { tempDir } from "./helpers.js";

const RUNS = 10_000;

/** Pieces that make names hostile, mixed with ordinary and arbitrary unicode text below. */
const HOSTILE = [
  "..",
  ".",
  "/",
  "//",
  "\\",
  "%2e%2e",
  "%2F",
  "%00",
  "\u0000",
  "\n",
  "\u202e",
  "\u2028",
  "．．",
  "／",
  "\uff0e",
  "\ud800",
  "C:",
  " ",
  "~",
  "escape",
  "escape/",
  "inside/",
  ".~storages-x",
  ".~storages-meta-0123456789abcdef0123456789abcdef.json",
  "e\u0301", // NFD é
  "\u00e9", // NFC é
  "Å",
  "日本語",
  "👩‍👩‍👧",
  "x".repeat(255),
];

const segmentText = fc.oneof(
  fc.string({ unit: "grapheme", minLength: 1, maxLength: 10 }),
  fc.string({ unit: "binary", minLength: 1, maxLength: 8 }),
  fc.constantFrom(...HOSTILE),
  fc.stringMatching(/^[A-Za-z0-9._-]{1,10}$/),
);
const nameLike = fc
  .array(fc.tuple(segmentText, fc.constantFrom("/", "/", "")), { minLength: 1, maxLength: 5 })
  .map((parts) => parts.map(([text, separator], i) => (i === 0 ? text : separator + text)).join(""));

const md5 = (data: string | Uint8Array) => createHash("md5").update(data).digest("hex");

const sandbox = await tempDir("storages-fs-fuzz-");
afterAll(() => sandbox.cleanup());

describe(`names on disk (${RUNS.toLocaleString("en")} generated names)`, () => {
  it("land inside the root or are refused with a typed path error, and round-trip exactly", async () => {
    const root = join(sandbox.path, "root");
    const outside = join(sandbox.path, "outside");
    await mkdir(join(root, "inside"), { recursive: true });
    await mkdir(outside);
    await writeFile(join(outside, "sentinel"), "untouched");
    await symlink(outside, join(root, "escape")); // a link inside the root that leads out of it
    const realRoot = await realpath(root);
    const storage = fsStorage({ root, overwrite: true, durability: "batch" });

    const stored = new Map<string, string>();
    let refused = 0;
    let traversals = 0;
    await fc.assert(
      fc.asyncProperty(nameLike, async (name) => {
        const body = `content of ${JSON.stringify(name)}`;
        let saved: string;
        try {
          saved = (await storage.save(name, body)).name;
        } catch (error) {
          // A refusal is a typed path error with a message, never a crash or another error.
          expect(StorageError.isInstance(error), String(error)).toBe(true);
          expect(
            InvalidPathError.isInstance(error),
            `${(error as StorageError).code}: ${String(error)}`,
          ).toBe(true);
          expect((error as Error).message.length).toBeGreaterThan(10);
          refused++;
          if ((error as StorageError).code === "E_PATH_TRAVERSAL") traversals++;
          return;
        }
        expect(saved).toBe(name); // never rewritten
        const real = await realpath(storage.path(name));
        expect(real.startsWith(realRoot + sep), `${JSON.stringify(name)} landed at ${real}`).toBe(true);
        stored.set(name, body);
      }),
      { numRuns: RUNS },
    );
    await storage.flush();

    // Nothing outside the root was touched.
    expect(await readdir(outside)).toEqual(["sentinel"]);
    expect((await readdir(sandbox.path)).sort()).toEqual(["outside", "root"]);

    // Every accepted name is listed exactly once, exactly as given, with its checksum; and reads back.
    const listed = new Map<string, string | undefined>();
    for await (const entry of storage.list("", { recursive: true })) {
      if (entry.type === "file") {
        expect(listed.has(entry.name), `listed twice: ${JSON.stringify(entry.name)}`).toBe(false);
        listed.set(entry.name, entry.checksums?.md5);
      }
    }
    expect([...listed.keys()].sort()).toEqual([...stored.keys()].sort());
    for (const [name, body] of stored) {
      expect(listed.get(name), JSON.stringify(name)).toBe(md5(body));
      expect(await storage.readText(name), JSON.stringify(name)).toBe(body);
    }
    // Both kinds of outcome happened, in numbers (or the generators test nothing).
    expect(stored.size).toBeGreaterThan(RUNS / 5);
    expect(refused).toBeGreaterThan(RUNS / 5);
    expect(traversals).toBeGreaterThan(0); // names through the link out of the root
    // biome-ignore lint/suspicious/noControlCharactersInRegex: counting names beyond ASCII
    expect([...stored.keys()].filter((n) => /[^\u0000-\u007f]/.test(n)).length).toBeGreaterThan(RUNS / 20);
    await storage.close();
  });
});
