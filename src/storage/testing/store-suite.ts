import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isAlreadyExists, isConflict, isExpired, isNotFound } from "../../api/index.js";
import type { StoreOptions } from "../memory-store.js";
import type { Store, StoreEvent } from "../types.js";

/** Builds a fresh, empty store; `cleanup` (if any) runs after the test. */
export type MakeStore = (
  opts?: StoreOptions,
) => Promise<{ store: Store; cleanup?: () => Promise<void> }>;

async function take(it: AsyncIterator<StoreEvent>, n: number): Promise<StoreEvent[]> {
  const out: StoreEvent[] = [];
  while (out.length < n) {
    const r = await it.next();
    if (r.done === true) break;
    out.push(r.value);
  }
  return out;
}

/** The Store conformance suite, run against every implementation. */
export function storeSuite(name: string, make: MakeStore): void {
  async function withStore(fn: (s: Store) => Promise<void>, opts?: StoreOptions): Promise<void> {
    const { store, cleanup } = await make(opts);
    try {
      await fn(store);
    } finally {
      await store.close();
      await cleanup?.();
    }
  }

  describe(`${name} conforms to Store`, () => {
    test("create assigns increasing revisions and get returns the value", () =>
      withStore(async (s) => {
        assert.equal(await s.currentRevision(), 0);
        const a = await s.create("/r/pods/ns/a", { n: 1 });
        const b = await s.create("/r/pods/ns/b", { n: 2 });
        assert.equal(a.modRevision, 1);
        assert.equal(a.createRevision, 1);
        assert.equal(b.modRevision, 2);
        assert.deepEqual((await s.get("/r/pods/ns/a"))?.value, { n: 1 });
        assert.equal(await s.get("/r/pods/ns/zz"), undefined);
        assert.equal(await s.currentRevision(), 2);
      }));

    test("create of an existing key fails with AlreadyExists", () =>
      withStore(async (s) => {
        await s.create("/k", { a: 1 });
        await assert.rejects(s.create("/k", { a: 2 }), isAlreadyExists);
        assert.equal(await s.currentRevision(), 1);
      }));

    test("stored values are copies of what the caller passed", () =>
      withStore(async (s) => {
        const v = { a: { b: 1 } };
        await s.create("/k", v);
        v.a.b = 2;
        assert.deepEqual((await s.get("/k"))?.value, { a: { b: 1 } });
      }));

    test("list returns keys under the prefix in key order with the revision", () =>
      withStore(async (s) => {
        await s.create("/r/pods/ns/c", { n: "c" });
        await s.create("/r/pods/ns/a", { n: "a" });
        await s.create("/r/pods/ns2/b", { n: "x" });
        await s.create("/r/pods/ns/b", { n: "b" });
        await s.create("/r/podsx/ns/a", { n: "no" });
        const l = await s.list("/r/pods/ns/");
        assert.deepEqual(
          l.items.map((i) => i.key),
          ["/r/pods/ns/a", "/r/pods/ns/b", "/r/pods/ns/c"],
        );
        assert.equal(l.revision, 5);
        assert.equal((await s.list("/r/pods/")).items.length, 4);
        await s.delete("/r/pods/ns/b");
        assert.deepEqual(
          (await s.list("/r/pods/ns/")).items.map((i) => i.key),
          ["/r/pods/ns/a", "/r/pods/ns/c"],
        );
      }));

    test("update checks ifRevision, 0 is unconditional, missing keys are NotFound", () =>
      withStore(async (s) => {
        const a = await s.create("/k", { v: 1 });
        const b = await s.update("/k", { v: 2 }, a.modRevision);
        assert.equal(b.modRevision, 2);
        assert.equal(b.createRevision, 1);
        await assert.rejects(s.update("/k", { v: 3 }, a.modRevision), isConflict);
        const c = await s.update("/k", { v: 4 }, 0);
        assert.equal(c.modRevision, 3);
        assert.deepEqual((await s.get("/k"))?.value, { v: 4 });
        await assert.rejects(s.update("/nope", { v: 1 }, 0), isNotFound);
      }));

    test("delete returns the last value, bumps the revision and checks ifRevision", () =>
      withStore(async (s) => {
        const a = await s.create("/k", { v: 1 });
        await s.update("/k", { v: 2 }, 0);
        await assert.rejects(s.delete("/k", { ifRevision: a.modRevision }), isConflict);
        const d = await s.delete("/k");
        assert.deepEqual(d.value, { v: 2 });
        assert.equal(await s.currentRevision(), 3);
        assert.equal(await s.get("/k"), undefined);
        await assert.rejects(s.delete("/k"), isNotFound);
      }));

    test("watch replays history after fromRevision, then live events, filtered by prefix", () =>
      withStore(async (s) => {
        await s.create("/a/1", { v: 1 }); // rev 1
        await s.create("/b/1", { v: 1 }); // rev 2
        await s.update("/a/1", { v: 2 }, 0); // rev 3
        const ac = new AbortController();
        const it = s.watch("/a/", 1, { signal: ac.signal })[Symbol.asyncIterator]();
        const first = await take(it, 1);
        assert.deepEqual(
          first.map((e) => [e.type, e.key, e.revision]),
          [["MODIFIED", "/a/1", 3]],
        );
        assert.deepEqual(first[0]?.prevValue, { v: 1 });
        await s.create("/b/2", {}); // rev 4, other prefix
        await s.delete("/a/1"); // rev 5
        const live = await take(it, 1);
        assert.deepEqual(
          live.map((e) => [e.type, e.key, e.revision]),
          [["DELETED", "/a/1", 5]],
        );
        assert.deepEqual(live[0]?.value, { v: 2 });
        ac.abort();
        assert.equal((await it.next()).done, true);
      }));

    test("watch from 0 on a fresh store sees every event", () =>
      withStore(async (s) => {
        const ac = new AbortController();
        const it = s.watch("/", 0, { signal: ac.signal })[Symbol.asyncIterator]();
        const p = take(it, 2);
        await s.create("/x", {});
        await s.create("/y", {});
        assert.deepEqual(
          (await p).map((e) => e.key),
          ["/x", "/y"],
        );
        ac.abort();
      }));

    test("watch from a compacted revision fails with Expired naming both revisions", () =>
      withStore(async (s) => {
        for (let i = 0; i < 5; i++) await s.create(`/k${i}`, {});
        await s.compact(3);
        const ac = new AbortController();
        const it = s.watch("/", 2, { signal: ac.signal })[Symbol.asyncIterator]();
        await assert.rejects(it.next(), (err: unknown) => {
          assert.ok(isExpired(err));
          assert.equal(err.message, "too old resource version: 2 (5)");
          return true;
        });
        const ok = s.watch("/", 3, { signal: ac.signal })[Symbol.asyncIterator]();
        assert.deepEqual(
          (await take(ok, 2)).map((e) => e.revision),
          [4, 5],
        );
        ac.abort();
      }));

    test("history beyond historyLimit is compacted automatically", () =>
      withStore(
        async (s) => {
          for (let i = 0; i < 10; i++) await s.create(`/k${i}`, {});
          const ac = new AbortController();
          const old = s.watch("/", 2, { signal: ac.signal })[Symbol.asyncIterator]();
          await assert.rejects(old.next(), isExpired);
          const recent = s.watch("/", 6, { signal: ac.signal })[Symbol.asyncIterator]();
          assert.deepEqual(
            (await take(recent, 4)).map((e) => e.revision),
            [7, 8, 9, 10],
          );
          ac.abort();
        },
        { historyLimit: 4 },
      ));

    test("a watcher that falls behind is ended with Expired and writers are not blocked", () =>
      withStore(
        async (s) => {
          const ac = new AbortController();
          const it = s.watch("/", 0, { signal: ac.signal })[Symbol.asyncIterator]();
          const p = take(it, 1); // registers the watcher
          await s.create("/first", {});
          assert.equal((await p)[0]?.key, "/first");
          for (let i = 0; i < 10; i++) await s.create(`/k${i}`, {});
          assert.equal(await s.currentRevision(), 11);
          await assert.rejects(it.next(), isExpired);
          ac.abort();
        },
        { watcherBufferLimit: 3 },
      ));

    test("aborting the signal ends a parked watch without error", () =>
      withStore(async (s) => {
        const ac = new AbortController();
        const it = s.watch("/", 0, { signal: ac.signal })[Symbol.asyncIterator]();
        const p = it.next();
        ac.abort();
        assert.equal((await p).done, true);
        const aborted = s.watch("/", 0, { signal: ac.signal })[Symbol.asyncIterator]();
        assert.equal((await aborted.next()).done, true);
      }));
  });
}
