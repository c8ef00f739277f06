import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fsStorage } from "@storages/fs";
import { afterAll } from "vitest";
import { describeRejections } from "./support/uploads.js";

const roots: string[] = [];
afterAll(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

/** Every file under the root, the driver's own temporary files and records included. */
async function everything(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(root.length + 1));
}

describeRejections("fs", {
  storage: async () => {
    const root = await mkdtemp(join(tmpdir(), "storages-http-"));
    roots.push(root);
    return fsStorage({ root });
  },
  leftovers: async (storage) => everything((storage.driver as unknown as { root: string }).root),
});
