// Issue 2 acceptance (bad input): malformed YAML/JSON, bodies over 3 MiB, deep nesting, wrong
// types and invalid UTF-8 sent to the create, update and patch endpoints of every served
// resource (and their status subresources) are answered with 4xx Status objects; the server
// keeps serving and stores nothing partial.
//
// The HTTPS client must run inside the cluster's network namespace, so this file doubles as
// its own driver: spawned with `driver <kubeconfig>` it sends every request and prints one
// JSON report instead of defining tests.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { RESOURCES, apiVersionOf, type ResourceInfo } from "../../src/apiserver/index.js";
import { startCluster, type Cluster } from "./harness.js";
import { call, connect, type Reply } from "./https-client.js";

const NS = "bad-input";
const NAME = "bad-input-1";

/**
 * The fixture's name. core/v1 and events.k8s.io/v1 events are one stored resource, so the two
 * fixtures need different names.
 */
function nameOf(info: ResourceInfo): string {
  if (info.resource === "namespaces") return NS;
  return info.group === "events.k8s.io" ? "bad-input-2" : NAME;
}
/** A label every bad request tries to set; no stored object may ever carry it. */
const MARKER = "bad-input-marker";
const LIMIT_BYTES = 3 * 1024 * 1024;

/** A valid object of each resource, created before the bad requests. */
function fixture(info: ResourceInfo): Record<string, unknown> {
  const meta = { name: nameOf(info), labels: { keep: "yes" } };
  const base = { apiVersion: apiVersionOf(info), kind: info.kind, metadata: meta };
  const regarding = { apiVersion: "v1", kind: "ConfigMap", namespace: NS, name: "x" };
  switch (`${info.group}/${info.resource}`) {
    case "/namespaces":
    case "/configmaps":
    case "/serviceaccounts":
    case "/nodes":
      return base;
    case "/pods":
      // Bound to a node that does not exist: no container is ever started for it.
      return {
        ...base,
        spec: { nodeName: "bad-input-nowhere", containers: [{ name: "c", image: "busybox" }] },
      };
    case "/services":
      return { ...base, spec: { ports: [{ port: 80 }] } };
    case "/endpoints":
      return { ...base, subsets: [] };
    case "/secrets":
      return { ...base, data: { a: "Yg==" } };
    case "/events":
      return { ...base, involvedObject: regarding, reason: "R", message: "m", type: "Normal" };
    case "discovery.k8s.io/endpointslices":
      return { ...base, addressType: "IPv4", endpoints: [] };
    case "coordination.k8s.io/leases":
      return { ...base, spec: { holderIdentity: "h" } };
    case "events.k8s.io/events":
      return {
        ...base,
        eventTime: "2026-01-01T00:00:00.000000Z",
        reportingController: "bad-input/test",
        reportingInstance: "i",
        action: "Act",
        reason: "R",
        type: "Normal",
        regarding,
      };
    case "rbac.authorization.k8s.io/clusterroles":
    case "rbac.authorization.k8s.io/roles":
      return { ...base, rules: [] };
    case "rbac.authorization.k8s.io/clusterrolebindings":
    case "rbac.authorization.k8s.io/rolebindings":
      return {
        ...base,
        roleRef: {
          apiGroup: "rbac.authorization.k8s.io",
          kind: info.resource === "rolebindings" ? "Role" : "ClusterRole",
          name: NAME,
        },
        subjects: [],
      };
    default:
      throw new Error(`no fixture for ${info.group}/${info.resource}: add one`);
  }
}

function collectionPath(info: ResourceInfo): string {
  const root = info.group === "" ? "/api/v1" : `/apis/${info.group}/${info.version}`;
  return info.namespaced ? `${root}/namespaces/${NS}/${info.resource}` : `${root}/${info.resource}`;
}

/** A bad body and the status it must get (a number) or any 4xx (undefined). */
interface BadBody {
  what: string;
  body: string | Buffer;
  contentType: string;
  want?: number;
}

/** Wraps `inner` (JSON text) so that the object nests `depth` arrays deep. */
function deep(depth: number): string {
  return `{"metadata":{"labels":${"[".repeat(depth)}${"]".repeat(depth)}}}`;
}

