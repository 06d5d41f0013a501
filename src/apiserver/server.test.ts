import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type {
  ApiRequest,
  ApiResponse,
  KubeList,
  KubeObject,
  Pod,
  Service,
  Status,
  WatchEvent,
} from "../api/index.js";
import { MemoryStore } from "../storage/index.js";
import { FakeClock, nullLogger } from "../util/index.js";
import { ApiServer } from "./server.js";
import type { ApiServerOptions, NodeConnector } from "./types.js";

const NS = "/api/v1/namespaces/default";

async function setup(extra: Partial<ApiServerOptions> = {}) {
  const store = new MemoryStore();
  const clock = new FakeClock(Date.UTC(2025, 0, 1));
  const server = new ApiServer({ store, clock, logger: nullLogger, ...extra });
  await server.bootstrap();
  const call = (
    method: ApiRequest["method"],
    path: string,
    body?: unknown,
    more: Partial<ApiRequest> = {},
  ): Promise<ApiResponse> =>
    server.handle({ method, path, ...(body === undefined ? {} : { body }), ...more });
  return { store, clock, server, call };
}

function pod(name: string, labels: Record<string, string> = {}, nodeName?: string): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, labels },
    spec: {
      containers: [{ name: "c1", image: "busybox" }],
      ...(nodeName === undefined ? {} : { nodeName }),
    },
  };
}

/** The response body viewed as `T` (tests know what each endpoint returns). */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- a typed view, by design
function obj<T = KubeObject>(r: ApiResponse): T {
  const body: unknown = r.body;
  return body as T;
}

function status(r: ApiResponse): Status {
  return r.body as Status;
}

async function text(stream: AsyncIterable<Uint8Array> | undefined): Promise<string> {
  assert.ok(stream);
  let s = "";
  for await (const c of stream) s += new TextDecoder().decode(c);
  return s;
}

async function takeEvents(it: AsyncIterator<WatchEvent>, n: number): Promise<WatchEvent[]> {
  const out: WatchEvent[] = [];
  while (out.length < n) {
    const r = await it.next();
    if (r.done === true) break;
    out.push(r.value);
  }
  return out;
}

describe("ApiServer non-resource endpoints", () => {
  test("KA-VER-1 /version reports v1.33.0 with string major/minor", async () => {
    const { call } = await setup();
    const r = await call("GET", "/version");
    assert.equal(r.status, 200);
    assert.deepEqual(
      [obj<{ major: string }>(r).major, obj<{ minor: string }>(r).minor],
      ["1", "33"],
    );
    assert.equal(obj<{ gitVersion: string }>(r).gitVersion, "v1.33.0");
  });

  test("KA-RAW-2 /healthz, /livez, /readyz answer ok as text/plain", async () => {
    const { call } = await setup();
    for (const p of ["/healthz", "/livez", "/readyz"]) {
      const r = await call("GET", p);
      assert.equal(r.status, 200);
      assert.equal(r.contentType, "text/plain");
      assert.equal(await text(r.stream), "ok");
    }
  });

  test("unknown paths answer 404 with the upstream message", async () => {
    const { call } = await setup();
    for (const p of ["/nope", "/api/v2", "/apis/nope.io/v1", "/api/v1/pods/x", "/api/v1/foos"]) {
      const r = await call("GET", p);
      assert.equal(r.status, 404, p);
      assert.equal(status(r).message, "the server could not find the requested resource");
    }
  });
});

describe("ApiServer discovery", () => {
  const agg =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

  test("KA-DISC-1/2/3 aggregated v2 for /api repeats the media type and lists pods", async () => {
    const { call } = await setup();
    const r = await call("GET", "/api", undefined, { headers: { accept: agg } });
    assert.equal(
      r.contentType,
      "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
    );
    const body = obj<{
      apiVersion: string;
      items: { metadata: { name: string }; versions: { resources: Record<string, unknown>[] }[] }[];
    }>(r);
    assert.equal(body.apiVersion, "apidiscovery.k8s.io/v2");
    assert.equal(body.items.length, 1);
    const core = body.items[0]!;
    assert.equal(core.metadata.name, "");
    const pods = core.versions[0]!.resources.find((x) => x["resource"] === "pods")!;
    assert.deepEqual(pods["responseKind"], { group: "", version: "v1", kind: "Pod" });
    assert.equal(pods["scope"], "Namespaced");
    assert.deepEqual(pods["shortNames"], ["po"]);
    assert.deepEqual(pods["categories"], ["all"]);
    const subs = pods["subresources"] as { subresource: string; verbs: string[] }[];
    assert.deepEqual(subs.find((s) => s.subresource === "log")?.verbs, ["get"]);
  });

  test("KA-DISC-2 a v2beta1-only client gets v2beta1; plain JSON gets legacy lists", async () => {
    const { call } = await setup();
    const beta =
      "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
    const r = await call("GET", "/apis", undefined, { headers: { accept: beta } });
    assert.equal(
      r.contentType,
      "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList",
    );
    const names = obj<{ items: { metadata: { name: string } }[] }>(r).items.map(
      (i) => i.metadata.name,
    );
    assert.ok(names.includes("coordination.k8s.io"));
    assert.ok(!names.includes(""));
    const legacy = await call("GET", "/api", undefined, {
      headers: { accept: "application/json, */*" },
    });
    assert.deepEqual(obj<{ kind: string; versions: string[] }>(legacy).versions, ["v1"]);
    const groups = await call("GET", "/apis");
    assert.equal(obj<{ kind: string }>(groups).kind, "APIGroupList");
  });

  test("KA-DISC-8 legacy /api/v1 lists subresources as resource/sub and /apis/<g> is an APIGroup", async () => {
    const { call } = await setup();
    const r = await call("GET", "/api/v1");
    const res = obj<{ resources: { name: string; kind: string; namespaced: boolean }[] }>(
      r,
    ).resources;
    assert.ok(res.some((x) => x.name === "pods" && x.kind === "Pod" && x.namespaced));
    assert.ok(res.some((x) => x.name === "pods/log"));
    const g = await call("GET", "/apis/coordination.k8s.io");
    assert.equal(obj<{ kind: string }>(g).kind, "APIGroup");
    const gv = await call("GET", "/apis/coordination.k8s.io/v1");
    assert.equal(obj<{ groupVersion: string }>(gv).groupVersion, "coordination.k8s.io/v1");
  });
});

