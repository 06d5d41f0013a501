import {
  rfc3339,
  type Container,
  type ContainerState,
  type ContainerStatus,
  type Pod,
  type PodCondition,
  type PodPhase,
  type PodStatus,
} from "../api/index.js";
import type { ContainerId } from "../runtime/index.js";
import type { ProbeResults } from "./pod-actions.js";
import { qosClass } from "./resources.js";
import { podSandboxChanged, shouldContainerBeRestarted } from "./pod-actions.js";
import {
  ANN_IMAGE_DIGEST,
  ANN_IMAGE_NAME,
  containerIdUrl,
  instancesOf,
  isSidecar,
  newestInstance,
  type ContainerKind,
  type RuntimeContainer,
  type RuntimePodStatus,
} from "./runtime-pod.js";

/** A cached start failure (PL-RUN-9): Waiting reason and message. */
export interface StartFailure {
  reason: string;
  message: string;
}

/** Inputs of status generation besides the pod and the runtime state. */
export interface StatusContext {
  nowMs: number;
  probes: ProbeResults;
  /** Node IPs, primary first (PL-PHASE-11). */
  nodeIPs: string[];
  /** Cached start failures by container name (PL-RUN-9). */
  startFailures: ReadonlyMap<string, StartFailure>;
  /** Termination messages already read for exited instances, by container id (PL-TERM-12). */
  terminationMessages: ReadonlyMap<ContainerId | string, string>;
  /** True on the terminating path (deleted, deadline): PL-PHASE-5. */
  isTerminating: boolean;
  /** A kubelet decision forcing `Failed` (PL-PHASE-7), e.g. DeadlineExceeded. */
  forcedFailure?: { reason: string; message: string } | undefined;
  /** `status.startTime` to set when the pod has none yet (PL-PHASE-11). */
  startTime?: string | undefined;
}

const UNKNOWN_RUNNING_MSG =
  "The container could not be located when the pod was deleted.  The container used to be Running";

/**
 * Generates the pod's API status from its spec, the runtime state and the previous status
 * (upstream `generateAPIPodStatus`): phase (PL-PHASE), conditions (PL-COND), container
 * statuses (PL-CST, PL-INIT-9), pod IPs. Pure.
 */
export function generatePodStatus(pod: Pod, rs: RuntimePodStatus, ctx: StatusContext): PodStatus {
  const old = pod.status ?? {};
  const hasInit = (pod.spec.initContainers ?? []).length > 0;
  const initStatuses = convertStatuses(
    pod,
    rs,
    ctx,
    pod.spec.initContainers ?? [],
    old.initContainerStatuses,
    "init",
    hasInit,
  );
  const containerStatuses = convertStatuses(
    pod,
    rs,
    ctx,
    pod.spec.containers,
    old.containerStatuses,
    "regular",
    hasInit,
  ).sort(byName);
  const ephemeral = convertStatuses(
    pod,
    rs,
    ctx,
    pod.spec.ephemeralContainers ?? [],
    old.ephemeralContainerStatuses,
    "ephemeral",
    hasInit,
  ).sort(byName);
  truncateMessages(pod, [...initStatuses, ...containerStatuses]);

  const status: PodStatus = {};
  // Step 1: phase, with terminal stickiness (PL-PHASE-6) and PL-PHASE-10.
  let phase = computePhase(pod, initStatuses, containerStatuses, ctx.isTerminating);
  let reason: string | undefined;
  let message: string | undefined;
  if (ctx.forcedFailure !== undefined) {
    phase = "Failed";
    reason = ctx.forcedFailure.reason;
    message = ctx.forcedFailure.message;
  }
  if (old.phase === "Succeeded" || old.phase === "Failed") {
    if (phase !== old.phase) {
      reason = old.reason;
      message = old.message;
    }
    phase = old.phase;
  }
  const anyRunning = rs.containers.some((c) => c.state === "running" || c.state === "unknown");
  if ((phase === "Succeeded" || phase === "Failed") && anyRunning && old.phase !== phase) {
    phase = old.phase ?? "Pending";
    reason = old.reason;
    message = old.message;
  } else if (reason === undefined && phase === old.phase) {
    reason = old.reason;
    message = old.message;
  }
  status.phase = phase;
  if (reason !== undefined) status.reason = reason;
  if (message !== undefined) status.message = message;

  // Step 2: conditions (PL-COND-1..6).
  status.conditions = computeConditions(pod, rs, phase, initStatuses, containerStatuses, ctx);

  // Step 3: addresses (PL-PHASE-11, PL-SBX-4).
  if (ctx.nodeIPs.length > 0) {
    status.hostIP = ctx.nodeIPs[0] ?? "";
    status.hostIPs = ctx.nodeIPs.map((ip) => ({ ip }));
  }
  const sandbox = rs.sandboxes.find((s) => s.state === "ready");
  const podIPs =
    pod.spec.hostNetwork === true ? ctx.nodeIPs : sandbox !== undefined ? sandbox.ips : [];
  if (podIPs.length > 0) {
    status.podIP = podIPs[0] ?? "";
    status.podIPs = podIPs.map((ip) => ({ ip }));
  } else if (old.podIP !== undefined) {
    status.podIP = old.podIP;
    if (old.podIPs !== undefined) status.podIPs = old.podIPs;
  }
  const startTime = old.startTime ?? ctx.startTime;
  if (startTime !== undefined) status.startTime = startTime;
  if (hasInit) status.initContainerStatuses = initStatuses;
  status.containerStatuses = containerStatuses;
  if (ephemeral.length > 0) status.ephemeralContainerStatuses = ephemeral;
  status.qosClass = old.qosClass ?? qosClass(pod);
  if (old.nominatedNodeName !== undefined) status.nominatedNodeName = old.nominatedNodeName;
  return status;
}