function badBodies(info: ResourceInfo, name: string): BadBody[] {
  const typed = (extra: Record<string, unknown>): string =>
    JSON.stringify({ apiVersion: apiVersionOf(info), kind: info.kind, ...extra });
  const json = "application/json";
  const utf8 = Buffer.concat([
    Buffer.from(`{"metadata":{"name":"${name}","labels":{"${MARKER}":"`),
    Buffer.from([0xff, 0xfe, 0xc3]),
    Buffer.from(`"}}}`),
  ]);
  const huge = typed({
    metadata: { name, labels: { [MARKER]: "huge" }, annotations: { a: "x".repeat(LIMIT_BYTES) } },
  });
  return [
    {
      what: "malformed JSON",
      body: `{"metadata": {"name": "${name}"`,
      contentType: json,
      want: 400,
    },
    { what: "JSON garbage", body: "}{not json", contentType: json, want: 400 },
    {
      what: "malformed YAML",
      body: `metadata:\n  name: [${name}\n  labels: {${MARKER}: x\n`,
      contentType: "application/yaml",
      want: 400,
    },
    { what: "over 3 MiB", body: huge, contentType: json, want: 413 },
    { what: "deep nesting", body: deep(10_000), contentType: json, want: 400 },
    { what: "deep nesting (YAML)", body: deep(10_000), contentType: "application/yaml", want: 400 },
    { what: "invalid UTF-8", body: utf8, contentType: json, want: 400 },
    { what: "array body", body: "[]", contentType: json },
    { what: "string body", body: '"pod"', contentType: json },
    { what: "number body", body: "42", contentType: json },
    { what: "null body", body: "null", contentType: json },
    { what: "numeric name", body: typed({ metadata: { name: 7 } }), contentType: json },
    { what: "metadata is a string", body: typed({ metadata: "x" }), contentType: json },
    {
      what: "labels is a list",
      body: typed({ metadata: { name, labels: [MARKER] } }),
      contentType: json,
    },
    {
      what: "label value is a number",
      body: typed({ metadata: { name, labels: { [MARKER]: 5 } } }),
      contentType: json,
    },
    {
      what: "kind is a number",
      body: JSON.stringify({ apiVersion: apiVersionOf(info), kind: 5, metadata: { name } }),
      contentType: json,
    },
  ];
}

function badPatches(name: string): BadBody[] {
  const merge = "application/merge-patch+json";
  const jsonPatch = "application/json-patch+json";
  const smp = "application/strategic-merge-patch+json";
  const apply = "application/apply-patch+yaml";
  const out: BadBody[] = [];
  for (const ct of [merge, jsonPatch, smp, apply]) {
    out.push(
      { what: `${ct}: malformed`, body: `{"metadata": {"labels": `, contentType: ct, want: 400 },
      {
        what: `${ct}: over 3 MiB`,
        body: JSON.stringify({ metadata: { annotations: { a: "x".repeat(LIMIT_BYTES) } } }),
        contentType: ct,
        want: 413,
      },
      { what: `${ct}: deep nesting`, body: deep(10_000), contentType: ct, want: 400 },
      {
        what: `${ct}: invalid UTF-8`,
        body: Buffer.concat([
          Buffer.from(`{"metadata":{"labels":{"${MARKER}":"`),
          Buffer.from([0xc3, 0x28, 0xff]),
          Buffer.from(`"}}}`),
        ]),
        contentType: ct,
        want: 400,
      },
    );
  }
  const wrongObject = [
    { metadata: { labels: MARKER } },
    { metadata: { name: 5, labels: { [MARKER]: "x" } } },
    { metadata: { labels: { [MARKER]: 5 } } },
    { metadata: { labels: [MARKER] } },
  ];
  for (const body of wrongObject) {
    const text = JSON.stringify(body);
    out.push({ what: `merge: wrong type ${text}`, body: text, contentType: merge });
    out.push({ what: `strategic: wrong type ${text}`, body: text, contentType: smp });
  }
  out.push(
    { what: "merge: array", body: "[1]", contentType: merge },
    { what: "json-patch: not a list", body: `{"op":"add"}`, contentType: jsonPatch },
    {
      what: "json-patch: unknown op",
      body: `[{"op":"frob","path":"/metadata/labels/${MARKER}","value":"x"}]`,
      contentType: jsonPatch,
    },
    {
      what: "json-patch: wrong value type",
      body: `[{"op":"add","path":"/metadata/labels","value":{"${MARKER}":5}}]`,
      contentType: jsonPatch,
    },
    {
      what: "json-patch: path is a number",
      body: `[{"op":"add","path":7,"value":"x"}]`,
      contentType: jsonPatch,
    },
    {
      what: "apply: malformed YAML",
      body: `metadata:\n  name: [${name}\n  labels: {${MARKER}: x\n`,
      contentType: apply,
    },
    {
      what: "apply: wrong types",
      body: `{"metadata":{"name":"${name}","labels":{"${MARKER}":5}}}`,
      contentType: apply,
    },
  );
  return out;
}

