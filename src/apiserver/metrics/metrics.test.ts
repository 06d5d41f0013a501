import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ApiRequest, ApiResponse, KubeObject, Pod, Status } from "../../api/index.js";
import { MemoryStore } from "../../storage/index.js";
import { FakeClock, nullLogger } from "../../util/index.js";
import { ApiServer } from "../server.js";
import type { ApiServerOptions } from "../types.js";
import { RequestMetrics } from "./prometheus.js";
import { formatBytes, formatGoDuration, formatNanoCores } from "./quantity.js";
import type { MetricsProvider, NodeUsage, PodMetrics, PodUsage } from "./types.js";

class StaticMetrics implements MetricsProvider {
  pods: PodUsage[] = [];
  nodes: NodeUsage[] = [];
  nodeUsage(): Promise<NodeUsage[]> {
    return Promise.resolve(this.nodes);
  }
  podUsage(ns: string | undefined): Promise<PodUsage[]> {
    return Promise.resolve(this.pods.filter((p) => ns === undefined || p.namespace === ns));
  }
}

async function setup(extra: Partial<ApiServerOptions> = {}) {
  const clock = new FakeClock(Date.UTC(2025, 0, 1));
  const metrics = new StaticMetrics();
  const server = new ApiServer({
    store: new MemoryStore(),
    clock,
    logger: nullLogger,
    metricsProvider: metrics,
    ...extra,
  });
  await server.bootstrap();
  const get = (path: string, more: Partial<ApiRequest> = {}): Promise<ApiResponse> =>
    server.handle({ method: "GET", path, ...more });
  return { clock, metrics, server, get };
}

function pod(name: string, labels: Record<string, string>): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, labels },
    spec: { containers: [{ name: "c1", image: "busybox" }] },
  };
}

async function text(stream: AsyncIterable<Uint8Array> | undefined): Promise<string> {
  assert.ok(stream);
  let s = "";
  for await (const chunk of stream) s += Buffer.from(chunk).toString("utf8");
  return s;
}

function usage(name: string, cpuNanoCores: number, ns = "default"): PodUsage {
  return {
    namespace: ns,
    name,
    timestampMs: Date.UTC(2025, 0, 1) - 1000,
    windowMs: 10_500,
    containers: [{ name: "c1", cpuNanoCores, memoryWorkingSetBytes: 5 * 1024 * 1024 + 4096 }],
  };
}

describe("quantities", () => {
  test("cpu in nanocores prints as metrics-server canonical quantities", () => {
    assert.equal(formatNanoCores(1_002_345_678), "1002345678n");
    assert.equal(formatNanoCores(250_000_000), "250m");
    assert.equal(formatNanoCores(2e9), "2");
    assert.equal(formatNanoCores(3000), "3u");
    assert.equal(formatNanoCores(0), "0");
    assert.equal(formatNanoCores(-5), "0");
  });
  test("memory prints with the largest exact binary suffix", () => {
    assert.equal(formatBytes(5 * 1024 * 1024 + 4096), "5124Ki");
    assert.equal(formatBytes(2 * 1024 * 1024), "2Mi");
    assert.equal(formatBytes(1500), "1500");
    assert.equal(formatBytes(0), "0");
  });
  test("windows print as Go durations", () => {
    assert.equal(formatGoDuration(10_500), "10.5s");
    assert.equal(formatGoDuration(60_250), "1m0.25s");
    assert.equal(formatGoDuration(0), "0s");
  });
});

