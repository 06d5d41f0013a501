import assert from "node:assert/strict";
import { test } from "node:test";
import { isInvalid, type UserInfo } from "../../api/index.js";
import { selfSubjectAccessReview, selfSubjectRulesReview } from "./access-review.js";
import { forbiddenError, RbacAuthorizer } from "./authorizer.js";
import { bootstrapClusterRoleBindings, bootstrapClusterRoles } from "./bootstrap.js";
import { requestAttributes } from "./request-info.js";
import { FakePolicySource } from "./testing/fake-policy-source.js";
import { validateRbacObject } from "./validation.js";

const SA: UserInfo = {
  username: "system:serviceaccount:default:default",
  groups: ["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"],
};

const messageCases: {
  method: string;
  path: string;
  query?: Record<string, string>;
  want: string;
}[] = [
  {
    method: "GET",
    path: "/api/v1/namespaces/default/pods",
    want: 'pods is forbidden: User "system:serviceaccount:default:default" cannot list resource "pods" in API group "" in the namespace "default"',
  },
  {
    method: "GET",
    path: "/api/v1/namespaces/default/pods/web/exec",
    query: { command: "sh" },
    want: 'pods "web" is forbidden: User "system:serviceaccount:default:default" cannot create resource "pods/exec" in API group "" in the namespace "default"',
  },
  {
    method: "GET",
    path: "/api/v1/nodes",
    query: { watch: "true" },
    want: 'nodes is forbidden: User "system:serviceaccount:default:default" cannot watch resource "nodes" in API group "" at the cluster scope',
  },
  {
    method: "DELETE",
    path: "/apis/rbac.authorization.k8s.io/v1/namespaces/x/roles",
    want: 'roles.rbac.authorization.k8s.io is forbidden: User "system:serviceaccount:default:default" cannot deletecollection resource "roles" in API group "rbac.authorization.k8s.io" in the namespace "x"',
  },
  {
    method: "GET",
    path: "/metrics",
    want: 'forbidden: User "system:serviceaccount:default:default" cannot get path "/metrics"',
  },
];

for (const c of messageCases) {
  test(`forbiddenError words ${c.method} ${c.path} as upstream`, () => {
    const e = forbiddenError(requestAttributes(SA, c.method, c.path, c.query ?? {}));
    assert.equal(e.code, 403);
    assert.equal(e.reason, "Forbidden");
    assert.equal(e.message, c.want);
  });
}

test("forbiddenError details name the plural resource and the object", () => {
  const e = forbiddenError(
    requestAttributes(SA, "POST", "/api/v1/namespaces/default/pods/web/exec"),
  );
  assert.deepEqual(e.toStatus().details, { name: "web", kind: "pods" });
});

test("requestAttributes keeps namespace subresources on the namespace", () => {
  const a = requestAttributes(SA, "PUT", "/api/v1/namespaces/dev/finalize");
  assert.equal(a.resource, "namespaces");
  assert.equal(a.name, "dev");
  assert.equal(a.subresource, "finalize");
  assert.equal(a.verb, "update");
});

test("requestAttributes treats /apis/<group> discovery as non-resource", () => {
  const a = requestAttributes(SA, "GET", "/apis/apps");
  assert.equal(a.isResourceRequest, false);
  assert.equal(a.verb, "get");
});

test("selfSubjectAccessReview answers for the requesting user", async () => {
  const authz = new RbacAuthorizer({
    source: new FakePolicySource().add(
      ...bootstrapClusterRoles(),
      ...bootstrapClusterRoleBindings(),
    ),
  });
  const review = (await selfSubjectAccessReview(
    { spec: { resourceAttributes: { namespace: "default", verb: "list", resource: "pods" } } },
    SA,
    authz,
  )) as { status: { allowed: boolean } };
  assert.equal(review.status.allowed, false);
  const nonRes = (await selfSubjectAccessReview(
    { spec: { nonResourceAttributes: { path: "/version", verb: "get" } } },
    SA,
    authz,
  )) as { status: { allowed: boolean } };
  assert.equal(nonRes.status.allowed, true);
});

test("selfSubjectAccessReview refuses a spec without attributes", async () => {
  const authz = new RbacAuthorizer({ source: new FakePolicySource() });
  await assert.rejects(selfSubjectAccessReview({ spec: {} }, SA, authz), isInvalid);
});

test("validateRbacObject reports rule and binding problems with upstream paths", () => {
  const role = validateRbacObject(
    "Role",
    {
      kind: "Role",
      metadata: { name: "r" },
      rules: [{ verbs: [], nonResourceURLs: ["/x"] }],
    } as never,
    undefined,
  );
  assert.deepEqual(
    role.map((e) => e.field),
    ["rules[0].verbs", "rules[0].nonResourceURLs"],
  );
  const crb = validateRbacObject(
    "ClusterRoleBinding",
    {
      kind: "ClusterRoleBinding",
      metadata: { name: "b" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "x" },
      subjects: [{ kind: "ServiceAccount", name: "sa" }],
    } as never,
    undefined,
  );
  assert.deepEqual(
    crb.map((e) => `${e.field}:${e.type}`),
    ["roleRef.kind:NotSupported", "subjects[0].namespace:Required"],
  );
});

test("validateRbacObject refuses changing a binding's roleRef", () => {
  const b = (name: string): never =>
    ({
      kind: "RoleBinding",
      metadata: { name: "b" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
    }) as never;
  assert.deepEqual(
    validateRbacObject("RoleBinding", b("edit"), b("view")).map((e) => e.field),
    ["roleRef"],
  );
});

test("selfSubjectRulesReview lists the user's rules in a namespace", async () => {
  const source = new FakePolicySource()
    .add(...bootstrapClusterRoles(), ...bootstrapClusterRoleBindings())
    .add({
      kind: "RoleBinding",
      metadata: { name: "v", namespace: "default" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "view" },
      subjects: [{ kind: "ServiceAccount", name: "default", namespace: "default" }],
    });
  const authz = new RbacAuthorizer({ source });
  interface Rules {
    status: {
      resourceRules: { resources?: string[] }[];
      nonResourceRules: { nonResourceURLs: string[] }[];
    };
  }
  const inDefault = (await selfSubjectRulesReview(
    { spec: { namespace: "default" } },
    SA,
    authz,
  )) as Rules;
  assert.ok(inDefault.status.resourceRules.some((r) => r.resources?.includes("pods")));
  assert.ok(inDefault.status.nonResourceRules.some((r) => r.nonResourceURLs.includes("/version")));
  const elsewhere = (await selfSubjectRulesReview(
    { spec: { namespace: "other" } },
    SA,
    authz,
  )) as Rules;
  assert.ok(!elsewhere.status.resourceRules.some((r) => r.resources?.includes("pods")));
  await assert.rejects(selfSubjectRulesReview({ spec: {} }, SA, authz), isInvalid);
});
