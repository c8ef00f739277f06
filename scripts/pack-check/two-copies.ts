// Two installed copies of @storages/core: the application's, and one nested under @storages/fs (as
// npm leaves it when versions differ). Errors and storages made by one copy must be recognised by
// the other: `instanceof` cannot do that, the Symbol.for markers behind `isInstance` can.
import assert from "node:assert/strict";
import { mkdtemp, realpath, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import {
  createStorages,
  fake,
  mirror,
  NotFoundError,
  PathTraversalError,
  Storage,
  StorageError,
} from "@storages/core";
import { fsStorage } from "@storages/fs";

const require = createRequire(import.meta.url);
const fsDir = dirname(require.resolve("@storages/fs/package.json"));
const ours = await realpath(require.resolve("@storages/core"));
const theirs = await realpath(createRequire(join(fsDir, "package.json")).resolve("@storages/core"));
assert.notEqual(ours, theirs, "@storages/fs must resolve its own, nested copy of @storages/core");
const other = (await import(pathToFileURL(theirs).href)) as typeof import("@storages/core");
assert.notEqual(other.StorageError, StorageError, "the two copies must be two module instances");

const failures: string[] = [];
async function check(what: string, body: () => unknown): Promise<void> {
  try {
    await body();
    console.log(`  ok   ${what}`);
  } catch (error) {
    failures.push(what);
    console.log(`  FAIL ${what}: ${error instanceof Error ? error.message.split("\n")[0] : error}`);
  }
}

const root = await mkdtemp(join(tmpdir(), "two-copies-"));
try {
  const theirStorage = fsStorage({ root: join(root, "fs") }); // built by the nested copy
  await check("an error thrown through the other copy is a StorageError here", async () => {
    const error = await theirStorage.readText("../outside.txt").catch((e: unknown) => e);
    assert.equal(error instanceof StorageError, false, "(instanceof cannot work across copies)");
    assert.ok(StorageError.isInstance(error));
    assert.ok(PathTraversalError.isInstance(error));
  });
  await check("an error made here is a StorageError for the other copy", () => {
    assert.ok(other.StorageError.isInstance(new NotFoundError()));
    assert.ok(other.NotFoundError.isInstance(new NotFoundError()));
  });
  await check("Storage.isInstance recognises a Storage of the other copy", () => {
    assert.equal(typeof Storage.isInstance, "function", "Storage.isInstance does not exist");
    assert.ok(Storage.isInstance(theirStorage));
    assert.ok(other.Storage.isInstance(fake()));
  });
  await check("the registry accepts a Storage of the other copy, in code", async () => {
    const registry = createStorages({ storages: { media: theirStorage }, env: {}, configFile: false });
    assert.equal(await registry.get("media"), theirStorage);
  });
  await check("the registry builds file:// storages through @storages/fs (the other copy)", async () => {
    const registry = createStorages({ env: { STORAGES_DEFAULT: `file://${root}/env` }, configFile: false });
    const media = await registry.get("default");
    await media.save("a.txt", "a");
    assert.equal(await media.readText("a.txt"), "a");
  });
  await check("mirror() takes storages of both copies", async () => {
    const primary = fake();
    const both = mirror(primary, theirStorage);
    await both.save("mirrored.txt", "m", { overwrite: true });
    assert.equal(await primary.readText("mirrored.txt"), "m");
    assert.equal(await theirStorage.readText("mirrored.txt"), "m");
  });
} finally {
  await rm(root, { recursive: true, force: true });
}
if (failures.length) {
  console.log(`two copies of @storages/core: ${failures.length} check(s) failed`);
  process.exit(1);
}
console.log("two copies of @storages/core: errors, registry and mirror() work across them — ok");
