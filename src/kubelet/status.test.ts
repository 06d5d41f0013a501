import assert from "node:assert/strict";
import { test } from "node:test";
import type { ContainerStatus, Pod, PodStatus } from "../api/index.js";
import type { RuntimePodStatus } from "./runtime-pod.js";
import { computePhase, generatePodStatus, type StatusContext } from "./status.js";
import { basePod, FakeProbeResults, instance, runtimeStatus, sandbox } from "./testing/fixtures.js";

const T0 = Date.UTC(2025, 0, 1);

function ctx(over: Partial<StatusContext> = {}): StatusContext {
  return {
    nowMs: T0 + 60_000,
    probes: new FakeProbeResults(),
    nodeIPs: ["192.168.1.10"],
    startFailures: new Map(),
    terminationMessages: new Map(),
    isTerminating: false,
    ...over,
  };
}

const running = (name: string): ContainerStatus => ({
  name,
  image: "x",
  imageID: "",
  ready: true,
  restartCount: 0,
  started: true,
  state: { running: { startedAt: "2025-01-01T00:00:00Z" } },
});
const terminated = (name: string, exitCode: number): ContainerStatus => ({
  name,
  image: "x",
  imageID: "",
  ready: false,
  restartCount: 0,
  state: { terminated: { exitCode } },
});
const waitingAfter = (name: string, exitCode: number): ContainerStatus => ({
  name,
  image: "x",
  imageID: "",
  ready: false,
  restartCount: 1,
  state: { waiting: { reason: "CrashLoopBackOff" } },
  lastState: { terminated: { exitCode } },
});
const waiting = (name: string): ContainerStatus => ({
  name,
  image: "x",
  imageID: "",
  ready: false,
  restartCount: 0,
  state: { waiting: { reason: "ContainerCreating" } },
});

interface PhaseCase {
  name: string;
  pod: (p: Pod) => void;
  init?: ContainerStatus[];
  containers: ContainerStatus[];
  isTerminating?: boolean;
  want: string;
}

const phaseCases: PhaseCase[] = [
  {
    name: "PL-PHASE-4 waiting container → Pending",
    pod: () => undefined,
    containers: [waiting("app")],
    want: "Pending",
  },
  {
    name: "PL-PHASE-4 running → Running",
    pod: () => undefined,
    containers: [running("app")],
    want: "Running",
  },
  {
    name: "PL-PHASE-5 Always with a stopped container → Running",
    pod: () => undefined,
    containers: [terminated("app", 1)],
    want: "Running",
  },
  {
    name: "PL-PHASE-5 Never with exit 0 → Succeeded",
    pod: (p) => (p.spec.restartPolicy = "Never"),
    containers: [terminated("app", 0)],
    want: "Succeeded",
  },
  {
    name: "PL-PHASE-5 Never with exit 1 → Failed",
    pod: (p) => (p.spec.restartPolicy = "Never"),
    containers: [terminated("app", 1)],
    want: "Failed",
  },
  {
    name: "PL-PHASE-5 OnFailure crash-looping → Running",
    pod: (p) => (p.spec.restartPolicy = "OnFailure"),
    containers: [waitingAfter("app", 2)],
    want: "Running",
  },
  {
    name: "PL-PHASE-5 terminating Always pod with exit 137 → Failed",
    pod: () => undefined,
    containers: [terminated("app", 137)],
    isTerminating: true,
    want: "Failed",
  },
  {
    name: "PL-PHASE-5 terminating Always pod with exit 0 → Succeeded",
    pod: () => undefined,
    containers: [terminated("app", 0)],
    isTerminating: true,
    want: "Succeeded",
  },
  {
    name: "PL-PHASE-3 failed init under Never → Failed",
    pod: (p) => {
      p.spec.restartPolicy = "Never";
      p.spec.initContainers = [{ name: "i", image: "x" }];
    },
    init: [terminated("i", 1)],
    containers: [waiting("app")],
    want: "Failed",
  },
  {
    name: "PL-PHASE-1 crash-looping init under Always → Pending",
    pod: (p) => (p.spec.initContainers = [{ name: "i", image: "x" }]),
    init: [waitingAfter("i", 1)],
    containers: [waiting("app")],
    want: "Pending",
  },
  {
    name: "PL-PHASE-2 sidecar still running and app done under Never → Running until killed",
    pod: (p) => {
      p.spec.restartPolicy = "Never";
      p.spec.initContainers = [{ name: "s", image: "x", restartPolicy: "Always" }];
    },
    init: [running("s")],
    containers: [terminated("app", 0)],
    want: "Running",
  },
  {
    name: "PL-SIDE-5 stopped sidecar is ignored: app done under Never → Succeeded",
    pod: (p) => {
      p.spec.restartPolicy = "Never";
      p.spec.initContainers = [{ name: "s", image: "x", restartPolicy: "Always" }];
    },
    init: [terminated("s", 137)],
    containers: [terminated("app", 0)],
    want: "Succeeded",
  },
];

