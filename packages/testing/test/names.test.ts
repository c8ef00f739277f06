import { normalizeName } from "@storages/core";
import { describe, expect, it } from "vitest";
import { awkwardNames, hostileNames } from "../src/index.js";

describe("name corpora", () => {
  it("hostileNames has at least 100 distinct entries", () => {
    expect(hostileNames.length).toBeGreaterThanOrEqual(100);
    expect(new Set(hostileNames).size).toBe(hostileNames.length);
  });

  it("awkwardNames are distinct, including NFC and NFD spellings of one word", () => {
    expect(new Set(awkwardNames).size).toBe(awkwardNames.length);
    const nfc = awkwardNames.find((n) => n.includes("café"));
    const nfd = awkwardNames.find((n) => n.includes("cafe\u0301"));
    expect(nfc).toBeDefined();
    expect(nfd).toBeDefined();
    expect(nfc?.normalize("NFC")).not.toBe(nfd?.normalize("NFC"));
  });

  it("awkwardNames cover the characters careless URL and header code breaks on", () => {
    const all = awkwardNames.join("\n");
    for (const needle of [
      " ",
      "+",
      "%",
      "#",
      "?",
      "&",
      "=",
      "'",
      '"',
      "😀",
      "\u0301",
      "-lead",
      "..",
      "a b/c d.txt",
    ]) {
      expect(all, `a name containing ${JSON.stringify(needle)}`).toContain(needle);
    }
    expect(Math.max(...awkwardNames.map((n) => Buffer.byteLength(n)))).toBeGreaterThan(700);
  });

  it("core's path rules refuse every hostile name", () => {
    const accepted = hostileNames.filter((name) => {
      try {
        normalizeName(name);
        return true;
      } catch {
        return false;
      }
    });
    expect(accepted).toEqual([]);
  });

  it("core's path rules accept every awkward name unchanged", () => {
    for (const name of awkwardNames) expect(normalizeName(name)).toBe(name);
  });

  it("awkward names stay within what every backend stores, even under a 64-byte driver prefix", () => {
    for (const name of awkwardNames) {
      expect(Buffer.byteLength(name) + 64).toBeLessThanOrEqual(1024);
      for (const segment of name.split("/")) expect(Buffer.byteLength(segment)).toBeLessThanOrEqual(255);
    }
  });
});
