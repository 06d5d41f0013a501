import type { BackOff } from "./backoff.js";
import type { Clock } from "./clock.js";

/**
 * A keyed work queue like client-go's: a key is held at most once while queued, and never
 * handed to two workers at once (a key added while being processed is re-queued after
 * `done`). `get` waits for a key or for the signal.
 */
export class WorkQueue {
  readonly #queue: string[] = [];
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #waiters: ((key: string | undefined) => void)[] = [];
  readonly #clock: Clock;
  readonly #backoff: BackOff | undefined;
  #shutdown = false;

  constructor(opts: { clock: Clock; backoff?: BackOff }) {
    this.#clock = opts.clock;
    this.#backoff = opts.backoff;
  }

  /** Queues `key` unless it is already queued. */
  add(key: string): void {
    if (this.#shutdown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (this.#processing.has(key)) return;
    const w = this.#waiters.shift();
    if (w !== undefined) {
      this.#dirty.delete(key);
      this.#processing.add(key);
      w(key);
    } else {
      this.#queue.push(key);
    }
  }

  /** Queues `key` after `ms`; the timer ends early, dropping the add, when `signal` aborts. */
  addAfter(key: string, ms: number, signal: AbortSignal): void {
    this.#clock.sleep(ms, signal).then(
      () => {
        this.add(key);
      },
      () => undefined, // aborted: the queue is shutting down, the add is moot
    );
  }

  /** Re-queues `key` after its back-off delay (needs a BackOff). */
  requeueWithBackoff(key: string, signal: AbortSignal): void {
    if (this.#backoff === undefined) throw new TypeError("requeueWithBackoff needs a backoff");
    this.#backoff.next(key, this.#clock.now());
    this.addAfter(key, this.#backoff.get(key), signal);
  }

  /** Clears the back-off of `key`. */
  forget(key: string): void {
    this.#backoff?.reset(key);
  }

  /** Next key, or undefined once shut down or aborted. Call `done(key)` when finished. */
  get(signal: AbortSignal): Promise<string | undefined> {
    const key = this.#queue.shift();
    if (key !== undefined) {
      this.#dirty.delete(key);
      this.#processing.add(key);
      return Promise.resolve(key);
    }
    if (this.#shutdown || signal.aborted) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const waiter = (k: string | undefined): void => {
        signal.removeEventListener("abort", onAbort);
        resolve(k);
      };
      const onAbort = (): void => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        resolve(undefined);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** Marks `key` finished; if it was added meanwhile it is queued again. */
  done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.has(key)) {
      this.#dirty.delete(key);
      this.add(key);
    }
  }

  /** Stops handing out keys; pending `get`s resolve undefined. */
  shutDown(): void {
    this.#shutdown = true;
    for (const w of this.#waiters.splice(0)) w(undefined);
  }

  /** Number of queued keys. */
  get length(): number {
    return this.#queue.length;
  }
}
