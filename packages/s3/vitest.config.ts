import { defineConfig, mergeConfig } from "vitest/config";
import { sharedConfig } from "../../vitest.shared.js";

export default mergeConfig(
  defineConfig(sharedConfig(import.meta.dirname)),
  // Starts MinIO with testcontainers when no S3 server is configured and Docker is reachable.
  defineConfig({ test: { globalSetup: ["./test/global-setup.ts"] } }),
);
