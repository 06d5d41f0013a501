import type {
  EndpointAddress,
  EndpointPort,
  EndpointSlice,
  Endpoints,
  Pod,
  Service,
  ServicePort,
} from "../../api/index.js";

/** One backend of a Service as the controllers see it. */
export interface Backend {
  ip: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  nodeName?: string;
  hostname?: string;
  pod: { name: string; namespace: string; uid: string };
  /** Resolved port per service port (same order as the service's ports); undefined = unresolved. */
  ports: (number | undefined)[];
}

/** True when `labels` match every key of the equality `selector`. */
export function selectorMatches(
  selector: Record<string, string>,
  labels: Record<string, string> | undefined,
): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/**
 * Resolves a service port's targetPort against a pod: a number as is, a name against the
 * ports of the pod's regular containers (init containers' ports are never published).
 */
export function resolveTargetPort(sp: ServicePort, pod: Pod): number | undefined {
  const t = sp.targetPort ?? sp.port;
  if (typeof t === "number") return t;
  if (/^\d+$/.test(t)) return Number(t);
  const proto = sp.protocol ?? "TCP";
  for (const c of pod.spec.containers) {
    for (const p of c.ports ?? [])
      if (p.name === t && (p.protocol ?? "TCP") === proto) return p.containerPort;
  }
  return undefined;
}

function isPodReady(pod: Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/**
 * The backends of `svc` among `pods` (upstream endpoints controller rules): pods in the
 * service's namespace matching its selector, with an IP, not terminal; ready = the pod's
 * Ready condition; terminating pods are kept (serving = ready) for EndpointSlices.
 */
export function computeBackends(svc: Service, pods: readonly Pod[]): Backend[] {
  const selector = svc.spec?.selector;
  if (selector === undefined) return [];
  const ns = svc.metadata.namespace;
  const out: Backend[] = [];
  for (const pod of pods) {
    if (pod.metadata.namespace !== ns || !selectorMatches(selector, pod.metadata.labels)) continue;
    const ip = pod.status?.podIP;
    if (ip === undefined || ip === "") continue;
    const phase = pod.status?.phase;
    if (phase === "Succeeded" || phase === "Failed") continue;
    const terminating = pod.metadata.deletionTimestamp !== undefined;
    const ready = isPodReady(pod);
    const b: Backend = {
      ip,
      ready: ready && !terminating,
      serving: ready,
      terminating,
      pod: { name: pod.metadata.name ?? "", namespace: ns ?? "", uid: pod.metadata.uid ?? "" },
      ports: (svc.spec?.ports ?? []).map((sp) => resolveTargetPort(sp, pod)),
    };
    if (pod.spec.nodeName !== undefined) b.nodeName = pod.spec.nodeName;
    // Pods get per-endpoint DNS names when hostname+subdomain name this (headless) service.
    if (pod.spec.hostname !== undefined && pod.spec.subdomain === svc.metadata.name)
      b.hostname = pod.spec.hostname;
    out.push(b);
  }
  return out.sort((a, b) => a.ip.localeCompare(b.ip, undefined, { numeric: true }));
}

function endpointPorts(svc: Service, b: Backend): EndpointPort[] {
  const ports: EndpointPort[] = [];
  (svc.spec?.ports ?? []).forEach((sp, i) => {
    const port = b.ports[i];
    if (port === undefined) return;
    const ep: EndpointPort = { port, protocol: sp.protocol ?? "TCP" };
    if (sp.name !== undefined && sp.name !== "") ep.name = sp.name;
    if (sp.appProtocol !== undefined) ep.appProtocol = sp.appProtocol;
    ports.push(ep);
  });
  return ports;
}

/** The Endpoints subsets for `svc`: one subset per distinct port set, ready and not-ready split. */
export function computeSubsets(
  svc: Service,
  backends: readonly Backend[],
): NonNullable<Endpoints["subsets"]> {
  const publishNotReady = svc.spec?.publishNotReadyAddresses === true;
  const bySig = new Map<
    string,
    { ports: EndpointPort[]; addresses: EndpointAddress[]; notReady: EndpointAddress[] }
  >();
  for (const b of backends) {
    // Terminating pods leave the Endpoints API (unless the service publishes not-ready ones).
    if (b.terminating && !publishNotReady) continue;
    const ports = endpointPorts(svc, b);
    if ((svc.spec?.ports ?? []).length > 0 && ports.length === 0) continue;
    const sig = JSON.stringify(ports);
    let group = bySig.get(sig);
    if (group === undefined) {
      group = { ports, addresses: [], notReady: [] };
      bySig.set(sig, group);
    }
    const addr: EndpointAddress = {
      ip: b.ip,
      targetRef: { kind: "Pod", namespace: b.pod.namespace, name: b.pod.name, uid: b.pod.uid },
    };
    if (b.nodeName !== undefined) addr.nodeName = b.nodeName;
    if (b.hostname !== undefined) addr.hostname = b.hostname;
    if (b.ready || publishNotReady) group.addresses.push(addr);
    else group.notReady.push(addr);
  }
  return [...bySig.values()].map((g) => {
    const subset: NonNullable<Endpoints["subsets"]>[number] = {};
    if (g.addresses.length > 0) subset.addresses = g.addresses;
    if (g.notReady.length > 0) subset.notReadyAddresses = g.notReady;
    if (g.ports.length > 0) subset.ports = g.ports;
    return subset;
  });
}

/** The endpoints and ports of the (single) EndpointSlice for `svc`. */
export function computeSlice(
  svc: Service,
  backends: readonly Backend[],
): Pick<EndpointSlice, "endpoints" | "ports"> {
  const publishNotReady = svc.spec?.publishNotReadyAddresses === true;
  const ports = (svc.spec?.ports ?? []).map((sp, i): EndpointPort => {
    const p: EndpointPort = { port: backends[0]?.ports[i] ?? 0, protocol: sp.protocol ?? "TCP" };
    if (sp.name !== undefined && sp.name !== "") p.name = sp.name;
    return p;
  });
  return {
    endpoints: backends.map((b) => {
      const ep: EndpointSlice["endpoints"][number] = {
        addresses: [b.ip],
        conditions: {
          ready: b.ready || (publishNotReady && !b.terminating),
          serving: b.serving,
          terminating: b.terminating,
        },
        targetRef: { kind: "Pod", namespace: b.pod.namespace, name: b.pod.name, uid: b.pod.uid },
      };
      if (b.nodeName !== undefined) ep.nodeName = b.nodeName;
      if (b.hostname !== undefined) ep.hostname = b.hostname;
      return ep;
    }),
    ports: ports.filter((p) => p.port !== 0),
  };
}

/** The slice contents mirrored from a user-managed Endpoints object (selector-less Service). */
export function mirrorSlice(ep: Endpoints): Pick<EndpointSlice, "endpoints" | "ports"> {
  const endpoints: EndpointSlice["endpoints"] = [];
  let ports: EndpointPort[] = [];
  for (const s of ep.subsets ?? []) {
    ports = s.ports ?? ports;
    for (const [list, ready] of [
      [s.addresses ?? [], true],
      [s.notReadyAddresses ?? [], false],
    ] as const) {
      for (const a of list) {
        const e: EndpointSlice["endpoints"][number] = {
          addresses: [a.ip],
          conditions: { ready, serving: ready, terminating: false },
        };
        if (a.hostname !== undefined) e.hostname = a.hostname;
        if (a.nodeName !== undefined) e.nodeName = a.nodeName;
        endpoints.push(e);
      }
    }
  }
  return { endpoints, ports };
}
