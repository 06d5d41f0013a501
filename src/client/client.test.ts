import assert from "node:assert/strict";
import { test } from "node:test";
import { isAlreadyExists, isConflict, isNotFound, type Pod } from "../api/index.js";
import { Client, REFS } from "./client.js";
import { HandlerTransport } from "./handler-transport.js";
import { encodeQuery, resourcePath } from "./paths.js";
import { FakeApiHandler } from "./testing/fake-handler.js";

function pod(name: string, ns = "default"): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: ns, labels: { app: name } },
    spec: { containers: [{ name: "c1", image: "busybox" }] },
  };
}

function setup(): { fake: FakeApiHandler; client: Client } {
  const fake = new FakeApiHandler();
  return { fake, client: new Client(new HandlerTransport(fake)) };
}

test("resourcePath builds core, grouped, cluster-scoped and subresource paths", () => {
  assert.equal(resourcePath(REFS.pods, "default"), "/api/v1/namespaces/default/pods");
  assert.equal(resourcePath(REFS.pods, undefined), "/api/v1/pods");
  assert.equal(
    resourcePath(REFS.pods, "ns1", "web", "status"),
    "/api/v1/namespaces/ns1/pods/web/status",
  );
  assert.equal(resourcePath(REFS.nodes, "ignored", "n1"), "/api/v1/nodes/n1");
  assert.equal(
    resourcePath(REFS.leases, "kube-node-lease", "n1"),
    "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1",
  );
  assert.equal(encodeQuery({ a: "x=1,y", b: ["1", "2"] }), "?a=x%3D1%2Cy&b=1&b=2");
  assert.equal(encodeQuery({}), "");
});

test("Client list encodes every list option in the query", async () => {
  const { fake, client } = setup();
  await client.pods("default").list({
    labelSelector: "app=web",
    fieldSelector: "spec.nodeName=",
    limit: 500,
    continue: "tok",
    resourceVersion: "0",
    timeoutSeconds: 5,
  });
  const req = fake.requests.at(-1)!;
  assert.equal(req.method, "GET");
  assert.equal(req.path, "/api/v1/namespaces/default/pods");
  assert.deepEqual(req.query, {
    labelSelector: "app=web",
    fieldSelector: "spec.nodeName=",
    limit: "500",
    continue: "tok",
    resourceVersion: "0",
    timeoutSeconds: "5",
  });
});

test("Client create/get/update/delete round-trip through the handler", async () => {
  const { fake, client } = setup();
  const created = await client.pods("default").create(pod("web"), {
    fieldManager: "test",
    dryRun: true,
  });
  assert.equal(created.metadata.name, "web");
  assert.deepEqual(fake.requests.at(-1)!.query, { fieldManager: "test", dryRun: "All" });
  const got = await client.pods("default").get("web");
  assert.equal(got.metadata.uid, created.metadata.uid);
  got.metadata.labels = { app: "changed" };
  const updated = await client.pods("default").update(got);
  assert.equal(updated.metadata.labels?.["app"], "changed");
  assert.equal(fake.requests.at(-1)!.method, "PUT");
  const gone = await client.pods("default").delete("web", { gracePeriodSeconds: 0 });
  assert.equal(gone, undefined);
  assert.deepEqual(fake.requests.at(-1)!.body, { gracePeriodSeconds: 0 });
  await assert.rejects(client.pods("default").get("web"), (err: unknown) => {
    assert.ok(isNotFound(err));
    assert.equal(err.message, 'pods "web" not found');
    return true;
  });
});

test("HandlerTransport turns non-2xx responses into ApiErrors with their reason", async () => {
  const { client } = setup();
  await client.pods("default").create(pod("web"));
  await assert.rejects(client.pods("default").create(pod("web")), isAlreadyExists);
  const stale = pod("web");
  stale.metadata.resourceVersion = "999";
  await assert.rejects(client.pods("default").update(stale), isConflict);
});

test("HandlerTransport deep-copies objects so callers cannot mutate server state", async () => {
  const { fake, client } = setup();
  const mine = pod("web");
  const created = await client.pods("default").create(mine);
  mine.metadata.labels = { app: "mutated-input" };
  created.metadata.labels = { app: "mutated-output" };
  assert.equal(fake.peek("/api/v1/namespaces/default/pods/web")?.metadata.labels?.["app"], "web");
});

