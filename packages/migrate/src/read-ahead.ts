/**
 * Reads up to `limit` items of an async iterable ahead of its consumer, so the next page of a
 * listing is being fetched while this one is compared — and both listings of a comparison are
 * fetched at the same time instead of in turn. Memory: at most `limit` items.
 */
export async function* readAhead<T>(source: AsyncIterable<T>, limit: number): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  const buffer: T[] = [];
  let finished = false;
  let failure: { error: unknown } | undefined;
  let stopped = false;
  /** Wakes the consumer (an item or the end arrived) or the pump (room was made). */
  let wakeConsumer: (() => void) | undefined;
  let wakePump: (() => void) | undefined;
  const pump = (async () => {
    try {
      while (!stopped) {
        if (buffer.length >= limit) {
          await new Promise<void>((resolve) => {
            wakePump = resolve;
          });
          continue;
        }
        const next = await iterator.next();
        if (next.done) break;
        buffer.push(next.value);
        wakeConsumer?.();
      }
    } catch (error) {
      failure = { error };
    } finally {
      finished = true;
      wakeConsumer?.();
    }
  })();
  try {
    for (;;) {
      if (buffer.length > 0) {
        const item = buffer.shift() as T;
        wakePump?.();
        wakePump = undefined;
        yield item;
        continue;
      }
      if (failure) throw failure.error;
      if (finished) return;
      await new Promise<void>((resolve) => {
        wakeConsumer = resolve;
      });
      wakeConsumer = undefined;
    }
  } finally {
    stopped = true;
    wakePump?.();
    await pump;
    // The source stays open when the consumer stopped first (an abort, the other listing failed).
    await iterator.return?.();
  }
}