describe("ApiServer bootstrap", () => {
  test("system namespaces, default ServiceAccounts and the kubernetes Service exist", async () => {
    const { call, server } = await setup();
    await server.bootstrap(); // idempotent
    const nss = obj<KubeList>(await call("GET", "/api/v1/namespaces"));
    assert.deepEqual(
      nss.items.map((n) => n.metadata.name),
      ["default", "kube-node-lease", "kube-public", "kube-system"],
    );
    for (const n of nss.items) {
      assert.equal((n as { status?: { phase?: string } }).status?.phase, "Active");
      const sa = await call(
        "GET",
        `/api/v1/namespaces/${n.metadata.name ?? ""}/serviceaccounts/default`,
      );
      assert.equal(sa.status, 200);
    }
    const svc = obj<Service>(await call("GET", `${NS}/services/kubernetes`));
    assert.equal(svc.spec?.clusterIP, "10.96.0.1");
    assert.deepEqual(svc.spec.ports?.[0], {
      name: "https",
      port: 443,
      protocol: "TCP",
      targetPort: 6443,
    });
  });

  test("a new namespace gets its default ServiceAccount; services get a ClusterIP", async () => {
    const { call } = await setup();
    assert.equal(
      (await call("POST", "/api/v1/namespaces", { metadata: { name: "team" } })).status,
      201,
    );
    assert.equal(
      (await call("GET", "/api/v1/namespaces/team/serviceaccounts/default")).status,
      200,
    );
    const r = await call("POST", "/api/v1/namespaces/team/services", {
      metadata: { name: "web" },
      spec: { ports: [{ port: 80 }], selector: { app: "web" } },
    });
    assert.equal(r.status, 201);
    assert.equal(obj<Service>(r).spec?.clusterIP, "10.96.0.11");
  });
});