describe("metrics.k8s.io/v1beta1 through ApiServer.handle", () => {
  test("KA-TOP-1 the group is in legacy and aggregated discovery with get and list", async () => {
    const { get } = await setup();
    const groups = (await get("/apis")).body as { groups: { name: string }[] };
    assert.ok(groups.groups.some((g) => g.name === "metrics.k8s.io"));
    const list = (await get("/apis/metrics.k8s.io/v1beta1")).body as {
      resources: { name: string; kind: string; namespaced: boolean; verbs: string[] }[];
    };
    assert.deepEqual(
      list.resources.map((r) => [r.name, r.kind, r.namespaced, r.verbs]),
      [
        ["nodes", "NodeMetrics", false, ["get", "list"]],
        ["pods", "PodMetrics", true, ["get", "list"]],
      ],
    );
    const agg = await get("/apis", {
      headers: { accept: "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList" },
    });
    const items = (agg.body as { items: { metadata: { name: string } }[] }).items;
    assert.ok(items.some((i) => i.metadata.name === "metrics.k8s.io"));
  });

  test("KA-TOP-1 without a provider the group is absent and 404", async () => {
    const server = new ApiServer({
      store: new MemoryStore(),
      clock: new FakeClock(),
      logger: nullLogger,
    });
    const groups = (await server.handle({ method: "GET", path: "/apis" })).body as {
      groups: { name: string }[];
    };
    assert.ok(!groups.groups.some((g) => g.name === "metrics.k8s.io"));
    const r = await server.handle({ method: "GET", path: "/apis/metrics.k8s.io/v1beta1/nodes" });
    assert.equal(r.status, 404);
  });

  test("KA-TOP-1 lists PodMetrics of existing pods with their labels, filtered by selector", async () => {
    const { get, metrics, server } = await setup();
    for (const p of [pod("burn", { app: "burn" }), pod("idle", { app: "idle" })]) {
      const r = await server.handle({
        method: "POST",
        path: "/api/v1/namespaces/default/pods",
        body: p,
      });
      assert.equal(r.status, 201);
    }
    metrics.pods = [usage("idle", 0), usage("burn", 1_002_345_678), usage("gone", 5)];
    const r = await get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods");
    assert.equal(r.status, 200);
    const list = r.body as { kind: string; apiVersion: string; items: PodMetrics[] };
    assert.equal(list.kind, "PodMetricsList");
    assert.equal(list.apiVersion, "metrics.k8s.io/v1beta1");
    assert.deepEqual(
      list.items.map((i) => i.metadata.name),
      ["burn", "idle"],
      "sorted, and metrics of deleted pods dropped",
    );
    assert.deepEqual(list.items[0], {
      kind: "PodMetrics",
      apiVersion: "metrics.k8s.io/v1beta1",
      metadata: {
        name: "burn",
        namespace: "default",
        creationTimestamp: "2025-01-01T00:00:00Z",
        labels: { app: "burn" },
      },
      timestamp: "2024-12-31T23:59:59Z",
      window: "10.5s",
      containers: [{ name: "c1", usage: { cpu: "1002345678n", memory: "5124Ki" } }],
    });
    const selected = await get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods", {
      query: { labelSelector: "app=idle" },
    });
    assert.deepEqual(
      (selected.body as { items: PodMetrics[] }).items.map((i) => i.metadata.name),
      ["idle"],
    );
    const all = await get("/apis/metrics.k8s.io/v1beta1/pods");
    assert.equal((all.body as { items: PodMetrics[] }).items.length, 2);
  });

  test("KA-TOP-1 gets one PodMetrics; a pod without metrics is NotFound", async () => {
    const { get, metrics, server } = await setup();
    await server.handle({
      method: "POST",
      path: "/api/v1/namespaces/default/pods",
      body: pod("burn", {}),
    });
    let r = await get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/burn");
    assert.equal(r.status, 404);
    assert.equal((r.body as Status).message, 'podmetrics.metrics.k8s.io "default/burn" not found');
    metrics.pods = [usage("burn", 250e6)];
    r = await get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/burn");
    assert.equal(r.status, 200);
    assert.equal((r.body as PodMetrics).containers[0]?.usage.cpu, "250m");
  });

  test("KA-TOP-1 NodeMetrics list and get, read-only", async () => {
    const { get, metrics, server } = await setup();
    await server.handle({
      method: "POST",
      path: "/api/v1/nodes",
      body: { apiVersion: "v1", kind: "Node", metadata: { name: "n1", labels: { a: "b" } } },
    });
    metrics.nodes = [
      {
        name: "n1",
        timestampMs: Date.UTC(2025, 0, 1),
        windowMs: 10_000,
        cpuNanoCores: 1.5e9,
        memoryWorkingSetBytes: 1 << 30,
      },
    ];
    const list = (await get("/apis/metrics.k8s.io/v1beta1/nodes")).body as {
      kind: string;
      items: KubeObject[];
    };
    assert.equal(list.kind, "NodeMetricsList");
    assert.deepEqual(list.items[0], {
      kind: "NodeMetrics",
      apiVersion: "metrics.k8s.io/v1beta1",
      metadata: { name: "n1", creationTimestamp: "2025-01-01T00:00:00Z", labels: { a: "b" } },
      timestamp: "2025-01-01T00:00:00Z",
      window: "10s",
      usage: { cpu: "1500m", memory: "1Gi" },
    });
    assert.equal((await get("/apis/metrics.k8s.io/v1beta1/nodes/n1")).status, 200);
    assert.equal((await get("/apis/metrics.k8s.io/v1beta1/nodes/n2")).status, 404);
    const del = await server.handle({
      method: "DELETE",
      path: "/apis/metrics.k8s.io/v1beta1/nodes/n1",
    });
    assert.equal(del.status, 405);
  });
});

