/**
 * The samples in the docs work when copied: JSON blocks parse as the strict JSON a
 * storages.config.json must be, ```sh blocks that set variables set every one of them with the
 * value written (an unquoted `&` in a storage URL backgrounds the assignment, and sourcing the
 * block sets nothing), and every command the docs tell people to run exists.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..");

function markdownFiles(): string[] {
  const files: string[] = [join(ROOT, "README.md")];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".md")) files.push(path);
    }
  };
  walk(join(ROOT, "docs"));
  for (const dir of ["packages", "examples"]) {
    for (const name of readdirSync(join(ROOT, dir))) {
      const readme = join(ROOT, dir, name, "README.md");
      if (existsSync(readme)) files.push(readme);
    }
  }
  return files;
}

interface Block {
  file: string;
  line: number;
  lang: string;
  text: string;
}

function blocks(): Block[] {
  const out: Block[] = [];
  for (const file of markdownFiles()) {
    const lines = readFileSync(file, "utf8").split("\n");
    for (let i = 0; i < lines.length; i++) {
      const open = /^\s*```(\w*)\s*$/.exec(lines[i]!);
      if (!open || open[1] === "") continue;
      const start = i;
      const body: string[] = [];
      while (++i < lines.length && !/^\s*```\s*$/.test(lines[i]!)) body.push(lines[i]!);
      out.push({ file: relative(ROOT, file), line: start + 1, lang: open[1]!, text: body.join("\n") });
    }
  }
  return out;
}

const all = blocks();
const where = (b: Block) => `${b.file}:${b.line}`;

describe("JSON samples", () => {
  const json = all.filter((b) => b.lang === "json" || b.lang === "jsonc");
  it("there are some (the extraction works)", () => {
    expect(json.length).toBeGreaterThan(0);
  });
  it.each(json.map((b) => [where(b), b] as const))("%s parses as strict JSON", (_where, b) => {
    expect(() => JSON.parse(b.text)).not.toThrow();
  });
});

/** `NAME=value` lines (and comments, blank lines): a block meant to be put in an env file or sourced. */
const ASSIGNMENT = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/;

function isVariableBlock(text: string): boolean {
  const lines = text.split("\n").filter((l) => l.trim() !== "" && !l.trim().startsWith("#"));
  return lines.length > 0 && lines.every((l) => ASSIGNMENT.test(l.trim()));
}

/** The value the author wrote: one level of quotes removed, up to the first unquoted blank. */
function writtenValue(rhs: string): string {
  const quote = rhs[0];
  if (quote === "'" || quote === '"') return rhs.slice(1, rhs.indexOf(quote, 1));
  return rhs.split(/\s/)[0]!;
}

describe("sh samples that set variables", () => {
  const dir = mkdtempSync(join(tmpdir(), "storages-docs-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const variableBlocks = all.filter((b) => b.lang === "sh" && isVariableBlock(b.text));

  it("there are some (the extraction works)", () => {
    expect(variableBlocks.length).toBeGreaterThan(0);
  });

  it.each(variableBlocks.map((b) => [where(b), b] as const))(
    "%s is valid sh and sets every variable to the value written",
    (_where, b) => {
      const file = join(dir, `${b.file.replace(/\W/g, "_")}_${b.line}.sh`);
      writeFileSync(file, `${b.text}\n`);
      execFileSync("sh", ["-n", file]);
      // Sourced the way people load an env file; `wait` lets a backgrounded assignment finish.
      const output = execFileSync("sh", ["-c", 'set -a; . "$1" >/dev/null 2>&1; wait; env -0', "sh", file], {
        env: { PATH: process.env.PATH },
        encoding: "utf8",
      });
      const env = new Map(
        output
          .split("\0")
          .filter(Boolean)
          .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)] as const),
      );
      for (const line of b.text.split("\n")) {
        const m = ASSIGNMENT.exec(line.trim());
        if (!m) continue;
        expect(env.get(m[1]!), `${m[1]} after sourcing ${where(b)}`).toBe(writtenValue(m[2]!));
      }
    },
  );
});

describe("commands the docs tell people to run exist", () => {
  const rootPackage = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
    scripts: Record<string, string>;
  };
  const bins = new Set(
    readdirSync(join(ROOT, "packages")).flatMap((name) => {
      const path = join(ROOT, "packages", name, "package.json");
      if (!existsSync(path)) return [];
      const bin = (JSON.parse(readFileSync(path, "utf8")) as { bin?: string | Record<string, string> }).bin;
      return bin === undefined ? [] : typeof bin === "string" ? [name] : Object.keys(bin);
    }),
  );
  const prose = markdownFiles().map((file) => ({
    file: relative(ROOT, file),
    text: readFileSync(file, "utf8"),
  }));

  it("every `npm run <script>` is a script of the root package.json", () => {
    const missing = prose.flatMap(({ file, text }) =>
      [...text.matchAll(/npm run ([a-z][\w:-]*)/g)]
        .map((m) => m[1]!)
        .filter((script) => !(script in rootPackage.scripts))
        .map((script) => `${file}: npm run ${script}`),
    );
    expect(missing).toEqual([]);
  });

  it("a `storages <command>` is only mentioned once a package provides the storages bin", () => {
    if (bins.has("storages")) return;
    const mentions = prose.flatMap(({ file, text }) =>
      [...text.matchAll(/`(?:npx )?storages ([a-z][\w-]*)[^`]*`/g)].map((m) => `${file}: ${m[0]}`),
    );
    expect(mentions).toEqual([]);
  });
});
