import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import type { Pod, Probe } from "../../api/index.js";
import type { ContainerId } from "../../runtime/index.js";
import { FakeClock, nullLogger } from "../../util/index.js";
import { ProberManager, type ProbedContainer } from "./index.js";
import { FakeProbeExec, FakeRecorder } from "./testing/fake-probe-exec.js";

const ID1 = "c1".padEnd(64, "0") as ContainerId;
const ID2 = "c2".padEnd(64, "0") as ContainerId;

interface Harness {
  clock: FakeClock;
  exec: FakeProbeExec;
  recorder: FakeRecorder;
  prober: ProberManager;
  changes: string[];
  tick(ms: number): Promise<void>;
}

function harness(t: TestContext): Harness {
  const clock = new FakeClock();
  const exec = new FakeProbeExec();
  const recorder = new FakeRecorder();
  const changes: string[] = [];
  const prober = new ProberManager({
    exec,
    clock,
    logger: nullLogger,
    recorder,
    onResult: (uid) => changes.push(uid),
    random: () => 0,
  });
  const ac = new AbortController();
  const running = prober.run(ac.signal);
  t.after(async () => {
    ac.abort();
    await running;
  });
  const flush = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
  };
  return {
    clock,
    exec,
    recorder,
    prober,
    changes,
    tick: async (ms) => {
      await flush();
      await clock.advance(ms);
      await flush();
    },
  };
}

const execProbe = (over: Partial<Probe> = {}): Probe => ({
  exec: { command: ["check", "$(MODE)", "$(SECRET)"] },
  periodSeconds: 1,
  ...over,
});

function pod(mutate?: (p: Pod) => void): Pod {
  const p: Pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web", namespace: "default", uid: "uid-1" },
    spec: {
      restartPolicy: "Always",
      containers: [
        {
          name: "app",
          env: [
            { name: "MODE", value: "fast" },
            { name: "SECRET", valueFrom: { secretKeyRef: { name: "s", key: "k" } } },
          ],
        },
      ],
    },
  };
  mutate?.(p);
  return p;
}

function running(id: ContainerId, startedAtMs: number): ProbedContainer[] {
  return [{ name: "app", id, state: "running", startedAtMs }];
}

test("PL-PROBE-1 PL-PROBE-4 PL-PROBE-8 liveness threshold, events and on-hold", async (t) => {
  const h = harness(t);
  const p = pod((p) => (p.spec.containers[0]!.livenessProbe = execProbe()));
  h.exec.fallback = { exitCode: 1, stdout: Buffer.from("boom") };
  h.prober.updatePod(p, running(ID1, h.clock.now()), "10.0.0.5");
  await h.tick(0);
  assert.equal(h.prober.result(ID1, "liveness"), "Success");
  assert.deepEqual(h.exec.calls[0], { id: ID1, argv: ["check", "fast", ""], timeoutMs: 1000 });
  await h.tick(1000);
  assert.equal(h.prober.result(ID1, "liveness"), "Success");
  await h.tick(1000);
  assert.equal(h.prober.result(ID1, "liveness"), "Failure");
  assert.deepEqual(
    h.recorder.events.map((e) => [e.fieldPath, e.type, e.reason, e.message]),
    Array(3).fill(["spec.containers{app}", "Warning", "Unhealthy", "Liveness probe failed: boom"]),
  );
  assert.deepEqual(h.changes, ["uid-1", "uid-1"]);
  // On hold until a new container instance appears.
  await h.tick(5000);
  assert.equal(h.exec.calls.length, 3);
  h.exec.fallback = { exitCode: 0 };
  h.prober.updatePod(p, running(ID2, h.clock.now()), "10.0.0.5");
  await h.tick(1000);
  assert.equal(h.exec.calls.length, 4);
  assert.equal(h.prober.result(ID2, "liveness"), "Success");
  assert.equal(h.prober.result(ID1, "liveness"), undefined);
});