describe("/metrics", () => {
  test("serves request counters, a duration histogram, process and injected families", async () => {
    const { get } = await setup({
      prometheusSources: [
        {
          prometheusText: () =>
            Promise.resolve("# TYPE kubelet_running_pods gauge\nkubelet_running_pods 3\n"),
        },
      ],
    });
    await get("/api/v1/namespaces/default/pods");
    await get("/api/v1/namespaces/default/pods/missing");
    await get("/version");
    const r = await get("/metrics");
    assert.equal(r.status, 200);
    assert.match(r.contentType ?? "", /^text\/plain; version=0\.0\.4/);
    const body = await text(r.stream);
    assert.match(
      body,
      /^apiserver_request_total\{verb="LIST",group="",version="v1",resource="pods",subresource="",scope="namespace",component="apiserver",code="200"\} 1$/m,
    );
    assert.match(
      body,
      /^apiserver_request_total\{verb="GET",group="",version="v1",resource="pods",subresource="",scope="resource",component="apiserver",code="404"\} 1$/m,
    );
    assert.match(
      body,
      /^apiserver_request_total\{verb="GET",group="",version="",resource="".*code="200"\} 1$/m,
    );
    assert.match(body, /^# TYPE apiserver_request_duration_seconds histogram$/m);
    assert.match(body, /^process_resident_memory_bytes \d+$/m);
    assert.match(body, /^kubelet_running_pods 3$/m);
  });

  test("RequestMetrics histogram buckets are cumulative with sum and count", () => {
    const m = new RequestMetrics();
    const l = {
      verb: "GET",
      group: "",
      version: "v1",
      resource: "pods",
      subresource: "",
      scope: "resource",
    };
    m.observe(l, 200, 30);
    m.observe(l, 200, 700);
    const t = m.text();
    assert.match(t, /_bucket\{[^}]*le="0.025"\} 0$/m);
    assert.match(t, /_bucket\{[^}]*le="0.05"\} 1$/m);
    assert.match(t, /_bucket\{[^}]*le="0.8"\} 2$/m);
    assert.match(t, /_bucket\{[^}]*le="\+Inf"\} 2$/m);
    assert.match(t, /^apiserver_request_duration_seconds_sum\{[^}]*\} 0.73$/m);
    assert.match(t, /^apiserver_request_duration_seconds_count\{[^}]*\} 2$/m);
    assert.match(t, /^apiserver_request_total\{[^}]*code="200"\} 2$/m);
  });
});
