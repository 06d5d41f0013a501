import type { ResourceRef } from "../client/index.js";

/** A resource the CLI can address: its REST coordinates plus the names users type. */
export interface CliResource extends ResourceRef {
  kind: string;
  singular: string;
  shortNames: string[];
}

function r(
  group: string,
  resource: string,
  kind: string,
  namespaced: boolean,
  shortNames: string[] = [],
  version = "v1",
): CliResource {
  return {
    group,
    version,
    resource,
    namespaced,
    kind,
    singular: kind.toLowerCase(),
    shortNames,
  };
}

/** The resources the CLI knows by name (the CLI does no discovery). */
export const CLI_RESOURCES: readonly CliResource[] = [
  r("", "pods", "Pod", true, ["po"]),
  r("", "services", "Service", true, ["svc"]),
  r("", "nodes", "Node", false, ["no"]),
  r("", "namespaces", "Namespace", false, ["ns"]),
  r("", "configmaps", "ConfigMap", true, ["cm"]),
  r("", "secrets", "Secret", true),
  r("", "serviceaccounts", "ServiceAccount", true, ["sa"]),
  r("", "events", "Event", true, ["ev"]),
  r("", "endpoints", "Endpoints", true, ["ep"]),
  r("discovery.k8s.io", "endpointslices", "EndpointSlice", true),
  r("coordination.k8s.io", "leases", "Lease", true),
  r("apps", "deployments", "Deployment", true, ["deploy"]),
  r("apps", "replicasets", "ReplicaSet", true, ["rs"]),
  r("apps", "statefulsets", "StatefulSet", true, ["sts"]),
  r("apps", "daemonsets", "DaemonSet", true, ["ds"]),
  r("batch", "jobs", "Job", true),
];

/** Finds a resource by plural, singular, short name or `plural.group`; undefined if unknown. */
export function findCliResource(name: string): CliResource | undefined {
  const n = name.toLowerCase();
  return CLI_RESOURCES.find(
    (x) =>
      x.resource === n ||
      x.singular === n ||
      x.shortNames.includes(n) ||
      (x.group !== "" && `${x.resource}.${x.group}` === n),
  );
}

/** Finds the resource of a manifest by `apiVersion` and `kind`. */
export function resourceForKind(apiVersion: string, kind: string): CliResource | undefined {
  const [group, version] = apiVersion.includes("/")
    ? (apiVersion.split("/") as [string, string])
    : ["", apiVersion];
  return CLI_RESOURCES.find((x) => x.kind === kind && x.group === group && x.version === version);
}

/** `pod`, `deployment.apps`: the prefix of `-o name` and of delete/apply messages. */
export function qualifiedSingular(res: CliResource): string {
  return res.group === "" ? res.singular : `${res.singular}.${res.group}`;
}
