/**
 * core's one evaluation of conditional requests (RFC 9110 §13.2.2), which the fs handler, the
 * static-files server and the private-media route answer with; each of them is also tested over
 * real HTTP in its own package.
 */
import { describe, expect, it } from "vitest";
import { evaluatePreconditions, notModifiedHeaders, planFileResponse } from "../src/index.js";

const current = { etag: '"abc"', lastModified: new Date("2026-12-01T10:00:00Z") };
const at = (iso: string) => new Date(iso).toUTCString();
const decide = (
  headers: Record<string, string | string[]>,
  method = "GET",
  of: { etag?: string; lastModified?: Date } = current,
) => evaluatePreconditions(method, headers, of);

describe("evaluatePreconditions", () => {
  it("If-Match (strong) and If-Unmodified-Since fail with 412; If-Match wins over the date", () => {
    expect(decide({ "if-match": '"other"' })).toEqual({ status: 412 });
    expect(decide({ "if-match": 'W/"abc"' })).toEqual({ status: 412 });
    expect(decide({ "if-match": '"x", "abc"' })).toEqual({ status: 200, range: true });
    expect(decide({ "if-match": "*" })).toEqual({ status: 200, range: true });
    expect(decide({ "if-unmodified-since": at("2026-11-30T00:00:00Z") })).toEqual({ status: 412 });
    expect(decide({ "if-match": '"abc"', "if-unmodified-since": at("2026-11-30T00:00:00Z") })).toEqual({
      status: 200,
      range: true,
    });
  });

  it("If-None-Match (weak, lists, repeated headers) answers 304 to GET/HEAD and 412 to others; it overrides If-Modified-Since", () => {
    expect(decide({ "if-none-match": 'W/"abc"' })).toEqual({ status: 304 });
    expect(decide({ "if-none-match": ['"x"', '"abc"'] }, "HEAD")).toEqual({ status: 304 });
    expect(decide({ "if-none-match": "*" }, "PUT")).toEqual({ status: 412 });
    expect(decide({ "if-modified-since": at("2026-12-02T00:00:00Z") })).toEqual({ status: 304 });
    expect(decide({ "if-none-match": '"x"', "if-modified-since": at("2026-12-02T00:00:00Z") })).toEqual({
      status: 200,
      range: true,
    });
    expect(decide({ "if-modified-since": "yesterday" })).toEqual({ status: 200, range: true });
  });

  it("If-Range keeps a range only for the version the client holds (strong ETag, or the exact date)", () => {
    const range = { range: "bytes=0-1" };
    expect(decide({ ...range, "if-range": '"abc"' })).toEqual({ status: 200, range: true });
    expect(decide({ ...range, "if-range": '"stale"' })).toEqual({ status: 200, range: false });
    expect(decide({ ...range, "if-range": 'W/"abc"' })).toEqual({ status: 200, range: false });
    expect(decide({ ...range, "if-range": at("2026-12-01T10:00:00Z") })).toEqual({
      status: 200,
      range: true,
    });
    expect(decide({ ...range, "if-range": at("2026-12-01T09:00:00Z") })).toEqual({
      status: 200,
      range: false,
    });
  });

  it("reads the three HTTP-date forms (IMF-fixdate, RFC 850, asctime), and no other", () => {
    const range = { range: "bytes=0-1" };
    for (const date of [
      "Tue, 01 Dec 2026 10:00:00 GMT",
      "Tuesday, 01-Dec-26 10:00:00 GMT",
      "Tue Dec  1 10:00:00 2026",
    ]) {
      expect(decide({ ...range, "if-range": date }), date).toEqual({ status: 200, range: true });
      expect(decide({ "if-modified-since": date }), date).toEqual({ status: 304 });
    }
    for (const date of ["2026-12-01T10:00:00Z", "Tue, 1 Dec 2026 10:00:00 GMT", "1796119200"]) {
      expect(decide({ "if-modified-since": date }), date).toEqual({ status: 200, range: true });
    }
  });

  it("an If-Range that is neither a well-formed entity-tag nor a date drops the range", () => {
    const range = { range: "bytes=0-1" };
    for (const garbled of ['"abc', 'W/"abc', '"a"b"', 'x"abc"', '"abc", "abc"']) {
      expect(decide({ ...range, "if-range": garbled }), garbled).toEqual({ status: 200, range: false });
    }
  });

  it("without a modification date, the date conditions are ignored", () => {
    const undated = { etag: '"abc"' };
    expect(decide({ "if-modified-since": at("2030-01-01T00:00:00Z") }, "GET", undated)).toEqual({
      status: 200,
      range: true,
    });
    expect(decide({ range: "bytes=0-1", "if-range": at("2026-12-01T10:00:00Z") }, "GET", undated)).toEqual({
      status: 200,
      range: false,
    });
  });
});

