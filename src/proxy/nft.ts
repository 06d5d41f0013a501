import { endpointChain, type ProxyModel, type ServicePortModel } from "./model.js";

/** Packet mark that asks the postrouting chain to masquerade. */
const MASQ_MARK = "0x4000";

/** Options shared by the script builders. */
export interface NftOptions {
  /** nftables table (family ip). */
  table: string;
}

function mapElements(m: ServicePortModel): string[] {
  return m.clusterIPs.map((ip) => `${ip} . ${m.protocol} . ${m.port} : goto ${m.chain}`);
}

function rejectElements(m: ServicePortModel): string[] {
  return m.clusterIPs.map((ip) => `${ip} . ${m.protocol} . ${m.port}`);
}

function serviceRules(t: string, m: ServicePortModel): string[] {
  const lines: string[] = [];
  if (m.endpoints.length === 0) return lines;
  // Every service connection is masqueraded: pods share one bridge and, without
  // br_netfilter, a reply from a backend to a client on the same bridge would bypass
  // conntrack's reverse translation.
  const vmap = m.endpoints.map((ep, i) => `${i} : goto ${endpointChain(m.id, ep)}`).join(", ");
  lines.push(`add rule ip ${t} ${m.chain} meta mark set meta mark | ${MASQ_MARK}`);
  lines.push(
    `add rule ip ${t} ${m.chain} numgen random mod ${m.endpoints.length} vmap { ${vmap} }`,
  );
  return lines;
}

function endpointRules(t: string, m: ServicePortModel, ep: string): string[] {
  const c = endpointChain(m.id, ep);
  return [
    `add chain ip ${t} ${c}`,
    `flush chain ip ${t} ${c}`,
    `add rule ip ${t} ${c} meta l4proto ${m.protocol} dnat to ${ep}`,
  ];
}

/** The script that (re)creates the whole table atomically from `model`. */
export function fullScript(model: ProxyModel, opts: NftOptions): string {
  const t = opts.table;
  const out: string[] = [
    // Create-then-delete makes the delete valid when the table is absent; one transaction.
    `add table ip ${t}`,
    `delete table ip ${t}`,
    `add table ip ${t}`,
    `add map ip ${t} service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }`,
    `add map ip ${t} service-nodeports { type inet_proto . inet_service : verdict ; }`,
    `add set ip ${t} no-endpoint-services { type ipv4_addr . inet_proto . inet_service ; }`,
    `add set ip ${t} no-endpoint-nodeports { type inet_proto . inet_service ; }`,
    `add chain ip ${t} services`,
    `add rule ip ${t} services ip daddr . meta l4proto . th dport vmap @service-ips`,
    `add rule ip ${t} services fib daddr type local meta l4proto . th dport vmap @service-nodeports`,
    `add chain ip ${t} nat-prerouting { type nat hook prerouting priority dstnat ; policy accept ; }`,
    `add rule ip ${t} nat-prerouting jump services`,
    `add chain ip ${t} nat-output { type nat hook output priority -100 ; policy accept ; }`,
    `add rule ip ${t} nat-output jump services`,
    `add chain ip ${t} nat-postrouting { type nat hook postrouting priority srcnat ; policy accept ; }`,
    `add rule ip ${t} nat-postrouting meta mark & ${MASQ_MARK} == ${MASQ_MARK} masquerade`,
    // Services without endpoints are rejected at once (kube-proxy: icmp port unreachable).
    `add chain ip ${t} filter-input { type filter hook input priority -110 ; policy accept ; }`,
    `add chain ip ${t} filter-forward { type filter hook forward priority -110 ; policy accept ; }`,
    `add chain ip ${t} filter-output { type filter hook output priority -110 ; policy accept ; }`,
    `add chain ip ${t} reject-chain`,
    `add rule ip ${t} reject-chain reject`,
  ];
  for (const c of ["filter-input", "filter-forward", "filter-output"]) {
    out.push(
      `add rule ip ${t} ${c} ct state new ip daddr . meta l4proto . th dport @no-endpoint-services goto reject-chain`,
    );
  }
  out.push(
    `add rule ip ${t} filter-input ct state new fib daddr type local meta l4proto . th dport @no-endpoint-nodeports goto reject-chain`,
  );
  for (const m of model.values()) out.push(...addServiceScript(t, m));
  return out.join("\n") + "\n";
}

function addServiceScript(t: string, m: ServicePortModel): string[] {
  const out: string[] = [`add chain ip ${t} ${m.chain}`];
  for (const ep of m.endpoints) out.push(...endpointRules(t, m, ep));
  out.push(...serviceRules(t, m));
  if (m.endpoints.length > 0) {
    for (const e of mapElements(m)) out.push(`add element ip ${t} service-ips { ${e} }`);
    if (m.nodePort !== undefined)
      out.push(
        `add element ip ${t} service-nodeports { ${m.protocol} . ${m.nodePort} : goto ${m.chain} }`,
      );
  } else {
    for (const e of rejectElements(m))
      out.push(`add element ip ${t} no-endpoint-services { ${e} }`);
    if (m.nodePort !== undefined)
      out.push(`add element ip ${t} no-endpoint-nodeports { ${m.protocol} . ${m.nodePort} }`);
  }
  return out;
}

function removeServiceScript(t: string, m: ServicePortModel): string[] {
  const out: string[] = [];
  if (m.endpoints.length > 0) {
    for (const ip of m.clusterIPs)
      out.push(`delete element ip ${t} service-ips { ${ip} . ${m.protocol} . ${m.port} }`);
    if (m.nodePort !== undefined)
      out.push(`delete element ip ${t} service-nodeports { ${m.protocol} . ${m.nodePort} }`);
  } else {
    for (const e of rejectElements(m))
      out.push(`delete element ip ${t} no-endpoint-services { ${e} }`);
    if (m.nodePort !== undefined)
      out.push(`delete element ip ${t} no-endpoint-nodeports { ${m.protocol} . ${m.nodePort} }`);
  }
  // Rules go before chains: a chain can only be deleted once nothing jumps to it.
  out.push(`flush chain ip ${t} ${m.chain}`);
  for (const ep of m.endpoints) out.push(`delete chain ip ${t} ${endpointChain(m.id, ep)}`);
  out.push(`delete chain ip ${t} ${m.chain}`);
  return out;
}

/**
 * The incremental script that turns the `prev` rules into `next`: only service ports that
 * changed are touched (their map elements, their chain and their endpoint chains), in one
 * nft transaction, so an endpoint change costs the same whatever the number of Services.
 */
export function diffScript(prev: ProxyModel, next: ProxyModel, opts: NftOptions): string {
  const t = opts.table;
  const out: string[] = [];
  for (const [id, old] of prev) {
    const cur = next.get(id);
    if (cur === undefined || JSON.stringify(cur) !== JSON.stringify(old))
      out.push(...removeServiceScript(t, old));
  }
  for (const [id, cur] of next) {
    const old = prev.get(id);
    if (old === undefined || JSON.stringify(cur) !== JSON.stringify(old))
      out.push(...addServiceScript(t, cur));
  }
  return out.length === 0 ? "" : out.join("\n") + "\n";
}
