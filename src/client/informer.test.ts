import assert from "node:assert/strict";
import { test } from "node:test";
import { ApiError, type ConfigMap } from "../api/index.js";
import { FakeClock, nullLogger } from "../util/index.js";
import { Client } from "./client.js";
import { HandlerTransport } from "./handler-transport.js";
import { Informer, INFORMER_INITIAL_BACKOFF_MS, type InformerEvent } from "./informer.js";
import { FakeApiHandler } from "./testing/fake-handler.js";

const CM = "/api/v1/namespaces/default/configmaps";

function cm(name: string, v = "1"): ConfigMap {
  return { metadata: { name, namespace: "default" }, data: { v } };
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (cond()) return;
    await new Promise<void>((r) => setImmediate(r));
  }
  throw new Error("condition not reached");
}

function setup(): {
  fake: FakeApiHandler;
  client: Client;
  clock: FakeClock;
  informer: Informer<ConfigMap>;
  ac: AbortController;
  running: Promise<void>;
  seen: string[];
} {
  const clock = new FakeClock();
  const fake = new FakeApiHandler({ clock });
  const client = new Client(new HandlerTransport(fake));
  const informer = new Informer<ConfigMap>({
    source: client.configMaps("default"),
    clock,
    logger: nullLogger,
  });
  const seen: string[] = [];
  informer.onChange((ev: InformerEvent<ConfigMap>) => {
    seen.push(`${ev.type} ${ev.key} ${ev.obj.data?.["v"] ?? ""}`);
  });
  const ac = new AbortController();
  return { fake, client, clock, informer, ac, running: Promise.resolve(), seen };
}

test("Informer lists, syncs and then applies watch events to its cache", async () => {
  const s = setup();
  s.fake.seed(CM, cm("a"));
  const running = s.informer.run(s.ac.signal);
  assert.equal(await s.informer.waitForSync(s.ac.signal), true);
  assert.equal(s.informer.hasSynced, true);
  assert.equal(s.informer.get("default/a")?.data?.["v"], "1");
  await s.client.configMaps("default").create(cm("b"));
  await s.client.configMaps("default").patch("a", "merge", { data: { v: "2" } });
  await s.client.configMaps("default").delete("b");
  await until(() => s.seen.length === 4);
  assert.deepEqual(s.seen, [
    "ADDED default/a 1",
    "ADDED default/b 1",
    "MODIFIED default/a 2",
    "DELETED default/b 1",
  ]);
  assert.deepEqual(
    s.informer.list().map((o) => o.metadata.name),
    ["a"],
  );
  s.ac.abort();
  await running;
});

test("Informer resumes the watch from the last resourceVersion after a clean disconnect", async () => {
  const s = setup();
  s.fake.seed(CM, cm("a"));
  const running = s.informer.run(s.ac.signal);
  await s.informer.waitForSync(s.ac.signal);
  await s.client.configMaps("default").create(cm("b"));
  await until(() => s.seen.length === 2);
  const rv = s.informer.lastSyncResourceVersion;
  const count = (watch: boolean): number =>
    s.fake.requests.filter((r) => (r.query?.["watch"] === "true") === watch).length;
  const listsBefore = count(false);
  const watchesBefore = count(true);
  s.fake.closeWatches();
  await until(() => s.fake.watchCount === 1 && count(true) === watchesBefore + 1);
  assert.equal(count(false), listsBefore, "no re-list after a clean disconnect");
  const lastWatch = s.fake.requests.at(-1)!;
  assert.equal(lastWatch.query?.["resourceVersion"], rv);
  assert.equal(lastWatch.query["allowWatchBookmarks"], "true");
  await s.client.configMaps("default").create(cm("c"));
  await until(() => s.seen.length === 3);
  assert.equal(s.seen[2], "ADDED default/c 1");
  s.ac.abort();
  await running;
});

test("Informer re-lists on Expired and reports the difference as events", async () => {
  const s = setup();
  s.fake.seed(CM, cm("a"));
  s.fake.seed(CM, cm("b"));
  const running = s.informer.run(s.ac.signal);
  await s.informer.waitForSync(s.ac.signal);
  await until(() => s.fake.watchCount === 1);
  // Make the next watch fail so the informer sits in back-off while history moves on.
  s.fake.failNext("GET", "/configmaps", new ApiError("ServiceUnavailable", "try later"));
  s.fake.closeWatches();
  await until(() => s.clock.pendingSleepers === 1);
  s.fake.seed(CM, cm("c"));
  await s.client.configMaps("default").delete("b");
  await s.client.configMaps("default").patch("a", "merge", { data: { v: "2" } });
  s.fake.compact();
  await s.clock.advance(INFORMER_INITIAL_BACKOFF_MS);
  await until(() => s.seen.length === 5);
  assert.deepEqual(s.seen.slice(2), [
    "MODIFIED default/a 2",
    "ADDED default/c 1",
    "DELETED default/b 1",
  ]);
  s.ac.abort();
  await running;
});

test("Informer events() replays the cache as ADDED and ends when the informer stops", async () => {
  const s = setup();
  s.fake.seed(CM, cm("a"));
  const running = s.informer.run(s.ac.signal);
  await s.informer.waitForSync(s.ac.signal);
  const got: string[] = [];
  const consumer = (async () => {
    for await (const ev of s.informer.events(new AbortController().signal)) {
      got.push(`${ev.type} ${ev.key}`);
      if (got.length === 2) s.ac.abort();
    }
  })();
  await until(() => got.length === 1);
  await s.client.configMaps("default").create(cm("b"));
  await running;
  await consumer;
  assert.deepEqual(got, ["ADDED default/a", "ADDED default/b"]);
});