describe("ApiServer CRUD", () => {
  test("KA-CREATE-1 create fills uid, rv, creationTimestamp, generation, namespace; 201", async () => {
    const { call } = await setup();
    const r = await call("POST", `${NS}/pods`, pod("web"));
    assert.equal(r.status, 201);
    const p = obj<Pod>(r);
    assert.match(p.metadata.uid ?? "", /^[0-9a-f-]{36}$/);
    assert.match(p.metadata.resourceVersion ?? "", /^\d+$/);
    assert.equal(p.metadata.creationTimestamp, "2025-01-01T00:00:00Z");
    assert.equal(p.metadata.generation, 1);
    assert.equal(p.metadata.namespace, "default");
    assert.equal(p.status?.phase, "Pending");
    const got = obj<Pod>(await call("GET", `${NS}/pods/web`));
    assert.deepEqual(got, p);
  });

  test("generateName appends 5 characters of the upstream alphabet", async () => {
    const { call } = await setup();
    const r = await call("POST", `${NS}/pods`, { ...pod(""), metadata: { generateName: "web-" } });
    assert.match(obj<Pod>(r).metadata.name ?? "", /^web-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  });

  test("create errors: AlreadyExists, missing namespace, namespace mismatch, no name", async () => {
    const { call } = await setup();
    await call("POST", `${NS}/pods`, pod("web"));
    const dup = await call("POST", `${NS}/pods`, pod("web"));
    assert.equal(dup.status, 409);
    assert.equal(status(dup).reason, "AlreadyExists");
    assert.equal(status(dup).message, 'pods "web" already exists');
    const noNs = await call("POST", "/api/v1/namespaces/nope/pods", pod("a"));
    assert.equal(noNs.status, 404);
    assert.equal(status(noNs).message, 'namespaces "nope" not found');
    const mismatch = await call("POST", `${NS}/pods`, {
      ...pod("b"),
      metadata: { name: "b", namespace: "other" },
    });
    assert.equal(mismatch.status, 400);
    assert.equal(
      status(mismatch).message,
      "the namespace of the provided object does not match the namespace sent on the request",
    );
    const noName = await call("POST", `${NS}/configmaps`, { metadata: {} });
    assert.equal(noName.status, 422);
  });

  test("names that cannot be path segments are Invalid; POST needs a namespace in the path", async () => {
    const { call } = await setup();
    const slash = await call("POST", `${NS}/configmaps`, { metadata: { name: "a/b" } });
    assert.equal(slash.status, 422);
    assert.equal(
      status(slash).message,
      `ConfigMap "a/b" is invalid: metadata.name: Invalid value: "a/b": may not contain '/'`,
    );
    assert.equal((await call("POST", "/api/v1/pods", pod("x"))).status, 405);
  });

  test("PUT creates a missing lease (create on update) but not a missing pod", async () => {
    const { call } = await setup();
    const lease = {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: "node1" },
      spec: { holderIdentity: "node1" },
    };
    const r = await call(
      "PUT",
      "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node1",
      lease,
    );
    assert.equal(r.status, 201);
    const again = await call(
      "PUT",
      "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node1",
      lease,
    );
    assert.equal(again.status, 200);
    assert.equal((await call("PUT", `${NS}/pods/nope`, pod("nope"))).status, 404);
  });

  test("KA-GET-2 a missing object is 404 with the upstream message", async () => {
    const { call } = await setup();
    const r = await call("GET", `${NS}/pods/nope`);
    assert.equal(r.status, 404);
    assert.equal(status(r).message, 'pods "nope" not found');
    const lease = await call("GET", "/apis/coordination.k8s.io/v1/namespaces/default/leases/x");
    assert.equal(status(lease).message, 'leases.coordination.k8s.io "x" not found');
  });

  test("KA-CREATE-4 dryRun=All validates and returns the object without storing it", async () => {
    const { call } = await setup();
    const r = await call("POST", `${NS}/pods`, pod("dry"), { query: { dryRun: "All" } });
    assert.equal(r.status, 201);
    assert.equal((await call("GET", `${NS}/pods/dry`)).status, 404);
  });

  test("admission defaults and validation errors become 422 Invalid", async () => {
    const { call } = await setup({
      admission: {
        default: (_k, _g, o) => {
          o.metadata.labels = { ...o.metadata.labels, defaulted: "yes" };
        },
        validate: (kind, _g, o) =>
          kind === "ConfigMap" && o.metadata.name === "bad"
            ? [{ type: "Required", field: "data" }]
            : [],
      },
    });
    const ok = await call("POST", `${NS}/configmaps`, { metadata: { name: "good" } });
    assert.equal(obj(ok).metadata.labels?.["defaulted"], "yes");
    const bad = await call("POST", `${NS}/configmaps`, { metadata: { name: "bad" } });
    assert.equal(bad.status, 422);
    assert.equal(status(bad).message, 'ConfigMap "bad" is invalid: data: Required value');
  });

  test("unexpected errors become 500 InternalError without crashing", async () => {
    const { call } = await setup({
      admission: {
        default: () => undefined,
        validate: (kind) => {
          if (kind === "ConfigMap") throw new Error("boom");
          return [];
        },
      },
    });
    const r = await call("POST", `${NS}/configmaps`, { metadata: { name: "x" } });
    assert.equal(r.status, 500);
    assert.equal(status(r).reason, "InternalError");
  });

  test("update: stale resourceVersion is a 409 Conflict with the upstream message", async () => {
    const { call } = await setup();
    const created = obj(
      await call("POST", `${NS}/configmaps`, { metadata: { name: "cm" }, data: { a: "1" } }),
    );
    const u1 = await call("PUT", `${NS}/configmaps/cm`, { ...created, data: { a: "2" } });
    assert.equal(u1.status, 200);
    assert.notEqual(obj(u1).metadata.resourceVersion, created.metadata.resourceVersion);
    const stale = await call("PUT", `${NS}/configmaps/cm`, { ...created, data: { a: "3" } });
    assert.equal(stale.status, 409);
    assert.equal(
      status(stale).message,
      'Operation cannot be fulfilled on configmaps "cm": the object has been modified; please apply your changes to the latest version and try again',
    );
    const meta = { ...created.metadata };
    delete meta.resourceVersion;
    const unconditional = await call("PUT", `${NS}/configmaps/cm`, {
      ...created,
      metadata: meta,
      data: { a: "4" },
    });
    assert.equal(unconditional.status, 200);
  });

  test("update ignores status on the main resource and spec on status; generation follows spec", async () => {
    const { call } = await setup();
    const p = obj<Pod>(await call("POST", `${NS}/pods`, pod("web")));
    const u = obj<Pod>(
      await call("PUT", `${NS}/pods/web`, {
        ...p,
        spec: { ...p.spec, containers: [{ name: "c1", image: "nginx" }] },
        status: { phase: "Running" },
      }),
    );
    assert.equal(u.status?.phase, "Pending");
    assert.equal(u.spec.containers[0]?.image, "nginx");
    assert.equal(u.metadata.generation, 2);
    const s = obj<Pod>(
      await call("PUT", `${NS}/pods/web/status`, {
        ...u,
        spec: { ...u.spec, containers: [{ name: "c1", image: "evil" }] },
        status: { phase: "Running" },
      }),
    );
    assert.equal(s.status?.phase, "Running");
    assert.equal(s.spec.containers[0]?.image, "nginx");
    assert.equal(s.metadata.generation, 2);
    const noop = obj<Pod>(await call("PUT", `${NS}/pods/web/status`, s));
    assert.equal(noop.metadata.resourceVersion, s.metadata.resourceVersion);
  });

  test("patch: merge patch updates, unknown type is 415, apply creates (201) and needs fieldManager", async () => {
    const { call } = await setup();
    await call("POST", `${NS}/configmaps`, { metadata: { name: "cm" }, data: { a: "1" } });
    const merged = await call(
      "PATCH",
      `${NS}/configmaps/cm`,
      { data: { b: "2" } },
      { contentType: "application/merge-patch+json" },
    );
    assert.equal(merged.status, 200);
    assert.deepEqual(obj<{ data: unknown }>(merged).data, { a: "1", b: "2" });
    const bad = await call("PATCH", `${NS}/configmaps/cm`, {}, { contentType: "text/plain" });
    assert.equal(bad.status, 415);
    const cm = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "applied" },
      data: { x: "1" },
    };
    const noMgr = await call("PATCH", `${NS}/configmaps/applied`, cm, {
      contentType: "application/apply-patch+yaml",
    });
    assert.equal(noMgr.status, 422);
    const created = await call("PATCH", `${NS}/configmaps/applied`, cm, {
      contentType: "application/apply-patch+yaml",
      query: { fieldManager: "kubectl" },
    });
    assert.equal(created.status, 201);
    assert.equal(obj(created).metadata.managedFields?.[0]?.manager, "kubectl");
    const missing = await call(
      "PATCH",
      `${NS}/configmaps/none`,
      { data: {} },
      { contentType: "application/merge-patch+json" },
    );
    assert.equal(missing.status, 404);
  });

  test("pods/binding sets spec.nodeName once; a second binding is 409", async () => {
    const { call } = await setup();
    await call("POST", `${NS}/pods`, pod("web"));
    const binding = {
      apiVersion: "v1",
      kind: "Binding",
      metadata: { name: "web" },
      target: { kind: "Node", name: "node1" },
    };
    const r = await call("POST", `${NS}/pods/web/binding`, binding);
    assert.equal(r.status, 201);
    const p = obj<Pod>(await call("GET", `${NS}/pods/web`));
    assert.equal(p.spec.nodeName, "node1");
    assert.equal(p.status?.conditions?.find((c) => c.type === "PodScheduled")?.status, "True");
    const again = await call("POST", `${NS}/pods/web/binding`, binding);
    assert.equal(again.status, 409);
  });

  test("KA-DEBUG-1 ephemeralcontainers only changes spec.ephemeralContainers", async () => {
    const { call } = await setup();
    await call("POST", `${NS}/pods`, pod("web"));
    const r = await call(
      "PATCH",
      `${NS}/pods/web/ephemeralcontainers`,
      {
        spec: {
          ephemeralContainers: [{ name: "debugger", image: "busybox" }],
          containers: [{ name: "c1", image: "x" }],
        },
      },
      { contentType: "application/strategic-merge-patch+json" },
    );
    assert.equal(r.status, 200);
    const p = obj<Pod>(r);
    assert.equal(p.spec.ephemeralContainers?.[0]?.name, "debugger");
    assert.equal(p.spec.containers[0]?.image, "busybox");
  });

  test("Table accept answers a meta.k8s.io/v1 Table for list and get", async () => {
    const { call } = await setup();
    await call("POST", `${NS}/pods`, pod("web"));
    const accept =
      "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
    const l = obj<{ kind: string; apiVersion: string; rows: { object: { kind: string } }[] }>(
      await call("GET", `${NS}/pods`, undefined, { headers: { accept }, query: { limit: "500" } }),
    );
    assert.equal(l.kind, "Table");
    assert.equal(l.apiVersion, "meta.k8s.io/v1");
    assert.equal(l.rows.length, 1);
    assert.equal(l.rows[0]?.object.kind, "PartialObjectMetadata");
    const g = obj<{ kind: string; rows: unknown[] }>(
      await call("GET", `${NS}/pods/web`, undefined, { headers: { accept } }),
    );
    assert.equal(g.rows.length, 1);
  });
});

