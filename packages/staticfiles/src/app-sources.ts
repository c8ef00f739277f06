/**
 * The app's own static folders, from its package.json — the `STATICFILES_DIRS` of Node, kept with
 * the code so that every deploy (and every developer) collects the same folders without repeating
 * `--source` flags. The field is the one installed packages use to declare theirs (`--packages`):
 *
 *   "staticfiles": "assets"
 *   "staticfiles": ["assets", { "dir": "dist", "prefix": "app/" }, "vendor=vendor/"]
 *
 * In order, first found wins (as with `--source`). Paths are relative to the package.json; the
 * app's own file is trusted as configuration, so a folder outside it ("../shared/static") is
 * allowed, unlike an installed package's.
 */
import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { ConfigError } from "@storages/core";
import type { StaticSource } from "./finders.js";

const FORMS = 'a folder ("assets"), "DIR=PREFIX", { "dir": "…", "prefix": "…" }, or a list of these';

/**
 * The sources `cwd`'s package.json declares in `"staticfiles"`; none when there is no package.json
 * or it has no such field. A field that is there but malformed is a ConfigError naming the fix.
 */
export async function appSources(cwd: string): Promise<StaticSource[]> {
  const file = join(resolve(cwd), "package.json");
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new ConfigError(`${file} cannot be read (${(error as Error).message}).`, { cause: error });
  }
  let declared: unknown;
  try {
    declared = (JSON.parse(text) as { staticfiles?: unknown }).staticfiles;
  } catch (error) {
    throw new ConfigError(`${file} is not valid JSON (${(error as Error).message}).`, { cause: error });
  }
  if (declared === undefined) return [];
  const entries = Array.isArray(declared) ? declared : [declared];
  const base = dirname(file);
  return entries.map((entry, index) => {
    const where = Array.isArray(declared) ? `"staticfiles"[${index}]` : '"staticfiles"';
    const spec = parseEntry(entry);
    if (spec === undefined || spec.dir === "") {
      throw new ConfigError(`${file} ${where} is ${JSON.stringify(entry)}: give ${FORMS}.`);
    }
    return {
      dir: resolve(base, spec.dir),
      prefix: spec.prefix,
      label: `package.json "staticfiles" ${spec.prefix ? `${spec.dir}=${spec.prefix}` : spec.dir}`,
    };
  });
}

/**
 * `DIR` or `DIR=PREFIX` (published under PREFIX): the form of `--source` and of a string entry in
 * `"staticfiles"`. The last "=" splits, so a folder name may hold one. Undefined when DIR is empty.
 */
export function parseSourceSpec(text: string): { dir: string; prefix?: string | undefined } | undefined {
  const eq = text.lastIndexOf("=");
  const spec = eq < 0 ? { dir: text } : { dir: text.slice(0, eq), prefix: text.slice(eq + 1) };
  return spec.dir === "" ? undefined : spec;
}

function parseEntry(entry: unknown): { dir: string; prefix?: string | undefined } | undefined {
  if (typeof entry === "string") return parseSourceSpec(entry);
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) return undefined;
  const { dir, prefix, ...rest } = entry as Record<string, unknown>;
  if (typeof dir !== "string" || (prefix !== undefined && typeof prefix !== "string")) return undefined;
  if (Object.keys(rest).length > 0) return undefined;
  return { dir, prefix };
}
