import {
  parseMilliCpu,
  parseQuantity,
  type Container,
  type Node,
  type Pod,
  type Quantity,
  type Toleration,
} from "../api/index.js";

/** Resource amounts by name: `cpu` in millicores, everything else in base units. */
export type ResourceAmounts = Record<string, number>;

/** The outcome of placing one pod: a node, or the Unschedulable message. */
export type FitResult = { fits: true; nodeName: string } | { fits: false; message: string };

/** Taint put on nodes whose Ready condition is not True (node lifecycle controller). */
export const NOT_READY_TAINT = "node.kubernetes.io/not-ready";
/** Taint put on cordoned nodes. */
export const UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable";

function amount(name: string, q: Quantity): number {
  return name === "cpu" ? parseMilliCpu(q) : Math.ceil(parseQuantity(q));
}

function add(into: ResourceAmounts, from: ResourceAmounts): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

function maxInto(into: ResourceAmounts, from: ResourceAmounts): void {
  for (const [k, v] of Object.entries(from)) into[k] = Math.max(into[k] ?? 0, v);
}

function containerRequests(c: Container): ResourceAmounts {
  const out: ResourceAmounts = {};
  // An unset request defaults to the limit (API defaulting does the same).
  const src = { ...c.resources?.limits, ...c.resources?.requests };
  for (const [k, v] of Object.entries(src)) out[k] = amount(k, v);
  return out;
}

/**
 * The effective request of a pod for scheduling (PL-INIT-10): the larger of (regular
 * containers + all sidecars) and, for each init container i, its request plus the requests
 * of the sidecars declared before it; plus the pod overhead.
 */
export function podRequests(pod: Pod): ResourceAmounts {
  const total: ResourceAmounts = {};
  for (const c of pod.spec.containers) add(total, containerRequests(c));
  const sidecarsSoFar: ResourceAmounts = {};
  const initMax: ResourceAmounts = {};
  for (const c of pod.spec.initContainers ?? []) {
    const req = containerRequests(c);
    if (c.restartPolicy === "Always") {
      add(sidecarsSoFar, req);
      add(total, req);
      maxInto(initMax, { ...sidecarsSoFar });
    } else {
      const during: ResourceAmounts = { ...sidecarsSoFar };
      add(during, req);
      maxInto(initMax, during);
    }
  }
  maxInto(total, initMax);
  for (const [k, v] of Object.entries(pod.spec.overhead ?? {}))
    total[k] = (total[k] ?? 0) + amount(k, v);
  return total;
}

/** True when `pod` is in a terminal phase (its resources are free again). */
export function isTerminal(pod: Pod): boolean {
  return pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed";
}

/** True when the node's Ready condition is True. */
export function isNodeReady(node: Node): boolean {
  return node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true;
}

function tolerates(tolerations: Toleration[], taint: Toleration): boolean {
  return tolerations.some((t) => {
    if (t.effect !== undefined && t.effect !== taint.effect) return false;
    if (t.operator === "Exists") return t.key === undefined || t.key === "" || t.key === taint.key;
    return t.key === taint.key && (t.value ?? "") === (taint.value ?? "");
  });
}

/** The effective NoSchedule/NoExecute taints of a node, including implied condition taints. */
function schedulingTaints(node: Node): Toleration[] {
  const taints = (node.spec?.taints ?? []).filter(
    (t) => t.effect === "NoSchedule" || t.effect === "NoExecute",
  );
  // Upstream's node lifecycle controller taints a not-ready node; imply it when missing.
  if (!isNodeReady(node) && !taints.some((t) => t.key === NOT_READY_TAINT))
    taints.push({ key: NOT_READY_TAINT, effect: "NoSchedule" });
  return taints;
}

/**
 * Why `pod` cannot go to `node` (upstream filter messages), or an empty list when it fits.
 * `used` is the sum of requests of the non-terminal pods already on the node, `podCount`
 * their number. `helpful` says whether evicting pods could help (resource reasons only).
 */
