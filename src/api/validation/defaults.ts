import type {
  Container,
  ContainerPort,
  DownwardAPIVolumeFile,
  EnvVar,
  HTTPGetAction,
  Lifecycle,
  Namespace,
  Pod,
  PodStatus,
  Probe,
  Quantity,
  Secret,
  Service,
  Toleration,
  Volume,
} from "../core.js";
import type { KubeObject } from "../meta.js";
import { imageTagForDefaulting } from "./image.js";
import { tryParseQuantity } from "./quantity.js";

/** Seconds the admission plugin lets a pod tolerate not-ready / unreachable nodes. */
export const DEFAULT_TOLERATION_SECONDS = 300;

/**
 * Applies API defaults (and the admission defaults podrun emulates) to `obj` in place.
 * Only missing fields are filled, so calling it again is a no-op. Kinds without defaults
 * are left untouched. Pure: no I/O.
 */
export function applyDefaults(kind: string, group: string, obj: KubeObject): void {
  if (group !== "") return;
  switch (kind) {
    case "Pod":
      defaultPod(obj as Pod);
      return;
    case "Service":
      defaultService(obj);
      return;
    case "Secret":
      defaultSecret(obj);
      return;
    case "Namespace":
      defaultNamespace(obj);
      return;
    default:
      return;
  }
}

function defaultPod(pod: Pod): void {
  // A wrong-typed spec is reported by validation; defaulting must not crash on it.
  if (!isObject(pod.spec)) return;
  const spec = pod.spec;
  spec.restartPolicy ??= "Always";
  spec.dnsPolicy ??= "ClusterFirst";
  spec.terminationGracePeriodSeconds ??= 30;
  spec.enableServiceLinks ??= true;
  spec.schedulerName ??= "default-scheduler";
  spec.securityContext ??= {};
  // Admission (ServiceAccount, DefaultTolerationSeconds, Priority) emulated here.
  spec.serviceAccountName ??= spec.serviceAccount ?? "default";
  spec.serviceAccount ??= spec.serviceAccountName;
  spec.priority ??= 0;
  spec.preemptionPolicy ??= "PreemptLowerPriority";
  spec.tolerations ??= [];
  if (!Array.isArray(spec.tolerations)) return;
  for (const key of ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"]) {
    if (!spec.tolerations.some((t) => toleratesNoExecute(t, key))) {
      spec.tolerations.push({
        key,
        operator: "Exists",
        effect: "NoExecute",
        tolerationSeconds: DEFAULT_TOLERATION_SECONDS,
      });
    }
  }
  const hostNetwork = spec.hostNetwork === true;
  for (const list of [spec.initContainers, spec.containers, spec.ephemeralContainers]) {
    if (!Array.isArray(list)) continue;
    for (const c of list) if (isObject(c)) defaultContainer(c, hostNetwork);
  }
  if (Array.isArray(spec.volumes)) for (const v of spec.volumes) if (isObject(v)) defaultVolume(v);
  pod.status ??= {};
  pod.status.phase ??= "Pending";
  pod.status.qosClass ??= computeQosClass(pod);
}

/** True if `t` tolerates the NoExecute taint `key` (no value), as the admission plugin checks. */
function toleratesNoExecute(t: Toleration, key: string): boolean {
  if (!isObject(t)) return false;
  if (t.effect !== undefined && (t.effect as string) !== "" && t.effect !== "NoExecute")
    return false;
  if (t.key === undefined || t.key === "") return t.operator === "Exists";
  if (t.key !== key) return false;
  return t.operator === "Exists" || t.value === undefined || t.value === "";
}

function defaultContainer(c: Container, hostNetwork: boolean): void {
  // PL-IMG-1: `latest` (or no tag) pulls always; any other tag or a digest only if absent.
  c.imagePullPolicy ??=
    imageTagForDefaulting(c.image ?? "") === "latest" ? "Always" : "IfNotPresent";
  c.terminationMessagePath ??= "/dev/termination-log";
  c.terminationMessagePolicy ??= "File";
  c.resources ??= {};
  if (Array.isArray(c.ports)) for (const p of c.ports) if (isObject(p)) defaultPort(p, hostNetwork);
  if (Array.isArray(c.env)) for (const e of c.env) if (isObject(e)) defaultEnv(e);
  for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) {
    if (isObject(probe)) defaultProbe(probe);
  }
  if (isObject(c.lifecycle)) defaultLifecycle(c.lifecycle);
  defaultRequestsFromLimits(c);
}

