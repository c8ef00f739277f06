import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { InvalidPathError, PathTraversalError } from "../src/errors.js";
import {
  encodeNameForUrl,
  joinUrl,
  normalizeName,
  normalizePrefix,
  printableName,
  shellQuote,
} from "../src/path.js";

describe("normalizeName", () => {
  it.each([
    "a.txt",
    "dir/sub/file.tar.gz",
    "spaces in name.txt",
    "plus+sign.txt",
    "100%.txt",
    "50% off.txt",
    "hash#tag.txt",
    "question?.txt",
    "ünïcødé/日本語.txt",
    "e\u0301.txt", // NFD stays NFD: names are stored byte for byte
    "emoji 🎉.png",
    ".hidden",
    "-leading-dash",
    "a..b.txt",
    "x".repeat(255),
  ])("keeps %j unchanged", (name) => {
    expect(normalizeName(name)).toBe(name);
  });

  it.each([
    ["../etc/passwd", PathTraversalError],
    ["a/../../b", PathTraversalError],
    ["./a", PathTraversalError],
    ["a/.", PathTraversalError],
    ["/etc/passwd", PathTraversalError],
    ["C:/Windows/win.ini", PathTraversalError],
    ["c:evil", PathTraversalError],
    ["%2e%2e/secret", PathTraversalError],
    ["%252e%252e/secret", PathTraversalError],
    ["a%2fb", PathTraversalError],
    ["a%5cb", PathTraversalError],
    ["a%00.txt", PathTraversalError],
    ["%c0%ae%c0%ae/x", PathTraversalError],
    ["\uff0e\uff0e/x", PathTraversalError], // fullwidth dots fold to ".."
    ["a\uff0fb", PathTraversalError], // fullwidth solidus folds to "/"
    ["a\\b", InvalidPathError],
    ["a\u0000b", InvalidPathError],
    ["a\nb", InvalidPathError],
    ["a\rb", InvalidPathError],
    ["a\u007fb", InvalidPathError],
    ["a\u0085b", InvalidPathError],
    ["invoice\u202Efdp.exe", InvalidPathError],
    ["a\u2028b", InvalidPathError],
    ["", InvalidPathError],
    ["a//b", InvalidPathError],
    ["a/", InvalidPathError],
    ["...", InvalidPathError],
    [" a.txt", InvalidPathError],
    ["a.txt ", InvalidPathError],
    ["dir /a.txt", InvalidPathError],
    ["x".repeat(256), InvalidPathError],
    [`${"dd/".repeat(400)}x`, InvalidPathError], // 1,201 bytes: over the 1,024-byte total
    ["\ud800.txt", InvalidPathError], // unpaired surrogate
  ])("refuses %j", (name, Expected) => {
    let caught: unknown;
    try {
      normalizeName(name);
    } catch (error) {
      caught = error;
    }
    expect(Expected.isInstance(caught), String(caught)).toBe(true);
    expect(InvalidPathError.isInstance(caught)).toBe(true);
    expect((caught as Error).message).toMatch(/\S{3,}/);
  });

  it.each([undefined, null, 42, {}, ["a"]])("refuses the non-string %j", (value) => {
    expect(() => normalizeName(value)).toThrow(InvalidPathError);
  });
});

describe("normalizePrefix", () => {
  it("maps the root and directories to a trailing-slash form", () => {
    expect(normalizePrefix(undefined)).toBe("");
    expect(normalizePrefix("")).toBe("");
    expect(normalizePrefix("a/b")).toBe("a/b/");
    expect(normalizePrefix("a/b/")).toBe("a/b/");
  });
  it.each(["/", "/a", "../a", "a//", "a/../b/"])("refuses %j", (prefix) => {
    expect(() => normalizePrefix(prefix)).toThrow(InvalidPathError);
  });
});

describe("URL encoding of names", () => {
  it("encodes every segment and keeps the slashes", () => {
    expect(encodeNameForUrl("a b/c#d?e%f+g.txt")).toBe("a%20b/c%23d%3Fe%25f%2Bg.txt");
    expect(encodeNameForUrl("(it's)*!.txt")).toBe("%28it%27s%29%2A%21.txt");
    expect(joinUrl("https://cdn.example.com/media", "x y.txt")).toBe(
      "https://cdn.example.com/media/x%20y.txt",
    );
    expect(joinUrl("/media/", "é.txt")).toBe("/media/%C3%A9.txt");
  });
});

describe("the plain-name fast path", () => {
  it("accepts exactly what the full rules accept, for every name of plain characters", async () => {
    const { isPlainName, checkNameFully } = await import("../src/path.js");
    // Every string of up to 4 characters over an alphabet with the plain characters and "/", and
    // long segments around the limits: the fast path may only say yes where the full rules do.
    const alphabet = ["a", "Z", "0", "_", ".", "-", "/"];
    const names: string[] = [""];
    for (let length = 1; length <= 4; length++) {
      for (const prefix of names.filter((n) => n.length === length - 1)) {
        for (const c of alphabet) names.push(prefix + c);
      }
    }
    names.push(
      "a".repeat(255),
      "a".repeat(256),
      `d/${"b".repeat(255)}`,
      `${"c/".repeat(511)}c`,
      `${"c/".repeat(512)}c`,
    );
    let plain = 0;
    for (const name of names) {
      const full = (() => {
        try {
          checkNameFully(name);
          return true;
        } catch {
          return false;
        }
      })();
      if (isPlainName(name)) {
        plain++;
        expect(full, JSON.stringify(name)).toBe(true);
      }
    }
    expect(plain).toBeGreaterThan(1000);
  });
});

describe("printableName", () => {
  it("escapes what normalizeName refuses as invisible (line breaks, escape sequences, bidi overrides), nothing else", () => {
    expect(printableName("a/new\nline.txt")).toBe("a/new\\u000aline.txt");
    expect(printableName("t\u001b]0;pwned\u0007.txt")).toBe("t\\u001b]0;pwned\\u0007.txt");
    expect(printableName("invoice\u202efdp.exe")).toBe("invoice\\u202efdp.exe");
    for (const name of ["avatars/me.jpg", "café/ü 1.txt", "back\\slash", "日本.txt"])
      expect(printableName(name)).toBe(name);
    // Whatever it leaves is plain ASCII where the control was.
    for (const c of ["\u0000", "\u001f", "\u007f", "\u0085", "\u009f", "\u200e", "\u2028", "\u2069"])
      expect(printableName(`x${c}y`)).toMatch(/^x\\u[0-9a-f]{4}y$/);
  });
});

describe("shellQuote", () => {
  it("makes one sh word of anything, quotes, spaces, substitutions and line breaks included", () => {
    for (const word of ["plain", "two words", "it's", "a''b ' c", "$(touch x); `x` \\", "", "line\nbreak"]) {
      expect(execFileSync("sh", ["-c", `printf %s ${shellQuote(word)}`]).toString()).toBe(word);
    }
  });
});
