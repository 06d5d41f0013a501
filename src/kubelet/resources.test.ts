import { test } from "node:test";
import assert from "node:assert/strict";
import type { Container, Pod } from "../api/index.js";
import {
  containerResources,
  effectivePodRequest,
  milliCpuToShares,
  podCgroupParent,
  podResources,
  qosClass,
  quantityValue,
  sharesToWeight,
} from "./resources.js";

const GI = 2 ** 30;
const MI = 2 ** 20;

function pod(containers: Partial<Container>[], init: Partial<Container>[] = []): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "p", namespace: "default", uid: "abc-123" },
    spec: {
      containers: containers.map((c, i) => ({ name: `c${i}`, ...c })),
      initContainers: init.map((c, i) => ({ name: `i${i}`, ...c })),
    },
  };
}

const guaranteed = { resources: { limits: { cpu: "500m", memory: "128Mi" } } };
const burstable = { resources: { requests: { cpu: "250m", memory: "64Mi" } } };

test("quantityValue parses suffixes and exponents", () => {
  const cases: [string | number, number][] = [
    ["100m", 0.1],
    ["1", 1],
    ["1.5", 1.5],
    ["64Mi", 64 * MI],
    ["1Gi", GI],
    ["1G", 1e9],
    ["1k", 1000],
    ["1e3", 1000],
    [2, 2],
  ];
  for (const [q, v] of cases) assert.equal(quantityValue(q), v, String(q));
  assert.throws(() => quantityValue("12xyz"), RangeError);
});

test("PL-RES-2 qosClass", () => {
  const cases: [Pod, string][] = [
    [pod([{}]), "BestEffort"],
    [pod([guaranteed]), "Guaranteed"],
    [
      pod([
        {
          resources: { limits: { cpu: "1", memory: "1Gi" }, requests: { cpu: "1", memory: "1Gi" } },
        },
      ]),
      "Guaranteed",
    ],
    [
      pod([
        {
          resources: {
            limits: { cpu: "1", memory: "1Gi" },
            requests: { cpu: "500m", memory: "1Gi" },
          },
        },
      ]),
      "Burstable",
    ],
    [pod([guaranteed, {}]), "Burstable"],
    [pod([burstable]), "Burstable"],
    [pod([{ resources: { limits: { cpu: "1" } } }]), "Burstable"],
    [pod([guaranteed], [{}]), "Burstable"],
    [pod([{ resources: { requests: { "ephemeral-storage": "1Gi" } } }]), "BestEffort"],
  ];
  for (const [p, want] of cases) assert.equal(qosClass(p), want, JSON.stringify(p.spec));
});

test("PL-RES-3 podCgroupParent per QoS class", () => {
  assert.equal(podCgroupParent(pod([guaranteed]), "podrun"), "podrun/kubepods/podabc-123");
  assert.equal(
    podCgroupParent(pod([burstable]), "podrun/"),
    "podrun/kubepods/burstable/podabc-123",
  );
  assert.equal(podCgroupParent(pod([{}]), ""), "kubepods/besteffort/podabc-123");
});

test("PL-RES-4 cpu shares and weight", () => {
  assert.equal(milliCpuToShares(0), 2);
  assert.equal(milliCpuToShares(1), 2);
  assert.equal(milliCpuToShares(100), 102);
  assert.equal(milliCpuToShares(1000), 1024);
  assert.equal(milliCpuToShares(10_000_000), 262144);
  assert.equal(sharesToWeight(2), 1);
  assert.equal(sharesToWeight(1024), 39);
  assert.equal(sharesToWeight(262144), 10000);
});

test("PL-RES-4..6 PL-RES-8 containerResources", () => {
  const g = pod([guaranteed]);
  assert.deepEqual(containerResources(g, g.spec.containers[0]!, 4 * GI), {
    cpuPeriodUs: 100000,
    cpuShares: 512,
    cpuQuotaUs: 50000,
    memoryLimitBytes: 128 * MI,
    oomScoreAdj: -997,
  });
  const b = pod([{ resources: { requests: { cpu: "1m", memory: "1Gi" }, limits: { cpu: "5m" } } }]);
  assert.deepEqual(containerResources(b, b.spec.containers[0]!, 4 * GI), {
    cpuPeriodUs: 100000,
    cpuShares: 2,
    cpuQuotaUs: 1000,
    oomScoreAdj: 750,
  });
  const be = pod([{}]);
  assert.deepEqual(containerResources(be, be.spec.containers[0]!, 4 * GI), {
    cpuPeriodUs: 100000,
    cpuShares: 2,
    oomScoreAdj: 1000,
  });
});

test("PL-RES-8 burstable oom_score_adj clamps", () => {
  const big = pod([{ resources: { requests: { memory: "4Gi" } } }]);
  assert.equal(containerResources(big, big.spec.containers[0]!, 4 * GI).oomScoreAdj, 3);
  const tiny = pod([{ resources: { requests: { cpu: "100m" } } }]);
  assert.equal(containerResources(tiny, tiny.spec.containers[0]!, 4 * GI).oomScoreAdj, 999);
});

test("PL-SIDE-9 sidecar oom_score_adj capped by smallest regular container", () => {
  const p = pod(
    [
      { resources: { requests: { memory: "2Gi" } } },
      { resources: { requests: { memory: "1Gi" } } },
    ],
    [{ restartPolicy: "Always", resources: { requests: { memory: "100Mi" } } }],
  );
  assert.equal(containerResources(p, p.spec.initContainers![0]!, 4 * GI).oomScoreAdj, 750);
  assert.equal(containerResources(p, p.spec.containers[0]!, 4 * GI).oomScoreAdj, 500);
});

test("PL-INIT-10 effective pod request with init containers and sidecars", () => {
  const p = pod(
    [{ resources: { requests: { cpu: "100m" } } }],
    [
      { resources: { requests: { cpu: "500m" } } },
      { restartPolicy: "Always", resources: { requests: { cpu: "200m" } } },
      { resources: { requests: { cpu: "250m" } } },
    ],
  );
  assert.equal(effectivePodRequest(p, "cpu"), 500);
  p.spec.initContainers![0]!.resources = { requests: { cpu: "10m" } };
  // max(100 + 200, 10, 250 + 200) = 450
  assert.equal(effectivePodRequest(p, "cpu"), 450);
});

test("PL-RES-7 pod cgroup resources", () => {
  assert.deepEqual(podResources(pod([{}])), { cpuShares: 2 });
  assert.deepEqual(podResources(pod([guaranteed, guaranteed])), {
    cpuShares: 1024,
    cpuPeriodUs: 100000,
    cpuQuotaUs: 100000,
    memoryLimitBytes: 256 * MI,
  });
  assert.deepEqual(podResources(pod([guaranteed, burstable])), {
    cpuShares: 768,
    cpuPeriodUs: 100000,
  });
});
