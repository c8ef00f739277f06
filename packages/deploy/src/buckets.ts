/**
 * Storages on a bucket or container, probed through the storage itself (so every backend is
 * covered the same way, by the typed errors its driver throws) and over plain anonymous HTTP:
 *
 * - reachable, existing, credentials accepted: one listing call;
 * - a test object written with the storage's visibility: a public storage must serve it to anyone,
 *   a private one to nobody; no URL above it may list it (an anonymous listing exposes every name);
 * - browser uploads: a CORS preflight against a signed upload URL, from the app's origin;
 * - media: versioning or soft delete on (`Storage.dataProtection()`, from the driver), or a warning;
 * then the test object is removed.
 */
import { randomUUID } from "node:crypto";
import { type Storage, StorageError, shellQuote } from "@storages/core";
import type { Finding } from "./findings.js";
import { printableUrl, probe } from "./http.js";
import type { DeploymentLayout, DeployStorage } from "./layout.js";

// Not a dot folder: the generated server configurations never serve dot files, and the post-deploy
// check must request its probes through them.
export const PROBE_PREFIX = "_storages-check/";

export interface BucketCheckOptions {
  timeout: number;
  /** The app's origin (https://app.example.com), for the CORS preflight of browser uploads. */
  origin?: string | undefined;
  signal?: AbortSignal | undefined;
}

function reachFinding(s: DeployStorage, error: unknown): Finding {
  const where = s.description.location;
  const message = StorageError.isInstance(error) ? error.message : String((error as Error)?.message ?? error);
  const code = StorageError.isInstance(error) ? error.code : "E_BACKEND";
  if (code === "E_CONFIG" && /not exist/i.test(message)) {
    return {
      id: "bucket-missing",
      severity: "error",
      storage: s.name,
      message: `${where}: ${message}`,
      fix: "Create the bucket or container (infrastructure code, the provider's console), or fix its name in the storage URL.",
    };
  }
  // Refused, or never sent: credentials the SDK could not find or load (E_CONFIG) are a
  // credentials problem, not a network one. (A key that does not parse is refused at load.)
  if (code === "E_PERMISSION_DENIED" || (code === "E_CONFIG" && /credential/i.test(message))) {
    return {
      id: "bucket-credentials",
      severity: "error",
      storage: s.name,
      message: `${where}: ${message}`,
      fix: `Check the credentials in ${s.description.secrets.join(", ") || "the storage's secret variables"} and what they are allowed to do.`,
    };
  }
  return {
    id: "bucket-unreachable",
    severity: "error",
    storage: s.name,
    message: `${where} did not answer (${code}): ${message}`,
    fix: "Check the endpoint, DNS and firewall from this host (and the region), then run the check again.",
  };
}

/** The test object could not be written: the app's uploads would fail the same way. */
export function writeRefusedFinding(s: DeployStorage, error: unknown): Finding {
  if (StorageError.isInstance(error) && error.code === "E_PERMISSION_DENIED") {
    return {
      ...reachFinding(s, error),
      message: `${s.description.location}: writing a test file was refused: ${error.message}`,
    };
  }
  // No answer is no refusal: said as an unanswered listing is.
  if (StorageError.isInstance(error) && error.code === "E_TIMEOUT") return reachFinding(s, error);
  const message = StorageError.isInstance(error) ? error.message : String((error as Error)?.message ?? error);
  return {
    id: "storage-write-refused",
    severity: "error",
    storage: s.name,
    message: `${s.description.location}: the backend refused to write a test file, as it would refuse the app's uploads: ${message}`,
    fix: "Do what the backend's message says, then run the check again.",
  };
}

/** Every URL above the probe object's (its "folders", up to the host), each ending in "/". */
function ancestorUrls(objectUrl: string): string[] {
  const u = new URL(objectUrl);
  u.search = "";
  const parts = u.pathname.split("/").slice(0, -1);
  const out: string[] = [];
  for (let i = parts.length; i >= 1; i--) {
    u.pathname = `${parts.slice(0, i).join("/")}/`;
    out.push(u.toString());
  }
  return out;
}

