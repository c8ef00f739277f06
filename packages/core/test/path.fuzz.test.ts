/**
 * Property tests of the one place names are validated (fast-check, tens of thousands of names per
 * run): whatever the input, a name is either accepted unchanged and safe to join to a root, or
 * refused with a typed path error. Never another error, never a rewritten name.
 */
import { posix } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidPathError, StorageError } from "../src/errors.js";
import { checkNameFully, isPlainName, MAX_NAME_BYTES, normalizeName, normalizePrefix } from "../src/path.js";

const RUNS = 12_000;

/** Pieces that make names hostile, mixed with ordinary text by the generators below. */
const HOSTILE = [
  "..",
  ".",
  "/",
  "//",
  "\\",
  "%2e%2e",
  "%2E%2e%2f",
  "%252e",
  "%c0%ae",
  "\u0000",
  "\n",
  "\r",
  "\u202e",
  "\u2066",
  "\u2028",
  "．．",
  "／",
  "\u2024\u2024",
  "\uff0e",
  "C:",
  "c:\\",
  " ",
  "\t",
  "~",
  "…",
  "\ud800",
];

const segmentText = fc.oneof(
  fc.string({ unit: "grapheme", minLength: 1, maxLength: 12 }),
  fc.string({ unit: "binary", minLength: 1, maxLength: 12 }),
  fc.constantFrom(...HOSTILE),
  fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/),
);
// Mostly "/" between the pieces, sometimes nothing (so hostile pieces merge into segments).
const nameLike = fc
  .array(fc.tuple(segmentText, fc.constantFrom("/", "/", "")), { minLength: 1, maxLength: 6 })
  .map((parts) => parts.map(([text, separator], i) => (i === 0 ? text : separator + text)).join(""));
const anyInput = fc.oneof(
  nameLike,
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 300 }),
);

function outcome(name: unknown): { ok: true; value: string } | { ok: false; error: unknown } {
  try {
    return { ok: true, value: normalizeName(name) };
  } catch (error) {
    return { ok: false, error };
  }
}

describe("normalizeName, fuzzed", () => {
  it("accepts a name unchanged or refuses it with a typed path error, never anything else", () => {
    fc.assert(
      fc.property(anyInput, (name) => {
        const result = outcome(name);
        if (result.ok) return result.value === name;
        return (
          StorageError.isInstance(result.error) &&
          InvalidPathError.isInstance(result.error) &&
          ["E_INVALID_PATH", "E_PATH_TRAVERSAL"].includes(result.error.code) &&
          result.error.message.length > 0
        );
      }),
      { numRuns: RUNS },
    );
  });

  it("an accepted name never leaves the root it is joined to, on POSIX path resolution", () => {
    fc.assert(
      fc.property(anyInput, (name) => {
        const result = outcome(name);
        if (!result.ok) return true;
        const joined = posix.join("/srv/root", result.value);
        return (
          joined.startsWith("/srv/root/") &&
          posix.normalize(result.value) === result.value &&
          !result.value.split("/").some((s) => s === "" || s === "." || s === "..") &&
          Buffer.byteLength(result.value) <= MAX_NAME_BYTES &&
          // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what must never pass
          !/[\\\u0000-\u001f\u007f]/.test(result.value) &&
          result.value.isWellFormed()
        );
      }),
      { numRuns: RUNS },
    );
  });

  it("an accepted name stays inside the root even after NFKC folding or one more URL decoding", () => {
    fc.assert(
      fc.property(anyInput, (name) => {
        const result = outcome(name);
        if (!result.ok) return true;
        for (const variant of [result.value.normalize("NFKC"), safeDecode(result.value)]) {
          if (variant === undefined) continue;
          const segments = variant.split(/[/\\]/);
          if (segments.some((s) => s === "." || s === "..")) return false;
        }
        return true;
      }),
      { numRuns: RUNS },
    );
  });

  it("the plain-name fast path never accepts what the full rules refuse", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9._/-]{1,300}$/), (name) => {
        if (!isPlainName(name)) return true;
        try {
          return checkNameFully(name) === name;
        } catch {
          return false;
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("prefixes follow the same rules and always end in exactly one slash", () => {
    fc.assert(
      fc.property(anyInput, (prefix) => {
        let value: string;
        try {
          value = normalizePrefix(prefix);
        } catch (error) {
          return InvalidPathError.isInstance(error);
        }
        return (
          value === "" ||
          (value.endsWith("/") &&
            !value.endsWith("//") &&
            normalizeName(value.slice(0, -1)) === value.slice(0, -1))
        );
      }),
      { numRuns: RUNS },
    );
  });
});

function safeDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

it("generates the hostile pieces at all (the generators are not vacuous)", () => {
  const sample = fc.sample(anyInput, 2_000);
  const refused = sample.filter((n) => !outcome(n).ok).length;
  const accepted = sample.length - refused;
  expect(refused).toBeGreaterThan(200);
  expect(accepted).toBeGreaterThan(200);
});