export function nodeFailures(
  pod: Pod,
  node: Node,
  used: ResourceAmounts,
  podCount: number,
): { reasons: string[]; preemptionMayHelp: boolean } {
  // NodeUnschedulable.
  if (
    node.spec?.unschedulable === true &&
    !tolerates(pod.spec.tolerations ?? [], { key: UNSCHEDULABLE_TAINT, effect: "NoSchedule" })
  )
    return { reasons: ["node(s) were unschedulable"], preemptionMayHelp: false };
  // TaintToleration: the first untolerated taint is reported.
  for (const taint of schedulingTaints(node)) {
    if (!tolerates(pod.spec.tolerations ?? [], taint))
      return {
        reasons: [`node(s) had untolerated taint {${taint.key ?? ""}: ${taint.value ?? ""}}`],
        preemptionMayHelp: false,
      };
  }
  // NodeAffinity (nodeSelector only).
  const labels = node.metadata.labels ?? {};
  for (const [k, v] of Object.entries(pod.spec.nodeSelector ?? {})) {
    if (labels[k] !== v)
      return {
        reasons: ["node(s) didn't match Pod's node affinity/selector"],
        preemptionMayHelp: false,
      };
  }
  // NodeResourcesFit: every insufficient resource is reported.
  const allocatable = node.status?.allocatable;
  if (allocatable === undefined) return { reasons: [], preemptionMayHelp: false };
  const reasons: string[] = [];
  const maxPods = allocatable["pods"];
  if (maxPods !== undefined && podCount + 1 > parseQuantity(maxPods)) reasons.push("Too many pods");
  const req = podRequests(pod);
  for (const [name, want] of Object.entries(req).sort(([a], [b]) => a.localeCompare(b))) {
    if (want <= 0) continue;
    const cap = allocatable[name];
    if (cap === undefined) {
      // Extended resources the node does not offer cannot fit; cpu/memory unset means unknown.
      if (name.includes("/")) reasons.push(`Insufficient ${name}`);
      continue;
    }
    if ((used[name] ?? 0) + want > amount(name, cap)) reasons.push(`Insufficient ${name}`);
  }
  return { reasons, preemptionMayHelp: reasons.length > 0 };
}

/**
 * Picks a node for `pod` among `nodes`, given the pods already assigned (terminal ones are
 * ignored). Pure. The first fitting node in name order wins; with none, the message is
 * upstream's `0/N nodes are available: <count> <reason>, …. preemption: …`.
 */
export function findNodeForPod(pod: Pod, nodes: Node[], assigned: Pod[]): FitResult {
  if (nodes.length === 0) return { fits: false, message: "no nodes available to schedule pods" };
  const byNode = new Map<string, { used: ResourceAmounts; count: number }>();
  for (const p of assigned) {
    const nodeName = p.spec.nodeName;
    if (nodeName === undefined || nodeName === "" || isTerminal(p)) continue;
    const e = byNode.get(nodeName) ?? { used: {}, count: 0 };
    add(e.used, podRequests(p));
    e.count += 1;
    byNode.set(nodeName, e);
  }
  const counts = new Map<string, number>();
  let notHelpful = 0;
  const sorted = [...nodes].sort((a, b) =>
    (a.metadata.name ?? "").localeCompare(b.metadata.name ?? ""),
  );
  for (const node of sorted) {
    const name = node.metadata.name ?? "";
    const e = byNode.get(name) ?? { used: {}, count: 0 };
    const { reasons, preemptionMayHelp } = nodeFailures(pod, node, e.used, e.count);
    if (reasons.length === 0) return { fits: true, nodeName: name };
    if (!preemptionMayHelp) notHelpful += 1;
    for (const r of reasons) counts.set(r, (counts.get(r) ?? 0) + 1);
  }
  const n = nodes.length;
  const parts = [...counts].map(([r, c]) => `${c} ${r}`).sort();
  const preemption: string[] = [];
  if (notHelpful > 0) preemption.push(`${notHelpful} Preemption is not helpful for scheduling`);
  if (n - notHelpful > 0)
    preemption.push(`${n - notHelpful} No preemption victims found for incoming pod`);
  return {
    fits: false,
    message:
      `0/${n} nodes are available: ${parts.join(", ")}. ` +
      `preemption: 0/${n} nodes are available: ${preemption.sort().join(", ")}.`,
  };
}