describe("notModifiedHeaders", () => {
  it("keeps of a 200's headers those a 304 must carry (and Last-Modified), whatever their case, and no representation metadata", () => {
    const kept = {
      "Cache-Control": "private, no-store",
      "content-location": "/a.png",
      date: "Tue, 01 Dec 2026 10:00:00 GMT",
      etag: '"abc"',
      expires: "Wed, 02 Dec 2026 10:00:00 GMT",
      vary: "Accept-Encoding",
      "last-modified": "Tue, 01 Dec 2026 09:00:00 GMT",
    };
    const representation = {
      "content-type": "image/png",
      "content-length": "1000",
      "content-disposition": "attachment",
      "accept-ranges": "bytes",
      "x-content-type-options": "nosniff",
    };
    expect(notModifiedHeaders({ ...kept, ...representation })).toEqual(kept);
    // What the 200 would not have sent, the 304 does not invent.
    expect(notModifiedHeaders({ etag: '"abc"', "content-type": "text/plain" })).toEqual({ etag: '"abc"' });
  });
});

describe("planFileResponse", () => {
  const file = { ...current, size: 100 };
  const plan = (headers: Record<string, string>, method = "GET", of = file) =>
    planFileResponse(method, headers, of);

  it("conditions first: 304 and 412 whatever the Range", () => {
    expect(plan({ "if-none-match": '"abc"', range: "bytes=0-9" })).toEqual({ status: 304 });
    expect(plan({ "if-match": '"other"', range: "bytes=0-9" })).toEqual({ status: 412 });
  });

  it("a range: 206 with its Content-Range; a start past the end: 416; a bad range: the whole file", () => {
    expect(plan({ range: "bytes=10-19" })).toEqual({
      status: 206,
      start: 10,
      end: 19,
      length: 10,
      contentRange: "bytes 10-19/100",
      body: true,
    });
    expect(plan({ range: "bytes=-5" })).toMatchObject({ status: 206, start: 95, end: 99, length: 5 });
    expect(plan({ range: "bytes=100-" })).toEqual({ status: 416, contentRange: "bytes */100" });
    expect(plan({ range: "bytes=0-1,5-6" })).toEqual({
      status: 200,
      start: 0,
      end: 99,
      length: 100,
      body: true,
    });
  });

  it("If-Range of another version: the whole file, not the range", () => {
    expect(plan({ range: "bytes=10-19", "if-range": '"old"' })).toMatchObject({ status: 200, length: 100 });
    expect(plan({ range: "bytes=10-19", "if-range": '"abc"' })).toMatchObject({ status: 206, length: 10 });
  });

  it("HEAD and an empty file read nothing", () => {
    expect(plan({}, "HEAD")).toMatchObject({ status: 200, length: 100, body: false });
    expect(plan({}, "GET", { ...current, size: 0 })).toMatchObject({ status: 200, length: 0, body: false });
    expect(plan({ range: "bytes=0-" }, "GET", { ...current, size: 0 })).toEqual({
      status: 416,
      contentRange: "bytes */0",
    });
  });
});
