import { createHash } from "node:crypto";
import type { EndpointSlice, Service } from "../api/index.js";

/** One service port the proxy forwards: its virtual addresses and its ready backends. */
export interface ServicePortModel {
  /** `ns/name/port-name/proto`: stable identity of the forwarding rule. */
  id: string;
  chain: string;
  protocol: "tcp" | "udp" | "sctp";
  clusterIPs: string[];
  port: number;
  nodePort?: number;
  /** `ip:port` of each backend, sorted. */
  endpoints: string[];
}

/** The desired forwarding state: service ports by id. */
export type ProxyModel = Map<string, ServicePortModel>;

const short = (s: string): string =>
  createHash("sha256")
    .update(s)
    .digest("base64url")
    .slice(0, 10)
    .replace(/[-_]/g, "x")
    .toLowerCase();

/** The nftables chain name of a service port. */
export function serviceChain(id: string): string {
  return `svc-${short(id)}`;
}

/** The nftables chain name of one backend of a service port. */
export function endpointChain(id: string, endpoint: string): string {
  return `sep-${short(`${id}|${endpoint}`)}`;
}

/**
 * Builds the forwarding model from Services and EndpointSlices (kube-proxy semantics):
 * ClusterIP, NodePort and LoadBalancer Services with a cluster IP; backends are ready
 * endpoints, or — when none is ready — serving terminating ones; headless and ExternalName
 * Services are not proxied.
 */
export function buildModel(
  services: readonly Service[],
  slices: readonly EndpointSlice[],
): ProxyModel {
  const bySvc = new Map<string, EndpointSlice[]>();
  for (const s of slices) {
    const name = s.metadata.labels?.["kubernetes.io/service-name"];
    if (name === undefined || s.addressType !== "IPv4") continue;
    const key = `${s.metadata.namespace ?? ""}/${name}`;
    bySvc.set(key, [...(bySvc.get(key) ?? []), s]);
  }
  const model: ProxyModel = new Map();
  for (const svc of services) {
    const spec = svc.spec;
    if (spec === undefined || spec.type === "ExternalName") continue;
    const ips = (spec.clusterIPs ?? (spec.clusterIP !== undefined ? [spec.clusterIP] : [])).filter(
      (ip) => ip !== "" && ip !== "None" && !ip.includes(":"),
    );
    if (ips.length === 0) continue;
    const key = `${svc.metadata.namespace ?? ""}/${svc.metadata.name ?? ""}`;
    for (const sp of spec.ports ?? []) {
      const protocol = (sp.protocol ?? "TCP").toLowerCase() as ServicePortModel["protocol"];
      const id = `${key}/${sp.name ?? ""}/${protocol}`;
      const ready: string[] = [];
      const terminating: string[] = [];
      for (const slice of bySvc.get(key) ?? []) {
        const port = slice.ports?.find(
          (p) =>
            (p.name ?? "") === (sp.name ?? "") && (p.protocol ?? "TCP").toLowerCase() === protocol,
        );
        if (port === undefined) continue;
        for (const ep of slice.endpoints) {
          const c = ep.conditions ?? {};
          for (const ip of ep.addresses) {
            if (c.ready !== false) ready.push(`${ip}:${port.port}`);
            else if (c.serving === true && c.terminating === true)
              terminating.push(`${ip}:${port.port}`);
          }
        }
      }
      const m: ServicePortModel = {
        id,
        chain: serviceChain(id),
        protocol,
        clusterIPs: ips,
        port: sp.port,
        endpoints: [...new Set(ready.length > 0 ? ready : terminating)].sort(),
      };
      if ((spec.type === "NodePort" || spec.type === "LoadBalancer") && sp.nodePort !== undefined)
        m.nodePort = sp.nodePort;
      model.set(id, m);
    }
  }
  return model;
}
