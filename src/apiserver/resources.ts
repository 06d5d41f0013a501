/** One served resource: what discovery, routing, storage keys and printing agree on. */
export interface ResourceInfo {
  /** API group, `""` for core. */
  group: string;
  version: string;
  /** Plural, lower-case (`pods`). */
  resource: string;
  /** Singular name (`pod`). */
  singular: string;
  kind: string;
  listKind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  verbs: string[];
  /** Subresources served (`status`, `binding`, `log`, `ephemeralcontainers`, `exec`, …). */
  subresources: string[];
  /** True when DELETE sets deletionTimestamp and waits (pods on a node). */
  gracefulDelete?: boolean;
}

const RW = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

function r(
  group: string,
  version: string,
  resource: string,
  kind: string,
  opts: Partial<
    Pick<
      ResourceInfo,
      | "namespaced"
      | "shortNames"
      | "categories"
      | "verbs"
      | "subresources"
      | "singular"
      | "gracefulDelete"
    >
  > = {},
): ResourceInfo {
  return {
    group,
    version,
    resource,
    singular: opts.singular ?? kind.toLowerCase(),
    kind,
    listKind: `${kind}List`,
    namespaced: opts.namespaced ?? true,
    shortNames: opts.shortNames ?? [],
    categories: opts.categories ?? [],
    verbs: opts.verbs ?? RW,
    subresources: opts.subresources ?? [],
    ...(opts.gracefulDelete === undefined ? {} : { gracefulDelete: opts.gracefulDelete }),
  };
}

/** Every resource podrun serves, in discovery order. */
export const RESOURCES: readonly ResourceInfo[] = [
  r("", "v1", "namespaces", "Namespace", {
    namespaced: false,
    shortNames: ["ns"],
    subresources: ["status", "finalize"],
    verbs: ["create", "delete", "get", "list", "patch", "update", "watch"],
  }),
  r("", "v1", "pods", "Pod", {
    shortNames: ["po"],
    categories: ["all"],
    subresources: [
      "status",
      "binding",
      "log",
      "ephemeralcontainers",
      "exec",
      "attach",
      "portforward",
      "eviction",
    ],
    gracefulDelete: true,
  }),
  r("", "v1", "services", "Service", {
    shortNames: ["svc"],
    categories: ["all"],
    subresources: ["status"],
    verbs: ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
  }),
  r("", "v1", "endpoints", "Endpoints", { shortNames: ["ep"], singular: "endpoints" }),
  r("", "v1", "configmaps", "ConfigMap", { shortNames: ["cm"] }),
  r("", "v1", "secrets", "Secret"),
  r("", "v1", "serviceaccounts", "ServiceAccount", { shortNames: ["sa"], subresources: ["token"] }),
  r("", "v1", "events", "Event", { shortNames: ["ev"] }),
  r("", "v1", "nodes", "Node", {
    namespaced: false,
    shortNames: ["no"],
    subresources: ["status", "proxy"],
  }),
  r("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
  r("coordination.k8s.io", "v1", "leases", "Lease"),
  r("events.k8s.io", "v1", "events", "Event", { shortNames: ["ev"] }),
  r("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", {
    namespaced: false,
  }),
  r("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", { namespaced: false }),
  r("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
  r("rbac.authorization.k8s.io", "v1", "roles", "Role"),
  // Not stored: the API server answers each review from the authorizer.
  r("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", {
    namespaced: false,
    verbs: ["create"],
  }),
  r("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview", {
    namespaced: false,
    verbs: ["create"],
  }),
];

/** Looks up a resource by group, version and plural. */
export function findResource(
  group: string,
  version: string,
  resource: string,
): ResourceInfo | undefined {
  return RESOURCES.find(
    (x) => x.group === group && x.version === version && x.resource === resource,
  );
}

/** `apiVersion` string of a resource (`v1`, `apps/v1`). */
export function apiVersionOf(info: Pick<ResourceInfo, "group" | "version">): string {
  return info.group === "" ? info.version : `${info.group}/${info.version}`;
}

/** Group-qualified plural as used in error messages (`pods`, `leases.coordination.k8s.io`). */
export function qualifiedResource(info: Pick<ResourceInfo, "group" | "resource">): string {
  return info.group === "" ? info.resource : `${info.resource}.${info.group}`;
}