function byName(a: ContainerStatus, b: ContainerStatus): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function ts(ms: number | undefined): string | null {
  return ms === undefined || ms === 0 ? null : rfc3339(ms);
}

function terminatedState(rc: RuntimeContainer, ctx: StatusContext): ContainerState {
  const term = ctx.terminationMessages.get(rc.id) ?? "";
  const runtimeMsg = rc.message ?? "";
  // PL-CST-9: runtime message, then ": ", then the termination message.
  const msg = runtimeMsg !== "" && term !== "" ? `${runtimeMsg}: ${term}` : runtimeMsg || term;
  const exitCode = rc.exitCode ?? 0;
  const t: NonNullable<ContainerState["terminated"]> = {
    exitCode,
    reason: rc.reason ?? (exitCode === 0 ? "Completed" : "Error"),
    startedAt: ts(rc.startedAt),
    finishedAt: ts(rc.finishedAt),
    containerID: containerIdUrl(rc.id),
  };
  if (msg !== "") t.message = msg;
  return { terminated: t };
}

function convertOne(
  rc: RuntimeContainer,
  old: ContainerStatus | undefined,
  ctx: StatusContext,
): ContainerStatus {
  const s: ContainerStatus = {
    name: rc.containerName,
    image: rc.annotations[ANN_IMAGE_NAME] ?? rc.image,
    imageID: rc.annotations[ANN_IMAGE_DIGEST] ?? rc.imageRef,
    containerID: containerIdUrl(rc.id),
    ready: false,
    restartCount: rc.restartCount,
    state: {},
  };
  switch (rc.state) {
    case "running":
      s.state = { running: { startedAt: ts(rc.startedAt) ?? rfc3339(rc.createdAt) } };
      break;
    case "created":
      s.state = { waiting: {} };
      break;
    case "exited":
      s.state = terminatedState(rc, ctx);
      break;
    case "unknown":
      if (old?.state?.running !== undefined) {
        // PL-CST-2: a running container that can no longer be read.
        s.state = {
          terminated: {
            exitCode: 137,
            reason: "ContainerStatusUnknown",
            message: "The container could not be located when the pod was terminated",
            containerID: containerIdUrl(rc.id),
          },
        };
        s.restartCount = rc.restartCount + 1;
      } else {
        s.state = { waiting: {} };
      }
      break;
  }
  return s;
}

