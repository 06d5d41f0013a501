import Database from "better-sqlite3";
import { closeSync, fdatasync, fdatasyncSync, openSync } from "node:fs";
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
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

/** Writes between two WAL checkpoints (about 2–3 WAL pages per write). */
const CHECKPOINT_EVERY = 500;

/**
 * The checkpointer thread: its own connection copies WAL pages into the database file (and
 * syncs both) with PASSIVE checkpoints, which never block the main connection's writers.
 * Plain CommonJS source (evaluated), so it runs the same under tsx and from dist/.
 */
const CHECKPOINTER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.module);
const db = new Database(workerData.path);
db.pragma("busy_timeout = 5000");
db.pragma("synchronous = FULL");
parentPort.on("message", (m) => {
  if (m === "close") {
    db.close();
    parentPort.close();
    return;
  }
  let err = null;
  try {
    db.pragma("wal_checkpoint(PASSIVE)");
  } catch (e) {
    err = String(e);
  }
  parentPort.postMessage(err);
});
`;

/**
 * A Store persisted in one SQLite file (WAL, synced like `synchronous=FULL`: a write is on
 * disk when its promise resolves, and survives SIGKILL and power loss). The current values are also held in memory,
 * so reads and lists never touch the disk or re-parse JSON; SQLite is the durable log.
 * Returned values are shared: treat them as read-only. Watch history lives in the
 * `history` table (reloaded at open) and in memory for replay.
 * One process may open a file at a time (the in-memory view would go stale otherwise).
 *
 * Group commit: a write is checked and applied in memory at once (so concurrent writers
 * are linearized and see each other), and all writes of one event-loop turn are committed
 * in one transaction. A write's promise resolves, and its watch event is published, only
 * after that transaction is durable. If a commit fails, its writers get the error and the
 * store refuses further writes (memory is ahead of disk; reopen to recover).
 *
 * Durability without blocking the event loop: SQLite runs with `synchronous=NORMAL`, so a
 * COMMIT only writes the WAL (no fsync; SQLite still syncs around checkpoints), and the store
 * itself `fdatasync`s the WAL file on the libuv thread pool before acknowledging the
 * transactions it covers. That is what `synchronous=FULL` does at every commit, but the wait
 * happens off the loop. One sync runs at a time; writes arriving meanwhile form the next
 * batch, committed when it completes. Checkpoints run on a worker thread (its own connection).
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
  /** Set by close(): new writes are refused while the last ones are made durable. */
  #closing = false;
  #closePromise: Promise<void> | undefined;
  /** A WAL sync is running on the thread pool (no commit starts until it is done). */
  #syncing = false;
  /** Resolvers waiting for #pending and the running sync to drain (close). */
  #idleWaiters: (() => void)[] = [];
  /** Descriptor of the WAL file (opened at the first commit); -1 for an in-memory database. */
  #walFd: number | undefined;
  readonly #walPath: string | undefined;
  readonly #path: string;
  /** Checkpointer thread, started at the first checkpoint; undefined until then. */
  #checkpointer: Worker | undefined;
  #checkpointing = false;
  /** The last checkpoint failure (diagnostics; checkpoints are retried). */
  #checkpointError: string | undefined;
  #writesSinceCheckpoint = 0;
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
    const mode = this.#db.pragma("journal_mode = WAL", { simple: true });
    // WAL syncs are done by the store itself (see the class comment); without WAL (an
    // in-memory database) there is nothing durable to sync.
    this.#walPath = mode === "wal" ? `${path}-wal` : undefined;
    this.#db.pragma(this.#walPath === undefined ? "synchronous = FULL" : "synchronous = NORMAL");
    // Checkpoints (with their fsyncs) run on the checkpointer thread, not on commit.
    this.#path = path;
    if (this.#walPath !== undefined) this.#db.pragma("wal_autocheckpoint = 0");
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS kv ${KV_COLUMNS};
      CREATE TABLE IF NOT EXISTS history (rev INTEGER PRIMARY KEY, type TEXT NOT NULL,
        key TEXT NOT NULL, value TEXT NOT NULL, prev TEXT);
      CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    `);
    migrateKvToRowid(this.#db);
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

  close(): Promise<void> {
    this.#closePromise ??= this.#close();
    return this.#closePromise;
  }

  async #close(): Promise<void> {
    if (this.#closed) return;
    this.#closing = true;
    // Pending writes were acknowledged to nobody yet; make them durable before closing.
    // While a sync runs, its completion commits and syncs them.
    this.#flush();
    if (this.#syncing || this.#pending.length > 0) {
      await new Promise<void>((resolve) => {
        this.#idleWaiters.push(resolve);
      });
    }
    this.#closed = true;
    await this.#stopCheckpointer();
    if (this.#walFd !== undefined && this.#walFd >= 0) closeSync(this.#walFd);
    // The last connection to close checkpoints the WAL into the database file.
    this.#db.close();
  }

  /** Runs one synchronous write step, turning throws into a rejected promise. */
  #write<T>(fn: () => T | Promise<T>): Promise<T> {
    if (this.#closed || this.#closing) return Promise.reject(new Error("store is closed"));
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
      this.#scheduleFlush();
    });
  }

  /** Resolves once every write queued so far is committed and durable (and published). */
  #flushed(): Promise<void> {
    if (this.#pending.length === 0 && !this.#syncing) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({
        rows: () => undefined,
        event: undefined as unknown as StoreEvent,
        resolve,
        reject,
      });
      this.#scheduleFlush();
    });
  }

  #scheduleFlush(): void {
    // A running sync commits what is pending when it completes (a bigger batch, no extra wait).
    if (this.#flushScheduled || this.#syncing) return;
    this.#flushScheduled = true;
    // setImmediate (not a microtask) so writes arriving from other I/O callbacks of the same
    // loop turn share the commit.
    setImmediate(() => {
      this.#flush();
    });
  }

  /**
   * Commits every pending write in one transaction (the WAL is written, not yet synced), then
   * syncs the WAL, which publishes and acknowledges the batch. Does nothing while a sync runs.
   */
  #flush(): void {
    this.#flushScheduled = false;
    if (this.#syncing || this.#closed) return;
    const batch = this.#pending;
    if (batch.length === 0) {
      this.#checkIdle();
      return;
    }
    this.#pending = [];
    const rev = this.#revision;
    let fd: number;
    try {
      if (this.#broken !== undefined) throw this.#broken;
      this.#db.transaction(() => {
        for (const w of batch) w.rows();
        this.#stmt.setMeta.run("revision", rev);
      })();
      this.#writesSinceTrim += batch.length;
      if (this.#writesSinceTrim >= HISTORY_TRIM_EVERY) {
        this.#writesSinceTrim = 0;
        const keepFrom = rev - this.#historyLimit;
        if (keepFrom > 0) this.#stmt.trimHistory.run(keepFrom);
      }
      fd = this.#wal();
      this.#writesSinceCheckpoint += batch.length;
      if (this.#writesSinceCheckpoint >= CHECKPOINT_EVERY) this.#checkpoint();
    } catch (err) {
      this.#fail(batch, err, "commit to sqlite");
      this.#checkIdle();
      return;
    }
    if (this.#closing) {
      // close() wants everything durable before it returns: sync on the loop.
      try {
        if (fd >= 0) fdatasyncSync(fd);
      } catch (err) {
        this.#fail(batch, err, "sync the sqlite WAL");
        this.#checkIdle();
        return;
      }
      this.#acknowledge(batch);
      this.#checkIdle();
      return;
    }
    this.#syncing = true;
    const done = (err: Error | null): void => {
      this.#syncing = false;
      if (err !== null) this.#fail(batch, err, "sync the sqlite WAL");
      else this.#acknowledge(batch);
      // Writes that arrived during the sync form the next batch.
      this.#flush();
    };
    if (fd < 0) {
      setImmediate(() => {
        done(null);
      });
    } else {
      fdatasync(fd, done);
    }
  }

  /** Asks the checkpointer thread for a PASSIVE checkpoint, unless one is running. */
  #checkpoint(): void {
    if (this.#checkpointing || this.#walPath === undefined) return;
    this.#writesSinceCheckpoint = 0;
    this.#checkpointing = true;
    if (this.#checkpointer === undefined) {
      const w = new Worker(CHECKPOINTER_SOURCE, {
        eval: true,
        workerData: {
          module: createRequire(import.meta.url).resolve("better-sqlite3"),
          path: this.#path,
        },
      });
      w.unref();
      w.on("message", (err: string | null) => {
        this.#checkpointing = false;
        // A failed checkpoint loses nothing (the WAL keeps the pages); the next one retries.
        if (err !== null) this.#checkpointError = err;
      });
      w.on("error", (err) => {
        // Without the thread the WAL would grow without bound: checkpoint on the loop.
        this.#checkpointError = String(err);
        this.#checkpointer = undefined;
        this.#checkpointing = false;
        this.#db.pragma("wal_autocheckpoint = 1000");
      });
      this.#checkpointer = w;
    }
    this.#checkpointer.postMessage("checkpoint");
  }

  async #stopCheckpointer(): Promise<void> {
    const w = this.#checkpointer;
    if (w === undefined) return;
    this.#checkpointer = undefined;
    const exited = new Promise<void>((resolve) => {
      w.once("exit", () => {
        resolve();
      });
    });
    // Unref'd while idle; close() must keep the process alive until the thread is gone.
    w.ref();
    w.postMessage("close");
    await exited;
  }

  /** The WAL's descriptor, opened on first use (the file exists once a commit wrote it). */
  #wal(): number {
    if (this.#walFd === undefined) {
      // A file database in WAL mode has its WAL once a commit went through; failing to
      // open it must fail the commit rather than acknowledge writes that were never synced.
      this.#walFd = this.#walPath === undefined ? -1 : openSync(this.#walPath, "r");
    }
    return this.#walFd;
  }

  /** Publishes the events of durable writes, in commit order, and resolves their writers. */
  #acknowledge(batch: readonly PendingWrite[]): void {
    for (const w of batch) {
      // The barrier entries of #flushed carry no event.
      if ((w.event as StoreEvent | undefined) !== undefined) {
        this.#hub.publish(w.event, () => this.#revision);
      }
      w.resolve();
    }
  }

  /**
   * Marks the store broken (memory is ahead of disk) and rejects `batch`; pending writes are
   * rejected when their flush sees the broken store.
   */
  #fail(batch: readonly PendingWrite[], err: unknown, what: string): void {
    this.#broken ??= err instanceof Error ? err : new Error(String(err));
    const failure = new Error(what, { cause: err });
    for (const w of batch) w.reject(failure);
  }

  #checkIdle(): void {
    if (this.#syncing || this.#pending.length > 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }
}

