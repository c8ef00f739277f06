import { defineConfig, mergeConfig } from "vitest/config";
import { sharedConfig } from "../../vitest.shared.js";

// globalSetup: a fake-gcs-server container through testcontainers when no server is given and Docker is reachable.
export default mergeConfig(
  defineConfig(sharedConfig(import.meta.dirname)),
  defineConfig({ test: { globalSetup: ["./test/global-setup.ts"] } }),
);
