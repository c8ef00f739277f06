/**
 * The default ignore globs have a quick pre-check (mayMatchDefaults): it must say "may match" for
 * every name the globs match, or a file Django ignores would be published.
 */
import fc from "fast-check";
import picomatch from "picomatch";
import { describe, expect, it } from "vitest";
import { DEFAULT_IGNORE, mayMatchDefaults } from "../src/finders.js";

const globs = picomatch([...DEFAULT_IGNORE], { dot: true });

describe("the default ignore globs' pre-check", () => {
  it("lets through every name the globs match", () => {
    const piece = fc.constantFrom(
      "a",
      "b.css",
      ".",
      "..",
      ".git",
      ".env",
      "CVS",
      "cvs",
      "x~",
      "~",
      "/",
      "_",
      "-",
    );
    const name = fc.oneof(
      fc.array(piece, { maxLength: 8 }).map((parts) => parts.join("")),
      fc.array(piece, { minLength: 1, maxLength: 5 }).map((parts) => parts.join("/")),
      fc.string({ maxLength: 16 }),
    );
    let matched = 0;
    fc.assert(
      fc.property(name, (n) => {
        if (!globs(n)) return true;
        matched++;
        return mayMatchDefaults(n);
      }),
      { numRuns: 20_000 },
    );
    expect(matched).toBeGreaterThan(1000);
    for (const n of [".git/config", "a/.hidden", "a/b~", "CVS/Entries", "a/CVS/Root", ".env"]) {
      expect(globs(n), n).toBe(true);
      expect(mayMatchDefaults(n), n).toBe(true);
    }
  });

  it("is false for ordinary names", () => {
    for (const n of ["css/app.css", "vendor/lib.min.js", "img/a.b.png"])
      expect(mayMatchDefaults(n), n).toBe(false);
  });
});
