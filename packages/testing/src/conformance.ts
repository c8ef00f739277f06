/**
 * `describeConformance`: the one suite every driver runs against a real server.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ConformanceOptions, emptyStorage, listAllNames, SERVER_GAPS, SuiteContext } from "./context.js";
import { registerControl } from "./groups/control.js";
import { registerDecorators } from "./groups/decorators.js";
import { registerFiles } from "./groups/files.js";
import { registerFuzz } from "./groups/fuzz.js";
import { registerHttp } from "./groups/http.js";
import { registerIo } from "./groups/io.js";
import { registerPaths } from "./groups/paths.js";

function checkOptions(options: ConformanceOptions): void {
  if (typeof options.createStorage !== "function") {
    throw new TypeError("describeConformance: createStorage must be a function returning a Storage.");
  }
  for (const key of Object.keys(options.serverGaps ?? {})) {
    if (!(SERVER_GAPS as readonly string[]).includes(key)) {
      throw new TypeError(
        `describeConformance: unknown serverGaps key "${key}". Known gaps: ${SERVER_GAPS.join(", ")}.`,
      );
    }
    const reason = options.serverGaps?.[key as keyof typeof options.serverGaps];
    if (typeof reason !== "string" || reason.trim() === "") {
      throw new TypeError(
        `describeConformance: serverGaps.${key} needs a reason (why this server cannot check it).`,
      );
    }
  }
  if (
    options.largeFileSize !== undefined &&
    !(Number.isInteger(options.largeFileSize) && options.largeFileSize > 0)
  ) {
    throw new TypeError("describeConformance: largeFileSize must be a positive integer (bytes).");
  }
}

/** The table printed once per suite: one row per skipped check, so its count is the skip count. */
export function gapTable(ctx: SuiteContext): string {
  const rows = ctx.gapRows.map((row) => `  ${row.gaps.join(", ").padEnd(17)} ${row.test}`);
  const reasons = [...new Set(ctx.gapRows.flatMap((row) => row.gaps))].map(
    (gap) => `  ${gap.padEnd(17)} ${ctx.options.serverGaps?.[gap]}`,
  );
  return [
    `@storages/testing: ${ctx.gapRows.length} check(s) NOT VERIFIABLE on ${ctx.server} (${ctx.options.name}); they are skipped, not passed:`,
    ...rows,
    "Reasons:",
    ...reasons,
  ].join("\n");
}

const CAPABILITY_KEYS = [
  "rangeRead",
  "conditionalWrite",
  "publicUrl",
  "signedUrl",
  "signedUpload",
  "signedUploadMaxBytes",
  "visibility",
  "metadata",
  "checksums",
] as const;

/**
 * Registers the conformance suite for one driver against one server. Call it at the top level of
 * a vitest test file.
 */
export function describeConformance(options: ConformanceOptions): void {
  checkOptions(options);
  describe(`${options.name} conformance on ${options.server}`, async () => {
    const ctx = new SuiteContext(options);
    // Capabilities decide which tests are registered (and how they are named), so the first
    // storage is created while tests are collected.
    await ctx.init();

    afterAll(async () => {
      const problems: string[] = [];
      for (const storage of ctx.created) {
        try {
          await emptyStorage(storage);
          const left = await listAllNames(storage);
          if (left.length > 0)
            problems.push(`${left.length} file(s) left after cleanup: ${left.slice(0, 5).join(", ")}`);
        } catch (error) {
          problems.push(`cleanup failed: ${error instanceof Error ? error.message : String(error)}`);
        }
        try {
          await storage.close();
        } catch (error) {
          problems.push(`close failed: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
      await options.teardown?.();
      if (problems.length > 0) throw new Error(`conformance cleanup: ${problems.join("; ")}`);
    }, 600_000);

    it("declares a backend name and every capability", () => {
      expect(typeof ctx.backend).toBe("string");
      expect(ctx.backend.length).toBeGreaterThan(0);
      expect(Object.keys(ctx.caps).sort()).toEqual(expect.arrayContaining([...CAPABILITY_KEYS].sort()));
      for (const key of ["rangeRead", "conditionalWrite", "publicUrl", "signedUrl", "metadata"] as const) {
        expect(typeof ctx.caps[key], `capabilities.${key}`).toBe("boolean");
      }
      expect(["object", "bucket", "none"]).toContain(ctx.caps.visibility);
      for (const method of ctx.caps.signedUploadMaxBytes) expect(ctx.caps.signedUpload).toContain(method);
      for (const algorithm of ctx.caps.checksums) expect(["md5", "sha256", "crc32c"]).toContain(algorithm);
    });

    registerIo(ctx);
    registerFiles(ctx);
    registerPaths(ctx);
    registerFuzz(ctx);
    registerHttp(ctx);
    registerControl(ctx);
    registerDecorators(ctx);

    // Printed from a hook: nested groups register their tests after this function returns, and
    // vitest does not show console output written during collection.
    beforeAll(() => {
      if (ctx.gapRows.length > 0) console.warn(gapTable(ctx));
    });
  });
}