/** One bad request and its answer, as the driver reports it. */
interface Outcome {
  endpoint: string;
  what: string;
  want: number | undefined;
  status: number;
  body: string;
}

/** Driver report: answers, list counts before and after, fixtures after. */
interface Report {
  outcomes: Outcome[];
  countsBefore: Record<string, number>;
  countsAfter: Record<string, number>;
  fixturesBefore: Record<string, { resourceVersion: string; labels: Record<string, string> }>;
  fixturesAfter: Record<string, { resourceVersion: string; labels: Record<string, string> }>;
  readyz: number;
  createAfter: number;
  fixtureErrors: string[];
}

async function drive(kubeconfig: string): Promise<void> {
  const conn = connect(kubeconfig, 4);
  const must = async (
    method: string,
    path: string,
    body: unknown,
    want: number[],
  ): Promise<Reply> => {
    const r = await call(conn, method, path, body === undefined ? undefined : JSON.stringify(body));
    if (!want.includes(r.status)) throw new Error(`${method} ${path}: ${r.status} ${r.body}`);
    return r;
  };
  // Step 1: the namespace first, then one valid object of every other stored resource
  // (reviews such as SelfSubjectAccessReview are create-only and store nothing).
  const nsInfo = RESOURCES.find((r) => r.resource === "namespaces")!;
  const fixtureErrors: string[] = [];
  await must("POST", collectionPath(nsInfo), fixture(nsInfo), [201]);
  for (const info of RESOURCES) {
    if (info === nsInfo || !info.verbs.includes("get")) continue;
    const r = await call(conn, "POST", collectionPath(info), JSON.stringify(fixture(info)));
    if (r.status !== 201) fixtureErrors.push(`${collectionPath(info)}: ${r.status} ${r.body}`);
  }
  // A valid object that could not be created is reported, and its resource left out.
  const stored = RESOURCES.filter(
    (r) =>
      r.verbs.includes("get") && !fixtureErrors.some((e) => e.startsWith(`${collectionPath(r)}:`)),
  );
  const objectPath = (info: ResourceInfo): string =>
    info === nsInfo ? `${collectionPath(info)}/${NS}` : `${collectionPath(info)}/${nameOf(info)}`;
  const snapshot = async (): Promise<{
    counts: Record<string, number>;
    fixtures: Record<string, { resourceVersion: string; labels: Record<string, string> }>;
  }> => {
    const counts: Record<string, number> = {};
    const fixtures: Record<string, { resourceVersion: string; labels: Record<string, string> }> =
      {};
    for (const info of stored) {
      const key = `${info.group}/${info.resource}`;
      const list = await must("GET", collectionPath(info), undefined, [200]);
      counts[key] = (JSON.parse(list.body) as { items: unknown[] }).items.length;
      const got = await must("GET", objectPath(info), undefined, [200]);
      const meta = (
        JSON.parse(got.body) as {
          metadata: { resourceVersion: string; labels?: Record<string, string> };
        }
      ).metadata;
      fixtures[key] = { resourceVersion: meta.resourceVersion, labels: meta.labels ?? {} };
    }
    return { counts, fixtures };
  };
  const before = await snapshot();

  // Step 2: every bad body at every create, update and patch endpoint.
  const outcomes: Outcome[] = [];
  const send = async (
    endpoint: string,
    method: string,
    path: string,
    bad: BadBody,
  ): Promise<void> => {
    const r = await call(conn, method, path, bad.body, bad.contentType);
    outcomes.push({ endpoint, what: bad.what, want: bad.want, status: r.status, body: r.body });
  };
  for (const info of RESOURCES) {
    if (info.verbs.includes("get") && !stored.includes(info)) continue;
    const name = nameOf(info);
    const coll = collectionPath(info);
    const obj = objectPath(info);
    if (info.verbs.includes("create")) {
      for (const bad of badBodies(info, `${name}-new`)) {
        await send(`POST ${coll}`, "POST", coll, bad);
      }
    }
    if (!info.verbs.includes("update")) continue;
    const targets = [obj, ...(info.subresources.includes("status") ? [`${obj}/status`] : [])];
    for (const target of targets) {
      for (const bad of badBodies(info, name)) await send(`PUT ${target}`, "PUT", target, bad);
      for (const bad of badPatches(name)) {
        await send(`PATCH ${target}`, "PATCH", `${target}?fieldManager=bad-input`, bad);
      }
    }
  }

  // Step 3: the server still serves, and nothing partial was stored.
  const readyz = await call(conn, "GET", "/readyz");
  const after = await snapshot();
  const cm = RESOURCES.find((r) => r.resource === "configmaps")!;
  const created = await call(
    conn,
    "POST",
    collectionPath(cm),
    JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "still-serving" } }),
  );
  conn.agent.destroy();
  const report: Report = {
    outcomes,
    countsBefore: before.counts,
    countsAfter: after.counts,
    fixturesBefore: before.fixtures,
    fixturesAfter: after.fixtures,
    readyz: readyz.status,
    createAfter: created.status,
    fixtureErrors,
  };
  process.stdout.write(JSON.stringify(report) + "\n");
}

