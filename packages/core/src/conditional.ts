/**
 * Conditional requests (RFC 9110 §13), for every server of the repository that answers them (the
 * fs handler, the static-files server, the private-media route): one evaluation, in the RFC's
 * order, with strong and weak comparison where each belongs.
 */

import { parseRangeHeader } from "./headers.js";
import { parseHttpDate } from "./http-date.js";

/** Request headers as node:http gives them (lower-case names). */
export type RequestHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** A list header, repeated or not (repeats are one list, RFC 9110 §5.3). */
function list(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(", ") : value;
}

/** A header sent once (a repeated one is read as absent: conditions that cannot be read do not apply). */
function one(value: string | string[] | undefined): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/** An entity-tag as sent: `"xyz"` (strong) or `W/"xyz"` (weak). */
interface EntityTag {
  weak: boolean;
  opaque: string;
}

/** entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE (RFC 9110 §8.8.3): one pattern, for one tag or a list. */
const ENTITY_TAG = /(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"/;
const ONE_ENTITY_TAG = new RegExp(`^${ENTITY_TAG.source}$`);
const ENTITY_TAGS = new RegExp(ENTITY_TAG.source, "g");

function entityTag(match: RegExpMatchArray): EntityTag {
  return { weak: match[1] !== undefined, opaque: match[2]! };
}

function parseEntityTag(value: string): EntityTag | undefined {
  const match = ONE_ENTITY_TAG.exec(value.trim());
  return match ? entityTag(match) : undefined;
}

/**
 * The entity-tags of an If-Match / If-None-Match value, or "*". Tags are read one by one (an
 * opaque tag may hold a comma, so the value is not split on commas); anything malformed is
 * dropped, so a garbled list matches nothing.
 */
function parseEntityTagList(value: string): "*" | EntityTag[] {
  if (value.trim() === "*") return "*";
  return Array.from(value.matchAll(ENTITY_TAGS), entityTag);
}

/** Strong comparison (RFC 9110 §8.8.3.2): both strong, same opaque tag. */
function strongMatch(a: EntityTag, b: EntityTag): boolean {
  return !a.weak && !b.weak && a.opaque === b.opaque;
}

/** Weak comparison: same opaque tag, either or both weak. */
function weakMatch(a: EntityTag, b: EntityTag): boolean {
  return a.opaque === b.opaque;
}

/** An HTTP-date in seconds since the epoch: HTTP's resolution, at which Last-Modified is compared. */
function dateSeconds(value: string | undefined): number | undefined {
  const time = parseHttpDate(value);
  return time === undefined ? undefined : Math.floor(time / 1000);
}

/** What the conditional headers of a request decide for the current representation. */
export type PreconditionOutcome =
  /** Serve it; `range` says whether a Range header still applies (If-Range matched, or none sent). */
  | { status: 200; range: boolean }
  /** 304 Not Modified (GET/HEAD only). */
  | { status: 304 }
  /** 412 Precondition Failed. */
  | { status: 412 };

/**
 * RFC 9110 §13.2.2, in its order: If-Match (strong comparison; else If-Unmodified-Since), then
 * If-None-Match (weak comparison; else If-Modified-Since, GET and HEAD only), then If-Range for
 * a Range (strong comparison, or a date exactly equal to Last-Modified). `etag` is the quoted
 * entity-tag the response carries, if any; dates compare at HTTP's one-second resolution.
 */
export function evaluatePreconditions(
  method: string,
  headers: RequestHeaders,
  current: { etag?: string | undefined; lastModified?: Date | undefined },
): PreconditionOutcome {
  const etag = current.etag === undefined ? undefined : parseEntityTag(current.etag);
  // Without a modification date, the date conditions cannot hold (nor fail): they are ignored.
  const modified =
    current.lastModified === undefined ? undefined : Math.floor(current.lastModified.getTime() / 1000);
  const safe = method === "GET" || method === "HEAD";

  // 1. If-Match: the client's copy must be this very representation (strong comparison).
  const ifMatch = list(headers["if-match"]);
  if (ifMatch !== undefined) {
    const tags = parseEntityTagList(ifMatch);
    if (tags !== "*" && !(etag && tags.some((tag) => strongMatch(tag, etag)))) return { status: 412 };
  } else {
    // 2. If-Unmodified-Since, only without If-Match.
    const since = dateSeconds(one(headers["if-unmodified-since"]));
    if (since !== undefined && modified !== undefined && modified > since) return { status: 412 };
  }

  // 3. If-None-Match (weak comparison): what the client has is still good.
  const ifNoneMatch = list(headers["if-none-match"]);
  if (ifNoneMatch !== undefined) {
    const tags = parseEntityTagList(ifNoneMatch);
    if (tags === "*" || (etag && tags.some((tag) => weakMatch(tag, etag)))) {
      return safe ? { status: 304 } : { status: 412 };
    }
  } else if (safe) {
    // 4. If-Modified-Since, only without If-None-Match, and only for GET and HEAD.
    const since = dateSeconds(one(headers["if-modified-since"]));
    if (since !== undefined && modified !== undefined && modified <= since) return { status: 304 };
  }

  // 5. If-Range: a range only of the version the client already holds part of; else the whole file.
  const ifRange = headers["if-range"];
  if (headers.range === undefined || ifRange === undefined) return { status: 200, range: true };
  if (typeof ifRange !== "string") return { status: 200, range: false }; // several: none can match
  // An entity-tag or an HTTP-date: neither can be read as the other, so each is simply tried.
  const asTag = parseEntityTag(ifRange);
  if (asTag !== undefined) return { status: 200, range: etag !== undefined && strongMatch(asTag, etag) };
  const date = dateSeconds(ifRange);
  return { status: 200, range: date !== undefined && modified !== undefined && date === modified };
}

/** The headers of a 304 (notModifiedHeaders). */
const NOT_MODIFIED_HEADERS = new Set([
  "cache-control",
  "content-location",
  "date",
  "etag",
  "expires",
  "vary",
  "last-modified",
]);

/**
 * What a 304 Not Modified carries (RFC 9110 §15.4.5), from the headers the 200 would have sent:
 * Cache-Control, Content-Location, Date, ETag, Expires and Vary, which the RFC requires, and
 * Last-Modified, which it allows (a cache without ETag support revalidates with it). Nothing
 * else: Content-Type, Content-Length or Content-Disposition would describe a body a 304 has not.
 */
export function notModifiedHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).filter(([name]) => NOT_MODIFIED_HEADERS.has(name.toLowerCase())),
  );
}

