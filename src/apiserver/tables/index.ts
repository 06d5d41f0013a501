/** Server-side Table printing (`Accept: …;as=Table`, KA-TBL): columns as upstream's printers. */
import type {
  ConfigMap,
  Endpoints,
  EndpointSlice,
  Event,
  KubeObject,
  Lease,
  ListMeta,
  Namespace,
  Node,
  Pod,
  Secret,
  Service,
  ServiceAccount,
} from "../../api/index.js";
import type { ResourceInfo } from "../resources.js";
import { ageSince } from "./duration.js";
import { printPod } from "./pods.js";

export { humanDuration, ageSince } from "./duration.js";

/** meta.k8s.io/v1 TableColumnDefinition. */
export interface TableColumnDefinition {
  name: string;
  type: "string" | "integer" | "number" | "boolean" | "date";
  format: string;
  description: string;
  priority: number;
}

/** One cell value: kubectl prints strings, integers and booleans as given. */
export type TableCell = string | number | boolean;

/** meta.k8s.io/v1 TableRowCondition (only `Completed` is used, PL-KCTL-9). */
export interface TableRowCondition {
  type: "Completed";
  status: "True" | "False" | "Unknown";
  reason?: string;
  message?: string;
}

/** meta.k8s.io/v1 TableRow. */
export interface TableRow {
  cells: TableCell[];
  conditions?: TableRowCondition[];
  object?: KubeObject;
}

/** meta.k8s.io/v1 Table. */
export interface Table {
  kind: "Table";
  apiVersion: "meta.k8s.io/v1";
  metadata: ListMeta;
  columnDefinitions: TableColumnDefinition[];
  rows: TableRow[];
}

/** Options for toTable. */
export interface TableOptions {
  /** The server's current time; ages are rendered relative to it. */
  nowMs: number;
  /** `Metadata` (kubectl's default): PartialObjectMetadata; `Object`: the full object; `None`: nothing. */
  includeObject: "None" | "Metadata" | "Object";
  /** The list's metadata (resourceVersion, continue) to carry over (KA-TBL-6). */
  listMeta?: ListMeta;
}

/** The cells of one object plus optional row conditions. */
export interface PrintedRow {
  cells: TableCell[];
  conditions?: TableRowCondition[];
}

type Printer = (obj: KubeObject, nowMs: number) => PrintedRow;

const NAME_DESC =
  "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DESC =
  "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

function col(
  name: string,
  description: string,
  opts: { type?: TableColumnDefinition["type"]; format?: string; priority?: number } = {},
): TableColumnDefinition {
  return {
    name,
    type: opts.type ?? "string",
    format: opts.format ?? "",
    description,
    priority: opts.priority ?? 0,
  };
}

const nameCol = col("Name", NAME_DESC, { format: "name" });
const ageCol = col("Age", AGE_DESC);

interface Printing {
  columns: TableColumnDefinition[];
  print: Printer;
}

const age = (o: KubeObject, now: number): string => ageSince(o.metadata.creationTimestamp, now);
const orNone = (v: string | undefined): string => (v === undefined || v === "" ? "<none>" : v);

/** `k=v,k2=v2` sorted by key, `<none>` when empty (labels.FormatLabels). */
export function formatLabels(m: Record<string, string> | undefined): string {
  const keys = Object.keys(m ?? {}).sort();
  if (keys.length === 0) return "<none>";
  return keys.map((k) => `${k}=${m?.[k] ?? ""}`).join(",");
}

function serviceExternalIP(svc: Service): string {
  const spec = svc.spec ?? {};
  const ext = spec.externalIPs ?? [];
  switch (spec.type ?? "ClusterIP") {
    case "ClusterIP":
    case "NodePort":
      return ext.length > 0 ? ext.join(",") : "<none>";
    case "LoadBalancer": {
      const lb = svc.status?.loadBalancer as
        { ingress?: { ip?: string; hostname?: string }[] } | undefined;
      const ips = [
        ...new Set(
          (lb?.ingress ?? []).map((i) => i.ip ?? i.hostname ?? "").filter((x) => x !== ""),
        ),
      ].sort();
      const all = [...ips, ...ext];
      return all.length > 0 ? all.join(",") : "<pending>";
    }
    case "ExternalName":
      return spec.externalName ?? "";
  }
}

