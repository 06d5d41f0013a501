import { invalid, type KubeObject, type Service } from "../api/index.js";

/** Service CIDR 10.96.0.0/12 as [first, last] host numbers. */
const CIDR_BASE = (10 << 24) | (96 << 16);
const CIDR_SIZE = 1 << 20;
/** Addresses below this offset are reserved (.1 kubernetes, .10 cluster DNS). */
const FIRST_DYNAMIC = 11;
const NODE_PORT_MIN = 30000;
const NODE_PORT_MAX = 32767;

function ipToNum(ip: string): number | undefined {
  const parts = ip.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    return undefined;
  }
  return (
    (((parts[0] ?? 0) << 24) |
      ((parts[1] ?? 0) << 16) |
      ((parts[2] ?? 0) << 8) |
      (parts[3] ?? 0)) >>>
    0
  );
}

function numToIp(n: number): string {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/**
 * Allocates `spec.clusterIP(s)` and node ports of a new Service (upstream's service REST
 * allocators), given every existing Service. ExternalName services and headless ones
 * (`clusterIP: None`) get no address. A requested address or port already in use is Invalid.
 */
export function allocateServiceAddresses(obj: KubeObject, existing: KubeObject[]): void {
  const svc = obj as Service;
  const spec = (svc.spec ??= {});
  const name = svc.metadata.name ?? "";
  const usedIps = new Set<string>();
  const usedPorts = new Set<number>();
  for (const o of existing) {
    const s = (o as Service).spec;
    for (const ip of s?.clusterIPs ?? (s?.clusterIP ? [s.clusterIP] : [])) usedIps.add(ip);
    for (const p of s?.ports ?? []) if (p.nodePort !== undefined) usedPorts.add(p.nodePort);
  }
  const type = spec.type ?? "ClusterIP";
  if (type !== "ExternalName") {
    const want = spec.clusterIP ?? spec.clusterIPs?.[0] ?? "";
    if (want === "None") {
      spec.clusterIP = "None";
      spec.clusterIPs = ["None"];
    } else if (want !== "") {
      const n = ipToNum(want);
      if (n === undefined || n < CIDR_BASE || n >= CIDR_BASE + CIDR_SIZE) {
        throw invalid("Service", name, [
          {
            type: "Invalid",
            field: "spec.clusterIPs",
            value: [want],
            detail: `failed to allocate IP ${want}: the provided IP (${want}) is not in the valid range. The range of valid IPs is 10.96.0.0/12`,
          },
        ]);
      }
      if (usedIps.has(want)) {
        throw invalid("Service", name, [
          {
            type: "Invalid",
            field: "spec.clusterIPs",
            value: [want],
            detail: `failed to allocate IP ${want}: provided IP is already allocated`,
          },
        ]);
      }
      spec.clusterIP = want;
      spec.clusterIPs = [want];
    } else {
      let ip: string | undefined;
      for (let off = FIRST_DYNAMIC; off < CIDR_SIZE - 1; off++) {
        const cand = numToIp(CIDR_BASE + off);
        if (!usedIps.has(cand)) {
          ip = cand;
          break;
        }
      }
      if (ip === undefined) {
        throw invalid("Service", name, [
          { type: "Invalid", field: "spec.clusterIPs", value: [], detail: "range is full" },
        ]);
      }
      spec.clusterIP = ip;
      spec.clusterIPs = [ip];
    }
  }
  if (type === "NodePort" || type === "LoadBalancer") {
    let next = NODE_PORT_MIN;
    for (const [i, p] of (spec.ports ?? []).entries()) {
      if (p.nodePort !== undefined && p.nodePort !== 0) {
        if (usedPorts.has(p.nodePort)) {
          throw invalid("Service", name, [
            {
              type: "Invalid",
              field: `spec.ports[${i}].nodePort`,
              value: p.nodePort,
              detail: "provided port is already allocated",
            },
          ]);
        }
        usedPorts.add(p.nodePort);
        continue;
      }
      while (usedPorts.has(next) && next <= NODE_PORT_MAX) next++;
      if (next > NODE_PORT_MAX) {
        throw invalid("Service", name, [
          {
            type: "Invalid",
            field: `spec.ports[${i}].nodePort`,
            value: 0,
            detail: "range is full",
          },
        ]);
      }
      p.nodePort = next;
      usedPorts.add(next);
    }
  }
}

/** On update, keeps the allocated addresses when the client omitted them (as upstream). */
export function keepServiceAddresses(old: KubeObject, next: KubeObject): void {
  const o = (old as Service).spec;
  const n = (next as Service).spec;
  if (o === undefined || n === undefined) return;
  if ((n.clusterIP ?? "") === "" && o.clusterIP !== undefined) n.clusterIP = o.clusterIP;
  if (n.clusterIPs === undefined && o.clusterIPs !== undefined) n.clusterIPs = o.clusterIPs;
  // Upstream drops type-dependent fields the client left as they were once the new type
  // no longer uses them (a NodePort turned ClusterIP loses its external policy and ports).
  const type = n.type ?? "ClusterIP";
  const isExternal =
    type === "NodePort" || type === "LoadBalancer" || (n.externalIPs ?? []).length > 0;
  if (!isExternal && n.externalTrafficPolicy === o.externalTrafficPolicy)
    delete n.externalTrafficPolicy;
  if (type !== "NodePort" && type !== "LoadBalancer") return;
  const oldPorts = o.ports ?? [];
  for (const p of n.ports ?? []) {
    if (p.nodePort !== undefined) continue;
    const match = oldPorts.find(
      (q) => q.port === p.port && (q.protocol ?? "TCP") === (p.protocol ?? "TCP"),
    );
    if (match?.nodePort !== undefined) p.nodePort = match.nodePort;
  }
}
