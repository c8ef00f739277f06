import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { ViteUserConfig } from "vitest/config";

const packagesDir = join(import.meta.dirname, "packages");

/**
 * Tests import workspace packages from their TypeScript sources, so a test run never
 * depends on a stale `dist/` (the build is checked separately by `typecheck`).
 */
const workspaceAliases = Object.fromEntries(
  readdirSync(packagesDir).map((name) => [`@storages/${name}`, join(packagesDir, name, "src", "index.ts")]),
);

/**
 * Suites that need a real storage server (RGW, Azurite, the GCS emulator) end in `.server.test.ts`.
 * `npm run test:unit` (STORAGES_TEST_SCOPE=unit) leaves them out — they are not run, so they are
 * neither passed nor skipped there — and `npm test` runs them with the servers up.
 */
export const SERVER_SUITES = "test/**/*.server.test.ts";
const unitOnly = process.env.STORAGES_TEST_SCOPE === "unit";

export function sharedConfig(root: string): ViteUserConfig {
  return {
    root,
    resolve: { alias: workspaceAliases },
    test: {
      include: ["test/**/*.test.ts"],
      exclude: unitOnly ? ["**/node_modules/**", SERVER_SUITES] : ["**/node_modules/**"],
      testTimeout: 60_000,
      hookTimeout: 120_000,
      // Each file gets its own process; conformance files talk to real servers and must not share state.
      pool: "forks",
      reporters: process.env.STORAGES_TEST_REPORT
        ? [
            "default",
            [
              "json",
              {
                outputFile: process.env.STORAGES_TEST_REPORT.replace("{pkg}", root.split("/").pop() ?? "pkg"),
              },
            ],
          ]
        : ["default"],
    },
  };
}
