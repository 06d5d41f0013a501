import type { Clock } from "./clock.js";

/** Options of {@link BackOff}. */
export interface BackOffOptions {
  clock: Clock;
  /** First delay. @default 10_000 */
  initialMs?: number;
  /** Cap on the delay. @default 300_000 */
  maxMs?: number;
}

interface Entry {
  delayMs: number;
  lastUpdateMs: number;
}

/**
 * Per-key exponential back-off with the semantics of client-go's flowcontrol.Backoff:
 * `next(key, eventMs)` advances (or creates) the entry; `isInBackOffSince(key, eventMs)`
 * says whether `now - eventMs` is still below the current delay. An entry expires when the
 * event happened more than 2 × max after its last update (PL-BO-3). Not thread-safe beyond
 * the single JS thread; keys are opaque strings.
 */
export class BackOff {
  readonly #clock: Clock;
  readonly initialMs: number;
  readonly maxMs: number;
  readonly #entries = new Map<string, Entry>();

  constructor(opts: BackOffOptions) {
    this.#clock = opts.clock;
    this.initialMs = opts.initialMs ?? 10_000;
    this.maxMs = opts.maxMs ?? 300_000;
    if (!(this.initialMs > 0)) throw new RangeError(`initialMs must be > 0, got ${this.initialMs}`);
    if (!(this.maxMs >= this.initialMs))
      throw new RangeError(`maxMs must be >= initialMs, got ${this.maxMs}`);
  }

  /** Current delay for `key`, 0 when there is no entry. */
  get(key: string): number {
    return this.#entries.get(key)?.delayMs ?? 0;
  }

  /** Advances the entry: created at the initial delay, else doubled up to max. */
  next(key: string, eventMs: number): void {
    const e = this.#entries.get(key);
    const now = this.#clock.now();
    if (e === undefined || this.#hasExpired(e, eventMs)) {
      this.#entries.set(key, { delayMs: this.initialMs, lastUpdateMs: now });
    } else {
      e.delayMs = Math.min(e.delayMs * 2, this.maxMs);
      e.lastUpdateMs = now;
    }
  }

  /** True while `now - eventMs` is below the current delay of a live entry. */
  isInBackOffSince(key: string, eventMs: number): boolean {
    const e = this.#entries.get(key);
    if (e === undefined || this.#hasExpired(e, eventMs)) return false;
    return this.#clock.now() - eventMs < e.delayMs;
  }

  /** True while `now - lastUpdate` is below the current delay (image pull back-off). */
  isInBackOffSinceUpdate(key: string): boolean {
    const e = this.#entries.get(key);
    if (e === undefined) return false;
    return this.#clock.now() - e.lastUpdateMs < e.delayMs;
  }

  /** Forgets `key`. */
  reset(key: string): void {
    this.#entries.delete(key);
  }

  /** Removes entries idle for more than 2 × max. */
  gc(): void {
    const now = this.#clock.now();
    for (const [k, e] of this.#entries)
      if (now - e.lastUpdateMs > 2 * this.maxMs) this.#entries.delete(k);
  }

  /** Snapshot for persistence across restarts. */
  dump(): Record<string, Entry> {
    return Object.fromEntries([...this.#entries].map(([k, e]) => [k, { ...e }]));
  }

  /** Restores a snapshot made by `dump`. */
  load(entries: Record<string, Entry>): void {
    for (const [k, e] of Object.entries(entries)) this.#entries.set(k, { ...e });
  }

  #hasExpired(e: Entry, eventMs: number): boolean {
    return eventMs - e.lastUpdateMs > 2 * this.maxMs;
  }
}
