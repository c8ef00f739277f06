/**
 * The manifest: the one contract between `collectstatic` (which writes it), the app (which carries
 * it and asks it for URLs) and the deploy tools (which check a release against it).
 *
 * Stored in the target storage as `staticfiles.json` (the current release) and as
 * `.storages/releases/<release>.json` (each kept release), and written to a local file the app's
 * build carries (`./staticfiles.json` by default), so a rolled-back app keeps naming the hashed files
 * of its own release. The format is documented in the package README; version 1 only grows by
 * optional fields.
 */
import { readFile } from "node:fs/promises";
import { InvalidArgumentError, NotFoundError, Storage } from "@storages/core";

export const MANIFEST_VERSION = 1;
/** The current release's manifest, at the root of the target storage. */
export const MANIFEST_NAME = "staticfiles.json";
/** The folder of collectstatic's own records in the target: release manifests, the publishing lock. */
export const RESERVED_FOLDER = ".storages/";
/** Every kept release's manifest: `.storages/releases/<release>.json`. */
export const RELEASES_PREFIX = `${RESERVED_FOLDER}releases/`;

/** Precompressed siblings of a published file: `<name>.br`, `<name>.gz`, `<name>.zst`. */
export const ENCODINGS = ["br", "zstd", "gzip"] as const;
export type Encoding = (typeof ENCODINGS)[number];
export const ENCODING_SUFFIX: Readonly<Record<Encoding, string>> = { br: ".br", zstd: ".zst", gzip: ".gz" };

export interface ManifestEntry {
  /** The published name: hashed (`css/app.3f2a9c1b07d4.css`), or the original when `hashed` is false. */
  name: string;
  /** Bytes of the published file (after reference rewriting). */
  size: number;
  /** SHA-256 of the published bytes, lower-case hex. */
  sha256: string;
  /** Subresource Integrity of the published bytes: `sha384-<base64>`. */
  integrity: string;
  /** False for files kept under their own name (a bundler already hashed them, or hashing is off). */
  hashed: boolean;
  contentType: string;
  /** Sizes of the precompressed siblings `<name>.br|.gz|.zst` that exist (kept only when ≥ 5 % smaller). */
  encodings: Partial<Record<Encoding, number>>;
}

/**
 * What collectstatic needs to tell "nothing changed" from the sources' stat data alone, without
 * reading them. Optional: an app never needs it, and a manifest made by another tool has none.
 */
export interface ManifestBuildState {
  /** Fingerprint of the options that change the output (hashing, rewriting, compression settings). */
  options: string;
  /** Per original name: the source's size, mtime (ms) and SHA-256 of its unrewritten bytes. */
  sources: Record<string, [size: number, mtimeMs: number, sha256: string]>;
  /** The reference warnings of the run that wrote it: a no-change run reads no file, and repeats these. */
  warnings?:
    | {
        code: string;
        file: string;
        line?: number | undefined;
        reference?: string | undefined;
        message: string;
      }[]
    | undefined;
}

export interface StaticManifest {
  version: 1;
  /** The release id (`--release`, else derived from the files' hashes: same files, same id). */
  release: string;
  /** ISO 8601. */
  createdAt: string;
  /** Original name (`css/app.css`) → entry. */
  files: Record<string, ManifestEntry>;
  /**
   * Original names also published under their own name (short cache), for references that cannot be
   * rewritten (a template that hard-codes `/static/css/app.css`). Every name collectstatic wrote
   * is in `files` (as `name` and its siblings) or here.
   */
  originals?: string[] | undefined;
  build?: ManifestBuildState | undefined;
}

/** Every name in the target a manifest accounts for: published files, their siblings, originals. */
export function manifestNames(manifest: StaticManifest): Set<string> {
  const names = new Set<string>();
  for (const entry of Object.values(manifest.files)) {
    names.add(entry.name);
    for (const encoding of Object.keys(entry.encodings) as Encoding[]) {
      names.add(entry.name + ENCODING_SUFFIX[encoding]);
    }
  }
  for (const original of manifest.originals ?? []) names.add(original);
  return names;
}

/** A manifest that cannot be read as one: names the source and what to do. */
export class InvalidManifestError extends InvalidArgumentError {}

const HEX64 = /^[0-9a-f]{64}$/;