test("PL-PROBE-1 readiness starts as Failure and needs successThreshold", async (t) => {
  const h = harness(t);
  const p = pod((p) => (p.spec.containers[0]!.readinessProbe = execProbe({ successThreshold: 2 })));
  h.prober.updatePod(p, running(ID1, h.clock.now()), "10.0.0.5");
  await h.tick(0);
  assert.equal(h.prober.result(ID1, "readiness"), "Failure");
  await h.tick(1000);
  assert.equal(h.prober.result(ID1, "readiness"), "Success");
  h.exec.fallback = { exitCode: 1 };
  await h.tick(1000);
  await h.tick(1000);
  assert.equal(h.prober.result(ID1, "readiness"), "Success");
  await h.tick(1000);
  // Readiness failures never put the worker on hold.
  assert.equal(h.prober.result(ID1, "readiness"), "Failure");
  h.exec.fallback = { exitCode: 0 };
  await h.tick(1000);
  await h.tick(1000);
  assert.equal(h.prober.result(ID1, "readiness"), "Success");
});

test("PL-PROBE-3 startup gating and PL-PROBE-2 initial delay", async (t) => {
  const h = harness(t);
  const p = pod((p) => {
    const c = p.spec.containers[0]!;
    c.startupProbe = execProbe({ exec: { command: ["startup"] }, initialDelaySeconds: 2 });
    c.readinessProbe = execProbe({ exec: { command: ["ready"] } });
  });
  h.prober.updatePod(p, running(ID1, h.clock.now()), "10.0.0.5");
  h.exec.script.push({ exitCode: 1 });
  await h.tick(0);
  assert.equal(h.prober.result(ID1, "startup"), "Unknown");
  assert.equal(h.exec.calls.length, 0);
  assert.equal(h.prober.isStarted(p.spec.containers[0]!, running(ID1, 0)[0]!), false);
  await h.tick(1000);
  assert.equal(h.exec.calls.length, 0);
  await h.tick(1000);
  assert.deepEqual(
    h.exec.calls.map((c) => c.argv[0]),
    ["startup"],
  );
  await h.tick(1000);
  assert.equal(h.prober.result(ID1, "startup"), "Success");
  assert.equal(h.prober.isStarted(p.spec.containers[0]!, running(ID1, 0)[0]!), true);
  await h.tick(1000);
  await h.tick(1000);
  // The readiness worker's tick at the same instant already sees the container started.
  assert.deepEqual(
    h.exec.calls.map((c) => c.argv[0]),
    ["startup", "startup", "ready", "ready", "ready"],
  );
  assert.equal(h.prober.result(ID1, "readiness"), "Success");
});

test("PL-PROBE-2 exited container under restartPolicy Never stops the worker", async (t) => {
  const h = harness(t);
  const p = pod((p) => {
    p.spec.restartPolicy = "Never";
    p.spec.containers[0]!.readinessProbe = execProbe();
  });
  h.prober.updatePod(p, running(ID1, h.clock.now()), "10.0.0.5");
  await h.tick(0);
  assert.equal(h.prober.result(ID1, "readiness"), "Success");
  h.prober.updatePod(p, [{ name: "app", id: ID1, state: "exited" }], "10.0.0.5");
  await h.tick(1000);
  // The worker stopped and dropped its result; it is not restarted by later updates.
  assert.equal(h.prober.result(ID1, "readiness"), undefined);
  h.prober.updatePod(p, [{ name: "app", id: ID1, state: "exited" }], "10.0.0.5");
  await h.tick(5000);
  assert.equal(h.exec.calls.length, 1);
});

test("PL-PROBE-6 deletion: liveness stores Success and stops, readiness keeps running", async (t) => {
  const h = harness(t);
  const p = pod((p) => {
    p.spec.containers[0]!.livenessProbe = execProbe({ exec: { command: ["live"] } });
    p.spec.containers[0]!.readinessProbe = execProbe({ exec: { command: ["ready"] } });
  });
  h.prober.updatePod(p, running(ID1, h.clock.now()), "10.0.0.5");
  await h.tick(0);
  const deleting = structuredClone(p);
  deleting.metadata.deletionTimestamp = "2025-01-01T00:00:00Z";
  h.prober.updatePod(deleting, running(ID1, 0), "10.0.0.5");
  h.exec.calls.length = 0;
  await h.tick(1000);
  await h.tick(1000);
  assert.deepEqual(
    h.exec.calls.map((c) => c.argv[0]),
    ["ready", "ready"],
  );
});

