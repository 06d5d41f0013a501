import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeClock, nullLogger } from "../util/index.js";
import {
  cpuRateNanoCores,
  parseMeminfoWorkingSetBytes,
  parseProcStatCpuNanos,
  StatsProvider,
  type NodeStatsReader,
  type NodeStatsSample,
} from "./stats.js";
import { FakeStatsRuntime } from "./testing/fake-stats-runtime.js";

test("cpuRateNanoCores is Δcpu over Δt in nanocores", () => {
  const table: [string, number, number, number | undefined][] = [
    ["one core over 10 s", 10_000, 10e9, 1e9],
    ["a quarter core over 2 s", 2_000, 0.5e9, 250e6],
    ["idle", 5_000, 0, 0],
    ["empty window", 0, 1e9, undefined],
    ["counter reset", 1_000, -5, undefined],
  ];
  for (const [name, dtMs, dCpu, want] of table) {
    const got = cpuRateNanoCores(
      { timestampMs: 1_000, cpuUsageNanos: 100 },
      { timestampMs: 1_000 + dtMs, cpuUsageNanos: 100 + dCpu },
    );
    assert.equal(got, want, name);
  }
});

test("parseProcStatCpuNanos counts busy jiffies of the aggregate line", () => {
  const stat = "cpu  100 5 50 9000 30 2 3 1 0 0\ncpu0 50 2 25 4500 15 1 1 0 0 0\nintr 1\n";
  // user+nice+system+irq+softirq+steal = 161 jiffies of 10 ms.
  assert.equal(parseProcStatCpuNanos(stat), 161 * 10_000_000);
  assert.throws(() => parseProcStatCpuNanos("intr 1\n"), TypeError);
});

test("parseMeminfoWorkingSetBytes is MemTotal minus MemAvailable", () => {
  const meminfo = "MemTotal:       2000 kB\nMemFree:         100 kB\nMemAvailable:    500 kB\n";
  assert.equal(parseMeminfoWorkingSetBytes(meminfo), 1500 * 1024);
});

class FakeNodeReader implements NodeStatsReader {
  cpuUsageNanos = 0;
  memoryWorkingSetBytes = 1 << 30;
  read(nowMs: number): Promise<NodeStatsSample> {
    return Promise.resolve({
      timestampMs: nowMs,
      cpuUsageNanos: this.cpuUsageNanos,
      memoryWorkingSetBytes: this.memoryWorkingSetBytes,
    });
  }
}

function setup() {
  const clock = new FakeClock();
  const runtime = new FakeStatsRuntime(clock);
  const node = new FakeNodeReader();
  const stats = new StatsProvider({
    nodeName: "node1",
    runtime,
    node,
    clock,
    logger: nullLogger,
    sampleIntervalMs: 10_000,
    minSampleAgeMs: 1_000,
  });
  return { clock, runtime, node, stats };
}

test("StatsProvider reports a pod only after two samples, with the rate between them", async () => {
  const { clock, runtime, stats } = setup();
  runtime.addContainer("c1", "default", "burn", "spin", 3 * 1024 * 1024);
  assert.deepEqual(await stats.podUsage(), [], "one sample is not a rate");
  await clock.advance(10_000);
  runtime.burn("c1", 10e9);
  const [pod] = await stats.podUsage("default");
  assert.deepEqual(pod, {
    namespace: "default",
    name: "burn",
    timestampMs: clock.now(),
    windowMs: 10_000,
    containers: [{ name: "spin", cpuNanoCores: 1e9, memoryWorkingSetBytes: 3 * 1024 * 1024 }],
  });
  assert.deepEqual(await stats.podUsage("other"), []);
});

test("StatsProvider samples on demand only when the newest sample is old enough", async () => {
  const { clock, runtime, stats } = setup();
  runtime.addContainer("c1", "default", "burn", "spin");
  await stats.sample();
  await clock.advance(500);
  runtime.burn("c1", 1e9);
  assert.deepEqual(await stats.podUsage(), [], "a 500 ms old sample is fresh enough");
  await clock.advance(1_500);
  const [pod] = await stats.podUsage();
  assert.ok(pod !== undefined);
  assert.equal(pod.windowMs, 2_000);
  assert.deepEqual(
    pod.containers.map((x) => x.cpuNanoCores),
    [500e6],
  );
});