function defaultPort(p: ContainerPort, hostNetwork: boolean): void {
  p.protocol ??= "TCP";
  // With hostNetwork the container port is the host port (SetDefaults_Pod).
  if (hostNetwork && (p.hostPort === undefined || p.hostPort === 0)) p.hostPort = p.containerPort;
}

function defaultEnv(e: EnvVar): void {
  const ref = e.valueFrom?.fieldRef;
  if (isObject(ref)) ref.apiVersion ??= "v1";
}

/** Go zero values mean "unset" for these fields, so an explicit 0 also gets the default. */
function defaultProbe(p: Probe): void {
  if (p.timeoutSeconds === undefined || p.timeoutSeconds === 0) p.timeoutSeconds = 1;
  if (p.periodSeconds === undefined || p.periodSeconds === 0) p.periodSeconds = 10;
  if (p.successThreshold === undefined || p.successThreshold === 0) p.successThreshold = 1;
  if (p.failureThreshold === undefined || p.failureThreshold === 0) p.failureThreshold = 3;
  p.initialDelaySeconds ??= 0;
  if (isObject(p.httpGet)) defaultHttpGet(p.httpGet);
  if (isObject(p.grpc)) p.grpc.service ??= "";
}

function defaultHttpGet(h: HTTPGetAction): void {
  if (h.path === undefined || h.path === "") h.path = "/";
  h.scheme ??= "HTTP";
}

function defaultLifecycle(l: Lifecycle): void {
  for (const h of [l.postStart, l.preStop]) {
    if (isObject(h) && isObject(h.httpGet)) defaultHttpGet(h.httpGet);
  }
}

/** PL-RES-1: a resource with a limit but no request gets request = limit. */
function defaultRequestsFromLimits(c: Container): void {
  const limits = c.resources?.limits;
  if (!isObject(limits) || c.resources === undefined) return;
  const keys = Object.keys(limits);
  if (keys.length === 0) return;
  c.resources.requests ??= {};
  const requests = c.resources.requests;
  for (const k of keys) {
    const v = limits[k];
    if (v !== undefined && requests[k] === undefined) requests[k] = v;
  }
}

function defaultVolume(v: Volume): void {
  const sources = VOLUME_SOURCES.filter(
    (s) => (v as unknown as Record<string, unknown>)[s] !== undefined,
  );
  // SetDefaults_Volume: a volume with no source is an emptyDir.
  if (sources.length === 0) v.emptyDir = {};
  if (isObject(v.secret)) v.secret.defaultMode ??= 420;
  if (isObject(v.configMap)) v.configMap.defaultMode ??= 420;
  if (isObject(v.downwardAPI)) {
    v.downwardAPI.defaultMode ??= 420;
    defaultDownwardItems(v.downwardAPI.items);
  }
  if (isObject(v.projected)) {
    v.projected.defaultMode ??= 420;
    for (const s of v.projected.sources ?? []) {
      if (isObject(s.downwardAPI)) defaultDownwardItems(s.downwardAPI.items);
      if (isObject(s.serviceAccountToken)) s.serviceAccountToken.expirationSeconds ??= 3600;
    }
  }
  if (isObject(v.hostPath)) v.hostPath.type ??= "";
}

function defaultDownwardItems(items: DownwardAPIVolumeFile[] | undefined): void {
  if (!Array.isArray(items)) return;
  for (const it of items)
    if (isObject(it) && isObject(it.fieldRef)) it.fieldRef.apiVersion ??= "v1";
}

/** Volume source field names, in upstream's declaration order. */
export const VOLUME_SOURCES = [
  "hostPath",
  "emptyDir",
  "gcePersistentDisk",
  "awsElasticBlockStore",
  "gitRepo",
  "secret",
  "nfs",
  "iscsi",
  "glusterfs",
  "persistentVolumeClaim",
  "rbd",
  "flexVolume",
  "cinder",
  "cephfs",
  "flocker",
  "downwardAPI",
  "fc",
  "azureFile",
  "configMap",
  "vsphereVolume",
  "quobyte",
  "azureDisk",
  "photonPersistentDisk",
  "projected",
  "portworxVolume",
  "scaleIO",
  "storageos",
  "csi",
  "ephemeral",
  "image",
] as const;