for (const c of phaseCases) {
  test(`computePhase ${c.name}`, () => {
    const pod = basePod(c.pod);
    assert.equal(computePhase(pod, c.init ?? [], c.containers, c.isTerminating ?? false), c.want);
  });
}

function gen(pod: Pod, rs: RuntimePodStatus, over: Partial<StatusContext> = {}): PodStatus {
  return generatePodStatus(pod, rs, ctx(over));
}

test("PL-CST-1 before anything runs every container waits with ContainerCreating", () => {
  const st = gen(basePod(), runtimeStatus([], []));
  assert.deepEqual(st.containerStatuses?.[0]?.state, { waiting: { reason: "ContainerCreating" } });
  assert.equal(st.phase, "Pending");
  const c = st.conditions?.find((x) => x.type === "PodReadyToStartContainers");
  assert.equal(c?.status, "False");
});

test("PL-CST-1 with init containers the default reason is PodInitializing", () => {
  const pod = basePod((p) => (p.spec.initContainers = [{ name: "i", image: "x" }]));
  const st = gen(pod, runtimeStatus([], []));
  assert.equal(st.initContainerStatuses?.[0]?.state?.waiting?.reason, "PodInitializing");
  assert.equal(st.containerStatuses?.[0]?.state?.waiting?.reason, "PodInitializing");
});

test("PL-CST-6 container statuses are sorted by name, init statuses keep spec order", () => {
  const pod = basePod((p) => {
    p.spec.containers = [
      { name: "zeta", image: "x" },
      { name: "alpha", image: "x" },
    ];
    p.spec.initContainers = [
      { name: "i2", image: "x" },
      { name: "i1", image: "x" },
    ];
  });
  const st = gen(pod, runtimeStatus([], []));
  assert.deepEqual(
    st.containerStatuses?.map((s) => s.name),
    ["alpha", "zeta"],
  );
  assert.deepEqual(
    st.initContainerStatuses?.map((s) => s.name),
    ["i2", "i1"],
  );
});

test("PL-CST-4 lastState is the second-newest instance, restartCount from the newest", () => {
  const pod = basePod();
  const spec = pod.spec.containers[0]!;
  const rs = runtimeStatus(
    [sandbox(0)],
    [
      instance(spec, "regular", {
        state: "exited",
        exitCode: 2,
        restartCount: 0,
        startedAt: T0,
        finishedAt: T0 + 5000,
      }),
      instance(spec, "regular", { state: "running", restartCount: 1 }),
    ],
  );
  const cs = gen(pod, rs).containerStatuses?.[0];
  assert.equal(cs?.restartCount, 1);
  assert.equal(cs.lastState?.terminated?.exitCode, 2);
  assert.equal(cs.lastState.terminated.reason, "Error");
  assert.equal(cs.lastState.terminated.finishedAt, "2025-01-01T00:00:05Z");
});

