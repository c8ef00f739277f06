/**
 * Generated names round-trip exactly on the backend: a few hundred valid unicode names (any that
 * core's one name validator accepts; it never rewrites a name) are saved, listed, stat'ed and read
 * back unchanged — the same string, byte for byte, in every answer.
 */
import { normalizeName } from "@storages/core";
import fc from "fast-check";
import pLimit from "p-limit";
import { describe, expect, it } from "vitest";
import { listAllNames, type SuiteContext } from "../context.js";

/** Names per run: enough to meet the odd cases of unicode, few enough for a real server. */
export const DEFAULT_FUZZ_NAMES = 300;

const segment = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 16 }) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 16 }) },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9 ._()+,;=@&$!'~-]{1,16}$/) },
);
const nameArbitrary = fc
  .array(segment, { minLength: 1, maxLength: 4 })
  .map((segments) => segments.join("/"))
  .filter((name) => {
    try {
      return normalizeName(name) === name;
    } catch {
      return false;
    }
  });

/** `count` distinct valid names from a seed (printed, so a failure can be replayed). */
export function fuzzNames(count: number, seed: number): string[] {
  const names = new Set<string>();
  for (const name of fc.sample(nameArbitrary, { numRuns: count * 3, seed })) {
    // A name that is also a directory of another would make one of them unlistable as a file.
    names.add(name);
    if (names.size === count) break;
  }
  const all = [...names];
  return all.filter((name) => !all.some((other) => other !== name && other.startsWith(`${name}/`)));
}

export function registerFuzz(ctx: SuiteContext): void {
  const count = ctx.options.fuzzNames ?? DEFAULT_FUZZ_NAMES;
  if (count === 0) return;
  const seed = Number(process.env.STORAGES_TEST_FUZZ_SEED) || Date.now() % 2 ** 31;

  describe("generated names round-trip exactly", () => {
    it(`${count} generated unicode names (seed ${seed}): save → list → stat → read give each back unchanged`, async () => {
      const s = await ctx.fresh();
      const names = fuzzNames(count, seed);
      expect(names.length).toBeGreaterThan(count * 0.8);
      const limit = pLimit(16);
      const saved = await Promise.all(
        names.map((name) => limit(async () => (await s.save(name, name, { overwrite: true })).name)),
      );
      expect(saved, `seed ${seed}: a save stored another name`).toEqual(names);
      const listed = await listAllNames(s);
      const missing = names.filter((name) => !listed.includes(name));
      const extra = listed.filter((name) => !names.includes(name));
      expect({ missing, extra }, `seed ${seed}: the listing differs from what was saved`).toEqual({
        missing: [],
        extra: [],
      });
      await Promise.all(
        names.map((name) =>
          limit(async () => {
            const stat = await s.stat(name);
            expect(stat.name, `seed ${seed}: stat of ${JSON.stringify(name)}`).toBe(name);
            expect(await s.readText(name), `seed ${seed}: content of ${JSON.stringify(name)}`).toBe(name);
          }),
        ),
      );
      await s.deleteMany(names);
      expect(await listAllNames(s)).toEqual([]);
    }, 180_000);
  });
}
