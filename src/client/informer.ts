import { isExpired, keyOf, type KubeObject } from "../api/index.js";
import { isAbortError, type Clock, type Logger } from "../util/index.js";
import { isAborted } from "./signals.js";
import type { ResourceClient } from "./types.js";

/** First delay after a failed list or watch. */
export const INFORMER_INITIAL_BACKOFF_MS = 1_000;
/** Cap on the delay between failed lists or watches. */
export const INFORMER_MAX_BACKOFF_MS = 30_000;
/** `timeoutSeconds` sent on each watch, so servers rotate long-lived streams. */
export const INFORMER_WATCH_TIMEOUT_SECONDS = 480;

/** What an informer delivers to its subscribers. */
export type InformerEventType = "ADDED" | "MODIFIED" | "DELETED";

/** One cache change: the key (`namespace/name`), the new (or, for DELETED, last) object. */
export interface InformerEvent<T extends KubeObject> {
  type: InformerEventType;
  key: string;
  obj: T;
  /** The previous cached object (MODIFIED, DELETED), undefined for ADDED. */
  old: T | undefined;
}

/** Options of {@link Informer}. */
export interface InformerOptions<T extends KubeObject> {
  /** Where objects come from: a typed client (usually all namespaces or one). */
  source: Pick<ResourceClient<T>, "list" | "watch">;
  clock: Clock;
  logger: Logger;
  /** Label selector for list and watch. @default none */
  labelSelector?: string;
  /** Field selector for list and watch. @default none */
  fieldSelector?: string;
}

interface Subscriber<T extends KubeObject> {
  deliver(ev: InformerEvent<T>): void;
  close(): void;
}

/**
 * A list + watch cache keyed by `namespace/name` (client-go's reflector + store).
 * `run(signal)` lists, then watches from the list's resourceVersion; a watch that ends or
 * breaks resumes from the last resourceVersion seen; a 410 Expired re-lists and turns the
 * difference into ADDED/MODIFIED/DELETED events. Failures back off 1 s doubling to 30 s.
 * Readers (`get`, `list`) see the cache at once and return copies owned by the caller's
 * discretion: do not mutate them. Subscribers get every change in order; a new subscriber
 * first receives ADDED for each cached object. `run` settles after the signal aborts, and
 * then every subscription ends.
 */
export class Informer<T extends KubeObject> {
  readonly #source: Pick<ResourceClient<T>, "list" | "watch">;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #labelSelector: string | undefined;
  readonly #fieldSelector: string | undefined;
  readonly #cache = new Map<string, T>();
  readonly #subscribers = new Set<Subscriber<T>>();
  readonly #syncWaiters: (() => void)[] = [];
  #hasSynced = false;
  #resourceVersion = "";
  #stopped = false;

  constructor(opts: InformerOptions<T>) {
    this.#source = opts.source;
    this.#clock = opts.clock;
    this.#logger = opts.logger;
    this.#labelSelector = opts.labelSelector;
    this.#fieldSelector = opts.fieldSelector;
  }

  /** True once the first list has filled the cache. */
  get hasSynced(): boolean {
    return this.#hasSynced;
  }

  /** The resourceVersion of the last list, watch event or bookmark seen. */
  get lastSyncResourceVersion(): string {
    return this.#resourceVersion;
  }

  /** The cached object with key `namespace/name` (or `name`), if any. */
  get(key: string): T | undefined {
    return this.#cache.get(key);
  }

