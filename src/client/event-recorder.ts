import {
  isNotFound,
  objectReference,
  rfc3339,
  type Event,
  type KubeObject,
  type ObjectReference,
} from "../api/index.js";
import { TaskGroup, type Clock, type Logger } from "../util/index.js";
import type { ResourceClient } from "./types.js";

/** Identical events within this window are aggregated into one with a higher count. */
export const EVENT_AGGREGATION_WINDOW_MS = 10 * 60_000;
/** Number of distinct events remembered for aggregation (client-go's LRU size). */
export const EVENT_CACHE_SIZE = 4096;

/** Event types (core/v1 Event.type). */
export type EventType = "Normal" | "Warning";

/** Options of {@link EventRecorder}. */
export interface EventRecorderOptions {
  /** Where events are written: `(ns) => client.events(ns)`. */
  events: (ns: string) => Pick<ResourceClient<Event>, "create" | "patch">;
  clock: Clock;
  logger: Logger;
  /** `source.component` and `reportingComponent`, e.g. `kubelet`, `default-scheduler`. */
  component: string;
  /** `source.host` and `reportingInstance` (the node name). @default none */
  host?: string;
}

interface CachedEvent {
  name: string;
  namespace: string;
  count: number;
  firstTimestamp: string;
  lastSeenMs: number;
}

/**
 * Records core/v1 Events like client-go's recorder: a new event is named
 * `<object name>.<hex unix nanos>` with `count: 1`; a repeat of an identical event (same object,
 * fieldPath, type, reason, message, source) within 10 minutes PATCHes the existing one with
 * `count + 1` and a new `lastTimestamp`. `event()` never throws and never waits: writes run in
 * the background, in order per identical event, and failures are logged. `flush()` waits for
 * pending writes; `run(signal)` waits for the signal, then for pending writes.
 */
export class EventRecorder {
  readonly #events: (ns: string) => Pick<ResourceClient<Event>, "create" | "patch">;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #component: string;
  readonly #host: string | undefined;
  readonly #tasks: TaskGroup;
  readonly #cache = new Map<string, CachedEvent>();
  /** Tail of the write chain per aggregation key, so repeats apply in order. */
  readonly #chains = new Map<string, Promise<void>>();
  #lastNanos = 0n;

  constructor(opts: EventRecorderOptions) {
    if (opts.component === "") throw new RangeError("component must not be empty");
    this.#events = opts.events;
    this.#clock = opts.clock;
    this.#logger = opts.logger;
    this.#component = opts.component;
    this.#host = opts.host;
    this.#tasks = new TaskGroup(opts.logger);
  }

  /**
   * Records an event about `obj` (and the container at `fieldPath`, like
   * `spec.containers{app}`). Returns at once; the write happens in the background.
   */
  event(
    obj: KubeObject,
    fieldPath: string | undefined,
    type: EventType,
    reason: string,
    message: string,
  ): void {
    try {
      const ref = objectReference(obj, fieldPath);
      const key = JSON.stringify([
        this.#component,
        this.#host ?? "",
        ref.kind,
        ref.namespace,
        ref.name,
        ref.uid,
        ref.apiVersion,
        fieldPath ?? "",
        type,
        reason,
        message,
      ]);
      const nowMs = this.#clock.now();
      const nanos = this.#uniqueNanos(nowMs);
      const prev = this.#chains.get(key) ?? Promise.resolve();
      const next = prev.then(() => this.#write(key, ref, type, reason, message, nowMs, nanos));
      const tail = next.then(
        () => undefined,
        () => undefined,
      );
      this.#chains.set(key, tail);
      this.#tasks.spawn(`event ${reason}`, async () => {
        try {
          await next;
        } finally {
          if (this.#chains.get(key) === tail) this.#chains.delete(key);
        }
      });
    } catch (err) {
      // Recording an event is best effort by contract: the caller's work must go on.
      this.#logger.error("event not recorded", { reason, err });
    }
  }

  /** Resolves once every event recorded so far has been written (or failed and been logged). */
  flush(): Promise<void> {
    return this.#tasks.wait();
  }

  /** Waits for `signal` to abort, then for pending writes. */
  async run(signal: AbortSignal): Promise<void> {
    if (!signal.aborted) {
      await new Promise<void>((resolve) => {
        signal.addEventListener(
          "abort",
          () => {
            resolve();
          },
          { once: true },
        );
      });
    }
    await this.flush();
  }

  /** Unix nanoseconds, strictly increasing, so two events in one millisecond get two names. */
  #uniqueNanos(nowMs: number): bigint {
    let n = BigInt(nowMs) * 1_000_000n;
    if (n <= this.#lastNanos) n = this.#lastNanos + 1n;
    this.#lastNanos = n;
    return n;
  }

  async #write(
    key: string,
    ref: ObjectReference,
    type: EventType,
    reason: string,
    message: string,
    nowMs: number,
    nanos: bigint,
  ): Promise<void> {
    const now = rfc3339(nowMs);
    const cached = this.#cache.get(key);
    if (cached !== undefined && nowMs - cached.lastSeenMs <= EVENT_AGGREGATION_WINDOW_MS) {
      try {
        await this.#events(cached.namespace).patch(cached.name, "merge", {
          count: cached.count + 1,
          lastTimestamp: now,
        });
        cached.count += 1;
        cached.lastSeenMs = nowMs;
        this.#touch(key, cached);
        return;
      } catch (err) {
        // The event was deleted (TTL) meanwhile: fall through and create a fresh one.
        if (!isNotFound(err)) throw err;
        this.#cache.delete(key);
      }
    }
    // Cluster-scoped objects (nodes) get their events in the default namespace, as upstream.
    const namespace = ref.namespace ?? "default";
    const ev: Event = {
      apiVersion: "v1",
      kind: "Event",
      metadata: { name: `${ref.name ?? "unknown"}.${nanos.toString(16)}`, namespace },
      involvedObject: ref,
      reason,
      message,
      type,
      source:
        this.#host === undefined
          ? { component: this.#component }
          : {
              component: this.#component,
              host: this.#host,
            },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
      eventTime: null,
      reportingComponent: this.#component,
      reportingInstance: this.#host ?? "",
    };
    const created = await this.#events(namespace).create(ev);
    this.#touch(key, {
      name: created.metadata.name ?? ev.metadata.name ?? "",
      namespace,
      count: created.count ?? 1,
      firstTimestamp: now,
      lastSeenMs: nowMs,
    });
  }

  #touch(key: string, entry: CachedEvent): void {
    this.#cache.delete(key);
    this.#cache.set(key, entry);
    if (this.#cache.size > EVENT_CACHE_SIZE) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
  }
}
