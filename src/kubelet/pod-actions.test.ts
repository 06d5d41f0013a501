import assert from "node:assert/strict";
import { test } from "node:test";
import type { Pod } from "../api/index.js";
import { computePodActions, type PodActions } from "./pod-actions.js";
import type { RuntimePodStatus } from "./runtime-pod.js";
import { basePod, FakeProbeResults, instance, runtimeStatus, sandbox } from "./testing/fixtures.js";

interface Case {
  name: string;
  pod: (p: Pod) => void;
  rs: (p: Pod, probes: FakeProbeResults) => RuntimePodStatus;
  want: Partial<Omit<PodActions, "containersToKill">> & { kill?: string[] };
}

const init = (p: Pod, i: number) => p.spec.initContainers![i]!;
const ctr = (p: Pod, i: number) => p.spec.containers[i]!;
const withInits = (p: Pod): void => {
  p.spec.initContainers = [
    { name: "init1", image: "busybox" },
    { name: "init2", image: "busybox" },
  ];
};
const withSidecar = (p: Pod): void => {
  p.spec.initContainers = [
    { name: "side", image: "busybox", restartPolicy: "Always" },
    { name: "init2", image: "busybox" },
  ];
};

const cases: Case[] = [
  {
    name: "PL-SBX-5 no sandbox: create attempt 0 and start every container",
    pod: () => undefined,
    rs: () => runtimeStatus([], []),
    want: { createSandbox: true, killPod: true, sandboxAttempt: 0, containersToStart: [0] },
  },
  {
    name: "PL-SBX-5/6 sandbox not ready: recreate with attempt+1 and restart from init 0",
    pod: withInits,
    rs: (p) =>
      runtimeStatus(
        [sandbox(0, "notready")],
        [instance(init(p, 0), "init", { state: "exited", exitCode: 0 })],
      ),
    want: { createSandbox: true, killPod: true, sandboxAttempt: 1, initContainersToStart: [0] },
  },
  {
    name: "PL-SBX-5 two ready sandboxes: recreate",
    pod: () => undefined,
    rs: () => runtimeStatus([sandbox(0), sandbox(1)], []),
    want: { createSandbox: true, sandboxAttempt: 2 },
  },
  {
    name: "PL-SBX-7 restartPolicy Never with a dead sandbox after containers ran: only kill",
    pod: (p) => (p.spec.restartPolicy = "Never"),
    rs: (p) =>
      runtimeStatus(
        [sandbox(1, "notready")],
        [instance(ctr(p, 0), "regular", { state: "exited", exitCode: 137 })],
      ),
    want: { createSandbox: false, killPod: true, containersToStart: [] },
  },
  {
    name: "PL-SBX-7 OnFailure with every container succeeded: no new sandbox",
    pod: (p) => (p.spec.restartPolicy = "OnFailure"),
    rs: (p) =>
      runtimeStatus(
        [sandbox(0, "notready")],
        [instance(ctr(p, 0), "regular", { state: "exited", exitCode: 0 })],
      ),
    want: { createSandbox: false, killPod: true, containersToStart: [] },
  },
  {
    name: "PL-INIT-1 no init started yet: start the first init container only",
    pod: withInits,
    rs: () => runtimeStatus([sandbox(0)], []),
    want: {
      createSandbox: false,
      killPod: false,
      initContainersToStart: [0],
      containersToStart: [],
    },
  },
  {
    name: "PL-INIT-1 first init running: wait",
    pod: withInits,
    rs: (p) => runtimeStatus([sandbox(0)], [instance(init(p, 0), "init")]),
    want: { initContainersToStart: [], containersToStart: [], killPod: false },
  },
  {
    name: "PL-INIT-1 first init exited 0: start the second",
    pod: withInits,
    rs: (p) =>
      runtimeStatus([sandbox(0)], [instance(init(p, 0), "init", { state: "exited", exitCode: 0 })]),
    want: { initContainersToStart: [1], containersToStart: [] },
  },
  {
    name: "PL-INIT-1 every init done: start regular containers",
    pod: withInits,
    rs: (p) =>
      runtimeStatus(
        [sandbox(0)],
        [
          instance(init(p, 0), "init", { state: "exited", exitCode: 0 }),
          instance(init(p, 1), "init", { state: "exited", exitCode: 0 }),
        ],
      ),
    want: { initContainersToStart: [], containersToStart: [0] },
  },
  {
    name: "PL-INIT-2 init failed under Never: kill the pod",
    pod: (p) => {
      withInits(p);
      p.spec.restartPolicy = "Never";
    },
    rs: (p) =>
      runtimeStatus([sandbox(0)], [instance(init(p, 0), "init", { state: "exited", exitCode: 1 })]),
    want: { killPod: true, initContainersToStart: [], containersToStart: [] },
  },
  {
    name: "PL-INIT-2 init failed under Always: restart the same init container",
    pod: withInits,
    rs: (p) =>
      runtimeStatus([sandbox(0)], [instance(init(p, 0), "init", { state: "exited", exitCode: 1 })]),
    want: { killPod: false, initContainersToStart: [0] },
  },
  {
    name: "PL-INIT-3 regular container running: init containers are not re-run",
    pod: withInits,
    rs: (p) => runtimeStatus([sandbox(0)], [instance(ctr(p, 0), "regular")]),
    want: { initContainersToStart: [], containersToStart: [], killPod: false },
  },
  {
    name: "PL-INIT-4 init container stuck in created: start it again",
    pod: withInits,
    rs: (p) => runtimeStatus([sandbox(0)], [instance(init(p, 0), "init", { state: "created" })]),
    want: { initContainersToStart: [0] },
  },
  {
    name: "PL-INIT-4 unknown init container: killed before restart",
    pod: withInits,
    rs: (p) => runtimeStatus([sandbox(0)], [instance(init(p, 0), "init", { state: "unknown" })]),
    want: {
      initContainersToStart: [0],
      kill: [`init1: Init container is in "unknown" state, try killing it before restart`],
    },
  },
  {
    name: "PL-SIDE-1 sidecar running without startup probe: next init starts",
    pod: withSidecar,
    rs: (p) => runtimeStatus([sandbox(0)], [instance(init(p, 0), "init")]),
    want: { initContainersToStart: [1], containersToStart: [] },
  },
  {
    name: "PL-SIDE-1 sidecar startup probe without result: nothing after it starts",
    pod: (p) => {
      withSidecar(p);
      init(p, 0).startupProbe = { exec: { command: ["true"] } };
    },
    rs: (p) => runtimeStatus([sandbox(0)], [instance(init(p, 0), "init")]),
    want: { initContainersToStart: [], containersToStart: [] },
  },
  {
    name: "PL-SIDE-3 sidecar failing startup probe: killed and restarted",
    pod: (p) => {
      withSidecar(p);
      init(p, 0).startupProbe = { exec: { command: ["true"] } };
    },
    rs: (p, probes) => {
      const s = instance(init(p, 0), "init");
      probes.set(s.id, "startup", "Failure");
      return runtimeStatus([sandbox(0)], [s]);
    },
    want: { initContainersToStart: [0], kill: ["side: Init container side failed startup probe"] },
  },
  {
    name: "PL-SIDE-3 exited sidecar is restarted regardless of restartPolicy",
    pod: (p) => {
      withSidecar(p);
      p.spec.restartPolicy = "Never";
    },
    rs: (p) =>
      runtimeStatus(
        [sandbox(0)],
        [
          instance(init(p, 0), "init", { state: "exited", exitCode: 0 }),
          instance(init(p, 1), "init", { state: "exited", exitCode: 0 }),
          instance(ctr(p, 0), "regular"),
        ],
      ),
    want: { initContainersToStart: [0], containersToStart: [], killPod: false },
  },
  {
    name: "PL-SIDE-5 Never pod whose app exited: kill the pod, do not restart sidecars",
    pod: (p) => {
      withSidecar(p);
      p.spec.restartPolicy = "Never";
    },
    rs: (p) =>
      runtimeStatus(
        [sandbox(0)],
        [
          instance(init(p, 0), "init"),
          instance(init(p, 1), "init", { state: "exited", exitCode: 0 }),
          instance(ctr(p, 0), "regular", { state: "exited", exitCode: 0 }),
        ],
      ),
    want: { killPod: true, initContainersToStart: [], containersToStart: [] },
  },
  {
    name: "PL-RUN-3 exited container under Always: restart",
    pod: () => undefined,
    rs: (p) =>
      runtimeStatus(
        [sandbox(0)],
        [instance(ctr(p, 0), "regular", { state: "exited", exitCode: 0 })],
      ),
    want: { containersToStart: [0], killPod: false },
  },
  {
    name: "PL-RUN-3 OnFailure exit 0: not restarted, pod killed (PL-RUN-7)",
    pod: (p) => (p.spec.restartPolicy = "OnFailure"),
    rs: (p) =>
      runtimeStatus(
        [sandbox(0)],
        [instance(ctr(p, 0), "regular", { state: "exited", exitCode: 0 })],
      ),
    want: { containersToStart: [], killPod: true },
  },
  {
    name: "PL-RUN-3 OnFailure exit 2: restarted",
    pod: (p) => (p.spec.restartPolicy = "OnFailure"),
    rs: (p) =>
      runtimeStatus(
        [sandbox(0)],
        [instance(ctr(p, 0), "regular", { state: "exited", exitCode: 2 })],
      ),
    want: { containersToStart: [0], killPod: false },
  },
  {
    name: "PL-RUN-3 running container is kept",
    pod: () => undefined,
    rs: (p) => runtimeStatus([sandbox(0)], [instance(ctr(p, 0), "regular")]),
    want: { containersToStart: [], killPod: false, kill: [] },
  },
  {
    name: "PL-RUN-4/5 spec hash changed: kill and restart even under Never",
    pod: (p) => (p.spec.restartPolicy = "Never"),
    rs: (p) => runtimeStatus([sandbox(0)], [instance(ctr(p, 0), "regular", { hash: "deadbeef" })]),
    want: {
      containersToStart: [0],
      kill: ["app: Container app definition changed, will be restarted"],
    },
  },
  {
    name: "PL-RUN-4 liveness failure: kill and restart",
    pod: () => undefined,
    rs: (p, probes) => {
      const c = instance(ctr(p, 0), "regular");
      probes.set(c.id, "liveness", "Failure");
      return runtimeStatus([sandbox(0)], [c]);
    },
    want: {
      containersToStart: [0],
      kill: ["app: Container app failed liveness probe, will be restarted"],
    },
  },
  {
    name: "PL-RUN-4 startup failure under Never: kill without restart, pod killed",
    pod: (p) => (p.spec.restartPolicy = "Never"),
    rs: (p, probes) => {
      const c = instance(ctr(p, 0), "regular");
      probes.set(c.id, "startup", "Failure");
      return runtimeStatus([sandbox(0)], [c]);
    },
    want: {
      containersToStart: [],
      killPod: true,
      kill: ["app: Container app failed startup probe"],
    },
  },
  {
    name: "PL-RUN-6 unknown container: killed before restart",
    pod: () => undefined,
    rs: (p) => runtimeStatus([sandbox(0)], [instance(ctr(p, 0), "regular", { state: "unknown" })]),
    want: {
      containersToStart: [0],
      kill: [`app: Container is in "unknown" state, try killing it before restart`],
    },
  },
  {
    name: "PL-EPH-4 ephemeral container starts before initialization finishes",
    pod: (p) => {
      withInits(p);
      p.spec.ephemeralContainers = [{ name: "debug", image: "busybox" }];
    },
    rs: (p) => runtimeStatus([sandbox(0)], [instance(init(p, 0), "init")]),
    want: { ephemeralToStart: [0], initContainersToStart: [] },
  },
  {
    name: "PL-EPH-5 exited ephemeral container is never restarted",
    pod: (p) => (p.spec.ephemeralContainers = [{ name: "debug", image: "busybox" }]),
    rs: (p) =>
      runtimeStatus(
        [sandbox(0)],
        [
          instance(ctr(p, 0), "regular"),
          instance(p.spec.ephemeralContainers![0]!, "ephemeral", { state: "exited", exitCode: 1 }),
        ],
      ),
    want: { ephemeralToStart: [], containersToStart: [] },
  },
];

for (const c of cases) {
  test(`computePodActions ${c.name}`, () => {
    const pod = basePod(c.pod);
    const probes = new FakeProbeResults();
    const rs = c.rs(pod, probes);
    const got = computePodActions(pod, rs, { probes });
    const { kill, ...want } = c.want;
    for (const [k, v] of Object.entries(want))
      assert.deepEqual(got[k as keyof PodActions], v, `field ${k}`);
    if (kill !== undefined)
      assert.deepEqual(
        got.containersToKill.map((k) => `${k.name}: ${k.message}`),
        kill,
      );
  });
}
