import { test } from "node:test";
import assert from "node:assert/strict";
import type { Pod } from "../api/index.js";
import { ContainerConfigError } from "./env.js";
import { podDnsFiles, type DnsConfig } from "./dns.js";

const cfg: DnsConfig = {
  clusterDomain: "cluster.local",
  clusterDNS: ["10.96.0.10"],
  hostResolvConf:
    "# comment\nnameserver 1.1.1.1\nnameserver 8.8.8.8\nsearch corp.example. lab.example .\noptions edns0 ndots:2\n",
  hostHosts: "127.0.0.1\tlocalhost\n192.168.1.2\tnode1\n",
  nodeHostname: "node1",
};

function pod(mutate?: (p: Pod) => void): Pod {
  const p: Pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web", namespace: "team", uid: "u-1" },
    spec: { containers: [{ name: "app" }] },
  };
  mutate?.(p);
  return p;
}

const HOSTS_HEADER =
  "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
  "fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n";

test("PL-DNS-2 PL-EDGE-36 ClusterFirst resolv.conf", () => {
  const f = podDnsFiles(pod(), ["10.244.0.5"], cfg);
  assert.equal(
    f.resolvConf,
    "search team.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\n" +
      "nameserver 10.96.0.10\noptions ndots:5\n",
  );
  assert.deepEqual(f.warnings, []);
});

test("PL-DNS-1 policies: hostNetwork ClusterFirst, Default, ClusterFirstWithHostNet", () => {
  const host =
    "search corp.example lab.example\nnameserver 1.1.1.1\nnameserver 8.8.8.8\noptions edns0 ndots:2\n";
  const cases: [(p: Pod) => void, string][] = [
    [(p) => (p.spec.hostNetwork = true), host],
    [(p) => (p.spec.dnsPolicy = "Default"), host],
    [
      (p) => {
        p.spec.hostNetwork = true;
        p.spec.dnsPolicy = "ClusterFirstWithHostNet";
      },
      "search team.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\nnameserver 10.96.0.10\noptions ndots:5\n",
    ],
  ];
  for (const [m, want] of cases) assert.equal(podDnsFiles(pod(m), [], cfg).resolvConf, want);
});

test("PL-DNS-3 empty host resolver gives localhost and search .", () => {
  const f = podDnsFiles(
    pod((p) => (p.spec.dnsPolicy = "Default")),
    [],
    { ...cfg, hostResolvConf: "" },
  );
  assert.equal(f.resolvConf, "search .\nnameserver 127.0.0.1\n");
});

test("PL-DNS-2 empty cluster domain uses host search only; missing cluster DNS falls back", () => {
  const f = podDnsFiles(pod(), [], { ...cfg, clusterDomain: "" });
  assert.equal(
    f.resolvConf,
    "search corp.example lab.example\nnameserver 10.96.0.10\noptions ndots:5\n",
  );
  const g = podDnsFiles(pod(), [], { ...cfg, clusterDNS: [] });
  assert.match(g.resolvConf, /^nameserver 1.1.1.1$/m);
  assert.deepEqual(g.warnings, [
    {
      reason: "MissingClusterDNS",
      message:
        'pod: "web_team(u-1)". kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.',
    },
  ]);
});

test("PL-DNS-4 PL-DNS-5 None and dnsConfig merge", () => {
  const f = podDnsFiles(
    pod((p) => {
      p.spec.dnsPolicy = "None";
      p.spec.dnsConfig = {
        nameservers: ["9.9.9.9", "9.9.9.9"],
        searches: ["a.example"],
        options: [{ name: "ndots", value: "2" }, { name: "rotate" }],
      };
    }),
    [],
    cfg,
  );
  assert.equal(f.resolvConf, "search a.example\nnameserver 9.9.9.9\noptions ndots:2 rotate\n");
  const g = podDnsFiles(
    pod((p) => {
      p.spec.dnsConfig = {
        nameservers: ["10.96.0.10", "9.9.9.9"],
        searches: ["svc.cluster.local", "x.example"],
        options: [{ name: "ndots", value: "1" }, { name: "edns0" }],
      };
    }),
    [],
    cfg,
  );
  assert.equal(
    g.resolvConf,
    "search team.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example x.example\n" +
      "nameserver 10.96.0.10\nnameserver 9.9.9.9\noptions ndots:1 edns0\n",
  );
});

