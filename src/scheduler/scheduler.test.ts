import assert from "node:assert/strict";
import { test } from "node:test";
import type { Event, Node, Pod } from "../api/index.js";
import { Client, FakeApiHandler, HandlerTransport } from "../client/index.js";
import { FakeClock, nullLogger } from "../util/index.js";
import { Scheduler } from "./scheduler.js";

const PODS = "/api/v1/namespaces/default/pods";
const NODES = "/api/v1/nodes";

function node(name = "node1"): Node {
  return {
    metadata: { name, labels: { "kubernetes.io/hostname": name } },
    spec: {},
    status: {
      allocatable: { cpu: "1", memory: "1Gi", pods: "110" },
      conditions: [{ type: "Ready", status: "True" }],
    },
  };
}

function pod(name: string, mutate?: (p: Pod) => void): Pod {
  const p: Pod = {
    metadata: { name, namespace: "default" },
    spec: {
      schedulerName: "default-scheduler",
      containers: [{ name: "c1", image: "busybox", resources: { requests: { cpu: "600m" } } }],
    },
    status: { phase: "Pending" },
  };
  mutate?.(p);
  return p;
}

async function until(cond: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    if (await cond()) return;
    await new Promise<void>((r) => setImmediate(r));
  }
  throw new Error("condition not reached");
}

function start(fake: FakeApiHandler): {
  client: Client;
  stop: () => Promise<void>;
} {
  const client = new Client(new HandlerTransport(fake));
  const scheduler = new Scheduler({ client, clock: fake.clock, logger: nullLogger });
  const ac = new AbortController();
  const running = scheduler.run(ac.signal);
  return {
    client,
    stop: async () => {
      ac.abort();
      await running;
    },
  };
}

function get(fake: FakeApiHandler, name: string): Pod | undefined {
  return fake.peek(`${PODS}/${name}`) as Pod | undefined;
}

async function events(client: Client): Promise<Event[]> {
  return (await client.events("default").list()).items;
}

test("Scheduler binds a pending pod to a ready node and emits Scheduled", async () => {
  const fake = new FakeApiHandler({ clock: new FakeClock() });
  fake.seed(NODES, node());
  fake.seed(PODS, pod("web"));
  const { client, stop } = start(fake);
  try {
    await until(() => get(fake, "web")?.spec.nodeName === "node1");
    const binding = fake.requests.find((r) => r.path.endsWith("/binding"));
    assert.equal(binding?.method, "POST");
    assert.equal(binding.path, `${PODS}/web/binding`);
    assert.deepEqual((binding.body as { target: unknown }).target, { kind: "Node", name: "node1" });
    await until(async () => (await events(client)).length === 1);
    const [ev] = await events(client);
    assert.equal(ev?.reason, "Scheduled");
    assert.equal(ev.type, "Normal");
    assert.equal(ev.message, "Successfully assigned default/web to node1");
    assert.deepEqual(ev.source, { component: "default-scheduler" });
    assert.equal(ev.involvedObject.name, "web");
  } finally {
    await stop();
  }
});

test("Scheduler marks a pod Unschedulable, emits FailedScheduling and retries on node changes", async () => {
  const fake = new FakeApiHandler({ clock: new FakeClock() });
  fake.seed(NODES, node());
  fake.seed(
    PODS,
    pod("web", (p) => (p.spec.nodeSelector = { disk: "ssd" })),
  );
  const { client, stop } = start(fake);
  try {
    await until(() =>
      (get(fake, "web")?.status?.conditions ?? []).some((c) => c.reason === "Unschedulable"),
    );
    const cond = get(fake, "web")?.status?.conditions?.find((c) => c.type === "PodScheduled");
    assert.equal(cond?.status, "False");
    assert.equal(
      cond.message,
      "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. " +
        "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
    );
    await until(async () => (await events(client)).some((e) => e.reason === "FailedScheduling"));
    const failed = (await events(client)).find((e) => e.reason === "FailedScheduling");
    assert.equal(failed?.type, "Warning");
    assert.equal(failed.message, cond.message);
    // Labelling the node makes the pod fit.
    await client.nodes().patch("node1", "merge", { metadata: { labels: { disk: "ssd" } } });
    await until(() => get(fake, "web")?.spec.nodeName === "node1");
  } finally {
    await stop();
  }
});

test("Scheduler counts requests of bound pods and retries when one goes away", async () => {
  const fake = new FakeApiHandler({ clock: new FakeClock() });
  fake.seed(NODES, node());
  fake.seed(PODS, pod("first"));
  const { client, stop } = start(fake);
  try {
    await until(() => get(fake, "first")?.spec.nodeName === "node1");
    await client.pods("default").create(pod("second"));
    await until(() =>
      (get(fake, "second")?.status?.conditions ?? []).some(
        (c) => c.reason === "Unschedulable" && (c.message ?? "").includes("Insufficient cpu"),
      ),
    );
    await client.pods("default").delete("first");
    await until(() => get(fake, "second")?.spec.nodeName === "node1");
  } finally {
    await stop();
  }
});

test("Scheduler ignores other schedulers' pods and holds gated pods until ungated", async () => {
  const fake = new FakeApiHandler({ clock: new FakeClock() });
  fake.seed(NODES, node());
  fake.seed(
    PODS,
    pod("other", (p) => (p.spec.schedulerName = "my-scheduler")),
  );
  fake.seed(
    PODS,
    pod("gated", (p) => (p.spec.schedulingGates = [{ name: "wait" }])),
  );
  const { client, stop } = start(fake);
  try {
    await until(() =>
      (get(fake, "gated")?.status?.conditions ?? []).some((c) => c.reason === "SchedulingGated"),
    );
    assert.equal(get(fake, "gated")?.spec.nodeName, undefined);
    assert.equal(get(fake, "other")?.spec.nodeName, undefined);
    assert.equal(
      fake.requests.filter((r) => r.path.endsWith("/other/binding")).length,
      0,
      "no binding for another scheduler's pod",
    );
    const gated = get(fake, "gated")!;
    delete gated.spec.schedulingGates;
    await client.pods("default").update(gated);
    await until(() => get(fake, "gated")?.spec.nodeName === "node1");
    assert.equal(get(fake, "other")?.spec.nodeName, undefined);
  } finally {
    await stop();
  }
});
