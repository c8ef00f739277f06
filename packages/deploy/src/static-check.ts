/**
 * The static storage holds what the release's manifest names: the manifest itself, every file it
 * lists and every precompressed variant it declares. A missing file here is a 404 after the deploy.
 */
import { manifestNames } from "@storages/staticfiles";
import pLimit from "p-limit";
import type { Finding } from "./findings.js";
import type { DeploymentLayout } from "./layout.js";
import { MANIFEST_NAME, readStaticManifest, type StaticManifest } from "./manifest.js";

const EXAMPLES = 5;

export async function manifestFindings(
  layout: DeploymentLayout,
  options: { concurrency: number; signal?: AbortSignal | undefined },
): Promise<{ findings: Finding[]; notes: string[]; manifest: StaticManifest | undefined }> {
  const s = layout.storages.find((x) => x.role === "static");
  if (!s)
    return {
      findings: [],
      notes: ["static manifest: no staticfiles storage configured"],
      manifest: undefined,
    };
  const storage = await layout.writer(s.name);
  const manifest = await readStaticManifest(storage, options.signal);
  if (!manifest) {
    return {
      manifest,
      notes: [],
      findings: [
        {
          id: "manifest-missing",
          severity: "error",
          storage: s.name,
          message: `The static storage (${s.description.location}) has no ${MANIFEST_NAME}: collectstatic has not run for this configuration, so every hashed asset URL will 404.`,
          fix: "Run `storages collectstatic` (with the production environment) before switching traffic to the release.",
        },
      ],
    };
  }
  const limit = pLimit(options.concurrency);
  const wanted = [...manifestNames(manifest)];
  const missing: string[] = [];
  await Promise.all(
    wanted.map((name) =>
      limit(async () => {
        if (!(await storage.exists(name, { signal: options.signal }))) missing.push(name);
      }),
    ),
  );
  missing.sort();
  const findings: Finding[] = [];
  if (missing.length > 0) {
    findings.push({
      id: "manifest-files-missing",
      severity: "error",
      storage: s.name,
      message: `${MANIFEST_NAME} names ${missing.length} file(s) the static storage does not have: ${missing.slice(0, EXAMPLES).join(", ")}${missing.length > EXAMPLES ? ", …" : ""}.`,
      fix: "Run collectstatic again, and make sure release cleanup keeps the files of every release still referenced (keep N releases).",
    });
  }
  return {
    findings,
    manifest,
    notes: [
      `static manifest: release ${manifest.release}, ${Object.keys(manifest.files).length} entries, ${wanted.length} files checked`,
    ],
  };
}
