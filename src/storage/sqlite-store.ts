import Database from "better-sqlite3";
import { keyConflict, keyExists, keyNotFound, resolveStoreOptions } from "./memory-store.js";
import type { StoreOptions } from "./memory-store.js";
import { KeyIndex } from "./key-index.js";
import type { Store, StoreEvent, Stored } from "./types.js";
import { WatchHub } from "./watch-hub.js";

interface KvRow {
  key: string;
  value: string;
  create_rev: number;
  mod_rev: number;
}

interface HistoryRow {
  rev: number;
  type: StoreEvent["type"];
  key: string;
  value: string;
  prev: string | null;
}

interface PendingWrite {
  rows: () => void;
  event: StoreEvent;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Writes between two trims of the on-disk history table. */
const HISTORY_TRIM_EVERY = 1000;

/**
 * A Store persisted in one SQLite file (WAL, `synchronous=FULL`: a write is on disk when
 * its promise resolves, and survives SIGKILL). The current values are also held in memory,
 * so reads and lists never touch the disk or re-parse JSON; SQLite is the durable log.
 * Returned values are shared: treat them as read-only. Watch history lives in the
 * `history` table (reloaded at open) and in memory for replay.
 * One process may open a file at a time (the in-memory view would go stale otherwise).
 *
 * Group commit: a write is checked and applied in memory at once (so concurrent writers
 * are linearized and see each other), and all writes of one event-loop turn are committed
 * in one transaction (one fsync). A write's promise resolves, and its watch event is
 * published, only after that commit. If a commit fails, its writers get the error and the
 * store refuses further writes (memory is ahead of disk; reopen to recover).
 */
export class SqliteStore implements Store {
  readonly #db: Database.Database;
  readonly #index = new KeyIndex();
  readonly #hub: WatchHub;
  readonly #historyLimit: number;
  #revision = 0;
  #writesSinceTrim = 0;
  #closed = false;
  /** Set when a commit failed: memory and disk may disagree, so every later write fails. */
  #broken: Error | undefined;
  /** Writes applied in memory and waiting for the next group commit. */
  #pending: PendingWrite[] = [];
  #flushScheduled = false;
  readonly #stmt: {
    insertKv: Database.Statement<[string, string, number, number]>;
    updateKv: Database.Statement<[string, number, string]>;
    deleteKv: Database.Statement<[string]>;
    insertHistory: Database.Statement<[number, string, string, string, string | null]>;
    setMeta: Database.Statement<[string, number]>;
    trimHistory: Database.Statement<[number]>;
  };

