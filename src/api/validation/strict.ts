import { ApiError } from "../errors.js";

// Hand-written field lists for strict decoding (KA-CREATE-3): enough of the core/v1 schema to
// name unknown fields and wrong JSON types the way upstream's decoder does.

/** A leaf: s string, i integer, n number, b bool, q quantity, ios int-or-string, any, ms map of strings. */
type Leaf = "s" | "i" | "i64" | "n" | "b" | "q" | "ios" | "any" | "ms" | "mq" | "mb";
/** A struct schema with its Go type name (used in type-error messages). */
interface Struct {
  go: string;
  f: Record<string, Schema>;
}
type Schema = Leaf | Struct | SchemaList;
interface SchemaList extends ReadonlyArray<Schema> {
  0: Schema;
}

function isList(s: Schema): s is SchemaList {
  return Array.isArray(s);
}

function st(go: string, f: Record<string, Schema>): Struct {
  return { go, f };
}

const ownerReference = st("OwnerReference", {
  apiVersion: "s",
  kind: "s",
  name: "s",
  uid: "s",
  controller: "b",
  blockOwnerDeletion: "b",
});
const objectMeta = st("ObjectMeta", {
  name: "s",
  generateName: "s",
  namespace: "s",
  selfLink: "s",
  uid: "s",
  resourceVersion: "s",
  generation: "i64",
  creationTimestamp: "any",
  deletionTimestamp: "any",
  deletionGracePeriodSeconds: "i64",
  labels: "ms",
  annotations: "ms",
  ownerReferences: [ownerReference],
  finalizers: ["s"],
  managedFields: ["any"],
});
const keyToPath = st("KeyToPath", { key: "s", path: "s", mode: "i" });
const objectFieldSelector = st("ObjectFieldSelector", { apiVersion: "s", fieldPath: "s" });
const resourceFieldSelector = st("ResourceFieldSelector", {
  containerName: "s",
  resource: "s",
  divisor: "q",
});
const downwardFile = st("DownwardAPIVolumeFile", {
  path: "s",
  fieldRef: objectFieldSelector,
  resourceFieldRef: resourceFieldSelector,
  mode: "i",
});
const volume = st("Volume", {
  name: "s",
  emptyDir: st("EmptyDirVolumeSource", { medium: "s", sizeLimit: "q" }),
  hostPath: st("HostPathVolumeSource", { path: "s", type: "s" }),
  configMap: st("ConfigMapVolumeSource", {
    name: "s",
    items: [keyToPath],
    defaultMode: "i",
    optional: "b",
  }),
  secret: st("SecretVolumeSource", {
    secretName: "s",
    items: [keyToPath],
    defaultMode: "i",
    optional: "b",
  }),
  downwardAPI: st("DownwardAPIVolumeSource", { items: [downwardFile], defaultMode: "i" }),
  projected: st("ProjectedVolumeSource", {
    defaultMode: "i",
    sources: [
      st("VolumeProjection", {
        secret: st("SecretProjection", { name: "s", items: [keyToPath], optional: "b" }),
        configMap: st("ConfigMapProjection", { name: "s", items: [keyToPath], optional: "b" }),
        downwardAPI: st("DownwardAPIProjection", { items: [downwardFile] }),
        serviceAccountToken: st("ServiceAccountTokenProjection", {
          audience: "s",
          expirationSeconds: "i64",
          path: "s",
        }),
        clusterTrustBundle: "any",
      }),
    ],
  }),
  persistentVolumeClaim: st("PersistentVolumeClaimVolumeSource", { claimName: "s", readOnly: "b" }),
  nfs: "any",
  iscsi: "any",
  csi: "any",
  ephemeral: "any",
  image: "any",
  gitRepo: "any",
  gcePersistentDisk: "any",
  awsElasticBlockStore: "any",
  glusterfs: "any",
  rbd: "any",
  flexVolume: "any",
  cinder: "any",
  cephfs: "any",
  flocker: "any",
  fc: "any",
  azureFile: "any",
  vsphereVolume: "any",
  quobyte: "any",
  azureDisk: "any",
  photonPersistentDisk: "any",
  portworxVolume: "any",
  scaleIO: "any",
  storageos: "any",
});
const httpHeader = st("HTTPHeader", { name: "s", value: "s" });
const execAction = st("ExecAction", { command: ["s"] });
const httpGet = st("HTTPGetAction", {
  path: "s",
  port: "ios",
  host: "s",
  scheme: "s",
  httpHeaders: [httpHeader],
});
const tcpSocket = st("TCPSocketAction", { port: "ios", host: "s" });
const probe = st("Probe", {
  exec: execAction,
  httpGet,
  tcpSocket,
  grpc: st("GRPCAction", { port: "i", service: "s" }),
  initialDelaySeconds: "i",
  timeoutSeconds: "i",
  periodSeconds: "i",
  successThreshold: "i",
  failureThreshold: "i",
  terminationGracePeriodSeconds: "i64",
});
const lifecycleHandler = st("LifecycleHandler", {
  exec: execAction,
  httpGet,
  tcpSocket,
  sleep: st("SleepAction", { seconds: "i64" }),
});
const securityContext = st("SecurityContext", {
  capabilities: st("Capabilities", { add: ["s"], drop: ["s"] }),
  privileged: "b",
  seLinuxOptions: "any",
  windowsOptions: "any",
  runAsUser: "i64",
  runAsGroup: "i64",
  runAsNonRoot: "b",
  readOnlyRootFilesystem: "b",
  allowPrivilegeEscalation: "b",
  procMount: "s",
  seccompProfile: "any",
  appArmorProfile: "any",
});
const containerFields: Record<string, Schema> = {
  name: "s",
  image: "s",
  command: ["s"],
  args: ["s"],
  workingDir: "s",
  ports: [
    st("ContainerPort", {
      name: "s",
      hostPort: "i",
      containerPort: "i",
      protocol: "s",
      hostIP: "s",
    }),
  ],
  envFrom: [
    st("EnvFromSource", {
      prefix: "s",
      configMapRef: st("ConfigMapEnvSource", { name: "s", optional: "b" }),
      secretRef: st("SecretEnvSource", { name: "s", optional: "b" }),
    }),
  ],
  env: [
    st("EnvVar", {
      name: "s",
      value: "s",
      valueFrom: st("EnvVarSource", {
        fieldRef: objectFieldSelector,
        resourceFieldRef: resourceFieldSelector,
        configMapKeyRef: st("ConfigMapKeySelector", { name: "s", key: "s", optional: "b" }),
        secretKeyRef: st("SecretKeySelector", { name: "s", key: "s", optional: "b" }),
        fileKeyRef: "any",
      }),
    }),
  ],
  resources: st("ResourceRequirements", { limits: "mq", requests: "mq", claims: ["any"] }),
  resizePolicy: [st("ContainerResizePolicy", { resourceName: "s", restartPolicy: "s" })],
  restartPolicy: "s",
  restartPolicyRules: ["any"],
  volumeMounts: [
    st("VolumeMount", {
      name: "s",
      readOnly: "b",
      recursiveReadOnly: "s",
      mountPath: "s",
      subPath: "s",
      mountPropagation: "s",
      subPathExpr: "s",
    }),
  ],
  volumeDevices: [st("VolumeDevice", { name: "s", devicePath: "s" })],
  livenessProbe: probe,
  readinessProbe: probe,
  startupProbe: probe,
  lifecycle: st("Lifecycle", {
    postStart: lifecycleHandler,
    preStop: lifecycleHandler,
    stopSignal: "s",
  }),
  terminationMessagePath: "s",
  terminationMessagePolicy: "s",
  imagePullPolicy: "s",
  securityContext,
  stdin: "b",
  stdinOnce: "b",
  tty: "b",
};
const container = st("Container", containerFields);
const ephemeralContainer = st("EphemeralContainer", {
  ...containerFields,
  targetContainerName: "s",
});
const toleration = st("Toleration", {
  key: "s",
  operator: "s",
  value: "s",
  effect: "s",
  tolerationSeconds: "i64",
});
const podSpec = st("PodSpec", {
  volumes: [volume],
  initContainers: [container],
  containers: [container],
  ephemeralContainers: [ephemeralContainer],
  restartPolicy: "s",
  terminationGracePeriodSeconds: "i64",
  activeDeadlineSeconds: "i64",
  dnsPolicy: "s",
  nodeSelector: "ms",
  serviceAccountName: "s",
  serviceAccount: "s",
  automountServiceAccountToken: "b",
  nodeName: "s",
  hostNetwork: "b",
  hostPID: "b",
  hostIPC: "b",
  shareProcessNamespace: "b",
  securityContext: st("PodSecurityContext", {
    seLinuxOptions: "any",
    windowsOptions: "any",
    runAsUser: "i64",
    runAsGroup: "i64",
    runAsNonRoot: "b",
    supplementalGroups: ["i64"],
    supplementalGroupsPolicy: "s",
    fsGroup: "i64",
    sysctls: [st("Sysctl", { name: "s", value: "s" })],
    fsGroupChangePolicy: "s",
    seccompProfile: "any",
    appArmorProfile: "any",
    seLinuxChangePolicy: "s",
  }),
  imagePullSecrets: [st("LocalObjectReference", { name: "s" })],
  hostname: "s",
  subdomain: "s",
  affinity: "any",
  schedulerName: "s",
  tolerations: [toleration],
  hostAliases: [st("HostAlias", { ip: "s", hostnames: ["s"] })],
  priorityClassName: "s",
  priority: "i",
  dnsConfig: st("PodDNSConfig", {
    nameservers: ["s"],
    searches: ["s"],
    options: [st("PodDNSConfigOption", { name: "s", value: "s" })],
  }),
  readinessGates: [st("PodReadinessGate", { conditionType: "s" })],
  runtimeClassName: "s",
  enableServiceLinks: "b",
  preemptionPolicy: "s",
  overhead: "mq",
  topologySpreadConstraints: ["any"],
  setHostnameAsFQDN: "b",
  os: st("PodOS", { name: "s" }),
  hostUsers: "b",
  schedulingGates: [st("PodSchedulingGate", { name: "s" })],
  resourceClaims: ["any"],
  resources: "any",
});
const podStatus = st("PodStatus", {
  observedGeneration: "i64",
  phase: "s",
  conditions: ["any"],
  message: "s",
  reason: "s",
  nominatedNodeName: "s",
  hostIP: "s",
  hostIPs: ["any"],
  podIP: "s",
  podIPs: ["any"],
  startTime: "any",
  initContainerStatuses: ["any"],
  containerStatuses: ["any"],
  ephemeralContainerStatuses: ["any"],
  qosClass: "s",
  resize: "s",
  resourceClaimStatuses: ["any"],
});
const typeMeta = { apiVersion: "s", kind: "s", metadata: objectMeta } as const;
const servicePort = st("ServicePort", {
  name: "s",
  protocol: "s",
  appProtocol: "s",
  port: "i",
  targetPort: "ios",
  nodePort: "i",
});
const objectReference = st("ObjectReference", {
  kind: "s",
  namespace: "s",
  name: "s",
  uid: "s",
  apiVersion: "s",
  resourceVersion: "s",
  fieldPath: "s",
});

