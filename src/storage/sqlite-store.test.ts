import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import { isExpired } from "../api/index.js";
import { SqliteStore } from "./sqlite-store.js";
import { storeSuite } from "./testing/store-suite.js";
import type { StoreEvent } from "./types.js";

storeSuite("SqliteStore", (opts) => {
  const dir = mkdtempSync(join(tmpdir(), "podrun-store-"));
  return Promise.resolve({
    store: new SqliteStore(join(dir, "state.db"), opts),
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  });
});

/** A store at `path` holding /r/a (revisions 1 and 3) and /r/b (revision 2), open. */
async function seeded(path: string): Promise<SqliteStore> {
  const s = new SqliteStore(path);
  await s.create("/r/a", { v: 1 });
  await s.create("/r/b", { v: 2 });
  await s.update("/r/a", { v: 3 }, 0);
  return s;
}

test("SqliteStore rewrites a kv table of an earlier version (WITHOUT ROWID), rows kept", async () => {
  const dir = mkdtempSync(join(tmpdir(), "podrun-store-"));
  try {
    const path = join(dir, "state.db");
    await (await seeded(path)).close();
    // What earlier versions made: the same columns in a WITHOUT ROWID table.
    const old = new Database(path);
    old.exec(`
      CREATE TABLE kv_old (key TEXT PRIMARY KEY, value TEXT NOT NULL,
        create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL) WITHOUT ROWID;
      INSERT INTO kv_old SELECT * FROM kv;
      DROP TABLE kv;
      ALTER TABLE kv_old RENAME TO kv;
    `);
    old.close();
    const kvSql = (): string => {
      const db = new Database(path, { readonly: true });
      try {
        return (
          db.prepare("SELECT sql FROM sqlite_master WHERE name = 'kv'").get() as { sql: string }
        ).sql;
      } finally {
        db.close();
      }
    };
    assert.match(kvSql(), /WITHOUT ROWID/);

    const b = new SqliteStore(path);
    try {
      assert.deepEqual(
        (await b.list("/r/")).items.map((i) => [i.key, i.value, i.createRevision, i.modRevision]),
        [
          ["/r/a", { v: 3 }, 1, 3],
          ["/r/b", { v: 2 }, 2, 2],
        ],
      );
      await b.update("/r/b", { v: 4 }, 2);
      await b.create("/r/c", { v: 5 });
      await b.delete("/r/a");
      await assert.rejects(b.create("/r/c", {}), /exists/i);
    } finally {
      await b.close();
    }
    assert.doesNotMatch(kvSql(), /WITHOUT ROWID/);
    const c = new SqliteStore(path);
    try {
      assert.deepEqual(
        (await c.list("/r/")).items.map((i) => [i.key, i.value, i.modRevision]),
        [
          ["/r/b", { v: 4 }, 4],
          ["/r/c", { v: 5 }, 5],
        ],
      );
    } finally {
      await c.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("SqliteStore keeps values, revision and watch history across reopen", async () => {
  const dir = mkdtempSync(join(tmpdir(), "podrun-store-"));
  try {
    const path = join(dir, "state.db");
    const a = await seeded(path);
    await a.delete("/r/b");
    await a.close();

    const b = new SqliteStore(path);
    try {
      assert.equal(await b.currentRevision(), 4);
      const l = await b.list("/r/");
      assert.deepEqual(
        l.items.map((i) => [i.key, i.value, i.createRevision, i.modRevision]),
        [["/r/a", { v: 3 }, 1, 3]],
      );
      const c = await b.create("/r/c", {});
      assert.equal(c.modRevision, 5);
      const ac = new AbortController();
      const it = b.watch("/r/", 2, { signal: ac.signal })[Symbol.asyncIterator]();
      const evs: StoreEvent[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await it.next();
        if (r.done !== true) evs.push(r.value);
      }
      assert.deepEqual(
        evs.map((e) => [e.type, e.key, e.revision]),
        [
          ["MODIFIED", "/r/a", 3],
          ["DELETED", "/r/b", 4],
          ["ADDED", "/r/c", 5],
        ],
      );
      ac.abort();
    } finally {
      await b.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("SqliteStore reopened with compacted history answers Expired for old revisions", async () => {
  const dir = mkdtempSync(join(tmpdir(), "podrun-store-"));
  try {
    const path = join(dir, "state.db");
    const a = new SqliteStore(path);
    for (let i = 0; i < 6; i++) await a.create(`/k${i}`, {});
    await a.compact(4);
    await a.close();
    const b = new SqliteStore(path);
    try {
      const ac = new AbortController();
      await assert.rejects(
        b.watch("/", 1, { signal: ac.signal })[Symbol.asyncIterator]().next(),
        isExpired,
      );
      const it = b.watch("/", 4, { signal: ac.signal })[Symbol.asyncIterator]();
      const r = await it.next();
      assert.equal(r.done === true ? undefined : r.value.revision, 5);
      ac.abort();
    } finally {
      await b.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("SqliteStore group-commits concurrent writes and close() commits pending ones", async () => {
  const dir = mkdtempSync(join(tmpdir(), "podrun-store-"));
  try {
    const path = join(dir, "state.db");
    const a = new SqliteStore(path);
    const writes = Array.from({ length: 50 }, (_, i) =>
      a.create(`/k/${String(i).padStart(2, "0")}`, { i }),
    );
    const done = await Promise.all(writes);
    assert.deepEqual(
      done.map((s) => s.modRevision),
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    const pending = a.create("/k/last", { last: true });
    await a.close();
    assert.equal((await pending).modRevision, 51);
    const b = new SqliteStore(path);
    try {
      assert.equal((await b.list("/k/")).items.length, 51);
      assert.equal(await b.currentRevision(), 51);
    } finally {
      await b.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("SqliteStore acknowledges writes of overlapping commits in revision order, all durable", async () => {
  const dir = mkdtempSync(join(tmpdir(), "podrun-store-"));
  try {
    const path = join(dir, "state.db");
    const a = new SqliteStore(path);
    const ac = new AbortController();
    const seen: number[] = [];
    const watching = (async () => {
      for await (const ev of a.watch("/k/", 0, { signal: ac.signal })) {
        seen.push(ev.revision);
        if (seen.length === 200) return;
      }
    })();
    const acked: number[] = [];
    const writes: Promise<void>[] = [];
    // Writes spread over several loop turns, so that commits form while a sync runs.
    for (let turn = 0; turn < 20; turn++) {
      for (let i = 0; i < 10; i++) {
        writes.push(
          a.create(`/k/${turn}-${i}`, { turn, i }).then((s) => {
            acked.push(s.modRevision);
          }),
        );
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(writes);
    await watching;
    ac.abort();
    const expected = Array.from({ length: 200 }, (_, i) => i + 1);
    assert.deepEqual(acked, expected);
    assert.deepEqual(seen, expected);
    await a.close();
    await assert.rejects(a.create("/k/after-close", {}), /closed/);
    const b = new SqliteStore(path);
    try {
      assert.equal((await b.list("/k/")).items.length, 200);
    } finally {
      await b.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
