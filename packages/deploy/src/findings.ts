/**
 * What `checkDeployment` reports: findings with a stable id (so a team can silence one knowingly,
 * `--ignore ID` or STORAGES_CHECK_IGNORE), a severity (errors fail the check), the storage
 * concerned, what is wrong and what to do.
 *
 * The ids are part of the public contract: never rename one; add new ones.
 */

import { GLOBAL_VARS } from "@storages/core";

export const FINDING_IDS = [
  // configuration and layout
  "config-invalid",
  "no-storages",
  "media-in-memory",
  "static-media-overlap",
  "storages-overlap",
  "media-in-release-dir",
  "media-in-app-dir",
  "media-on-ephemeral-fs",
  "media-without-backup",
  "static-writable",
  "media-not-writable",
  "media-symlink-out",
  "access-probe-failed",
  "url-prefix-no-trailing-slash",
  "url-prefixes-equal",
  "url-prefixes-nested",
  // buckets and containers
  "bucket-missing",
  "bucket-unreachable",
  "bucket-credentials",
  "storage-write-refused",
  "public-not-readable",
  "private-readable",
  "bucket-lists-anonymously",
  "cors-blocks-uploads",
  "media-versioning-off",
  // static manifest
  "manifest-missing",
  "manifest-invalid",
  "manifest-unreadable",
  "manifest-files-missing",
  "collectstatic-running",
  // after a deploy (--base-url)
  "url-not-found",
  "url-unreachable",
  "cache-control-wrong",
  "content-type-wrong",
  "precompressed-missing",
  "media-not-inert",
  "private-served-unsigned",
] as const;

export type FindingId = (typeof FINDING_IDS)[number];
export type Severity = "error" | "warning";

export interface Finding {
  id: FindingId;
  severity: Severity;
  /** The storage concerned (its configured name), when there is one. */
  storage?: string | undefined;
  /** What is wrong, naming the variable, directory or URL (never a secret). */
  message: string;
  /** What to do about it. */
  fix: string;
}

/** The variable that lists ids to ignore, comma- or space-separated (the `--ignore` of scripts and CI). */
export const IGNORE_VARIABLE = GLOBAL_VARS.checkIgnore;

/** The ids to ignore from options and the environment; unknown ids are refused by `checkIgnoreIds`. */
export function ignoredIds(
  ignore: readonly string[] | undefined,
  env: Record<string, string | undefined>,
): Set<string> {
  const fromEnv = (env[IGNORE_VARIABLE] ?? "").split(/[\s,]+/).filter((s) => s !== "");
  return new Set([...(ignore ?? []), ...fromEnv].map((s) => s.trim()));
}

/** The ids in `ids` that no check reports (a typo would silently ignore nothing). */
export function unknownIds(ids: Iterable<string>): string[] {
  return [...ids].filter((id) => !(FINDING_IDS as readonly string[]).includes(id));
}
