import assert from "node:assert/strict";
import { test } from "node:test";
import type { ContainerStatus, Event, KubeObject, Node, Pod, Service } from "../../api/index.js";
import { findResource, type ResourceInfo } from "../resources.js";
import { humanDuration, toTable, type Table } from "./index.js";

const NOW = Date.parse("2026-01-01T12:00:00Z");
const ago = (s: number): string => new Date(NOW - s * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");

function info(group: string, resource: string): ResourceInfo {
  const i = findResource(group, "v1", resource);
  assert.ok(i, `${group}/${resource}`);
  return i;
}

function cells(table: Table, row = 0): (string | number | boolean)[] {
  const r = table.rows[row];
  assert.ok(r);
  return r.cells;
}

test("PL-KCTL-7 humanDuration", () => {
  const cases: [number, string][] = [
    [-2000, "<invalid>"],
    [-500, "0s"],
    [0, "0s"],
    [45_000, "45s"],
    [119_000, "119s"],
    [120_000, "2m"],
    [125_000, "2m5s"],
    [599_000, "9m59s"],
    [600_000, "10m"],
    [179 * 60_000, "179m"],
    [3 * 3600_000, "3h"],
    [(5 * 60 + 30) * 60_000, "5h30m"],
    [8 * 3600_000, "8h"],
    [47 * 3600_000, "47h"],
    [48 * 3600_000, "2d"],
    [(3 * 24 + 4) * 3600_000, "3d4h"],
    [8 * 24 * 3600_000, "8d"],
    [400 * 24 * 3600_000, "400d"],
    [(2 * 365 + 20) * 24 * 3600_000, "2y20d"],
    [3 * 365 * 24 * 3600_000, "3y"],
    [9 * 365 * 24 * 3600_000, "9y"],
  ];
  for (const [ms, want] of cases) assert.equal(humanDuration(ms), want, String(ms));
});

function status(name: string, patch: Partial<ContainerStatus>): ContainerStatus {
  return { name, ready: false, restartCount: 0, image: "x", imageID: "", ...patch };
}

function pod(mutate: (p: Pod) => void): Pod {
  const p: Pod = {
    metadata: {
      name: "web",
      namespace: "default",
      creationTimestamp: ago(600),
      uid: "u1",
      labels: { app: "web" },
    },
    spec: { containers: [{ name: "app", image: "nginx" }], nodeName: "node1" },
    status: { phase: "Pending" },
  };
  mutate(p);
  return p;
}

const running = { running: { startedAt: ago(60) } };
const initTwo = (p: Pod): void => {
  p.spec.initContainers = [
    { name: "i1", image: "x" },
    { name: "i2", image: "x" },
  ];
};

const workedExamples: { name: string; mutate: (p: Pod) => void; status: string; ready: string }[] =
  [
    {
      name: "2 init containers, first running",
      mutate: (p) => {
        initTwo(p);
        p.status!.initContainerStatuses = [
          status("i1", { state: running }),
          status("i2", { state: { waiting: { reason: "PodInitializing" } } }),
        ];
        p.status!.containerStatuses = [
          status("app", { state: { waiting: { reason: "PodInitializing" } } }),
        ];
      },
      status: "Init:0/2",
      ready: "0/1",
    },
    {
      name: "first init done, second waiting in back-off",
      mutate: (p) => {
        initTwo(p);
        p.status!.initContainerStatuses = [
          status("i1", { state: { terminated: { exitCode: 0, reason: "Completed" } } }),
          status("i2", { state: { waiting: { reason: "CrashLoopBackOff" } }, restartCount: 2 }),
        ];
      },
      status: "Init:CrashLoopBackOff",
      ready: "0/1",
    },
    {
      name: "init exited 1, restartPolicy Never",
      mutate: (p) => {
        p.spec.initContainers = [{ name: "i1", image: "x" }];
        p.status!.phase = "Failed";
        p.status!.initContainerStatuses = [
          status("i1", { state: { terminated: { exitCode: 1, reason: "Error" } } }),
        ];
      },
      status: "Init:Error",
      ready: "0/1",
    },
    {
      name: "init OOM-killed",
      mutate: (p) => {
        p.spec.initContainers = [{ name: "i1", image: "x" }];
        p.status!.initContainerStatuses = [
          status("i1", { state: { terminated: { exitCode: 137, reason: "OOMKilled" } } }),
        ];
      },
      status: "Init:OOMKilled",
      ready: "0/1",
    },
    {
      name: "init done, app image pulling",
      mutate: (p) => {
        p.spec.initContainers = [{ name: "i1", image: "x" }];
        p.status!.initContainerStatuses = [
          status("i1", { state: { terminated: { exitCode: 0, reason: "Completed" } } }),
        ];
        p.status!.containerStatuses = [
          status("app", { state: { waiting: { reason: "PodInitializing" } } }),
        ];
      },
      status: "PodInitializing",
      ready: "0/1",
    },
    {
      name: "no init, app image pulling",
      mutate: (p) => {
        p.status!.containerStatuses = [
          status("app", { state: { waiting: { reason: "ContainerCreating" } } }),
        ];
      },
      status: "ContainerCreating",
      ready: "0/1",
    },
    {
      name: "app exited 0 under Never (pod Succeeded)",
      mutate: (p) => {
        p.status!.phase = "Succeeded";
        p.status!.containerStatuses = [
          status("app", { state: { terminated: { exitCode: 0, reason: "Completed" } } }),
        ];
      },
      status: "Completed",
      ready: "0/1",
    },
    {
      name: "app exited 1 under Never",
      mutate: (p) => {
        p.status!.phase = "Failed";
        p.status!.containerStatuses = [
          status("app", { state: { terminated: { exitCode: 1, reason: "Error" } } }),
        ];
      },
      status: "Error",
      ready: "0/1",
    },
    {
      name: "one app done (0), other running+ready",
      mutate: (p) => {
        p.spec.containers = [
          { name: "a", image: "x" },
          { name: "b", image: "x" },
        ];
        p.status!.phase = "Running";
        p.status!.conditions = [{ type: "Ready", status: "False" }];
        p.status!.containerStatuses = [
          status("a", { state: { terminated: { exitCode: 0, reason: "Completed" } } }),
          status("b", { state: running, ready: true }),
        ];
      },
      status: "NotReady",
      ready: "1/2",
    },
    {
      name: "deleted, still running",
      mutate: (p) => {
        p.metadata.deletionTimestamp = ago(-30);
        p.status!.phase = "Running";
        p.status!.containerStatuses = [status("app", { state: running, ready: true })];
      },
      status: "Terminating",
      ready: "1/1",
    },
    {
      name: "1 sidecar started+ready, 1 app running+ready",
      mutate: (p) => {
        p.spec.initContainers = [{ name: "side", image: "x", restartPolicy: "Always" }];
        p.status!.phase = "Running";
        p.status!.conditions = [{ type: "Initialized", status: "True" }];
        p.status!.initContainerStatuses = [
          status("side", { state: running, started: true, ready: true }),
        ];
        p.status!.containerStatuses = [status("app", { state: running, ready: true })];
      },
      status: "Running",
      ready: "2/2",
    },
    {
      name: "PL-KCTL-5 node lost while deleting",
      mutate: (p) => {
        p.metadata.deletionTimestamp = ago(10);
        p.status!.phase = "Running";
        p.status!.reason = "NodeLost";
      },
      status: "Unknown",
      ready: "0/1",
    },
    {
      name: "PL-KCTL-3 terminated without reason prints the exit code / signal",
      mutate: (p) => {
        p.spec.containers = [
          { name: "a", image: "x" },
          { name: "b", image: "x" },
        ];
        p.status!.phase = "Running";
        p.status!.containerStatuses = [
          status("a", { state: { terminated: { exitCode: 2 } } }),
          status("b", { state: { terminated: { exitCode: 137, signal: 9 } } }),
        ];
      },
      status: "ExitCode:2",
      ready: "0/2",
    },
    {
      name: "PL-KCTL-1 scheduling gated",
      mutate: (p) => {
        p.status!.conditions = [
          { type: "PodScheduled", status: "False", reason: "SchedulingGated" },
        ];
      },
      status: "SchedulingGated",
      ready: "0/1",
    },
  ];

for (const ex of workedExamples) {
  test(`PL-KCTL worked example: ${ex.name}`, () => {
    const t = toTable(info("", "pods"), [pod(ex.mutate)], {
      nowMs: NOW,
      includeObject: "Metadata",
    });
    const c = cells(t);
    assert.equal(c[2], ex.status);
    assert.equal(c[1], ex.ready);
  });
}

test("PL-KCTL-6/8 restarts with last restart age, wide columns, readiness gates", () => {
  const p = pod((x) => {
    x.spec.readinessGates = [{ conditionType: "a" }, { conditionType: "b" }];
    x.status = {
      phase: "Running",
      podIPs: [{ ip: "10.244.0.5" }],
      conditions: [
        { type: "a", status: "True" },
        { type: "b", status: "False" },
      ],
      containerStatuses: [
        status("app", {
          state: running,
          ready: true,
          restartCount: 3,
          lastState: { terminated: { exitCode: 1, finishedAt: ago(300) } },
        }),
      ],
    };
  });
  const t = toTable(info("", "pods"), [p], { nowMs: NOW, includeObject: "Metadata" });
  assert.deepEqual(cells(t), [
    "web",
    "1/1",
    "Running",
    "3 (5m ago)",
    "10m",
    "10.244.0.5",
    "node1",
    "<none>",
    "1/2",
  ]);
  assert.deepEqual(
    t.columnDefinitions.map((c) => [c.name, c.priority]),
    [
      ["Name", 0],
      ["Ready", 0],
      ["Status", 0],
      ["Restarts", 0],
      ["Age", 0],
      ["IP", 1],
      ["Node", 1],
      ["Nominated Node", 1],
      ["Readiness Gates", 1],
    ],
  );
  assert.equal(t.columnDefinitions[0]?.format, "name");
  const none = toTable(info("", "pods"), [pod(() => undefined)], {
    nowMs: NOW,
    includeObject: "None",
  });
  assert.deepEqual(cells(none).slice(3), ["0", "10m", "<none>", "node1", "<none>", "<none>"]);
  assert.equal(none.rows[0]?.object, undefined);
});

test("PL-KCTL-9 completed pods carry a Completed row condition", () => {
  const ok = pod((x) => {
    x.status!.phase = "Succeeded";
  });
  const bad = pod((x) => {
    x.status!.phase = "Failed";
  });
  const t = toTable(info("", "pods"), [ok, bad, pod(() => undefined)], {
    nowMs: NOW,
    includeObject: "Metadata",
  });
  assert.deepEqual(t.rows[0]?.conditions, [
    {
      type: "Completed",
      status: "True",
      reason: "Succeeded",
      message: "The pod has completed successfully.",
    },
  ]);
  assert.deepEqual(t.rows[1]?.conditions, [
    { type: "Completed", status: "True", reason: "Failed", message: "The pod failed." },
  ]);
  assert.equal(t.rows[2]?.conditions, undefined);
});

test("KA-TBL-2 row objects: PartialObjectMetadata, full object; KA-TBL-6 list metadata", () => {
  const p = pod(() => undefined);
  const meta = toTable(info("", "pods"), [p], {
    nowMs: NOW,
    includeObject: "Metadata",
    listMeta: { resourceVersion: "1013", continue: "abc" },
  });
  assert.equal(meta.kind, "Table");
  assert.equal(meta.apiVersion, "meta.k8s.io/v1");
  assert.deepEqual(meta.metadata, { resourceVersion: "1013", continue: "abc" });
  assert.deepEqual(meta.rows[0]?.object, {
    kind: "PartialObjectMetadata",
    apiVersion: "meta.k8s.io/v1",
    metadata: p.metadata,
  });
  const full = toTable(info("", "pods"), [p], { nowMs: NOW, includeObject: "Object" });
  const o = full.rows[0]?.object as Pod | undefined;
  assert.ok(o);
  assert.equal(o.kind, "Pod");
  assert.equal(o.apiVersion, "v1");
  assert.deepEqual(o.spec, p.spec);
});

function obj<T extends KubeObject = KubeObject>(
  o: Record<string, unknown> & Partial<Omit<T, "metadata">> & { metadata?: KubeObject["metadata"] },
): T {
  return { ...o, metadata: { name: "x", creationTimestamp: ago(90), ...(o.metadata ?? {}) } } as T;
}

test("services: types, external IP, ports, selector", () => {
  const svcs: Service[] = [
    obj<Service>({
      spec: {
        type: "ClusterIP",
        clusterIP: "10.96.0.10",
        ports: [
          { port: 53, protocol: "UDP" },
          { port: 53, protocol: "TCP" },
        ],
        selector: { k8s: "dns", app: "x" },
      },
    }),
    obj<Service>({
      spec: {
        type: "NodePort",
        clusterIP: "10.96.0.11",
        ports: [{ port: 80, nodePort: 30080, protocol: "TCP" }],
      },
    }),
    obj<Service>({
      spec: {
        type: "LoadBalancer",
        clusterIP: "10.96.0.12",
        ports: [{ port: 443, protocol: "TCP" }],
      },
    }),
    obj<Service>({ spec: { type: "ExternalName", externalName: "example.com" } }),
  ];
  const t = toTable(info("", "services"), svcs, { nowMs: NOW, includeObject: "Metadata" });
  assert.deepEqual(cells(t, 0), [
    "x",
    "ClusterIP",
    "10.96.0.10",
    "<none>",
    "53/UDP,53/TCP",
    "90s",
    "app=x,k8s=dns",
  ]);
  assert.deepEqual(cells(t, 1), [
    "x",
    "NodePort",
    "10.96.0.11",
    "<none>",
    "80:30080/TCP",
    "90s",
    "<none>",
  ]);
  assert.deepEqual(cells(t, 2).slice(2, 5), ["10.96.0.12", "<pending>", "443/TCP"]);
  assert.deepEqual(cells(t, 3).slice(1, 5), ["ExternalName", "<none>", "example.com", "<none>"]);
  assert.deepEqual(
    t.columnDefinitions.map((c) => c.name),
    ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"],
  );
});

test("namespaces, configmaps, secrets, serviceaccounts, leases", () => {
  const ns = toTable(info("", "namespaces"), [obj({ status: { phase: "Active" } })], {
    nowMs: NOW,
    includeObject: "Metadata",
  });
  assert.deepEqual(cells(ns), ["x", "Active", "90s"]);
  const cm = toTable(
    info("", "configmaps"),
    [obj({ data: { a: "1", b: "2" }, binaryData: { c: "" } })],
    { nowMs: NOW, includeObject: "Metadata" },
  );
  assert.deepEqual(cells(cm), ["x", 3, "90s"]);
  const sec = toTable(info("", "secrets"), [obj({ type: "Opaque", data: { a: "eA==" } })], {
    nowMs: NOW,
    includeObject: "Metadata",
  });
  assert.deepEqual(cells(sec), ["x", "Opaque", 1, "90s"]);
  assert.deepEqual(
    sec.columnDefinitions.map((c) => c.name),
    ["Name", "Type", "Data", "Age"],
  );
  const sa = toTable(info("", "serviceaccounts"), [obj({})], {
    nowMs: NOW,
    includeObject: "Metadata",
  });
  assert.deepEqual(cells(sa), ["x", 0, "90s"]);
  const lease = toTable(
    info("coordination.k8s.io", "leases"),
    [obj({ spec: { holderIdentity: "node1" } })],
    { nowMs: NOW, includeObject: "Metadata" },
  );
  assert.deepEqual(cells(lease), ["x", "node1", "90s"]);
});

test("endpoints and endpointslices", () => {
  const ep = toTable(
    info("", "endpoints"),
    [
      obj({
        subsets: [
          {
            addresses: [{ ip: "10.0.0.1" }, { ip: "10.0.0.2" }],
            ports: [{ port: 80 }, { port: 443 }],
          },
        ],
      }),
      obj({}),
      obj({ subsets: [{ addresses: [{ ip: "10.0.0.1" }] }] }),
    ],
    { nowMs: NOW, includeObject: "Metadata" },
  );
  assert.deepEqual(cells(ep, 0), ["x", "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...", "90s"]);
  assert.deepEqual(cells(ep, 1), ["x", "<none>", "90s"]);
  assert.deepEqual(cells(ep, 2), ["x", "10.0.0.1", "90s"]);
  const slices = toTable(
    info("discovery.k8s.io", "endpointslices"),
    [
      obj({ addressType: "IPv4", endpoints: [{ addresses: ["10.0.0.1"] }], ports: [{ port: 80 }] }),
      obj({ addressType: "IPv4", endpoints: [] }),
    ],
    { nowMs: NOW, includeObject: "Metadata" },
  );
  assert.deepEqual(cells(slices, 0), ["x", "IPv4", "80", "10.0.0.1", "90s"]);
  assert.deepEqual(cells(slices, 1), ["x", "IPv4", "<unset>", "<unset>", "90s"]);
});

test("events: columns and cells (KA-TBL-7)", () => {
  const ev = obj<Event>({
    involvedObject: { kind: "Pod", name: "web", fieldPath: "spec.containers{app}" },
    reason: "Pulled",
    message: 'Container image "nginx" already present on machine\n',
    type: "Normal",
    source: { component: "kubelet", host: "node1" },
    firstTimestamp: ago(300),
    lastTimestamp: ago(30),
    count: 2,
  });
  const t = toTable(info("", "events"), [ev], { nowMs: NOW, includeObject: "Metadata" });
  assert.deepEqual(
    t.columnDefinitions.map((c) => [c.name, c.priority]),
    [
      ["Last Seen", 0],
      ["Type", 0],
      ["Reason", 0],
      ["Object", 0],
      ["Subobject", 1],
      ["Source", 1],
      ["Message", 0],
      ["First Seen", 1],
      ["Count", 1],
      ["Name", 1],
    ],
  );
  assert.deepEqual(cells(t), [
    "30s",
    "Normal",
    "Pulled",
    "pod/web",
    "spec.containers{app}",
    "kubelet, node1",
    'Container image "nginx" already present on machine',
    "5m",
    2,
    "x",
  ]);
  const micro = obj<Event>({
    involvedObject: { kind: "Node" },
    eventTime: "2026-01-01T11:59:00.000000Z",
    firstTimestamp: null,
    lastTimestamp: null,
  });
  const t2 = toTable(info("", "events"), [micro], { nowMs: NOW, includeObject: "Metadata" });
  assert.deepEqual(cells(t2).slice(0, 4), ["60s", "", "", "node"]);
  assert.equal(cells(t2)[8], 1);
});

test("nodes: status, roles, version, wide columns", () => {
  const n = obj<Node>({
    metadata: {
      name: "node1",
      labels: { "node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "worker" },
    },
    spec: { unschedulable: true },
    status: {
      conditions: [{ type: "Ready", status: "True" }],
      addresses: [{ type: "InternalIP", address: "192.168.1.2" }],
      nodeInfo: {
        kubeletVersion: "v1.33.0",
        osImage: "Debian GNU/Linux 12 (bookworm)",
        kernelVersion: "6.1.0",
        containerRuntimeVersion: "podrun://0.1.0",
      },
    },
  });
  const t = toTable(info("", "nodes"), [n, obj<Node>({})], {
    nowMs: NOW,
    includeObject: "Metadata",
  });
  assert.deepEqual(cells(t, 0), [
    "node1",
    "Ready,SchedulingDisabled",
    "control-plane,worker",
    "90s",
    "v1.33.0",
    "192.168.1.2",
    "<none>",
    "Debian GNU/Linux 12 (bookworm)",
    "6.1.0",
    "podrun://0.1.0",
  ]);
  assert.deepEqual(cells(t, 1).slice(1, 3), ["Unknown", "<none>"]);
});

test("kinds without a printer get Name and Created At", () => {
  const other: ResourceInfo = {
    ...info("", "pods"),
    group: "example.com",
    resource: "widgets",
    kind: "Widget",
  };
  const t = toTable(other, [obj({})], { nowMs: NOW, includeObject: "Metadata" });
  assert.deepEqual(
    t.columnDefinitions.map((c) => [c.name, c.type, c.format]),
    [
      ["Name", "string", "name"],
      ["Created At", "date", ""],
    ],
  );
  assert.deepEqual(cells(t), ["x", ago(90)]);
});
