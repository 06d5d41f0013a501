import { expired, type ApiError } from "../api/index.js";
import type { StoreEvent } from "./types.js";

/** How many past events a store keeps for watch replay. @default 10_000 */
export const DEFAULT_HISTORY_LIMIT = 10_000;
/** How many undelivered events one watcher may hold before it is ended with Expired. */
export const DEFAULT_WATCHER_BUFFER_LIMIT = 10_000;

/**
 * In-memory event history plus live fan-out, shared by the store implementations.
 * Not thread-aware (there are no threads): every method runs to completion, so a
 * `subscribe` that replays history and registers the watcher in one call sees every event
 * exactly once. `publish` never blocks: a watcher whose buffer is full is dropped and ends
 * with Expired.
 */
export class WatchHub {
  readonly #history: StoreEvent[] = [];
  /** Index of the first live element of #history (trimming is amortised). */
  #head = 0;
  /** Highest revision that was dropped from history; watches from below it expire. */
  #compacted = 0;
  readonly #watchers = new Set<HubWatcher>();
  readonly #historyLimit: number;
  readonly #bufferLimit: number;

  constructor(opts: { historyLimit: number; bufferLimit: number; compacted?: number }) {
    if (opts.historyLimit < 1) throw new RangeError(`historyLimit ${opts.historyLimit} < 1`);
    if (opts.bufferLimit < 1) throw new RangeError(`bufferLimit ${opts.bufferLimit} < 1`);
    this.#historyLimit = opts.historyLimit;
    this.#bufferLimit = opts.bufferLimit;
    this.#compacted = opts.compacted ?? 0;
  }

  /** Revision at or below which history is gone. */
  get compactedRevision(): number {
    return this.#compacted;
  }

  /** Number of live watchers (tests, metrics). */
  get watcherCount(): number {
    return this.#watchers.size;
  }

  /** Seeds history (events loaded from disk at start), oldest first. */
  load(events: StoreEvent[]): void {
    for (const ev of events) this.#history.push(ev);
    this.#trim();
  }

  /** Records `ev` in history and hands it to every matching watcher. */
  publish(ev: StoreEvent, currentRevision: () => number): void {
    this.#history.push(ev);
    this.#trim();
    for (const w of this.#watchers) {
      if (!ev.key.startsWith(w.prefix)) continue;
      if (!w.deliver(ev, this.#bufferLimit)) {
        // A slow consumer must not hold writers back or grow memory without bound: end it,
        // and let the client re-list (informers treat Expired as "start over").
        w.fail(
          expired(
            `too old resource version: ${ev.revision - 1} (${currentRevision()}): watcher fell behind`,
          ),
        );
        this.#watchers.delete(w);
      }
    }
  }

  /** Drops history at or below `revision`. */
  compact(revision: number): void {
    if (revision <= this.#compacted) return;
    this.#compacted = revision;
    while (this.#head < this.#history.length) {
      const ev = this.#history[this.#head];
      if (ev === undefined || ev.revision > revision) break;
      this.#head++;
    }
    this.#shrink();
  }

  /**
   * Events under `prefix` after `fromRevision`, then live ones, until `signal` aborts.
   * Throws Expired (on the first `next`) when `fromRevision` is below the compaction point.
   */
  watch(
    prefix: string,
    fromRevision: number,
    currentRevision: () => number,
    signal: AbortSignal,
  ): AsyncIterableIterator<StoreEvent> {
    // Registration waits for the first `next`, as a generator's body would: an iterator
    // nobody reads never joins the fan-out.
    return new HubWatcher(
      prefix,
      signal,
      (w) => {
        if (fromRevision < this.#compacted) {
          throw expired(`too old resource version: ${fromRevision} (${currentRevision()})`);
        }
        // Replay and registration happen in one synchronous step, so no write can fall between.
        this.#watchers.add(w);
        return this.#replay(prefix, fromRevision);
      },
      (w) => {
        this.#watchers.delete(w);
      },
    );
  }

  #replay(prefix: string, fromRevision: number): StoreEvent[] {
    const out: StoreEvent[] = [];
    // History is in revision order: binary-search the first event after fromRevision.
    let lo = this.#head;
    let hi = this.#history.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const ev = this.#history[mid];
      if (ev !== undefined && ev.revision <= fromRevision) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.#history.length; i++) {
      const ev = this.#history[i];
      if (ev?.key.startsWith(prefix)) out.push(ev);
    }
    return out;
  }