test("PL-DNS-6 nameserver and search limits emit DNSConfigForming", () => {
  const f = podDnsFiles(
    pod((p) => {
      p.spec.dnsConfig = { nameservers: ["1.0.0.1", "1.0.0.2", "1.0.0.3"] };
    }),
    [],
    cfg,
  );
  assert.equal(f.resolvConf.split("\n").filter((l) => l.startsWith("nameserver")).length, 3);
  assert.deepEqual(f.warnings, [
    {
      reason: "DNSConfigForming",
      message:
        "Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: 10.96.0.10 1.0.0.1 1.0.0.2",
    },
  ]);
  const many = Array.from({ length: 40 }, (_, i) => `d${i}.example`);
  const g = podDnsFiles(
    pod((p) => {
      p.spec.dnsPolicy = "None";
      p.spec.dnsConfig = { searches: many, nameservers: ["1.1.1.1"] };
    }),
    [],
    cfg,
  );
  const kept = many.slice(0, 32).join(" ");
  assert.equal(g.resolvConf, `search ${kept}\nnameserver 1.1.1.1\n`);
  assert.deepEqual(g.warnings, [
    {
      reason: "DNSConfigForming",
      message: `Search Line limits were exceeded, some search paths have been omitted, the applied search line is: ${kept}`,
    },
  ]);
  const long = Array.from({ length: 10 }, (_, i) => `${String(i)}${"x".repeat(250)}`);
  const h = podDnsFiles(
    pod((p) => {
      p.spec.dnsPolicy = "None";
      p.spec.dnsConfig = { searches: long };
    }),
    [],
    cfg,
  );
  // 10 × 251 + 9 spaces = 2519 > 2048: two dropped from the end.
  assert.equal(h.resolvConf, `search ${long.slice(0, 8).join(" ")}\n`);
  assert.equal(h.warnings.length, 1);
});

test("PL-DNS-8 PL-DNS-10 PL-EDGE-37 hosts file and hostname with subdomain", () => {
  const f = podDnsFiles(
    pod((p) => {
      p.spec.hostname = "web";
      p.spec.subdomain = "svc1";
      p.metadata.namespace = "ns1";
      p.spec.hostAliases = [{ ip: "1.2.3.4", hostnames: ["foo", "bar"] }];
    }),
    ["10.244.0.5", "fd00::5"],
    cfg,
  );
  assert.equal(
    f.hosts,
    HOSTS_HEADER +
      "10.244.0.5\tweb.svc1.ns1.svc.cluster.local\tweb\nfd00::5\tweb.svc1.ns1.svc.cluster.local\tweb\n" +
      "\n# Entries added by HostAliases.\n1.2.3.4\tfoo\tbar\n",
  );
  assert.equal(f.hostname, "web");
  const g = podDnsFiles(pod(), ["10.244.0.5"], cfg);
  assert.equal(g.hosts, HOSTS_HEADER + "10.244.0.5\tweb\n");
  assert.equal(g.hostname, "web");
});

test("PL-DNS-8 long pod names are cut to 63 chars without trailing - or .", () => {
  const name = "a".repeat(61) + "-.bcd";
  const f = podDnsFiles(
    pod((p) => (p.metadata.name = name)),
    [],
    cfg,
  );
  assert.equal(f.hostname, "a".repeat(61));
});

test("PL-DNS-9 setHostnameAsFQDN and the too-long FQDN error", () => {
  const f = podDnsFiles(
    pod((p) => {
      p.spec.hostname = "web";
      p.spec.subdomain = "s";
      p.spec.setHostnameAsFQDN = true;
    }),
    [],
    cfg,
  );
  assert.equal(f.hostname, "web.s.team.svc.cluster.local");
  assert.throws(
    () =>
      podDnsFiles(
        pod((p) => {
          p.spec.hostname = "w".repeat(40);
          p.spec.subdomain = "s";
          p.spec.setHostnameAsFQDN = true;
        }),
        [],
        cfg,
      ),
    (err: unknown) =>
      err instanceof ContainerConfigError &&
      err.message.startsWith(
        `failed to construct FQDN from pod hostname and cluster domain, FQDN ${"w".repeat(40)}.s.team.svc.cluster.local is too long`,
      ),
  );
});

test("PL-DNS-11 host-network hosts file", () => {
  const f = podDnsFiles(
    pod((p) => {
      p.spec.hostNetwork = true;
      p.spec.hostAliases = [{ ip: "1.2.3.4", hostnames: ["foo"] }];
    }),
    [],
    cfg,
  );
  assert.equal(
    f.hosts,
    "# Kubernetes-managed hosts file (host network).\n127.0.0.1\tlocalhost\n192.168.1.2\tnode1\n" +
      "\n# Entries added by HostAliases.\n1.2.3.4\tfoo\n",
  );
  assert.equal(f.hostname, "node1");
});
