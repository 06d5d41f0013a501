import assert from "node:assert/strict";
import { test } from "node:test";
import { parse } from "yaml";
import type { Pod } from "../api/index.js";
import { FakeApiHandler, HandlerTransport } from "../client/index.js";
import { FakeClock } from "../util/index.js";
import { runCli } from "./cli.js";

const PODS = "/api/v1/namespaces/default/pods";

function pod(name: string, containers = ["c1"]): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "default", labels: { app: name } },
    spec: { containers: containers.map((c) => ({ name: c, image: "busybox" })) },
  };
}

async function run(
  fake: FakeApiHandler,
  argv: string[],
  files: Record<string, string> = {},
): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await runCli(argv, {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env: {},
    transport: new HandlerTransport(fake),
    clock: fake.clock,
    readFile: (p) => {
      const f = files[p];
      return f === undefined
        ? Promise.reject(new Error(`open ${p}: no such file`))
        : Promise.resolve(f);
    },
  });
  return { code, out, err };
}

test("podrun get asks for a server-side Table and prints it", async () => {
  const fake = new FakeApiHandler({ clock: new FakeClock(Date.UTC(2025, 0, 1)) });
  fake.seed(PODS, pod("web"));
  const r = await run(fake, ["get", "pods"]);
  assert.equal(r.code, 0);
  assert.equal(r.out, "NAME   CREATED AT\nweb    2025-01-01T00:00:00Z\n");
  const req = fake.requests.at(-1)!;
  assert.match(req.headers?.["accept"] ?? "", /^application\/json;as=Table;v=v1;g=meta.k8s.io/);
  assert.equal(req.query?.["limit"], "500");
});

test("KA-TBL-4 podrun get prints 'No resources found' to stderr for an empty list", async () => {
  const fake = new FakeApiHandler();
  let r = await run(fake, ["get", "po", "-n", "kube-system"]);
  assert.equal(r.code, 0);
  assert.equal(r.out, "");
  assert.equal(r.err, "No resources found in kube-system namespace.\n");
  r = await run(fake, ["get", "pods", "-A"]);
  assert.equal(r.err, "No resources found\n");
  assert.equal(fake.requests.at(-1)!.path, "/api/v1/pods");
});

test("KA-GET-2 podrun get of a missing object prints the server error and exits 1", async () => {
  const fake = new FakeApiHandler();
  const r = await run(fake, ["get", "pod", "nope"]);
  assert.equal(r.code, 1);
  assert.equal(r.err, 'Error from server (NotFound): pods "nope" not found\n');
  const u = await run(fake, ["get", "foo"]);
  assert.equal(u.code, 1);
  assert.equal(u.err, 'error: the server doesn\'t have a resource type "foo"\n');
});

test("podrun get -o name|json|yaml prints objects", async () => {
  const fake = new FakeApiHandler();
  fake.seed(PODS, pod("web"));
  fake.seed(PODS, pod("db"));
  let r = await run(fake, ["get", "pods", "-o", "name", "-l", "app=web"]);
  assert.equal(r.out, "pod/web\n");
  r = await run(fake, ["get", "pod/web", "-ojson"]);
  const obj = JSON.parse(r.out) as Pod;
  assert.equal(obj.metadata.name, "web");
  assert.ok(r.out.startsWith('{\n    "apiVersion": "v1",'));
  r = await run(fake, ["get", "pods", "--output=yaml"]);
  const list = parse(r.out) as { kind: string; items: Pod[] };
  assert.equal(list.kind, "List");
  // go-yaml v2 style, as kubectl prints: unindented sequences, quoted timestamps.
  assert.match(r.out, /^apiVersion: v1\nitems:\n- apiVersion: v1\n/);
  assert.match(r.out, /\n {4}creationTimestamp: "\d{4}-\d\d-\d\dT/);
  assert.deepEqual(list.items.map((p) => p.metadata.name).sort(), ["db", "web"]);
});

test("KA-SSA-1 podrun apply -f sends server-side apply patches per document", async () => {
  const fake = new FakeApiHandler();
  const manifest = `apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
    - name: c1
      image: nginx:1.25
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
  namespace: other
data:
  a: "1"
`;
  const r = await run(fake, ["apply", "-f", "m.yaml"], { "m.yaml": manifest });
  assert.equal(r.err, "");
  assert.equal(r.code, 0);
  assert.equal(r.out, "pod/web serverside-applied\nconfigmap/cfg serverside-applied\n");
  const patches = fake.requests.filter((q) => q.method === "PATCH");
  assert.equal(patches.length, 2);
  assert.equal(patches[0]?.path, `${PODS}/web`);
  assert.equal(patches[0].contentType, "application/apply-patch+yaml");
  assert.deepEqual(patches[0].query, { fieldManager: "podrun", force: "false" });
  assert.equal(patches[1]?.path, "/api/v1/namespaces/other/configmaps/cfg");
  assert.equal(fake.peek(`${PODS}/web`)?.metadata.namespace, "default");
});

test("KA-DEL-1 podrun delete sends DeleteOptions and prints kubectl's message", async () => {
  const fake = new FakeApiHandler();
  fake.seed(PODS, pod("web"));
  fake.seed(PODS, pod("db"));
  let r = await run(fake, ["delete", "pod", "web"]);
  assert.equal(r.code, 0);
  assert.equal(r.out, 'pod "web" deleted\n');
  assert.deepEqual(fake.requests.at(-1)!.body, { propagationPolicy: "Background" });
  r = await run(fake, ["delete", "pod/db", "--grace-period=0", "--force"]);
  assert.equal(r.out, 'pod "db" force deleted\n');
  assert.match(r.err, /^Warning: Immediate deletion/);
  assert.deepEqual(fake.requests.at(-1)!.body, {
    propagationPolicy: "Background",
    gracePeriodSeconds: 0,
  });
  r = await run(fake, ["delete", "pod", "web"]);
  assert.equal(r.code, 1);
  assert.equal(r.err, 'Error from server (NotFound): pods "web" not found\n');
});

test("KA-LOGS podrun logs picks the default container and passes log options", async () => {
  const fake = new FakeApiHandler();
  fake.seed(PODS, pod("web", ["c1", "c2"]));
  fake.setLog("default", "web", "c1", "one\ntwo\nthree\n");
  fake.setLog("default", "web", "c2", "other\n");
  let r = await run(fake, ["logs", "web", "--tail=1"]);
  assert.equal(r.code, 0);
  assert.equal(r.out, "three\n");
  assert.equal(r.err, 'Defaulted container "c1" out of: c1, c2\n');
  assert.deepEqual(fake.requests.at(-1)!.query, { container: "c1", tailLines: "1" });
  r = await run(fake, ["logs", "pod/web", "-c", "c2", "-f"]);
  assert.equal(r.out, "other\n");
  assert.equal(r.err, "");
  assert.deepEqual(fake.requests.at(-1)!.query, { container: "c2", follow: "true" });
});

test("podrun describe pod prints the description with events", async () => {
  const fake = new FakeApiHandler();
  fake.seed(PODS, pod("web"));
  const r = await run(fake, ["describe", "pod", "web"]);
  assert.equal(r.code, 0);
  assert.match(r.out, /^Name:\s+web\nNamespace:\s+default\n/);
  assert.match(r.out, /\nEvents:\s+<none>\n$/);
  const evReq = fake.requests.at(-1)!;
  assert.equal(evReq.path, "/api/v1/namespaces/default/events");
  assert.match(
    String(evReq.query?.["fieldSelector"]),
    /^involvedObject.name=web,involvedObject.namespace=default,involvedObject.uid=/,
  );
});
