import type { Provision, StorageFeatures } from "@storages/core";
import { defineCommand } from "../command.js";
import { type ConfigReport, describeConfig, noStoragesNote, type StorageReport } from "../ops/config.js";

function features(f: StorageFeatures): string {
  const who = (p: Provision) => (p === "native" ? "" : p === "facade" ? " (facade)" : null);
  const parts: string[] = [];
  const add = (name: string, p: Provision) => {
    const w = who(p);
    if (w !== null) parts.push(`${name}${w}`);
  };
  add("range reads", f.rangeRead);
  add("create-exclusive", f.createExclusive);
  add("copy", f.copy);
  add("move", f.move);
  add("batch delete", f.deleteMany);
  add("public URLs", f.publicUrl);
  add("signed URLs", f.signedUrl);
  if (f.signedUpload.length > 0) {
    const limited =
      f.signedUploadMaxBytes.length > 0 ? `, size limit with ${f.signedUploadMaxBytes.join("/")}` : "";
    parts.push(`signed uploads ${f.signedUpload.join("/")}${limited}`);
  }
  if (f.visibility !== "none") parts.push(`visibility per ${f.visibility === "object" ? "file" : "storage"}`);
  if (f.metadata) parts.push("metadata");
  if (f.checksums.stored.length > 0) parts.push(`stored checksums ${f.checksums.stored.join("/")}`);
  return parts.join(", ");
}

function storageLines(s: StorageReport, style: (text: string) => string): string[] {
  const lines = [`${style(`${s.name}`)}  ${s.backend}  ${s.location}`];
  const row = (label: string, value: string | undefined) => {
    if (value !== undefined && value !== "") lines.push(`  ${label.padEnd(12)} ${value}`);
  };
  row("source", s.source);
  row(
    "visibility",
    `${s.visibility}${s.readOnly ? ", read-only for the app" : ""}${s.overwrite ? ", overwrites" : ""}`,
  );
  row("public URL", s.publicUrl);
  row("signed URLs", `${s.signedUrlExpiresIn} s`);
  if (s.timeout !== undefined) row("timeout", `${s.timeout} ms`);
  row(
    "settings",
    Object.entries(s.settings)
      .map(([k, v]) => `${k}=${v}`)
      .join(", "),
  );
  row("features", features(s.features));
  const sources = Object.entries(s.sources);
  if (sources.length > 0) {
    lines.push("  set by");
    for (const [key, source] of sources) lines.push(`    ${key.padEnd(18)} ${source}`);
  }
  row("secrets", s.secrets.join(", "));
  return lines;
}

export const config = defineCommand({
  name: "config",
  arguments: "[names...]",
  summary: "show every named storage: backend, location, visibility, features, and who set each value",
  description:
    "Shows the storages exactly as the app sees them (same variables, config file and mode): backend, location, visibility, capabilities and features, and which variable or config key set each value. Secrets are shown as the names of the variables that hold them, never their values. Touches no network.",
  examples: [
    { command: "storages config", what: "every storage" },
    { command: "STORAGES_MODE=local storages config default", what: "what local mode makes of default" },
    { command: "storages --env-file .env.production config --json", what: "production's view, for tools" },
  ],
  async run(context, names) {
    const report: ConfigReport = await describeConfig(context.registry(), {
      names,
      warnings: context.warnings,
    });
    const { output } = context;
    if (report.storages.length === 0) output.note(noStoragesNote(context.cwd));
    output.result(report, (r) => [
      `mode: ${r.mode}`,
      ...r.storages.flatMap((s) => ["", ...storageLines(s, (t) => output.style("bold", t))]),
      ...(r.warnings.length > 0
        ? ["", "warnings:", ...r.warnings.map((w) => `  ${output.style("yellow", w.code)} ${w.message}`)]
        : []),
    ]);
    return undefined;
  },
});
