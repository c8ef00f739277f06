/**
 * After a deploy (`--base-url`): the site, as browsers see it. Every manifest entry (or an even
 * sample) is requested: 404s, wrong Content-Type, Cache-Control that is not long for hashed names
 * or not short for the rest, and precompressed variants that are not served to a client asking
 * for them. Public media get a probe file (plain text and an HTML file that must come back inert);
 * private ones a probe that must not be served without a signature. Probes are removed after,
 * whatever ended the check; one that cannot be written is a finding about its storage.
 *
 * Requests run with bounded concurrency and a timeout each; printed URLs carry no query string.
 */
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import {
  guessContentType,
  isActiveContentType,
  type Storage,
  StorageError,
  shellQuote,
} from "@storages/core";
import pLimit from "p-limit";
import { PROBE_PREFIX, removeProbes, writeRefusedFinding } from "./buckets.js";
import type { Finding, FindingId } from "./findings.js";
import { printableUrl, probe } from "./http.js";
import type { DeploymentLayout, DeployStorage } from "./layout.js";
import type { Encoding, ManifestEntry, StaticManifest } from "./manifest.js";
import { HASHED_NAME_PATTERN, internalPrefix, LONG_CACHE_MIN, maxAge, SHORT_CACHE_MAX } from "./serving.js";

const LOOKS_HASHED = new RegExp(HASHED_NAME_PATTERN);

export interface PostDeployOptions {
  baseUrl: string;
  sample?: number | undefined;
  concurrency: number;
  timeout: number;
  signal?: AbortSignal | undefined;
}

const EXAMPLES = 5;

/** The URL of `name` under a storage's public base, resolved against the site. */
function urlFor(base: string, name: string, site: string): string {
  const path = name.split("/").map(encodeURIComponent).join("/");
  const joined = `${base.endsWith("/") ? base : `${base}/`}${path}`;
  return new URL(joined, site).toString();
}

/** One finding per kind of problem, with a count and examples, rather than one per URL. */
class Tally {
  readonly #problems = new Map<
    string,
    { id: FindingId; storage: string; examples: string[]; count: number }
  >();
  add(id: FindingId, storage: string, example: string): void {
    const key = `${id}\0${storage}`;
    const p = this.#problems.get(key) ?? { id, storage, examples: [], count: 0 };
    p.count++;
    if (p.examples.length < EXAMPLES) p.examples.push(example);
    this.#problems.set(key, p);
  }
  findings(): Finding[] {
    return [...this.#problems.values()].map((p) => ({
      id: p.id,
      severity: p.id === "precompressed-missing" ? "warning" : "error",
      storage: p.storage,
      message: `${p.count} URL(s): ${p.examples.join("; ")}${p.count > p.examples.length ? "; …" : ""}`,
      fix: FIXES[p.id] ?? "",
    }));
  }
}

const FIXES: Partial<Record<FindingId, string>> = {
  "url-not-found":
    "Run collectstatic for this release, check the server's alias/root for the prefix (`storages nginx|caddy` writes one), and keep the files of releases still served.",
  "url-unreachable": "Check that the site answers from here (DNS, TLS, firewall) and run the check again.",
  "cache-control-wrong":
    "Serve hashed names with `Cache-Control: public, max-age=31536000, immutable` and the rest with a short max-age (the configurations of `storages nginx|caddy` do).",
  "content-type-wrong":
    "Serve files with their type (nginx: include mime.types; Caddy does it by itself); a wrong type breaks CSS/JS with nosniff.",
  "precompressed-missing":
    "Turn on serving precompressed files (nginx: gzip_static on + brotli_static on; Caddy: file_server { precompressed br zstd gzip }).",
  "media-not-inert":
    "Serve media with X-Content-Type-Options: nosniff, and active types (HTML, SVG, XML…) as attachments with Content-Security-Policy: sandbox (see `storages nginx|caddy`).",
  "private-served-unsigned":
    "Do not serve the private storage's files directly: mark its location `internal` (nginx) or refuse it (Caddy) and let the app hand files out (X-Accel-Redirect), or keep the bucket private.",
};

/** The media type without parameters, with the JavaScript aliases made one. */
function essence(contentType: string | null | undefined): string {
  const type = (contentType ?? "").split(";", 1)[0]!.trim().toLowerCase();
  return [
    "application/javascript",
    "application/x-javascript",
    "text/ecmascript",
    "application/ecmascript",
  ].includes(type)
    ? "text/javascript"
    : type;
}

function sampleOf<T>(items: readonly T[], sample: number | undefined): T[] {
  if (sample === undefined || sample >= items.length) return [...items];
  if (sample <= 0) return [];
  const step = items.length / sample;
  return Array.from({ length: sample }, (_, i) => items[Math.floor(i * step)]!);
}

const CODINGS: Readonly<Record<Encoding, string>> = { br: "br", gzip: "gzip", zstd: "zstd" };