test("PL-CST-8 a readiness probe without result keeps ready false; Ready condition message", () => {
  const pod = basePod(
    (p) => (p.spec.containers[0]!.readinessProbe = { exec: { command: ["true"] } }),
  );
  const rs = runtimeStatus([sandbox(0)], [instance(pod.spec.containers[0]!, "regular")]);
  const st = gen(pod, rs);
  assert.equal(st.containerStatuses?.[0]?.ready, false);
  assert.equal(st.containerStatuses[0].started, true);
  const ready = st.conditions?.find((c) => c.type === "Ready");
  assert.deepEqual(
    { status: ready?.status, reason: ready?.reason, message: ready?.message },
    {
      status: "False",
      reason: "ContainersNotReady",
      message: "containers with unready status: [app]",
    },
  );
});

test("PL-COND-5 readiness gates that do not exist keep Ready False", () => {
  const pod = basePod((p) => (p.spec.readinessGates = [{ conditionType: "example.com/gate" }]));
  const rs = runtimeStatus([sandbox(0)], [instance(pod.spec.containers[0]!, "regular")]);
  const ready = gen(pod, rs).conditions?.find((c) => c.type === "Ready");
  assert.equal(ready?.reason, "ReadinessGatesNotReady");
  assert.equal(
    ready.message,
    'corresponding condition of pod readiness gate "example.com/gate" does not exist.',
  );
});

test("PL-COND-6 lastTransitionTime only changes with the status", () => {
  const pod = basePod();
  const rs = runtimeStatus([sandbox(0)], [instance(pod.spec.containers[0]!, "regular")]);
  const first = gen(pod, rs, { nowMs: T0 });
  pod.status = first;
  const second = gen(pod, rs, { nowMs: T0 + 3_600_000 });
  for (const c of second.conditions ?? [])
    assert.equal(
      c.lastTransitionTime,
      first.conditions?.find((x) => x.type === c.type)?.lastTransitionTime,
    );
  assert.equal(second.conditions?.[0]?.lastProbeTime, null);
});

test("PL-PHASE-6 a terminal phase is never left", () => {
  const pod = basePod((p) => {
    p.status = { phase: "Succeeded" };
  });
  const rs = runtimeStatus(
    [sandbox(0)],
    [instance(pod.spec.containers[0]!, "regular", { state: "exited", exitCode: 1 })],
  );
  assert.equal(gen(pod, rs).phase, "Succeeded");
});

test("PL-PHASE-10 a terminal phase waits until nothing runs", () => {
  const pod = basePod((p) => {
    p.spec.restartPolicy = "Never";
    p.spec.containers.push({ name: "b", image: "x" });
    p.status = { phase: "Running" };
  });
  const rs = runtimeStatus(
    [sandbox(0)],
    [
      instance(pod.spec.containers[0]!, "regular", { state: "exited", exitCode: 1 }),
      instance(pod.spec.containers[1]!, "regular", { state: "running" }),
    ],
  );
  assert.equal(gen(pod, rs, { isTerminating: true }).phase, "Running");
});

test("PL-TERM-13 terminated messages are capped to the pod-wide share", () => {
  const pod = basePod((p) => (p.spec.restartPolicy = "Never"));
  const c = instance(pod.spec.containers[0]!, "regular", { state: "exited", exitCode: 1 });
  const rs = runtimeStatus([sandbox(0)], [c]);
  const st = gen(pod, rs, { terminationMessages: new Map([[c.id, "y".repeat(20_000)]]) });
  assert.equal(st.containerStatuses?.[0]?.state?.terminated?.message?.length, 12288);
});

test("PL-CST-3 a cached start failure replaces the state while the container will restart", () => {
  const pod = basePod();
  const c = instance(pod.spec.containers[0]!, "regular", { state: "exited", exitCode: 1 });
  const st = gen(pod, runtimeStatus([sandbox(0)], [c]), {
    startFailures: new Map([["app", { reason: "CrashLoopBackOff", message: "back-off 10s …" }]]),
  });
  const cs = st.containerStatuses?.[0];
  assert.deepEqual(cs?.state, {
    waiting: { reason: "CrashLoopBackOff", message: "back-off 10s …" },
  });
  assert.equal(cs.lastState?.terminated?.exitCode, 1);
});
