import { affinitySet, endpointChain, type ProxyModel, type ServicePortModel } from "./model.js";

/** Packet mark that asks the postrouting chain to masquerade. */
const MASQ_MARK = "0x4000";

/** Options shared by the script builders. */
export interface NftOptions {
  /** nftables table (family ip). */
  table: string;
  /**
   * The pods' address range. With `externalTrafficPolicy: Local`, NodePort traffic from pods
   * is still cluster traffic (masqueraded, any backend), as kube-proxy's `--cluster-cidr`.
   * @default "" (unknown: only the node's own traffic counts as cluster traffic)
   */
  clusterCIDR?: string;
}

/**
 * One nftables object a service port owns. Chains carry their rule bodies (what follows
 * `add rule ip <table> <chain>`); elements belong to one of the table's shared maps and sets.
 */
type NftObject =
  | { kind: "chain"; name: string; rules: string[] }
  | { kind: "set"; name: string; def: string }
  | { kind: "element"; set: string; key: string; value: string };

/** Rules that pick one of `endpoints`: a client's sticky backend first, else at random. */
function selectRules(m: ServicePortModel, endpoints: readonly string[]): string[] {
  const rules: string[] = [];
  const timeout = m.affinityTimeoutSeconds;
  if (timeout !== undefined) {
    // kube-proxy nftables: one affinity set per backend, checked before the random choice.
    for (const ep of endpoints)
      rules.push(`ip saddr @${affinitySet(m.id, ep, timeout)} goto ${endpointChain(m.id, ep)}`);
  }
  const vmap = endpoints.map((ep, i) => `${String(i)} : goto ${endpointChain(m.id, ep)}`);
  rules.push(`numgen random mod ${String(endpoints.length)} vmap { ${vmap.join(", ")} }`);
  return rules;
}

const MARK_RULE = `meta mark set meta mark | ${MASQ_MARK}`;

