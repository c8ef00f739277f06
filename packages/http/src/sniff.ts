/**
 * What a file really is, from its first bytes: file-type's magic numbers, plus a text check for
 * the markup file-type does not report (SVG, HTML, XML) — every such file is active content, so
 * it is named for what it is and never passes as an image or as text.
 */
import { isActiveContentType } from "@storages/core";
import { fileTypeFromBuffer } from "file-type";

/** file-type decides from at most this many leading bytes (its own sample size). */
export const SNIFF_BYTES = 4100;

export interface SniffedType {
  /** The media type the bytes are, e.g. "image/png"; "application/octet-stream" when unknown. */
  mime: string;
  /** The usual extension without a dot ("png"), when the type has one. */
  ext: string | undefined;
}

const MARKUP: Array<[pattern: RegExp, type: SniffedType]> = [
  [/<svg[\s>/]/i, { mime: "image/svg+xml", ext: "svg" }],
  // The tags WHATWG's MIME sniffing calls HTML, and those that load, run or submit anything, each
  // ended as a browser ends a tag name (whitespace, ">" or "/": "<script/src=…>" runs too).
  [
    /<!doctype\s+html|<(?:html|head|body|script|iframe|frame|frameset|h1|div|font|table|a|style|title|b|br|p|img|object|embed|form|input|button|textarea|meta|link|base|video|audio|math|details|marquee)[\s>/]/i,
    { mime: "text/html", ext: "html" },
  ],
  [/^<\?xml|<!doctype|<[a-z][\w.-]*:[\w.-]+[\s>]/i, { mime: "application/xml", ext: "xml" }],
];

/** Whether a sample decodes as text: valid UTF-8 (a cut final sequence allowed), no NUL or other C0 control beyond whitespace. */
function isText(sample: Uint8Array): boolean {
  let text: string;
  try {
    // A multi-byte character cut by the sample's end is not a reason to call it binary.
    text = new TextDecoder("utf-8", { fatal: true }).decode(sample.subarray(0, trimCutSequence(sample)));
  } catch {
    return false;
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: binary detection
  return !/[\u0000-\u0008\u000e-\u001a\u001c-\u001f\u007f]/.test(text);
}

function trimCutSequence(sample: Uint8Array): number {
  let end = sample.length;
  for (let back = 1; back <= 3 && end - back >= 0; back++) {
    const byte = sample[end - back]!;
    if ((byte & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead
    const needs = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    if (needs > back) end -= back;
    break;
  }
  return end;
}

/** The type of a file from its first bytes (up to SNIFF_BYTES of them). */
export async function sniffType(head: Uint8Array): Promise<SniffedType> {
  const sample = head.subarray(0, SNIFF_BYTES);
  const found = await fileTypeFromBuffer(sample);
  // file-type reports XML-based formats it knows by their own type; markup it calls plain XML
  // (or does not report) gets the text check below.
  if (found && found.mime !== "application/xml") return { mime: found.mime, ext: found.ext };
  if (sample.length === 0) return { mime: "application/x-empty", ext: undefined };
  if (!isText(sample)) return found ?? { mime: "application/octet-stream", ext: undefined };
  const text = new TextDecoder("utf-8").decode(sample).replace(/^\uFEFF/, "");
  for (const [pattern, type] of MARKUP) if (pattern.test(text)) return type;
  if (found) return { mime: found.mime, ext: found.ext };
  return { mime: "text/plain", ext: "txt" };
}

/** The default allow-list: raster images and PDF — nothing a browser runs. */
export const DEFAULT_ALLOWED_TYPES: readonly string[] = [
  "image/png",
  "image/jpeg",
  "image/gif",
  "image/webp",
  "image/avif",
  "application/pdf",
];

/**
 * Whether `mime` is on the list; entries may be exact ("image/png") or a family ("image/*"). A
 * family never admits active content (SVG is an image/*): those types must be listed exactly.
 */
export function isAllowedType(mime: string, allowed: readonly string[]): boolean {
  const type = mime.toLowerCase();
  const active = isActiveContentType(type);
  return allowed.some((entry) => {
    const rule = entry.toLowerCase();
    return rule.endsWith("/*") ? !active && type.startsWith(rule.slice(0, -1)) : rule === type;
  });
}
