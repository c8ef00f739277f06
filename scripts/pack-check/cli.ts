// @storages/cli as a library: what a script calls instead of spawning the command, typed for a strict consumer.
import assert from "node:assert/strict";
import {
  describeConfig,
  EXIT,
  openConfiguration,
  parseAddress,
  resolveAddress,
  type TransferResult,
  transfer,
} from "@storages/cli";

const registry = openConfiguration({ env: { STORAGES_DEFAULT: "memory://" } });
const media = await registry.getWriter("default");
await media.save("notes/a.txt", "from a script", { overwrite: true });
const from = await resolveAddress("default:notes/a.txt", { registry, cwd: process.cwd() });
const to = await resolveAddress("memory://", { registry, cwd: process.cwd() });
const result: TransferResult = await transfer(from, to);
assert.equal(result.files, 1);
assert.equal(await to.storage.readText("a.txt"), "from a script");
assert.equal(parseAddress("s3://bucket/x").kind, "url");
const report = await describeConfig(registry);
assert.deepEqual(
  report.storages.map((s) => [s.name, s.backend]),
  [["default", "memory"]],
);
assert.equal(EXIT.usage, 2);
await Promise.all([from.close(), to.close(), registry.close()]);
console.log("pack-check: @storages/cli works as a library");