function servicePorts(svc: Service): string {
  const parts = (svc.spec?.ports ?? []).map((p) => {
    const proto = p.protocol ?? "TCP";
    return p.nodePort !== undefined && p.nodePort > 0
      ? `${p.port}:${p.nodePort}/${proto}`
      : `${p.port}/${proto}`;
  });
  return parts.length > 0 ? parts.join(",") : "<none>";
}

function listWithMore(list: string[], count: number, max: number, empty: string): string {
  const ret = list.join(",");
  if (count > max) return `${ret} + ${count - max} more...`;
  return ret === "" ? empty : ret;
}

function formatEndpoints(ep: Endpoints): string {
  const subsets = ep.subsets ?? [];
  if (subsets.length === 0) return "<none>";
  const list: string[] = [];
  let count = 0;
  const max = 3;
  for (const ss of subsets) {
    const addrs = ss.addresses ?? [];
    const ports = ss.ports ?? [];
    if (ports.length === 0) {
      for (const a of addrs) {
        if (list.length < max) list.push(a.ip);
        count++;
      }
      continue;
    }
    for (const p of ports) {
      for (const a of addrs) {
        if (list.length < max)
          list.push(a.ip.includes(":") ? `[${a.ip}]:${p.port}` : `${a.ip}:${p.port}`);
        count++;
      }
    }
  }
  return listWithMore(list, count, max, "");
}

function formatSlicePorts(slice: EndpointSlice): string {
  const ports = slice.ports ?? [];
  const list = ports
    .slice(0, 3)
    .map((p) => (typeof p.port === "number" ? String(p.port) : (p.name ?? "*")));
  return listWithMore(list, ports.length, 3, "<unset>");
}

function formatSliceEndpoints(slice: EndpointSlice): string {
  const all = ((slice.endpoints as EndpointSlice["endpoints"] | undefined) ?? []).flatMap(
    (e) => e.addresses,
  );
  return listWithMore(all.slice(0, 3), all.length, 3, "<unset>");
}

function nodeRoles(node: Node): string {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(node.metadata.labels ?? {})) {
    if (k.startsWith("node-role.kubernetes.io/")) {
      const role = k.slice("node-role.kubernetes.io/".length);
      if (role !== "") roles.add(role);
    } else if (k === "kubernetes.io/role" && v !== "") {
      roles.add(v);
    }
  }
  return roles.size === 0 ? "<none>" : [...roles].sort().join(",");
}

function nodeStatus(node: Node): string {
  const ready = (node.status?.conditions ?? []).find((c) => c.type === "Ready");
  const status =
    ready === undefined ? ["Unknown"] : [ready.status === "True" ? "Ready" : "NotReady"];
  if (node.spec?.unschedulable === true) status.push("SchedulingDisabled");
  return status.join(",");
}

function nodeAddress(node: Node, type: string): string {
  return (node.status?.addresses ?? []).find((a) => a.type === type)?.address ?? "<none>";
}

interface EventView {
  name: string;
  type: string;
  reason: string;
  kind: string;
  objName: string;
  fieldPath: string;
  component: string;
  host: string;
  message: string;
  first: string | null | undefined;
  last: string | null | undefined;
  eventTime: string | null | undefined;
  count: number;
}