describe("ApiServer list", () => {
  async function seeded() {
    const s = await setup();
    await s.call("POST", "/api/v1/namespaces", { metadata: { name: "other" } });
    await s.call("POST", `${NS}/pods`, pod("a", { app: "web", tier: "fe" }, "node1"));
    await s.call("POST", `${NS}/pods`, pod("b", { app: "web", tier: "be" }));
    await s.call("POST", `${NS}/pods`, pod("c", { app: "db" }));
    await s.call("POST", "/api/v1/namespaces/other/pods", pod("d", { app: "web" }));
    return s;
  }
  const names = (r: ApiResponse): string[] =>
    obj<KubeList>(r).items.map((i) => i.metadata.name ?? "");

  test("KA-LIST-1 list kind, resourceVersion, and cross-namespace list", async () => {
    const { call } = await seeded();
    const r = await call("GET", `${NS}/pods`);
    const l = obj<KubeList>(r);
    assert.equal(l.kind, "PodList");
    assert.equal(l.apiVersion, "v1");
    assert.match(l.metadata.resourceVersion ?? "", /^\d+$/);
    assert.deepEqual(names(r), ["a", "b", "c"]);
    assert.deepEqual(names(await call("GET", "/api/v1/pods")), ["a", "b", "c", "d"]);
  });

  test("KA-LIST-3 label selectors including set-based forms", async () => {
    const { call } = await seeded();
    const sel = async (s: string) =>
      names(await call("GET", `${NS}/pods`, undefined, { query: { labelSelector: s } }));
    assert.deepEqual(await sel("app=web"), ["a", "b"]);
    assert.deepEqual(await sel("app==web,tier!=fe"), ["b"]);
    assert.deepEqual(await sel("tier in (fe,be)"), ["a", "b"]);
    assert.deepEqual(await sel("app notin (web)"), ["c"]);
    assert.deepEqual(await sel("tier"), ["a", "b"]);
    assert.deepEqual(await sel("!tier"), ["c"]);
    const bad = await call("GET", `${NS}/pods`, undefined, { query: { labelSelector: "a b c" } });
    assert.equal(bad.status, 400);
  });

  test("KA-LIST-4 field selectors for pods; unknown field labels are 400", async () => {
    const { call } = await seeded();
    const sel = async (s: string) =>
      names(await call("GET", "/api/v1/pods", undefined, { query: { fieldSelector: s } }));
    assert.deepEqual(await sel("metadata.name=a"), ["a"]);
    assert.deepEqual(await sel("metadata.namespace=other"), ["d"]);
    assert.deepEqual(
      await sel("spec.nodeName=node1,status.phase!=Succeeded,status.phase!=Failed"),
      ["a"],
    );
    assert.deepEqual(await sel("status.phase=Pending,spec.nodeName="), ["b", "c", "d"]);
    const bad = await call("GET", "/api/v1/pods", undefined, {
      query: { fieldSelector: "spec.bogus=1" },
    });
    assert.equal(bad.status, 400);
    assert.equal(status(bad).message, "field label not supported: spec.bogus");
  });

  test("KA-LIST-2 limit and continue page through every item exactly once", async () => {
    const { call } = await seeded();
    const seen: string[] = [];
    let cont: string | undefined;
    let pages = 0;
    do {
      const r = obj<KubeList>(
        await call("GET", "/api/v1/pods", undefined, {
          query: { limit: "1", ...(cont === undefined ? {} : { continue: cont }) },
        }),
      );
      seen.push(...r.items.map((i) => i.metadata.name ?? ""));
      cont = r.metadata.continue;
      if (cont !== undefined) assert.equal(r.metadata.remainingItemCount, 3 - pages);
      pages++;
    } while (cont !== undefined && pages < 10);
    assert.deepEqual(seen, ["a", "b", "c", "d"]);
    assert.equal(pages, 4);
  });
});