  /** Opens (creating if needed) the database at `path`, e.g. `DATA_DIR/state.db`. */
  constructor(path: string, opts: StoreOptions = {}) {
    const o = resolveStoreOptions(opts);
    this.#historyLimit = o.historyLimit;
    this.#db = new Database(path);
    this.#db.pragma("journal_mode = WAL");
    this.#db.pragma("synchronous = FULL");
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL,
        create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS history (rev INTEGER PRIMARY KEY, type TEXT NOT NULL,
        key TEXT NOT NULL, value TEXT NOT NULL, prev TEXT);
      CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    `);
    this.#stmt = {
      insertKv: this.#db.prepare(
        "INSERT INTO kv (key, value, create_rev, mod_rev) VALUES (?, ?, ?, ?)",
      ),
      updateKv: this.#db.prepare("UPDATE kv SET value = ?, mod_rev = ? WHERE key = ?"),
      deleteKv: this.#db.prepare("DELETE FROM kv WHERE key = ?"),
      insertHistory: this.#db.prepare(
        "INSERT INTO history (rev, type, key, value, prev) VALUES (?, ?, ?, ?, ?)",
      ),
      setMeta: this.#db.prepare(
        "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
      ),
      trimHistory: this.#db.prepare("DELETE FROM history WHERE rev <= ?"),
    };
    const meta = new Map(
      (
        this.#db.prepare("SELECT name, value FROM meta").all() as { name: string; value: number }[]
      ).map((r) => [r.name, r.value]),
    );
    this.#revision = meta.get("revision") ?? 0;
    const compacted = meta.get("compacted") ?? 0;
    for (const row of this.#db.prepare("SELECT * FROM kv").iterate() as IterableIterator<KvRow>) {
      this.#index.set({
        key: row.key,
        value: JSON.parse(row.value) as object,
        createRevision: row.create_rev,
        modRevision: row.mod_rev,
      });
    }
    this.#hub = new WatchHub({
      historyLimit: o.historyLimit,
      bufferLimit: o.watcherBufferLimit,
      compacted,
    });
    const rows = this.#db
      .prepare("SELECT * FROM history WHERE rev > ? ORDER BY rev DESC LIMIT ?")
      .all(compacted, o.historyLimit) as HistoryRow[];
    rows.reverse();
    const first = rows[0];
    // History older than what was loaded is gone for watchers.
    if (first !== undefined) this.#hub.compact(first.rev - 1);
    else this.#hub.compact(this.#revision);
    this.#hub.load(
      rows.map((r) => {
        const ev: StoreEvent = {
          type: r.type,
          key: r.key,
          value: JSON.parse(r.value) as object,
          revision: r.rev,
        };
        if (r.prev !== null) ev.prevValue = JSON.parse(r.prev) as object;
        return ev;
      }),
    );
  }

  get(key: string): Promise<Stored | undefined> {
    return Promise.resolve(this.#index.get(key));
  }

  list(prefix: string): Promise<{ items: Stored[]; revision: number }> {
    return Promise.resolve({ items: this.#index.list(prefix), revision: this.#revision });
  }

  create(key: string, value: object): Promise<Stored> {
    return this.#write(() => {
      if (this.#index.get(key) !== undefined) throw keyExists(key);
      const rev = ++this.#revision;
      const text = JSON.stringify(value);
      const s: Stored = {
        key,
        value: JSON.parse(text) as object,
        modRevision: rev,
        createRevision: rev,
      };
      this.#index.set(s);
      return this.#enqueue(
        () => {
          this.#stmt.insertKv.run(key, text, rev, rev);
          this.#stmt.insertHistory.run(rev, "ADDED", key, text, null);
        },
        { type: "ADDED", key, value: s.value, revision: rev },
        s,
      );
    });
  }

  update(key: string, value: object, ifRevision: number): Promise<Stored> {
    return this.#write(() => {
      const old = this.#index.get(key);
      if (old === undefined) throw keyNotFound(key);
      if (ifRevision !== 0 && ifRevision !== old.modRevision) {
        throw keyConflict(key, ifRevision, old.modRevision);
      }
      const rev = ++this.#revision;
      const text = JSON.stringify(value);
      const s: Stored = {
        key,
        value: JSON.parse(text) as object,
        modRevision: rev,
        createRevision: old.createRevision,
      };
      this.#index.set(s);
      return this.#enqueue(
        () => {
          this.#stmt.updateKv.run(text, rev, key);
          this.#stmt.insertHistory.run(rev, "MODIFIED", key, text, JSON.stringify(old.value));
        },
        { type: "MODIFIED", key, value: s.value, prevValue: old.value, revision: rev },
        s,
      );
    });
  }

  delete(key: string, opts?: { ifRevision?: number }): Promise<Stored> {
    return this.#write(() => {
      const old = this.#index.get(key);
      if (old === undefined) throw keyNotFound(key);
      const want = opts?.ifRevision ?? 0;
      if (want !== 0 && want !== old.modRevision) throw keyConflict(key, want, old.modRevision);
      const rev = ++this.#revision;
      this.#index.delete(key);
      return this.#enqueue(
        () => {
          this.#stmt.deleteKv.run(key);
          this.#stmt.insertHistory.run(rev, "DELETED", key, JSON.stringify(old.value), null);
        },
        { type: "DELETED", key, value: old.value, prevValue: old.value, revision: rev },
        old,
      );
    });
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

  async compact(revision: number): Promise<void> {
    await this.#flushed();
    await this.#write(() => {
      const rev = Math.min(revision, this.#revision);
      if (rev <= this.#hub.compactedRevision) return;
      this.#db.transaction(() => {
        this.#stmt.trimHistory.run(rev);
        this.#stmt.setMeta.run("compacted", rev);
      })();
      this.#hub.compact(rev);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // Pending writes were acknowledged to nobody yet; commit them before closing.
    this.#flush();
    this.#closed = true;
    this.#db.close();
    await Promise.resolve();
  }

  /** Runs one synchronous write step, turning throws into a rejected promise. */
  #write<T>(fn: () => T | Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new Error("store is closed"));
    if (this.#broken !== undefined) {
      return Promise.reject(
        new Error("store is unusable after a failed commit", { cause: this.#broken }),
      );
    }
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Queues the rows of one write for the next group commit; resolves with `result` after it. */
  #enqueue<T>(rows: () => void, event: StoreEvent, result: T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({
        rows,
        event,
        resolve: () => {
          resolve(result);
        },
        reject,
      });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        // setImmediate (not a microtask) so writes arriving from other I/O callbacks of
        // the same loop turn share the commit.
        setImmediate(() => {
          this.#flush();
        });
      }
    });
  }

  /** Resolves once every write queued so far is committed. */
  #flushed(): Promise<void> {
    if (this.#pending.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({
        rows: () => undefined,
        event: undefined as unknown as StoreEvent,
        resolve,
        reject,
      });
    });
  }

  /** Commits every pending write in one transaction, then publishes and acknowledges them. */
  #flush(): void {
    this.#flushScheduled = false;
    const batch = this.#pending;
    if (batch.length === 0 || this.#closed) return;
    this.#pending = [];
    const rev = this.#revision;
    try {
      this.#db.transaction(() => {
        for (const w of batch) w.rows();
        this.#stmt.setMeta.run("revision", rev);
      })();
    } catch (err) {
      this.#broken = err instanceof Error ? err : new Error(String(err));
      const failure = new Error("commit to sqlite", { cause: err });
      for (const w of batch) w.reject(failure);
      return;
    }
    this.#writesSinceTrim += batch.length;
    if (this.#writesSinceTrim >= HISTORY_TRIM_EVERY) {
      this.#writesSinceTrim = 0;
      const keepFrom = rev - this.#historyLimit;
      if (keepFrom > 0) this.#stmt.trimHistory.run(keepFrom);
    }
    for (const w of batch) {
      // The barrier entries of #flushed carry no event.
      if ((w.event as StoreEvent | undefined) !== undefined) {
        this.#hub.publish(w.event, () => this.#revision);
      }
      w.resolve();
    }
  }
}
