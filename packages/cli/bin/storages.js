#!/usr/bin/env node
// The `storages` command. An installed package runs its built dist/; a checkout of the repository
// builds it first when dist/ is missing (right after `npm ci`), so `npx storages` works there too.
//
// Node reads every `--env-file FILE` of this command line before any of this runs, the program's
// own arguments included (nodejs/node#54232: it stops at `--` only), and exits 9 when FILE is
// missing. Nothing here can catch that; `-e FILE` is the spelling Node leaves alone (program.ts).
import { existsSync } from "node:fs";

const entry = new URL("../dist/bin.js", import.meta.url);
if (!existsSync(entry)) {
  // Loaded only here: every other start (the no-change collectstatic among them) skips them.
  const [{ spawnSync }, { createRequire }, { fileURLToPath }] = await Promise.all([
    import("node:child_process"),
    import("node:module"),
    import("node:url"),
  ]);
  const packageDir = fileURLToPath(new URL("..", import.meta.url));
  let tsc;
  try {
    tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  } catch {
    process.stderr.write(
      "storages: dist/ is missing and TypeScript is not installed: run `npm run build`.\n",
    );
    process.exit(2);
  }
  process.stderr.write("storages: building @storages/cli (first run in this checkout)…\n");
  // --force: a build state left from before dist/ was removed would otherwise say "up to date".
  const built = spawnSync(process.execPath, [tsc, "-b", "--force", packageDir], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (built.status !== 0) {
    process.stderr.write("storages: the build failed: run `npm run build` and fix what it reports.\n");
    process.exit(2);
  }
}
await import(entry.href);