/** Columns of the `kv` table: the current value of every key. */
const KV_COLUMNS = `(key TEXT PRIMARY KEY, value TEXT NOT NULL,
  create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL)`;

/**
 * Rewrites a `kv` table made by an earlier version as `WITHOUT ROWID` into a rowid table, once,
 * rows kept. In a WITHOUT ROWID table the whole row lives in the key's b-tree, whose pages hold
 * rows of at most ~1 KiB on 4 KiB pages: every stored object (a pod is 2-3 KiB) went to
 * overflow pages, and page splits moved whole objects. A rowid table appends the row and keeps
 * only the key in the primary-key index; SQLite's CPU per create fell from 75-97 to 33 µs
 * (two inserts of a 1.8 KiB pod, bench/README "Fifth pass").
 */
function migrateKvToRowid(db: Database.Database): void {
  const row = db
    .prepare<[], { sql: string }>(
      "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'kv'",
    )
    .get();
  if (row === undefined || !/WITHOUT\s+ROWID/i.test(row.sql)) return;
  db.transaction(() => {
    db.exec(`
      CREATE TABLE kv_rowid ${KV_COLUMNS};
      INSERT INTO kv_rowid (key, value, create_rev, mod_rev)
        SELECT key, value, create_rev, mod_rev FROM kv;
      DROP TABLE kv;
      ALTER TABLE kv_rowid RENAME TO kv;
    `);
  })();
}