  #trim(): void {
    const live = this.#history.length - this.#head;
    if (live <= this.#historyLimit) return;
    const drop = live - this.#historyLimit;
    const last = this.#history[this.#head + drop - 1];
    this.#head += drop;
    if (last !== undefined) this.#compacted = Math.max(this.#compacted, last.revision);
    this.#shrink();
  }

  #shrink(): void {
    // Splice only when the dead prefix is large, so trimming stays O(1) amortised per event.
    if (this.#head > 1024 && this.#head * 2 > this.#history.length) {
      this.#history.splice(0, this.#head);
      this.#head = 0;
    }
  }
}

type Settle = (r: IteratorResult<StoreEvent, undefined>) => void;

/**
 * One watcher: a queue filled by `publish` and drained by `next`. An event reaches a consumer
 * already waiting in `next` directly (one promise, no generator hops); otherwise it waits in
 * the buffer. Ends (done) when the signal aborts, even with events still buffered; rejects
 * with Expired once when it fell behind. `return` ends it at once.
 */
class HubWatcher implements AsyncIterableIterator<StoreEvent> {
  readonly prefix: string;
  readonly #signal: AbortSignal;
  /** Replays history and registers the watcher; throws Expired when history is gone. */
  readonly #register: (w: HubWatcher) => StoreEvent[];
  readonly #unregister: (w: HubWatcher) => void;
  #state: "new" | "live" | "ended" = "new";
  #buffer: StoreEvent[] = [];
  /** Index of the first undelivered event of #buffer. */
  #head = 0;
  /** Set when the watcher fell behind; the consumer gets it instead of events. */
  #overflow: ApiError | undefined;
  #waiter: { resolve: Settle; reject: (err: unknown) => void } | undefined;
  readonly #onAbort = (): void => {
    this.#end();
  };

  constructor(
    prefix: string,
    signal: AbortSignal,
    register: (w: HubWatcher) => StoreEvent[],
    unregister: (w: HubWatcher) => void,
  ) {
    this.prefix = prefix;
    this.#signal = signal;
    this.#register = register;
    this.#unregister = unregister;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Hands `ev` over; false when the buffer already holds `limit` undelivered events. */
  deliver(ev: StoreEvent, limit: number): boolean {
    const w = this.#waiter;
    if (w !== undefined) {
      this.#waiter = undefined;
      w.resolve({ value: ev, done: false });
      return true;
    }
    if (this.#buffer.length - this.#head >= limit) return false;
    this.#buffer.push(ev);
    return true;
  }

  /** Ends the watcher with `err` (it was already removed from the fan-out). */
  fail(err: ApiError): void {
    this.#buffer = [];
    this.#head = 0;
    this.#overflow = err;
    const w = this.#waiter;
    if (w === undefined) return;
    this.#waiter = undefined;
    this.#overflow = undefined;
    this.#end();
    w.reject(err);
  }

  next(): Promise<IteratorResult<StoreEvent, undefined>> {
    if (this.#state === "new") {
      if (this.#signal.aborted) {
        this.#state = "ended";
      } else {
        try {
          this.#buffer = this.#register(this);
        } catch (err) {
          this.#state = "ended";
          return Promise.reject(err instanceof Error ? err : new Error(String(err)));
        }
        this.#state = "live";
        this.#signal.addEventListener("abort", this.#onAbort, { once: true });
      }
    }
    if (this.#state === "ended") return Promise.resolve({ value: undefined, done: true });
    const overflow = this.#overflow;
    if (overflow !== undefined) {
      this.#overflow = undefined;
      this.#end();
      return Promise.reject(overflow);
    }
    const ev = this.#buffer[this.#head];
    if (ev !== undefined) {
      this.#head++;
      if (this.#head === this.#buffer.length) {
        this.#buffer = [];
        this.#head = 0;
      }
      return Promise.resolve({ value: ev, done: false });
    }
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<StoreEvent, undefined>> {
    this.#end();
    return Promise.resolve({ value: undefined, done: true });
  }

  #end(): void {
    if (this.#state === "live") {
      this.#signal.removeEventListener("abort", this.#onAbort);
      this.#unregister(this);
    }
    this.#state = "ended";
    this.#buffer = [];
    this.#head = 0;
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.resolve({ value: undefined, done: true });
  }
}
