import type { UserInfo } from "../../api/index.js";
import type {
  BindingObject,
  Decision,
  PolicyRule,
  PolicySource,
  RequestAttributes,
  Subject,
} from "./types.js";

/** The group whose members bypass authorization (upstream's privileged group). */
export const SYSTEM_MASTERS = "system:masters";

/** Whether one rule grants the request (upstream's RBAC rule matching, `*` wildcards included). */
export function ruleAllows(rule: PolicyRule, attrs: RequestAttributes): boolean {
  if (!rule.verbs.includes("*") && !rule.verbs.includes(attrs.verb)) return false;
  if (!attrs.isResourceRequest)
    return nonResourceUrlMatches(rule.nonResourceURLs ?? [], attrs.path);
  const groups = rule.apiGroups ?? [];
  if (!groups.includes("*") && !groups.includes(attrs.apiGroup)) return false;
  if (!resourceMatches(rule.resources ?? [], attrs.resource, attrs.subresource)) return false;
  const names = rule.resourceNames ?? [];
  return names.length === 0 || names.includes(attrs.name);
}

function resourceMatches(ruleResources: string[], resource: string, subresource: string): boolean {
  const combined = subresource === "" ? resource : `${resource}/${subresource}`;
  return ruleResources.some(
    (r) => r === "*" || r === combined || (subresource !== "" && r === `*/${subresource}`),
  );
}

function nonResourceUrlMatches(urls: string[], path: string): boolean {
  return urls.some(
    (u) => u === "*" || u === path || (u.endsWith("*") && path.startsWith(u.slice(0, -1))),
  );
}

/** `system:serviceaccount:<ns>:<name>`, the username of a service account. */
function serviceAccountName(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

/**
 * Whether a binding subject names the user. A ServiceAccount subject without a namespace
 * means the binding's own namespace (`bindingNamespace`, empty for cluster bindings).
 */
export function subjectMatches(
  subject: Subject,
  user: UserInfo,
  bindingNamespace: string,
): boolean {
  switch (subject.kind) {
    case "User":
      return subject.name === user.username;
    case "Group":
      return user.groups.includes(subject.name);
    case "ServiceAccount": {
      const ns = subject.namespace ?? bindingNamespace;
      if (ns === "") return false;
      return serviceAccountName(ns, subject.name) === user.username;
    }
    default:
      return false;
  }
}

function describeSubject(s: Subject): string {
  if (s.kind === "ServiceAccount") return `ServiceAccount "${s.namespace ?? ""}/${s.name}"`;
  return `${s.kind} "${s.name}"`;
}

/**
 * Evaluates RBAC for one request: ClusterRoleBindings for every request, plus the
 * RoleBindings of the request's namespace for namespaced resource requests (a RoleBinding may
 * reference a Role of its namespace or a ClusterRole). Bindings to missing roles grant
 * nothing. Allowed reasons use upstream's wording (`RBAC: allowed by ClusterRoleBinding "x" of
 * ClusterRole "y" to Group "z"`); a denial has an empty reason. Rejects only when `source`
 * does.
 */
export async function evaluateRbac(
  source: PolicySource,
  attrs: RequestAttributes,
): Promise<Decision> {
  const user = attrs.user;
  for (const b of await source.clusterRoleBindings()) {
    const subject = (b.subjects ?? []).find((s) => subjectMatches(s, user, ""));
    if (subject === undefined || b.roleRef.kind !== "ClusterRole") continue;
    const role = await source.clusterRole(b.roleRef.name);
    if (role !== undefined && (role.rules ?? []).some((r) => ruleAllows(r, attrs))) {
      return {
        allowed: true,
        reason: `RBAC: allowed by ClusterRoleBinding "${b.metadata.name ?? ""}" of ClusterRole "${b.roleRef.name}" to ${describeSubject(subject)}`,
      };
    }
  }
  if (!attrs.isResourceRequest || attrs.namespace === "") return { allowed: false, reason: "" };
  const ns = attrs.namespace;
  for (const b of await source.roleBindings(ns)) {
    const subject = (b.subjects ?? []).find((s) => subjectMatches(s, user, ns));
    if (subject === undefined) continue;
    const role = await roleOf(source, b, ns);
    if (role !== undefined && (role.rules ?? []).some((r) => ruleAllows(r, attrs))) {
      return {
        allowed: true,
        reason: `RBAC: allowed by RoleBinding "${b.metadata.name ?? ""}/${ns}" of ${b.roleRef.kind} "${b.roleRef.name}" to ${describeSubject(subject)}`,
      };
    }
  }
  return { allowed: false, reason: "" };
}

function roleOf(
  source: PolicySource,
  b: BindingObject,
  ns: string,
): ReturnType<PolicySource["role"]> {
  switch (b.roleRef.kind) {
    case "ClusterRole":
      return source.clusterRole(b.roleRef.name);
    case "Role":
      return source.role(ns, b.roleRef.name);
    default:
      return Promise.resolve(undefined);
  }
}

/**
 * Every rule granted to `user` by ClusterRoleBindings and, when `namespace` is not empty, by
 * that namespace's RoleBindings (upstream's RulesFor, without de-duplication). Rejects only
 * when `source` does.
 */
export async function rulesFor(
  source: PolicySource,
  user: UserInfo,
  namespace: string,
): Promise<PolicyRule[]> {
  const out: PolicyRule[] = [];
  for (const b of await source.clusterRoleBindings()) {
    if (b.roleRef.kind !== "ClusterRole") continue;
    if (!(b.subjects ?? []).some((s) => subjectMatches(s, user, ""))) continue;
    out.push(...((await source.clusterRole(b.roleRef.name))?.rules ?? []));
  }
  if (namespace === "") return out;
  for (const b of await source.roleBindings(namespace)) {
    if (!(b.subjects ?? []).some((s) => subjectMatches(s, user, namespace))) continue;
    out.push(...((await roleOf(source, b, namespace))?.rules ?? []));
  }
  return out;
}
