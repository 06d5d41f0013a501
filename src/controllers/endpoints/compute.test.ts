import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Pod, Service } from "../../api/index.js";
import { computeBackends, computeSlice, computeSubsets } from "./compute.js";

const base: Service = {
  metadata: { name: "web", namespace: "default" },
  spec: {
    selector: { app: "web" },
    clusterIP: "10.96.0.20",
    ports: [{ name: "http", port: 80, targetPort: "http" }],
  },
};

function pod(name: string, ip: string, mutate: (p: Pod) => void = () => undefined): Pod {
  const p: Pod = {
    metadata: { name, namespace: "default", uid: `uid-${name}`, labels: { app: "web" } },
    spec: {
      nodeName: "node1",
      containers: [{ name: "c", image: "web", ports: [{ name: "http", containerPort: 8080 }] }],
    },
    status: { phase: "Running", podIP: ip, conditions: [{ type: "Ready", status: "True" }] },
  };
  mutate(p);
  return p;
}

describe("computeBackends / computeSubsets / computeSlice", () => {
  test("ready pods become addresses with the named target port resolved", () => {
    const b = computeBackends(base, [pod("a", "10.244.0.3"), pod("b", "10.244.0.2")]);
    assert.deepEqual(computeSubsets(base, b), [
      {
        addresses: [
          {
            ip: "10.244.0.2",
            nodeName: "node1",
            targetRef: { kind: "Pod", namespace: "default", name: "b", uid: "uid-b" },
          },
          {
            ip: "10.244.0.3",
            nodeName: "node1",
            targetRef: { kind: "Pod", namespace: "default", name: "a", uid: "uid-a" },
          },
        ],
        ports: [{ name: "http", port: 8080, protocol: "TCP" }],
      },
    ]);
  });

  const cases: {
    name: string;
    mutate: (p: Pod) => void;
    wantReady: number;
    wantNotReady: number;
    sliceReady?: boolean;
  }[] = [
    {
      name: "unready pod → notReadyAddresses",
      mutate: (p) => {
        p.status!.conditions = [{ type: "Ready", status: "False" }];
      },
      wantReady: 0,
      wantNotReady: 1,
      sliceReady: false,
    },
    {
      name: "pod without IP is left out",
      mutate: (p) => {
        delete p.status!.podIP;
      },
      wantReady: 0,
      wantNotReady: 0,
    },
    {
      name: "terminal pod is left out",
      mutate: (p) => {
        p.status!.phase = "Succeeded";
      },
      wantReady: 0,
      wantNotReady: 0,
    },
    {
      name: "other labels are left out",
      mutate: (p) => {
        p.metadata.labels = { app: "db" };
      },
      wantReady: 0,
      wantNotReady: 0,
    },
    {
      name: "other namespace is left out",
      mutate: (p) => {
        p.metadata.namespace = "team";
      },
      wantReady: 0,
      wantNotReady: 0,
    },
    {
      name: "terminating pod leaves Endpoints but stays in the slice as terminating",
      mutate: (p) => {
        p.metadata.deletionTimestamp = "2025-01-01T00:00:00Z";
      },
      wantReady: 0,
      wantNotReady: 0,
      sliceReady: false,
    },
    {
      name: "init containers' ports are never published",
      mutate: (p) => {
        p.spec.initContainers = [
          { name: "i", image: "x", ports: [{ name: "http", containerPort: 9 }] },
        ];
        p.spec.containers[0]!.ports = [];
      },
      wantReady: 0,
      wantNotReady: 0,
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const backends = computeBackends(base, [pod("a", "10.244.0.3", c.mutate)]);
      const subsets = computeSubsets(base, backends);
      assert.equal(
        subsets.reduce((n, s) => n + (s.addresses?.length ?? 0), 0),
        c.wantReady,
      );
      assert.equal(
        subsets.reduce((n, s) => n + (s.notReadyAddresses?.length ?? 0), 0),
        c.wantNotReady,
      );
      if (c.sliceReady !== undefined)
        assert.equal(computeSlice(base, backends).endpoints[0]?.conditions?.ready, c.sliceReady);
    });
  }

  test("publishNotReadyAddresses publishes unready pods as ready addresses", () => {
    const svc: Service = { ...base, spec: { ...base.spec, publishNotReadyAddresses: true } };
    const b = computeBackends(svc, [
      pod("a", "10.244.0.3", (p) => {
        p.status!.conditions = [];
      }),
    ]);
    assert.equal(computeSubsets(svc, b)[0]?.addresses?.length, 1);
    assert.equal(computeSlice(svc, b).endpoints[0]?.conditions?.ready, true);
  });

  test("a terminating pod in a slice is serving while still ready", () => {
    const b = computeBackends(base, [
      pod("a", "10.244.0.3", (p) => {
        p.metadata.deletionTimestamp = "x";
      }),
    ]);
    assert.deepEqual(computeSlice(base, b).endpoints[0]?.conditions, {
      ready: false,
      serving: true,
      terminating: true,
    });
  });
});
