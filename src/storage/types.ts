import type { CallOptions } from "../api/index.js";

/** A stored value with the revision of the write that produced it. */
export interface Stored {
  key: string;
  value: object;
  /** Revision of the last write of this key (becomes metadata.resourceVersion). */
  modRevision: number;
  /** Revision at which the key was created. */
  createRevision: number;
}

/** One change seen by a watch. `prevValue` is the value before the write (MODIFIED, DELETED). */
export interface StoreEvent {
  type: "ADDED" | "MODIFIED" | "DELETED";
  key: string;
  value: object;
  prevValue?: object;
  revision: number;
}

/**
 * Revisioned object store, etcd-shaped. Every write bumps one global revision by one.
 * Safe for concurrent use; writes are linearizable; an acknowledged write is durable
 * (SQLite: WAL with synchronous commits).
 *
 * Errors are `ApiError`s: `create` on an existing key → AlreadyExists; `update`/`delete`
 * with a stale `ifRevision` → Conflict; missing key → NotFound; watching from a revision
 * older than the compaction point → Expired. Keys are `/`-separated strings; `list` and
 * `watch` take a prefix (callers end prefixes with `/` to avoid `pods/a` matching `pods/ab`).
 */
export interface Store {
  get(key: string, opts?: CallOptions): Promise<Stored | undefined>;
  /** Every key under `prefix`, sorted by key, with the store revision at read time. */
  list(prefix: string, opts?: CallOptions): Promise<{ items: Stored[]; revision: number }>;
  create(key: string, value: object, opts?: CallOptions): Promise<Stored>;
  /** Replaces the value; `ifRevision` must equal the key's modRevision (0 = unconditional). */
  update(key: string, value: object, ifRevision: number, opts?: CallOptions): Promise<Stored>;
  /** Removes the key and returns the last stored value. */
  delete(key: string, opts?: CallOptions & { ifRevision?: number }): Promise<Stored>;
  /**
   * Events with revision > `fromRevision` under `prefix`, in revision order, then live
   * events. Throws Expired (on first iteration) if `fromRevision` was compacted. A watcher
   * that falls too far behind is ended with Expired rather than blocking writers. Ends
   * without error when the signal aborts.
   */
  watch(
    prefix: string,
    fromRevision: number,
    opts: { signal: AbortSignal },
  ): AsyncIterable<StoreEvent>;
  /** Current global revision. */
  currentRevision(): Promise<number>;
  /** Drops history at or below `revision` (watches from there get Expired). */
  compact(revision: number): Promise<void>;
  /** Releases resources (closes the database). Idempotent. */
  close(): Promise<void>;
}
