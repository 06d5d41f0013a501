import { ApiError, type ApiResponse, type KubeObject } from "../../api/index.js";
import type { ResourceInfo } from "../resources.js";
import { compileFilter, matchesFilter } from "../selectors.js";
import { formatBytes, formatGoDuration, formatNanoCores } from "./quantity.js";
import type { MetricsProvider, NodeMetrics, NodeUsage, PodMetrics, PodUsage } from "./types.js";

/** The group metrics-server registers (KA-TOP-1). */
export const METRICS_GROUP = "metrics.k8s.io";

function metricsResource(resource: string, kind: string, namespaced: boolean): ResourceInfo {
  return {
    group: METRICS_GROUP,
    version: "v1beta1",
    resource,
    singular: "",
    kind,
    listKind: `${kind}List`,
    namespaced,
    shortNames: [],
    categories: [],
    verbs: ["get", "list"],
    subresources: [],
  };
}

/**
 * `metrics.k8s.io/v1beta1` `nodes` (NodeMetrics) and `pods` (PodMetrics), get and list only,
 * as metrics-server's APIService publishes them. Served only when a MetricsProvider is set.
 */
export const METRICS_RESOURCES: readonly ResourceInfo[] = [
  metricsResource("nodes", "NodeMetrics", false),
  metricsResource("pods", "PodMetrics", true),
];

/** Reads the objects the metrics are about (labels, existence) from the API's own storage. */
export interface MetricsObjectLister {
  /** Every pod, or the pods of namespace `ns`. */
  pods(ns: string | undefined): Promise<KubeObject[]>;
  nodes(): Promise<KubeObject[]>;
}

/** One metrics request, already routed. */
export interface MetricsRequest {
  info: ResourceInfo;
  namespace: string | undefined;
  name: string | undefined;
  labelSelector: string | undefined;
  fieldSelector: string | undefined;
  nowMs: number;
  signal: AbortSignal | undefined;
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function labelsOf(obj: KubeObject | undefined): { labels?: Record<string, string> } {
  const labels = obj?.metadata.labels;
  return labels === undefined || Object.keys(labels).length === 0 ? {} : { labels };
}

/** A PodMetrics object from raw usage (quantities as metrics-server prints them). */
export function toPodMetrics(u: PodUsage, pod: KubeObject | undefined, nowMs: number): PodMetrics {
  return {
    kind: "PodMetrics",
    apiVersion: "metrics.k8s.io/v1beta1",
    metadata: {
      name: u.name,
      namespace: u.namespace,
      creationTimestamp: iso(nowMs),
      ...labelsOf(pod),
    },
    timestamp: iso(u.timestampMs),
    window: formatGoDuration(u.windowMs),
    containers: u.containers.map((c) => ({
      name: c.name,
      usage: {
        cpu: formatNanoCores(c.cpuNanoCores),
        memory: formatBytes(c.memoryWorkingSetBytes),
      },
    })),
  };
}

/** A NodeMetrics object from raw usage. */
export function toNodeMetrics(
  u: NodeUsage,
  node: KubeObject | undefined,
  nowMs: number,
): NodeMetrics {
  return {
    kind: "NodeMetrics",
    apiVersion: "metrics.k8s.io/v1beta1",
    metadata: { name: u.name, creationTimestamp: iso(nowMs), ...labelsOf(node) },
    timestamp: iso(u.timestampMs),
    window: formatGoDuration(u.windowMs),
    usage: {
      cpu: formatNanoCores(u.cpuNanoCores),
      memory: formatBytes(u.memoryWorkingSetBytes),
    },
  };
}

/**
 * Serves a GET on `metrics.k8s.io/v1beta1` from `provider`, joined with the pods and nodes
 * in storage: metrics of objects that no longer exist are dropped, labels come from the
 * objects, and `labelSelector`/`fieldSelector` select on them as metrics-server does.
 * A named object without metrics is NotFound (`podmetrics.metrics.k8s.io "ns/x" not found`,
 * upstream wording), which kubectl reports as "metrics not available yet".
 */
export async function serveMetrics(
  req: MetricsRequest,
  provider: MetricsProvider,
  lister: MetricsObjectLister,
): Promise<ApiResponse> {
  const { info, namespace: ns, name, nowMs } = req;
  const filter = compileFilter(
    "",
    info.resource,
    req.labelSelector,
    [req.fieldSelector, name === undefined ? undefined : `metadata.name=${name}`]
      .filter((s): s is string => s !== undefined && s !== "")
      .join(","),
  );
  const opts = req.signal === undefined ? {} : { signal: req.signal };
  let items: (PodMetrics | NodeMetrics)[];
  if (info.resource === "pods") {
    const [usage, pods] = await Promise.all([provider.podUsage(ns, opts), lister.pods(ns)]);
    const byKey = new Map(
      pods.map((p) => [`${p.metadata.namespace ?? ""}/${p.metadata.name ?? ""}`, p]),
    );
    items = [];
    for (const u of usage) {
      const pod = byKey.get(`${u.namespace}/${u.name}`);
      if (pod === undefined || !matchesFilter(filter, pod)) continue;
      items.push(toPodMetrics(u, pod, nowMs));
    }
  } else {
    const [usage, nodes] = await Promise.all([provider.nodeUsage(opts), lister.nodes()]);
    const byName = new Map(nodes.map((n) => [n.metadata.name ?? "", n]));
    items = [];
    for (const u of usage) {
      const node = byName.get(u.name);
      // A node object may lag behind the kubelet's first sample; match the bare name then.
      const subject = node ?? { metadata: { name: u.name } };
      if (!matchesFilter(filter, subject)) continue;
      items.push(toNodeMetrics(u, node, nowMs));
    }
  }
  if (name !== undefined) {
    const found = items[0];
    if (found === undefined) {
      const kind = info.resource === "pods" ? "podmetrics" : "nodemetrics";
      const shown = ns === undefined ? name : `${ns}/${name}`;
      throw new ApiError("NotFound", `${kind}.${METRICS_GROUP} "${shown}" not found`, {
        name,
        group: METRICS_GROUP,
        kind: info.resource,
      });
    }
    return { status: 200, body: found };
  }
  const keyOf = (m: PodMetrics | NodeMetrics): string =>
    "namespace" in m.metadata ? `${m.metadata.namespace}/${m.metadata.name}` : m.metadata.name;
  items.sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
  return {
    status: 200,
    body: {
      kind: info.listKind,
      apiVersion: `${METRICS_GROUP}/v1beta1`,
      metadata: {},
      items,
    },
  };
}
