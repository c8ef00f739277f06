/**
 * The decorators are drivers too, so they pass the same suite: a storage confined to a prefix of
 * another, and a mirror writing to two (the migration's dual-write phase).
 */
import { MemoryDriver, mirror, prefixed, Storage } from "@storages/core";
import { describeConformance } from "../src/index.js";

describeConformance({
  name: "prefixed(memory)",
  server: 'in-process MemoryDriver under prefixed(…, "tenant/a/")',
  createStorage: async ({ visibility, overwrite }) =>
    prefixed(new Storage(new MemoryDriver(), { visibility, overwrite }), "tenant/a/"),
});

describeConformance({
  name: "mirror(memory, memory)",
  server: "two in-process MemoryDrivers",
  createStorage: async ({ visibility, overwrite }) =>
    mirror(
      new Storage(new MemoryDriver(), { visibility, overwrite }),
      new Storage(new MemoryDriver(), { visibility, overwrite }),
    ),
});
