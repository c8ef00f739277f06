/**
 * appSources: the app's own static folders from its package.json ("staticfiles"), in every form
 * the field takes, and a ConfigError (never a crash or a silent skip) for anything else.
 */
import { writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { StorageError } from "@storages/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { appSources, parseSourceSpec } from "../src/index.js";
import { tempDir } from "./helpers.js";

let dir: { path: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  dir = await tempDir("storages-app-sources-");
});
afterEach(() => dir.cleanup());

const declare = (staticfiles: unknown) =>
  writeFile(join(dir.path, "package.json"), JSON.stringify({ name: "app", staticfiles }));

describe("appSources", () => {
  it("none without a package.json, or without the field", async () => {
    expect(await appSources(dir.path)).toEqual([]);
    await writeFile(join(dir.path, "package.json"), "{}");
    expect(await appSources(dir.path)).toEqual([]);
  });

  it("a folder, DIR=PREFIX, { dir, prefix }, and a list of them, in order, relative to the file", async () => {
    await declare("assets");
    expect(await appSources(dir.path)).toEqual([
      { dir: join(dir.path, "assets"), prefix: undefined, label: 'package.json "staticfiles" assets' },
    ]);
    await declare(["assets", "dist=app/", { dir: "../shared/static", prefix: "shared/" }]);
    const sources = await appSources(dir.path);
    expect(sources.map((s) => [s.dir, s.prefix])).toEqual([
      [join(dir.path, "assets"), undefined],
      [join(dir.path, "dist"), "app/"],
      [resolve(dir.path, "../shared/static"), "shared/"],
    ]);
    expect(sources[1]?.label).toBe('package.json "staticfiles" dist=app/');
  });

  it.each([
    ["a number", 3, '"staticfiles"'],
    ["an empty folder", "", '"staticfiles"'],
    ["an entry with an unknown key", ["assets", { dir: "a", prefx: "b" }], '"staticfiles"[1]'],
    ["a prefix that is not a string", [{ dir: "a", prefix: 1 }], '"staticfiles"[0]'],
    ["a nested list", [["a"]], '"staticfiles"[0]'],
  ])("%s is a ConfigError naming the entry", async (_label, value, where) => {
    await declare(value);
    const error = await appSources(dir.path).catch((e: unknown) => e);
    expect(StorageError.hasCode(error, "E_CONFIG")).toBe(true);
    expect((error as Error).message).toContain(where);
    expect((error as Error).message).toContain("package.json");
  });

  it("a package.json that is not JSON is a ConfigError", async () => {
    await writeFile(join(dir.path, "package.json"), "{ nope");
    const error = await appSources(dir.path).catch((e: unknown) => e);
    expect(StorageError.hasCode(error, "E_CONFIG")).toBe(true);
  });

  it("parseSourceSpec: DIR or DIR=PREFIX (the last = splits); an empty DIR is refused", () => {
    expect(parseSourceSpec("assets")).toEqual({ dir: "assets" });
    expect(parseSourceSpec("a=b=ui/")).toEqual({ dir: "a=b", prefix: "ui/" });
    expect(parseSourceSpec("=ui/")).toBeUndefined();
    expect(parseSourceSpec("")).toBeUndefined();
  });
});
