import assert from "node:assert/strict";
import { test } from "node:test";
import { ApiError, type Event, type KubeList, type Pod } from "../api/index.js";
import { FakeClock, nullLogger, type Logger } from "../util/index.js";
import { Client } from "./client.js";
import { EventRecorder, EVENT_AGGREGATION_WINDOW_MS } from "./event-recorder.js";
import { HandlerTransport } from "./handler-transport.js";
import { FakeApiHandler } from "./testing/fake-handler.js";

const pod: Pod = {
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "web", namespace: "default", uid: "u1", resourceVersion: "7" },
  spec: { containers: [{ name: "c1" }] },
};

function setup(logger: Logger = nullLogger): {
  fake: FakeApiHandler;
  client: Client;
  clock: FakeClock;
  recorder: EventRecorder;
} {
  const clock = new FakeClock(Date.UTC(2025, 0, 1, 8, 0, 0));
  const fake = new FakeApiHandler({ clock });
  const client = new Client(new HandlerTransport(fake));
  const recorder = new EventRecorder({
    events: (ns) => client.events(ns),
    clock,
    logger,
    component: "kubelet",
    host: "node1",
  });
  return { fake, client, clock, recorder };
}

async function events(client: Client): Promise<Event[]> {
  const list: KubeList<Event> = await client.events("default").list();
  return list.items;
}

test("EventRecorder creates a core/v1 Event like client-go's recorder", async () => {
  const { client, recorder, clock } = setup();
  recorder.event(pod, "spec.containers{c1}", "Normal", "Pulling", 'Pulling image "busybox"');
  await recorder.flush();
  const [ev, ...rest] = await events(client);
  assert.equal(rest.length, 0);
  assert.ok(ev);
  const nanosHex = (BigInt(clock.now()) * 1_000_000n).toString(16);
  assert.equal(ev.metadata.name, `web.${nanosHex}`);
  assert.match(ev.metadata.name ?? "", /^web\.[0-9a-f]{16}$/);
  assert.deepEqual(ev.involvedObject, {
    kind: "Pod",
    apiVersion: "v1",
    namespace: "default",
    name: "web",
    uid: "u1",
    resourceVersion: "7",
    fieldPath: "spec.containers{c1}",
  });
  assert.equal(ev.type, "Normal");
  assert.equal(ev.reason, "Pulling");
  assert.equal(ev.message, 'Pulling image "busybox"');
  assert.deepEqual(ev.source, { component: "kubelet", host: "node1" });
  assert.equal(ev.firstTimestamp, "2025-01-01T08:00:00Z");
  assert.equal(ev.lastTimestamp, "2025-01-01T08:00:00Z");
  assert.equal(ev.count, 1);
});

test("EventRecorder aggregates identical events within 10 minutes by patching count", async () => {
  const { fake, client, recorder, clock } = setup();
  recorder.event(pod, undefined, "Warning", "BackOff", "Back-off restarting failed container");
  await clock.advance(30_000);
  recorder.event(pod, undefined, "Warning", "BackOff", "Back-off restarting failed container");
  recorder.event(pod, undefined, "Warning", "BackOff", "Back-off restarting failed container");
  await recorder.flush();
  let list = await events(client);
  assert.equal(list.length, 1);
  assert.equal(list[0]?.count, 3);
  assert.equal(list[0].firstTimestamp, "2025-01-01T08:00:00Z");
  assert.equal(list[0].lastTimestamp, "2025-01-01T08:00:30Z");
  assert.equal(fake.requests.filter((r) => r.method === "PATCH").length, 2);
  // A different message is a different event.
  recorder.event(pod, undefined, "Warning", "BackOff", "other");
  // After the window a repeat starts a new event.
  await clock.advance(EVENT_AGGREGATION_WINDOW_MS + 1);
  recorder.event(pod, undefined, "Warning", "BackOff", "Back-off restarting failed container");
  await recorder.flush();
  list = await events(client);
  assert.equal(list.length, 3);
});

test("EventRecorder never throws into the caller and logs write failures", async () => {
  const errors: string[] = [];
  const logger: Logger = {
    ...nullLogger,
    error: (msg) => errors.push(msg),
    with: () => logger,
  };
  const { fake, client, recorder } = setup(logger);
  fake.failNext("POST", "/events", new ApiError("InternalError", "boom"));
  recorder.event(pod, undefined, "Normal", "Scheduled", "x");
  await recorder.flush();
  assert.equal(errors.length, 1);
  assert.equal((await events(client)).length, 0);
  recorder.event(pod, undefined, "Normal", "Scheduled", "x");
  await recorder.flush();
  assert.equal((await events(client)).length, 1);
});

test("EventRecorder creates a new event when the aggregated one was deleted", async () => {
  const { client, recorder } = setup();
  recorder.event(pod, undefined, "Normal", "Started", "Started container c1");
  await recorder.flush();
  const [first] = await events(client);
  await client.events("default").delete(first?.metadata.name ?? "");
  recorder.event(pod, undefined, "Normal", "Started", "Started container c1");
  await recorder.flush();
  const list = await events(client);
  assert.equal(list.length, 1);
  assert.equal(list[0]?.count, 1);
});

test("EventRecorder puts events of cluster-scoped objects in the default namespace", async () => {
  const { client, recorder } = setup();
  recorder.event(
    { apiVersion: "v1", kind: "Node", metadata: { name: "node1", uid: "n1" } },
    undefined,
    "Normal",
    "NodeReady",
    "Node node1 status is now: NodeReady",
  );
  const ac = new AbortController();
  const running = recorder.run(ac.signal);
  ac.abort();
  await running;
  const list = await events(client);
  assert.equal(list[0]?.involvedObject.name, "node1");
  assert.equal(list[0].metadata.namespace, "default");
});
