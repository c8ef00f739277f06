import { describe, expect, it } from "vitest";
import { decodeUrlPath, signUrl, verifySignedUrl } from "../src/index.js";

const SIGNING_KEY = "test-signing-key-0123456789abcdef-0123456789";

const NOW = Date.UTC(2030, 0, 1) / 1000;
const at = (seconds: number) => seconds * 1000;

function signed(
  extra: Partial<Parameters<typeof signUrl>[2]> = {},
  url = "https://files.example.com/media/a%20b/r%C3%A9sum%C3%A9.pdf",
) {
  return signUrl(url, SIGNING_KEY, { method: "GET", expires: NOW + 60, ...extra });
}

describe("signUrl / verifySignedUrl", () => {
  it("round-trips and reports what was signed", () => {
    const url = signed({
      contentDisposition: 'attachment; filename="x.pdf"',
      contentType: "application/pdf",
    });
    const result = verifySignedUrl(url, SIGNING_KEY, at(NOW));
    expect(result).toMatchObject({
      ok: true,
      method: "GET",
      path: "/media/a b/résumé.pdf",
      expires: NOW + 60,
      contentDisposition: 'attachment; filename="x.pdf"',
      contentType: "application/pdf",
    });
  });

  it("accepts a Uint8Array key and a Date for now", () => {
    const key = new Uint8Array(32).fill(9);
    const url = signUrl("/m/a.txt", key, { method: "GET", expires: NOW + 1 });
    expect(verifySignedUrl(url, key, new Date(at(NOW))).ok).toBe(true);
  });

  it("refuses a changed path, expiry, override, method or key as tampered", () => {
    const url = signed({ contentType: "text/plain" });
    const variants = [
      url.replace("a%20b", "a%20c"),
      url.replace(`expires=${NOW + 60}`, `expires=${NOW + 6000}`),
      url.replace("type=text%2Fplain", "type=text%2Fhtml"),
      `${url}&method=PUT`,
      url.replace(/sig=([0-9a-f])/, (_m, c: string) => `sig=${c === "0" ? "1" : "0"}`),
    ];
    for (const variant of variants) {
      expect(variant).not.toBe(url);
      const result = verifySignedUrl(variant, SIGNING_KEY, at(NOW));
      expect(result.ok, variant).toBe(false);
      if (!result.ok) expect(result.reason, variant).toBe("tampered");
    }
    const otherKey = verifySignedUrl(url, `${SIGNING_KEY}x`, at(NOW));
    expect(otherKey).toMatchObject({ ok: false, reason: "tampered" });
  });

  it("a signature for one override never validates another (no concatenation ambiguity)", () => {
    // disposition "ab" + type "c" must not sign like disposition "a" + type "bc".
    const one = signed({ contentDisposition: "ab", contentType: "c" });
    const sig = new URL(one).searchParams.get("sig");
    const forged = signed({ contentDisposition: "a", contentType: "bc" }).replace(
      /sig=[0-9a-f]+/,
      `sig=${sig}`,
    );
    expect(verifySignedUrl(forged, SIGNING_KEY, at(NOW))).toMatchObject({ ok: false, reason: "tampered" });
  });

  it("reports expiry only for genuine signatures", () => {
    const url = signed();
    expect(verifySignedUrl(url, SIGNING_KEY, at(NOW + 60)).ok).toBe(true);
    expect(verifySignedUrl(url, SIGNING_KEY, at(NOW + 61))).toMatchObject({ ok: false, reason: "expired" });
    const forged = url.replace(`expires=${NOW + 60}`, `expires=${NOW - 5}`);
    expect(verifySignedUrl(forged, SIGNING_KEY, at(NOW + 61))).toMatchObject({
      ok: false,
      reason: "tampered",
    });
  });

  it("reports malformed URLs distinctly", () => {
    const url = signed();
    const cases = [
      "https://files.example.com/media/a.txt",
      url.replace(/&sig=[0-9a-f]+/, ""),
      url.replace(/sig=[0-9a-f]+/, "sig=xyz"),
      url.replace(/expires=\d+/, "expires=soon"),
      `${url}&sig=${"0".repeat(64)}`,
      `${url}&extra=1`,
      "https://files.example.com/media/a%2Fb.txt?expires=1&sig=" + "0".repeat(64),
      "https://files.example.com/media/%E0%A4%A.txt?expires=1&sig=" + "0".repeat(64),
    ];
    for (const variant of cases) {
      expect(verifySignedUrl(variant, SIGNING_KEY, at(NOW)), variant).toMatchObject({
        ok: false,
        reason: "malformed",
      });
    }
  });

  it("binds upload constraints for PUT", () => {
    const url = signUrl("/up/a.png", SIGNING_KEY, {
      method: "PUT",
      expires: NOW + 10,
      contentType: "image/png",
      maxBytes: 1000,
      cacheControl: "max-age=60",
    });
    expect(verifySignedUrl(url, SIGNING_KEY, at(NOW))).toMatchObject({
      ok: true,
      method: "PUT",
      maxBytes: 1000,
      contentType: "image/png",
      cacheControl: "max-age=60",
    });
    expect(verifySignedUrl(url.replace("max=1000", "max=100000"), SIGNING_KEY, at(NOW))).toMatchObject({
      ok: false,
      reason: "tampered",
    });
    expect(verifySignedUrl(url.replace("method=PUT&", ""), SIGNING_KEY, at(NOW))).toMatchObject({
      ok: false,
      reason: "tampered",
    });
  });

  it("signing refuses weak keys and bad input", () => {
    expect(() => signUrl("/a", "short", { method: "GET", expires: NOW })).toThrow(/at least 32/);
    expect(() => signUrl("/a?x=1", SIGNING_KEY, { method: "GET", expires: NOW })).toThrow(/query/);
    expect(() => signUrl("/a", SIGNING_KEY, { method: "GET", expires: -1 })).toThrow(/expiry/);
  });

  it("the signed path is the decoded one, so equivalent encodings verify", () => {
    const url = signUrl("https://h/m/a%20b.txt", SIGNING_KEY, { method: "GET", expires: NOW + 5 });
    const reencoded = url.replace("a%20b", "a%20%62");
    expect(verifySignedUrl(reencoded, SIGNING_KEY, at(NOW)).ok).toBe(true);
  });
});

describe("decodeUrlPath", () => {
  it("decodes segments and refuses hidden separators and NUL", () => {
    expect(decodeUrlPath("/a%20b/c")).toBe("/a b/c");
    expect(decodeUrlPath("/a%2Fb")).toBeUndefined();
    expect(decodeUrlPath("/a%5Cb")).toBeUndefined();
    expect(decodeUrlPath("/a%00b")).toBeUndefined();
    expect(decodeUrlPath("/a%zz")).toBeUndefined();
  });
});