/** Every object of one service port, in an order valid for creation. */
function portObjects(m: ServicePortModel, opts: NftOptions): NftObject[] {
  const sets: NftObject[] = [];
  const endpointChains: NftObject[] = [];
  const chains: NftObject[] = [];
  const elements: NftObject[] = [];
  const used = new Set<string>();
  const timeout = m.affinityTimeoutSeconds;
  const useEndpoints = (eps: readonly string[]): void => {
    for (const ep of eps) {
      if (used.has(ep)) continue;
      used.add(ep);
      const rules: string[] = [];
      if (timeout !== undefined) {
        const set = affinitySet(m.id, ep, timeout);
        sets.push({
          kind: "set",
          name: set,
          def: `{ type ipv4_addr ; flags dynamic,timeout ; timeout ${String(timeout)}s ; }`,
        });
        rules.push(`update @${set} { ip saddr }`);
      }
      rules.push(`meta l4proto ${m.protocol} dnat to ${ep}`);
      endpointChains.push({ kind: "chain", name: endpointChain(m.id, ep), rules });
    }
  };
  // Every cluster-IP and in-cluster service connection is masqueraded: pods share one bridge
  // and, without br_netfilter, a reply from a backend to a client on the same bridge would
  // bypass conntrack's reverse translation.
  if (m.endpoints.length > 0) {
    useEndpoints(m.endpoints);
    chains.push({
      kind: "chain",
      name: m.chain,
      rules: [MARK_RULE, ...selectRules(m, m.endpoints)],
    });
    for (const ip of m.clusterIPs)
      elements.push({
        kind: "element",
        set: "service-ips",
        key: `${ip} . ${m.protocol} . ${String(m.port)}`,
        value: `goto ${m.chain}`,
      });
  } else {
    // No backend for cluster traffic: rejected when the Service has none at all, dropped
    // when internalTrafficPolicy Local leaves only backends on other nodes (kube-proxy).
    const onlyRemote = m.clusterEndpoints !== undefined && m.clusterEndpoints.length > 0;
    for (const ip of m.clusterIPs)
      elements.push({
        kind: "element",
        set: "no-endpoint-services",
        key: `${ip} . ${m.protocol} . ${String(m.port)}`,
        value: onlyRemote ? "drop" : "goto reject-chain",
      });
  }
  if (m.nodePort !== undefined) {
    const npKey = `${m.protocol} . ${String(m.nodePort)}`;
    const cluster = m.clusterEndpoints ?? m.endpoints;
    if (cluster.length === 0) {
      elements.push({ kind: "element", set: "no-endpoint-nodeports", key: npKey, value: "" });
    } else {
      // With internalTrafficPolicy Local the cluster-IP chain holds only local backends;
      // NodePort traffic with externalTrafficPolicy Cluster still uses every backend.
      let clusterChain = m.chain;
      if (m.clusterEndpoints !== undefined) {
        clusterChain = m.chain.replace(/^svc-/, "clu-");
        useEndpoints(cluster);
        chains.push({
          kind: "chain",
          name: clusterChain,
          rules: [MARK_RULE, ...selectRules(m, cluster)],
        });
      }
      let target = clusterChain;
      if (m.localEndpoints !== undefined) {
        // externalTrafficPolicy Local (kube-proxy's external chain): traffic from pods and
        // from the node itself is cluster traffic; anything else goes to a local backend
        // without masquerading, so the backend sees the client's address, or is dropped.
        target = m.chain.replace(/^svc-/, "ext-");
        const rules: string[] = [];
        if (opts.clusterCIDR !== undefined && opts.clusterCIDR !== "")
          rules.push(`ip saddr ${opts.clusterCIDR} goto ${clusterChain}`);
        rules.push(`fib saddr type local goto ${clusterChain}`);
        if (m.localEndpoints.length > 0) {
          useEndpoints(m.localEndpoints);
          rules.push(...selectRules(m, m.localEndpoints));
        } else {
          rules.push("drop");
        }
        chains.push({ kind: "chain", name: target, rules });
      }
      elements.push({
        kind: "element",
        set: "service-nodeports",
        key: npKey,
        value: `goto ${target}`,
      });
    }
  }
  return [...sets, ...endpointChains, ...chains, ...elements];
}

const objectId = (o: NftObject): string =>
  o.kind === "element" ? `element ${o.set} ${o.key}` : `${o.kind} ${o.name}`;

const objectContent = (o: NftObject): string =>
  o.kind === "chain" ? o.rules.join("\n") : o.kind === "set" ? o.def : o.value;

function addLines(t: string, objs: readonly NftObject[]): string[] {
  const out: string[] = [];
  // Sets and chains first: rules and map elements refer to them.
  for (const o of objs) {
    if (o.kind === "set") out.push(`add set ip ${t} ${o.name} ${o.def}`);
    else if (o.kind === "chain")
      out.push(`add chain ip ${t} ${o.name}`, `flush chain ip ${t} ${o.name}`);
  }
  for (const o of objs)
    if (o.kind === "chain") for (const r of o.rules) out.push(`add rule ip ${t} ${o.name} ${r}`);
  for (const o of objs) {
    if (o.kind === "element")
      out.push(`add element ip ${t} ${o.set} { ${o.key}${o.value === "" ? "" : ` : ${o.value}`} }`);
  }
  return out;
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
    `add map ip ${t} no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; }`,
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
    // Services without endpoints are rejected at once (kube-proxy: icmp port unreachable),
    // or dropped when internalTrafficPolicy Local finds no backend on this node.
    `add chain ip ${t} filter-input { type filter hook input priority -110 ; policy accept ; }`,
    `add chain ip ${t} filter-forward { type filter hook forward priority -110 ; policy accept ; }`,
    `add chain ip ${t} filter-output { type filter hook output priority -110 ; policy accept ; }`,
    `add chain ip ${t} reject-chain`,
    `add rule ip ${t} reject-chain reject`,
  ];
  for (const c of ["filter-input", "filter-forward", "filter-output"]) {
    out.push(
      `add rule ip ${t} ${c} ct state new ip daddr . meta l4proto . th dport vmap @no-endpoint-services`,
    );
  }
  out.push(
    `add rule ip ${t} filter-input ct state new fib daddr type local meta l4proto . th dport @no-endpoint-nodeports goto reject-chain`,
  );
  const objs: NftObject[] = [];
  for (const m of model.values()) objs.push(...portObjects(m, opts));
  out.push(...addLines(t, objs));
  return out.join("\n") + "\n";
}

