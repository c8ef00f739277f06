import { MemoryDriver, Storage } from "@storages/core";
import { describeConformance } from "../src/index.js";

describeConformance({
  name: "memory",
  server: "in-process MemoryDriver (no HTTP server: URL tests verify UnsupportedError)",
  createStorage: async ({ visibility, overwrite }) =>
    new Storage(new MemoryDriver(), { visibility, overwrite }),
});
