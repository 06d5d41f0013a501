import { ApiError } from "../api/index.js";
import { KeyIndex } from "./key-index.js";
import type { Store, StoreEvent, Stored } from "./types.js";
import { DEFAULT_HISTORY_LIMIT, DEFAULT_WATCHER_BUFFER_LIMIT, WatchHub } from "./watch-hub.js";

/** Options of {@link MemoryStore} and {@link SqliteStore}. */
export interface StoreOptions {
  /** Past events kept for watch replay; older ones are compacted. @default 10_000 */
  historyLimit?: number;
  /** Undelivered events a watcher may hold before it is ended with Expired. @default 10_000 */
  watcherBufferLimit?: number;
}

/** Options with every default applied. */
export type ResolvedStoreOptions = Required<StoreOptions>;

/** Applies the defaults of {@link StoreOptions}. */
export function resolveStoreOptions(opts: StoreOptions = {}): ResolvedStoreOptions {
  return {
    historyLimit: opts.historyLimit ?? DEFAULT_HISTORY_LIMIT,
    watcherBufferLimit: opts.watcherBufferLimit ?? DEFAULT_WATCHER_BUFFER_LIMIT,
  };
}

/** A deep copy with JSON semantics (undefined fields dropped), as every store keeps values. */
export function cloneValue(value: object): object {
  return JSON.parse(JSON.stringify(value)) as object;
}

/** Errors with the wording the stores use; the apiserver rewraps them per resource. */
export function keyNotFound(key: string): ApiError {
  return new ApiError("NotFound", `key "${key}" not found`);
}
export function keyExists(key: string): ApiError {
  return new ApiError("AlreadyExists", `key "${key}" already exists`);
}
export function keyConflict(key: string, want: number, have: number): ApiError {
  return new ApiError(
    "Conflict",
    `key "${key}" is at revision ${have}, not ${want}: the object has been modified`,
  );
}

/**
 * A Store held in memory (tests, ephemeral clusters). Values are copied on write
 * (a JSON round trip, as SQLite stores them) and shared on read: callers must treat returned values as read-only.
 * Every operation completes synchronously, so writes are trivially linearizable.
 */
export class MemoryStore implements Store {
  readonly #index = new KeyIndex();
  readonly #hub: WatchHub;
  #revision = 0;
  #closed = false;

  constructor(opts: StoreOptions = {}) {
    const o = resolveStoreOptions(opts);
    this.#hub = new WatchHub({ historyLimit: o.historyLimit, bufferLimit: o.watcherBufferLimit });
  }

  get(key: string): Promise<Stored | undefined> {
    return Promise.resolve(this.#index.get(key));
  }

  list(prefix: string): Promise<{ items: Stored[]; revision: number }> {
    return Promise.resolve({ items: this.#index.list(prefix), revision: this.#revision });
  }

  create(key: string, value: object): Promise<Stored> {
    const closed = this.#closedError();
    if (closed) return Promise.reject(closed);
    if (this.#index.get(key) !== undefined) return Promise.reject(keyExists(key));
    const rev = ++this.#revision;
    const s: Stored = { key, value: cloneValue(value), modRevision: rev, createRevision: rev };
    this.#index.set(s);
    this.#publish({ type: "ADDED", key, value: s.value, revision: rev });
    return Promise.resolve(s);
  }

  update(key: string, value: object, ifRevision: number): Promise<Stored> {
    const closed = this.#closedError();
    if (closed) return Promise.reject(closed);
    const old = this.#index.get(key);
    if (old === undefined) return Promise.reject(keyNotFound(key));
    if (ifRevision !== 0 && ifRevision !== old.modRevision) {
      return Promise.reject(keyConflict(key, ifRevision, old.modRevision));
    }
    const rev = ++this.#revision;
    const s: Stored = {
      key,
      value: cloneValue(value),
      modRevision: rev,
      createRevision: old.createRevision,
    };
    this.#index.set(s);
    this.#publish({ type: "MODIFIED", key, value: s.value, prevValue: old.value, revision: rev });
    return Promise.resolve(s);
  }

  delete(key: string, opts?: { ifRevision?: number }): Promise<Stored> {
    const closed = this.#closedError();
    if (closed) return Promise.reject(closed);
    const old = this.#index.get(key);
    if (old === undefined) return Promise.reject(keyNotFound(key));
    const want = opts?.ifRevision ?? 0;
    if (want !== 0 && want !== old.modRevision) {
      return Promise.reject(keyConflict(key, want, old.modRevision));
    }
    const rev = ++this.#revision;
    this.#index.delete(key);
    this.#publish({ type: "DELETED", key, value: old.value, prevValue: old.value, revision: rev });
    return Promise.resolve(old);
  }

  watch(
    prefix: string,
    fromRevision: number,
    opts: { signal: AbortSignal },
  ): AsyncIterable<StoreEvent> {
    return this.#hub.watch(prefix, fromRevision, () => this.#revision, opts.signal);
  }

  currentRevision(): Promise<number> {
    return Promise.resolve(this.#revision);
  }

  compact(revision: number): Promise<void> {
    this.#hub.compact(Math.min(revision, this.#revision));
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  #publish(ev: StoreEvent): void {
    this.#hub.publish(ev, () => this.#revision);
  }

  #closedError(): Error | undefined {
    return this.#closed ? new Error("store is closed") : undefined;
  }
}