/**
 * The incremental script that turns the `prev` rules into `next`, in one nft transaction.
 * Only objects that differ are touched: a changed chain is flushed and refilled in place,
 * map elements are replaced one by one, and chains and sets nothing needs any more are
 * removed, so an endpoint change costs the same whatever the number of Services. Both
 * models may be partial (only the service ports that may have changed), as long as a port
 * absent from `next` but present in `prev` is really gone.
 */
export function diffScript(prev: ProxyModel, next: ProxyModel, opts: NftOptions): string {
  const t = opts.table;
  const before = new Map<string, NftObject>();
  const after = new Map<string, NftObject>();
  for (const m of prev.values()) {
    const cur = next.get(m.id);
    // Unchanged ports cost nothing; the comparison is cheaper than rendering.
    if (cur !== undefined && sameModel(cur, m)) continue;
    for (const o of portObjects(m, opts)) before.set(objectId(o), o);
  }
  for (const m of next.values()) {
    const old = prev.get(m.id);
    if (old !== undefined && sameModel(old, m)) continue;
    for (const o of portObjects(m, opts)) after.set(objectId(o), o);
  }
  const removed: NftObject[] = [];
  const changed: NftObject[] = [];
  for (const [id, o] of before) {
    const n = after.get(id);
    if (n === undefined) removed.push(o);
    else if (objectContent(n) !== objectContent(o)) {
      // A map element's verdict cannot be replaced in place: delete, then add below.
      if (o.kind === "element") removed.push(o);
      // A set's definition cannot change in place either (its name encodes the timeout).
      changed.push(n);
    }
  }
  for (const [id, o] of after) if (!before.has(id)) changed.push(o);
  const out: string[] = [];
  // Step 1: elements that go away or change, so nothing refers to the chains removed below.
  for (const o of removed)
    if (o.kind === "element") out.push(`delete element ip ${t} ${o.set} { ${o.key} }`);
  // Step 2: new and changed sets, chains (flushed and refilled) and elements.
  out.push(...addLines(t, changed));
  // Step 3: chains nothing needs: empty them all first (they may jump to each other), then
  // delete them, then the affinity sets their rules updated.
  for (const o of removed) if (o.kind === "chain") out.push(`flush chain ip ${t} ${o.name}`);
  for (const o of removed) if (o.kind === "chain") out.push(`delete chain ip ${t} ${o.name}`);
  for (const o of removed) if (o.kind === "set") out.push(`delete set ip ${t} ${o.name}`);
  return out.length === 0 ? "" : out.join("\n") + "\n";
}

function sameList(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Whether two models of the same service port render the same rules. */
function sameModel(a: ServicePortModel, b: ServicePortModel): boolean {
  return (
    a.chain === b.chain &&
    a.protocol === b.protocol &&
    a.port === b.port &&
    a.nodePort === b.nodePort &&
    a.affinityTimeoutSeconds === b.affinityTimeoutSeconds &&
    sameList(a.clusterIPs, b.clusterIPs) &&
    sameList(a.endpoints, b.endpoints) &&
    sameList(a.clusterEndpoints, b.clusterEndpoints) &&
    sameList(a.localEndpoints, b.localEndpoints)
  );
}
