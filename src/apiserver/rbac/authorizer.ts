import { ApiError, type UserInfo } from "../../api/index.js";
import type { Store } from "../../storage/index.js";
import { evaluateRbac, rulesFor, SYSTEM_MASTERS } from "./evaluate.js";
import {
  RBAC_GROUP,
  type Authorizer,
  type BindingObject,
  type Decision,
  type PolicyRule,
  type PolicySource,
  type RequestAttributes,
  type RoleObject,
} from "./types.js";

/**
 * Upstream's authorization chain for podrun: members of `system:masters` are allowed
 * everything without looking at policy (so the admin keeps working even with broken RBAC
 * objects), everyone else is judged by RBAC over `source`. Safe for concurrent use; rejects
 * only when the policy cannot be read.
 */
export class RbacAuthorizer implements Authorizer {
  readonly #source: PolicySource;

  constructor(opts: { source: PolicySource }) {
    this.#source = opts.source;
  }

  authorize(attrs: RequestAttributes): Promise<Decision> {
    if (attrs.user.groups.includes(SYSTEM_MASTERS)) {
      return Promise.resolve({ allowed: true, reason: "" });
    }
    return evaluateRbac(this.#source, attrs);
  }

  /** The RBAC rules of `user` (system:masters gets its rules from the cluster-admin binding). */
  rulesFor(user: UserInfo, namespace: string): Promise<PolicyRule[]> {
    return rulesFor(this.#source, user, namespace);
  }
}

const PREFIX = `/registry/${RBAC_GROUP}`;

/**
 * Reads RBAC objects straight from the Store under the keys the API server writes them
 * (`/registry/rbac.authorization.k8s.io/<resource>/[<ns>/]<name>`), so a write is visible to
 * the next request. Safe for concurrent use; passes the Store's rejections through.
 */
export class StorePolicySource implements PolicySource {
  readonly #store: Pick<Store, "get" | "list">;

  constructor(store: Pick<Store, "get" | "list">) {
    this.#store = store;
  }

  async clusterRoleBindings(): Promise<BindingObject[]> {
    const { items } = await this.#store.list(`${PREFIX}/clusterrolebindings/`);
    return items.map((s) => s.value as BindingObject);
  }

  async roleBindings(namespace: string): Promise<BindingObject[]> {
    const { items } = await this.#store.list(`${PREFIX}/rolebindings/${namespace}/`);
    return items.map((s) => s.value as BindingObject);
  }

  async clusterRole(name: string): Promise<RoleObject | undefined> {
    return (await this.#store.get(`${PREFIX}/clusterroles/${name}`))?.value as
      RoleObject | undefined;
  }

  async role(namespace: string, name: string): Promise<RoleObject | undefined> {
    return (await this.#store.get(`${PREFIX}/roles/${namespace}/${name}`))?.value as
      RoleObject | undefined;
  }
}

/**
 * The 403 of a denied request, worded as upstream's responsewriters.Forbidden:
 * `pods "web" is forbidden: User "u" cannot create resource "pods/exec" in API group "" in
 * the namespace "default"`, `forbidden: User "u" cannot get path "/metrics"` for
 * non-resource URLs. Details name the group and plural resource (without subresource).
 */
export function forbiddenError(attrs: RequestAttributes, reason = ""): ApiError {
  const who = `User "${attrs.user.username}"`;
  let msg: string;
  if (!attrs.isResourceRequest) {
    msg = `${who} cannot ${attrs.verb} path "${attrs.path}"`;
  } else {
    const res =
      attrs.subresource === "" ? attrs.resource : `${attrs.resource}/${attrs.subresource}`;
    const scope =
      attrs.namespace === "" ? "at the cluster scope" : `in the namespace "${attrs.namespace}"`;
    msg = `${who} cannot ${attrs.verb} resource "${res}" in API group "${attrs.apiGroup}" ${scope}`;
  }
  if (reason !== "") msg = `${msg}: ${reason}`;
  if (!attrs.isResourceRequest) return new ApiError("Forbidden", `forbidden: ${msg}`, {});
  const qualified = attrs.apiGroup === "" ? attrs.resource : `${attrs.resource}.${attrs.apiGroup}`;
  const subject = attrs.name === "" ? qualified : `${qualified} "${attrs.name}"`;
  return new ApiError("Forbidden", `${subject} is forbidden: ${msg}`, {
    ...(attrs.name === "" ? {} : { name: attrs.name }),
    ...(attrs.apiGroup === "" ? {} : { group: attrs.apiGroup }),
    kind: attrs.resource,
  });
}