test("Client patch sends the content type of each patch type", async () => {
  const { fake, client } = setup();
  await client.pods("default").create(pod("web"));
  const types = {
    merge: "application/merge-patch+json",
    strategic: "application/strategic-merge-patch+json",
    apply: "application/apply-patch+yaml",
  } as const;
  for (const [type, contentType] of Object.entries(types)) {
    await client.pods("default").patch(
      "web",
      type as keyof typeof types,
      { metadata: { labels: { t: type } } },
      {
        fieldManager: "podrun",
        force: true,
      },
    );
    const req = fake.requests.at(-1)!;
    assert.equal(req.method, "PATCH");
    assert.equal(req.contentType, contentType);
    assert.deepEqual(req.query, { fieldManager: "podrun", force: "true" });
  }
  const patched = await client.pods("default").get("web");
  assert.equal(patched.metadata.labels?.["t"], "apply");
  await client
    .pods("default")
    .patch("web", "json", [], { subresource: "status" })
    .catch(() => 0);
  assert.equal(fake.requests.at(-1)!.contentType, "application/json-patch+json");
  assert.equal(fake.requests.at(-1)!.path, "/api/v1/namespaces/default/pods/web/status");
});

test("Client bind posts a Binding to pods/<name>/binding", async () => {
  const { fake, client } = setup();
  const created = await client.pods("default").create(pod("web"));
  await client.pods("default").bind("web", "node1", { uid: created.metadata.uid ?? "" });
  const req = fake.requests.at(-1)!;
  assert.equal(req.path, "/api/v1/namespaces/default/pods/web/binding");
  assert.deepEqual(req.body, {
    apiVersion: "v1",
    kind: "Binding",
    metadata: { name: "web", namespace: "default", uid: created.metadata.uid },
    target: { kind: "Node", name: "node1" },
  });
  assert.equal((await client.pods("default").get("web")).spec.nodeName, "node1");
});

test("Client logs reads the log subresource as text with log options", async () => {
  const { fake, client } = setup();
  await client.pods("default").create(pod("web"));
  fake.setLog("default", "web", "c1", "a\nb\nc\n");
  assert.equal(await client.pods("default").logs("web", { container: "c1" }), "a\nb\nc\n");
  assert.equal(
    await client.pods("default").logs("web", { container: "c1", tailLines: 2, previous: true }),
    "b\nc\n",
  );
  assert.deepEqual(fake.requests.at(-1)!.query, {
    container: "c1",
    previous: "true",
    tailLines: "2",
  });
  const ac = new AbortController();
  let text = "";
  for await (const chunk of client.pods("default").streamLogs("web", { signal: ac.signal }))
    text += new TextDecoder().decode(chunk);
  assert.equal(text, "a\nb\nc\n");
  assert.equal(fake.requests.at(-1)!.query?.["follow"], "true");
});

test("Client lists across all namespaces when ns is undefined", async () => {
  const { client } = setup();
  await client.pods("a").create(pod("p1", "a"));
  await client.pods("b").create(pod("p2", "b"));
  const all = await client.pods().list();
  assert.deepEqual(all.items.map((p) => p.metadata.name).sort(), ["p1", "p2"]);
  await assert.rejects(client.pods().get("p1"), TypeError);
});

test("Client watch yields events and ends when the signal aborts", async () => {
  const { client } = setup();
  await client.pods("default").create(pod("web"));
  const ac = new AbortController();
  const seen: string[] = [];
  for await (const ev of client.pods("default").watch({ signal: ac.signal })) {
    seen.push(`${ev.type} ${ev.object.metadata.name ?? ""}`);
    if (seen.length === 1) await client.pods("default").create(pod("db"));
    if (seen.length === 2) ac.abort();
  }
  assert.deepEqual(seen, ["ADDED web", "ADDED db"]);
});

test("PodClient streamLogs ends at once when the signal aborts mid-follow", async () => {
  const handler = {
    handle: () =>
      Promise.resolve({
        status: 200,
        contentType: "text/plain",
        stream: (async function* () {
          yield new TextEncoder().encode("first\n");
          // A follow that never produces again: only the abort can end the read.
          await new Promise<never>(() => undefined);
        })(),
      }),
    watch: () => {
      throw new TypeError("not used");
    },
  };
  const client = new Client(new HandlerTransport(handler));
  const ac = new AbortController();
  const got: string[] = [];
  for await (const chunk of client.pods("default").streamLogs("web", { signal: ac.signal })) {
    got.push(new TextDecoder().decode(chunk));
    ac.abort();
  }
  assert.deepEqual(got, ["first\n"]);
});
