import { isExpired, type KubeObject, type WatchEvent } from "../api/index.js";
import type { Store, StoreEvent } from "../storage/index.js";
import type { Clock } from "../util/index.js";
import { served } from "./objects.js";
import type { ResourceInfo } from "./resources.js";
import { matchesFilter, type ObjectFilter } from "./selectors.js";

/** What one watch serves, decided from the request before the first event. */
export interface WatchPlan {
  info: ResourceInfo;
  /** Storage key prefix watched. */
  prefix: string;
  filter: ObjectFilter;
  /** Start after this revision; undefined: list first and send the items as ADDED. */
  fromRevision: number | undefined;
  /** After the initial list, send a bookmark marked `k8s.io/initial-events-end`. */
  initialEndBookmark: boolean;
  /** Send a bookmark this often; undefined: no bookmarks (allowWatchBookmarks unset). */
  bookmarkIntervalMs: number | undefined;
  /** End the watch after this long; undefined: only the signal ends it. */
  timeoutMs: number | undefined;
  /** The event a watcher receives for an object (a shared event, or a one-row Table). */
  event: (type: WatchEvent["type"], obj: KubeObject) => WatchEvent;
  /** A bookmark at `revision`. */
  bookmark: (revision: number, initialEnd: boolean) => WatchEvent;
}

type Result = IteratorResult<WatchEvent, undefined>;

const DONE: Result = { value: undefined, done: true };

/**
 * One API watch (KA-WATCH-1..8) as an async iterator with a queue: store events are mapped
 * (selector transitions, served objects) as they arrive and handed to a consumer waiting in
 * `next` at once, bookmarks come from their own timer instead of a race per event. `plan`
 * runs at the first `next` (request errors reject it). The store iterator is pulled only
 * when the queue is empty, so the store's per-watcher buffer stays the one bound on memory.
 * Ends when the signal aborts (queued events are dropped) or the timeout passes; a compacted
 * start revision is one ERROR event with a 410 Status, then the end. `return` stops
 * everything it started and settles after it stopped. One consumer at a time.
 */
