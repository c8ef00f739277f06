import { defineConfig } from "vitest/config";
import { sharedConfig } from "../vitest.shared.js";

const shared = sharedConfig(import.meta.dirname);

// This package's tests sit at its top level (test/env-switch.test.ts), not in a test/ folder of it.
export default defineConfig({ ...shared, test: { ...shared.test, include: ["*.test.ts", "**/*.test.ts"] } });
