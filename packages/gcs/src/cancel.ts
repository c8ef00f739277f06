/**
 * Cancelling what the GCS SDK cannot cancel. Its calls take no AbortSignal and its HTTP layer
 * (teeny-request over node-fetch) never aborts a request: a call the storage gave up on (timeout,
 * abort, a stalled body) kept its request, and so its socket, until the server answered or hung
 * up — minutes, or never, with a stalled server. Here every HTTP request a call starts is noted
 * (Node's `http.client.request.start` diagnostics channel, told apart per call by an
 * AsyncLocalStorage) and destroyed when the call's signal fires or its stream closes.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { subscribe } from "node:diagnostics_channel";
import type { ClientRequest } from "node:http";
import { abortError } from "@storages/core";

const current = new AsyncLocalStorage<Set<ClientRequest>>();
let subscribed = false;

function noteRequests(): void {
  if (subscribed) return;
  subscribed = true;
  subscribe("http.client.request.start", (message) => {
    const requests = current.getStore();
    if (requests === undefined) return;
    const { request } = message as { request: ClientRequest };
    requests.add(request);
    request.once("close", () => requests.delete(request));
  });
}

/** The HTTP requests of one call: `run` the SDK work under it, `cancel` destroys what is left. */
export class CallRequests {
  readonly #requests = new Set<ClientRequest>();
  readonly #signal: AbortSignal;
  readonly #onAbort = () => this.cancel(abortError(this.#signal));

  constructor(signal: AbortSignal) {
    noteRequests();
    this.#signal = signal;
    signal.addEventListener("abort", this.#onAbort, { once: true });
  }

  run<T>(work: () => T): T {
    return current.run(this.#requests, work);
  }

  /** Destroys every request still open (their sockets too) and stops watching the signal. */
  cancel(error?: Error): void {
    this.#signal.removeEventListener("abort", this.#onAbort);
    for (const request of this.#requests) request.destroy(error);
    this.#requests.clear();
  }

  /** Stops watching the signal; requests still open are left to finish. */
  release(): void {
    this.#signal.removeEventListener("abort", this.#onAbort);
  }
}

/** Runs an SDK call whose requests die with `signal`. */
export async function cancellable<T>(signal: AbortSignal, work: () => Promise<T>): Promise<T> {
  const requests = new CallRequests(signal);
  try {
    return await requests.run(work);
  } finally {
    requests.release();
  }
}