function convertStatuses(
  pod: Pod,
  rs: RuntimePodStatus,
  ctx: StatusContext,
  specs: Container[],
  oldList: ContainerStatus[] | undefined,
  kind: ContainerKind,
  hasInit: boolean,
): ContainerStatus[] {
  const defaultReason = hasInit ? "PodInitializing" : "ContainerCreating";
  const oldByName = new Map((oldList ?? []).map((s) => [s.name, s]));
  return specs.map((c) => {
    const old = oldByName.get(c.name);
    // PL-CST-1 default, PL-CST-5 sticky terminated record.
    let st: ContainerStatus = {
      name: c.name,
      image: c.image ?? "",
      imageID: "",
      ready: false,
      restartCount: 0,
      state: { waiting: { reason: defaultReason } },
    };
    if (old !== undefined) {
      if (old.state?.terminated !== undefined) st = structuredClone(old);
      else {
        st.restartCount = old.restartCount;
        if (old.lastState !== undefined) st.lastState = structuredClone(old.lastState);
      }
    }
    const instances = instancesOf(rs, c.name).filter((i) => i.kind === kind);
    const [newest, previous] = instances;
    if (newest === undefined && old?.state?.running !== undefined) {
      // PL-CST-4: vanished while running.
      st.lastState = {
        terminated: {
          exitCode: 137,
          reason: "ContainerStatusUnknown",
          message: UNKNOWN_RUNNING_MSG,
        },
      };
      st.state = { waiting: { reason: defaultReason } };
      if (pod.metadata.deletionTimestamp === undefined) st.restartCount = old.restartCount + 1;
    }
    if (newest !== undefined) {
      const lastState = st.lastState;
      st = convertOne(newest, old, ctx);
      if (previous !== undefined) {
        const p = convertOne(previous, undefined, ctx);
        st.lastState = p.state?.terminated !== undefined ? { terminated: p.state.terminated } : {};
      } else {
        st.lastState = lastState ?? {};
      }
    }
    st.lastState ??= {};

    // PL-CST-3: cached start failure while the container will restart.
    const skip =
      kind === "init" && !isSidecar(c) && newest?.state === "exited" && newest.exitCode === 0;
    const failure = ctx.startFailures.get(c.name);
    if (
      !skip &&
      kind !== "ephemeral" &&
      failure !== undefined &&
      shouldContainerBeRestarted(pod, newest)
    ) {
      if (st.state?.terminated !== undefined) st.lastState = { terminated: st.state.terminated };
      st.state = { waiting: { reason: failure.reason, message: failure.message } };
    } else if (kind === "ephemeral" && failure !== undefined && newest === undefined) {
      st.state = { waiting: { reason: failure.reason, message: failure.message } };
    }

    // PL-CST-8, PL-INIT-9: started and ready.
    const running = newest?.state === "running" && st.state?.running !== undefined;
    if (kind === "init" && !isSidecar(c)) {
      st.started = running;
      st.ready = st.state?.terminated?.exitCode === 0 && newest?.state === "exited";
      if (newest === undefined && st.state?.terminated?.exitCode === 0) st.ready = true;
    } else if (kind === "ephemeral") {
      st.ready = false;
      delete st.started;
    } else {
      let started = false;
      if (running) {
        started =
          c.startupProbe === undefined || ctx.probes.result(newest.id, "startup") === "Success";
      }
      st.started = started;
      st.ready =
        started &&
        (c.readinessProbe === undefined ||
          (newest !== undefined && ctx.probes.result(newest.id, "readiness") === "Success"));
    }
    return st;
  });
}

/** PL-TERM-13: caps every terminated message to the pod-wide share. */
function truncateMessages(pod: Pod, statuses: ContainerStatus[]): void {
  const n = pod.spec.containers.length + (pod.spec.initContainers ?? []).length;
  const cap = Math.floor(12288 / Math.max(1, n));
  for (const s of statuses)
    for (const st of [s.state, s.lastState]) {
      const t = st?.terminated;
      if (t?.message !== undefined && Buffer.byteLength(t.message) > cap)
        t.message = Buffer.from(t.message).subarray(0, cap).toString();
    }
}

