import type {
  Container,
  ContainerState,
  ContainerStatus,
  Event,
  ObjectMeta,
  Pod,
} from "../api/index.js";
import { DESCRIBE_TABWRITER, GET_TABWRITER, tabwrite } from "./tabwriter.js";

/** meta.k8s.io/v1 TableColumnDefinition (the fields the printer reads). */
export interface TableColumn {
  name: string;
  type: string;
  format?: string;
  description?: string;
  priority?: number;
}

/** meta.k8s.io/v1 TableRow. */
export interface TableRow {
  cells: unknown[];
  object?: { metadata?: ObjectMeta };
}

/** meta.k8s.io/v1 Table, as the server prints for `Accept: …;as=Table`. */
export interface Table {
  kind: "Table";
  apiVersion: string;
  metadata?: { resourceVersion?: string; continue?: string };
  columnDefinitions: TableColumn[];
  rows: TableRow[];
}

/** How to print a Table. */
export interface TablePrintOptions {
  /** `-o wide`: also priority > 0 columns. */
  wide: boolean;
  /** `-A`: a NAMESPACE column first, taken from each row's object metadata. */
  withNamespace: boolean;
  /** `--show-labels`: a LABELS column last. */
  showLabels?: boolean;
}

function cellText(v: unknown): string {
  if (v === null || v === undefined) return "<none>";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return JSON.stringify(v);
}

/**
 * kubectl's rendering of a server-side Table: upper-cased headers, priority-0 columns unless
 * wide, tabwriter alignment with 3-space padding.
 */
export function printTable(table: Table, opts: TablePrintOptions): string {
  const cols = table.columnDefinitions
    .map((c, i) => ({ c, i }))
    .filter(({ c }) => opts.wide || (c.priority ?? 0) === 0);
  const header = cols.map(({ c }) => c.name.toUpperCase());
  if (opts.withNamespace) header.unshift("NAMESPACE");
  if (opts.showLabels === true) header.push("LABELS");
  const lines = [header];
  for (const row of table.rows) {
    const cells = cols.map(({ i }) => cellText(row.cells[i]));
    if (opts.withNamespace) cells.unshift(row.object?.metadata?.namespace ?? "");
    if (opts.showLabels === true) cells.push(formatLabels(row.object?.metadata?.labels));
    lines.push(cells);
  }
  return tabwrite(lines.map((l) => l.join("\t") + "\n").join(""), GET_TABWRITER);
}