describe("ApiServer watch", () => {
  test("KA-WATCH-3 resourceVersion=0 starts with ADDED for every match, then live events", async () => {
    const { call, server } = await setup();
    await call("POST", `${NS}/pods`, pod("a"));
    const ac = new AbortController();
    const it = server
      .watch(
        { method: "GET", path: `${NS}/pods`, query: { watch: "true", resourceVersion: "0" } },
        { signal: ac.signal },
      )
      [Symbol.asyncIterator]();
    const first = await takeEvents(it, 1);
    assert.deepEqual(
      first.map((e) => [e.type, e.object.metadata.name]),
      [["ADDED", "a"]],
    );
    const p = takeEvents(it, 3);
    await call("POST", `${NS}/pods`, pod("b"));
    await call("DELETE", `${NS}/pods/a`);
    const live = await p;
    // A zero-grace pod delete writes deletionTimestamp first (MODIFIED), then removes it.
    assert.deepEqual(
      live.map((e) => [e.type, e.object.metadata.name]),
      [
        ["ADDED", "b"],
        ["MODIFIED", "a"],
        ["DELETED", "a"],
      ],
    );
    assert.notEqual(live[2]?.object.metadata.deletionTimestamp, undefined);
    const delRv = Number(live[2]?.object.metadata.resourceVersion);
    assert.ok(delRv > Number(live[0]?.object.metadata.resourceVersion));
    ac.abort();
    assert.equal((await it.next()).done, true);
  });

  test("watch from a resourceVersion replays only later changes", async () => {
    const { call, server } = await setup();
    const a = obj<Pod>(await call("POST", `${NS}/pods`, pod("a")));
    await call("POST", `${NS}/pods`, pod("b"));
    const ac = new AbortController();
    const it = server
      .watch(
        {
          method: "GET",
          path: `${NS}/pods`,
          query: { watch: "1", resourceVersion: a.metadata.resourceVersion ?? "" },
        },
        { signal: ac.signal },
      )
      [Symbol.asyncIterator]();
    const evs = await takeEvents(it, 1);
    assert.deepEqual(
      evs.map((e) => [e.type, e.object.metadata.name]),
      [["ADDED", "b"]],
    );
    ac.abort();
  });

  test("KA-WATCH-7 a compacted resourceVersion yields one ERROR event with a 410 Expired Status", async () => {
    const { call, server, store } = await setup();
    for (const n of ["a", "b", "c"]) await call("POST", `${NS}/pods`, pod(n));
    const rev = await store.currentRevision();
    await store.compact(rev);
    const ac = new AbortController();
    const evs: WatchEvent[] = [];
    for await (const e of server.watch(
      { method: "GET", path: `${NS}/pods`, query: { watch: "true", resourceVersion: "2" } },
      { signal: ac.signal },
    )) {
      evs.push(e);
    }
    assert.equal(evs.length, 1);
    assert.equal(evs[0]!.type, "ERROR");
    const st = evs[0]!.object as unknown as Status;
    assert.equal(st.code, 410);
    assert.equal(st.reason, "Expired");
    assert.equal(st.message, `too old resource version: 2 (${rev})`);
  });

  test("KA-WATCH-4 an object that stops matching the selector is sent as DELETED", async () => {
    const { call, server } = await setup();
    const p = obj<Pod>(await call("POST", `${NS}/pods`, pod("a", { app: "web" })));
    const ac = new AbortController();
    const it = server
      .watch(
        {
          method: "GET",
          path: `${NS}/pods`,
          query: {
            watch: "true",
            labelSelector: "app=web",
            resourceVersion: p.metadata.resourceVersion ?? "",
          },
        },
        { signal: ac.signal },
      )
      [Symbol.asyncIterator]();
    const next = takeEvents(it, 2);
    await call(
      "PATCH",
      `${NS}/pods/a`,
      { metadata: { labels: { app: "db" } } },
      { contentType: "application/merge-patch+json" },
    );
    await call(
      "PATCH",
      `${NS}/pods/a`,
      { metadata: { labels: { app: "web" } } },
      { contentType: "application/merge-patch+json" },
    );
    assert.deepEqual(
      (await next).map((e) => e.type),
      ["DELETED", "ADDED"],
    );
    ac.abort();
  });

  test("KA-WATCH-8 bookmarks carry only the resourceVersion; timeoutSeconds ends the watch", async () => {
    const { call, server, clock } = await setup({ bookmarkIntervalMs: 1000 });
    const p = obj<Pod>(await call("POST", `${NS}/pods`, pod("a")));
    const ac = new AbortController();
    const it = server
      .watch(
        {
          method: "GET",
          path: `${NS}/pods`,
          query: {
            watch: "true",
            allowWatchBookmarks: "true",
            timeoutSeconds: "5",
            resourceVersion: p.metadata.resourceVersion ?? "",
          },
        },
        { signal: ac.signal },
      )
      [Symbol.asyncIterator]();
    const first = it.next();
    while (clock.pendingSleepers < 2) await new Promise<void>((r) => setImmediate(r));
    await clock.advance(1000);
    const bm = await first;
    assert.equal(bm.done, false);
    assert.deepEqual(bm.value, {
      type: "BOOKMARK",
      object: {
        kind: "Pod",
        apiVersion: "v1",
        metadata: { resourceVersion: p.metadata.resourceVersion },
      },
    });
    const end = it.next();
    await clock.advance(5000);
    const rest: unknown[] = [];
    for (let r = await end; r.done !== true; r = await it.next()) rest.push(r.value);
    assert.ok(rest.every((e) => (e as WatchEvent).type === "BOOKMARK"));
  });

  test("a GET with watch=true through handle streams newline-delimited JSON", async () => {
    const { call } = await setup();
    await call("POST", `${NS}/pods`, pod("a"));
    const ac = new AbortController();
    const r = await call("GET", `${NS}/pods`, undefined, { query: { watch: "true" } });
    assert.equal(r.status, 200);
    assert.ok(r.stream);
    const it = r.stream[Symbol.asyncIterator]();
    const chunk = await it.next();
    const line = new TextDecoder().decode(chunk.value as Uint8Array);
    assert.ok(line.endsWith("\n"));
    assert.equal((JSON.parse(line) as WatchEvent).type, "ADDED");
    ac.abort();
    await it.return?.();
  });

  test("KA-WATCH-5 a Table watch sends one-row Tables; sendInitialEvents ends with a marked bookmark", async () => {
    const { call, server } = await setup();
    await call("POST", `${NS}/pods`, pod("a"));
    const ac = new AbortController();
    const it = server
      .watch(
        {
          method: "GET",
          path: `${NS}/pods`,
          query: {
            watch: "true",
            sendInitialEvents: "true",
            allowWatchBookmarks: "true",
            resourceVersionMatch: "NotOlderThan",
          },
          headers: { accept: "application/json;as=Table;v=v1;g=meta.k8s.io" },
        },
        { signal: ac.signal },
      )
      [Symbol.asyncIterator]();
    const [added, marker] = await takeEvents(it, 2);
    assert.equal(added!.type, "ADDED");
    const table = added!.object as unknown as { kind: string; rows: unknown[] };
    assert.equal(table.kind, "Table");
    assert.equal(table.rows.length, 1);
    assert.equal(marker!.type, "BOOKMARK");
    assert.deepEqual(marker!.object.metadata.annotations, { "k8s.io/initial-events-end": "true" });
    ac.abort();
  });

  test("watch request errors are thrown before any event", async () => {
    const { server } = await setup();
    const ac = new AbortController();
    const it = server
      .watch(
        { method: "GET", path: `${NS}/pods`, query: { fieldSelector: "bogus=1" } },
        { signal: ac.signal },
      )
      [Symbol.asyncIterator]();
    await assert.rejects(it.next(), (e: unknown) => (e as { code?: number }).code === 400);
  });
});

