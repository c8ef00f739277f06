/**
 * The tests run the real `storages` binary, which runs the built package: build it (and the
 * drivers it may load) first. `tsc -b` does nothing when the build is up to date.
 */
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";

export default function setup(): void {
  const root = join(import.meta.dirname, "..", "..", "..");
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  execFileSync(
    process.execPath,
    [tsc, "-b", ...["cli", "s3", "gcs", "azure"].map((p) => join(root, "packages", p))],
    { stdio: "inherit" },
  );
}
