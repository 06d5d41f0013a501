import assert from "node:assert/strict";
import { test } from "node:test";
import type { UserInfo } from "../../api/index.js";
import { RbacAuthorizer } from "./authorizer.js";
import { bootstrapClusterRoleBindings, bootstrapClusterRoles } from "./bootstrap.js";
import { evaluateRbac, ruleAllows } from "./evaluate.js";
import { requestAttributes } from "./request-info.js";
import { FakePolicySource } from "./testing/fake-policy-source.js";
import type { BindingObject, PolicyRule, RequestAttributes, Subject } from "./types.js";

const SA: UserInfo = {
  username: "system:serviceaccount:default:robot",
  groups: ["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"],
};

function attrs(
  method: string,
  path: string,
  query: Record<string, string> = {},
): RequestAttributes {
  return requestAttributes(SA, method, path, query);
}

const ruleCases: { name: string; rule: PolicyRule; req: RequestAttributes; want: boolean }[] = [
  {
    name: "exact verb, group and resource",
    rule: { verbs: ["list"], apiGroups: [""], resources: ["pods"] },
    req: attrs("GET", "/api/v1/namespaces/default/pods"),
    want: true,
  },
  {
    name: "wrong verb",
    rule: { verbs: ["get"], apiGroups: [""], resources: ["pods"] },
    req: attrs("GET", "/api/v1/namespaces/default/pods"),
    want: false,
  },
  {
    name: "wrong group",
    rule: { verbs: ["list"], apiGroups: ["apps"], resources: ["pods"] },
    req: attrs("GET", "/api/v1/namespaces/default/pods"),
    want: false,
  },
  {
    name: "resource does not cover its subresource",
    rule: { verbs: ["create"], apiGroups: [""], resources: ["pods"] },
    req: attrs("POST", "/api/v1/namespaces/default/pods/web/exec"),
    want: false,
  },
  {
    name: "pods/exec covers a websocket GET upgrade as create",
    rule: { verbs: ["create"], apiGroups: [""], resources: ["pods/exec"] },
    req: attrs("GET", "/api/v1/namespaces/default/pods/web/exec", { command: "ls" }),
    want: true,
  },
  {
    name: "get pods/exec does not allow the websocket exec",
    rule: { verbs: ["get"], apiGroups: [""], resources: ["pods/exec"] },
    req: attrs("GET", "/api/v1/namespaces/default/pods/web/exec"),
    want: false,
  },
  {
    name: "pods/log is get",
    rule: { verbs: ["get"], apiGroups: [""], resources: ["pods/log"] },
    req: attrs("GET", "/api/v1/namespaces/default/pods/web/log"),
    want: true,
  },
  {
    name: "*/subresource wildcard",
    rule: { verbs: ["get"], apiGroups: [""], resources: ["*/log"] },
    req: attrs("GET", "/api/v1/namespaces/default/pods/web/log"),
    want: true,
  },
  {
    name: "* wildcards everywhere",
    rule: { verbs: ["*"], apiGroups: ["*"], resources: ["*"] },
    req: attrs("DELETE", "/apis/apps/v1/namespaces/x/deployments"),
    want: true,
  },
  {
    name: "resourceNames match",
    rule: { verbs: ["get"], apiGroups: [""], resources: ["configmaps"], resourceNames: ["a"] },
    req: attrs("GET", "/api/v1/namespaces/default/configmaps/a"),
    want: true,
  },
  {
    name: "resourceNames miss",
    rule: { verbs: ["get"], apiGroups: [""], resources: ["configmaps"], resourceNames: ["a"] },
    req: attrs("GET", "/api/v1/namespaces/default/configmaps/b"),
    want: false,
  },
  {
    name: "resourceNames refuse a list without a name",
    rule: { verbs: ["list"], apiGroups: [""], resources: ["configmaps"], resourceNames: ["a"] },
    req: attrs("GET", "/api/v1/namespaces/default/configmaps"),
    want: false,
  },
  {
    name: "resourceNames allow a watch narrowed by metadata.name",
    rule: { verbs: ["watch"], apiGroups: [""], resources: ["configmaps"], resourceNames: ["a"] },
    req: attrs("GET", "/api/v1/namespaces/default/configmaps", {
      watch: "true",
      fieldSelector: "metadata.name=a",
    }),
    want: true,
  },
  {
    name: "nonResourceURLs exact",
    rule: { verbs: ["get"], nonResourceURLs: ["/version"] },
    req: attrs("GET", "/version"),
    want: true,
  },
  {
    name: "nonResourceURLs prefix star",
    rule: { verbs: ["get"], nonResourceURLs: ["/apis/*"] },
    req: attrs("GET", "/apis/apps"),
    want: true,
  },
  {
    name: "nonResourceURLs do not grant resources",
    rule: { verbs: ["*"], nonResourceURLs: ["*"] },
    req: attrs("GET", "/api/v1/pods"),
    want: false,
  },
  {
    name: "resource rules do not grant non-resource URLs",
    rule: { verbs: ["*"], apiGroups: ["*"], resources: ["*"] },
    req: attrs("GET", "/metrics"),
    want: false,
  },
];