/** Pod phase from container statuses (PL-PHASE-1..5). */
export function computePhase(
  pod: Pod,
  initStatuses: ContainerStatus[],
  containerStatuses: ContainerStatus[],
  isTerminating: boolean,
): PodPhase {
  let pendingInit = 0;
  let failedInit = 0;
  let running = 0;
  let waiting = 0;
  let stopped = 0;
  let succeeded = 0;
  let unknown = 0;
  const initByName = new Map(initStatuses.map((s) => [s.name, s]));
  for (const c of pod.spec.initContainers ?? []) {
    const s = initByName.get(c.name);
    if (isSidecar(c)) {
      if (s === undefined) {
        unknown++;
      } else if (s.state?.running !== undefined) {
        running++;
        if (s.started !== true) pendingInit++;
      } else if (s.state?.terminated !== undefined) {
        // ignored
      } else if (s.state?.waiting !== undefined) {
        if (s.lastState?.terminated === undefined) {
          waiting++;
          pendingInit++;
        }
      } else {
        unknown++;
        pendingInit++;
      }
      continue;
    }
    if (s === undefined) {
      pendingInit++;
    } else if (s.state?.running !== undefined) {
      pendingInit++;
    } else if (s.state?.terminated !== undefined) {
      if (s.state.terminated.exitCode !== 0) failedInit++;
    } else if (s.state?.waiting !== undefined) {
      if (s.lastState?.terminated !== undefined && s.lastState.terminated.exitCode !== 0)
        failedInit++;
      else if (s.lastState?.terminated === undefined) pendingInit++;
    }
  }
  const byName = new Map(containerStatuses.map((s) => [s.name, s]));
  let everStarted = false;
  for (const c of pod.spec.containers) {
    const s = byName.get(c.name);
    if (s === undefined) {
      unknown++;
    } else if (s.state?.running !== undefined) {
      running++;
      everStarted = true;
    } else if (s.state?.terminated !== undefined) {
      stopped++;
      everStarted = true;
      if (s.state.terminated.exitCode === 0) succeeded++;
    } else if (s.state?.waiting !== undefined) {
      if (s.lastState?.terminated !== undefined) {
        stopped++;
        everStarted = true;
      } else waiting++;
    } else {
      unknown++;
    }
  }
  const policy = pod.spec.restartPolicy ?? "Always";
  if (failedInit > 0 && policy === "Never") return "Failed";
  if (pendingInit > 0 && !everStarted) return "Pending";
  if (waiting > 0) return "Pending";
  if (running > 0 && unknown === 0) return "Running";
  if (running === 0 && stopped > 0 && unknown === 0) {
    if (isTerminating) return stopped === succeeded ? "Succeeded" : "Failed";
    if (policy === "Always") return "Running";
    if (stopped === succeeded) return "Succeeded";
    if (policy === "Never") return "Failed";
    return "Running";
  }
  return "Pending";
}

function goList(names: string[]): string {
  return `[${names.join(" ")}]`;
}

function computeConditions(
  pod: Pod,
  rs: RuntimePodStatus,
  phase: PodPhase,
  initStatuses: ContainerStatus[],
  containerStatuses: ContainerStatus[],
  ctx: StatusContext,
): PodCondition[] {
  const owned = new Set([
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
    "DisruptionTarget",
  ]);
  const oldConds = pod.status?.conditions ?? [];
  const out: PodCondition[] = oldConds.filter((c) => !owned.has(c.type)).map((c) => ({ ...c }));
  const disruption = oldConds.find((c) => c.type === "DisruptionTarget");
  if (disruption !== undefined) out.push({ ...disruption });

  // PL-SBX-9.
  const sandboxReady = !podSandboxChanged(pod, rs).changed;
  out.push({ type: "PodReadyToStartContainers", status: sandboxReady ? "True" : "False" });

  // PL-COND-3.
  out.push(initializedCondition(pod, phase, initStatuses, containerStatuses));

  // PL-COND-4.
  const containersReady = containersReadyCondition(pod, phase, initStatuses, containerStatuses);
  // PL-COND-5.
  let ready: PodCondition = { type: "Ready", status: containersReady.status };
  if (containersReady.reason !== undefined) ready.reason = containersReady.reason;
  if (containersReady.message !== undefined) ready.message = containersReady.message;
  if (containersReady.status === "True") {
    const msgs: string[] = [];
    for (const g of pod.spec.readinessGates ?? []) {
      const c = oldConds.find((x) => x.type === g.conditionType);
      if (c === undefined)
        msgs.push(
          `corresponding condition of pod readiness gate "${g.conditionType}" does not exist.`,
        );
      else if (c.status !== "True")
        msgs.push(
          `the status of pod readiness gate "${g.conditionType}" is not "True", but ${c.status}`,
        );
    }
    if (msgs.length > 0)
      ready = {
        type: "Ready",
        status: "False",
        reason: "ReadinessGatesNotReady",
        message: msgs.join(", "),
      };
  }
  out.push(ready, containersReady);

  // PL-COND-2.
  const oldSched = oldConds.find((c) => c.type === "PodScheduled");
  out.push(oldSched !== undefined ? { ...oldSched } : { type: "PodScheduled", status: "True" });

  // PL-COND-6: lastTransitionTime changes only with the status; lastProbeTime null.
  const now = rfc3339(ctx.nowMs);
  for (const c of out) {
    if (!owned.has(c.type) || c.type === "DisruptionTarget") continue;
    const prev = oldConds.find((x) => x.type === c.type);
    c.lastProbeTime = null;
    c.lastTransitionTime =
      prev?.status === c.status && prev.lastTransitionTime !== undefined
        ? prev.lastTransitionTime
        : now;
  }
  return out;
}