  /** Every cached object. */
  list(): T[] {
    return [...this.#cache.values()];
  }

  /** Resolves true once synced, or false if the signal aborts or the informer stops first. */
  waitForSync(signal: AbortSignal): Promise<boolean> {
    if (this.#hasSynced) return Promise.resolve(true);
    if (signal.aborted || this.#stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (): void => {
        signal.removeEventListener("abort", onAbort);
        resolve(this.#hasSynced);
      };
      const onAbort = (): void => {
        const i = this.#syncWaiters.indexOf(done);
        if (i >= 0) this.#syncWaiters.splice(i, 1);
        resolve(false);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.#syncWaiters.push(done);
    });
  }

  /**
   * Registers a synchronous handler called for every change, in order, starting with an ADDED
   * for each cached object. Returns the function that unregisters it. The handler must not
   * throw; a throw is logged.
   */
  onChange(handler: (ev: InformerEvent<T>) => void): () => void {
    const sub: Subscriber<T> = {
      deliver: (ev) => {
        try {
          handler(ev);
        } catch (err) {
          // A failing handler must not stop the cache or other subscribers; surface it.
          this.#logger.error("informer handler failed", { key: ev.key, err });
        }
      },
      close: () => undefined,
    };
    this.#subscribe(sub);
    return () => this.#subscribers.delete(sub);
  }

  /**
   * The changes as an iterable (unbounded buffer): ADDED for each cached object, then live
   * changes. Ends when `signal` aborts or the informer stops.
   */
  async *events(signal: AbortSignal): AsyncIterable<InformerEvent<T>> {
    const queue: InformerEvent<T>[] = [];
    const state = { closed: false };
    let wake: (() => void) | undefined;
    const sub: Subscriber<T> = {
      deliver: (ev) => {
        queue.push(ev);
        wake?.();
      },
      close: () => {
        state.closed = true;
        wake?.();
      },
    };
    const onAbort = (): void => {
      sub.close();
    };
    signal.addEventListener("abort", onAbort, { once: true });
    this.#subscribe(sub);
    try {
      for (;;) {
        const ev = queue.shift();
        if (ev !== undefined && !signal.aborted) {
          yield ev;
          continue;
        }
        if (state.closed || isAborted(signal)) return;
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.#subscribers.delete(sub);
    }
  }

  /** Lists and watches until `signal` aborts; settles once stopped. Call at most once. */
  async run(signal: AbortSignal): Promise<void> {
    let needList = true;
    let failures = 0;
    let quietEnds = 0;
    try {
      while (!signal.aborted) {
        let gotEvent = false;
        try {
          if (needList) {
            await this.#relist(signal);
            needList = false;
          }
          for await (const ev of this.#source.watch({
            ...this.#selectors(),
            resourceVersion: this.#resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds: INFORMER_WATCH_TIMEOUT_SECONDS,
            signal,
          })) {
            gotEvent = true;
            failures = 0;
            this.#apply(ev.type, ev.object);
          }
          // A clean end (server timeout, dropped connection): resume from the last version.
          // Two empty streams in a row suggest a server that closes at once; slow down.
          quietEnds = gotEvent ? 0 : quietEnds + 1;
          if (quietEnds < 2) continue;
        } catch (err) {
          if (isAborted(signal)) break;
          if (isExpired(err)) {
            // The version we hold is gone from the server's history: start over from a list.
            this.#logger.info("watch expired, re-listing", { err });
            needList = true;
            continue;
          }
          this.#logger.warn("list or watch failed", { err });
          failures = gotEvent ? 1 : failures + 1;
        }
        const delayMs = Math.min(
          INFORMER_INITIAL_BACKOFF_MS * 2 ** Math.max(0, Math.max(failures, quietEnds) - 1),
          INFORMER_MAX_BACKOFF_MS,
        );
        try {
          await this.#clock.sleep(delayMs, signal);
        } catch (err) {
          if (isAbortError(err) || isAborted(signal)) break;
          throw err;
        }
      }
    } finally {
      this.#stopped = true;
      for (const w of this.#syncWaiters.splice(0)) w();
      for (const s of this.#subscribers) s.close();
    }
  }

  #selectors(): { labelSelector?: string; fieldSelector?: string } {
    const out: { labelSelector?: string; fieldSelector?: string } = {};
    if (this.#labelSelector !== undefined) out.labelSelector = this.#labelSelector;
    if (this.#fieldSelector !== undefined) out.fieldSelector = this.#fieldSelector;
    return out;
  }

  #subscribe(sub: Subscriber<T>): void {
    this.#subscribers.add(sub);
    for (const [key, obj] of this.#cache) sub.deliver({ type: "ADDED", key, obj, old: undefined });
    if (this.#stopped) sub.close();
  }

  #notify(ev: InformerEvent<T>): void {
    for (const s of this.#subscribers) s.deliver(ev);
  }

  async #relist(signal: AbortSignal): Promise<void> {
    const list = await this.#source.list({ ...this.#selectors(), signal });
    const seen = new Set<string>();
    for (const obj of list.items) {
      const key = keyOf(obj);
      seen.add(key);
      const old = this.#cache.get(key);
      this.#cache.set(key, obj);
      if (old === undefined) this.#notify({ type: "ADDED", key, obj, old });
      else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion)
        this.#notify({ type: "MODIFIED", key, obj, old });
    }
    for (const [key, old] of this.#cache) {
      if (seen.has(key)) continue;
      this.#cache.delete(key);
      this.#notify({ type: "DELETED", key, obj: old, old });
    }
    this.#resourceVersion = list.metadata.resourceVersion ?? "";
    if (!this.#hasSynced) {
      this.#hasSynced = true;
      for (const w of this.#syncWaiters.splice(0)) w();
    }
  }

  #apply(type: string, obj: T): void {
    const rv = obj.metadata.resourceVersion;
    if (rv !== undefined && rv !== "") this.#resourceVersion = rv;
    if (type === "BOOKMARK") return;
    const key = keyOf(obj);
    const old = this.#cache.get(key);
    if (type === "DELETED") {
      this.#cache.delete(key);
      this.#notify({ type: "DELETED", key, obj, old });
      return;
    }
    this.#cache.set(key, obj);
    this.#notify({ type: old === undefined ? "ADDED" : "MODIFIED", key, obj, old });
  }
}