describe("ApiServer deletion", () => {
  test("PL-TERM-1 deleting a scheduled pod sets deletionTimestamp = now + grace and keeps it", async () => {
    const { call } = await setup();
    await call("POST", `${NS}/pods`, pod("web", {}, "node1"));
    const r = await call("DELETE", `${NS}/pods/web`, { propagationPolicy: "Background" });
    assert.equal(r.status, 200);
    const p = obj<Pod>(r);
    assert.equal(p.metadata.deletionTimestamp, "2025-01-01T00:00:30Z");
    assert.equal(p.metadata.deletionGracePeriodSeconds, 30);
    // A later delete may only shorten the grace period.
    const longer = obj<Pod>(await call("DELETE", `${NS}/pods/web`, { gracePeriodSeconds: 60 }));
    assert.equal(longer.metadata.deletionGracePeriodSeconds, 30);
    const shorter = obj<Pod>(await call("DELETE", `${NS}/pods/web`, { gracePeriodSeconds: 10 }));
    assert.equal(shorter.metadata.deletionGracePeriodSeconds, 10);
    assert.equal(shorter.metadata.deletionTimestamp, "2025-01-01T00:00:10Z");
    assert.equal((await call("GET", `${NS}/pods/web`)).status, 200);
  });

  test("PL-TERM-7 the kubelet's grace-0 delete with a uid precondition removes the pod", async () => {
    const { call } = await setup();
    const p = obj<Pod>(await call("POST", `${NS}/pods`, pod("web", {}, "node1")));
    await call("DELETE", `${NS}/pods/web`);
    const wrong = await call("DELETE", `${NS}/pods/web`, {
      gracePeriodSeconds: 0,
      preconditions: { uid: "other" },
    });
    assert.equal(wrong.status, 409);
    const r = await call("DELETE", `${NS}/pods/web`, {
      gracePeriodSeconds: 0,
      preconditions: { uid: p.metadata.uid },
    });
    assert.equal(r.status, 200);
    assert.equal((await call("GET", `${NS}/pods/web`)).status, 404);
  });

  test("PL-TERM-7 a grace-0 delete whose pod the node removes first still answers 200", async () => {
    const { store, call } = await setup();
    await call("POST", `${NS}/pods`, pod("raced", {}, "node1"));
    // The node sees the deletionTimestamp write and deletes the pod before the server does.
    const update = store.update.bind(store);
    store.update = async (key, value, ifRevision) => {
      const s = await update(key, value, ifRevision);
      if (key.endsWith("/raced")) await store.delete(key);
      return s;
    };
    const r = await call("DELETE", `${NS}/pods/raced`, { gracePeriodSeconds: 0 });
    assert.equal(r.status, 200);
    assert.equal(obj<Pod>(r).metadata.deletionGracePeriodSeconds, 0);
    assert.equal((await call("GET", `${NS}/pods/raced`)).status, 404);
  });

  test("PL-TERM-2/3 unscheduled pods and grace 0 are removed at once", async () => {
    const { call } = await setup();
    await call("POST", `${NS}/pods`, pod("pending"));
    const r = await call("DELETE", `${NS}/pods/pending`);
    assert.equal(r.status, 200);
    assert.equal(obj<Pod>(r).metadata.name, "pending");
    assert.equal((await call("GET", `${NS}/pods/pending`)).status, 404);
    await call("POST", `${NS}/pods`, pod("forced", {}, "node1"));
    await call("DELETE", `${NS}/pods/forced`, undefined, { query: { gracePeriodSeconds: "0" } });
    assert.equal((await call("GET", `${NS}/pods/forced`)).status, 404);
    assert.equal((await call("DELETE", `${NS}/pods/forced`)).status, 404);
  });

  test("KA-DEL-3 other kinds answer a Success Status naming the resource", async () => {
    const { call } = await setup();
    const cm = obj(await call("POST", `${NS}/configmaps`, { metadata: { name: "cm" } }));
    const r = await call("DELETE", `${NS}/configmaps/cm`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Success",
      details: { name: "cm", group: "", kind: "configmaps", uid: cm.metadata.uid },
    });
  });

  test("finalizers keep an object with deletionTimestamp until the last one is removed", async () => {
    const { call } = await setup();
    await call("POST", `${NS}/configmaps`, {
      metadata: { name: "cm", finalizers: ["example.com/hold"] },
    });
    const d = await call("DELETE", `${NS}/configmaps/cm`);
    assert.equal(d.status, 200);
    const held = obj(await call("GET", `${NS}/configmaps/cm`));
    assert.equal(held.metadata.deletionTimestamp, "2025-01-01T00:00:00Z");
    const r = await call(
      "PATCH",
      `${NS}/configmaps/cm`,
      { metadata: { finalizers: null } },
      { contentType: "application/merge-patch+json" },
    );
    assert.equal(r.status, 200);
    assert.equal((await call("GET", `${NS}/configmaps/cm`)).status, 404);
  });

  test("deletecollection deletes what the selector matches", async () => {
    const { call } = await setup();
    await call("POST", `${NS}/configmaps`, { metadata: { name: "a", labels: { x: "1" } } });
    await call("POST", `${NS}/configmaps`, { metadata: { name: "b" } });
    const r = await call("DELETE", `${NS}/configmaps`, undefined, {
      query: { labelSelector: "x=1" },
    });
    assert.equal(r.status, 200);
    assert.equal((await call("GET", `${NS}/configmaps/a`)).status, 404);
    assert.equal((await call("GET", `${NS}/configmaps/b`)).status, 200);
  });

  test("namespace deletion: Terminating, contents deleted, then the namespace is removed", async () => {
    const { call, server } = await setup();
    await call("POST", "/api/v1/namespaces", { metadata: { name: "team" } });
    await call("POST", "/api/v1/namespaces/team/configmaps", { metadata: { name: "cm" } });
    const ac = new AbortController();
    const running = server.run(ac.signal);
    const r = await call("DELETE", "/api/v1/namespaces/team");
    assert.equal(r.status, 200);
    assert.equal(obj<{ status: { phase: string } }>(r).status.phase, "Terminating");
    const blocked = await call("POST", "/api/v1/namespaces/team/configmaps", {
      metadata: { name: "new" },
    });
    assert.equal(blocked.status, 403);
    for (let i = 0; i < 100 && (await call("GET", "/api/v1/namespaces/team")).status === 200; i++) {
      await new Promise<void>((res) => setImmediate(res));
    }
    assert.equal((await call("GET", "/api/v1/namespaces/team")).status, 404);
    assert.equal((await call("GET", "/api/v1/namespaces/team/configmaps/cm")).status, 404);
    assert.equal((await call("DELETE", "/api/v1/namespaces/default")).status, 403);
    ac.abort();
    await running;
  });
});