test("StatsProvider's periodic sample right after a query's sample is skipped (no short window)", async () => {
  const { clock, runtime, stats } = setup();
  runtime.addContainer("c1", "default", "burn", "spin");
  const ac = new AbortController();
  const running = stats.run(ac.signal);
  const settle = (): Promise<void> => new Promise((r) => setImmediate(r));
  await settle();
  await settle();
  // The periodic sample at 0, a query's sample at 9.5 s, the periodic one due at 10 s.
  await clock.advance(9_500);
  await stats.podUsage();
  await clock.advance(500);
  await settle();
  await settle();
  runtime.burn("c1", 1e9);
  const [pod] = await stats.podUsage();
  assert.equal(pod?.windowMs, 9_500, "the 10 s sample came 500 ms after the last and was skipped");
  ac.abort();
  await running;
});

test("StatsProvider leaves out pods with a container that has one sample only", async () => {
  const { clock, runtime, stats } = setup();
  runtime.addContainer("a", "default", "web", "app");
  await stats.sample();
  runtime.addContainer("b", "default", "web", "sidecar");
  await clock.advance(2_000);
  assert.deepEqual(await stats.podUsage(), []);
  await clock.advance(2_000);
  runtime.burn("b", 1e9);
  const [pod] = await stats.podUsage();
  assert.deepEqual(
    pod?.containers.map((c) => [c.name, c.cpuNanoCores]),
    [
      ["app", 0],
      ["sidecar", 500e6],
    ],
  );
});

test("StatsProvider forgets exited containers", async () => {
  const { clock, runtime, stats } = setup();
  runtime.addContainer("a", "default", "job", "main");
  await stats.sample();
  await clock.advance(2_000);
  assert.equal((await stats.podUsage()).length, 1);
  runtime.exit("a");
  await clock.advance(2_000);
  assert.deepEqual(await stats.podUsage(), []);
});

test("StatsProvider node usage and Prometheus gauges", async () => {
  const { clock, runtime, node, stats } = setup();
  runtime.addContainer("a", "default", "web", "app");
  runtime.addContainer("b", "default", "db", "app");
  assert.deepEqual(await stats.nodeUsage(), []);
  await clock.advance(4_000);
  node.cpuUsageNanos += 6e9;
  assert.deepEqual(await stats.nodeUsage(), [
    {
      name: "node1",
      timestampMs: clock.now(),
      windowMs: 4_000,
      cpuNanoCores: 1.5e9,
      memoryWorkingSetBytes: 1 << 30,
    },
  ]);
  const text = await stats.prometheusText();
  assert.match(text, /^# TYPE kubelet_running_pods gauge$/m);
  assert.match(text, /^kubelet_running_pods 2$/m);
  assert.match(text, /^kubelet_running_containers\{container_state="running"\} 2$/m);
});

test("StatsProvider.run samples every interval and settles on abort", async () => {
  const { clock, runtime, stats } = setup();
  runtime.addContainer("a", "default", "web", "app");
  const ac = new AbortController();
  const done = stats.run(ac.signal);
  while (clock.pendingSleepers === 0) await new Promise((r) => setImmediate(r));
  runtime.burn("a", 2.5e9);
  await clock.advance(10_000);
  while (clock.pendingSleepers === 0) await new Promise((r) => setImmediate(r));
  // The background samples are 10 s apart and recent, so the query does not sample again.
  const [pod] = await stats.podUsage();
  assert.ok(pod !== undefined);
  assert.equal(pod.windowMs, 10_000);
  assert.deepEqual(
    pod.containers.map((x) => x.cpuNanoCores),
    [250e6],
  );
  ac.abort();
  await done;
});
