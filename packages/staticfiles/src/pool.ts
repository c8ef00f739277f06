/**
 * The worker pool: piscina, one thread per core (`availableParallelism()`), started on the first
 * task and only when there is work (a no-change run starts none).
 *
 * The run's abort signal is watched once, by the pool, not once per task: a run queues thousands
 * of tasks, and one listener each on the shared signal would be thousands of listeners (and
 * Node's "possible EventTarget memory leak" warning). An abort destroys the pool, which rejects
 * every queued and running task.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import type { Piscina } from "piscina";

/** Loaded with the first task: a no-change run never loads it. */
const load = createRequire(import.meta.url);

import type { Compressed, CompressTask, Digest, DigestTask, Scanned, ScanTask } from "./worker.js";

function workerFile(): string {
  // Built: dist/worker.js. Tests run the sources: Node strips the types of worker.ts itself.
  const built = fileURLToPath(new URL("./worker.js", import.meta.url));
  return existsSync(built) ? built : fileURLToPath(new URL("./worker.ts", import.meta.url));
}

export class WorkerPool {
  #pool: Piscina | undefined;
  readonly threads: number;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = () => void this.close();

  constructor(threads: number = availableParallelism(), signal?: AbortSignal) {
    this.threads = Math.max(1, threads);
    this.#signal = signal;
  }

  #get(): Piscina {
    if (this.#signal?.aborted) throw this.#signal.reason;
    if (!this.#pool) {
      const { Piscina: Pool } = load("piscina") as typeof import("piscina");
      this.#pool = new Pool({ filename: workerFile(), minThreads: 1, maxThreads: this.threads });
      this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
    }
    return this.#pool;
  }

  digest(task: Omit<DigestTask, "op">): Promise<Digest> {
    return this.#get().run({ op: "digest", ...task }) as Promise<Digest>;
  }

  scan(task: Omit<ScanTask, "op">): Promise<Scanned[]> {
    return this.#get().run({ op: "scan", ...task }) as Promise<Scanned[]>;
  }

  compress(task: Omit<CompressTask, "op">): Promise<Compressed> {
    return this.#get().run({ op: "compress", ...task }) as Promise<Compressed>;
  }

  get started(): boolean {
    return this.#pool !== undefined;
  }

  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    this.#signal?.removeEventListener("abort", this.#onAbort);
    await pool?.destroy();
  }
}
