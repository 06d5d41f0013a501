import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { EndpointSlice, Endpoints, Pod, Service } from "../../api/index.js";
import { Client, HandlerTransport } from "../../client/index.js";
import { FakeApiHandler } from "../../client/testing/fake-handler.js";
import { SystemClock, nullLogger } from "../../util/index.js";
import { EndpointsController } from "./controller.js";

async function eventually<T>(fn: () => Promise<T | undefined>, what: string): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("EndpointsController", () => {
  const handler = new FakeApiHandler();
  const client = new Client(new HandlerTransport(handler));
  const ac = new AbortController();
  let running: Promise<void>;
  before(() => {
    // The controller's own timing is event-driven; a real clock keeps the informers simple here.
    running = new EndpointsController({ client, clock: new SystemClock(), logger: nullLogger }).run(
      ac.signal,
    );
  });
  after(async () => {
    ac.abort();
    await running;
  });

  test("creates Endpoints and an EndpointSlice for a selector Service and follows pod readiness", async () => {
    const svc: Service = {
      metadata: { name: "web", namespace: "default" },
      spec: {
        selector: { app: "web" },
        clusterIP: "10.96.0.20",
        ports: [{ port: 80, targetPort: 8080 }],
      },
    };
    await client.services("default").create(svc);
    const p: Pod = {
      metadata: { name: "web-1", namespace: "default", labels: { app: "web" } },
      spec: { containers: [{ name: "c", image: "x" }] },
      status: {
        phase: "Running",
        podIP: "10.244.0.9",
        conditions: [{ type: "Ready", status: "True" }],
      },
    };
    const created = await client.pods("default").create(p);
    await client.pods("default").updateStatus({ ...created, status: p.status! });
    const ep = await eventually(async () => {
      const e: Endpoints = await client
        .endpoints("default")
        .get("web")
        .catch(() => ({ metadata: {} }));
      return e.subsets?.[0]?.addresses?.length === 1 ? e : undefined;
    }, "endpoints with one address");
    assert.equal(ep.subsets![0]!.addresses?.[0]?.ip, "10.244.0.9");
    assert.deepEqual(ep.subsets![0]!.ports, [{ port: 8080, protocol: "TCP" }]);
    const slice = await eventually(async () => {
      const l = await client
        .endpointSlices("default")
        .list({ labelSelector: "kubernetes.io/service-name=web" });
      return l.items[0]?.endpoints.length === 1 ? l.items[0] : undefined;
    }, "a slice");
    assert.equal(
      slice.metadata.labels?.["endpointslice.kubernetes.io/managed-by"],
      "endpointslice-controller.k8s.io",
    );
    assert.equal(slice.metadata.ownerReferences?.[0]?.kind, "Service");

    const cur = await client.pods("default").get("web-1");
    await client.pods("default").updateStatus({
      ...cur,
      status: { ...cur.status, conditions: [{ type: "Ready", status: "False" }] },
    });
    await eventually(async () => {
      const e = await client.endpoints("default").get("web");
      return e.subsets?.[0]?.notReadyAddresses?.length === 1 && e.subsets[0].addresses === undefined
        ? e
        : undefined;
    }, "the unready pod to move to notReadyAddresses");
  });

  test("mirrors user-managed Endpoints of a selector-less Service into a slice", async () => {
    await client.services("default").create({
      metadata: { name: "ext", namespace: "default" },
      spec: { clusterIP: "10.96.0.21", ports: [{ port: 80 }] },
    });
    await client.endpoints("default").create({
      metadata: { name: "ext", namespace: "default" },
      subsets: [{ addresses: [{ ip: "192.0.2.7" }], ports: [{ port: 80 }] }],
    });
    const slice: EndpointSlice = await eventually(async () => {
      const l = await client
        .endpointSlices("default")
        .list({ labelSelector: "kubernetes.io/service-name=ext" });
      return l.items[0]?.endpoints.length === 1 ? l.items[0] : undefined;
    }, "a mirrored slice");
    assert.deepEqual(
      slice.endpoints.map((e) => e.addresses[0]),
      ["192.0.2.7"],
    );
    assert.equal(
      slice.metadata.labels?.["endpointslice.kubernetes.io/managed-by"],
      "endpointslicemirroring-controller.k8s.io",
    );
  });

  test("Endpoints labelled endpointslice.kubernetes.io/skip-mirror are not mirrored; other slices stay", async () => {
    // The API server's own `kubernetes` Service: it writes Endpoints (skip-mirror) and the
    // EndpointSlice `kubernetes` itself.
    await client.services("default").create({
      metadata: { name: "apisrv", namespace: "default" },
      spec: { clusterIP: "10.96.0.22", ports: [{ name: "https", port: 443 }] },
    });
    await client.endpointSlices("default").create({
      metadata: {
        name: "apisrv",
        namespace: "default",
        labels: { "kubernetes.io/service-name": "apisrv" },
      },
      addressType: "IPv4",
      endpoints: [{ addresses: ["192.0.2.8"], conditions: { ready: true } }],
      ports: [{ name: "https", port: 6443, protocol: "TCP" }],
    });
    await client.endpoints("default").create({
      metadata: {
        name: "apisrv",
        namespace: "default",
        labels: { "endpointslice.kubernetes.io/skip-mirror": "true" },
      },
      subsets: [{ addresses: [{ ip: "192.0.2.8" }], ports: [{ name: "https", port: 6443 }] }],
    });
    // A later Service change makes the controller look again; still only the one slice.
    await client
      .services("default")
      .patch("apisrv", "merge", { metadata: { labels: { touched: "yes" } } }, {});
    await new Promise((r) => setTimeout(r, 300));
    const l = await client
      .endpointSlices("default")
      .list({ labelSelector: "kubernetes.io/service-name=apisrv" });
    assert.deepEqual(
      l.items.map((s) => s.metadata.name),
      ["apisrv"],
    );
  });

  test("deleting the Service removes its Endpoints and slices", async () => {
    await client.services("default").delete("web");
    await eventually(async () => {
      const l = await client
        .endpointSlices("default")
        .list({ labelSelector: "kubernetes.io/service-name=web" });
      const ep = await client
        .endpoints("default")
        .get("web")
        .then(
          () => "present",
          () => "gone",
        );
      return l.items.length === 0 && ep === "gone" ? true : undefined;
    }, "endpoints and slices to go");
  });
});
