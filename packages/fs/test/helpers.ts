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

/** Sidecar records (sidecar.ts): one per file the driver wrote, holding at least its MD5. */
const RECORD = /(^|\/)\.~storages-meta-[0-9a-f]{32}\.json$/;

/**
 * Every entry under `dir` (files and directories), relative, sorted: what is really on disk, temp
 * files included, but without the files' records (`records()` lists those).
 */
export async function tree(dir: string): Promise<string[]> {
  return (await everything(dir)).filter((path) => !RECORD.test(path));
}

/** The record files under `dir`, relative, sorted. */
export async function records(dir: string): Promise<string[]> {
  return (await everything(dir)).filter((path) => RECORD.test(path));
}

async function everything(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.map((e) => relative(dir, join(e.parentPath, e.name)) + (e.isDirectory() ? "/" : "")).sort();
}

export const SIGNING_KEY = "test-signing-key-0123456789abcdef-0123456789";