function formatLabels(labels: Record<string, string> | undefined): string {
  const entries = Object.entries(labels ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return entries.length === 0 ? "<none>" : entries.map(([k, v]) => `${k}=${v}`).join(",");
}

/**
 * Human duration as kubectl prints ages (PL-KCTL-7): `45s`, `5m30s`, `10m`, `5h`, `3d`, ….
 */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${days}d` : `${days}d${h}h`;
  }
  if (days < 365 * 2) return `${days}d`;
  const years = Math.floor(days / 365);
  if (years < 8) {
    const d = days % 365;
    return d === 0 ? `${years}y` : `${years}y${d}d`;
  }
  return `${years}y`;
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** Go's RFC1123Z in UTC (`Mon, 02 Jan 2006 15:04:05 +0000`), as describe prints times. */
export function rfc1123z(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number): string => String(n).padStart(2, "0");
  return (
    `${DAYS[d.getUTCDay()] ?? ""}, ${p(d.getUTCDate())} ${MONTHS[d.getUTCMonth()] ?? ""} ` +
    `${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`
  );
}

function multiline(label: string, values: string[], indent: string): string {
  if (values.length === 0) return `${indent}${label}:\t<none>\n`;
  return values
    .map((v, i) => (i === 0 ? `${indent}${label}:\t${v}\n` : `${indent}\t${v}\n`))
    .join("");
}

function stateLines(label: string, st: ContainerState | undefined, indent: string): string {
  if (st?.running !== undefined) {
    let s = `${indent}${label}:\tRunning\n`;
    if (st.running.startedAt !== undefined)
      s += `${indent}  Started:\t${rfc1123z(st.running.startedAt)}\n`;
    return s;
  }
  if (st?.waiting !== undefined) {
    let s = `${indent}${label}:\tWaiting\n`;
    if (st.waiting.reason !== undefined) s += `${indent}  Reason:\t${st.waiting.reason}\n`;
    return s;
  }
  if (st?.terminated !== undefined) {
    const t = st.terminated;
    let s = `${indent}${label}:\tTerminated\n`;
    if (t.reason !== undefined) s += `${indent}  Reason:\t${t.reason}\n`;
    if (t.message !== undefined) s += `${indent}  Message:\t${t.message}\n`;
    s += `${indent}  Exit Code:\t${t.exitCode}\n`;
    if (t.signal !== undefined && t.signal > 0) s += `${indent}  Signal:\t${t.signal}\n`;
    if (t.startedAt) s += `${indent}  Started:\t${rfc1123z(t.startedAt)}\n`;
    if (t.finishedAt) s += `${indent}  Finished:\t${rfc1123z(t.finishedAt)}\n`;
    return s;
  }
  return `${indent}${label}:\tWaiting\n`;
}

function describeContainer(c: Container, st: ContainerStatus | undefined): string {
  const i = "    ";
  let s = `  ${c.name}:\n`;
  if (st?.containerID !== undefined && st.containerID !== "")
    s += `${i}Container ID:\t${st.containerID}\n`;
  s += `${i}Image:\t${c.image ?? ""}\n`;
  s += `${i}Image ID:\t${st?.imageID ?? ""}\n`;
  const ports = (c.ports ?? []).map((p) => `${p.containerPort}/${p.protocol ?? "TCP"}`);
  const hostPorts = (c.ports ?? []).map((p) => `${p.hostPort ?? 0}/${p.protocol ?? "TCP"}`);
  s += `${i}Port:\t${ports.length === 0 ? "<none>" : ports.join(", ")}\n`;
  s += `${i}Host Port:\t${hostPorts.length === 0 ? "<none>" : hostPorts.join(", ")}\n`;
  if (c.command !== undefined)
    s += `${i}Command:\n` + c.command.map((x) => `${i}  ${x}\n`).join("");
  if (c.args !== undefined) s += `${i}Args:\n` + c.args.map((x) => `${i}  ${x}\n`).join("");
  s += stateLines("State", st?.state, i);
  const last = st?.lastState;
  if (last?.running !== undefined || last?.waiting !== undefined || last?.terminated !== undefined)
    s += stateLines("Last State", last, i);
  s += `${i}Ready:\t${st?.ready === true ? "True" : "False"}\n`;
  s += `${i}Restart Count:\t${st?.restartCount ?? 0}\n`;
  for (const [label, res] of [
    ["Limits", c.resources?.limits],
    ["Requests", c.resources?.requests],
  ] as const) {
    const entries = Object.entries(res ?? {}).sort(([a], [b]) => a.localeCompare(b));
    if (entries.length === 0) continue;
    s += `${i}${label}:\n` + entries.map(([k, v]) => `${i}  ${k}:\t${String(v)}\n`).join("");
  }
  const env = c.env ?? [];
  if (env.length === 0) s += `${i}Environment:\t<none>\n`;
  else
    s +=
      `${i}Environment:\n` +
      env
        .map((e) => `${i}  ${e.name}:\t${e.value ?? (e.valueFrom === undefined ? "" : "<set>")}\n`)
        .join("");
  const mounts = c.volumeMounts ?? [];
  if (mounts.length === 0) s += `${i}Mounts:\t<none>\n`;
  else
    s +=
      `${i}Mounts:\n` +
      mounts
        .map((m) => `${i}  ${m.mountPath} from ${m.name} (${m.readOnly === true ? "ro" : "rw"})\n`)
        .join("");
  return s;
}

/**
 * kubectl-like `describe pod` text (KA-DESC-1/2): identity, node, times, labels, status, IPs,
 * containers with state/ready/restart count, conditions, QoS and the Events table. Missing
 * fields print `<none>`. `nowMs` renders event ages.
 */
export function describePod(pod: Pod, events: Event[], nowMs: number): string {
  const st = pod.status ?? {};
  const spec = pod.spec;
  const md = pod.metadata;
  let s = "";
  s += `Name:\t${md.name ?? ""}\n`;
  s += `Namespace:\t${md.namespace ?? ""}\n`;
  if (spec.priority !== undefined) s += `Priority:\t${spec.priority}\n`;
  if (spec.priorityClassName !== undefined && spec.priorityClassName !== "")
    s += `Priority Class Name:\t${spec.priorityClassName}\n`;
  s += `Service Account:\t${spec.serviceAccountName ?? ""}\n`;
  const node = spec.nodeName ?? "";
  s += `Node:\t${node === "" ? "<none>" : st.hostIP === undefined ? node : `${node}/${st.hostIP}`}\n`;
  if (st.startTime !== undefined) s += `Start Time:\t${rfc1123z(st.startTime)}\n`;
  s += multiline(
    "Labels",
    Object.entries(md.labels ?? {})
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${v}`),
    "",
  );
  s += multiline(
    "Annotations",
    Object.entries(md.annotations ?? {})
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}: ${v}`),
    "",
  );
  if (md.deletionTimestamp !== undefined) {
    s += `Status:\tTerminating (lasts ${humanDuration(nowMs - Date.parse(md.deletionTimestamp))})\n`;
    s += `Termination Grace Period:\t${md.deletionGracePeriodSeconds ?? 0}s\n`;
  } else {
    s += `Status:\t${st.phase ?? ""}\n`;
  }
  if (st.reason !== undefined && st.reason !== "") s += `Reason:\t${st.reason}\n`;
  if (st.message !== undefined && st.message !== "") s += `Message:\t${st.message}\n`;
  s += `IP:\t${st.podIP ?? ""}\n`;
  const ips = st.podIPs ?? [];
  if (ips.length === 0) s += `IPs:\t<none>\n`;
  else s += `IPs:\n` + ips.map((ip) => `  IP:\t${ip.ip}\n`).join("");
  const owner = md.ownerReferences?.find((o) => o.controller === true);
  if (owner !== undefined) s += `Controlled By:\t${owner.kind}/${owner.name}\n`;
  const inits = spec.initContainers ?? [];
  if (inits.length > 0) {
    s += "Init Containers:\n";
    for (const c of inits)
      s += describeContainer(
        c,
        st.initContainerStatuses?.find((x) => x.name === c.name),
      );
  }
  s += "Containers:\n";
  for (const c of spec.containers)
    s += describeContainer(
      c,
      st.containerStatuses?.find((x) => x.name === c.name),
    );
  const conds = st.conditions ?? [];
  if (conds.length > 0) {
    s += "Conditions:\n  Type\tStatus\n";
    for (const c of conds) s += `  ${c.type} \t${c.status} \n`;
  }
  const vols = spec.volumes ?? [];
  if (vols.length === 0) s += "Volumes:\t<none>\n";
  else s += "Volumes:\n" + vols.map((v) => `  ${v.name}:\n`).join("");
  s += `QoS Class:\t${st.qosClass ?? ""}\n`;
  s += multiline(
    "Node-Selectors",
    Object.entries(spec.nodeSelector ?? {}).map(([k, v]) => `${k}=${v}`),
    "",
  );
  s += multiline(
    "Tolerations",
    (spec.tolerations ?? []).map((t) => {
      let x = t.key ?? "";
      if (t.value !== undefined && t.value !== "") x += `=${t.value}`;
      if (t.effect !== undefined) x += `:${t.effect}`;
      if (t.operator === "Exists" && (t.value ?? "") === "") x += " op=Exists";
      if (t.tolerationSeconds !== undefined) x += ` for ${t.tolerationSeconds}s`;
      return x;
    }),
    "",
  );
  s += describeEvents(events, nowMs);
  return tabwrite(s, DESCRIBE_TABWRITER);
}

/** The Events section of describe: `<none>` or a `Type Reason Age From Message` table. */
export function describeEvents(events: Event[], nowMs: number): string {
  if (events.length === 0) return "Events:\t<none>\n";
  const at = (e: Event): string => e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? "";
  const sorted = [...events].sort((a, b) => Date.parse(at(a)) - Date.parse(at(b)));
  let s = "Events:\n  Type\tReason\tAge\tFrom\tMessage\n  ----\t------\t----\t----\t-------\n";
  for (const e of sorted) {
    const last = at(e);
    const first = e.firstTimestamp ?? last;
    const lastAge = last === "" ? "<unknown>" : humanDuration(nowMs - Date.parse(last));
    const count = e.count ?? 1;
    const age =
      count > 1
        ? `${lastAge} (x${count} over ${humanDuration(nowMs - Date.parse(first))})`
        : lastAge;
    const from = [e.source?.component ?? e.reportingComponent ?? "", e.source?.host ?? ""]
      .filter((x) => x !== "")
      .join(", ");
    s += `  ${e.type ?? ""}\t${e.reason ?? ""}\t${age}\t${from}\t${(e.message ?? "").trim()}\n`;
  }
  return s;
}
