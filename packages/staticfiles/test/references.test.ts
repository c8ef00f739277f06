/**
 * Reference finding and rewriting: every form the issue lists, with the parsers the collector uses.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import {
  hashedName,
  initParsers,
  looksBundlerHashed,
  parseReferences,
  replaceLastSegment,
  resolveReference,
} from "../src/index.js";

beforeAll(() => initParsers());

/** Rewrites every reference resolving to a file in `files` to its hashed name (hash "h" × 64). */
function rewriteCss(
  text: string,
  from = "css/app.css",
  files = new Set(["img/a.png", "css/b.css", "fonts/f.woff2"]),
) {
  const parsed = parseReferences("css", text, from);
  const out = parsed.rewrite((ref) => {
    const to = resolveReference(ref.url, from, "/static/");
    if (to.kind !== "file" || !files.has(to.name)) return undefined;
    return replaceLastSegment(ref.url, hashedName(to.name, "0123456789ab".padEnd(64, "0")));
  });
  return { references: parsed.references, out };
}

const H = "0123456789ab";

describe("resolveReference", () => {
  it("a URL holding a CSS escape is left as written, and said (never silently taken as external)", () => {
    expect(resolveReference("\\2e\\2e/img/a.png", "css/app.css", "/static/")).toMatchObject({
      kind: "outside",
      why: expect.stringContaining("CSS escape"),
    });
    expect(resolveReference("{{ asset }}", "css/app.css", "/static/")).toEqual({ kind: "external" });
  });
});

