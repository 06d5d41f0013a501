import assert from "node:assert/strict";
import { test } from "node:test";
import type { EndpointSlice, Service } from "../api/index.js";
import { buildModel, type ServicePortModel } from "./model.js";
import { diffScript, fullScript } from "./nft.js";

const NODE = "node-a";

function baseService(): Service {
  return {
    metadata: { name: "web", namespace: "default" },
    spec: {
      type: "NodePort",
      clusterIP: "10.96.0.20",
      ports: [{ name: "http", port: 80, protocol: "TCP", nodePort: 30080 }],
    },
  };
}

function baseSlice(): EndpointSlice {
  return {
    metadata: {
      name: "web-x",
      namespace: "default",
      labels: { "kubernetes.io/service-name": "web" },
    },
    addressType: "IPv4",
    endpoints: [
      { addresses: ["10.244.0.2"], conditions: { ready: true }, nodeName: NODE },
      { addresses: ["10.244.9.2"], conditions: { ready: true }, nodeName: "node-b" },
    ],
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
  };
}

const modelOf = (mutate: (s: Service, e: EndpointSlice) => void): ServicePortModel => {
  const svc = baseService();
  const slice = baseSlice();
  mutate(svc, slice);
  const m = [...buildModel([svc], [slice], { nodeName: NODE }).values()][0];
  assert.ok(m !== undefined);
  return m;
};

test("buildModel applies session affinity and the traffic policies like kube-proxy", () => {
  const both = ["10.244.0.2:8080", "10.244.9.2:8080"];
  const cases: [string, (s: Service, e: EndpointSlice) => void, Partial<ServicePortModel>][] = [
    ["defaults", () => undefined, { endpoints: both }],
    [
      "ClientIP with the default timeout",
      (s) => (s.spec!.sessionAffinity = "ClientIP"),
      { endpoints: both, affinityTimeoutSeconds: 10800 },
    ],
    [
      "ClientIP with a timeout",
      (s) => {
        s.spec!.sessionAffinity = "ClientIP";
        s.spec!.sessionAffinityConfig = { clientIP: { timeoutSeconds: 30 } };
      },
      { endpoints: both, affinityTimeoutSeconds: 30 },
    ],
    [
      "externalTrafficPolicy Local keeps NodePort traffic on this node's endpoints",
      (s) => (s.spec!.externalTrafficPolicy = "Local"),
      { endpoints: both, localEndpoints: ["10.244.0.2:8080"] },
    ],
    [
      "internalTrafficPolicy Local: cluster-IP traffic local, NodePort traffic to all",
      (s) => (s.spec!.internalTrafficPolicy = "Local"),
      { endpoints: ["10.244.0.2:8080"], clusterEndpoints: both },
    ],
    [
      "Local with no local endpoint has none",
      (s, e) => {
        s.spec!.externalTrafficPolicy = "Local";
        e.endpoints = e.endpoints.slice(1);
      },
      { endpoints: ["10.244.9.2:8080"], localEndpoints: [] },
    ],
    [
      "an endpoint without nodeName is not local",
      (s, e) => {
        s.spec!.externalTrafficPolicy = "Local";
        delete e.endpoints[0]!.nodeName;
      },
      { endpoints: both, localEndpoints: [] },
    ],
    [
      "externalTrafficPolicy means nothing without a NodePort",
      (s) => {
        s.spec!.type = "ClusterIP";
        delete s.spec!.ports![0]!.nodePort;
        s.spec!.externalTrafficPolicy = "Local";
      },
      { endpoints: both },
    ],
  ];
  for (const [name, mutate, want] of cases) {
    const m = modelOf(mutate);
    const got: Partial<ServicePortModel> = { endpoints: m.endpoints };
    if (m.localEndpoints !== undefined) got.localEndpoints = m.localEndpoints;
    if (m.clusterEndpoints !== undefined) got.clusterEndpoints = m.clusterEndpoints;
    if (m.affinityTimeoutSeconds !== undefined)
      got.affinityTimeoutSeconds = m.affinityTimeoutSeconds;
    assert.deepEqual(got, want, name);
  }
});

const TABLE = { table: "podrun", clusterCIDR: "10.244.0.0/16" };

test("session affinity: a per-backend set with the timeout, checked before the random pick", () => {
  const m = modelOf((s) => {
    s.spec!.sessionAffinity = "ClientIP";
    s.spec!.sessionAffinityConfig = { clientIP: { timeoutSeconds: 30 } };
  });
  const script = fullScript(new Map([[m.id, m]]), TABLE);
  const sets = script.match(/^add set ip podrun aff-\S+ .*timeout 30s.*$/gm) ?? [];
  assert.equal(sets.length, 2);
  assert.equal((script.match(/update @aff-\S+ \{ ip saddr \}/g) ?? []).length, 2);
  const svcRules = script.split("\n").filter((l) => l.startsWith(`add rule ip podrun ${m.chain} `));
  assert.match(svcRules[0] ?? "", /meta mark set/);
  assert.match(svcRules[1] ?? "", /ip saddr @aff-\S+ goto sep-/);
  assert.match(svcRules[2] ?? "", /ip saddr @aff-\S+ goto sep-/);
  assert.match(svcRules[3] ?? "", /numgen random mod 2/);
});

