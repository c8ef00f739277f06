/**
 * URL prefixes of the storages served on the web: each ends in "/" (`/static` would also match
 * `/staticfiles.zip`, and nginx's `alias` without the slash lets `/static../` escape the folder),
 * and no two are equal or nested (one storage's files would be reachable, or shadowed, under the
 * other's prefix).
 */
import type { Finding } from "./findings.js";
import type { DeploymentLayout, DeployStorage } from "./layout.js";

/** A comparable form of a base URL: origin (or "" for a path on the app's host) and path. */
function prefixOf(publicUrl: string): { origin: string; path: string } {
  const url = publicUrl.startsWith("/") ? new URL(publicUrl, "http://app.invalid") : new URL(publicUrl);
  const origin = publicUrl.startsWith("/") ? "" : url.origin;
  const path = url.pathname.endsWith("/") ? url.pathname : `${url.pathname}/`;
  return { origin, path };
}

export function urlFindings(layout: DeploymentLayout): Finding[] {
  const findings: Finding[] = [];
  const served = layout.storages.filter((s) => s.description.publicUrl !== undefined);
  for (const s of served) {
    const base = s.description.publicUrl!;
    if (!new URL(base, "http://app.invalid").pathname.endsWith("/")) {
      findings.push({
        id: "url-prefix-no-trailing-slash",
        severity: "error",
        storage: s.name,
        message: `The public URL of "${s.name}" (${base}) does not end in "/": it also matches names that merely start with it, and a server alias built from it can be escaped ("${base}../").`,
        fix: `Write it with the slash: publicUrl=${base}/ (in ${s.description.sources.publicUrl ?? s.description.source}).`,
      });
    }
  }
  findings.push(...prefixClashes(served, "same-origin"));
  return findings;
}

/**
 * Equal or nested URL prefixes among `storages`' public URLs: on the same origin (what browsers
 * see), or on different origins (for one web server that serves each folder under its URL's path:
 * a CDN pulling https://cdn.example.com/static/ from it, beside media at /static/).
 */
export function prefixClashes(
  storages: readonly DeployStorage[],
  origins: "same-origin" | "other-origins",
): Finding[] {
  const served = storages.filter((s) => s.description.publicUrl !== undefined);
  const findings: Finding[] = [];
  for (let i = 0; i < served.length; i++) {
    for (let j = i + 1; j < served.length; j++) {
      const a = served[i]!;
      const b = served[j]!;
      const pa = prefixOf(a.description.publicUrl!);
      const pb = prefixOf(b.description.publicUrl!);
      if ((pa.origin === pb.origin) !== (origins === "same-origin")) continue;
      const both = `"${a.name}" (${a.description.publicUrl}) and "${b.name}" (${b.description.publicUrl})${origins === "other-origins" ? `, both served by this server under their paths (${pa.path} and ${pb.path}),` : ""}`;
      if (pa.path === pb.path) {
        findings.push({
          id: "url-prefixes-equal",
          severity: "error",
          storage: b.name,
          message: `${both} are served under the same URL prefix: one's files shadow the other's.`,
          fix: "Give each storage its own prefix side by side (/static/ and /media/).",
        });
      } else if (pa.path.startsWith(pb.path) || pb.path.startsWith(pa.path)) {
        findings.push({
          id: "url-prefixes-nested",
          severity: "error",
          storage: b.name,
          message: `${both} have nested URL prefixes: the outer storage's location (or a server rule for it) also answers for the inner one's files.`,
          fix: "Give each storage its own prefix side by side (/static/ and /media/), not one inside the other.",
        });
      }
    }
  }
  return findings;
}