function initializedCondition(
  pod: Pod,
  phase: PodPhase,
  initStatuses: ContainerStatus[],
  containerStatuses: ContainerStatus[],
): PodCondition {
  const inits = pod.spec.initContainers ?? [];
  if (inits.length > 0 && initStatuses.length === 0)
    return { type: "Initialized", status: "False", reason: "UnknownContainerStatuses" };
  const unknown: string[] = [];
  const incomplete: string[] = [];
  const byName = new Map(initStatuses.map((s) => [s.name, s]));
  for (const c of inits) {
    const s = byName.get(c.name);
    if (s === undefined) unknown.push(c.name);
    else if (isSidecar(c) ? s.started !== true : !s.ready) incomplete.push(c.name);
  }
  if (phase === "Succeeded" && unknown.length === 0)
    return { type: "Initialized", status: "True", reason: "PodCompleted" };
  const anyStarted = containerStatuses.some(
    (s) => s.state?.running !== undefined || s.state?.terminated !== undefined,
  );
  if (anyStarted) return { type: "Initialized", status: "True" };
  if (unknown.length > 0 || incomplete.length > 0) {
    const parts: string[] = [];
    if (unknown.length > 0) parts.push(`containers with unknown status: ${goList(unknown)}`);
    if (incomplete.length > 0)
      parts.push(`containers with incomplete status: ${goList(incomplete)}`);
    return {
      type: "Initialized",
      status: "False",
      reason: "ContainersNotInitialized",
      message: parts.join(", "),
    };
  }
  return { type: "Initialized", status: "True" };
}

function containersReadyCondition(
  pod: Pod,
  phase: PodPhase,
  initStatuses: ContainerStatus[],
  containerStatuses: ContainerStatus[],
): PodCondition {
  const unknown: string[] = [];
  const unready: string[] = [];
  const initByName = new Map(initStatuses.map((s) => [s.name, s]));
  for (const c of pod.spec.initContainers ?? []) {
    if (!isSidecar(c)) continue;
    const s = initByName.get(c.name);
    if (s === undefined) unknown.push(c.name);
    else if (!s.ready) unready.push(c.name);
  }
  const byName = new Map(containerStatuses.map((s) => [s.name, s]));
  for (const c of pod.spec.containers) {
    const s = byName.get(c.name);
    if (s === undefined) unknown.push(c.name);
    else if (!s.ready) unready.push(c.name);
  }
  if (phase === "Succeeded" && unknown.length === 0)
    return { type: "ContainersReady", status: "False", reason: "PodCompleted" };
  if (phase === "Failed") return { type: "ContainersReady", status: "False", reason: "PodFailed" };
  if (unknown.length > 0 || unready.length > 0) {
    const parts: string[] = [];
    if (unknown.length > 0) parts.push(`containers with unknown status: ${goList(unknown)}`);
    if (unready.length > 0) parts.push(`containers with unready status: ${goList(unready)}`);
    return {
      type: "ContainersReady",
      status: "False",
      reason: "ContainersNotReady",
      message: parts.join(", "),
    };
  }
  return { type: "ContainersReady", status: "True" };
}

/** True when two statuses differ in anything but condition probe times (skip no-op writes). */
export function statusChanged(a: PodStatus | undefined, b: PodStatus): boolean {
  return JSON.stringify(a ?? {}) !== JSON.stringify(b);
}

/** The newest runtime instance of a container name (re-exported for callers). */
export { newestInstance };