test("externalTrafficPolicy Local: NodePort goes to an unmasqueraded local chain, Cluster to the masquerading one", () => {
  const local = modelOf((s) => (s.spec!.externalTrafficPolicy = "Local"));
  const script = fullScript(new Map([[local.id, local]]), TABLE);
  const ext = local.chain.replace("svc-", "ext-");
  assert.match(script, new RegExp(`service-nodeports \\{ tcp \\. 30080 : goto ${ext} \\}`));
  const extRules = script.split("\n").filter((l) => l.startsWith(`add rule ip podrun ${ext} `));
  assert.deepEqual(
    extRules.map((l) => l.slice(`add rule ip podrun ${ext} `.length).replace(/sep-\w+/g, "sep")),
    [
      `ip saddr 10.244.0.0/16 goto ${local.chain}`,
      `fib saddr type local goto ${local.chain}`,
      "numgen random mod 1 vmap { 0 : goto sep }",
    ],
  );
  const cluster = modelOf(() => undefined);
  const plain = fullScript(new Map([[cluster.id, cluster]]), TABLE);
  assert.match(
    plain,
    new RegExp(`service-nodeports \\{ tcp \\. 30080 : goto ${cluster.chain} \\}`),
  );
  assert.doesNotMatch(plain, /ext-/);
  const none = modelOf((s, e) => {
    s.spec!.externalTrafficPolicy = "Local";
    e.endpoints = e.endpoints.slice(1);
  });
  assert.match(fullScript(new Map([[none.id, none]]), TABLE), /add rule ip podrun ext-\w+ drop/);
});

test("diffScript touches only the changed service port, in place", () => {
  const svcs: Service[] = [];
  const slices: EndpointSlice[] = [];
  for (let i = 0; i < 50; i++) {
    const s = baseService();
    s.metadata.name = `web-${String(i)}`;
    s.spec!.clusterIP = `10.96.1.${String(i + 1)}`;
    s.spec!.ports![0]!.nodePort = 30000 + i;
    const e = baseSlice();
    e.metadata.labels = { "kubernetes.io/service-name": `web-${String(i)}` };
    svcs.push(s);
    slices.push(e);
  }
  const before = buildModel(svcs, slices, { nodeName: NODE });
  slices[7]!.endpoints.push({ addresses: ["10.244.0.99"], conditions: { ready: true } });
  const after = buildModel(svcs, slices, { nodeName: NODE });
  const script = diffScript(before, after, TABLE);
  const changed = [...after.values()][7]!;
  const lines = script.trim().split("\n");
  // One new backend chain and the service chain refilled; no element or other chain touched.
  assert.deepEqual(
    lines
      .slice(0, 4)
      .map((l) => l.replace(/sep-\w+/g, "sep").replace(changed.chain, "SVC"))
      .sort(),
    [
      "add chain ip podrun SVC",
      "add chain ip podrun sep",
      "flush chain ip podrun SVC",
      "flush chain ip podrun sep",
    ],
  );
  assert.ok(lines.includes(lines.find((l) => l.endsWith("dnat to 10.244.0.99:8080")) ?? "-"));
  // The new backend's DNAT, and the service chain's mark and random pick.
  assert.equal(lines.filter((l) => l.startsWith("add rule")).length, 3);
  assert.doesNotMatch(script, /element|delete/);
  assert.equal(diffScript(after, after, TABLE), "");
  // Removing the backend again deletes its chain after the service chain no longer jumps to it.
  const back = diffScript(after, before, TABLE).trim().split("\n");
  assert.match(back.at(-1) ?? "", /^delete chain ip podrun sep-/);
  assert.ok(back.indexOf(`flush chain ip podrun ${changed.chain}`) < back.length - 1);
});

test("no cluster backend: rejected without endpoints, dropped when internalTrafficPolicy Local has only remote ones", () => {
  const remoteOnly = modelOf((s, e) => {
    s.spec!.internalTrafficPolicy = "Local";
    e.endpoints = e.endpoints.filter((x) => x.nodeName !== NODE);
  });
  const none = modelOf((_, e) => {
    e.endpoints = [];
  });
  assert.match(
    fullScript(new Map([[remoteOnly.id, remoteOnly]]), TABLE),
    /add element ip podrun no-endpoint-services \{ 10\.96\.0\.20 \. tcp \. 80 : drop \}/,
  );
  assert.match(
    fullScript(new Map([[none.id, none]]), TABLE),
    /add element ip podrun no-endpoint-services \{ 10\.96\.0\.20 \. tcp \. 80 : goto reject-chain \}/,
  );
  // Going from one to the other replaces the verdict: delete, then add.
  const diff = diffScript(
    new Map([[none.id, none]]),
    new Map([[remoteOnly.id, remoteOnly]]),
    TABLE,
  );
  assert.match(
    diff,
    /delete element ip podrun no-endpoint-services \{ 10\.96\.0\.20 \. tcp \. 80 \}\n/,
  );
  assert.match(diff, /: drop \}/);
});
