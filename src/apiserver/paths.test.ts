import assert from "node:assert/strict";
import { test } from "node:test";
import { negotiateDiscovery, negotiateTable } from "./accept.js";
import { parsePath, type Route } from "./paths.js";

function summary(r: Route | undefined): unknown {
  if (r === undefined) return undefined;
  if (r.type !== "resource") return r;
  return [r.info.group, r.info.resource, r.namespace, r.name, r.subresource];
}

test("parsePath routes namespaced, cluster-scoped, cross-namespace and subresource paths", () => {
  assert.deepEqual(summary(parsePath("/api/v1/namespaces/default/pods")), [
    "",
    "pods",
    "default",
    undefined,
    undefined,
  ]);
  assert.deepEqual(summary(parsePath("/api/v1/namespaces/default/pods/web/log")), [
    "",
    "pods",
    "default",
    "web",
    "log",
  ]);
  assert.deepEqual(summary(parsePath("/api/v1/pods")), [
    "",
    "pods",
    undefined,
    undefined,
    undefined,
  ]);
  assert.deepEqual(summary(parsePath("/api/v1/nodes/n1/status")), [
    "",
    "nodes",
    undefined,
    "n1",
    "status",
  ]);
  assert.deepEqual(summary(parsePath("/api/v1/namespaces/team")), [
    "",
    "namespaces",
    undefined,
    "team",
    undefined,
  ]);
  assert.deepEqual(summary(parsePath("/api/v1/namespaces/team/status")), [
    "",
    "namespaces",
    undefined,
    "team",
    "status",
  ]);
  assert.deepEqual(
    summary(parsePath("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1")),
    ["coordination.k8s.io", "leases", "kube-node-lease", "n1", undefined],
  );
  assert.deepEqual(parsePath("/apis/coordination.k8s.io/v1"), {
    type: "groupVersion",
    group: "coordination.k8s.io",
    version: "v1",
  });
  assert.deepEqual(parsePath("/apis/coordination.k8s.io"), {
    type: "group",
    group: "coordination.k8s.io",
  });
  for (const bad of [
    "/api/v1/pods/x",
    "/api/v1/namespaces/d/nodes",
    "/api/v1/namespaces/d/pods/x/bogus",
    "/apis/x.io/v1",
    "/api/v9",
  ]) {
    assert.equal(parsePath(bad), undefined, bad);
  }
});

test("parsePath decodes escaped segments (names with a colon) and keeps malformed escapes", () => {
  assert.deepEqual(summary(parsePath("/api/v1/nodes/system%3Anode")), [
    "",
    "nodes",
    undefined,
    "system:node",
    undefined,
  ]);
  assert.deepEqual(summary(parsePath("/api/v1/namespaces/default/configmaps/a%ZZ")), [
    "",
    "configmaps",
    "default",
    "a%ZZ",
    undefined,
  ]);
});

test("KA-DISC-2 and KA-TBL-1 content negotiation picks the first supported offer", () => {
  const both =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
  assert.equal(negotiateDiscovery(both), "v2");
  assert.equal(
    negotiateDiscovery("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"),
    "v2beta1",
  );
  assert.equal(negotiateDiscovery("application/json, */*"), undefined);
  assert.equal(negotiateDiscovery(undefined), undefined);
  assert.equal(
    negotiateTable("application/json;as=Table;v=v1;g=meta.k8s.io,application/json"),
    "v1",
  );
  assert.equal(negotiateTable("application/json;as=Table;v=v1beta1;g=meta.k8s.io"), "v1beta1");
  assert.equal(negotiateTable("application/json"), undefined);
});
