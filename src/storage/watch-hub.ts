import { expired, type ApiError } from "../api/index.js";
import type { StoreEvent } from "./types.js";

/** How many past events a store keeps for watch replay. @default 10_000 */
export const DEFAULT_HISTORY_LIMIT = 10_000;
/** How many undelivered events one watcher may hold before it is ended with Expired. */
export const DEFAULT_WATCHER_BUFFER_LIMIT = 10_000;

interface Watcher {
  prefix: string;
  buffer: StoreEvent[];
  /** Resolves the consumer parked in `next`. */
  wake: (() => void) | undefined;
  /** Set when the watcher fell behind; the consumer gets Expired instead of events. */
  overflow: ApiError | undefined;
  closed: boolean;
}

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
  readonly #watchers = new Set<Watcher>();
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
      if (w.buffer.length >= this.#bufferLimit) {
        // A slow consumer must not hold writers back or grow memory without bound: end it,
        // and let the client re-list (informers treat Expired as "start over").
        w.buffer.length = 0;
        w.overflow = expired(
          `too old resource version: ${ev.revision - 1} (${currentRevision()}): watcher fell behind`,
        );
        this.#watchers.delete(w);
      } else {
        w.buffer.push(ev);
      }
      const wake = w.wake;
      w.wake = undefined;
      wake?.();
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
  async *watch(
    prefix: string,
    fromRevision: number,
    currentRevision: () => number,
    signal: AbortSignal,
  ): AsyncGenerator<StoreEvent> {
    if (signal.aborted) return;
    if (fromRevision < this.#compacted) {
      throw expired(`too old resource version: ${fromRevision} (${currentRevision()})`);
    }
    // Replay and registration happen in one synchronous step, so no write can fall between.
    const w: Watcher = {
      prefix,
      buffer: this.#replay(prefix, fromRevision),
      wake: undefined,
      overflow: undefined,
      closed: false,
    };
    this.#watchers.add(w);
    const onAbort = (): void => {
      w.closed = true;
      const wake = w.wake;
      w.wake = undefined;
      wake?.();
    };
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        if (w.closed) return;
        if (w.overflow !== undefined) throw w.overflow;
        if (w.buffer.length > 0) {
          const batch = w.buffer;
          w.buffer = [];
          for (const ev of batch) {
            yield ev;
            if (isClosed(w)) return;
          }
          continue;
        }
        await new Promise<void>((resolve) => {
          w.wake = resolve;
        });
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.#watchers.delete(w);
    }
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

/** Reads `closed` afresh (the flag changes while the generator is suspended at a yield). */
function isClosed(w: Watcher): boolean {
  return w.closed;
}