async function checkOne(s: DeployStorage, layout: DeploymentLayout, options: BucketCheckOptions) {
  const findings: Finding[] = [];
  const notes: string[] = [];
  const storage = await layout.writer(s.name);
  const call = { signal: options.signal, timeout: options.timeout, retry: false as const };
  try {
    await storage.listPage("", { ...call, pageSize: 1 });
  } catch (error) {
    findings.push(reachFinding(s, error));
    return { findings, notes };
  }
  if (s.role === "media") {
    const protection = await storage.dataProtection(call).catch((error: unknown) => {
      if (!StorageError.isInstance(error)) throw error;
      return undefined;
    });
    if (protection === undefined) {
      notes.push(
        `${s.name}: versioning / soft delete not known (the backend cannot tell, or these credentials may not ask)`,
      );
    } else if (!protection.recoverable) {
      findings.push({
        id: "media-versioning-off",
        severity: "warning",
        storage: s.name,
        message: `${s.description.location}: ${protection.detail}: a deleted or overwritten upload is gone for good.`,
        fix: "Turn on bucket versioning (S3, GCS) or blob soft delete (Azure), with a lifecycle rule that expires old versions.",
      });
    } else {
      notes.push(`${s.name}: ${protection.detail}`);
    }
  }
  if (s.description.readOnly) {
    notes.push(`${s.name}: read-only, no test object written (visibility and CORS not probed)`);
    return { findings, notes };
  }
  const token = randomUUID();
  const key = `${PROBE_PREFIX}${token}.txt`;
  const content = `storages check ${token}`;
  try {
    // The name is new (a UUID): overwrite skips the create-exclusive write some S3 servers lack.
    await storage.save(key, content, { ...call, contentType: "text/plain", overwrite: true });
  } catch (error) {
    findings.push(writeRefusedFinding(s, error));
    return { findings, notes };
  }
  try {
    let url: string | undefined;
    try {
      url = storage.publicUrl(key);
    } catch {
      notes.push(`${s.name}: the backend gives no unsigned URL, anonymous access not probed`);
    }
    if (url !== undefined && /^https?:/.test(url)) {
      const got = await probe(url, { timeout: options.timeout, signal: options.signal });
      const readable = got.ok && got.response.status === 200 && got.response.body === content;
      const status = got.ok ? `HTTP ${got.response.status}` : got.reason;
      if (s.description.visibility === "public" && !readable) {
        findings.push({
          id: "public-not-readable",
          severity: "error",
          storage: s.name,
          message: `"${s.name}" is public, but a test file at ${printableUrl(url)} is not readable anonymously (${status}): its public URLs will not load.`,
          fix: 'Allow anonymous reads of this bucket/prefix (a bucket policy, public ACLs allowed, container access level "blob"), or serve it through a CDN and set publicUrl to the CDN; or configure visibility=private and hand out signed URLs.',
        });
      }
      if (s.description.visibility === "private" && readable) {
        findings.push({
          id: "private-readable",
          severity: "error",
          storage: s.name,
          message: `"${s.name}" is private, but anyone can read a test file at ${printableUrl(url)} without a signature.`,
          fix: 'Remove the public-read bucket policy or ACL (container access level "private"), so only signed URLs work.',
        });
      }
      for (const above of ancestorUrls(url)) {
        for (const candidate of [above, `${above}?restype=container&comp=list`]) {
          const listed = await probe(candidate, { timeout: options.timeout, signal: options.signal });
          if (listed.ok && listed.response.status === 200 && listed.response.body.includes(token)) {
            findings.push({
              id: "bucket-lists-anonymously",
              severity: "error",
              storage: s.name,
              message: `${printableUrl(candidate)} lists the bucket's files to anyone (the test file's name is in it): every name, private ones included, can be enumerated.`,
              fix: 'Allow anonymous GetObject only, never ListBucket (S3 policy), or use container access level "blob", not "container" (Azure).',
            });
            break;
          }
        }
        if (findings.some((f) => f.id === "bucket-lists-anonymously")) break;
      }
    }
    if (options.origin && s.description.capabilities.signedUpload.length > 0) {
      findings.push(...(await corsFindings(s, storage, options)));
    } else if (s.description.capabilities.signedUpload.length > 0) {
      notes.push(`${s.name}: CORS for browser uploads not probed (give --origin or --base-url)`);
    }
  } finally {
    notes.push(...(await removeProbes(s, storage, [key], options.timeout)));
  }
  return { findings, notes };
}

/**
 * Deletes test files once a check is done with them, whatever ended it: not with the check's
 * signal (after Ctrl-C an aborted signal would skip the delete and leave them behind), each call
 * bounded by the timeout. Returns a note for each one that is still there.
 */
export async function removeProbes(
  s: DeployStorage,
  storage: Storage,
  keys: readonly string[],
  timeout: number,
): Promise<string[]> {
  const left = await Promise.all(
    keys.map((key) =>
      storage.delete(key, { timeout }).then(
        () => [],
        () => [
          `${s.name}: could not remove the test file ${key}; remove it by hand (\`storages rm ${shellQuote(`${s.name}:${key}`)}\`)`,
        ],
      ),
    ),
  );
  return left.flat();
}

async function corsFindings(
  s: DeployStorage,
  storage: Awaited<ReturnType<DeploymentLayout["writer"]>>,
  options: BucketCheckOptions,
): Promise<Finding[]> {
  const origin = new URL(options.origin!).origin;
  const upload = await storage.signedUpload(`${PROBE_PREFIX}${randomUUID()}.bin`, {
    signal: options.signal,
    contentType: "application/octet-stream",
  });
  const requestHeaders = Object.keys(upload.headers).map((h) => h.toLowerCase());
  const got = await probe(upload.url, {
    method: "OPTIONS",
    timeout: options.timeout,
    signal: options.signal,
    headers: {
      origin,
      "access-control-request-method": upload.method,
      ...(requestHeaders.length > 0 ? { "access-control-request-headers": requestHeaders.join(",") } : {}),
    },
  });
  const allowed =
    got.ok &&
    got.response.status >= 200 &&
    got.response.status < 300 &&
    [origin, "*"].includes(got.response.headers.get("access-control-allow-origin") ?? "");
  if (allowed) return [];
  return [
    {
      id: "cors-blocks-uploads",
      severity: "error",
      storage: s.name,
      message: `A browser on ${origin} cannot upload to "${s.name}": the ${upload.method} preflight to ${printableUrl(upload.url)} was ${got.ok ? `answered HTTP ${got.response.status} without Access-Control-Allow-Origin: ${origin}` : `not answered (${got.reason})`}.`,
      fix: `Add a CORS rule to the bucket allowing origin ${origin}, methods ${upload.method}${requestHeaders.length ? `, headers ${requestHeaders.join(", ")}` : ""} (and exposing ETag).`,
    },
  ];
}

export async function bucketFindings(
  layout: DeploymentLayout,
  options: BucketCheckOptions,
): Promise<{ findings: Finding[]; notes: string[] }> {
  const findings: Finding[] = [];
  const notes: string[] = [];
  for (const s of layout.storages) {
    if (s.description.locationParts.kind !== "bucket") continue;
    const r = await checkOne(s, layout, options);
    findings.push(...r.findings);
    notes.push(...r.notes);
  }
  return { findings, notes };
}
