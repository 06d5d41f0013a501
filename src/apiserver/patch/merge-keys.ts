/**
 * How a list field merges under strategic merge patch and server-side apply (KA-PATCH-3):
 * `key` for lists of maps merged element by element, `set` for primitive lists merged as a
 * set, `atomic` (the default) for lists replaced whole.
 */
export type ListStrategy =
  { type: "key"; key: string; retainKeys?: boolean } | { type: "set" } | { type: "atomic" };

/** Group and kind of the object being patched; selects where pod specs live. */
export interface PatchTarget {
  group: string;
  kind: string;
}

/** Lists inside a PodSpec, relative to the PodSpec (KA-PATCH-3 table). */
const POD_SPEC_LISTS: Record<string, ListStrategy> = {
  containers: { type: "key", key: "name" },
  initContainers: { type: "key", key: "name" },
  ephemeralContainers: { type: "key", key: "name" },
  volumes: { type: "key", key: "name", retainKeys: true },
  imagePullSecrets: { type: "key", key: "name" },
  hostAliases: { type: "key", key: "ip" },
  topologySpreadConstraints: { type: "key", key: "topologyKey" },
  schedulingGates: { type: "key", key: "name" },
  resourceClaims: { type: "key", key: "name" },
};

/** Lists inside a container, relative to the container. */
const CONTAINER_LISTS: Record<string, ListStrategy> = {
  env: { type: "key", key: "name" },
  ports: { type: "key", key: "containerPort" },
  volumeMounts: { type: "key", key: "mountPath" },
  volumeDevices: { type: "key", key: "devicePath" },
};

const CONTAINER_FIELDS = new Set(["containers", "initContainers", "ephemeralContainers"]);

/** Where the PodSpec sits in each pod-bearing kind. */
function podSpecPaths(target: PatchTarget): string[][] {
  switch (target.kind) {
    case "Pod":
      return [["spec"]];
    case "PodTemplate":
      return [["template", "spec"]];
    case "Deployment":
    case "ReplicaSet":
    case "StatefulSet":
    case "DaemonSet":
    case "Job":
    case "ReplicationController":
      return [["spec", "template", "spec"]];
    case "CronJob":
      return [["spec", "jobTemplate", "spec", "template", "spec"]];
    default:
      return [];
  }
}

function startsWith(path: readonly string[], prefix: readonly string[]): boolean {
  return prefix.length <= path.length && prefix.every((p, i) => path[i] === p);
}

/**
 * The merge strategy of the list at `path` (map keys only, list positions omitted, e.g.
 * `["spec","containers","env"]`) in an object of `target`'s kind. Unknown lists are atomic.
 */
export function listStrategy(target: PatchTarget, path: readonly string[]): ListStrategy {
  const atomic: ListStrategy = { type: "atomic" };
  const last = path[path.length - 1];
  if (last === undefined) return atomic;
  if (path.length === 2 && path[0] === "metadata") {
    if (last === "ownerReferences") return { type: "key", key: "uid" };
    if (last === "finalizers") return { type: "set" };
  }
  if (path.length >= 2 && path[path.length - 2] === "status") {
    if (last === "conditions") return { type: "key", key: "type" };
    if (target.kind === "Node" && last === "addresses") return { type: "key", key: "type" };
  }
  if (target.kind === "Service" && path.length === 2 && path[0] === "spec" && last === "ports") {
    return { type: "key", key: "port" };
  }
  for (const prefix of podSpecPaths(target)) {
    if (!startsWith(path, prefix)) continue;
    const rel = path.slice(prefix.length);
    if (rel.length === 1) return POD_SPEC_LISTS[last] ?? atomic;
    if (rel.length === 2 && CONTAINER_FIELDS.has(rel[0] ?? "")) {
      return CONTAINER_LISTS[last] ?? atomic;
    }
  }
  return atomic;
}