for (const c of ruleCases) {
  test(`ruleAllows: ${c.name}`, () => {
    assert.equal(ruleAllows(c.rule, c.req), c.want);
  });
}

function binding(
  kind: "RoleBinding" | "ClusterRoleBinding",
  name: string,
  roleRef: { kind: string; name: string },
  subjects: Subject[],
  namespace?: string,
): BindingObject {
  return {
    kind,
    metadata: { name, ...(namespace === undefined ? {} : { namespace }) },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", ...roleRef },
    subjects,
  };
}

function policy(...extra: BindingObject[]): FakePolicySource {
  return new FakePolicySource()
    .add(...bootstrapClusterRoles(), ...bootstrapClusterRoleBindings())
    .add({
      kind: "Role",
      metadata: { name: "cm-reader", namespace: "default" },
      rules: [{ verbs: ["get"], apiGroups: [""], resources: ["configmaps"] }],
    })
    .add(...extra);
}

const saSubject: Subject = { kind: "ServiceAccount", name: "robot", namespace: "default" };
const viewBinding = binding(
  "RoleBinding",
  "v",
  { kind: "ClusterRole", name: "view" },
  [saSubject],
  "default",
);
const editBinding = binding(
  "RoleBinding",
  "e",
  { kind: "ClusterRole", name: "edit" },
  [saSubject],
  "default",
);

