import type { BindingObject, PolicyRule, RoleObject } from "./types.js";
import { RBAC_GROUP } from "./types.js";
import { SYSTEM_MASTERS } from "./evaluate.js";

const READ = ["get", "list", "watch"];
const WRITE = ["create", "delete", "deletecollection", "patch", "update"];

function rule(apiGroups: string[], resources: string[], verbs: string[]): PolicyRule {
  return { apiGroups, resources, verbs };
}

/** What `view` grants (upstream's system:aggregate-to-view, flattened): read, but no secrets. */
const VIEW_RULES: PolicyRule[] = [
  rule(
    [""],
    [
      "configmaps",
      "endpoints",
      "persistentvolumeclaims",
      "persistentvolumeclaims/status",
      "pods",
      "replicationcontrollers",
      "replicationcontrollers/scale",
      "serviceaccounts",
      "services",
      "services/status",
    ],
    READ,
  ),
  rule(
    [""],
    [
      "bindings",
      "events",
      "limitranges",
      "namespaces/status",
      "pods/log",
      "pods/status",
      "replicationcontrollers/status",
      "resourcequotas",
      "resourcequotas/status",
    ],
    READ,
  ),
  rule([""], ["namespaces"], READ),
  rule(["discovery.k8s.io"], ["endpointslices"], READ),
  rule(
    ["apps"],
    [
      "controllerrevisions",
      "daemonsets",
      "daemonsets/status",
      "deployments",
      "deployments/scale",
      "deployments/status",
      "replicasets",
      "replicasets/scale",
      "replicasets/status",
      "statefulsets",
      "statefulsets/scale",
      "statefulsets/status",
    ],
    READ,
  ),
  rule(["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"], READ),
  rule(["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"], READ),
  rule(["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"], READ),
  rule(["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"], READ),
  rule(["metrics.k8s.io"], ["pods", "nodes"], READ),
];

/** What `edit` adds to `view` (upstream's system:aggregate-to-edit): writes, secrets, streams. */
const EDIT_RULES: PolicyRule[] = [
  rule(
    [""],
    ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"],
    READ,
  ),
  rule([""], ["serviceaccounts"], ["impersonate"]),
  rule([""], ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"], WRITE),
  rule([""], ["pods/eviction"], ["create"]),
  rule(
    [""],
    [
      "configmaps",
      "events",
      "persistentvolumeclaims",
      "replicationcontrollers",
      "replicationcontrollers/scale",
      "secrets",
      "serviceaccounts",
      "services",
      "services/proxy",
    ],
    WRITE,
  ),
  rule([""], ["serviceaccounts/token"], ["create"]),
  rule(
    ["apps"],
    [
      "daemonsets",
      "deployments",
      "deployments/rollback",
      "deployments/scale",
      "replicasets",
      "replicasets/scale",
      "statefulsets",
      "statefulsets/scale",
    ],
    WRITE,
  ),
  rule(["autoscaling"], ["horizontalpodautoscalers"], WRITE),
  rule(["batch"], ["cronjobs", "jobs"], WRITE),
  rule(["policy"], ["poddisruptionbudgets"], WRITE),
  rule(["networking.k8s.io"], ["ingresses", "networkpolicies"], WRITE),
  rule(["coordination.k8s.io"], ["leases"], [...READ, ...WRITE]),
];

/** What `admin` adds to `edit` (upstream's system:aggregate-to-admin): namespace RBAC. */
const ADMIN_RULES: PolicyRule[] = [
  rule(["authorization.k8s.io"], ["localsubjectaccessreviews"], ["create"]),
  rule([RBAC_GROUP], ["rolebindings", "roles"], [...READ, ...WRITE]),
];

const DISCOVERY_URLS = [
  "/api",
  "/api/*",
  "/apis",
  "/apis/*",
  "/healthz",
  "/livez",
  "/openapi",
  "/openapi/*",
  "/readyz",
  "/version",
  "/version/",
];

const PUBLIC_INFO_URLS = ["/healthz", "/livez", "/readyz", "/version", "/version/"];

function metadata(name: string, aggregate?: string): RoleObject["metadata"] {
  return {
    name,
    labels: {
      "kubernetes.io/bootstrapping": "rbac-defaults",
      ...(aggregate === undefined
        ? {}
        : { [`rbac.authorization.k8s.io/aggregate-to-${aggregate}`]: "true" }),
    },
    annotations: { "rbac.authorization.kubernetes.io/autoupdate": "true" },
  };
}

function clusterRole(name: string, rules: PolicyRule[], aggregate?: string): RoleObject {
  return {
    apiVersion: `${RBAC_GROUP}/v1`,
    kind: "ClusterRole",
    metadata: metadata(name, aggregate),
    rules,
  };
}

function groupBinding(name: string, role: string, groups: string[]): BindingObject {
  return {
    apiVersion: `${RBAC_GROUP}/v1`,
    kind: "ClusterRoleBinding",
    metadata: metadata(name),
    roleRef: { apiGroup: RBAC_GROUP, kind: "ClusterRole", name: role },
    subjects: groups.map((g) => ({ apiGroup: RBAC_GROUP, kind: "Group", name: g })),
  };
}

/**
 * The ClusterRoles upstream creates at start, by upstream's names. `admin`, `edit` and
 * `view` carry their aggregated rules directly (podrun has no aggregation controller).
 */
export function bootstrapClusterRoles(): RoleObject[] {
  return [
    clusterRole("cluster-admin", [
      rule(["*"], ["*"], ["*"]),
      { nonResourceURLs: ["*"], verbs: ["*"] },
    ]),
    clusterRole("admin", [...VIEW_RULES, ...EDIT_RULES, ...ADMIN_RULES]),
    clusterRole("edit", [...VIEW_RULES, ...EDIT_RULES], "admin"),
    clusterRole("view", VIEW_RULES, "edit"),
    clusterRole("system:discovery", [{ nonResourceURLs: DISCOVERY_URLS, verbs: ["get"] }]),
    clusterRole("system:public-info-viewer", [
      { nonResourceURLs: PUBLIC_INFO_URLS, verbs: ["get"] },
    ]),
    clusterRole("system:basic-user", [
      rule(
        ["authorization.k8s.io"],
        ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
        ["create"],
      ),
      rule(["authentication.k8s.io"], ["selfsubjectreviews"], ["create"]),
    ]),
  ];
}

/** The ClusterRoleBindings upstream creates at start, by upstream's names. */
export function bootstrapClusterRoleBindings(): BindingObject[] {
  return [
    groupBinding("cluster-admin", "cluster-admin", [SYSTEM_MASTERS]),
    groupBinding("system:discovery", "system:discovery", ["system:authenticated"]),
    groupBinding("system:basic-user", "system:basic-user", ["system:authenticated"]),
    groupBinding("system:public-info-viewer", "system:public-info-viewer", [
      "system:authenticated",
      "system:unauthenticated",
    ]),
  ];
}
