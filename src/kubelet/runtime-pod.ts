import { createHash } from "node:crypto";
import type { Container, Pod } from "../api/index.js";
import type {
  ContainerId,
  ContainerStatus,
  RuntimeService,
  SandboxStatus,
} from "../runtime/index.js";

/** Label and annotation keys put on sandboxes and containers (PL-MAP-4). */
export const LABEL_POD_NAME = "io.kubernetes.pod.name";
export const LABEL_POD_NAMESPACE = "io.kubernetes.pod.namespace";
export const LABEL_POD_UID = "io.kubernetes.pod.uid";
export const LABEL_CONTAINER_NAME = "io.kubernetes.container.name";
/** Marks objects created by this kubelet, so cleanup never touches anything else. */
export const LABEL_MANAGED = "podrun.io/managed";
export const ANN_HASH = "io.kubernetes.container.hash";
export const ANN_RESTART_COUNT = "io.kubernetes.container.restartCount";
export const ANN_TERM_PATH = "io.kubernetes.container.terminationMessagePath";
export const ANN_TERM_POLICY = "io.kubernetes.container.terminationMessagePolicy";
export const ANN_PRESTOP = "io.kubernetes.container.preStopHandler";
export const ANN_POD_GRACE = "io.kubernetes.pod.terminationGracePeriod";
export const ANN_PORTS = "io.kubernetes.container.ports";
/** `init` | `regular` | `ephemeral`. */
export const ANN_CONTAINER_TYPE = "podrun.io/container-type";
/** Host path of the instance's termination-message file (PL-TERM-11). */
export const ANN_TERM_HOST_PATH = "podrun.io/termination-message-host-path";
/** The normalized image reference (status `image`, PL-CST-7). */
export const ANN_IMAGE_NAME = "podrun.io/image-name";
/** The image's repo digest reference at creation time (status `imageID`). */
export const ANN_IMAGE_DIGEST = "podrun.io/image-digest";

/** Which list of the pod spec a container comes from. */
export type ContainerKind = "init" | "regular" | "ephemeral";

/** A runtime container instance with the kubelet metadata parsed from its labels. */
export interface RuntimeContainer extends ContainerStatus {
  /** Container name in the pod spec. */
  containerName: string;
  kind: ContainerKind;
  restartCount: number;
  hash: string;
}

/**
 * What the runtime knows about one pod, rebuilt from labels (PL-MAP-4): sandboxes newest
 * first, container instances newest first.
 */
export interface RuntimePodStatus {
  uid: string;
  name: string;
  namespace: string;
  sandboxes: SandboxStatus[];
  containers: RuntimeContainer[];
}

/** An empty runtime status (nothing exists yet). */
export function emptyRuntimeStatus(pod: Pod): RuntimePodStatus {
  return {
    uid: pod.metadata.uid ?? "",
    name: pod.metadata.name ?? "",
    namespace: pod.metadata.namespace ?? "",
    sandboxes: [],
    containers: [],
  };
}

/** `<name>_<namespace>(<uid>)`, the pod description used in messages. */
export function podDesc(pod: Pod): string {
  return `${pod.metadata.name ?? ""}_${pod.metadata.namespace ?? ""}(${pod.metadata.uid ?? ""})`;
}

/** True for an init container with `restartPolicy: Always` (a sidecar). */
export function isSidecar(c: Container): boolean {
  return c.restartPolicy === "Always";
}

/**
 * A stable hash of a container spec (hex): JSON with sorted keys, so key order in the
 * manifest does not matter. Drives PL-RUN-5 and the back-off key (PL-BO-1).
 */
export function containerHash(c: Container): string {
  return createHash("sha256").update(stableJson(c)).digest("hex").slice(0, 8);
}

/** JSON with object keys sorted, for order-insensitive comparisons. */
export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${stableJson(x)}`).join(",")}}`;
  }
  return JSON.stringify(v);
}

/** Parses kubelet metadata off a runtime container; undefined when it is not ours. */
export function toRuntimeContainer(s: ContainerStatus): RuntimeContainer | undefined {
  const name = s.labels[LABEL_CONTAINER_NAME];
  if (name === undefined) return undefined;
  const kindRaw = s.annotations[ANN_CONTAINER_TYPE];
  const kind: ContainerKind = kindRaw === "init" || kindRaw === "ephemeral" ? kindRaw : "regular";
  const rc = Number(s.annotations[ANN_RESTART_COUNT] ?? "0");
  return {
    ...s,
    containerName: name,
    kind,
    restartCount: Number.isFinite(rc) ? rc : 0,
    hash: s.annotations[ANN_HASH] ?? "",
  };
}

/** Builds the runtime view of one pod from the runtime's lists. */
export async function getRuntimePodStatus(
  runtime: Pick<RuntimeService, "listPodSandboxes" | "listContainers">,
  pod: Pod,
  opts: { signal?: AbortSignal } = {},
): Promise<RuntimePodStatus> {
  const uid = pod.metadata.uid ?? "";
  const labels = { [LABEL_POD_UID]: uid };
  const [sandboxes, containers] = await Promise.all([
    runtime.listPodSandboxes({ labels }, opts),
    runtime.listContainers({ labels }, opts),
  ]);
  return {
    ...emptyRuntimeStatus(pod),
    sandboxes: sandboxes.sort((a, b) => b.createdAt - a.createdAt || b.attempt - a.attempt),
    containers: containers
      .map(toRuntimeContainer)
      .filter((c): c is RuntimeContainer => c !== undefined)
      .sort((a, b) => b.createdAt - a.createdAt || b.restartCount - a.restartCount),
  };
}

/** Newest instance of the named container, if any. */
export function newestInstance(rs: RuntimePodStatus, name: string): RuntimeContainer | undefined {
  return rs.containers.find((c) => c.containerName === name);
}

/** The instances of the named container, newest first. */
export function instancesOf(rs: RuntimePodStatus, name: string): RuntimeContainer[] {
  return rs.containers.filter((c) => c.containerName === name);
}

/** `podrun://<id>` as reported in status (PL-CST-7). */
export function containerIdUrl(id: ContainerId | string): string {
  return `podrun://${id}`;
}

/** The container id inside a `podrun://<id>` URL. */
export function parseContainerIdUrl(url: string): string {
  const i = url.indexOf("://");
  return i >= 0 ? url.slice(i + 3) : url;
}
