/**
 * The read-only view every app process gets for static files, over this driver: writes refused
 * before anything is read or changed; reads, listings and URLs exactly the writer's.
 */
import { readOnly } from "@storages/core";
import { describe, expect, it } from "vitest";
import { listAllNames, type SuiteContext } from "../context.js";
import { slowBody } from "../helpers.js";

export function registerDecorators(ctx: SuiteContext): void {
  describe("readOnly() view", () => {
    it("refuses every write with E_READ_ONLY, reads no body and changes nothing; reads, listings and URLs are the writer's", async () => {
      const s = ctx.main;
      const dir = ctx.unique("read-only", "");
      const name = `${dir}/a.txt`;
      await s.save(name, "original", { overwrite: true, contentType: "text/plain" });
      const view = readOnly(s);
      let pulled = 0;
      const body = slowBody({ limit: 1024 * 1024, onChunk: () => pulled++ });
      const refusals: Array<[string, () => Promise<unknown>]> = [
        ["save", () => view.save(`${dir}/new.txt`, body)],
        ["save (overwrite)", () => view.save(name, "changed", { overwrite: true })],
        ["copy", () => view.copy(name, `${dir}/copy.txt`)],
        ["move", () => view.move(name, `${dir}/moved.txt`)],
        ["delete", () => view.delete(name)],
        ["deleteMany", () => view.deleteMany([name])],
        ["deletePrefix", () => view.deletePrefix(`${dir}/`)],
        ["setVisibility", () => view.setVisibility(name, s.visibility)],
        ["signedUpload", () => view.signedUpload(`${dir}/up.txt`, { overwrite: true })],
      ];
      for (const [label, call] of refusals) {
        const error = await ctx.expectError(call(), "E_READ_ONLY");
        expect(error.message, label).toMatch(/read-only/);
      }
      expect(pulled, "the refused save read its body").toBe(0);
      await ctx.expectError(() => view.path(name), "E_UNSUPPORTED", { operation: "path" });
      expect(await listAllNames(s, `${dir}/`)).toEqual([name]);
      expect(await view.readText(name)).toBe("original");
      const [viewStat, writerStat] = [await view.stat(name), await s.stat(name)];
      expect(viewStat).toEqual(writerStat);
      expect(await listAllNames(view, `${dir}/`)).toEqual([name]);
      if (ctx.caps.publicUrl || s.publicBaseUrl !== undefined)
        expect(view.publicUrl(name)).toBe(s.publicUrl(name));
      if (ctx.caps.signedUrl)
        expect(new URL(await view.signedUrl(name, { expiresIn: 60 })).pathname).toBe(
          new URL(await s.signedUrl(name, { expiresIn: 60 })).pathname,
        );
      await s.delete(name);
    });
  });
}