describe("ApiServer pods/log", () => {
  test("without a NodeConnector logs answer 503", async () => {
    const { call } = await setup();
    await call("POST", `${NS}/pods`, pod("web"));
    assert.equal((await call("GET", `${NS}/pods/web/log`)).status, 503);
  });

  test("logs stream from the NodeConnector as text/plain; bad container names are 400", async () => {
    const calls: string[] = [];
    const connector: NodeConnector = {
      logs: (p, opts) => {
        calls.push(`${p.metadata.name ?? ""}/${opts.container}/${String(opts.tailLines)}`);
        return Promise.resolve(
          (async function* () {
            await Promise.resolve();
            yield new TextEncoder().encode("hello\n");
          })(),
        );
      },
    };
    const { call } = await setup({ nodeConnector: connector });
    await call("POST", `${NS}/pods`, pod("web"));
    const r = await call("GET", `${NS}/pods/web/log`, undefined, { query: { tailLines: "2" } });
    assert.equal(r.status, 200);
    assert.equal(r.contentType, "text/plain");
    assert.equal(await text(r.stream), "hello\n");
    assert.deepEqual(calls, ["web/c1/2"]);
    const bad = await call("GET", `${NS}/pods/web/log`, undefined, { query: { container: "c9" } });
    assert.equal(bad.status, 400);
    assert.equal(status(bad).message, "container c9 is not valid for pod web");
  });
});

