/**
 * The static storage holds what the releases' manifests name: the current manifest, every file it
 * lists and every precompressed variant it declares, and the same for each release collectstatic
 * keeps for rollbacks. A missing file here is a 404 after the deploy, or after a rollback.
 */
import { existsSync } from "node:fs";
import {
  describeHolder,
  LOCK_NAME,
  manifestNames,
  RELEASES_PREFIX,
  readManifest,
  readPublishLock,
} from "@storages/staticfiles";
import pLimit from "p-limit";
import type { Finding } from "./findings.js";
import type { DeploymentLayout, DeployStorage } from "./layout.js";
import { MANIFEST_NAME, readStaticManifest, type StaticManifest } from "./manifest.js";

const EXAMPLES = 5;

function missingManifest(s: DeployStorage): Finding {
  return {
    id: "manifest-missing",
    severity: "error",
    storage: s.name,
    message: `The static storage (${s.description.location}) has no ${MANIFEST_NAME}: collectstatic has not run for this configuration, so every hashed asset URL will 404.`,
    fix: "Run `storages collectstatic` (with the production environment) before switching traffic to the release.",
  };
}

export async function manifestFindings(
  layout: DeploymentLayout,
  options: { concurrency: number; timeout: number; signal?: AbortSignal | undefined },
): Promise<{ findings: Finding[]; notes: string[]; manifest: StaticManifest | undefined }> {
  const s = layout.storages.find((x) => x.role === "static");
  if (!s)
    return {
      findings: [],
      notes: ["static manifest: no staticfiles storage configured"],
      manifest: undefined,
    };
  // A local folder that is not there has no manifest: said without opening the storage, which
  // would create the folder (owned by whoever runs the check, root under sudo).
  if (s.directory !== undefined && !existsSync(s.directory))
    return { manifest: undefined, notes: [], findings: [missingManifest(s)] };
  const storage = await layout.writer(s.name);
  // Read beside the manifest: a first deploy's collectstatic holds the lock before any manifest exists.
  const [manifest, lock] = await Promise.all([
    readStaticManifest(storage, options.signal),
    readPublishLock(storage, { signal: options.signal, timeout: options.timeout }),
  ]);
  const lockFindings: Finding[] = lock
    ? [
        {
          id: "collectstatic-running",
          severity: "warning",
          storage: s.name,
          message: `${describeHolder(lock.holder)} holds the static storage's lock (${LOCK_NAME}): a release is being published now, so what this check saw may change; or a killed run left the lock, which the next collectstatic takes over once it goes unrenewed for a lease.`,
          fix: "Check again once that run is done. If no collectstatic is running, `storages collectstatic --break-lock` removes the lock.",
        },
      ]
    : [];
  if (!manifest) {
    return {
      manifest,
      notes: [],
      findings: [...lockFindings, missingManifest(s)],
    };
  }
  // The current release, then every kept one (`.storages/releases/<id>.json`): a rollback needs
  // its files as much as the current release does. Each file is asked for once.
  const releases: Array<{ label: string; manifest: StaticManifest }> = [{ label: MANIFEST_NAME, manifest }];
  for await (const entry of storage.list(RELEASES_PREFIX, { recursive: false, signal: options.signal })) {
    if (entry.type !== "file" || !entry.name.endsWith(".json")) continue;
    const kept = await readManifest(storage, { name: entry.name, signal: options.signal });
    if (kept.release !== manifest.release)
      releases.push({ label: `kept release ${kept.release}`, manifest: kept });
  }
  const limit = pLimit(options.concurrency);
  const wanted = new Set(releases.flatMap((r) => [...manifestNames(r.manifest)]));
  const missing = new Set<string>();
  await Promise.all(
    [...wanted].map((name) =>
      limit(async () => {
        if (!(await storage.exists(name, { signal: options.signal, timeout: options.timeout })))
          missing.add(name);
      }),
    ),
  );
  const findings: Finding[] = [...lockFindings];
  for (const r of releases) {
    const gone = [...manifestNames(r.manifest)].filter((n) => missing.has(n)).sort();
    if (gone.length === 0) continue;
    findings.push({
      id: "manifest-files-missing",
      severity: "error",
      storage: s.name,
      message: `${r.label === MANIFEST_NAME ? MANIFEST_NAME : `The manifest of ${r.label}`} names ${gone.length} file(s) the static storage does not have: ${gone.slice(0, EXAMPLES).join(", ")}${gone.length > EXAMPLES ? ", …" : ""}.`,
      fix:
        r.label === MANIFEST_NAME
          ? "Run collectstatic again, and make sure release cleanup keeps the files of every release still referenced (keep N releases)."
          : "A rollback to that release would 404: run collectstatic for it again, or let only collectstatic's own pruning delete static files.",
    });
  }
  return {
    findings,
    manifest,
    notes: [
      `static manifest: release ${manifest.release}, ${Object.keys(manifest.files).length} entries; ${releases.length - 1} kept release(s); ${wanted.size} files checked`,
    ],
  };
}
