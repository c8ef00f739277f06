/**
 * `checkDeployment`: every deploy guardrail in one typed report, from the app's own configuration.
 * The CLI's `storages check` prints it; a deploy script may call it and read `report.ok`.
 */
import { ConfigError, InvalidArgumentError, StorageError } from "@storages/core";
import { InvalidManifestError } from "@storages/staticfiles";
import { accessFindings } from "./access.js";
import { bucketFindings } from "./buckets.js";
import { filesystemFindings } from "./filesystem.js";
import { type Finding, type FindingId, ignoredIds, unknownIds } from "./findings.js";
import { type ConfigurationInput, loadLayout } from "./layout.js";
import { postDeployFindings } from "./postdeploy.js";
import { manifestFindings } from "./static-check.js";
import { urlFindings } from "./urls.js";

export interface CheckOptions extends ConfigurationInput {
  /** Finding ids to silence (also read from STORAGES_CHECK_IGNORE). */
  ignore?: readonly string[] | undefined;
  /** The application directory (default: the nearest folder with a package.json from cwd up). */
  appDir?: string | undefined;
  /** /proc/self/mountinfo contents to judge instead of this machine's (a fixture). */
  mountInfo?: string | undefined;
  /** Check permissions as this user (needs root). */
  asUser?: string | undefined;
  /** false: no network (no bucket probes, no --base-url checks). Default true. */
  network?: boolean | undefined;
  /** After a deploy: the site's base URL, to request static and media URLs. */
  baseUrl?: string | undefined;
  /** The app's origin for CORS (default: the base URL's origin). */
  origin?: string | undefined;
  /** Request at most this many manifest entries (evenly spread); default: every entry. */
  sample?: number | undefined;
  /** Parallel requests/calls. Default 8. */
  concurrency?: number | undefined;
  /** Per request, ms. Default 10 000. */
  timeout?: number | undefined;
  signal?: AbortSignal | undefined;
}

export interface CheckReport {
  /** No error finding left after ignoring. */
  ok: boolean;
  findings: Finding[];
  /** Findings silenced by `ignore`, still shown so nobody forgets them. */
  ignored: Finding[];
  /** What ran and how (which mountinfo, as which user…), and what was not checked. */
  notes: string[];
}