function eventView(obj: KubeObject): EventView {
  const e = obj as Event & {
    regarding?: Event["involvedObject"];
    note?: string;
    reportingController?: string;
    deprecatedSource?: Event["source"];
    deprecatedFirstTimestamp?: string | null;
    deprecatedLastTimestamp?: string | null;
    deprecatedCount?: number;
    series?: { count?: number; lastObservedTime?: string };
  };
  const ref = (e.involvedObject as Event["involvedObject"] | undefined) ?? e.regarding ?? {};
  const src = e.source ?? e.deprecatedSource ?? {};
  let count = e.count ?? e.deprecatedCount ?? 0;
  let last = e.lastTimestamp ?? e.deprecatedLastTimestamp;
  if (e.series !== undefined) {
    // A series counts the isomorphic singleton event that preceded it.
    count = (e.series.count ?? 0) + 1;
    last = e.series.lastObservedTime ?? last;
  } else if (count === 0) {
    count = 1;
  }
  return {
    name: e.metadata.name ?? "",
    type: e.type ?? "",
    reason: e.reason ?? "",
    kind: ref.kind ?? "",
    objName: ref.name ?? "",
    fieldPath: ref.fieldPath ?? "",
    component: src.component ?? e.reportingController ?? e.reportingComponent ?? "",
    host: src.host ?? e.reportingInstance ?? "",
    message: (e.message ?? e.note ?? "").trim(),
    first: e.firstTimestamp ?? e.deprecatedFirstTimestamp,
    last,
    eventTime: e.eventTime,
    count,
  };
}

function printEvent(obj: KubeObject, now: number): PrintedRow {
  const e = eventView(obj);
  const first =
    e.first === undefined || e.first === null || e.first === ""
      ? ageSince(e.eventTime, now)
      : ageSince(e.first, now);
  const last =
    e.last === undefined || e.last === null || e.last === "" ? first : ageSince(e.last, now);
  const target = e.objName === "" ? e.kind.toLowerCase() : `${e.kind.toLowerCase()}/${e.objName}`;
  const source = e.host === "" ? e.component : `${e.component}, ${e.host}`;
  return {
    cells: [last, e.type, e.reason, target, e.fieldPath, source, e.message, first, e.count, e.name],
  };
}

const POD_COLUMNS = [
  nameCol,
  col("Ready", "The aggregate readiness state of this pod for accepting traffic."),
  col("Status", "The aggregate status of the containers in this pod."),
  col(
    "Restarts",
    "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
  ),
  ageCol,
  col(
    "IP",
    "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
    { priority: 1 },
  ),
  col("Node", "NodeName indicates in which node this pod is scheduled.", { priority: 1 }),
  col(
    "Nominated Node",
    "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods.",
    { priority: 1 },
  ),
  col("Readiness Gates", "If specified, all readiness gates will be evaluated for pod readiness.", {
    priority: 1,
  }),
];