function quantityValue(q: Quantity | undefined): number {
  if (q === undefined) return 0;
  return tryParseQuantity(q)?.value ?? 0;
}

/**
 * The pod's QoS class (PL-RES-2), from cpu and memory requests and limits of the init and
 * regular containers (ephemeral containers do not count).
 */
export function computeQosClass(pod: Pod): NonNullable<PodStatus["qosClass"]> {
  const requests = new Map<string, number>();
  const limits = new Map<string, number>();
  let isGuaranteed = true;
  const all = [
    ...(pod.spec.initContainers ?? []),
    ...(Array.isArray(pod.spec.containers) ? pod.spec.containers : []),
  ];
  for (const c of all) {
    if (!isObject(c)) continue;
    const found = new Set<string>();
    for (const name of ["cpu", "memory"]) {
      const r = quantityValue(c.resources?.requests?.[name]);
      if (r !== 0) requests.set(name, (requests.get(name) ?? 0) + r);
      const l = quantityValue(c.resources?.limits?.[name]);
      if (l !== 0) {
        found.add(name);
        limits.set(name, (limits.get(name) ?? 0) + l);
      }
    }
    if (found.size < 2) isGuaranteed = false;
  }
  if (requests.size === 0 && limits.size === 0) return "BestEffort";
  if (isGuaranteed) {
    for (const [name, r] of requests) if (limits.get(name) !== r) isGuaranteed = false;
  }
  return isGuaranteed && requests.size === limits.size ? "Guaranteed" : "Burstable";
}

/** The status of a newly created pod: `{phase: "Pending", qosClass}` (pod strategy PrepareForCreate). */
export function newPodStatus(pod: Pod): PodStatus {
  return { phase: "Pending", qosClass: computeQosClass(pod) };
}

/** `sessionAffinityConfig.clientIP.timeoutSeconds` when ClientIP affinity leaves it unset. */
export const DEFAULT_CLIENT_IP_AFFINITY_SECONDS = 10_800;

function defaultService(svc: Service): void {
  svc.spec ??= {};
  const spec = svc.spec;
  spec.type ??= "ClusterIP";
  spec.sessionAffinity ??= "None";
  if (Array.isArray(spec.ports)) {
    for (const p of spec.ports) {
      if (!isObject(p)) continue;
      p.protocol ??= "TCP";
      if (p.targetPort === undefined || p.targetPort === 0 || p.targetPort === "") {
        p.targetPort = p.port;
      }
    }
  }
  if (spec.type !== "ExternalName") {
    spec.internalTrafficPolicy ??= "Cluster";
    spec.ipFamilies ??= ["IPv4"];
    spec.ipFamilyPolicy ??= "SingleStack";
    if (spec.clusterIP !== undefined && spec.clusterIP !== "" && spec.clusterIPs === undefined) {
      spec.clusterIPs = [spec.clusterIP];
    }
  }
  if (spec.type === "NodePort" || spec.type === "LoadBalancer") {
    spec.externalTrafficPolicy ??= "Cluster";
  }
  // Upstream fills the whole config (only) for ClientIP affinity when the timeout is missing.
  if (
    spec.sessionAffinity === "ClientIP" &&
    !(
      isObject(spec.sessionAffinityConfig) &&
      isObject(spec.sessionAffinityConfig.clientIP) &&
      spec.sessionAffinityConfig.clientIP.timeoutSeconds !== undefined
    )
  ) {
    spec.sessionAffinityConfig = {
      clientIP: { timeoutSeconds: DEFAULT_CLIENT_IP_AFFINITY_SECONDS },
    };
  }
}

function defaultSecret(secret: Secret): void {
  secret.type ??= "Opaque";
  // stringData is write-only: merged into data (base64), then dropped (secret strategy).
  if (isObject(secret.stringData)) {
    secret.data ??= {};
    // A wrongly typed data field is reported by the decode check; leave the body alone.
    if (!isObject(secret.data)) return;
    for (const [k, v] of Object.entries(secret.stringData)) {
      secret.data[k] = Buffer.from(v, "utf8").toString("base64");
    }
  }
  delete secret.stringData;
}

function defaultNamespace(ns: Namespace): void {
  ns.spec ??= {};
  ns.spec.finalizers ??= ["kubernetes"];
  ns.status ??= {};
  ns.status.phase ??= "Active";
}

function isObject<T>(v: T | null | undefined): v is T {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
