import { apiVersionOf, RESOURCES, type ResourceInfo } from "./resources.js";

/** Subresource verbs and response kinds as upstream publishes them (KA-DISC-3, KA-DISC-5). */
function subresourceShape(
  info: ResourceInfo,
  sub: string,
): { group: string; version: string; kind: string; verbs: string[] } {
  const own = { group: info.group, version: info.version };
  switch (sub) {
    case "status":
    case "ephemeralcontainers":
      return { ...own, kind: info.kind, verbs: ["get", "patch", "update"] };
    case "log":
      return { ...own, kind: info.kind, verbs: ["get"] };
    case "binding":
      return { ...own, kind: "Binding", verbs: ["create"] };
    case "eviction":
      return { group: "policy", version: "v1", kind: "Eviction", verbs: ["create"] };
    case "exec":
      return { ...own, kind: "PodExecOptions", verbs: ["create", "get"] };
    case "attach":
      return { ...own, kind: "PodAttachOptions", verbs: ["create", "get"] };
    case "portforward":
      return { ...own, kind: "PodPortForwardOptions", verbs: ["create", "get"] };
    case "proxy":
      return {
        ...own,
        kind: `${info.kind}ProxyOptions`,
        verbs: ["create", "delete", "get", "patch", "update"],
      };
    case "scale":
      return {
        group: "autoscaling",
        version: "v1",
        kind: "Scale",
        verbs: ["get", "patch", "update"],
      };
    case "token":
      return {
        group: "authentication.k8s.io",
        version: "v1",
        kind: "TokenRequest",
        verbs: ["create"],
      };
    case "finalize":
      return { ...own, kind: info.kind, verbs: ["update"] };
    default:
      return { ...own, kind: info.kind, verbs: ["get"] };
  }
}

/** Every API group (`""` first) with its versions in preference order. */
export function groupVersions(
  resources: readonly ResourceInfo[] = RESOURCES,
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of resources) {
    const vs = out.get(r.group) ?? [];
    if (!vs.includes(r.version)) vs.push(r.version);
    out.set(r.group, vs);
  }
  return out;
}

/** `GET /api` (legacy): APIVersions. */
export function apiVersions(serverAddress: string): object {
  return {
    kind: "APIVersions",
    versions: ["v1"],
    serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }],
  };
}

/** `GET /apis/<group>`: one APIGroup. */
export function apiGroup(group: string, versions: string[]): object {
  const gv = versions.map((v) => ({ groupVersion: `${group}/${v}`, version: v }));
  return {
    kind: "APIGroup",
    apiVersion: "v1",
    name: group,
    versions: gv,
    preferredVersion: gv[0],
  };
}

/** `GET /apis` (legacy): APIGroupList of the named groups. */
export function apiGroupList(resources: readonly ResourceInfo[] = RESOURCES): object {
  const groups = [...groupVersions(resources)]
    .filter(([g]) => g !== "")
    .map(([g, vs]) => {
      const gv = vs.map((v) => ({ groupVersion: `${g}/${v}`, version: v }));
      return { name: g, versions: gv, preferredVersion: gv[0] };
    });
  return { kind: "APIGroupList", apiVersion: "v1", groups };
}

/** `GET /api/v1`, `GET /apis/<g>/<v>`: APIResourceList, subresources as `<res>/<sub>`. */
export function apiResourceList(
  group: string,
  version: string,
  resources: readonly ResourceInfo[] = RESOURCES,
): object {
  const list: object[] = [];
  for (const r of resources) {
    if (r.group !== group || r.version !== version) continue;
    list.push({
      name: r.resource,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: r.verbs,
      ...(r.shortNames.length > 0 ? { shortNames: r.shortNames } : {}),
      ...(r.categories.length > 0 ? { categories: r.categories } : {}),
    });
    for (const sub of r.subresources) {
      const s = subresourceShape(r, sub);
      list.push({
        name: `${r.resource}/${sub}`,
        singularName: "",
        namespaced: r.namespaced,
        ...(s.group !== r.group || s.version !== r.version
          ? { group: s.group, version: s.version }
          : {}),
        kind: s.kind,
        verbs: s.verbs,
      });
    }
  }
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion: apiVersionOf({ group, version }),
    resources: list,
  };
}

/**
 * Aggregated discovery (KA-DISC-1..3): the core group for `/api` (`core` true) or every
 * named group for `/apis`, as an APIGroupDiscoveryList of version `v`.
 */
export function aggregatedDiscovery(
  core: boolean,
  v: "v2" | "v2beta1",
  resources: readonly ResourceInfo[] = RESOURCES,
): object {
  const items: object[] = [];
  for (const [group, versions] of groupVersions(resources)) {
    if ((group === "") !== core) continue;
    items.push({
      metadata: { name: group, creationTimestamp: null },
      versions: versions.map((version) => ({
        version,
        freshness: "Current",
        resources: resources
          .filter((r) => r.group === group && r.version === version)
          .map((r) => ({
            resource: r.resource,
            responseKind: { group: r.group, version: r.version, kind: r.kind },
            scope: r.namespaced ? "Namespaced" : "Cluster",
            singularResource: r.singular,
            verbs: r.verbs,
            ...(r.shortNames.length > 0 ? { shortNames: r.shortNames } : {}),
            ...(r.categories.length > 0 ? { categories: r.categories } : {}),
            ...(r.subresources.length > 0
              ? {
                  subresources: r.subresources.map((sub) => {
                    const s = subresourceShape(r, sub);
                    return {
                      subresource: sub,
                      responseKind: { group: s.group, version: s.version, kind: s.kind },
                      verbs: s.verbs,
                    };
                  }),
                }
              : {}),
          })),
      })),
    });
  }
  return {
    kind: "APIGroupDiscoveryList",
    apiVersion: `apidiscovery.k8s.io/${v}`,
    metadata: {},
    items,
  };
}
