import { describe, expect, it } from "vitest";
import { InvalidPathError } from "../src/errors.js";
import {
  alternativeName,
  generateFilename,
  getValidName,
  shortenName,
  splitExtension,
} from "../src/naming.js";

describe("getValidName (Django's get_valid_name)", () => {
  it("keeps word characters, dashes, underscores and dots; spaces become underscores", () => {
    expect(getValidName("  my résumé (final).pdf ")).toBe("my_résumé_final.pdf");
    expect(getValidName("日本語 ファイル.txt")).toBe("日本語_ファイル.txt");
    expect(getValidName("a<b>c:d|e?.txt")).toBe("abcde.txt");
  });
  it("never makes a hidden file: leading dots go", () => {
    expect(getValidName(".htaccess")).toBe("htaccess");
    expect(getValidName("..env.local")).toBe("env.local");
    expect(getValidName(" .~storages-x.tmp")).toBe("storages-x.tmp");
  });
  it.each(["", "   ", ".", "..", "///", "<>", "...~"])("refuses %j, which leaves nothing usable", (name) => {
    expect(() => getValidName(name)).toThrow(InvalidPathError);
  });
});

describe("splitExtension", () => {
  it("splits the last extension of the last segment; dot files have none", () => {
    expect(splitExtension("dir/a.tar.gz")).toEqual({ root: "dir/a.tar", ext: ".gz" });
    expect(splitExtension("dir.d/README")).toEqual({ root: "dir.d/README", ext: "" });
    expect(splitExtension(".env")).toEqual({ root: ".env", ext: "" });
  });
});

describe("alternativeName", () => {
  it("adds a 7-character random suffix before the extension, in the same directory", () => {
    const alt = alternativeName("avatars/me.jpg");
    expect(alt).toMatch(/^avatars\/me_[A-Za-z0-9]{7}\.jpg$/);
    expect(alternativeName("avatars/me.jpg")).not.toBe(alt);
  });
  it("stays within the 255-byte segment limit, keeping the extension", () => {
    const alt = alternativeName(`${"é".repeat(127)}.jpeg`);
    expect(Buffer.byteLength(alt)).toBeLessThanOrEqual(255);
    expect(alt.endsWith(".jpeg")).toBe(true);
  });
});

describe("shortenName", () => {
  it("cuts the root, never the extension or the directory, and never splits a character", () => {
    const long = `dir/${"ü".repeat(200)}.pdf`;
    const short = shortenName(long);
    expect(short.startsWith("dir/")).toBe(true);
    expect(short.endsWith(".pdf")).toBe(true);
    expect(Buffer.byteLength(short.slice(4))).toBeLessThanOrEqual(255);
    expect(short).not.toContain("\ufffd");
  });
});

describe("generateFilename", () => {
  const now = new Date(Date.UTC(2024, 5, 1, 12, 30, 5));
  it("keeps only the last component of an untrusted name", () => {
    expect(generateFilename("../../etc/passwd")).toBe("passwd");
    expect(generateFilename("C:\\Users\\me\\photo 1.jpg")).toBe("photo_1.jpg");
  });
  it("expands strftime codes of an uploadTo template (UTC)", () => {
    expect(generateFilename("me.jpg", { uploadTo: "avatars/%Y/%m/%d/", now })).toBe(
      "avatars/2024/06/01/me.jpg",
    );
    expect(generateFilename("me.jpg", { uploadTo: "t/%H%M%S-%%", now })).toBe("t/123005-%/me.jpg");
  });
  it("calls an uploadTo function with the cleaned name and validates its result", () => {
    expect(generateFilename("a b.png", { uploadTo: (f) => `users/42/${f}` })).toBe("users/42/a_b.png");
    expect(() => generateFilename("a.png", { uploadTo: () => "../escape.png" })).toThrow(InvalidPathError);
  });
});