const EVENT_COLUMNS = [
  col("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
  col("Type", "Type of this event (Normal, Warning), new types could be added in the future"),
  col(
    "Reason",
    "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
  ),
  col("Object", "The object that this event is about."),
  col(
    "Subobject",
    "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].",
    { priority: 1 },
  ),
  col(
    "Source",
    "The component reporting this event. Should be a short machine understandable string.",
    { priority: 1 },
  ),
  col("Message", "A human-readable description of the status of this operation."),
  col(
    "First Seen",
    "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
    { priority: 1 },
  ),
  col("Count", "The number of times this event has occurred.", { priority: 1 }),
  col("Name", NAME_DESC, { format: "name", priority: 1 }),
];

interface BindingShape {
  roleRef?: { kind?: string; name?: string };
  subjects?: { kind?: string; name?: string; namespace?: string }[];
}

/** RoleBinding and ClusterRoleBinding rows: `Role` is `<kind>/<name>`, subjects in wide output. */
const BINDING_PRINTING: Printing = {
  columns: [
    nameCol,
    col("Role", "RoleRef is the Role or ClusterRole the binding grants."),
    ageCol,
    col("Users", "Users in the binding", { priority: 1 }),
    col("Groups", "Groups in the binding", { priority: 1 }),
    col("ServiceAccounts", "ServiceAccounts in the binding", { priority: 1 }),
  ],
  print: (o, now) => {
    const b = o as KubeObject & BindingShape;
    const subjects = b.subjects ?? [];
    const names = (kind: string): string =>
      subjects
        .filter((x) => x.kind === kind)
        .map((x) =>
          kind === "ServiceAccount" ? `${x.namespace ?? ""}/${x.name ?? ""}` : (x.name ?? ""),
        )
        .join(", ");
    return {
      cells: [
        o.metadata.name ?? "",
        `${b.roleRef?.kind ?? ""}/${b.roleRef?.name ?? ""}`,
        age(o, now),
        names("User"),
        names("Group"),
        names("ServiceAccount"),
      ],
    };
  },
};

const PRINTERS: Record<string, Printing> = {
  "/pods": { columns: POD_COLUMNS, print: (o, now) => printPod(o as Pod, now) },
  "/namespaces": {
    columns: [nameCol, col("Status", "The status of the namespace"), ageCol],
    print: (o, now) => ({
      cells: [o.metadata.name ?? "", (o as Namespace).status?.phase ?? "", age(o, now)],
    }),
  },
  "/services": {
    columns: [
      nameCol,
      col("Type", "type determines how the Service is exposed."),
      col(
        "Cluster-IP",
        "clusterIP is the IP address of the service and is usually assigned randomly.",
      ),
      col(
        "External-IP",
        "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
      ),
      col("Port(s)", "The list of ports that are exposed by this service."),
      ageCol,
      col(
        "Selector",
        "Route service traffic to pods with label keys and values matching this selector.",
        { priority: 1 },
      ),
    ],
    print: (o, now) => {
      const s = o as Service;
      return {
        cells: [
          o.metadata.name ?? "",
          s.spec?.type ?? "",
          orNone(s.spec?.clusterIP),
          serviceExternalIP(s),
          servicePorts(s),
          age(o, now),
          formatLabels(s.spec?.selector),
        ],
      };
    },
  },
  "/endpoints": {
    columns: [
      nameCol,
      col("Endpoints", "The set of all endpoints is the union of all subsets."),
      ageCol,
    ],
    print: (o, now) => ({
      cells: [o.metadata.name ?? "", formatEndpoints(o), age(o, now)],
    }),
  },
  "discovery.k8s.io/endpointslices": {
    columns: [
      nameCol,
      col(
        "AddressType",
        "addressType specifies the type of address carried by this EndpointSlice.",
      ),
      col(
        "Ports",
        "ports specifies the list of network ports exposed by each endpoint in this slice.",
      ),
      col("Endpoints", "endpoints is a list of unique endpoints in this slice."),
      ageCol,
    ],
    print: (o, now) => {
      const s = o as EndpointSlice;
      return {
        cells: [
          o.metadata.name ?? "",
          s.addressType,
          formatSlicePorts(s),
          formatSliceEndpoints(s),
          age(o, now),
        ],
      };
    },
  },
  "/configmaps": {
    columns: [nameCol, col("Data", "Data contains the configuration data."), ageCol],
    print: (o, now) => {
      const c = o as ConfigMap;
      const n = Object.keys(c.data ?? {}).length + Object.keys(c.binaryData ?? {}).length;
      return { cells: [o.metadata.name ?? "", n, age(o, now)] };
    },
  },
  "/secrets": {
    columns: [
      nameCol,
      col("Type", "Used to facilitate programmatic handling of secret data."),
      col("Data", "Data contains the secret data."),
      ageCol,
    ],
    print: (o, now) => {
      const s = o as Secret;
      return {
        cells: [o.metadata.name ?? "", s.type ?? "", Object.keys(s.data ?? {}).length, age(o, now)],
      };
    },
  },
  "/serviceaccounts": {
    columns: [
      nameCol,
      col(
        "Secrets",
        "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
      ),
      ageCol,
    ],
    print: (o, now) => ({
      cells: [o.metadata.name ?? "", (o as ServiceAccount).secrets?.length ?? 0, age(o, now)],
    }),
  },
  "/events": { columns: EVENT_COLUMNS, print: printEvent },
  "events.k8s.io/events": { columns: EVENT_COLUMNS, print: printEvent },
  "/nodes": {
    columns: [
      nameCol,
      col("Status", "The status of the node"),
      col("Roles", "The roles of the node"),
      ageCol,
      col("Version", "Kubelet Version reported by the node."),
      col("Internal-IP", "List of addresses reachable to the node.", { priority: 1 }),
      col("External-IP", "List of addresses reachable to the node.", { priority: 1 }),
      col(
        "OS-Image",
        "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
        { priority: 1 },
      ),
      col(
        "Kernel-Version",
        "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
        { priority: 1 },
      ),
      col(
        "Container-Runtime",
        "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
        { priority: 1 },
      ),
    ],
    print: (o, now) => {
      const n = o as Node;
      const info = n.status?.nodeInfo ?? {};
      const unknown = (v: string | undefined): string =>
        v === undefined || v === "" ? "<unknown>" : v;
      return {
        cells: [
          o.metadata.name ?? "",
          nodeStatus(n),
          nodeRoles(n),
          age(o, now),
          info.kubeletVersion ?? "",
          nodeAddress(n, "InternalIP"),
          nodeAddress(n, "ExternalIP"),
          unknown(info.osImage),
          unknown(info.kernelVersion),
          unknown(info.containerRuntimeVersion),
        ],
      };
    },
  },
  "coordination.k8s.io/leases": {
    columns: [
      nameCol,
      col("Holder", "holderIdentity contains the identity of the holder of a current lease."),
      ageCol,
    ],
    print: (o, now) => ({
      cells: [o.metadata.name ?? "", (o as Lease).spec?.holderIdentity ?? "", age(o, now)],
    }),
  },
  "rbac.authorization.k8s.io/rolebindings": BINDING_PRINTING,
  "rbac.authorization.k8s.io/clusterrolebindings": BINDING_PRINTING,
};

const DEFAULT_PRINTING: Printing = {
  columns: [nameCol, col("Created At", AGE_DESC, { type: "date" })],
  print: (o) => ({ cells: [o.metadata.name ?? "", o.metadata.creationTimestamp ?? ""] }),
};

/** The column definitions served for a resource (every priority; kubectl filters). */
export function tableColumns(
  info: Pick<ResourceInfo, "group" | "resource">,
): TableColumnDefinition[] {
  return (PRINTERS[`${info.group}/${info.resource}`] ?? DEFAULT_PRINTING).columns;
}

function rowObject(
  info: ResourceInfo,
  obj: KubeObject,
  mode: TableOptions["includeObject"],
): KubeObject | undefined {
  switch (mode) {
    case "None":
      return undefined;
    case "Metadata": {
      const partial: KubeObject = {
        kind: "PartialObjectMetadata",
        apiVersion: "meta.k8s.io/v1",
        metadata: obj.metadata,
      };
      return partial;
    }
    case "Object":
      return {
        ...obj,
        apiVersion:
          obj.apiVersion ?? (info.group === "" ? info.version : `${info.group}/${info.version}`),
        kind: obj.kind ?? info.kind,
      };
  }
}

/** Only the ListMeta fields, in case the caller hands over a richer metadata object. */
function listMetaOf(m: ListMeta | undefined): ListMeta {
  const out: ListMeta = {};
  if (m?.resourceVersion !== undefined) out.resourceVersion = m.resourceVersion;
  if (m?.continue !== undefined && m.continue !== "") out.continue = m.continue;
  if (m?.remainingItemCount !== undefined) out.remainingItemCount = m.remainingItemCount;
  return out;
}

/**
 * Renders objects as a `meta.k8s.io/v1` Table (KA-TBL-1..7): column definitions as upstream's
 * printers for the resource (name + "Created At" for kinds without one), one row per object
 * with every cell filled (kubectl hides priority-1 columns itself), `object` per
 * `includeObject`, and the list metadata carried over. Pure: ages are computed from `nowMs`.
 */
export function toTable(info: ResourceInfo, objects: KubeObject[], opts: TableOptions): Table {
  const printing = PRINTERS[`${info.group}/${info.resource}`] ?? DEFAULT_PRINTING;
  const rows = objects.map((obj): TableRow => {
    const printed = printing.print(obj, opts.nowMs);
    const row: TableRow = { cells: printed.cells };
    if (printed.conditions !== undefined) row.conditions = printed.conditions;
    const o = rowObject(info, obj, opts.includeObject);
    if (o !== undefined) row.object = o;
    return row;
  });
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: listMetaOf(opts.listMeta),
    columnDefinitions: printing.columns,
    rows,
  };
}
