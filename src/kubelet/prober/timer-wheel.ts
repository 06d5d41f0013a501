import type { Clock } from "../../util/index.js";

/** A scheduled callback; `cancel` makes it a no-op (the slot is not searched). */
export interface WheelTimer {
  cancel(): void;
}

/** Something that runs callbacks at (or shortly after) a time on the injected clock. */
export interface TimerScheduler {
  /** Runs `fn` once the clock reaches `atMs` (rounded up to the scheduler's tick). */
  schedule(atMs: number, fn: () => void): WheelTimer;
}

interface Entry {
  fn: (() => void) | undefined;
}

const NOOP_CANCEL = function (this: Entry): void {
  this.fn = undefined;
};

/**
 * A hashed timer wheel on the injected Clock: callbacks are kept in buckets of `tickMs` and
 * one driver loop sleeps a tick at a time while any are pending, so hundreds of probe periods
 * and probe deadlines cost one clock timer per tick instead of one (plus an AbortController
 * to cancel it) each. Callbacks run up to one tick late, never early.
 *
 * Concurrency: schedule and cancel are synchronous and may be called at any time, including
 * from callbacks. Callbacks run between `run(signal)` starting and its signal aborting; a
 * callback that throws is reported through `onError` and does not stop the wheel. `run`
 * settles after the signal aborted and the driver stopped; pending callbacks are dropped.
 */
export class TimerWheel implements TimerScheduler {
  readonly #clock: Clock;
  readonly #tickMs: number;
  readonly #onError: (err: unknown) => void;
  readonly #slots = new Map<number, Entry[]>();
  #pending = 0;
  /** Last slot whose callbacks ran; slots up to it are empty. */
  #doneSlot: number;
  #wake: (() => void) | undefined;

  constructor(clock: Clock, tickMs: number, onError: (err: unknown) => void) {
    if (!(tickMs > 0)) throw new RangeError(`tickMs must be > 0, got ${String(tickMs)}`);
    this.#clock = clock;
    this.#tickMs = tickMs;
    this.#onError = onError;
    this.#doneSlot = Math.floor(clock.now() / tickMs);
  }

  schedule(atMs: number, fn: () => void): WheelTimer {
    // A time already passed goes into the next slot to run: callbacks never run re-entrantly.
    const slot = Math.max(Math.ceil(atMs / this.#tickMs), this.#doneSlot + 1);
    const entry: Entry & WheelTimer = { fn, cancel: NOOP_CANCEL };
    const bucket = this.#slots.get(slot);
    if (bucket === undefined) this.#slots.set(slot, [entry]);
    else bucket.push(entry);
    this.#pending++;
    const wake = this.#wake;
    if (wake !== undefined) {
      this.#wake = undefined;
      wake();
    }
    return entry;
  }

  /** Drives the wheel until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    let stopped!: () => void;
    const aborted = new Promise<void>((resolve) => {
      stopped = resolve;
    });
    const onAbort = (): void => {
      const wake = this.#wake;
      this.#wake = undefined;
      wake?.();
      stopped();
    };
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      while (!signal.aborted) {
        if (this.#pending === 0) {
          // Idle: no timer at all until something is scheduled.
          await new Promise<void>((resolve) => {
            this.#wake = resolve;
          });
          continue;
        }
        const now = this.#clock.now();
        const nowSlot = Math.floor(now / this.#tickMs);
        if (nowSlot <= this.#doneSlot) {
          // One abort listener for the whole run instead of one per tick: an abort ends the
          // wait at once and the tick's sleep runs out on its own.
          await Promise.race([
            this.#clock.sleep((this.#doneSlot + 1) * this.#tickMs - now),
            aborted,
          ]);
          continue;
        }
        // Only the non-empty slots are visited, so a long idle gap costs nothing; callbacks
        // scheduled while these run land after nowSlot, in a later pass.
        const due = [...this.#slots.keys()].filter((s) => s <= nowSlot).sort((a, b) => a - b);
        this.#doneSlot = nowSlot;
        for (const s of due) {
          const bucket = this.#slots.get(s);
          if (bucket === undefined) continue;
          this.#slots.delete(s);
          this.#pending -= bucket.length;
          let ran = 0;
          for (const e of bucket) {
            const fn = e.fn;
            e.fn = undefined;
            if (fn === undefined) continue;
            // Callbacks due at one instant run one after another, each getting a turn of the
            // event loop first, as separate timers would: a probe woken earlier can finish
            // and publish its result before the next one looks at it.
            if (ran++ > 0) await new Promise<void>((r) => setImmediate(r));
            try {
              fn();
            } catch (err) {
              this.#onError(err);
            }
          }
        }
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.#wake = undefined;
    }
  }
}
