/**
 * The worker pool: piscina, one thread per core (`availableParallelism()`), started on the first
 * task and only when there is work (a no-change run starts none).
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import type { Piscina } from "piscina";

/** Loaded with the first task: a no-change run never loads it. */
const load = createRequire(import.meta.url);

import type { Compressed, CompressTask, Digest, DigestTask } from "./worker.js";

function workerFile(): string {
  // Built: dist/worker.js. Tests run the sources: Node strips the types of worker.ts itself.
  const built = fileURLToPath(new URL("./worker.js", import.meta.url));
  return existsSync(built) ? built : fileURLToPath(new URL("./worker.ts", import.meta.url));
}

export class WorkerPool {
  #pool: Piscina | undefined;
  readonly threads: number;

  constructor(threads: number = availableParallelism()) {
    this.threads = Math.max(1, threads);
  }

  #get(): Piscina {
    const { Piscina: Pool } = load("piscina") as typeof import("piscina");
    this.#pool ??= new Pool({
      filename: workerFile(),
      minThreads: 1,
      maxThreads: this.threads,
    });
    return this.#pool;
  }

  digest(task: Omit<DigestTask, "op">, signal?: AbortSignal): Promise<Digest> {
    return this.#get().run({ op: "digest", ...task }, { signal }) as Promise<Digest>;
  }

  compress(task: Omit<CompressTask, "op">, signal?: AbortSignal): Promise<Compressed> {
    return this.#get().run({ op: "compress", ...task }, { signal }) as Promise<Compressed>;
  }

  get started(): boolean {
    return this.#pool !== undefined;
  }

  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    await pool?.destroy();
  }
}
