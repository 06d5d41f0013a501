import assert from "node:assert/strict";
import { test } from "node:test";
import { parseMilliCpu, parseQuantity, type Node, type Pod } from "../api/index.js";
import { findNodeForPod, podRequests, type FitResult } from "./fit.js";

function baseNode(name = "node1"): Node {
  return {
    metadata: { name, labels: { "kubernetes.io/hostname": name } },
    spec: {},
    status: {
      allocatable: { cpu: "2", memory: "4Gi", pods: "110" },
      conditions: [{ type: "Ready", status: "True" }],
    },
  };
}

function basePod(): Pod {
  return {
    metadata: { name: "web", namespace: "default" },
    spec: {
      containers: [{ name: "c1", resources: { requests: { cpu: "500m", memory: "1Gi" } } }],
    },
  };
}

function bound(name: string, cpu: string, phase?: "Running" | "Succeeded"): Pod {
  const p = basePod();
  p.metadata.name = name;
  p.spec.nodeName = "node1";
  p.spec.containers[0]!.resources = { requests: { cpu } };
  if (phase !== undefined) p.status = { phase };
  return p;
}

const PREEMPT_NOT_HELPFUL =
  "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.";

const cases: {
  name: string;
  pod?: (p: Pod) => void;
  node?: (n: Node) => void;
  assigned?: Pod[];
  want: FitResult;
}[] = [
  { name: "fits an empty ready node", want: { fits: true, nodeName: "node1" } },
  {
    name: "nodeSelector mismatch",
    pod: (p) => (p.spec.nodeSelector = { disk: "ssd" }),
    want: {
      fits: false,
      message: `0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. ${PREEMPT_NOT_HELPFUL}`,
    },
  },
  {
    name: "nodeSelector match",
    pod: (p) => (p.spec.nodeSelector = { "kubernetes.io/hostname": "node1" }),
    want: { fits: true, nodeName: "node1" },
  },
  {
    name: "untolerated NoSchedule taint",
    node: (n) => (n.spec = { taints: [{ key: "dedicated", value: "gpu", effect: "NoSchedule" }] }),
    want: {
      fits: false,
      message: `0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}. ${PREEMPT_NOT_HELPFUL}`,
    },
  },
  {
    name: "tolerated taint",
    node: (n) => (n.spec = { taints: [{ key: "dedicated", value: "gpu", effect: "NoSchedule" }] }),
    pod: (p) => (p.spec.tolerations = [{ key: "dedicated", operator: "Exists" }]),
    want: { fits: true, nodeName: "node1" },
  },
  {
    name: "PreferNoSchedule taints do not filter",
    node: (n) => (n.spec = { taints: [{ key: "x", effect: "PreferNoSchedule" }] }),
    want: { fits: true, nodeName: "node1" },
  },
  {
    name: "not-ready node",
    node: (n) => (n.status!.conditions = [{ type: "Ready", status: "False" }]),
    want: {
      fits: false,
      message: `0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }. ${PREEMPT_NOT_HELPFUL}`,
    },
  },
  {
    name: "cordoned node",
    node: (n) => (n.spec = { unschedulable: true }),
    want: {
      fits: false,
      message: `0/1 nodes are available: 1 node(s) were unschedulable. ${PREEMPT_NOT_HELPFUL}`,
    },
  },
  {
    name: "insufficient cpu and memory counting bound pods, ignoring terminal ones",
    pod: (p) => (p.spec.containers[0]!.resources = { requests: { cpu: "1", memory: "5Gi" } }),
    assigned: [bound("a", "1500m"), bound("done", "2", "Succeeded")],
    want: {
      fits: false,
      message:
        "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory. " +
        "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
    },
  },
  {
    name: "fits exactly the remaining cpu",
    assigned: [bound("a", "1500m")],
    want: { fits: true, nodeName: "node1" },
  },
  {
    name: "too many pods",
    node: (n) => (n.status!.allocatable!["pods"] = "1"),
    assigned: [bound("a", "0")],
    want: {
      fits: false,
      message:
        "0/1 nodes are available: 1 Too many pods. " +
        "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
    },
  },
];

for (const c of cases) {
  test(`findNodeForPod: ${c.name}`, () => {
    const pod = basePod();
    const node = baseNode();
    c.pod?.(pod);
    c.node?.(node);
    assert.deepEqual(findNodeForPod(pod, [node], c.assigned ?? []), c.want);
  });
}

test("findNodeForPod with no nodes", () => {
  assert.deepEqual(findNodeForPod(basePod(), [], []), {
    fits: false,
    message: "no nodes available to schedule pods",
  });
});

test("PL-INIT-10 podRequests takes the max of init containers and the sum of the rest", () => {
  const pod = basePod();
  pod.spec.containers = [
    { name: "a", resources: { requests: { cpu: "100m" } } },
    { name: "b", resources: { limits: { cpu: "200m" } } },
  ];
  pod.spec.initContainers = [
    { name: "side", restartPolicy: "Always", resources: { requests: { cpu: "50m" } } },
    { name: "big", resources: { requests: { cpu: "1", memory: "64Mi" } } },
  ];
  assert.deepEqual(podRequests(pod), { cpu: 1050, memory: 64 * 2 ** 20 });
  pod.spec.overhead = { cpu: "10m" };
  assert.equal(podRequests(pod)["cpu"], 1060);
});

test("parseQuantity handles decimal, binary and exponent forms", () => {
  assert.equal(parseQuantity("64Mi"), 64 * 2 ** 20);
  assert.equal(parseQuantity("1G"), 1e9);
  assert.equal(parseQuantity("1e3"), 1000);
  assert.equal(parseQuantity(3), 3);
  assert.equal(parseMilliCpu("100m"), 100);
  assert.equal(parseMilliCpu("0.5"), 500);
  assert.equal(parseMilliCpu("2"), 2000);
  assert.throws(() => parseQuantity("lots"), RangeError);
});