/** Checks the shape of a parsed manifest; throws InvalidManifestError naming the first problem. */
export function parseManifest(value: unknown, source: string): StaticManifest {
  const fail = (what: string): never => {
    throw new InvalidManifestError(
      `${source} is not a storages static manifest (${what}). Run \`storages collectstatic\` to write one.`,
    );
  };
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail("not a JSON object");
  const m = value as Record<string, unknown>;
  if (m.version !== MANIFEST_VERSION)
    fail(`version ${JSON.stringify(m.version)}; this package reads version ${MANIFEST_VERSION}`);
  if (typeof m.release !== "string" || m.release === "") fail("no release id");
  if (typeof m.createdAt !== "string") fail("no createdAt");
  if (typeof m.files !== "object" || m.files === null || Array.isArray(m.files)) fail("no files object");
  for (const [original, raw] of Object.entries(m.files as Record<string, unknown>)) {
    const e = raw as Partial<ManifestEntry> | null;
    if (
      typeof e !== "object" ||
      e === null ||
      typeof e.name !== "string" ||
      typeof e.size !== "number" ||
      typeof e.sha256 !== "string" ||
      !HEX64.test(e.sha256) ||
      typeof e.integrity !== "string" ||
      typeof e.hashed !== "boolean" ||
      typeof e.contentType !== "string" ||
      typeof e.encodings !== "object" ||
      e.encodings === null
    ) {
      fail(`the entry of ${JSON.stringify(original)} is incomplete`);
    }
    // Sibling names are derived from these keys (and deleted by pruning): only the known ones.
    for (const [encoding, size] of Object.entries(
      (e as ManifestEntry).encodings as Record<string, unknown>,
    )) {
      if (!Object.hasOwn(ENCODING_SUFFIX, encoding) || typeof size !== "number")
        fail(
          `the entry of ${JSON.stringify(original)} lists an unknown encoding ${JSON.stringify(encoding)}`,
        );
    }
  }
  if (
    m.originals !== undefined &&
    (!Array.isArray(m.originals) || !m.originals.every((name) => typeof name === "string"))
  )
    fail("originals is not a list of names");
  return value as StaticManifest;
}

/** Serialised the same way everywhere (stable key order comes from the writer). */
export function serializeManifest(manifest: StaticManifest): string {
  return `${JSON.stringify(manifest, null, 1)}\n`;
}

/** The manifest without collectstatic's own build state: what the app carries. */
export function publicManifest(manifest: StaticManifest): StaticManifest {
  const { build: _build, ...rest } = manifest;
  return rest;
}

/**
 * `serializeManifest(publicManifest(m))` cut from `serializeManifest(m)`, with no parse or
 * serialisation: the writer puts `build` last, so the public text is everything before it (a
 * no-change run compares the app's copy with this, and a fresh run serialises once). Undefined when
 * the text is not laid out that way (written by hand, or by another tool).
 */
export function publicManifestText(text: string): string | undefined {
  // One-space indentation: `\n "key"` is a top-level key (strings hold no raw newline).
  const at = text.lastIndexOf(',\n "build": ');
  if (at === -1 || text.indexOf('\n "', at + 2) !== -1 || !text.endsWith("\n}\n")) return undefined;
  return `${text.slice(0, at)}\n}\n`;
}

/**
 * Reads a manifest from a local file path (what an app does at start) or from a storage (the
 * current release's `staticfiles.json`, or `name`). Throws NotFoundError when there is none,
 * InvalidManifestError when it is not one.
 */
export async function readManifest(
  pathOrStorage: string | URL | Storage,
  options: { name?: string | undefined; signal?: AbortSignal | undefined } = {},
): Promise<StaticManifest> {
  if (Storage.isInstance(pathOrStorage)) {
    const storage = pathOrStorage as Storage;
    const name = options.name ?? MANIFEST_NAME;
    const text = await storage.readText(name, { signal: options.signal });
    return parseManifest(parseJson(text, name), `${name} of the storage`);
  }
  const path = pathOrStorage as string | URL;
  let text: string;
  try {
    text = await readFile(path, { encoding: "utf8", signal: options.signal });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      throw new NotFoundError(
        `No static manifest at ${String(path)}: run \`storages collectstatic\` (it writes ./staticfiles.json, or --manifest-out PATH) as part of the app's build.`,
        { cause: error },
      );
    }
    throw error;
  }
  return parseManifest(parseJson(text, String(path)), String(path));
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new InvalidManifestError(
      `${source} is not valid JSON (${(error as Error).message}). Run \`storages collectstatic\` to write it again.`,
      { cause: error },
    );
  }
}

/** Bytes published, bytes of the compressed ones before compression, and their siblings' bytes per encoding. */
export function manifestTotals(manifest: StaticManifest): {
  bytes: number;
  before: number;
  after: Record<Encoding, number>;
} {
  let bytes = 0;
  let before = 0;
  const after: Record<Encoding, number> = { br: 0, gzip: 0, zstd: 0 };
  for (const entry of Object.values(manifest.files)) {
    bytes += entry.size;
    const sizes = Object.entries(entry.encodings) as [Encoding, number][];
    if (sizes.length > 0) before += entry.size;
    for (const [e, size] of sizes) after[e] += size;
  }
  return { bytes, before, after };
}
