import type { Container, Pod } from "../api/index.js";
import type { ContainerId, SandboxId } from "../runtime/index.js";
import type { ProbeResult, ProbeType } from "./prober/index.js";
import {
  containerHash,
  isSidecar,
  newestInstance,
  type RuntimeContainer,
  type RuntimePodStatus,
} from "./runtime-pod.js";

/** Stored probe results by container id; undefined when no worker has a result slot. */
export interface ProbeResults {
  result(containerId: ContainerId, type: ProbeType): ProbeResult | undefined;
}

/** Why a container is killed (the prober's reason strings, PL-PROBE-5). */
export type KillReason = "LivenessProbe" | "StartupProbe" | "Unknown" | "";

/** One container instance the plan kills. */
export interface ContainerToKill {
  id: ContainerId;
  name: string;
  kind: "init" | "regular";
  /** The `Killing` event message (PL-RUN-4, PL-SIDE-3). */
  message: string;
  reason: KillReason;
}

/**
 * What one sync must do (upstream `podActions`). Indices refer to the pod spec lists.
 * `killPod` kills every container and stops every sandbox; when `createSandbox` is also set a
 * fresh sandbox follows (PL-SBX-6).
 */
export interface PodActions {
  killPod: boolean;
  createSandbox: boolean;
  /** The ready sandbox to reuse, when no new one is made. */
  sandboxId: SandboxId | undefined;
  /** Attempt number of the sandbox to create. */
  sandboxAttempt: number;
  /** Init containers (regular or sidecar) to start, in spec order. */
  initContainersToStart: number[];
  /** Regular containers to start, in spec order. */
  containersToStart: number[];
  containersToKill: ContainerToKill[];
  ephemeralToStart: number[];
}

/** Inputs of the planner besides the pod and the runtime state. */
export interface PodActionsContext {
  probes: ProbeResults;
}

/**
 * Decides whether a new sandbox is needed (PL-SBX-5): returns the decision, the attempt for
 * a new sandbox (or the current attempt) and the newest sandbox id.
 */
export function podSandboxChanged(
  pod: Pod,
  rs: RuntimePodStatus,
): { changed: boolean; attempt: number; sandboxId: SandboxId | undefined } {
  const newest = rs.sandboxes[0];
  if (newest === undefined) return { changed: true, attempt: 0, sandboxId: undefined };
  const ready = rs.sandboxes.filter((s) => s.state === "ready").length;
  const hostNetwork = pod.spec.hostNetwork === true;
  if (
    ready > 1 ||
    newest.state !== "ready" ||
    newest.hostNetwork !== hostNetwork ||
    (!hostNetwork && newest.ips.length === 0)
  )
    return { changed: true, attempt: newest.attempt + 1, sandboxId: newest.id };
  return { changed: false, attempt: newest.attempt, sandboxId: newest.id };
}

/** PL-RUN-3 (upstream `ShouldContainerBeRestarted`). */
export function shouldContainerBeRestarted(
  pod: Pod,
  status: RuntimeContainer | undefined,
): boolean {
  if (pod.metadata.deletionTimestamp !== undefined) return false;
  if (status === undefined) return true;
  if (status.state === "running") return false;
  if (status.state === "unknown" || status.state === "created") return true;
  const policy = pod.spec.restartPolicy ?? "Always";
  if (policy === "Never") return false;
  if (policy === "OnFailure") return status.exitCode !== 0;
  return true;
}

function restartOnFailure(pod: Pod): boolean {
  return (pod.spec.restartPolicy ?? "Always") !== "Never";
}

function isInitContainerFailed(s: RuntimeContainer): boolean {
  if (s.state === "exited" && s.exitCode !== 0) return true;
  return s.state === "unknown";
}

/**
 * Plans one sync of a pod from its spec and runtime state: sandbox (re)creation, which
 * containers to kill and which to start (PL-SBX-5..7, PL-INIT-1..6, PL-SIDE-1..8, PL-RUN-1..8,
 * probe-driven kills, PL-EPH-4/5). Pure; back-off is applied when starting (PL-BO-2).
 */
