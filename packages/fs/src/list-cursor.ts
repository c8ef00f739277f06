/**
 * A listing's resumable position: the prefix listed and the last name returned, opaque to callers
 * and refused when handed back for another listing.
 */
import { InvalidArgumentError } from "@storages/core";

export function encodeCursor(prefix: string, after: string): string {
  return Buffer.from(JSON.stringify({ v: 1, p: prefix, a: after }), "utf8").toString("base64url");
}

export function decodeCursor(cursor: string, prefix: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as {
      v?: unknown;
      p?: unknown;
      a?: unknown;
    };
    if (
      parsed.v === 1 &&
      parsed.p === prefix &&
      typeof parsed.a === "string" &&
      parsed.a.startsWith(prefix)
    ) {
      return parsed.a;
    }
  } catch {
    // fall through
  }
  throw new InvalidArgumentError(
    "Invalid list cursor: pass back the cursor returned by the previous page of the same listing (same prefix).",
  );
}
