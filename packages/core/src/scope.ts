/**
 * One facade call's scope: the caller's signal and the call's timeout merged into the one signal
 * the driver gets, what fired first, and — for reads — the stream the call handed out.
 */
import type { Readable } from "node:stream";
import { releaseStream, watchIdle } from "./abort.js";
import { AbortedError, type Operation, type StorageError, TimeoutError, withContext } from "./errors.js";

/**
 * The signal of every call that nothing can end early (see `CallScope.inert`). It never aborts: its
 * controller is dropped here. So it keeps no listeners — one added to it could never run, and
 * shared by every such call it would otherwise collect each listener a driver or SDK forgets to
 * remove, for the life of the process.
 */
const NEVER_ABORTED: AbortSignal = (() => {
  const signal = new AbortController().signal;
  const ignore = () => {};
  Object.defineProperties(signal, {
    addEventListener: { value: ignore },
    removeEventListener: { value: ignore },
    onabort: { get: () => null, set: ignore },
  });
  return signal;
})();

export class CallScope {
  /**
   * The scope of a call that nothing can end early: no caller signal, no timeout, and no stream to
   * watch (not a read). One for all of them — bulk jobs make millions of such calls, and each
   * would otherwise allocate a scope and an AbortController that never fires.
   */
  static readonly inert = new CallScope(undefined, undefined, undefined, undefined, undefined, true);

  readonly #controller: AbortController | undefined;
  /** The error the call ends with when its signal or timeout fired (with the call's context). */
  fired: StorageError | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stream: Readable | undefined;
  #stopIdle: (() => void) | undefined;
  /** Made only for a call with a signal: most calls of bulk jobs have none, and pay nothing. */
  #onCallerAbort: (() => void) | undefined;

  constructor(
    private readonly callerSignal: AbortSignal | undefined,
    timeout: number | undefined,
    // The context an error that fires gets; separate fields, so a call allocates no object for it.
    private readonly operation: Operation | undefined,
    private readonly path: string | undefined,
    private readonly backend: string | undefined,
    inert = false,
  ) {
    this.#controller = inert ? undefined : new AbortController();
    if (callerSignal) {
      const onCallerAbort = () => this.#fire(new AbortedError(undefined, { cause: callerSignal.reason }));
      if (callerSignal.aborted) {
        onCallerAbort();
        return;
      }
      this.#onCallerAbort = onCallerAbort;
      callerSignal.addEventListener("abort", onCallerAbort, { once: true });
    }
    if (timeout !== undefined) {
      this.#timer = setTimeout(
        () => this.#fire(new TimeoutError(`The operation did not finish within ${timeout} ms.`)),
        timeout,
      );
    }
  }

  get signal(): AbortSignal {
    return this.#controller?.signal ?? NEVER_ABORTED;
  }

  #fire(error: StorageError): void {
    if (this.fired) return;
    this.fired = withContext(error, { operation: this.operation, path: this.path, backend: this.backend });
    // Our error reaches the stream first, before the driver's SDK destroys it with its own.
    if (this.#stream) releaseStream(this.#stream, this.fired);
    this.#controller?.abort(this.fired);
  }

  /**
   * Puts a read stream under this scope: the caller's signal destroys it, and a source that stalls
   * for `idleTimeout` ms while the consumer waits ends it with a TimeoutError. With
   * `keepTimeout: false` (open(): the stream outlives the call) the call's timeout stops here;
   * readBytes() keeps it, so its timeout covers the whole read.
   */
  watchStream(stream: Readable, idleTimeout: number, keepTimeout: boolean): void {
    // The shared scope must never hold one call's stream or timer.
    if (this === CallScope.inert) throw new Error("internal: a read's stream was given the inert scope");
    if (!keepTimeout) this.#clearTimer();
    this.#stream = stream;
    if (idleTimeout > 0) this.#stopIdle = watchIdle(stream, idleTimeout, (error) => this.#fire(error));
    stream.once("close", () => this.dispose());
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  dispose(): void {
    this.#clearTimer();
    this.#stopIdle?.();
    if (this.#onCallerAbort) this.callerSignal?.removeEventListener("abort", this.#onCallerAbort);
    this.#stream = undefined;
  }
}