/** What to answer a GET or HEAD of one stored file with (planFileResponse). */
export type FileResponsePlan =
  /** 304 Not Modified: send notModifiedHeaders() of the 200's headers, no body. */
  | { status: 304 }
  /** 412 Precondition Failed. */
  | { status: 412 }
  /** 416 Range Not Satisfiable: send `contentRange` (`bytes *\/size`) as Content-Range. */
  | { status: 416; contentRange: string }
  /**
   * 200, or 206 for a range (`contentRange` to send as Content-Range): bytes `start` to `end`
   * inclusive, `length` of them (Content-Length). `body` is false for a HEAD or an empty file:
   * nothing is to be read.
   */
  | { status: 200 | 206; start: number; end: number; length: number; contentRange?: string; body: boolean };

/**
 * The one decision every server here makes before it sends a stored file (the fs handler, the
 * media route, the static-files server): conditional requests in RFC 9110's order
 * (evaluatePreconditions), then a single byte range where one applies (parseRangeHeader), then
 * status, length and Content-Range. The callers only build their headers and send.
 */
export function planFileResponse(
  method: string,
  headers: RequestHeaders,
  file: { etag?: string | undefined; lastModified?: Date | undefined; size: number },
): FileResponsePlan {
  const decided = evaluatePreconditions(method, headers, file);
  if (decided.status !== 200) return decided;
  const range = parseRangeHeader(decided.range ? one(headers.range) : undefined, file.size);
  if (range.kind === "unsatisfiable") return { status: 416, contentRange: `bytes */${file.size}` };
  const body = method !== "HEAD" && file.size > 0;
  if (range.kind === "partial") {
    const length = range.end - range.start + 1;
    const contentRange = `bytes ${range.start}-${range.end}/${file.size}`;
    return { status: 206, start: range.start, end: range.end, length, contentRange, body };
  }
  return { status: 200, start: 0, end: Math.max(0, file.size - 1), length: file.size, body };
}