const [mode = "", kubeconfigArg = ""] = process.argv.slice(2);
if (mode === "driver") {
  await drive(kubeconfigArg);
} else {
  describe("bad input at every endpoint", () => {
    let c: Cluster;
    let report: Report;
    before(async () => {
      c = await startCluster({ preloadImages: false });
      const r = await c.inNetns(
        process.execPath,
        ["--import", "tsx", import.meta.filename, "driver", c.kubeconfig],
        { timeoutMs: 150_000 },
      );
      assert.equal(r.code, 0, r.stderr);
      report = JSON.parse(r.stdout) as Report;
    });
    after(async () => {
      await c.stop();
    });

    test("a valid object of every stored resource can be created", () => {
      assert.deepEqual(report.fixtureErrors, []);
    });

    test("every bad create, update and patch is a 4xx Status with the right code", () => {
      const wrong: string[] = [];
      for (const o of report.outcomes) {
        let status: { kind?: string; apiVersion?: string; status?: string; code?: number } = {};
        try {
          status = JSON.parse(o.body) as typeof status;
        } catch {
          // Not JSON: reported below as a missing Status.
        }
        const isStatus =
          status.kind === "Status" &&
          status.apiVersion === "v1" &&
          status.status === "Failure" &&
          status.code === o.status;
        const codeOk =
          o.want === undefined ? o.status >= 400 && o.status < 500 : o.status === o.want;
        if (!isStatus || !codeOk) {
          wrong.push(`${o.endpoint} [${o.what}]: ${o.status} ${o.body.slice(0, 200)}`);
        }
      }
      assert.ok(report.outcomes.length > RESOURCES.length * 50);
      assert.deepEqual(wrong, []);
    });

    test("nothing partial is stored: list counts, fixtures and labels unchanged", () => {
      assert.deepEqual(report.countsAfter, report.countsBefore);
      for (const [key, was] of Object.entries(report.fixturesBefore)) {
        const now = report.fixturesAfter[key]!;
        assert.equal(now.labels[MARKER], undefined, key);
        assert.deepEqual(now.labels, was.labels, key);
        // A node's status moves on its own (heartbeats); every other fixture stays as written.
        if (key !== "/nodes") assert.equal(now.resourceVersion, was.resourceVersion, key);
      }
    });

    test("the server keeps serving", async () => {
      assert.equal(report.readyz, 200);
      assert.equal(report.createAfter, 201);
      assert.match(
        await c.k(["get", "configmap", "still-serving", "-n", NS, "-o", "name"]),
        /still-serving/,
      );
    });
  });
}
