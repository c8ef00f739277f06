/**
 * Hostile names: refused by every method that takes a name, before anything is written.
 */
import type { Storage } from "@storages/core";
import { InvalidPathError, StorageError } from "@storages/core";
import { beforeAll, describe, expect, it } from "vitest";
import { expectNoSecret, listAllNames, preview, type SuiteContext } from "../context.js";
import { hostileNames } from "../names.js";

type Attempt = (storage: Storage, name: string) => unknown;

/** What a refusal must look like; `allowUnsupported` when the driver lacks the capability anyway. */
function refusal(error: unknown, allowUnsupported: boolean, backend: string): string | undefined {
  if (InvalidPathError.isInstance(error)) {
    expectNoSecret(error);
    if (error.backend !== backend || error.operation === undefined) {
      return `${error.code} without context (operation ${error.operation}, backend ${error.backend})`;
    }
    return undefined;
  }
  if (allowUnsupported && StorageError.hasCode(error, "E_UNSUPPORTED")) return undefined;
  return preview(error);
}

export function registerPaths(ctx: SuiteContext): void {
  const sentinel = "sentinel/keep.txt";
  const operations: Array<[string, Attempt, boolean?]> = [
    ["save", (s, n) => s.save(n, "pwned")],
    [
      "save (stream body)",
      (s, n) =>
        s.save(
          n,
          (async function* () {
            yield "pwned";
          })(),
        ),
    ],
    ["save (overwrite:true)", (s, n) => s.save(n, "pwned", { overwrite: true })],
    ["open", async (s, n) => (await s.open(n)).bytes()],
    ["readBytes", (s, n) => s.readBytes(n)],
    ["readText", (s, n) => s.readText(n)],
    ["exists", (s, n) => s.exists(n)],
    ["stat", (s, n) => s.stat(n)],
    ["delete", (s, n) => s.delete(n)],
    ["deleteMany", (s, n) => s.deleteMany([n])],
    ["copy (to)", (s, n) => s.copy(sentinel, n)],
    ["copy (from)", (s, n) => s.copy(n, "copied.txt")],
    ["move (to)", (s, n) => s.move(sentinel, n)],
    ["move (from)", (s, n) => s.move(n, "moved.txt")],
    ["checksum", (s, n) => s.checksum(n, "sha256")],
    ["url", (s, n) => s.url(n), !ctx.caps.signedUrl && !ctx.caps.publicUrl],
    ["publicUrl", (s, n) => s.publicUrl(n), true],
    ["signedUrl", (s, n) => s.signedUrl(n), !ctx.caps.signedUrl],
    ["signedUpload", (s, n) => s.signedUpload(n, { overwrite: true }), ctx.caps.signedUpload.length === 0],
    ["setVisibility", (s, n) => s.setVisibility(n, "private"), ctx.caps.visibility !== "object"],
    ["getVisibility", (s, n) => s.getVisibility(n), ctx.caps.visibility === "none"],
  ];

  describe(`hostile names (${hostileNames.length}) are refused with InvalidPathError`, () => {
    let s: Storage;
    let sibling: Storage;
    let aimed: string[] = [];
    beforeAll(async () => {
      s = await ctx.fresh();
      // A sibling storage: names like "../<its prefix>/x" aim at it.
      const other = await ctx.freshWithPrefix();
      sibling = other.storage;
      aimed = [
        `../${other.prefix}/pwned.txt`,
        `../../${other.prefix}/pwned.txt`,
        `/${other.prefix}/pwned.txt`,
      ];
      await s.save(sentinel, "sentinel");
    });

    for (const [label, attempt, allowUnsupported] of operations) {
      it(`${label} refuses every hostile name and writes nothing`, async () => {
        const accepted: string[] = [];
        for (const name of [...hostileNames, ...aimed]) {
          try {
            await attempt(s, name);
            accepted.push(`${JSON.stringify(name)} → accepted`);
          } catch (error) {
            const problem = refusal(error, allowUnsupported === true, ctx.backend);
            if (problem !== undefined) accepted.push(`${JSON.stringify(name)} → ${problem}`);
          }
        }
        expect(accepted, `${label} did not refuse these with InvalidPathError`).toEqual([]);
        expect(await listAllNames(s)).toEqual([sentinel]);
        expect(await s.readText(sentinel)).toBe("sentinel");
        expect(await listAllNames(sibling)).toEqual([]);
      });
    }

    it("list refuses hostile prefixes", async () => {
      const s = ctx.main;
      const prefixes = [
        "..",
        "../",
        "../x/",
        "/",
        "/etc/",
        "a/../..",
        "a\\b/",
        "%2e%2e/",
        "a//b/",
        "a\u0000/",
      ];
      const accepted: string[] = [];
      for (const prefix of prefixes) {
        try {
          for await (const _ of s.list(prefix)) break;
          await s.listPage(prefix);
          accepted.push(JSON.stringify(prefix));
        } catch (error) {
          if (!InvalidPathError.isInstance(error))
            accepted.push(`${JSON.stringify(prefix)} → ${preview(error)}`);
        }
      }
      expect(accepted).toEqual([]);
    });

    it("refusals say what is wrong, carry the code and operation, and never the whole over-long name", async () => {
      const s = ctx.main;
      const error = await ctx.expectError(s.save("../escape.txt", "x"), "E_PATH_TRAVERSAL", {
        operation: "save",
      });
      expect(error.message).toMatch(/\.\./);
      const control = await ctx.expectError(s.stat("a\nb.txt"), "E_INVALID_PATH", { operation: "stat" });
      expect(control.message).not.toContain("\n");
      const long = await ctx.expectError(s.save("x".repeat(5000), "x"), ["E_INVALID_PATH"], {
        operation: "save",
      });
      expect(long.message.length).toBeLessThan(1000);
    });
  });
}