test("PL-PROBE-2 terminal pod phase stops workers", async (t) => {
  const h = harness(t);
  const p = pod((p) => (p.spec.containers[0]!.readinessProbe = execProbe()));
  h.prober.updatePod(p, running(ID1, h.clock.now()), "10.0.0.5");
  await h.tick(0);
  const done = structuredClone(p);
  done.status = { phase: "Succeeded" };
  h.prober.updatePod(done, running(ID1, 0), "10.0.0.5");
  await h.tick(3000);
  assert.equal(h.exec.calls.length, 1);
});

test("PL-PROBE-7 probe errors are retried and discarded", async (t) => {
  const h = harness(t);
  const p = pod((p) => (p.spec.containers[0]!.livenessProbe = execProbe({ failureThreshold: 1 })));
  h.exec.fallback = new Error("container not running");
  h.prober.updatePod(p, running(ID1, h.clock.now()), "10.0.0.5");
  await h.tick(0);
  assert.equal(h.exec.calls.length, 3);
  assert.equal(h.prober.result(ID1, "liveness"), "Success");
  assert.deepEqual(
    h.recorder.events.map((e) => e.message),
    ["Liveness probe errored and resulted in unknown state: container not running"],
  );
});

test("PL-PROBE-9 PL-EDGE-22 exec timeout output", async (t) => {
  const h = harness(t);
  const p = pod(
    (p) =>
      (p.spec.containers[0]!.readinessProbe = execProbe({ exec: { command: ["sleep", "5"] } })),
  );
  h.exec.fallback = { timedOut: true, exitCode: -1 };
  h.prober.updatePod(p, running(ID1, h.clock.now()), "10.0.0.5");
  await h.tick(0);
  assert.deepEqual(
    h.recorder.events.map((e) => e.message),
    ['Readiness probe failed: command "sleep 5" timed out'],
  );
});

test("PL-PROBE-1 sidecar probes use the initContainers field path; removePod stops everything", async (t) => {
  const h = harness(t);
  const p = pod((p) => {
    p.spec.initContainers = [
      { name: "side", restartPolicy: "Always", readinessProbe: execProbe() },
    ];
  });
  h.exec.fallback = { exitCode: 1, stdout: Buffer.from("no") };
  h.prober.updatePod(
    p,
    [{ name: "side", id: ID1, state: "running", startedAtMs: h.clock.now() }],
    undefined,
  );
  await h.tick(0);
  assert.equal(h.recorder.events[0]?.fieldPath, "spec.initContainers{side}");
  h.prober.removePod("uid-1");
  await h.tick(3000);
  assert.equal(h.exec.calls.length, 1);
  assert.equal(h.prober.result(ID1, "readiness"), undefined);
});

test("PL-PROBE-14 first probe waits a random part of the period after start", async (t) => {
  const clock = new FakeClock();
  const exec = new FakeProbeExec();
  const prober = new ProberManager({
    exec,
    clock,
    logger: nullLogger,
    recorder: new FakeRecorder(),
    onResult: () => undefined,
    random: () => 0.5,
  });
  const ac = new AbortController();
  const running_ = prober.run(ac.signal);
  t.after(async () => {
    ac.abort();
    await running_;
  });
  prober.updatePod(
    pod((p) => (p.spec.containers[0]!.readinessProbe = execProbe({ periodSeconds: 10 }))),
    running(ID1, 0),
    "1.2.3.4",
  );
  await clock.advance(4999);
  assert.equal(exec.calls.length, 0);
  await clock.advance(1);
  await new Promise<void>((r) => setImmediate(r));
  assert.equal(exec.calls.length, 1);
});
