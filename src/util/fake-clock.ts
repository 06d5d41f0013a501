import { abortReason, type Clock } from "./clock.js";

interface Sleeper {
  at: number;
  resolve: () => void;
}

/**
 * A Clock for unit tests: time moves only when `advance` is called. Sleepers whose time has
 * come resolve in deadline order. Not for concurrent use across threads (there are none).
 */
export class FakeClock implements Clock {
  #now: number;
  #sleepers: Sleeper[] = [];

  constructor(startMs = Date.UTC(2025, 0, 1)) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  /** Number of sleepers still waiting; lets tests wait until a component is parked. */
  get pendingSleepers(): number {
    return this.#sleepers.length;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortReason(signal));
        return;
      }
      const sleeper: Sleeper = { at: this.#now + Math.max(0, ms), resolve };
      this.#sleepers.push(sleeper);
      signal?.addEventListener(
        "abort",
        () => {
          this.#sleepers = this.#sleepers.filter((s) => s !== sleeper);
          reject(abortReason(signal));
        },
        { once: true },
      );
    });
  }

  /** Moves time forward by `ms`, resolving every sleeper that is due, earliest first. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      const due = this.#sleepers.filter((s) => s.at <= target).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.#now = Math.max(this.#now, due.at);
      this.#sleepers = this.#sleepers.filter((s) => s !== due);
      due.resolve();
      // Let the woken code run before the next sleeper is considered.
      await new Promise<void>((r) => setImmediate(r));
    }
    this.#now = target;
  }
}
