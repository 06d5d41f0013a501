import type { KubeObject, UserInfo } from "../../api/index.js";

/** The RBAC API group. */
export const RBAC_GROUP = "rbac.authorization.k8s.io";

/** One rbac.authorization.k8s.io/v1 PolicyRule. */
export interface PolicyRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

/** A Role or ClusterRole (`aggregationRule` is stored but not evaluated). */
export interface RoleObject extends KubeObject {
  rules?: PolicyRule[];
  aggregationRule?: { clusterRoleSelectors?: unknown[] };
}

/** Who a binding grants to: `User`, `Group` or `ServiceAccount`. */
export interface Subject {
  kind: string;
  name: string;
  apiGroup?: string;
  namespace?: string;
}

/** The role a binding points at. */
export interface RoleRef {
  apiGroup: string;
  kind: string;
  name: string;
}

/** A RoleBinding or ClusterRoleBinding. */
export interface BindingObject extends KubeObject {
  subjects?: Subject[];
  roleRef: RoleRef;
}

/**
 * What authorization sees of a request (upstream's authorizer.Attributes). A resource request
 * has `resource` set; otherwise `path` is a non-resource URL (`/version`, `/healthz`).
 */
export interface RequestAttributes {
  user: UserInfo;
  /** Lower-case Kubernetes verb: get, list, watch, create, update, patch, delete, deletecollection. */
  verb: string;
  isResourceRequest: boolean;
  /** The URL path (used for non-resource requests). */
  path: string;
  apiGroup: string;
  apiVersion: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
}

/** The outcome of one authorization check. */
export interface Decision {
  allowed: boolean;
  /** Why it was allowed or denied (upstream's RBAC wording), possibly empty. */
  reason: string;
}

/**
 * Decides whether a request may proceed. Safe for concurrent use; never throws for a denial
 * (it resolves `allowed: false`). Rejects only when its policy cannot be read.
 */
export interface Authorizer {
  authorize(attrs: RequestAttributes): Promise<Decision>;
  /**
   * Every rule that applies to `user` in `namespace` (cluster-wide ones included), for
   * SelfSubjectRulesReview; optional because not every authorizer can enumerate.
   */
  rulesFor?(user: UserInfo, namespace: string): Promise<PolicyRule[]>;
}

/**
 * The RBAC objects the authorizer evaluates, read fresh on every call (implementations may
 * cache as long as writes are visible to the next call). Safe for concurrent use.
 */
export interface PolicySource {
  clusterRoleBindings(): Promise<BindingObject[]>;
  roleBindings(namespace: string): Promise<BindingObject[]>;
  clusterRole(name: string): Promise<RoleObject | undefined>;
  role(namespace: string, name: string): Promise<RoleObject | undefined>;
}