export function computePodActions(
  pod: Pod,
  rs: RuntimePodStatus,
  ctx: PodActionsContext,
): PodActions {
  const sbx = podSandboxChanged(pod, rs);
  const actions: PodActions = {
    killPod: sbx.changed,
    createSandbox: sbx.changed,
    sandboxId: sbx.changed ? undefined : sbx.sandboxId,
    sandboxAttempt: sbx.attempt,
    initContainersToStart: [],
    containersToStart: [],
    containersToKill: [],
    ephemeralToStart: [],
  };
  const containers = pod.spec.containers;
  const initContainers = pod.spec.initContainers ?? [];

  if (sbx.changed) {
    // PL-SBX-7: a Never pod whose sandbox died after it ran is only killed.
    if (!restartOnFailure(pod) && sbx.attempt !== 0 && rs.containers.length !== 0) {
      actions.createSandbox = false;
      return actions;
    }
    const toStart: number[] = [];
    containers.forEach((c, idx) => {
      const s = newestInstance(rs, c.name);
      if (pod.spec.restartPolicy === "OnFailure" && s?.state === "exited" && s.exitCode === 0)
        return;
      toStart.push(idx);
    });
    if (toStart.length === 0 && hasAnyRegularContainerCreated(pod, rs)) {
      actions.createSandbox = false;
      return actions;
    }
    if (pod.metadata.deletionTimestamp !== undefined) {
      actions.createSandbox = false;
      return actions;
    }
    if (initContainers.length !== 0) {
      actions.initContainersToStart = [0];
      return actions;
    }
    actions.containersToStart = toStart;
    return actions;
  }

  // PL-EPH-4/5: ephemeral containers start even before initialization, and only once.
  (pod.spec.ephemeralContainers ?? []).forEach((c, idx) => {
    if (newestInstance(rs, c.name) === undefined) actions.ephemeralToStart.push(idx);
  });

  const hasInitialized = computeInitContainerActions(pod, rs, ctx, actions);
  if (actions.killPod || !hasInitialized) return actions;

  let keepCount = 0;
  containers.forEach((c, idx) => {
    const s = newestInstance(rs, c.name);
    if (s?.state !== "running") {
      if (shouldContainerBeRestarted(pod, s)) {
        actions.containersToStart.push(idx);
        if (s?.state === "unknown")
          actions.containersToKill.push({
            id: s.id,
            name: c.name,
            kind: "regular",
            message: `Container is in "unknown" state, try killing it before restart`,
            reason: "Unknown",
          });
      }
      return;
    }
    let message: string;
    let reason: KillReason = "";
    let restart = restartOnFailure(pod);
    if (s.hash !== "" && s.hash !== containerHash(c)) {
      message = `Container ${c.name} definition changed`;
      restart = true;
    } else if (ctx.probes.result(s.id, "liveness") === "Failure") {
      message = `Container ${c.name} failed liveness probe`;
      reason = "LivenessProbe";
    } else if (ctx.probes.result(s.id, "startup") === "Failure") {
      message = `Container ${c.name} failed startup probe`;
      reason = "StartupProbe";
    } else {
      keepCount++;
      return;
    }
    if (restart) {
      message = `${message}, will be restarted`;
      actions.containersToStart.push(idx);
    }
    actions.containersToKill.push({ id: s.id, name: c.name, kind: "regular", message, reason });
  });

  // PL-RUN-7, PL-SIDE-5: nothing left to run → kill the pod, and do not restart sidecars.
  if (keepCount === 0 && actions.containersToStart.length === 0) {
    actions.killPod = true;
    actions.initContainersToStart = [];
  }
  return actions;
}

function hasAnyRegularContainerCreated(pod: Pod, rs: RuntimePodStatus): boolean {
  return pod.spec.containers.some((c) => {
    const s = newestInstance(rs, c.name);
    return s !== undefined && s.state !== "unknown";
  });
}

/**
 * Init-container progress (upstream `computeInitContainerActions`, sidecar-aware). Scans from
 * last to first (PL-INIT-3); returns true when initialization is complete.
 */
function computeInitContainerActions(
  pod: Pod,
  rs: RuntimePodStatus,
  ctx: PodActionsContext,
  actions: PodActions,
): boolean {
  const inits = pod.spec.initContainers ?? [];
  if (inits.length === 0) return true;

  let podHasInitialized = pod.spec.containers.some((c) => {
    const s = newestInstance(rs, c.name);
    return s?.state === "created" || s?.state === "running";
  });
  let isPreviouslyInitialized = podHasInitialized;
  const toStart: number[] = [];
  const kill = (s: RuntimeContainer, c: Container, message: string, reason: KillReason): void => {
    actions.containersToKill.push({ id: s.id, name: c.name, kind: "init", message, reason });
  };

  for (let i = inits.length - 1; i >= 0; i--) {
    const c = inits[i];
    if (c === undefined) continue;
    const s = newestInstance(rs, c.name);
    if (s === undefined) {
      // PL-SIDE-4: a sidecar whose status vanished after initialization is started again.
      if (isPreviouslyInitialized && isSidecar(c)) toStart.push(i);
      continue;
    }
    if (isPreviouslyInitialized && !isSidecar(c)) continue;

    switch (s.state) {
      case "created":
        // PL-INIT-4: a start that failed half-way; start again.
        toStart.push(i);
        break;
      case "running": {
        if (!isSidecar(c)) break;
        if (c.startupProbe !== undefined) {
          const startup = ctx.probes.result(s.id, "startup");
          if (startup === undefined) break;
          if (startup !== "Success") {
            if (startup === "Failure") {
              kill(s, c, `Init container ${c.name} failed startup probe`, "StartupProbe");
              toStart.push(i);
            }
            break;
          }
        }
        if (i === inits.length - 1) podHasInitialized = true;
        else if (!isPreviouslyInitialized) toStart.push(i + 1);
        if (s.hash !== "" && s.hash !== containerHash(c)) {
          kill(s, c, `Init container ${c.name} definition changed`, "");
          toStart.push(i);
          break;
        }
        if (c.livenessProbe !== undefined) {
          const liveness = ctx.probes.result(s.id, "liveness");
          if (liveness === "Failure") {
            kill(s, c, `Init container ${c.name} failed liveness probe`, "LivenessProbe");
            toStart.push(i);
          }
        }
        break;
      }
      case "exited":
        if (isSidecar(c)) {
          toStart.push(i);
        } else if (isInitContainerFailed(s)) {
          if (!restartOnFailure(pod)) {
            actions.killPod = true;
            actions.initContainersToStart = [];
            return false;
          }
          toStart.push(i);
        } else if (i === inits.length - 1) {
          podHasInitialized = true;
        } else {
          toStart.push(i + 1);
        }
        break;
      case "unknown":
        if (!isSidecar(c) && !restartOnFailure(pod)) {
          actions.killPod = true;
          actions.initContainersToStart = [];
          return false;
        }
        kill(
          s,
          c,
          `Init container is in "unknown" state, try killing it before restart`,
          "Unknown",
        );
        toStart.push(i);
        break;
    }
    isPreviouslyInitialized = true;
  }
  if (!isPreviouslyInitialized) toStart.push(0);
  actions.initContainersToStart = [...new Set(toStart)].sort((a, b) => a - b);
  return podHasInitialized;
}
