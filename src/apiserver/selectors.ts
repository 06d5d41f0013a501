import { badRequest, type KubeObject } from "../api/index.js";

/** One label requirement (KA-LIST-3). */
export interface LabelRequirement {
  key: string;
  op: "=" | "!=" | "in" | "notin" | "exists" | "!" | "gt" | "lt";
  values: string[];
}

/** One field requirement (KA-LIST-4). */
export interface FieldRequirement {
  path: string;
  op: "=" | "!=";
  value: string;
}

/** Splits on commas outside parentheses. */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "," && depth === 0) {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  out.push(s.slice(start));
  return out.map((p) => p.trim()).filter((p) => p !== "");
}

const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function checkKey(key: string, raw: string): string {
  if (!LABEL_KEY.test(key)) {
    throw badRequest(`unable to parse requirement: invalid label key "${key}" in "${raw}"`);
  }
  return key;
}

function checkValue(v: string, raw: string): string {
  if (!LABEL_VALUE.test(v) || v.length > 63) {
    throw badRequest(`unable to parse requirement: invalid label value: "${v}" in "${raw}"`);
  }
  return v;
}

/**
 * Parses a label selector string: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a)`, `k`,
 * `!k`, `k>1`, `k<1`; comma means AND. Throws BadRequest on bad syntax.
 */
export function parseLabelSelector(s: string | undefined): LabelRequirement[] {
  if (s === undefined || s.trim() === "") return [];
  return splitTop(s).map((raw): LabelRequirement => {
    let m = /^!\s*(\S+)$/.exec(raw);
    if (m) return { key: checkKey(m[1] ?? "", raw), op: "!", values: [] };
    m = /^(\S+?)\s+(in|notin)\s*\((.*)\)$/.exec(raw);
    if (m) {
      const values = (m[3] ?? "")
        .split(",")
        .map((v) => v.trim())
        .map((v) => checkValue(v, raw));
      return { key: checkKey(m[1] ?? "", raw), op: m[2] === "in" ? "in" : "notin", values };
    }
    m = /^([^=!<>\s]+)\s*(==|=|!=|<|>)\s*(.*)$/.exec(raw);
    if (m) {
      const key = checkKey(m[1] ?? "", raw);
      const value = (m[3] ?? "").trim();
      const sym = m[2];
      if (sym === "<" || sym === ">") {
        if (!/^-?\d+$/.test(value)) {
          throw badRequest(
            `unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer`,
          );
        }
        return { key, op: sym === ">" ? "gt" : "lt", values: [value] };
      }
      return { key, op: sym === "!=" ? "!=" : "=", values: [checkValue(value, raw)] };
    }
    if (/^\S+$/.test(raw)) return { key: checkKey(raw, raw), op: "exists", values: [] };
    throw badRequest(
      `unable to parse requirement: found '${raw}', expected: in, notin, =, ==, !=, gt, lt`,
    );
  });
}

/** True when `labels` satisfy every requirement. */
export function matchesLabels(
  reqs: readonly LabelRequirement[],
  labels: Record<string, string> | undefined,
): boolean {
  for (const r of reqs) {
    const v = labels?.[r.key];
    switch (r.op) {
      case "=":
      case "in":
        if (v === undefined || !r.values.includes(v)) return false;
        break;
      case "!=":
      case "notin":
        if (v !== undefined && r.values.includes(v)) return false;
        break;
      case "exists":
        if (v === undefined) return false;
        break;
      case "!":
        if (v !== undefined) return false;
        break;
      case "gt":
      case "lt": {
        if (v === undefined || !/^-?\d+$/.test(v)) return false;
        const n = Number(v);
        const want = Number(r.values[0]);
        if (r.op === "gt" ? !(n > want) : !(n < want)) return false;
        break;
      }
    }
  }
  return true;
}

/** Parses a field selector: `path=v`, `path==v`, `path!=v`, comma = AND; values may be empty. */
export function parseFieldSelector(s: string | undefined): FieldRequirement[] {
  if (s === undefined || s.trim() === "") return [];
  return splitTop(s).map((raw): FieldRequirement => {
    const m = /^([^=!]+?)\s*(==|=|!=)\s*(.*)$/.exec(raw);
    if (!m) throw badRequest(`invalid selector: '${s}'; can't understand '${raw}'`);
    return { path: m[1] ?? "", op: m[2] === "!=" ? "!=" : "=", value: (m[3] ?? "").trim() };
  });
}

type FieldGetter = (obj: Record<string, unknown>) => string;

function str(v: unknown): string {
  if (v === undefined || v === null) return "";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return JSON.stringify(v);
}

