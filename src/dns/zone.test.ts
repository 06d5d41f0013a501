import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { EndpointSlice, Service } from "../api/index.js";
import { ClusterZone, reverseName } from "./zone.js";

const svc = (name: string, ns: string, spec: NonNullable<Service["spec"]>): Service => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, namespace: ns },
  spec,
});

const slice = (
  svcName: string,
  ns: string,
  eps: EndpointSlice["endpoints"],
  ports: EndpointSlice["ports"] = [],
): EndpointSlice => ({
  apiVersion: "discovery.k8s.io/v1",
  kind: "EndpointSlice",
  metadata: {
    name: `${svcName}-abc`,
    namespace: ns,
    labels: { "kubernetes.io/service-name": svcName },
  },
  addressType: "IPv4",
  endpoints: eps,
  ports,
});

function zone(): ClusterZone {
  const z = new ClusterZone();
  z.update(
    [
      svc("web", "default", {
        clusterIP: "10.96.0.20",
        ports: [{ name: "http", port: 80, protocol: "TCP" }],
      }),
      svc("db", "team", { clusterIP: "None", ports: [{ name: "pg", port: 5432 }] }),
      svc("ext", "default", { type: "ExternalName", externalName: "example.com" }),
    ],
    [
      slice(
        "db",
        "team",
        [
          { addresses: ["10.244.0.5"], conditions: { ready: true }, hostname: "db-0" },
          { addresses: ["10.244.0.6"], conditions: { ready: true } },
          { addresses: ["10.244.0.7"], conditions: { ready: false } },
        ],
        [{ name: "pg", port: 5432, protocol: "TCP" }],
      ),
    ],
  );
  return z;
}

describe("ClusterZone", () => {
  const cases: { name: string; q: [string, string]; want: unknown }[] = [
    {
      name: "ClusterIP service A",
      q: ["web.default.svc.cluster.local", "A"],
      want: ["10.96.0.20"],
    },
    {
      name: "case-insensitive, trailing dot",
      q: ["WEB.default.svc.cluster.local.", "A"],
      want: ["10.96.0.20"],
    },
    {
      name: "AAAA of an IPv4 service is NODATA",
      q: ["web.default.svc.cluster.local", "AAAA"],
      want: "nodata",
    },
    {
      name: "unknown service is NXDOMAIN",
      q: ["nope.default.svc.cluster.local", "A"],
      want: "nxdomain",
    },
    {
      name: "search-path expansion is NXDOMAIN",
      q: ["web.default.svc.cluster.local.default.svc.cluster.local", "A"],
      want: "nxdomain",
    },
    { name: "namespace name is NODATA", q: ["default.svc.cluster.local", "A"], want: "nodata" },
    {
      name: "headless: every ready endpoint",
      q: ["db.team.svc.cluster.local", "A"],
      want: ["10.244.0.5", "10.244.0.6"],
    },
    {
      name: "headless endpoint hostname",
      q: ["db-0.db.team.svc.cluster.local", "A"],
      want: ["10.244.0.5"],
    },
    {
      name: "headless endpoint without hostname: dashed IP",
      q: ["10-244-0-6.db.team.svc.cluster.local", "A"],
      want: ["10.244.0.6"],
    },
    {
      name: "not-ready endpoint is not published",
      q: ["10-244-0-7.db.team.svc.cluster.local", "A"],
      want: "nxdomain",
    },
    {
      name: "SRV for a named port",
      q: ["_http._tcp.web.default.svc.cluster.local", "SRV"],
      want: [{ priority: 0, weight: 100, port: 80, target: "web.default.svc.cluster.local" }],
    },
    { name: "pod record", q: ["10-244-0-9.default.pod.cluster.local", "A"], want: ["10.244.0.9"] },
    {
      name: "PTR of a service IP",
      q: ["20.0.96.10.in-addr.arpa", "PTR"],
      want: ["web.default.svc.cluster.local"],
    },
    {
      name: "ExternalName is a CNAME",
      q: ["ext.default.svc.cluster.local", "A"],
      want: ["example.com"],
    },
    { name: "outside the zone", q: ["example.com", "A"], want: "outside" },
  ];
  for (const c of cases) {
    test(`answers ${c.name}`, () => {
      const a = zone().answer(c.q[0], c.q[1]);
      if (typeof c.want === "string") assert.equal(a.kind, c.want);
      else assert.deepEqual(a.kind === "records" ? a.records.map((r) => r.data) : a.kind, c.want);
    });
  }

  test("headless SRV points at each endpoint", () => {
    const a = zone().answer("_pg._tcp.db.team.svc.cluster.local", "SRV");
    {
      assert.deepEqual(
        (a.kind === "records" ? a.records : [])
          .map((r) => (r.type === "SRV" ? r.data.target : ""))
          .sort(),
        ["10-244-0-6.db.team.svc.cluster.local", "db-0.db.team.svc.cluster.local"],
      );
    }
  });

  test("update replaces the previous contents", () => {
    const z = zone();
    z.update([], []);
    assert.equal(z.answer("web.default.svc.cluster.local", "A").kind, "nxdomain");
  });

  test("reverseName handles IPv4 and IPv6", () => {
    assert.equal(reverseName("10.96.0.1"), "1.0.96.10.in-addr.arpa");
    assert.equal(reverseName("fd00::1"), `1.${"0.".repeat(29)}d.f.ip6.arpa`);
  });
});
