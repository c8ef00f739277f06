/**
 * The static manifest collectstatic writes (`@storages/staticfiles`): `staticfiles.json` at the root
 * of the static storage, `{ version: 1, release, createdAt, files: { "<original>": { name:
 * "<hashed>", size, sha256, integrity, hashed, contentType, encodings: { br?, gzip?, zstd? } } } }`,
 * with precompressed siblings `<hashed>.br|.gz|.zst`.
 *
 * Read here, in this one module, only until `@storages/staticfiles` exports `readManifest`: then
 * this module becomes an import of it. Everything else in this package uses `StaticEntry`.
 */
import { InvalidArgumentError, NotFoundError, type Storage } from "@storages/core";

export const MANIFEST_NAME = "staticfiles.json";

export type Encoding = "br" | "gzip" | "zstd";
export const SIBLING_SUFFIX: Readonly<Record<Encoding, string>> = { br: ".br", gzip: ".gz", zstd: ".zst" };

export interface StaticEntry {
  original: string;
  /** The name it is served under (hashed when `hashed`). */
  name: string;
  size: number | undefined;
  hashed: boolean;
  contentType: string | undefined;
  /** Precompressed variants that exist, by content coding, each with its stored name. */
  encodings: Partial<Record<Encoding, string>>;
}

export interface StaticManifest {
  release: string | undefined;
  entries: StaticEntry[];
}

function siblingName(name: string, encoding: Encoding, value: unknown): string {
  if (typeof value === "string" && value !== "") return value;
  const named = (value as { name?: unknown } | null)?.name;
  return typeof named === "string" && named !== "" ? named : `${name}${SIBLING_SUFFIX[encoding]}`;
}

/** The manifest, or undefined when the static storage has none; a malformed one throws a StorageError. */
export async function readStaticManifest(storage: Storage): Promise<StaticManifest | undefined> {
  let text: string;
  try {
    text = await storage.readText(MANIFEST_NAME);
  } catch (error) {
    if (NotFoundError.isInstance(error)) return undefined;
    throw error;
  }
  let doc: { version?: unknown; release?: unknown; files?: Record<string, Record<string, unknown>> };
  try {
    doc = JSON.parse(text);
  } catch {
    throw new InvalidArgumentError(
      `${MANIFEST_NAME} in the static storage is not JSON: run collectstatic again to rewrite it.`,
    );
  }
  if (doc.version !== 1 || typeof doc.files !== "object" || doc.files === null) {
    throw new InvalidArgumentError(
      `${MANIFEST_NAME} in the static storage is not a version 1 manifest: run collectstatic (of the same version as this tool) again.`,
    );
  }
  const entries: StaticEntry[] = [];
  for (const [original, f] of Object.entries(doc.files)) {
    const name = typeof f?.name === "string" ? f.name : original;
    const encodings: Partial<Record<Encoding, string>> = {};
    const declared = (f?.encodings ?? {}) as Record<string, unknown>;
    for (const encoding of Object.keys(SIBLING_SUFFIX) as Encoding[]) {
      if (declared[encoding]) encodings[encoding] = siblingName(name, encoding, declared[encoding]);
    }
    entries.push({
      original,
      name,
      size: typeof f?.size === "number" ? f.size : undefined,
      hashed: f?.hashed === true,
      contentType: typeof f?.contentType === "string" ? f.contentType : undefined,
      encodings,
    });
  }
  return { release: typeof doc.release === "string" ? doc.release : undefined, entries };
}
