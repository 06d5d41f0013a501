// Issue 2 acceptance: the real kubectl (1.27, 1.31, 1.33), default flags, against podrun.
import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { startCluster, type Cluster } from "./harness.js";

const VERSIONS = ["1.27", "1.31", "1.33"];

const pod = (name: string, image = "busybox:1.28"): string => `
apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  labels:
    app: ${name}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: c1
    image: ${image}
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
`;

describe("kubectl verbs", () => {
  let c: Cluster;
  let editor = "";
  let dir = "";
  before(async () => {
    c = await startCluster();
    dir = await mkdtemp(path.join(tmpdir(), "podrun-editor-"));
    editor = path.join(dir, "editor.sh");
    // An EDITOR that adds a label to whatever kubectl hands it.
    await writeFile(
      editor,
      `#!/bin/sh\nsed -i 's/^  labels:$/  labels:\\n    edited: "yes"/' "$1"\n`,
    );
    await chmod(editor, 0o755);
  });
  after(async () => {
    await c.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test("get --raw /readyz, api-resources and explain", async () => {
    assert.equal(await c.k(["get", "--raw", "/readyz"]), "ok");
    for (const v of VERSIONS) {
      const res = await c.k(["api-resources"], { version: v });
      assert.match(res, /^NAME\s+SHORTNAMES\s+APIVERSION\s+NAMESPACED\s+KIND$/m);
      assert.match(res, /^pods\s+po\s+v1\s+true\s+Pod$/m);
      assert.match(res, /^endpointslices\s+discovery\.k8s\.io\/v1\s+true\s+EndpointSlice$/m);
      const ex = await c.k(["explain", "pod.spec.initContainers"], { version: v });
      assert.match(ex, /KIND:\s+Pod/);
      assert.match(ex, /initContainers/);
      assert.match(ex, /List of initialization containers belonging to the pod/);
    }
  });

  for (const v of VERSIONS) {
    const n = `p${v.replace(".", "")}`;
    test(`kubectl ${v}: apply, get, describe, label, annotate, patch, edit, wait, delete`, async () => {
      const k = (args: string[], input?: string): Promise<string> =>
        c.k(args, input === undefined ? { version: v } : { version: v, input });
      assert.match(await k(["apply", "-f", "-"], pod(n)), new RegExp(`pod/${n} created`));
      assert.match(await k(["apply", "-f", "-"], pod(n)), new RegExp(`pod/${n} unchanged`));
      assert.match(
        await k(["wait", "--for=condition=PodScheduled", `pod/${n}`, "--timeout=30s"]),
        new RegExp(`pod/${n} condition met`),
      );
      assert.match(
        await k(["wait", "--for=condition=Ready", `pod/${n}`, "--timeout=60s"]),
        new RegExp(`pod/${n} condition met`),
      );

      const table = await k(["get", "pods", "-l", `app=${n}`]);
      assert.match(table, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/m);
      assert.match(table, new RegExp(`^${n}\\s+1/1\\s+Running\\s+0\\s+\\d+s$`, "m"));
      assert.match(
        await k(["get", "pods", "-A"]),
        new RegExp(`^default\\s+${n}\\s+1/1\\s+Running`, "m"),
      );
      const y = await k(["get", "pod", n, "-o", "yaml"]);
      assert.match(y, /^kind: Pod$/m);
      assert.match(y, /kubectl\.kubernetes\.io\/last-applied-configuration/);
      const j = JSON.parse(await k(["get", "pods", "-o", "json"])) as {
        kind: string;
        items: unknown[];
      };
      assert.equal(j.kind, "List");
      assert.match(
        await k(["get", "pod", n, "-o", "wide"]),
        /IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES/,
      );

      const d = await k(["describe", "pod", n]);
      assert.match(d, new RegExp(`^Name:\\s+${n}$`, "m"));
      assert.match(d, /^Status:\s+Running$/m);
      assert.match(d, /^Events:/m);
      assert.match(
        d,
        /Normal\s+Scheduled\s+\S+\s+default-scheduler\s+Successfully assigned default\//,
      );
      assert.match(d, /Normal\s+Started\s+\S+\s+kubelet\s+Started container c1/);

      assert.match(await k(["label", "pod", n, "tier=web"]), new RegExp(`pod/${n} labeled`));
      assert.match(
        await k(["annotate", "pod", n, "note=hello"]),
        new RegExp(`pod/${n} annotated?$`, "m"),
      );
      assert.match(
        await k(["patch", "pod", n, "--type=merge", "-p", '{"metadata":{"labels":{"m":"1"}}}']),
        new RegExp(`pod/${n} patched`),
      );
      assert.match(
        await k(["patch", "pod", n, "-p", '{"metadata":{"labels":{"s":"1"}}}']),
        new RegExp(`pod/${n} patched`),
      );
      assert.match(
        await k([
          "patch",
          "pod",
          n,
          "--type=json",
          "-p",
          '[{"op":"add","path":"/metadata/labels/j","value":"1"}]',
        ]),
        new RegExp(`pod/${n} patched`),
      );
      const labels = JSON.parse(
        await k(["get", "pod", n, "-o", "jsonpath={.metadata.labels}"]),
      ) as Record<string, string>;
      assert.deepEqual(labels, { app: n, tier: "web", m: "1", s: "1", j: "1" });
      const edited = await c.kubectl(["edit", "pod", n], {
        version: v,
        env: { EDITOR: editor, KUBE_EDITOR: editor },
      });
      assert.equal(edited.code, 0, edited.stderr);
      assert.match(edited.stdout, new RegExp(`pod/${n} edited`));
      assert.equal(await k(["get", "pod", n, "-o", "jsonpath={.metadata.labels.edited}"]), "yes");

      assert.match(await k(["delete", "pod", n]), new RegExp(`pod "${n}" deleted`));
      const gone = await c.kubectl(["get", "pod", n], { version: v });
      assert.match(gone.stderr, new RegExp(`pods "${n}" not found`));
    });
  }

  test("apply --server-side, create -f, delete --grace-period=0 --force", async () => {
    assert.match(
      await c.k(["apply", "--server-side", "-f", "-"], { input: pod("ssa") }),
      /pod\/ssa serverside-applied/,
    );
    assert.match(
      await c.k(["create", "-f", "-"], { input: pod("created") }),
      /pod\/created created/,
    );
    const dup = await c.kubectl(["create", "-f", "-"], { input: pod("created") });
    assert.equal(dup.code, 1);
    assert.match(
      dup.stderr,
      /Error from server \(AlreadyExists\): error when creating "STDIN": pods "created" already exists/,
    );
    const forced = await c.kubectl(["delete", "pod", "created", "--grace-period=0", "--force"]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stderr, /Warning: Immediate deletion does not wait for confirmation/);
    assert.match(forced.stdout, /pod "created" force deleted/);
    await c.k(["delete", "pod", "ssa", "--wait=false"]);
  });

  test("create configmap and secret generic with every kubectl version (protobuf bodies on 1.32+)", async () => {
    for (const v of [...VERSIONS, "1.32"]) {
      const n = `cm${v.replace(".", "")}`;
      assert.match(
        await c.k(["create", "configmap", n, "--from-literal=a=b"], { version: v }),
        new RegExp(`configmap/${n} created`),
      );
      assert.equal(await c.k(["get", "configmap", n, "-o", "jsonpath={.data.a}"]), "b");
      assert.match(
        await c.k(["create", "secret", "generic", `s${n}`, "--from-literal=k=v"], { version: v }),
        new RegExp(`secret/s${n} created`),
      );
      assert.equal(
        await c.k(["get", "secret", `s${n}`, "-o", "jsonpath={.data.k}"]),
        Buffer.from("v").toString("base64"),
      );
    }
  });

  test("get -w streams the pod's STATUS changes", async () => {
    const name = "watched";
    // A label selector, so the watch may start before the pod exists; the request timeout
    // ends the watch once the pod has come and gone.
    const watch = c.kubectl(["get", "pods", "-l", `app=${name}`, "-w", "--request-timeout=8s"], {
      timeoutMs: 15_000,
    });
    await new Promise((r) => setTimeout(r, 300));
    await c.k(["apply", "-f", "-"], { input: pod(name) });
    await c.waitFor(`pod/${name}`, "{.status.phase}", "Running");
    await c.k(["delete", "pod", name]);
    const out = (await watch).stdout;
    assert.match(out, new RegExp(`^${name}\\s+0/1\\s+(Pending|ContainerCreating)`, "m"));
    assert.match(out, new RegExp(`^${name}\\s+1/1\\s+Running`, "m"));
    assert.match(out, new RegExp(`^${name}\\s+\\S+\\s+Terminating`, "m"));
  });

  test("replace --raw adds an ephemeral container", async () => {
    await c.k(["apply", "-f", "-"], { input: pod("demo-pod") });
    const ec = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "demo-pod", namespace: "default" },
      spec: {
        containers: [{ name: "c1", image: "busybox:1.28" }],
        ephemeralContainers: [
          {
            name: "debugger",
            image: "busybox:1.28",
            command: ["sh", "-c", "sleep 3600"],
            targetContainerName: "c1",
          },
        ],
      },
    };
    await c.k(
      [
        "replace",
        "--raw",
        "/api/v1/namespaces/default/pods/demo-pod/ephemeralcontainers",
        "-f",
        "-",
      ],
      { input: JSON.stringify(ec) },
    );
    assert.equal(
      await c.k(["get", "pod", "demo-pod", "-o", "jsonpath={.spec.ephemeralContainers[0].name}"]),
      "debugger",
    );
    assert.match(
      await c.k(["describe", "pod", "demo-pod"]),
      /^Ephemeral Containers:\n\s+debugger:/m,
    );
  });

  test("invalid manifests are refused with upstream's error text and leave nothing behind", async () => {
    const dupNames = `apiVersion: v1\nkind: Pod\nmetadata: {name: dup}\nspec:\n  initContainers: [{name: app, image: busybox:1.28}]\n  containers: [{name: app, image: busybox:1.28}]\n`;
    let r = await c.kubectl(["apply", "-f", "-"], { input: dupNames });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /The Pod "dup" is invalid: spec.initContainers\[0\].name: Duplicate value: "app"/,
    );
    const probe = `apiVersion: v1\nkind: Pod\nmetadata: {name: probe}\nspec:\n  initContainers: [{name: i, image: busybox:1.28, readinessProbe: {exec: {command: ["true"]}}}]\n  containers: [{name: app, image: busybox:1.28}]\n`;
    r = await c.kubectl(["apply", "-f", "-"], { input: probe });
    assert.match(
      r.stderr,
      /spec.initContainers\[0\].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always/,
    );
    r = await c.kubectl(["apply", "-f", "-"], { input: pod("Upper") });
    assert.match(
      r.stderr,
      /metadata.name: Invalid value: "Upper": a lowercase RFC 1123 subdomain must consist of/,
    );
    const unknown = `apiVersion: v1\nkind: Pod\nmetadata: {name: unknown}\nspec:\n  containers: [{name: app, image: busybox:1.28, bogusField: 1}]\n`;
    r = await c.kubectl(["apply", "-f", "-"], { input: unknown });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unknown field "spec.containers\[0\].bogusField"/);
    const names = await c.k(["get", "pods", "-o", "name"]);
    for (const n of ["dup", "probe", "Upper", "unknown"])
      assert.doesNotMatch(names, new RegExp(`pod/${n}$`, "m"));
  });
});