describe("CSS", () => {
  it.each([
    ["unquoted", `a{b:url(../img/a.png)}`, `a{b:url(../img/a.${H}.png)}`],
    ["single quotes", `a{b:url('../img/a.png')}`, `a{b:url('../img/a.${H}.png')}`],
    ["double quotes", `a{b:url("../img/a.png")}`, `a{b:url("../img/a.${H}.png")}`],
    ["spaces inside", `a{b:url(  "../img/a.png"  )}`, `a{b:url(  "../img/a.${H}.png"  )}`],
    ["upper-case URL(", `a{b:URL(../img/a.png)}`, `a{b:URL(../img/a.${H}.png)}`],
    ["query and fragment kept", `a{b:url(../img/a.png?v=3#x)}`, `a{b:url(../img/a.${H}.png?v=3#x)}`],
    ["root-relative under the static URL", `a{b:url(/static/img/a.png)}`, `a{b:url(/static/img/a.${H}.png)}`],
    ["relative to the file's folder", `a{b:url(b.css)}`, `a{b:url(b.${H}.css)}`],
    ["./ prefix", `a{b:url(./b.css)}`, `a{b:url(./b.${H}.css)}`],
    ["@import string", `@import "b.css";`, `@import "b.${H}.css";`],
    ["@import single-quoted with media", `@import 'b.css' screen;`, `@import 'b.${H}.css' screen;`],
    ["@import url()", `@import url(b.css);`, `@import url(b.${H}.css);`],
    ["@import url('') with media", `@import url('b.css') print;`, `@import url('b.${H}.css') print;`],
    [
      "image-set strings",
      `a{b:image-set("../img/a.png" 1x, "../img/a.png" 2x)}`,
      `a{b:image-set("../img/a.${H}.png" 1x, "../img/a.${H}.png" 2x)}`,
    ],
    [
      "-webkit-image-set with url()",
      `a{b:-webkit-image-set(url(../img/a.png) 1x)}`,
      `a{b:-webkit-image-set(url(../img/a.${H}.png) 1x)}`,
    ],
    [
      "@font-face src list, format() untouched",
      `@font-face{src:url(../fonts/f.woff2) format("woff2"),url(../fonts/f.woff2?#iefix) format("embedded-opentype")}`,
      `@font-face{src:url(../fonts/f.${H}.woff2) format("woff2"),url(../fonts/f.${H}.woff2?#iefix) format("embedded-opentype")}`,
    ],
    ["source map comment", `a{}\n/*# sourceMappingURL=b.css */`, `a{}\n/*# sourceMappingURL=b.${H}.css */`],
  ])("%s", (_what, input, expected) => {
    expect(rewriteCss(input).out).toBe(expected);
  });

  it.each([
    ["data: URI", `a{b:url(data:image/png;base64,iVBOR==)}`],
    ["quoted data: URI", `a{b:url("data:image/svg+xml;utf8,<svg></svg>")}`],
    ["external", `a{b:url(https://cdn.example.com/a.png)}`],
    ["protocol-relative", `a{b:url(//cdn.example.com/img/a.png)}`],
    ["fragment only (SVG filter)", `a{filter:url(#blur)}`],
    ["root-relative outside the static URL", `a{b:url(/media/img/a.png)}`],
    ["a comment", `/* a{b:url(../img/a.png)} */ a{}`],
    ["a comment inside a value", `a{b: /* url(../img/a.png) */ red}`],
    ["a string that is not a URL", `a{content:"url(../img/a.png)"}`],
    ["@namespace", `@namespace svg url(http://www.w3.org/2000/svg);`],
    ["unparseable CSS", `a{b:url(../img/a.png)`],
  ])("leaves %s untouched", (_what, input) => {
    expect(rewriteCss(input).out).toBe(input);
  });

  it("reports the line of each reference", () => {
    const { references } = rewriteCss(`a{}\n\nb{c:url(../img/a.png)}\n@import "missing.css";\n`);
    expect(references).toEqual([
      { url: "../img/a.png", line: 3, kind: "url", start: 13, end: 25 },
      { url: "missing.css", line: 4, kind: "import", start: 37, end: 48 },
    ]);
  });

  it("keeps everything else byte for byte", () => {
    const input = `/* head */\n.a  {  color : red ;\n  background:url(../img/a.png)  no-repeat }\n\n@media (min-width:1px){.b{c:d}}\n`;
    expect(rewriteCss(input).out).toBe(input.replace("a.png", `a.${H}.png`));
  });

  it("fuzz: any CSS text either parses and keeps its non-URL bytes, or is published unchanged", () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 200 }),
        fc.constantFrom("", "url(../img/a.png)", `@import "b.css";`),
        (noise, ref) => {
          const input = `${noise}\n${ref}`;
          const { out } = rewriteCss(input);
          // Never longer than one hash per reference found, never a crash, never a change without a reference.
          const parsed = parseReferences("css", input, "css/app.css");
          if (parsed.references.length === 0) expect(out).toBe(input);
          expect(out.length - input.length).toBeLessThanOrEqual(parsed.references.length * (H.length + 1));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("JS", () => {
  const rewriteJs = (text: string, modules = false) => {
    const parsed = parseReferences("js", text, "js/app.js", { modules });
    return parsed.rewrite((ref) => {
      const to = resolveReference(ref.url, "js/app.js", "/static/");
      return to.kind === "file"
        ? replaceLastSegment(ref.url, hashedName(to.name, H.padEnd(64, "0")))
        : undefined;
    });
  };

  it.each([
    ["//# form", `a();\n//# sourceMappingURL=app.js.map\n`, `a();\n//# sourceMappingURL=app.js.${H}.map\n`],
    [
      "/*# */ form",
      `a();\n/*# sourceMappingURL=app.js.map */`,
      `a();\n/*# sourceMappingURL=app.js.${H}.map */`,
    ],
    [
      "legacy //@ form",
      `a();\n//@ sourceMappingURL=app.js.map`,
      `a();\n//@ sourceMappingURL=app.js.${H}.map`,
    ],
  ])("source map, %s", (_what, input, expected) => {
    expect(rewriteJs(input)).toBe(expected);
  });

  it("a sourceMappingURL inside a string, not at the end, is not a reference", () => {
    const input = `const s = "//# sourceMappingURL=x.map";\nfoo(s);\n`;
    expect(rewriteJs(input)).toBe(input);
  });

  it("a data: source map is left alone", () => {
    const input = `a();\n//# sourceMappingURL=data:application/json;base64,e30=`;
    expect(rewriteJs(input)).toBe(input);
  });

  it("ES module specifiers, only when asked, only relative ones", () => {
    const input = `import a from "./a.js";\nexport { b } from '../lib/b.js';\nimport "react";\nconst c = import("./c.js");\nconst d = import(\`./\${x}.js\`);\n`;
    expect(rewriteJs(input)).toBe(input);
    expect(rewriteJs(input, true)).toBe(
      `import a from "./a.${H}.js";\nexport { b } from '../lib/b.${H}.js';\nimport "react";\nconst c = import("./c.${H}.js");\nconst d = import(\`./\${x}.js\`);\n`,
    );
  });

  it("a classic script that is not a module still gets its source map rewritten", () => {
    const input = `with (a) { b(); }\n//# sourceMappingURL=app.js.map`;
    expect(rewriteJs(input, true)).toBe(`with (a) { b(); }\n//# sourceMappingURL=app.js.${H}.map`);
  });
});

describe("resolving", () => {
  it("refuses references that leave the static files", () => {
    expect(resolveReference("../../../etc/passwd", "css/app.css", "/static/").kind).toBe("outside");
    expect(resolveReference("/static/../x", "css/app.css", "/static/").kind).toBe("outside");
  });
  it("decodes percent-encoding and keeps it when rewriting", () => {
    expect(resolveReference("my%20img.png", "css/app.css", "/static/")).toEqual({
      kind: "file",
      name: "css/my img.png",
      suffix: "",
    });
    expect(replaceLastSegment("my%20img.png", "css/my img.abc.png")).toBe("my%20img.abc.png");
  });
});

describe("names", () => {
  it("hashes before the extension", () => {
    expect(hashedName("css/app.css", "0123456789abcdef".padEnd(64, "0"))).toBe("css/app.0123456789ab.css");
    expect(hashedName("LICENSE", "0123456789abcdef".padEnd(64, "0"))).toBe("LICENSE.0123456789ab");
    expect(hashedName("js/app.min.js", "a".repeat(64))).toBe("js/app.min.aaaaaaaaaaaa.js");
  });
  it("recognises bundler output and not ordinary names", () => {
    for (const name of [
      "assets/index-BvT3kq9x.js",
      "main.1a2b3c4d.js",
      "chunk-5f3c2a1e9b8d7c6f.css",
      "assets/logo-D4kZ9mQp.svg",
    ]) {
      expect(looksBundlerHashed(name), name).toBe(true);
    }
    for (const name of [
      "jquery-3.6.0.min.js",
      "date-picker.js",
      "css/base.css",
      "my-Checkbox.js",
      "vendor/deadbeef.js",
      // Numbers and dates, not hashes: a file under such a name changes without changing it.
      "fonts/font-12345678.woff",
      "backup-20261204.json",
      "logo.20261204.png",
    ]) {
      expect(looksBundlerHashed(name), name).toBe(false);
    }
  });
});
