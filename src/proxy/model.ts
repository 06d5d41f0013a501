import { createHash } from "node:crypto";
import type { EndpointSlice, Service } from "../api/index.js";

/** One service port the proxy forwards: its virtual addresses and its backends. */
export interface ServicePortModel {
  /** `ns/name/port-name/proto`: stable identity of the forwarding rule. */
  id: string;
  chain: string;
  protocol: "tcp" | "udp" | "sctp";
  clusterIPs: string[];
  port: number;
  nodePort?: number;
  /**
   * `ip:port` of each backend for cluster-IP traffic, sorted: every usable endpoint, or only
   * this node's when `internalTrafficPolicy` is Local.
   */
  endpoints: string[];
  /**
   * `ip:port` of each backend for NodePort traffic, sorted, when it differs from `endpoints`
   * (kube-proxy's "cluster" endpoints: every usable endpoint whatever the internal policy).
   * Undefined when it is the same list.
   */
  clusterEndpoints?: string[];
  /**
   * `externalTrafficPolicy: Local` on a NodePort: the backends on this node, sorted. NodePort
   * traffic from outside the node goes only to these and keeps its source address.
   */
  localEndpoints?: string[];
  /** `sessionAffinity: ClientIP`: how long a client sticks to its backend. */
  affinityTimeoutSeconds?: number;
}

/** The desired forwarding state: service ports by id. */
export type ProxyModel = Map<string, ServicePortModel>;

/** What {@link buildModel} needs to know about the node it runs on. */
export interface ModelOptions {
  /** Endpoints whose EndpointSlice `nodeName` is this are local. @default "" (none is) */
  nodeName?: string;
}

/** `sessionAffinityConfig.clientIP.timeoutSeconds` when unset (upstream's default, 3 hours). */
export const DEFAULT_AFFINITY_TIMEOUT_SECONDS = 10_800;

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

/** The nftables set of client addresses stuck to one backend (session affinity). */
export function affinitySet(id: string, endpoint: string, timeoutSeconds: number): string {
  return `aff-${short(`${id}|${endpoint}|${String(timeoutSeconds)}`)}`;
}

/** The key of the Service an EndpointSlice belongs to (`ns/name`), if it names one. */
export function sliceServiceKey(slice: EndpointSlice): string | undefined {
  const name = slice.metadata.labels?.["kubernetes.io/service-name"];
  return name === undefined ? undefined : `${slice.metadata.namespace ?? ""}/${name}`;
}

/** The key of a Service (`ns/name`). */
export function serviceKey(svc: Service): string {
  return `${svc.metadata.namespace ?? ""}/${svc.metadata.name ?? ""}`;
}

interface Backend {
  addr: string;
  isLocal: boolean;
  isReady: boolean;
  isServingTerminating: boolean;
}

/**
 * kube-proxy's endpoint categorisation: ready endpoints, or — when none is ready — the serving
 * terminating ones, so connections drain instead of failing.
 */
function usable(backends: readonly Backend[]): string[] {
  const ready = backends.filter((b) => b.isReady);
  const pick = ready.length > 0 ? ready : backends.filter((b) => b.isServingTerminating);
  return [...new Set(pick.map((b) => b.addr))].sort();
}

/**
 * The forwarding model of one Service (see {@link buildModel}); `slices` may include slices
 * of other Services, which are ignored.
 */
export function buildServiceModel(
  svc: Service,
  slices: readonly EndpointSlice[],
  opts: ModelOptions = {},
): ServicePortModel[] {
  const spec = svc.spec;
  if (spec === undefined || spec.type === "ExternalName") return [];
  const ips = (spec.clusterIPs ?? (spec.clusterIP !== undefined ? [spec.clusterIP] : [])).filter(
    (ip) => ip !== "" && ip !== "None" && !ip.includes(":"),
  );
  if (ips.length === 0) return [];
  const key = serviceKey(svc);
  const mine = slices.filter((s) => s.addressType === "IPv4" && sliceServiceKey(s) === key);
  const nodeName = opts.nodeName ?? "";
  const affinity =
    spec.sessionAffinity === "ClientIP"
      ? (spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_TIMEOUT_SECONDS)
      : undefined;
  const out: ServicePortModel[] = [];
  for (const sp of spec.ports ?? []) {
    const protocol = (sp.protocol ?? "TCP").toLowerCase() as ServicePortModel["protocol"];
    const id = `${key}/${sp.name ?? ""}/${protocol}`;
    const backends: Backend[] = [];
    for (const slice of mine) {
      const port = slice.ports?.find(
        (p) =>
          (p.name ?? "") === (sp.name ?? "") && (p.protocol ?? "TCP").toLowerCase() === protocol,
      );
      if (port?.port === undefined) continue;
      for (const ep of slice.endpoints) {
        const c = ep.conditions ?? {};
        for (const ip of ep.addresses) {
          backends.push({
            addr: `${ip}:${String(port.port)}`,
            // Upstream: an endpoint is local when its nodeName is this node's name.
            isLocal: nodeName !== "" && ep.nodeName === nodeName,
            isReady: c.ready !== false,
            isServingTerminating: c.serving === true && c.terminating === true,
          });
        }
      }
    }
    const all = usable(backends);
    const local = usable(backends.filter((b) => b.isLocal));
    const m: ServicePortModel = {
      id,
      chain: serviceChain(id),
      protocol,
      clusterIPs: ips,
      port: sp.port,
      endpoints: spec.internalTrafficPolicy === "Local" ? local : all,
    };
    if ((spec.type === "NodePort" || spec.type === "LoadBalancer") && sp.nodePort !== undefined) {
      m.nodePort = sp.nodePort;
      if (spec.internalTrafficPolicy === "Local") m.clusterEndpoints = all;
      if (spec.externalTrafficPolicy === "Local") m.localEndpoints = local;
    }
    if (affinity !== undefined) m.affinityTimeoutSeconds = affinity;
    out.push(m);
  }
  return out;
}

/**
 * Builds the forwarding model from Services and EndpointSlices (kube-proxy semantics):
 * ClusterIP, NodePort and LoadBalancer Services with a cluster IP; backends are ready
 * endpoints, or — when none is ready — serving terminating ones; `internalTrafficPolicy:
 * Local` keeps cluster-IP traffic and `externalTrafficPolicy: Local` NodePort traffic on this
 * node's endpoints; headless and ExternalName Services are not proxied.
 */
export function buildModel(
  services: readonly Service[],
  slices: readonly EndpointSlice[],
  opts: ModelOptions = {},
): ProxyModel {
  const bySvc = new Map<string, EndpointSlice[]>();
  for (const s of slices) {
    const key = sliceServiceKey(s);
    if (key === undefined) continue;
    const list = bySvc.get(key);
    if (list === undefined) bySvc.set(key, [s]);
    else list.push(s);
  }
  const model: ProxyModel = new Map();
  for (const svc of services) {
    for (const m of buildServiceModel(svc, bySvc.get(serviceKey(svc)) ?? [], opts))
      model.set(m.id, m);
  }
  return model;
}