export class WatchStream implements AsyncIterableIterator<WatchEvent> {
  readonly #plan: () => WatchPlan;
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #signal: AbortSignal;
  /** Aborted by the caller's signal, the timeout, or `return`: ends the store watch and timers. */
  readonly #inner = new AbortController();
  #state: "new" | "starting" | "live" | "ended" = "new";
  #queue: WatchEvent[] = [];
  #head = 0;
  /** The error to throw once the queue is drained (a store failure other than Expired). */
  #error: Error | undefined;
  #source: AsyncIterator<StoreEvent> | undefined;
  /** The outstanding pull from the store; at most one. */
  #pulling: Promise<void> | undefined;
  #lastRevision = 0;
  #wake: (() => void) | undefined;
  /** Timers started by the stream (timeout, bookmarks), awaited by `return`. */
  readonly #timers: Promise<void>[] = [];
  #info: ResourceInfo | undefined;
  #filter: ObjectFilter | undefined;
  #event: WatchPlan["event"] | undefined;
  readonly #onAbort = (): void => {
    this.#inner.abort();
  };

  constructor(plan: () => WatchPlan, store: Store, clock: Clock, signal: AbortSignal) {
    this.#plan = plan;
    this.#store = store;
    this.#clock = clock;
    this.#signal = signal;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<Result> {
    if (this.#state === "new") {
      this.#state = "starting";
      try {
        await this.#start();
      } catch (err) {
        await this.return();
        throw err;
      }
    }
    for (;;) {
      if (this.#state === "ended") return DONE;
      if (this.#inner.signal.aborted) {
        await this.return();
        return DONE;
      }
      const ev = this.#queue[this.#head];
      if (ev !== undefined) {
        this.#head++;
        if (this.#head === this.#queue.length) {
          this.#queue = [];
          this.#head = 0;
        }
        return { value: ev, done: false };
      }
      if (this.#error !== undefined || this.#source === undefined) {
        const err = this.#error;
        await this.return();
        if (err !== undefined) throw err;
        return DONE;
      }
      const woken = new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#pulling ??= this.#pull(this.#source);
      await woken;
    }
  }

  async return(): Promise<Result> {
    if (this.#state === "ended") return DONE;
    this.#state = "ended";
    this.#queue = [];
    this.#head = 0;
    this.#inner.abort();
    this.#signal.removeEventListener("abort", this.#onAbort);
    this.#wakeConsumer();
    // The store iterator ends once the inner signal aborted; let it clean up, then the timers.
    await this.#pulling;
    await this.#source?.return?.();
    await Promise.all(this.#timers);
    return DONE;
  }

  async #start(): Promise<void> {
    const plan = this.#plan();
    this.#info = plan.info;
    this.#filter = plan.filter;
    this.#event = plan.event;
    this.#signal.addEventListener("abort", this.#onAbort, { once: true });
    if (this.#signal.aborted) this.#inner.abort();
    const inner = this.#inner.signal;
    if (plan.timeoutMs !== undefined) {
      this.#timers.push(
        sleepResult(this.#clock, plan.timeoutMs, inner).then((r) => {
          if (r === "tick") {
            this.#inner.abort();
            this.#wakeConsumer();
          }
        }),
      );
    }
    // Step 1: the initial state as ADDED events, when no resourceVersion is given.
    let fromRev: number;
    if (plan.fromRevision === undefined) {
      const { items, revision } = await this.#store.list(plan.prefix);
      for (const s of items) {
        if (matchesFilter(plan.filter, s.value as KubeObject)) {
          this.#queue.push(plan.event("ADDED", served(plan.info, s.value, s.modRevision)));
        }
      }
      fromRev = revision;
      if (plan.initialEndBookmark) this.#queue.push(plan.bookmark(fromRev, true));
    } else {
      fromRev = plan.fromRevision;
    }
    if (inner.aborted) return;
    // Step 2: changes after fromRev, with selector transitions, and bookmarks on a timer.
    this.#lastRevision = fromRev;
    this.#source = this.#store
      .watch(plan.prefix, fromRev, { signal: inner })
      [Symbol.asyncIterator]();
    const intervalMs = plan.bookmarkIntervalMs;
    if (intervalMs !== undefined) this.#timers.push(this.#bookmarks(plan, intervalMs));
    this.#state = "live";
  }

  /** Pulls store events until one reaches the queue, the store ends, or it fails. */
  async #pull(source: AsyncIterator<StoreEvent>): Promise<void> {
    try {
      for (;;) {
        const r = await source.next();
        if (r.done === true) {
          this.#source = undefined;
          return;
        }
        const ev = r.value;
        this.#lastRevision = ev.revision;
        const out = this.#transition(ev);
        if (out !== undefined && this.#state !== "ended") {
          this.#queue.push(out);
          return;
        }
      }
    } catch (err) {
      this.#source = undefined;
      if (isExpired(err)) this.#queue.push({ type: "ERROR", object: err.toStatus() });
      else this.#error = err instanceof Error ? err : new Error(String(err));
    } finally {
      this.#pulling = undefined;
      this.#wakeConsumer();
    }
  }

  async #bookmarks(plan: WatchPlan, intervalMs: number): Promise<void> {
    const inner = this.#inner.signal;
    while ((await sleepResult(this.#clock, intervalMs, inner)) === "tick") {
      // One pending bookmark is enough: a newer one replaces it.
      const last = this.#queue[this.#queue.length - 1];
      if (this.#queue.length > this.#head && last?.type === "BOOKMARK") this.#queue.pop();
      this.#queue.push(plan.bookmark(this.#lastRevision, false));
      this.#wakeConsumer();
    }
  }

  #wakeConsumer(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Maps a store event to the event a filtered watcher sees (KA-WATCH-4), if any. */
  #transition(ev: StoreEvent): WatchEvent | undefined {
    const info = this.#info;
    const filter = this.#filter;
    const event = this.#event;
    if (info === undefined || filter === undefined || event === undefined) return undefined;
    const obj = servedEvent(info, ev);
    if (filter.isEmpty) return event(ev.type, obj);
    const now = matchesFilter(filter, ev.value as KubeObject);
    switch (ev.type) {
      case "ADDED":
        return now ? event("ADDED", obj) : undefined;
      case "DELETED":
        return now ? event("DELETED", obj) : undefined;
      case "MODIFIED": {
        const before =
          ev.prevValue === undefined || matchesFilter(filter, ev.prevValue as KubeObject);
        if (now && before) return event("MODIFIED", obj);
        if (now) return event("ADDED", obj);
        if (before) return event("DELETED", obj);
        return undefined;
      }
    }
  }
}

