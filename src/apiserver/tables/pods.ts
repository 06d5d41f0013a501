import type { ContainerStatus, Pod } from "../../api/index.js";
import { ageSince } from "./duration.js";
import type { PrintedRow, TableRowCondition } from "./index.js";

const SUCCEEDED: TableRowCondition[] = [
  {
    type: "Completed",
    status: "True",
    reason: "Succeeded",
    message: "The pod has completed successfully.",
  },
];
const FAILED: TableRowCondition[] = [
  { type: "Completed", status: "True", reason: "Failed", message: "The pod failed." },
];

function newer(
  current: string | undefined,
  candidate: string | null | undefined,
): string | undefined {
  if (candidate === undefined || candidate === null || candidate === "") return current;
  if (current === undefined) return candidate;
  return Date.parse(candidate) > Date.parse(current) ? candidate : current;
}

function lastFinishedAt(s: ContainerStatus): string | null | undefined {
  return s.lastState?.terminated?.finishedAt;
}

/**
 * The pod row of `kubectl get pods` (PL-KCTL-1..9, upstream printPod): NAME READY STATUS
 * RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES, plus the Completed row condition for
 * terminal pods.
 */
export function printPod(pod: Pod, nowMs: number): PrintedRow {
  const spec = pod.spec;
  const status = pod.status ?? {};
  const initSpecs = spec.initContainers ?? [];
  const isSidecar = new Map(initSpecs.map((c) => [c.name, c.restartPolicy === "Always"]));
  // PL-KCTL-1
  let total = spec.containers.length + initSpecs.filter((c) => c.restartPolicy === "Always").length;
  if (total < 0) total = 0;
  let ready = 0;
  let restarts = 0;
  let sidecarRestarts = 0;
  let lastRestart: string | undefined;
  let lastSidecarRestart: string | undefined;
  const phase = status.phase ?? "";
  let reason: string = phase;
  if (status.reason !== undefined && status.reason !== "") reason = status.reason;
  for (const c of status.conditions ?? []) {
    if (c.type === "PodScheduled" && c.reason === "SchedulingGated") reason = "SchedulingGated";
  }
  let conditions: TableRowCondition[] | undefined;
  if (phase === "Succeeded") conditions = SUCCEEDED;
  else if (phase === "Failed") conditions = FAILED;

  // PL-KCTL-2: init containers in order.
  let initializing = false;
  const initStatuses = status.initContainerStatuses ?? [];
  for (const [i, c] of initStatuses.entries()) {
    restarts += c.restartCount;
    lastRestart = newer(lastRestart, lastFinishedAt(c));
    const sidecar = isSidecar.get(c.name) === true;
    if (sidecar) {
      sidecarRestarts += c.restartCount;
      lastSidecarRestart = newer(lastSidecarRestart, lastFinishedAt(c));
    }
    const term = c.state?.terminated;
    const wait = c.state?.waiting;
    if (term?.exitCode === 0) continue;
    if (sidecar && c.started === true) {
      if (c.ready) ready++;
      continue;
    }
    if (term !== undefined) {
      if (term.reason === undefined || term.reason === "") {
        reason =
          term.signal !== undefined && term.signal !== 0
            ? `Init:Signal:${term.signal}`
            : `Init:ExitCode:${term.exitCode}`;
      } else {
        reason = `Init:${term.reason}`;
      }
    } else if (
      wait?.reason !== undefined &&
      wait.reason !== "" &&
      wait.reason !== "PodInitializing"
    ) {
      reason = `Init:${wait.reason}`;
    } else {
      reason = `Init:${i}/${initSpecs.length}`;
    }
    initializing = true;
    break;
  }

  // PL-KCTL-3: regular containers, last to first.
  const initialized = (status.conditions ?? []).some(
    (c) => c.type === "Initialized" && c.status === "True",
  );
  if (!initializing || initialized) {
    restarts = sidecarRestarts;
    lastRestart = lastSidecarRestart;
    let hasRunning = false;
    const statuses = status.containerStatuses ?? [];
    for (let i = statuses.length - 1; i >= 0; i--) {
      const c = statuses[i];
      if (c === undefined) continue;
      restarts += c.restartCount;
      lastRestart = newer(lastRestart, lastFinishedAt(c));
      const wait = c.state?.waiting;
      const term = c.state?.terminated;
      if (wait?.reason !== undefined && wait.reason !== "") {
        reason = wait.reason;
      } else if (term?.reason !== undefined && term.reason !== "") {
        reason = term.reason;
      } else if (term !== undefined) {
        reason =
          term.signal !== undefined && term.signal !== 0
            ? `Signal:${term.signal}`
            : `ExitCode:${term.exitCode}`;
      } else if (c.ready && c.state?.running !== undefined) {
        hasRunning = true;
        ready++;
      }
    }
    // PL-KCTL-4
    if (reason === "Completed" && hasRunning) {
      const podReady = (status.conditions ?? []).some(
        (c) => c.type === "Ready" && c.status === "True",
      );
      reason = podReady ? "Running" : "NotReady";
    }
  }

  // PL-KCTL-5
  const deleting =
    pod.metadata.deletionTimestamp !== undefined && pod.metadata.deletionTimestamp !== "";
  if (deleting && status.reason === "NodeLost") reason = "Unknown";
  else if (deleting && phase !== "Succeeded" && phase !== "Failed") reason = "Terminating";

  // PL-KCTL-6
  const restartsCell =
    restarts !== 0 && lastRestart !== undefined
      ? `${restarts} (${ageSince(lastRestart, nowMs)} ago)`
      : String(restarts);

  // PL-KCTL-8
  const ip = status.podIPs?.[0]?.ip ?? "";
  const gates = spec.readinessGates ?? [];
  let gatesCell = "<none>";
  if (gates.length > 0) {
    const trueCount = gates.filter(
      (g) => (status.conditions ?? []).find((c) => c.type === g.conditionType)?.status === "True",
    ).length;
    gatesCell = `${trueCount}/${gates.length}`;
  }
  const row: PrintedRow = {
    cells: [
      pod.metadata.name ?? "",
      `${ready}/${total}`,
      reason,
      restartsCell,
      ageSince(pod.metadata.creationTimestamp, nowMs),
      ip === "" ? "<none>" : ip,
      spec.nodeName === undefined || spec.nodeName === "" ? "<none>" : spec.nodeName,
      status.nominatedNodeName === undefined || status.nominatedNodeName === ""
        ? "<none>"
        : status.nominatedNodeName,
      gatesCell,
    ],
  };
  if (conditions !== undefined) row.conditions = conditions;
  return row;
}