async function checkStatic(
  s: DeployStorage,
  manifest: StaticManifest,
  tally: Tally,
  options: PostDeployOptions,
): Promise<string[]> {
  const base = s.description.publicUrl;
  if (base === undefined) return [`static URLs: not checked (${s.name} has no publicUrl)`];
  const limit = pLimit(options.concurrency);
  const all = Object.values(manifest.files);
  const entries = sampleOf(all, options.sample);
  const request = { timeout: options.timeout, signal: options.signal, maxBody: 0 };
  await Promise.all(
    entries.map((entry: ManifestEntry) =>
      limit(async () => {
        const url = urlFor(base, entry.name, options.baseUrl);
        const shown = printableUrl(url);
        const got = await probe(url, { ...request, headers: { "accept-encoding": "identity" } });
        if (!got.ok) return tally.add("url-unreachable", s.name, `${shown} (${got.reason})`);
        const res = got.response;
        if (res.status !== 200) return tally.add("url-not-found", s.name, `${shown} → HTTP ${res.status}`);
        const expected = entry.contentType || guessContentType(entry.name);
        const served = res.headers.get("content-type");
        if (essence(served) !== essence(expected)) {
          tally.add("content-type-wrong", s.name, `${shown} is ${served ?? "untyped"}, expected ${expected}`);
        }
        const cache = res.headers.get("cache-control");
        const age = maxAge(cache);
        const long = age !== undefined && age >= LONG_CACHE_MIN;
        const short = age !== undefined && age <= SHORT_CACHE_MAX && !/immutable/i.test(cache ?? "");
        // The servers cache by the name's pattern: where it and the manifest disagree (a bundler's hashed
        // name kept as it is, `hashed: false`; a collectstatic hash of digits only, which the pattern
        // leaves out), either lifetime is right.
        const looksHashed = LOOKS_HASHED.test(entry.name);
        const right = entry.hashed !== looksHashed ? long || short : entry.hashed ? long : short;
        if (!right) {
          tally.add(
            "cache-control-wrong",
            s.name,
            `${shown} (${entry.hashed ? "hashed" : "not hashed"}) has Cache-Control: ${cache ?? "(none)"}`,
          );
        }
        for (const encoding of Object.keys(entry.encodings) as Encoding[]) {
          const coded = await probe(url, { ...request, headers: { "accept-encoding": CODINGS[encoding] } });
          const servedCoding = coded.ok ? coded.response.headers.get("content-encoding") : null;
          if (servedCoding !== CODINGS[encoding]) {
            tally.add(
              "precompressed-missing",
              s.name,
              `${shown} with Accept-Encoding: ${CODINGS[encoding]} came ${servedCoding ? `as ${servedCoding}` : "uncompressed"}`,
            );
          }
        }
      }),
    ),
  );
  return [`static URLs: ${entries.length} of ${all.length} manifest entries requested`];
}

/** What the check of one storage found beyond the tally, and what it did. */
interface MediaResult {
  findings: Finding[];
  notes: string[];
}

/**
 * The probe could not be written, as the app's uploads could not: a folder the checking user may
 * not write (or a read-only mount), a bucket that refuses, no answer in time. Its URLs are unknown.
 */
function probeWriteFinding(s: DeployStorage, error: unknown): Finding {
  if (s.directory === undefined) return writeRefusedFinding(s, error);
  const reason = StorageError.isInstance(error)
    ? `${error.code}: ${error.message}`
    : String((error as Error)?.message ?? error);
  return {
    id: "media-not-writable",
    severity: "error",
    storage: s.name,
    message: `The check (uid ${process.getuid?.() ?? "?"}) could not write a test file to ${s.directory} (${reason}): uploads will fail the same way, and its URLs were not checked.`,
    fix: `Let the app's user create files in it (\`chown APP_USER: ${shellQuote(s.directory)}\`), on a filesystem mounted read-write (a read-only mount refuses even root); then run the check again.`,
  };
}

async function checkMedia(
  s: DeployStorage,
  layout: DeploymentLayout,
  tally: Tally,
  options: PostDeployOptions,
): Promise<MediaResult> {
  if (s.description.readOnly) return { findings: [], notes: [] };
  // Opening the storage would create the folder (root's, under sudo): media-not-writable says it is missing.
  if (s.directory !== undefined && !existsSync(s.directory))
    return { findings: [], notes: [`media ${s.name}: not probed (${s.directory} does not exist)`] };
  const token = randomUUID();
  const text = { key: `${PROBE_PREFIX}${token}.txt`, body: `storages check ${token}` };
  const html = {
    key: `${PROBE_PREFIX}${token}.html`,
    body: `<!doctype html><script>/* storages check ${token} */</script>`,
  };
  const probes = s.description.visibility === "public" ? [text, html] : [text];
  const storage = await layout.writer(s.name);
  // The probes to remove after: each one written, and one whose write got no answer in time (it
  // may land all the same); one refused outright left nothing.
  const written: string[] = [];
  let result: MediaResult;
  let left: string[];
  try {
    result = await writeAndRequest(s, storage, probes, written, tally, options);
  } finally {
    left = await removeProbes(s, storage, written, options.timeout);
  }
  return { findings: result.findings, notes: [...result.notes, ...left] };
}

