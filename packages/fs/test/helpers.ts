import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

/** A fresh temporary directory, removed by the returned cleanup. */
export async function tempDir(
  label = "storages-fs-",
): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), label));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/** Every entry under `dir` (files and directories), relative, sorted: what is really on disk. */
export async function tree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.map((e) => relative(dir, join(e.parentPath, e.name)) + (e.isDirectory() ? "/" : "")).sort();
}

export const SIGNING_KEY = "test-signing-key-0123456789abcdef-0123456789";
