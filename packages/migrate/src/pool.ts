/**
 * A bounded pool of file tasks: copies and comparisons run `concurrency` at a time, and the listing
 * waits for a free slot instead of queueing the whole tree in memory.
 */

/** A bounded set of tasks: `add` waits while `limit` run, so the listing never runs far ahead. */
export class Pool {
  private readonly running = new Set<Promise<void>>();
  constructor(private readonly limit: number) {}
  async add(task: () => Promise<void>): Promise<void> {
    while (this.running.size >= this.limit) await Promise.race(this.running);
    const promise: Promise<void> = task().finally(() => this.running.delete(promise));
    this.running.add(promise);
  }
  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.race(this.running);
  }
}