const evalCases: {
  name: string;
  bindings: BindingObject[];
  req: RequestAttributes;
  want: boolean;
}[] = [
  {
    name: "no binding: list pods denied",
    bindings: [],
    req: attrs("GET", "/api/v1/namespaces/default/pods"),
    want: false,
  },
  {
    name: "view: list pods",
    bindings: [viewBinding],
    req: attrs("GET", "/api/v1/namespaces/default/pods"),
    want: true,
  },
  {
    name: "view: watch pods",
    bindings: [viewBinding],
    req: attrs("GET", "/api/v1/namespaces/default/pods", { watch: "1" }),
    want: true,
  },
  {
    name: "view: pods/log",
    bindings: [viewBinding],
    req: attrs("GET", "/api/v1/namespaces/default/pods/web/log"),
    want: true,
  },
  {
    name: "view: no exec",
    bindings: [viewBinding],
    req: attrs("POST", "/api/v1/namespaces/default/pods/web/exec"),
    want: false,
  },
  {
    name: "view: no secrets",
    bindings: [viewBinding],
    req: attrs("GET", "/api/v1/namespaces/default/secrets"),
    want: false,
  },
  {
    name: "view in default: not in other namespaces",
    bindings: [viewBinding],
    req: attrs("GET", "/api/v1/namespaces/other/pods"),
    want: false,
  },
  {
    name: "view via RoleBinding: not cluster-wide",
    bindings: [viewBinding],
    req: attrs("GET", "/api/v1/pods"),
    want: false,
  },
  {
    name: "edit: exec",
    bindings: [editBinding],
    req: attrs("GET", "/api/v1/namespaces/default/pods/web/exec"),
    want: true,
  },
  {
    name: "edit: attach",
    bindings: [editBinding],
    req: attrs("POST", "/api/v1/namespaces/default/pods/web/attach"),
    want: true,
  },
  {
    name: "edit: portforward",
    bindings: [editBinding],
    req: attrs("GET", "/api/v1/namespaces/default/pods/web/portforward"),
    want: true,
  },
  {
    name: "edit: delete pods",
    bindings: [editBinding],
    req: attrs("DELETE", "/api/v1/namespaces/default/pods/web"),
    want: true,
  },
  {
    name: "edit: no roles",
    bindings: [editBinding],
    req: attrs("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles"),
    want: false,
  },
  {
    name: "Role in the binding's namespace",
    bindings: [
      binding("RoleBinding", "r", { kind: "Role", name: "cm-reader" }, [saSubject], "default"),
    ],
    req: attrs("GET", "/api/v1/namespaces/default/configmaps/x"),
    want: true,
  },
  {
    name: "ServiceAccount subject without namespace means the binding's",
    bindings: [
      binding(
        "RoleBinding",
        "r",
        { kind: "ClusterRole", name: "view" },
        [{ kind: "ServiceAccount", name: "robot" }],
        "default",
      ),
    ],
    req: attrs("GET", "/api/v1/namespaces/default/pods"),
    want: true,
  },
  {
    name: "group system:serviceaccounts:default",
    bindings: [
      binding("ClusterRoleBinding", "g", { kind: "ClusterRole", name: "view" }, [
        {
          kind: "Group",
          name: "system:serviceaccounts:default",
          apiGroup: "rbac.authorization.k8s.io",
        },
      ]),
    ],
    req: attrs("GET", "/api/v1/pods"),
    want: true,
  },
  {
    name: "User subject by name",
    bindings: [
      binding("ClusterRoleBinding", "u", { kind: "ClusterRole", name: "view" }, [
        { kind: "User", name: SA.username, apiGroup: "rbac.authorization.k8s.io" },
      ]),
    ],
    req: attrs("GET", "/api/v1/namespaces/x/services"),
    want: true,
  },
  {
    name: "binding to a missing role grants nothing",
    bindings: [
      binding("RoleBinding", "m", { kind: "Role", name: "missing" }, [saSubject], "default"),
    ],
    req: attrs("GET", "/api/v1/namespaces/default/configmaps/x"),
    want: false,
  },
  {
    name: "system:discovery for every authenticated user",
    bindings: [],
    req: attrs("GET", "/apis/apps/v1"),
    want: true,
  },
  {
    name: "system:public-info-viewer: /version",
    bindings: [],
    req: attrs("GET", "/version"),
    want: true,
  },
  { name: "no /metrics without a grant", bindings: [], req: attrs("GET", "/metrics"), want: false },
  {
    name: "system:basic-user: self access reviews",
    bindings: [],
    req: attrs("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"),
    want: true,
  },
];

for (const c of evalCases) {
  test(`evaluateRbac: ${c.name}`, async () => {
    const d = await evaluateRbac(policy(...c.bindings), c.req);
    assert.equal(d.allowed, c.want, d.reason);
  });
}

test("evaluateRbac explains an allow in upstream's words", async () => {
  const d = await evaluateRbac(
    policy(viewBinding),
    attrs("GET", "/api/v1/namespaces/default/pods"),
  );
  assert.equal(
    d.reason,
    'RBAC: allowed by RoleBinding "v/default" of ClusterRole "view" to ServiceAccount "default/robot"',
  );
});

test("RbacAuthorizer lets system:masters through without reading policy", async () => {
  const source = new FakePolicySource();
  const admin: UserInfo = { username: "kubernetes-admin", groups: ["system:masters"] };
  const d = await new RbacAuthorizer({ source }).authorize(
    requestAttributes(admin, "DELETE", "/api/v1/nodes/n1"),
  );
  assert.equal(d.allowed, true);
  assert.deepEqual(source.calls, []);
});