const KINDS: Record<string, Struct> = {
  "/Pod": st("Pod", { ...typeMeta, spec: podSpec, status: podStatus }),
  "/Namespace": st("Namespace", {
    ...typeMeta,
    spec: st("NamespaceSpec", { finalizers: ["s"] }),
    status: st("NamespaceStatus", { phase: "s", conditions: ["any"] }),
  }),
  "/Service": st("Service", {
    ...typeMeta,
    spec: st("ServiceSpec", {
      ports: [servicePort],
      selector: "ms",
      clusterIP: "s",
      clusterIPs: ["s"],
      type: "s",
      externalIPs: ["s"],
      sessionAffinity: "s",
      loadBalancerIP: "s",
      loadBalancerSourceRanges: ["s"],
      externalName: "s",
      externalTrafficPolicy: "s",
      healthCheckNodePort: "i",
      publishNotReadyAddresses: "b",
      sessionAffinityConfig: "any",
      ipFamilies: ["s"],
      ipFamilyPolicy: "s",
      allocateLoadBalancerNodePorts: "b",
      loadBalancerClass: "s",
      internalTrafficPolicy: "s",
      trafficDistribution: "s",
    }),
    status: "any",
  }),
  "/Endpoints": st("Endpoints", { ...typeMeta, subsets: ["any"] }),
  "/ConfigMap": st("ConfigMap", { ...typeMeta, immutable: "b", data: "ms", binaryData: "mb" }),
  "/Secret": st("Secret", { ...typeMeta, immutable: "b", data: "mb", stringData: "ms", type: "s" }),
  "/ServiceAccount": st("ServiceAccount", {
    ...typeMeta,
    secrets: [objectReference],
    imagePullSecrets: [st("LocalObjectReference", { name: "s" })],
    automountServiceAccountToken: "b",
  }),
  "/Event": st("Event", {
    ...typeMeta,
    involvedObject: objectReference,
    reason: "s",
    message: "s",
    source: st("EventSource", { component: "s", host: "s" }),
    firstTimestamp: "any",
    lastTimestamp: "any",
    count: "i",
    type: "s",
    eventTime: "any",
    series: "any",
    action: "s",
    related: objectReference,
    reportingComponent: "s",
    reportingInstance: "s",
  }),
  "/Node": st("Node", { ...typeMeta, spec: "any", status: "any" }),
  "discovery.k8s.io/EndpointSlice": st("EndpointSlice", {
    ...typeMeta,
    addressType: "s",
    endpoints: ["any"],
    ports: ["any"],
  }),
  "coordination.k8s.io/Lease": st("Lease", {
    ...typeMeta,
    spec: st("LeaseSpec", {
      holderIdentity: "s",
      leaseDurationSeconds: "i",
      acquireTime: "any",
      renewTime: "any",
      leaseTransitions: "i",
      strategy: "s",
      preferredHolder: "s",
    }),
  }),
  "events.k8s.io/Event": st("Event", {
    ...typeMeta,
    eventTime: "any",
    series: "any",
    reportingController: "s",
    reportingInstance: "s",
    action: "s",
    reason: "s",
    regarding: objectReference,
    related: objectReference,
    note: "s",
    type: "s",
    deprecatedSource: "any",
    deprecatedFirstTimestamp: "any",
    deprecatedLastTimestamp: "any",
    deprecatedCount: "i",
  }),
};

