import type { CallOptions } from "../api/index.js";
import type { Store, StoreEvent, Stored } from "../storage/index.js";

/** Key prefix of events.k8s.io/v1 events and of the core/v1 events that hold them. */
const VIEW_PREFIX = "/registry/events.k8s.io/events/";
const CORE_PREFIX = "/registry/core/events/";

/** Field renames between core/v1 Event and events.k8s.io/v1 Event (upstream conversion). */
const CORE_TO_VIEW: readonly (readonly [string, string])[] = [
  ["involvedObject", "regarding"],
  ["message", "note"],
  ["reportingComponent", "reportingController"],
  ["source", "deprecatedSource"],
  ["firstTimestamp", "deprecatedFirstTimestamp"],
  ["lastTimestamp", "deprecatedLastTimestamp"],
  ["count", "deprecatedCount"],
];
const SAME = [
  "metadata",
  "eventTime",
  "series",
  "reportingInstance",
  "action",
  "reason",
  "related",
  "type",
];

function convert(
  value: object,
  pairs: readonly (readonly [string, string])[],
  apiVersion: string,
): object {
  const src = value as Record<string, unknown>;
  const out: Record<string, unknown> = { apiVersion, kind: "Event" };
  for (const k of SAME) if (src[k] !== undefined) out[k] = src[k];
  for (const [from, to] of pairs) if (src[from] !== undefined) out[to] = src[from];
  return out;
}

const VIEW_TO_CORE = CORE_TO_VIEW.map(([a, b]) => [b, a] as const);

/** A core/v1 Event as events.k8s.io/v1 sees it. */
export function coreEventToView(value: object): object {
  return convert(value, CORE_TO_VIEW, "events.k8s.io/v1");
}

/** An events.k8s.io/v1 Event stored as core/v1. */
export function viewEventToCore(value: object): object {
  return convert(value, VIEW_TO_CORE, "v1");
}

function isView(key: string): boolean {
  return key.startsWith(VIEW_PREFIX);
}

function toCoreKey(key: string): string {
  return CORE_PREFIX + key.slice(VIEW_PREFIX.length);
}

function toViewKey(key: string): string {
  return VIEW_PREFIX + key.slice(CORE_PREFIX.length);
}

function viewStored(s: Stored): Stored {
  return { ...s, key: toViewKey(s.key), value: coreEventToView(s.value) };
}

/**
 * A Store wrapper that serves events.k8s.io/v1 events from the core/v1 events storage, so
 * both APIs see the same objects (as upstream, where they share one etcd prefix). Every
 * other key passes through unchanged. Same concurrency and error contract as the wrapped
 * Store; does not own it (`close` closes the wrapped store).
 */
export class EventsViewStore implements Store {
  readonly #inner: Store;
  /** Converted events per store event, so that every events.k8s.io watcher shares one. */
  readonly #converted = new WeakMap<StoreEvent, StoreEvent>();

  constructor(inner: Store) {
    this.#inner = inner;
  }

  async get(key: string, opts?: CallOptions): Promise<Stored | undefined> {
    if (!isView(key)) return this.#inner.get(key, opts);
    const s = await this.#inner.get(toCoreKey(key), opts);
    return s === undefined ? undefined : viewStored(s);
  }

  async list(prefix: string, opts?: CallOptions): Promise<{ items: Stored[]; revision: number }> {
    if (!isView(prefix)) return this.#inner.list(prefix, opts);
    const r = await this.#inner.list(toCoreKey(prefix), opts);
    return { items: r.items.map(viewStored), revision: r.revision };
  }

  async create(key: string, value: object, opts?: CallOptions): Promise<Stored> {
    if (!isView(key)) return this.#inner.create(key, value, opts);
    return viewStored(await this.#inner.create(toCoreKey(key), viewEventToCore(value), opts));
  }

  async update(
    key: string,
    value: object,
    ifRevision: number,
    opts?: CallOptions,
  ): Promise<Stored> {
    if (!isView(key)) return this.#inner.update(key, value, ifRevision, opts);
    const s = await this.#inner.update(toCoreKey(key), viewEventToCore(value), ifRevision, opts);
    return viewStored(s);
  }

  async delete(key: string, opts?: CallOptions & { ifRevision?: number }): Promise<Stored> {
    if (!isView(key)) return this.#inner.delete(key, opts);
    return viewStored(await this.#inner.delete(toCoreKey(key), opts));
  }

  watch(
    prefix: string,
    fromRevision: number,
    opts: { signal: AbortSignal },
  ): AsyncIterable<StoreEvent> {
    if (!isView(prefix)) return this.#inner.watch(prefix, fromRevision, opts);
    const inner = this.#inner.watch(toCoreKey(prefix), fromRevision, opts);
    const cache = this.#converted;
    return (async function* () {
      for await (const ev of inner) {
        let out = cache.get(ev);
        if (out === undefined) {
          out = {
            ...ev,
            key: toViewKey(ev.key),
            value: coreEventToView(ev.value),
            ...(ev.prevValue === undefined ? {} : { prevValue: coreEventToView(ev.prevValue) }),
          };
          cache.set(ev, out);
        }
        yield out;
      }
    })();
  }

  currentRevision(): Promise<number> {
    return this.#inner.currentRevision();
  }

  compact(revision: number): Promise<void> {
    return this.#inner.compact(revision);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
