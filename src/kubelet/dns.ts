import type { Pod } from "../api/index.js";
import { ContainerConfigError } from "./env.js";

/** Node-wide DNS settings of the kubelet. */
export interface DnsConfig {
  /** Cluster domain, conventionally `cluster.local`; empty = host search list only (PL-DNS-2). */
  clusterDomain: string;
  /** Cluster DNS server IPs; empty = ClusterFirst falls back to the host policy. */
  clusterDNS: string[];
  /** Contents of the node's resolv.conf; empty = "no resolver file" (PL-DNS-3). */
  hostResolvConf: string;
  /** Contents of the node's /etc/hosts (PL-DNS-11). */
  hostHosts: string;
  nodeHostname: string;
}

/** An event the caller should record on the pod (and, for MissingClusterDNS, the node). */
export interface DnsWarning {
  reason: string;
  message: string;
}

/** The per-pod DNS files. */
export interface PodDnsFiles {
  /** The container's /etc/resolv.conf (PL-DNS-7). */
  resolvConf: string;
  /** The container's /etc/hosts (PL-DNS-10/11). */
  hosts: string;
  /** The kernel (UTS) hostname (PL-DNS-9). */
  hostname: string;
  /** Warning events to emit (`DNSConfigForming`, `MissingClusterDNS`). */
  warnings: DnsWarning[];
}

const MAX_NAMESERVERS = 3;
const MAX_SEARCH_PATHS = 32;
const MAX_SEARCH_CHARS = 2048;
const MAX_SEARCH_DOMAIN_LEN = 253;
const MAX_HOSTNAME_LEN = 63;
const MAX_FQDN_LEN = 64;

/** `<name>_<namespace>(<uid>)` (upstream `format.Pod`). */
export function podDesc(pod: Pod): string {
  return `${pod.metadata.name ?? ""}_${pod.metadata.namespace ?? ""}(${pod.metadata.uid ?? ""})`;
}

interface ResolvConf {
  servers: string[];
  searches: string[];
  options: string[];
}

/** Parses a resolv.conf like upstream `parseResolvConf`. */
export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { servers: [], searches: [], options: [] };
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line.startsWith(";")) continue;
    const fields = line
      .trim()
      .split(/\s+/)
      .filter((f) => f !== "");
    const [kw, ...rest] = fields;
    if (kw === "nameserver" && rest[0] !== undefined) out.servers.push(rest[0]);
    if (kw === "search") {
      // The last search line wins; "x." and "x" count once.
      out.searches = rest.filter((s) => s !== ".").map((s) => s.replace(/\.$/, ""));
    }
    if (kw === "options") out.options = mergeOptions(out.options, rest.map(splitOption));
  }
  return out;
}

function splitOption(op: string): [string, string] {
  const i = op.indexOf(":");
  return i === -1 ? [op, ""] : [op.slice(0, i), op.slice(i + 1)];
}

/** Merges options by name, later ones overriding (upstream `mergeDNSOptions`, PL-DNS-5). */
function mergeOptions(existing: string[], added: [string, string][]): string[] {
  const m = new Map<string, string>(existing.map(splitOption));
  for (const [name, value] of added) m.set(name, value);
  return [...m].map(([name, value]) => (value === "" ? name : `${name}:${value}`));
}

function omitDuplicates(xs: string[]): string[] {
  return [...new Set(xs)];
}

function effectivePolicy(pod: Pod): "none" | "cluster" | "host" {
  switch (pod.spec.dnsPolicy ?? "ClusterFirst") {
    case "None":
      return "none";
    case "ClusterFirstWithHostNet":
      return "cluster";
    case "ClusterFirst":
      return pod.spec.hostNetwork === true ? "host" : "cluster";
    case "Default":
      return "host";
  }
}

/** Applies the nameserver and search limits (upstream `formDNSConfigFitsLimits`, PL-DNS-6). */
function fitLimits(rc: ResolvConf, warnings: DnsWarning[]): ResolvConf {
  let servers = rc.servers;
  if (servers.length > MAX_NAMESERVERS) {
    servers = servers.slice(0, MAX_NAMESERVERS);
    warnings.push({
      reason: "DNSConfigForming",
      message: `Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: ${servers.join(" ")}`,
    });
  }
  let searches = rc.searches;
  let exceeded = false;
  if (searches.length > MAX_SEARCH_PATHS) {
    searches = searches.slice(0, MAX_SEARCH_PATHS);
    exceeded = true;
  }
  // Some resolvers abort on a search path over 255 characters, so those are dropped.
  const kept = searches.filter((s) => s.length <= MAX_SEARCH_DOMAIN_LEN);
  if (kept.length !== searches.length) exceeded = true;
  searches = kept;
  const lineLen = searches.join(" ").length;
  if (lineLen > MAX_SEARCH_CHARS) {
    let cutLen = 0;
    let cutNum = 0;
    for (let i = searches.length - 1; i >= 0; i--) {
      cutLen += (searches[i]?.length ?? 0) + 1;
      cutNum++;
      if (lineLen - cutLen <= MAX_SEARCH_CHARS) break;
    }
    searches = searches.slice(0, searches.length - cutNum);
    exceeded = true;
  }
  if (exceeded) {
    warnings.push({
      reason: "DNSConfigForming",
      message: `Search Line limits were exceeded, some search paths have been omitted, the applied search line is: ${searches.join(" ")}`,
    });
  }
  return { servers, searches, options: rc.options };
}