export async function checkDeployment(options: CheckOptions = {}): Promise<CheckReport> {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const ignore = ignoredIds(options.ignore, env);
  const unknown = unknownIds(ignore);
  if (unknown.length > 0) {
    throw new InvalidArgumentError(
      `Unknown finding id(s) to ignore: ${unknown.join(", ")}. The ids are those \`storages check\` prints (e.g. media-without-backup).`,
    );
  }
  for (const [what, value] of [
    ["baseUrl", options.baseUrl],
    ["origin", options.origin],
  ] as const) {
    if (value !== undefined && !/^https?:\/\/[^/]/i.test(value)) {
      throw new InvalidArgumentError(
        `${what} ${JSON.stringify(value)} is not an http(s) URL: give one like https://www.example.com/.`,
      );
    }
    // Not echoed: the password would land in the message, and in every finding naming a URL.
    let credentials = false;
    try {
      const url = value === undefined ? undefined : new URL(value);
      credentials = url !== undefined && (url.username !== "" || url.password !== "");
    } catch {
      throw new InvalidArgumentError(`${what} is not a valid URL: give one like https://www.example.com/.`);
    }
    if (credentials)
      throw new InvalidArgumentError(
        `${what} carries credentials (user:password@): the check would print them in its findings. Check from a host the site lets in without them, or open it to the check's address for the run.`,
      );
  }
  // A sample of 0 would request nothing and pass; a concurrency of 0 would throw from p-limit.
  for (const [what, value, max] of [
    ["sample", options.sample, Number.MAX_SAFE_INTEGER],
    ["concurrency", options.concurrency, Number.MAX_SAFE_INTEGER],
    ["timeout", options.timeout, 2 ** 31 - 1],
  ] as const) {
    if (value !== undefined && !(Number.isInteger(value) && value >= 1 && value <= max)) {
      throw new InvalidArgumentError(
        `${what} must be a whole number from 1${max === Number.MAX_SAFE_INTEGER ? " up" : ` to ${max}`}, got ${value}.`,
      );
    }
  }
  const concurrency = options.concurrency ?? 8;
  const timeout = options.timeout ?? 10_000;
  const findings: Finding[] = [];
  const notes: string[] = [];
  let layout: Awaited<ReturnType<typeof loadLayout>>;
  try {
    layout = await loadLayout({ ...options, env, cwd });
  } catch (error) {
    if (!ConfigError.isInstance(error)) throw error;
    return finish(
      [
        {
          id: "config-invalid",
          severity: "error",
          message: error.message,
          fix: "Fix the storage configuration as the message says; `storages config` shows what the app sees.",
        },
      ],
      notes,
      ignore,
    );
  }
  try {
    if (layout.mode === "local") {
      notes.push(
        "local mode (STORAGES_MODE=local): every storage is a folder under the local root, as in development; check with the production environment (--env-file) to judge a deployment",
      );
    }
    for (const w of layout.warnings) notes.push(`configuration: ${w.message}`);
    const add = (r: { findings: Finding[]; notes: string[] }) => {
      findings.push(...r.findings);
      notes.push(...r.notes);
    };
    findings.push(...presenceFindings(layout));
    add(await filesystemFindings(layout, { cwd, appDir: options.appDir, mountInfo: options.mountInfo }));
    findings.push(...urlFindings(layout));
    add(await accessFindings(layout, options.asUser));
    // A manifest in a bucket is read over the network: offline, only a local one is.
    const staticStorage = layout.storages.find((x) => x.role === "static");
    const manifest =
      options.network === false && staticStorage !== undefined && staticStorage.directory === undefined
        ? {
            findings: [],
            notes: [
              "static manifest: not checked (network off, and the static storage is not a local folder)",
            ],
            manifest: undefined,
          }
        : await manifestFindings(layout, { concurrency, timeout, signal: options.signal }).catch(
            (error: unknown) => {
              if (!StorageError.isInstance(error)) throw error;
              // (A flag, not a type guard: the error types are alike in shape, and TypeScript would narrow
              // the other branch to nothing.)
              const invalid: boolean = error instanceof InvalidManifestError;
              if (invalid)
                return {
                  findings: [
                    {
                      id: "manifest-invalid" as const,
                      severity: "error" as const,
                      storage: staticStorage?.name,
                      message: error.message,
                      fix: "Run `storages collectstatic` (with the production environment) to write a manifest, and keep anything else from writing that name in the static storage.",
                    },
                  ],
                  notes: [],
                  manifest: undefined,
                };
              // Unread is not fine: a static folder that is a file, or a manifest nobody may read,
              // leaves every asset URL as broken as a missing manifest does.
              return {
                findings: [
                  {
                    id: "manifest-unreadable" as const,
                    severity: "error" as const,
                    storage: staticStorage?.name,
                    message: `The static storage (${staticStorage?.description.location}) could not be read to check its manifest (${error.code}): ${error.message}`,
                    fix: "Make the static storage readable by whoever runs the check (and the web server), fix its location, then run the check again.",
                  },
                ],
                notes: [],
                manifest: undefined,
              };
            },
          );
    add(manifest);
    if (options.network !== false) {
      const origin = options.origin ?? (options.baseUrl ? new URL(options.baseUrl).origin : undefined);
      add(await bucketFindings(layout, { timeout, origin, signal: options.signal }));
      if (options.baseUrl !== undefined) {
        const after = await postDeployFindings(layout, manifest.manifest, {
          baseUrl: options.baseUrl,
          sample: options.sample,
          concurrency,
          timeout,
          signal: options.signal,
        });
        // A storage the checks above found unwritable refuses the post-deploy probe too: said once.
        const said = new Set(findings.map((f) => `${f.id}\0${f.storage}`));
        add({
          findings: after.findings.filter((f) => !said.has(`${f.id}\0${f.storage}`)),
          notes: after.notes,
        });
      }
    } else {
      notes.push("network: off (no bucket probes, no URL checks)");
    }
  } finally {
    await layout.close().catch(() => {});
  }
  return finish(findings, notes, ignore);
}

/**
 * A configuration that holds nothing to check (a forgotten --env-file) must not pass as a good
 * one; and media kept in memory is gone at the next restart, whatever else is right.
 */
function presenceFindings(layout: Awaited<ReturnType<typeof loadLayout>>): Finding[] {
  if (layout.storages.length === 0) {
    return [
      {
        id: "no-storages",
        severity: "error",
        message:
          "No storage is configured here: no STORAGES_* variable and no storages.config.* file, so the app would fail at its first file (or the production environment was not loaded).",
        fix: "Run the check with the production environment (--env-file .env.production, or the deploy's variables), or configure the storages.",
      },
    ];
  }
  return layout.storages
    .filter(
      (s) =>
        s.role === "media" &&
        layout.mode !== "local" &&
        // core's own in-memory backend: the one that keeps nothing past the process.
        s.description.backend === "memory",
    )
    .map((s) => ({
      id: "media-in-memory" as const,
      severity: "error" as const,
      storage: s.name,
      message: `"${s.name}" keeps its files in memory (${s.description.source}): every upload is gone when the process restarts, and each process has its own.`,
      fix: "Point it at a folder on a persistent volume (file:///var/lib/app/media) or a bucket; memory:// is for tests.",
    }));
}

function finish(all: Finding[], notes: string[], ignore: ReadonlySet<string>): CheckReport {
  const findings = all.filter((f) => !ignore.has(f.id));
  const ignored = all.filter((f) => ignore.has(f.id));
  return { ok: !findings.some((f) => f.severity === "error"), findings, ignored, notes };
}

export type { Finding, FindingId };
