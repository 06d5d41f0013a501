import type { Container, Pod } from "../../api/index.js";
import type { ContainerId, SandboxId, SandboxStatus } from "../../runtime/index.js";
import type { ProbeResults } from "../pod-actions.js";
import type { ProbeResult, ProbeType } from "../prober/index.js";
import {
  containerHash,
  LABEL_CONTAINER_NAME,
  type ContainerKind,
  type RuntimeContainer,
  type RuntimePodStatus,
} from "../runtime-pod.js";

/** A minimal valid pod for tests: `web` in `default`, one container `app`. */
export function basePod(mutate?: (p: Pod) => void): Pod {
  const pod: Pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web", namespace: "default", uid: "uid-1", resourceVersion: "1" },
    spec: {
      containers: [{ name: "app", image: "busybox:1.36", imagePullPolicy: "IfNotPresent" }],
      restartPolicy: "Always",
      terminationGracePeriodSeconds: 30,
      nodeName: "node1",
    },
  };
  mutate?.(pod);
  return pod;
}

let seq = 0;
const T0 = Date.UTC(2025, 0, 1);

/** A ready sandbox record. */
export function sandbox(attempt = 0, state: "ready" | "notready" = "ready"): SandboxStatus {
  return {
    id: `sbx-${String(attempt)}` as SandboxId,
    name: "web_default_uid-1",
    attempt,
    state,
    createdAt: T0 + attempt,
    ips: ["10.244.0.5"],
    hostNetwork: false,
    labels: {},
    annotations: {},
  };
}

/** A runtime container instance for `spec`, with overrides. */
export function instance(
  spec: Container,
  kind: ContainerKind,
  over: Partial<RuntimeContainer> = {},
): RuntimeContainer {
  seq++;
  return {
    id: `c${String(seq).padStart(3, "0")}` as ContainerId,
    sandboxId: "sbx-0" as SandboxId,
    name: spec.name,
    attempt: 0,
    state: "running",
    createdAt: T0 + seq * 1000,
    startedAt: T0 + seq * 1000,
    image: "busybox",
    imageRef: "sha256:abc",
    labels: { [LABEL_CONTAINER_NAME]: spec.name },
    annotations: {},
    logPath: "/tmp/x.log",
    containerName: spec.name,
    kind,
    restartCount: 0,
    hash: containerHash(spec),
    ...over,
  };
}

/** A runtime pod status holding `containers` (sorted newest first) and sandboxes. */
export function runtimeStatus(
  sandboxes: SandboxStatus[],
  containers: RuntimeContainer[],
): RuntimePodStatus {
  return {
    uid: "uid-1",
    name: "web",
    namespace: "default",
    sandboxes: [...sandboxes].sort((a, b) => b.createdAt - a.createdAt),
    containers: [...containers].sort((a, b) => b.createdAt - a.createdAt),
  };
}

/** Probe results from a plain table `id/type → result`. */
export class FakeProbeResults implements ProbeResults {
  readonly table = new Map<string, ProbeResult>();
  set(id: ContainerId, type: ProbeType, r: ProbeResult): void {
    this.table.set(`${id}/${type}`, r);
  }
  result(id: ContainerId, type: ProbeType): ProbeResult | undefined {
    return this.table.get(`${id}/${type}`);
  }
}