/** Result of checking a decoded body against the kind's schema. */
export interface DecodeCheck {
  /** Paths of fields the schema does not know (`spec.containers[0].bogusField`). */
  unknownFields: string[];
  /** The first wrong JSON type, as Go's decoder words it; absent when all types fit. */
  typeError?: string;
}

function jsonType(v: unknown): string {
  if (Array.isArray(v)) return "array";
  if (typeof v === "boolean") return "bool";
  return typeof v;
}

function goType(s: Schema): string {
  if (isList(s)) return `[]${goType(s[0])}`;
  if (typeof s === "object") return `v1.${s.go}`;
  switch (s) {
    case "s":
      return "string";
    case "i":
      return "int32";
    case "i64":
      return "int64";
    case "n":
      return "float64";
    case "b":
      return "bool";
    case "q":
      return "resource.Quantity";
    case "ios":
      return "intstr.IntOrString";
    case "ms":
      return "map[string]string";
    case "mq":
      return "v1.ResourceList";
    case "mb":
      return "map[string][]uint8";
    case "any":
      return "interface {}";
  }
}

interface Walk {
  unknown: string[];
  typeError: string | undefined;
}

function leafOk(s: Leaf, v: unknown): boolean {
  switch (s) {
    case "s":
      return typeof v === "string";
    case "i":
    case "i64":
      return typeof v === "number" && Number.isInteger(v);
    case "n":
      return typeof v === "number";
    case "b":
      return typeof v === "boolean";
    case "q":
    case "ios":
      return typeof v === "string" || typeof v === "number";
    case "ms":
    case "mb":
      return isPlain(v) && Object.values(v).every((x) => typeof x === "string" || x === null);
    case "mq":
      return (
        isPlain(v) && Object.values(v).every((x) => typeof x === "string" || typeof x === "number")
      );
    case "any":
      return true;
  }
}