/** The resolver configuration of a pod (PL-DNS-1..6). */
function podResolvConf(pod: Pod, cfg: DnsConfig, warnings: DnsWarning[]): ResolvConf {
  const host = parseResolvConf(cfg.hostResolvConf);
  let rc: ResolvConf = { servers: [], searches: [], options: [] };
  let policy = effectivePolicy(pod);
  if (policy === "cluster" && cfg.clusterDNS.length === 0) {
    const msg = `kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.`;
    warnings.push({
      reason: "MissingClusterDNS",
      message: `pod: ${JSON.stringify(podDesc(pod))}. ${msg}`,
    });
    policy = "host";
  }
  if (policy === "cluster") {
    const ns = pod.metadata.namespace ?? "default";
    const d = cfg.clusterDomain;
    rc = {
      servers: [...cfg.clusterDNS],
      searches:
        d === ""
          ? host.searches
          : omitDuplicates([`${ns}.svc.${d}`, `svc.${d}`, d, ...host.searches]),
      options: ["ndots:5"],
    };
  } else if (policy === "host") {
    rc =
      cfg.hostResolvConf.trim() === ""
        ? { servers: ["127.0.0.1"], searches: ["."], options: [] }
        : host;
  }
  const dc = pod.spec.dnsConfig;
  if (dc !== undefined) {
    rc = {
      servers: omitDuplicates([...rc.servers, ...(dc.nameservers ?? [])]),
      searches: omitDuplicates([...rc.searches, ...(dc.searches ?? [])]),
      options: mergeOptions(
        rc.options,
        (dc.options ?? []).map((o): [string, string] => [o.name, o.value ?? ""]),
      ),
    };
  }
  return fitLimits(rc, warnings);
}

/** Renders a resolv.conf (PL-DNS-7). */
export function renderResolvConf(rc: ResolvConf): string {
  let out = "";
  if (rc.searches.length > 0) out += `search ${rc.searches.join(" ")}\n`;
  for (const s of rc.servers) out += `nameserver ${s}\n`;
  if (rc.options.length > 0) out += `options ${rc.options.join(" ")}\n`;
  return out;
}

/**
 * The pod's short hostname and domain (upstream `GeneratePodHostNameAndDomain`, PL-DNS-8):
 * `spec.hostname` or the pod name, cut to 63 characters without trailing `-`/`.`.
 */
export function podHostnameAndDomain(
  pod: Pod,
  clusterDomain: string,
): { hostname: string; domain: string } {
  let hostname = pod.spec.hostname ?? "";
  if (hostname === "") hostname = pod.metadata.name ?? "";
  if (hostname.length > MAX_HOSTNAME_LEN) {
    hostname = hostname.slice(0, MAX_HOSTNAME_LEN).replace(/[-.]+$/, "");
  }
  const sub = pod.spec.subdomain ?? "";
  const domain =
    sub === "" ? "" : `${sub}.${pod.metadata.namespace ?? "default"}.svc.${clusterDomain}`;
  return { hostname, domain };
}

function hostAliasesBlock(pod: Pod): string {
  const aliases = pod.spec.hostAliases ?? [];
  if (aliases.length === 0) return "";
  let out = "\n# Entries added by HostAliases.\n";
  for (const a of aliases) out += `${a.ip}\t${(a.hostnames ?? []).join("\t")}\n`;
  return out;
}

/**
 * The files a pod's containers see: resolv.conf, /etc/hosts and the kernel hostname
 * (PL-DNS-1..11). Pure. Throws ContainerConfigError when `setHostnameAsFQDN` yields an FQDN
 * over 64 characters (PL-DNS-9). `warnings` are events for the caller to record.
 */
export function podDnsFiles(pod: Pod, podIPs: string[], cfg: DnsConfig): PodDnsFiles {
  const warnings: DnsWarning[] = [];
  const resolvConf = renderResolvConf(podResolvConf(pod, cfg, warnings));
  const { hostname, domain } = podHostnameAndDomain(pod, cfg.clusterDomain);

  let uts = hostname;
  if (pod.spec.setHostnameAsFQDN === true && domain !== "") {
    const fqdn = `${hostname}.${domain}`;
    if (fqdn.length > MAX_FQDN_LEN) {
      throw new ContainerConfigError(
        `failed to construct FQDN from pod hostname and cluster domain, FQDN ${fqdn} is too long (${MAX_FQDN_LEN} characters is the max, ${fqdn.length} characters requested)`,
      );
    }
    uts = fqdn;
  }

  let hosts: string;
  if (pod.spec.hostNetwork === true) {
    hosts =
      "# Kubernetes-managed hosts file (host network).\n" + cfg.hostHosts + hostAliasesBlock(pod);
    uts = cfg.nodeHostname;
  } else {
    hosts =
      "# Kubernetes-managed hosts file.\n" +
      "127.0.0.1\tlocalhost\n" +
      "::1\tlocalhost ip6-localhost ip6-loopback\n" +
      "fe00::0\tip6-localnet\n" +
      "fe00::0\tip6-mcastprefix\n" +
      "fe00::1\tip6-allnodes\n" +
      "fe00::2\tip6-allrouters\n";
    for (const ip of podIPs) {
      hosts +=
        domain === "" ? `${ip}\t${hostname}\n` : `${ip}\t${hostname}.${domain}\t${hostname}\n`;
    }
    hosts += hostAliasesBlock(pod);
  }
  return { resolvConf, hosts, hostname: uts, warnings };
}
