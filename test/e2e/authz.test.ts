// Issue 7 "only users with the right to create pods/exec can open a stream": RBAC end to end.
// A ServiceAccount token with no binding, then bound to `view`, then to `edit`, driven through
// the real kubectl (1.27 over SPDY, 1.31 and 1.33 over websockets).
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { KUBECTL_DIR, startCluster, type Cluster, type RunResult } from "./harness.js";

const VERSIONS = ["1.27", "1.31", "1.33"];
const SLEEP = "trap 'exit 0' TERM; while true; do sleep 1; done";
const FORBIDDEN = "Error from server (Forbidden): ";

const user = (sa: string): string => `system:serviceaccount:default:${sa}`;

describe("authorization (RBAC)", () => {
  let c: Cluster;
  /** kubeconfig path per ServiceAccount. */
  const kubeconfigs = new Map<string, string>();

  /** Runs kubectl as ServiceAccount `sa` (its token only, no client certificate). */
  const as = (sa: string, args: string[], version?: string): Promise<RunResult> => {
    const bin =
      version === undefined ? "/usr/bin/kubectl" : path.join(KUBECTL_DIR, `kubectl.${version}`);
    const kc = kubeconfigs.get(sa);
    if (kc === undefined) throw new Error(`no kubeconfig for ${sa}`);
    return c.inNetns(bin, ["--kubeconfig", kc, ...args], { timeoutMs: 60_000 });
  };

  const bind = async (name: string, sa: string, clusterRole: string): Promise<void> => {
    await c.k([
      "create",
      "rolebinding",
      name,
      `--clusterrole=${clusterRole}`,
      `--serviceaccount=default:${sa}`,
    ]);
  };

  before(async () => {
    c = await startCluster();
    const server = await c.k([
      "config",
      "view",
      "--minify",
      "-o",
      "jsonpath={.clusters[0].cluster.server}",
    ]);
    const caData = await c.k([
      "config",
      "view",
      "--raw",
      "--minify",
      "-o",
      "jsonpath={.clusters[0].cluster.certificate-authority-data}",
    ]);
    for (const sa of ["nobody", "viewer", "editor"]) {
      await c.k(["create", "serviceaccount", sa]);
      const token = (await c.k(["create", "token", sa])).trim();
      const kc = path.join(c.dataDir, `${sa}.kubeconfig`);
      // JSON is YAML: a kubeconfig with this ServiceAccount's token and nothing else.
      await writeFile(
        kc,
        JSON.stringify({
          apiVersion: "v1",
          kind: "Config",
          clusters: [{ name: "c", cluster: { server, "certificate-authority-data": caData } }],
          users: [{ name: sa, user: { token } }],
          contexts: [{ name: "c", context: { cluster: "c", user: sa, namespace: "default" } }],
          "current-context": "c",
        }),
      );
      kubeconfigs.set(sa, kc);
    }
    await bind("viewer-view", "viewer", "view");
    await bind("editor-edit", "editor", "edit");
    await c.k(["apply", "-f", "-"], {
      input: `
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox:1.28
    command: ${JSON.stringify(["sh", "-c", `echo started; ${SLEEP}`])}
`,
    });
    await c.waitFor("pod/web", "{.status.phase}", "Running", 60_000);
  });

  after(async () => {
    await c.stop();
  });

  test("bootstrap ClusterRoles and ClusterRoleBindings exist under upstream's names", async () => {
    const roles = await c.k(["get", "clusterroles", "-o", "name"]);
    for (const r of [
      "cluster-admin",
      "admin",
      "edit",
      "view",
      "system:discovery",
      "system:basic-user",
      "system:public-info-viewer",
    ]) {
      assert.match(roles, new RegExp(`^clusterrole.rbac.authorization.k8s.io/${r}$`, "m"));
    }
    const crbs = await c.k(["get", "clusterrolebindings", "-o", "wide"]);
    assert.match(crbs, /^cluster-admin\s+ClusterRole\/cluster-admin\s+\S+\s+system:masters/m);
    const rbs = await c.k(["get", "rolebindings"]);
    assert.match(rbs, /^NAME\s+ROLE\s+AGE$/m);
    assert.match(rbs, /^viewer-view\s+ClusterRole\/view\s+/m);
  });

  test("without bindings a ServiceAccount is refused get pods (403, upstream's message)", async () => {
    const r = await as("nobody", ["get", "pods"]);
    assert.notEqual(r.code, 0);
    assert.ok(
      r.stderr.includes(
        `${FORBIDDEN}pods is forbidden: User "${user("nobody")}" cannot list resource "pods" in API group "" in the namespace "default"`,
      ),
      r.stderr,
    );
    // Watches are authorized as the `watch` verb.
    const w = await as("nobody", ["get", "--raw", "/api/v1/namespaces/default/pods?watch=true"]);
    assert.notEqual(w.code, 0);
    assert.match(
      w.stderr,
      /cannot watch resource "pods" in API group "" in the namespace "default"/,
    );
    // Discovery stays open to every authenticated user (system:discovery).
    const v = await as("nobody", ["get", "--raw", "/version"]);
    assert.equal(v.code, 0, v.stderr);
  });

  for (const v of VERSIONS) {
    test(`kubectl ${v}: without bindings exec is refused`, async () => {
      const r = await as("nobody", ["exec", "web", "--", "echo", "hi"], v);
      assert.notEqual(r.code, 0);
      assert.ok(
        r.stderr.startsWith(`${FORBIDDEN}pods "web" is forbidden: User "${user("nobody")}"`),
        r.stderr,
      );
      assert.doesNotMatch(r.stdout, /hi/);
    });

    test(`kubectl ${v}: view lists pods and reads logs but may not exec or port-forward`, async () => {
      const list = await as("viewer", ["get", "pods"], v);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /^web\s+1\/1\s+Running/m);
      const logs = await as("viewer", ["logs", "web"], v);
      assert.equal(logs.code, 0, logs.stderr);
      assert.match(logs.stdout, /^started$/m);
      const exec = await as("viewer", ["exec", "web", "--", "echo", "hi"], v);
      assert.notEqual(exec.code, 0);
      assert.ok(
        exec.stderr.includes(
          `${FORBIDDEN}pods "web" is forbidden: User "${user("viewer")}" cannot create resource "pods/exec" in API group "" in the namespace "default"`,
        ),
        exec.stderr,
      );
      assert.doesNotMatch(exec.stdout, /hi/);
      // port-forward dials its stream before listening, so a refusal ends kubectl at once.
      const pf = await as("viewer", ["port-forward", "pod/web", "0:80"], v);
      assert.notEqual(pf.code, 0);
      assert.match(
        pf.stderr,
        /User "system:serviceaccount:default:viewer" cannot create resource "pods\/portforward" in API group "" in the namespace "default"/,
      );
      const secrets = await as("viewer", ["get", "secrets"], v);
      assert.notEqual(secrets.code, 0);
      assert.match(secrets.stderr, /cannot list resource "secrets"/);
    });

    test(`kubectl ${v}: edit may exec`, async () => {
      const r = await as("editor", ["exec", "web", "--", "sh", "-c", "echo out; exit 3"], v);
      assert.equal(r.code, 3, r.stderr);
      assert.equal(r.stdout, "out\n");
    });
  }

  test("the binding's namespace limits a RoleBinding", async () => {
    const r = await as("viewer", ["get", "pods", "-n", "kube-system"]);
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      /cannot list resource "pods" in API group "" in the namespace "kube-system"/,
    );
    const all = await as("viewer", ["get", "pods", "-A"]);
    assert.notEqual(all.code, 0);
    assert.match(all.stderr, /cannot list resource "pods" in API group "" at the cluster scope/);
  });

  test("kubectl auth can-i answers from RBAC (SelfSubjectAccessReview)", async () => {
    const ask = async (sa: string, args: string[]): Promise<string> => {
      const r = await as(sa, ["auth", "can-i", ...args]);
      return r.stdout.trim();
    };
    assert.equal(await ask("viewer", ["list", "pods"]), "yes");
    assert.equal(await ask("viewer", ["create", "pods/exec"]), "no");
    assert.equal(await ask("editor", ["create", "pods/exec"]), "yes");
    assert.equal(await ask("nobody", ["get", "pods"]), "no");
    assert.equal((await c.k(["auth", "can-i", "delete", "nodes"])).trim(), "yes");
    // --list asks for a SelfSubjectRulesReview of the namespace.
    const list = await as("viewer", ["auth", "can-i", "--list"]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^Resources\s+Non-Resource URLs\s+Resource Names\s+Verbs$/m);
    assert.match(list.stdout, /^pods\s+\[\]\s+\[\]\s+\[get list watch\]$/m);
    assert.match(list.stdout, /^\s+\[\/version\]\s+\[\]\s+\[get\]$/m);
  });

  test("a Role with resourceNames grants only the named object, and takes effect at once", async () => {
    await c.k(["create", "configmap", "open", "--from-literal=k=v"]);
    await c.k(["create", "configmap", "closed", "--from-literal=k=v"]);
    await c.k([
      "create",
      "role",
      "open-reader",
      "--verb=get",
      "--resource=configmaps",
      "--resource-name=open",
    ]);
    await c.k([
      "create",
      "rolebinding",
      "nobody-open",
      "--role=open-reader",
      "--serviceaccount=default:nobody",
    ]);
    const ok = await as("nobody", ["get", "configmap", "open", "-o", "jsonpath={.data.k}"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, "v");
    const denied = await as("nobody", ["get", "configmap", "closed"]);
    assert.notEqual(denied.code, 0);
    assert.ok(
      denied.stderr.includes(
        `${FORBIDDEN}configmaps "closed" is forbidden: User "${user("nobody")}" cannot get resource "configmaps" in API group "" in the namespace "default"`,
      ),
      denied.stderr,
    );
  });

  test("Roles apply from YAML with strict field validation and describe like upstream", async () => {
    await c.k(["apply", "-f", "-"], {
      input: `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "example:pod-reader"}
rules:
- apiGroups: [""]
  resources: [pods, pods/log]
  verbs: [get, list, watch]
- nonResourceURLs: [/healthz]
  verbs: [get]
`,
    });
    const d = await c.k(["describe", "clusterrole", "example:pod-reader"]);
    assert.match(d, /^Name:\s+example:pod-reader$/m);
    assert.match(d, /^\s+pods\/log\s+\[\]\s+\[\]\s+\[get list watch\]$/m);
    const b = await c.k(["describe", "rolebinding", "viewer-view"]);
    assert.match(b, /^\s+Kind:\s+ClusterRole$/m);
    assert.match(b, /^\s+ServiceAccount\s+viewer\s+default$/m);
  });

  test("RBAC objects are validated", async () => {
    const r = await c.kubectl(["create", "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: "bad" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Pod", name: "x" },
      }),
    });
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      /roleRef\.kind: Unsupported value: "Pod": supported values: "Role", "ClusterRole"/,
    );
  });
});
