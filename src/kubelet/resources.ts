import {
  parseMilliCpu,
  parseQuantity,
  type Container,
  type Pod,
  type Quantity,
} from "../api/index.js";
import type { LinuxResources } from "../runtime/index.js";

/**
 * The numeric value of a Kubernetes quantity in base units (`100m` → 0.1, `64Mi` → 67108864).
 * Throws RangeError for malformed input.
 */
export function quantityValue(q: Quantity): number {
  return parseQuantity(q);
}

/** Millicores of a cpu quantity, rounded up like upstream `MilliValue`. */
export function milliValue(q: Quantity): number {
  return parseMilliCpu(q);
}

/** Integer value of a quantity, rounded up like upstream `Value`. */
export function intValue(q: Quantity): number {
  return Math.ceil(Math.round(quantityValue(q) * 1e6) / 1e6);
}

/** The QoS classes of PL-RES-2. */
export type QosClass = "Guaranteed" | "Burstable" | "BestEffort";

const MIN_SHARES = 2;
const MAX_SHARES = 262144;
const CPU_PERIOD_US = 100_000;
const MIN_QUOTA_US = 1000;

function allContainers(pod: Pod): Container[] {
  return [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
}

function isSidecar(c: Container): boolean {
  return c.restartPolicy === "Always";
}

/** A container's request for `res`, defaulting to its limit (PL-RES-1); undefined when neither. */
function request(c: Container, res: "cpu" | "memory"): Quantity | undefined {
  return c.resources?.requests?.[res] ?? c.resources?.limits?.[res];
}

function limit(c: Container, res: "cpu" | "memory"): Quantity | undefined {
  return c.resources?.limits?.[res];
}

function isZero(q: Quantity | undefined): boolean {
  return q === undefined || quantityValue(q) === 0;
}

/** The pod's QoS class (PL-RES-2): only cpu and memory of init + regular containers count. */
export function qosClass(pod: Pod): QosClass {
  let anySet = false;
  let guaranteed = true;
  for (const c of allContainers(pod)) {
    for (const res of ["cpu", "memory"] as const) {
      const req = c.resources?.requests?.[res];
      const lim = limit(c, res);
      if (!isZero(req) || !isZero(lim)) anySet = true;
      // A missing request defaults to the limit (PL-RES-1), so compare against that.
      const effReq = req ?? lim;
      if (lim === undefined || isZero(lim) || effReq === undefined) {
        guaranteed = false;
      } else if (quantityValue(effReq) !== quantityValue(lim)) {
        guaranteed = false;
      }
    }
  }
  if (!anySet) return "BestEffort";
  return guaranteed ? "Guaranteed" : "Burstable";
}

/**
 * The pod cgroup path below `cgroupRoot` (cgroupfs naming, PL-RES-3):
 * `<root>/kubepods/pod<uid>`, `<root>/kubepods/burstable/pod<uid>` or `…/besteffort/pod<uid>`.
 */
export function podCgroupParent(pod: Pod, cgroupRoot: string): string {
  const root = cgroupRoot.replace(/\/+$/, "");
  const uid = pod.metadata.uid ?? "";
  const prefix = root === "" ? "" : `${root}/`;
  switch (qosClass(pod)) {
    case "Guaranteed":
      return `${prefix}kubepods/pod${uid}`;
    case "Burstable":
      return `${prefix}kubepods/burstable/pod${uid}`;
    case "BestEffort":
      return `${prefix}kubepods/besteffort/pod${uid}`;
  }
}

/**
 * The effective pod request of `res` (PL-INIT-10): the larger of the sum over regular
 * containers plus all sidecars and, for each regular init container, its request plus the
 * requests of the sidecars declared before it. Returned as an integer (millicores for cpu,
 * bytes for memory).
 */
export function effectivePodRequest(pod: Pod, res: "cpu" | "memory"): number {
  const val = (c: Container): number => {
    const q = request(c, res);
    if (q === undefined) return 0;
    return res === "cpu" ? milliValue(q) : intValue(q);
  };
  let sum = 0;
  for (const c of pod.spec.containers) sum += val(c);
  let sidecarsBefore = 0;
  let initMax = 0;
  for (const c of pod.spec.initContainers ?? []) {
    if (isSidecar(c)) {
      sidecarsBefore += val(c);
      sum += val(c);
    } else {
      initMax = Math.max(initMax, val(c) + sidecarsBefore);
    }
  }
  return Math.max(sum, initMax);
}

/** Sum of limits of `res` over regular containers and sidecars, or undefined when one lacks it. */
function podLimitSum(pod: Pod, res: "cpu" | "memory"): number | undefined {
  const val = (q: Quantity): number => (res === "cpu" ? milliValue(q) : intValue(q));
  let sum = 0;
  for (const c of pod.spec.containers) {
    const l = limit(c, res);
    if (l === undefined || isZero(l)) return undefined;
    sum += val(l);
  }
  let sidecars = 0;
  let initMax = 0;
  for (const c of pod.spec.initContainers ?? []) {
    const l = limit(c, res);
    if (l === undefined || isZero(l)) return undefined;
    if (isSidecar(c)) {
      sidecars += val(l);
      sum += val(l);
    } else {
      initMax = Math.max(initMax, val(l) + sidecars);
    }
  }
  return Math.max(sum, initMax);
}

/** cpu.shares for a request in millicores (PL-RES-4). */
export function milliCpuToShares(milli: number): number {
  if (milli === 0) return MIN_SHARES;
  const shares = Math.floor((milli * 1024) / 1000);
  return Math.min(MAX_SHARES, Math.max(MIN_SHARES, shares));
}

/** CFS quota in µs for a limit in millicores (PL-RES-5). */
export function milliCpuToQuota(milli: number, periodUs: number = CPU_PERIOD_US): number {
  if (milli === 0) return 0;
  return Math.max(MIN_QUOTA_US, Math.floor((milli * periodUs) / 1000));
}

/** cgroup v2 cpu.weight for cgroup v1 shares (PL-RES-4, runc's conversion). */
export function sharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/** Limits of the pod cgroup (PL-RES-7). */
export function podResources(pod: Pod): LinuxResources {
  if (qosClass(pod) === "BestEffort") return { cpuShares: MIN_SHARES };
  const out: LinuxResources = {
    cpuShares: milliCpuToShares(effectivePodRequest(pod, "cpu")),
    cpuPeriodUs: CPU_PERIOD_US,
  };
  const cpuLimit = podLimitSum(pod, "cpu");
  if (cpuLimit !== undefined) out.cpuQuotaUs = milliCpuToQuota(cpuLimit);
  const memLimit = podLimitSum(pod, "memory");
  if (memLimit !== undefined) out.memoryLimitBytes = memLimit;
  return out;
}

/** oom_score_adj of the pause process (PL-RES-8). */
export const SANDBOX_OOM_SCORE_ADJ = -998;

/** oom_score_adj of a container (PL-RES-8, PL-SIDE-9). */
export function oomScoreAdj(pod: Pod, container: Container, nodeMemoryBytes: number): number {
  // Node-critical pods are the last to be killed whatever their class.
  if (isNodeCritical(pod)) return -997;
  const qos = qosClass(pod);
  if (qos === "Guaranteed") return -997;
  if (qos === "BestEffort") return 1000;
  const memReq = (c: Container): number => {
    const q = request(c, "memory");
    return q === undefined ? 0 : intValue(q);
  };
  let adj = 1000 - Math.trunc((1000 * memReq(container)) / nodeMemoryBytes);
  if (isSidecar(container) && pod.spec.containers.length > 0) {
    // PL-SIDE-9: a sidecar must not outlive the OOM killer's choice among the regular
    // containers it serves, so it never scores above the smallest-request regular container.
    const minReq = Math.min(...pod.spec.containers.map(memReq));
    adj = Math.min(adj, 1000 - Math.trunc((1000 * minReq) / nodeMemoryBytes));
  }
  // Keep Burstable strictly between Guaranteed (-997 + 1000 = 3) and BestEffort (1000).
  if (adj < 3) return 3;
  if (adj === 1000) return 999;
  return adj;
}

function isNodeCritical(pod: Pod): boolean {
  const prio = pod.spec.priority;
  return (
    prio !== undefined &&
    prio >= 2_000_000_000 &&
    pod.spec.priorityClassName === "system-node-critical"
  );
}

/** Limits of one container's cgroup (PL-RES-4..8, PL-SIDE-9). */
export function containerResources(
  pod: Pod,
  container: Container,
  nodeMemoryBytes: number,
): LinuxResources {
  const out: LinuxResources = { cpuPeriodUs: CPU_PERIOD_US };
  const reqCpu = container.resources?.requests?.["cpu"];
  const limCpu = limit(container, "cpu");
  // PL-RES-4: a limit without a request behaves like request = limit.
  const sharesFrom = reqCpu ?? limCpu;
  out.cpuShares = milliCpuToShares(sharesFrom === undefined ? 0 : milliValue(sharesFrom));
  if (limCpu !== undefined && !isZero(limCpu)) out.cpuQuotaUs = milliCpuToQuota(milliValue(limCpu));
  const limMem = limit(container, "memory");
  if (limMem !== undefined && !isZero(limMem)) out.memoryLimitBytes = intValue(limMem);
  out.oomScoreAdj = oomScoreAdj(pod, container, nodeMemoryBytes);
  return out;
}