function at(obj: Record<string, unknown>, ...path: string[]): unknown {
  let cur: unknown = obj;
  for (const p of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

const COMMON: Record<string, FieldGetter> = {
  "metadata.name": (o) => str(at(o, "metadata", "name")),
  "metadata.namespace": (o) => str(at(o, "metadata", "namespace")),
};

/** Extra selectable fields per `<group>/<resource>` (upstream's per-kind field sets). */
const EXTRA: Record<string, Record<string, FieldGetter>> = {
  "/pods": {
    "spec.nodeName": (o) => str(at(o, "spec", "nodeName")),
    "spec.restartPolicy": (o) => str(at(o, "spec", "restartPolicy")),
    "spec.schedulerName": (o) => str(at(o, "spec", "schedulerName")),
    "spec.serviceAccountName": (o) => str(at(o, "spec", "serviceAccountName")),
    "spec.hostNetwork": (o) => str(at(o, "spec", "hostNetwork") ?? false),
    "status.phase": (o) => str(at(o, "status", "phase")),
    "status.podIP": (o) => str(at(o, "status", "podIP")),
    "status.nominatedNodeName": (o) => str(at(o, "status", "nominatedNodeName")),
  },
  "/events": {
    "involvedObject.kind": (o) => str(at(o, "involvedObject", "kind")),
    "involvedObject.namespace": (o) => str(at(o, "involvedObject", "namespace")),
    "involvedObject.name": (o) => str(at(o, "involvedObject", "name")),
    "involvedObject.uid": (o) => str(at(o, "involvedObject", "uid")),
    "involvedObject.apiVersion": (o) => str(at(o, "involvedObject", "apiVersion")),
    "involvedObject.resourceVersion": (o) => str(at(o, "involvedObject", "resourceVersion")),
    "involvedObject.fieldPath": (o) => str(at(o, "involvedObject", "fieldPath")),
    reason: (o) => str(at(o, "reason")),
    reportingComponent: (o) => str(at(o, "reportingComponent")),
    source: (o) => str(at(o, "source", "component")),
    type: (o) => str(at(o, "type")),
  },
  "events.k8s.io/events": {
    "regarding.kind": (o) => str(at(o, "regarding", "kind")),
    "regarding.namespace": (o) => str(at(o, "regarding", "namespace")),
    "regarding.name": (o) => str(at(o, "regarding", "name")),
    "regarding.uid": (o) => str(at(o, "regarding", "uid")),
    reason: (o) => str(at(o, "reason")),
    reportingController: (o) => str(at(o, "reportingController")),
    type: (o) => str(at(o, "type")),
  },
  "/namespaces": { "status.phase": (o) => str(at(o, "status", "phase")) },
  "/nodes": { "spec.unschedulable": (o) => str(at(o, "spec", "unschedulable") ?? false) },
  "/secrets": { type: (o) => str(at(o, "type")) },
  "/services": {
    "spec.clusterIP": (o) => str(at(o, "spec", "clusterIP")),
    "spec.type": (o) => str(at(o, "spec", "type")),
  },
  "/replicationcontrollers": { "status.replicas": (o) => str(at(o, "status", "replicas")) },
  "apps/replicasets": { "status.replicas": (o) => str(at(o, "status", "replicas")) },
  "batch/jobs": { "status.successful": (o) => str(at(o, "status", "successful")) },
};

/** A compiled selector for one resource: label and field requirements. */
export interface ObjectFilter {
  labels: LabelRequirement[];
  fields: { req: FieldRequirement; get: FieldGetter }[];
  /** True when nothing is selected on (every object matches). */
  isEmpty: boolean;
}

/**
 * Compiles the `labelSelector` and `fieldSelector` of a request for resource
 * `<group>/<resource>`. Unknown field paths → BadRequest `field label not supported: <path>`.
 */
export function compileFilter(
  group: string,
  resource: string,
  labelSelector: string | undefined,
  fieldSelector: string | undefined,
): ObjectFilter {
  const labels = parseLabelSelector(labelSelector);
  const extra = EXTRA[`${group}/${resource}`] ?? {};
  const fields = parseFieldSelector(fieldSelector).map((req) => {
    const get = COMMON[req.path] ?? extra[req.path];
    if (get === undefined) throw badRequest(`field label not supported: ${req.path}`);
    return { req, get };
  });
  return { labels, fields, isEmpty: labels.length === 0 && fields.length === 0 };
}

/** True when `obj` passes the filter. */
export function matchesFilter(f: ObjectFilter, obj: KubeObject): boolean {
  if (f.isEmpty) return true;
  if (!matchesLabels(f.labels, obj.metadata.labels)) return false;
  const rec = obj as unknown as Record<string, unknown>;
  for (const { req, get } of f.fields) {
    const v = get(rec);
    if (req.op === "=" ? v !== req.value : v === req.value) return false;
  }
  return true;
}
