/**
 * Metadata names: the facade accepts portable keys (`trace-id`, `2fa`), Azure only C# identifiers
 * (letters, digits, "_", not starting with a digit), compared case-insensitively. Keys Azure takes
 * as they are pass unchanged; the others are stored escaped behind a leading "_" — which no
 * portable key starts with, so the two forms never collide: "_" + the key with "_" doubled and
 * "-" written "_h" (`trace-id` → `_trace_hid`, `2fa` → `_2fa`). Everything stays lower-case, so
 * Azure's case-insensitivity cannot merge two keys.
 */

const AZURE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function encodeMetadataKey(key: string): string {
  if (AZURE_NAME.test(key) && !key.startsWith("_")) return key;
  return `_${key.replace(/_/g, "__").replace(/-/g, "_h")}`;
}

/** Reverses encodeMetadataKey; names written by other tools come back unchanged. */
export function decodeMetadataKey(name: string): string {
  if (!name.startsWith("_")) return name;
  let out = "";
  for (let i = 1; i < name.length; i++) {
    const char = name[i];
    if (char !== "_") {
      out += char;
      continue;
    }
    const next = name[i + 1];
    if (next === "_") out += "_";
    else if (next === "h") out += "-";
    else return name; // not our escaping
    i++;
  }
  return out;
}

export function encodeMetadata(
  metadata: Record<string, string> | undefined,
): Record<string, string> | undefined {
  if (metadata === undefined) return undefined;
  return Object.fromEntries(Object.entries(metadata).map(([key, value]) => [encodeMetadataKey(key), value]));
}

export function decodeMetadata(metadata: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(metadata ?? {}).map(([name, value]) => [decodeMetadataKey(name), value]),
  );
}