/** Resolves to "tick" after `ms`, or "aborted" when the signal aborts first. Never rejects. */
export async function sleepResult(
  clock: Clock,
  ms: number,
  signal: AbortSignal,
): Promise<"tick" | "aborted"> {
  try {
    await clock.sleep(ms, signal);
    return "tick";
  } catch (err) {
    if (signal.aborted) return "aborted";
    throw err;
  }
}

/** Served objects per store event: every watcher of one resource shares one object. */
const servedCache = new WeakMap<StoreEvent, KubeObject>();

function servedEvent(info: ResourceInfo, ev: StoreEvent): KubeObject {
  let obj = servedCache.get(ev);
  if (obj === undefined) {
    obj = served(info, ev.value, ev.revision);
    servedCache.set(ev, obj);
  }
  return obj;
}

/** Watch events per served object and type, so that watchers share them (and their encoding). */
const eventCache = new WeakMap<KubeObject, Partial<Record<WatchEvent["type"], WatchEvent>>>();

/** The watch event of `type` for a served object, shared by every watcher that gets it. */
export function sharedEvent(type: WatchEvent["type"], obj: KubeObject): WatchEvent {
  let byType = eventCache.get(obj);
  if (byType === undefined) {
    byType = {};
    eventCache.set(obj, byType);
  }
  return (byType[type] ??= { type, object: obj });
}

/** An event's encoding: its HTTP/1.1 chunk, and the JSON line inside it (a view, no copy). */
interface Encoded {
  chunk: Buffer;
  line: Buffer;
}

const encodedCache = new WeakMap<WatchEvent, Encoded>();

/**
 * Encodes `ev` once per event object, so that the same event delivered to many watchers is
 * serialized and framed once.
 */
function encoded(ev: WatchEvent): Encoded {
  let e = encodedCache.get(ev);
  if (e === undefined) {
    const json = JSON.stringify(ev);
    const size = Buffer.byteLength(json) + 1;
    const head = `${size.toString(16)}\r\n`;
    const chunk = Buffer.allocUnsafe(head.length + size + 2);
    chunk.write(head, 0, "latin1");
    chunk.write(json, head.length, "utf8");
    chunk.write("\n\r\n", head.length + size - 1, "latin1");
    e = { chunk, line: chunk.subarray(head.length, head.length + size) };
    encodedCache.set(ev, e);
  }
  return e;
}

/** One watch event as a newline-terminated JSON line (KA-WATCH-1). */
export function encodeWatchEvent(ev: WatchEvent): Uint8Array {
  return encoded(ev).line;
}

/**
 * One watch event framed as an HTTP/1.1 chunk (`<hex size>\r\n<line>\r\n`). The framing is
 * the same for every watcher, so each watcher's connection gets one ready buffer to write.
 */
export function encodeWatchChunk(ev: WatchEvent): Buffer {
  return encoded(ev).chunk;
}