describe("ApiServer events", () => {
  test("events.k8s.io/v1 serves the core/v1 events (shared storage, converted fields)", async () => {
    const { call } = await setup();
    const core = {
      metadata: { name: "web.1" },
      involvedObject: { kind: "Pod", name: "web", namespace: "default" },
      reason: "Started",
      message: "Started container c1",
      type: "Normal",
      source: { component: "kubelet" },
      count: 1,
    };
    assert.equal((await call("POST", `${NS}/events`, core)).status, 201);
    const v = obj<Record<string, unknown>>(
      await call("GET", "/apis/events.k8s.io/v1/namespaces/default/events/web.1"),
    );
    assert.equal(v["apiVersion"], "events.k8s.io/v1");
    assert.equal(v["note"], "Started container c1");
    assert.deepEqual(v["regarding"], core.involvedObject);
    assert.equal(v["deprecatedCount"], 1);
    const created = await call("POST", "/apis/events.k8s.io/v1/namespaces/default/events", {
      metadata: { name: "web.2" },
      regarding: { kind: "Pod", name: "web" },
      note: "Pulled",
      reason: "Pulled",
      type: "Normal",
      eventTime: "2025-01-01T00:00:00.000000Z",
      reportingController: "kubelet",
      reportingInstance: "node1",
      action: "Pull",
    });
    assert.equal(created.status, 201);
    const back = obj<Record<string, unknown>>(await call("GET", `${NS}/events/web.2`));
    assert.equal(back["message"], "Pulled");
    assert.equal(back["reportingComponent"], "kubelet");
    const list = obj<KubeList>(
      await call("GET", "/apis/events.k8s.io/v1/namespaces/default/events"),
    );
    assert.deepEqual(
      list.items.map((i) => i.metadata.name),
      ["web.1", "web.2"],
    );
  });
});

describe("wrong JSON types are a 400 at every write", () => {
  test("create, status update and patch with wrong types store nothing", async () => {
    const { call } = await setup();
    const created = await call("POST", `${NS}/pods`, pod("p", { keep: "yes" }));
    assert.equal(created.status, 201);
    const rv = obj(created).metadata.resourceVersion;

    const numericName = await call("POST", `${NS}/configmaps`, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: 7 },
    });
    assert.equal(numericName.status, 400);
    assert.match(
      status(numericName).message ?? "",
      /^ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field ObjectMeta.metadata.name of type string$/,
    );
    // The status subresource ignores metadata, but the body is decoded (and refused) first.
    const statusPut = await call("PUT", `${NS}/pods/p/status`, {
      apiVersion: "v1",
      kind: "Pod",
      metadata: "x",
    });
    assert.equal(statusPut.status, 400);
    const merge = await call(
      "PATCH",
      `${NS}/pods/p/status`,
      { metadata: { labels: ["x"] } },
      { contentType: "application/merge-patch+json" },
    );
    assert.equal(merge.status, 400);
    const after = await call("GET", `${NS}/pods/p`);
    assert.equal(obj(after).metadata.resourceVersion, rv);
    assert.deepEqual(obj(after).metadata.labels, { keep: "yes" });
  });
});
