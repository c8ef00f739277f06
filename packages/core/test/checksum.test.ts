import { describe, expect, it } from "vitest";
import { md5FromBase64, normalizeEtag } from "../src/checksum.js";

describe("normalizeEtag: one ETag form for every backend", () => {
  it("quotes what services send bare (GCS's JSON API, Azure listings, RGW's CopyObject result)", () => {
    expect(normalizeEtag("CKih16GjycICEAE=")).toBe('"CKih16GjycICEAE="');
    expect(normalizeEtag("0x8DC1A2B3C4D5E6F")).toBe('"0x8DC1A2B3C4D5E6F"');
    expect(normalizeEtag("b9490a638152a70a80f8ec6afbc9813f-2")).toBe('"b9490a638152a70a80f8ec6afbc9813f-2"');
  });

  it("keeps what is already quoted, and a weak tag weak", () => {
    expect(normalizeEtag('"5eb63bbbe01eeed093cb22bb8f5acdc3"')).toBe('"5eb63bbbe01eeed093cb22bb8f5acdc3"');
    expect(normalizeEtag('W/"abc"')).toBe('W/"abc"');
    expect(normalizeEtag("W/abc")).toBe('W/"abc"');
    expect(normalizeEtag('  "abc" ')).toBe('"abc"');
  });

  it("an empty ETag (RGW after CompleteMultipartUpload) or none is no etag", () => {
    for (const value of ["", '""', "  ", undefined, null]) expect(normalizeEtag(value)).toBeUndefined();
  });
});

describe("md5FromBase64", () => {
  it("decodes a 16-byte base64 MD5 and refuses anything else", () => {
    expect(md5FromBase64("XrY7u+Ae7tCTyyK7j1rNww==")).toBe("5eb63bbbe01eeed093cb22bb8f5acdc3");
    for (const bad of [undefined, "", "forged", "AAAA", "XrY7u+Ae7tCTyyK7j1rNwwAA=="]) {
      expect(md5FromBase64(bad), String(bad)).toBeUndefined();
    }
  });
});