function isPlain(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Records Go's message for `v` not fitting `s` (Go reports the first error only). */
function typeErr(v: unknown, s: Schema, goPath: string, parent: string, w: Walk): void {
  if (w.typeError !== undefined) return;
  const kind = jsonType(v);
  const into =
    goPath === ""
      ? `Go value of type ${goType(s)}`
      : `Go struct field ${parent}.${goPath} of type ${goType(s)}`;
  w.typeError = `json: cannot unmarshal ${kind} into ${into}`;
}

function walk(v: unknown, s: Schema, path: string, goPath: string, parent: string, w: Walk): void {
  if (v === null) return;
  if (isList(s)) {
    if (!Array.isArray(v)) {
      typeErr(v, s, goPath, parent, w);
      return;
    }
    const elem = s[0];
    const items = v as unknown[];
    for (let i = 0; i < items.length; i++) {
      walk(items[i], elem, `${path}[${i}]`, goPath, parent, w);
    }
    return;
  }
  if (typeof s === "object") {
    const struct = s;
    if (!isPlain(v)) {
      typeErr(v, s, goPath, parent, w);
      return;
    }
    for (const k of Object.keys(v)) {
      const child = struct.f[k];
      const p = path === "" ? k : `${path}.${k}`;
      if (child === undefined) {
        w.unknown.push(p);
        continue;
      }
      walk(v[k], child, p, goPath === "" ? k : `${goPath}.${k}`, struct.go, w);
    }
    return;
  }
  if ((s === "ms" || s === "mb" || s === "mq") && isPlain(v)) {
    // Go names the element type when a map value is wrong.
    const elem: Leaf = s === "mq" ? "q" : "s";
    for (const x of Object.values(v)) {
      if (x !== null && !leafOk(elem, x)) {
        w.typeError ??= `json: cannot unmarshal ${jsonType(x)} into Go struct field ${parent}.${goPath} of type ${goType(elem)}`;
      }
    }
    return;
  }
  if (!leafOk(s, v)) typeErr(v, s, goPath, parent, w);
}

/**
 * Checks a decoded request body against the kind's schema: unknown field paths (for
 * `fieldValidation=Strict`) and the first wrong JSON type (always a 400 upstream). Kinds
 * without a schema report nothing.
 */
export function checkDecode(kind: string, group: string, obj: unknown): DecodeCheck {
  const schema = KINDS[`${group}/${kind}`];
  if (schema === undefined) return { unknownFields: [] };
  const w: Walk = { unknown: [], typeError: undefined };
  walk(obj, schema, "", "", schema.go, w);
  return w.typeError === undefined
    ? { unknownFields: w.unknown }
    : { unknownFields: w.unknown, typeError: w.typeError };
}

/** Paths of fields unknown to the kind's schema (`spec.containers[0].bogusField`), in body order. */
export function findUnknownFields(kind: string, group: string, obj: unknown): string[] {
  return checkDecode(kind, group, obj).unknownFields;
}

/** The first wrong JSON type in a body as Go words it, or undefined. */
export function findTypeError(kind: string, group: string, obj: unknown): string | undefined {
  return checkDecode(kind, group, obj).typeError;
}

/**
 * KA-CREATE-3: 400 `<Kind> in version "<v>" cannot be handled as a <Kind>: strict decoding
 * error: unknown field "<p1>", unknown field "<p2>"`.
 */
export function strictDecodingError(kind: string, version: string, paths: string[]): ApiError {
  const list = paths.map((p) => `unknown field "${p}"`).join(", ");
  return decodingError(kind, version, `strict decoding error: ${list}`);
}

/** 400 `<Kind> in version "<v>" cannot be handled as a <Kind>: <detail>` (any decode failure). */
export function decodingError(kind: string, version: string, detail: string): ApiError {
  return new ApiError(
    "BadRequest",
    `${kind} in version "${version}" cannot be handled as a ${kind}: ${detail}`,
  );
}