async function writeAndRequest(
  s: DeployStorage,
  storage: Storage,
  probes: readonly { key: string; body: string }[],
  written: string[],
  tally: Tally,
  options: PostDeployOptions,
): Promise<MediaResult> {
  for (const p of probes) {
    try {
      await storage.save(p.key, p.body, {
        signal: options.signal,
        timeout: options.timeout,
        overwrite: true,
      });
      written.push(p.key);
    } catch (error) {
      if (options.signal?.aborted || StorageError.hasCode(error, "E_TIMEOUT")) written.push(p.key);
      // Ctrl-C is the user's: the check stops.
      if (options.signal?.aborted) throw error;
      return {
        findings: [probeWriteFinding(s, error)],
        notes: [`media ${s.name}: not probed (the test file could not be written)`],
      };
    }
  }
  return { findings: [], notes: await requestProbes(s, storage, probes, tally, options) };
}

/** The written probes, requested as a browser would: what the site serves for them. */
async function requestProbes(
  s: DeployStorage,
  storage: Storage,
  probes: readonly { key: string; body: string }[],
  tally: Tally,
  options: PostDeployOptions,
): Promise<string[]> {
  const request = { timeout: options.timeout, signal: options.signal };
  if (s.description.visibility === "public") {
    for (const p of probes) {
      let url: string;
      try {
        // The URL the app hands out (publicUrl, or the service's own), resolved against the site.
        url = new URL(storage.publicUrl(p.key), options.baseUrl).toString();
      } catch {
        return [`media ${s.name}: public, but with no URL to request (set publicUrl)`];
      }
      const shown = printableUrl(url);
      const got = await probe(url, request);
      if (!got.ok) {
        tally.add("url-unreachable", s.name, `${shown} (${got.reason})`);
        continue;
      }
      const h = got.response.headers;
      if (got.response.status !== 200 || got.response.body !== p.body) {
        tally.add("url-not-found", s.name, `${shown} → HTTP ${got.response.status}`);
        continue;
      }
      const problems: string[] = [];
      if (h.get("x-content-type-options")?.toLowerCase() !== "nosniff")
        problems.push("no X-Content-Type-Options: nosniff");
      if (isActiveContentType(guessContentType(p.key))) {
        const inline = !/^\s*attachment/i.test(h.get("content-disposition") ?? "");
        if (inline && isActiveContentType(h.get("content-type") ?? "text/html"))
          problems.push("served inline as active content");
        if (!/sandbox/i.test(h.get("content-security-policy") ?? ""))
          problems.push("no Content-Security-Policy: sandbox");
      }
      if (problems.length > 0) tally.add("media-not-inert", s.name, `${shown}: ${problems.join(", ")}`);
    }
    return [`media ${s.name}: probed with ${probes.length} test file(s)`];
  }
  // Private: the file must not come back from any unsigned URL the site or the service has.
  const text = probes[0]!;
  const candidates = [urlFor(internalPrefix(s.name), text.key, options.baseUrl)];
  try {
    const direct = storage.publicUrl(text.key);
    if (/^https?:/.test(direct) || direct.startsWith("/"))
      candidates.push(new URL(direct, options.baseUrl).toString());
  } catch {
    // No unsigned URL at all: nothing to request.
  }
  let answered = 0;
  for (const url of candidates) {
    const got = await probe(url, request);
    // No answer is no proof the file is refused: said as the public part says it.
    if (!got.ok) {
      tally.add("url-unreachable", s.name, `${printableUrl(url)} (${got.reason})`);
      continue;
    }
    answered++;
    if (got.response.status === 200 && got.response.body === text.body) {
      tally.add(
        "private-served-unsigned",
        s.name,
        `${printableUrl(url)} served a private test file without a signature`,
      );
    }
  }
  return [`media ${s.name} (private): ${answered} of ${candidates.length} unsigned URL(s) answered`];
}

export async function postDeployFindings(
  layout: DeploymentLayout,
  manifest: StaticManifest | undefined,
  options: PostDeployOptions,
): Promise<{ findings: Finding[]; notes: string[] }> {
  const tally = new Tally();
  const findings: Finding[] = [];
  const notes: string[] = [];
  for (const s of layout.storages) {
    if (s.role === "static") {
      if (manifest) notes.push(...(await checkStatic(s, manifest, tally, options)));
      else notes.push("static URLs: not checked (no manifest)");
    } else {
      const media = await checkMedia(s, layout, tally, options);
      findings.push(...media.findings);
      notes.push(...media.notes);
    }
  }
  return { findings: [...findings, ...tally.findings()], notes };
}
