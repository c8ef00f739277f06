/**
 * guessContentType finds the extension itself and caches the answer per extension (a save guesses
 * one per call, and mime's lookup measured ~15 % of a facade save): its answer must stay exactly
 * what mime.getType gives for the whole name.
 */
import fc from "fast-check";
import mime from "mime";
import otherTypes from "mime/types/other.js";
import standardTypes from "mime/types/standard.js";
import { describe, expect, it } from "vitest";
import {
  activeContentExtensions,
  DEFAULT_CONTENT_TYPE,
  guessContentType,
  inertContentHeaders,
  isActiveContentType,
} from "../src/headers.js";

/** The answer before the cache: mime's lookup of the whole name. */
function reference(name: string): string {
  const type = mime.getType(name);
  if (!type) return DEFAULT_CONTENT_TYPE;
  if (
    (type.startsWith("text/") || type === "application/javascript" || type === "application/json") &&
    !type.includes("charset")
  ) {
    return `${type}; charset=utf-8`;
  }
  return type;
}

const NAMES = [
  "a.txt",
  "A.TXT",
  "dir/a.css",
  "dir/sub/app.3f2a9c1b.js",
  "report",
  "dir/report",
  "txt",
  ".txt",
  "dir/.txt",
  "dir/.bashrc",
  ".bashrc",
  "a.",
  "dir/a.",
  "a..b",
  "archive.tar.gz",
  "dir.d/file",
  "dir.d/file.json",
  "back\\slash.png",
  "back\\slash",
  "",
  ".",
  "/",
  "x/",
  "photo.JPEG",
  "résumé.pdf",
  "İ.txt",
  "x/İİİ",
  "x/a.İ",
  "multi\nline.txt",
  "a\u2028b/c.html",
];

describe("guessContentType", () => {
  it("gives mime's answer for the whole name, for ordinary and odd names, cached or not", () => {
    for (let pass = 0; pass < 2; pass++) {
      for (const name of NAMES) expect(guessContentType(name), JSON.stringify(name)).toBe(reference(name));
    }
  });

  it("gives mime's answer for every extension in mime's tables, in any case, with and without a folder", () => {
    const extensions = [standardTypes, otherTypes].flatMap((table) =>
      Object.values(table as Record<string, readonly string[]>).flat(),
    );
    expect(extensions.length).toBeGreaterThan(1000);
    for (const starred of extensions) {
      const extension = starred.replace(/^\*/, "");
      for (const name of [`f.${extension}`, `d/f.${extension.toUpperCase()}`, extension, `.${extension}`]) {
        expect(guessContentType(name), name).toBe(reference(name));
      }
    }
  });

  it("gives mime's answer for generated names (12,000)", () => {
    const piece = fc.constantFrom(
      "/",
      "\\",
      ".",
      "..",
      "a",
      "B",
      "txt",
      "JS",
      "json",
      "İ",
      "é",
      "\n",
      " ",
      "x.y",
    );
    const name = fc.oneof(
      fc.array(piece, { maxLength: 8 }).map((parts) => parts.join("")),
      fc.string({ maxLength: 20 }),
      fc
        .tuple(
          fc.array(piece, { maxLength: 4 }),
          fc.constantFrom(
            "txt",
            "css",
            "js",
            "mjs",
            "json",
            "html",
            "png",
            "JPG",
            "svg",
            "gz",
            "woff2",
            "map",
            "pdf",
          ),
        )
        .map(([parts, extension]) => `${parts.join("")}.${extension}`),
    );
    fc.assert(
      fc.property(name, (n) => {
        expect(guessContentType(n)).toBe(reference(n));
      }),
      { numRuns: 12_000 },
    );
  });
});

describe("active content", () => {
  it("knows the types a browser would run, whatever their parameters or case", () => {
    for (const type of [
      "text/html; charset=utf-8",
      "IMAGE/SVG+XML",
      "application/xhtml+xml",
      "text/xml",
      "application/atom+xml",
    ]) {
      expect(isActiveContentType(type), type).toBe(true);
    }
    for (const type of [
      "image/png",
      "text/plain; charset=utf-8",
      "application/json",
      "text/css",
      undefined,
    ]) {
      expect(isActiveContentType(type), String(type)).toBe(false);
    }
  });

  it("the active extensions servers are given cover every active type's extensions, feeds and XML dialects included", () => {
    const extensions = activeContentExtensions();
    for (const extension of [
      "html",
      "htm",
      "svg",
      "svgz",
      "xml",
      "xhtml",
      "js",
      "mjs",
      "wasm",
      "rss",
      "atom",
      "xspf",
      "kml",
      "gml",
      "rdf",
      "xsl",
    ])
      expect(extensions, extension).toContain(extension);
    for (const inert of ["png", "jpg", "pdf", "txt", "css", "json", "mp4", "webp"])
      expect(extensions).not.toContain(inert);
    // Those mime's table knows guess an active type; the others come from servers' system tables.
    const guessedActive = extensions.filter((e) => isActiveContentType(guessContentType(`x.${e}`)));
    expect(guessedActive.length).toBeGreaterThan(150);
    expect(extensions.filter((e) => !guessedActive.includes(e))).toEqual(
      expect.arrayContaining(["pkg", "es", "atomsrv"]),
    );
  });

  it("makes an active file an attachment in a sandbox, and leaves other files inline", () => {
    const html = inertContentHeaders("uploads/page.html", "text/html");
    expect(html["content-disposition"]).toBe('attachment; filename="page.html"');
    expect(html["content-security-policy"]).toContain("sandbox");
    expect(html["x-content-type-options"]).toBe("nosniff");
    expect(inertContentHeaders("a.png", "image/png")).toEqual({ "x-content-type-options": "nosniff" });
  });
});
