import { deepEqual, isMap, type JsonMap } from "./json.js";
import { listStrategy, type PatchTarget } from "./merge-keys.js";

/**
 * One field path as upstream's FieldsV1 spells its steps: `f:<field>` for map keys,
 * `k:{"name":"c1"}` for elements of keyed lists, `v:"a"` for members of set lists. A path
 * ending in a `k:` step means the list element itself (FieldsV1's `.` entry).
 */
export type FieldPath = readonly string[];

/** A set of field paths, stored by their JSON encoding. */
export type FieldSet = Set<string>;

/** Top-level and metadata fields that are never owned (upstream ignores them for ownership). */
const IGNORED_TOP = new Set(["apiVersion", "kind", "status"]);
const IGNORED_META = new Set([
  "name",
  "namespace",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "managedFields",
  "selfLink",
]);

/** Encodes a path for a FieldSet. */
export function encodePath(p: FieldPath): string {
  return JSON.stringify(p);
}

/** Decodes a FieldSet entry. */
export function decodePath(s: string): string[] {
  return JSON.parse(s) as string[];
}

/** Every owned field path of `obj` (leaves, list elements and set members). */
export function fieldsOf(obj: unknown, target: PatchTarget): FieldSet {
  const out: FieldSet = new Set();
  if (!isMap(obj)) return out;
  for (const [k, v] of Object.entries(obj)) {
    if (IGNORED_TOP.has(k)) continue;
    if (k === "metadata" && isMap(v)) {
      for (const [mk, mv] of Object.entries(v)) {
        if (IGNORED_META.has(mk)) continue;
        walk(mv, ["metadata", mk], ["f:metadata", `f:${mk}`], target, out);
      }
      continue;
    }
    walk(v, [k], [`f:${k}`], target, out);
  }
  return out;
}

function walk(
  v: unknown,
  keys: string[],
  path: string[],
  target: PatchTarget,
  out: FieldSet,
): void {
  if (isMap(v)) {
    const entries = Object.entries(v);
    if (entries.length === 0) out.add(encodePath(path));
    for (const [k, x] of entries) walk(x, [...keys, k], [...path, `f:${k}`], target, out);
    return;
  }
  if (Array.isArray(v)) {
    const strategy = listStrategy(target, keys);
    if (strategy.type === "key") {
      for (const e of v) {
        if (!isMap(e) || e[strategy.key] === undefined) continue;
        const ep = [...path, keyStep(strategy.key, e[strategy.key])];
        out.add(encodePath(ep));
        for (const [k, x] of Object.entries(e))
          walk(x, [...keys, k], [...ep, `f:${k}`], target, out);
      }
      return;
    }
    if (strategy.type === "set") {
      for (const e of v) out.add(encodePath([...path, `v:${JSON.stringify(e)}`]));
      return;
    }
  }
  out.add(encodePath(path));
}

function keyStep(key: string, value: unknown): string {
  return `k:${JSON.stringify({ [key]: value })}`;
}

/** The value at `path` in `obj`, or undefined. */
export function valueAt(obj: unknown, path: FieldPath): unknown {
  let cur = obj;
  for (const step of path) {
    if (step.startsWith("f:")) {
      if (!isMap(cur)) return undefined;
      cur = cur[step.slice(2)];
    } else if (step.startsWith("k:")) {
      if (!Array.isArray(cur)) return undefined;
      const want = JSON.parse(step.slice(2)) as JsonMap;
      cur = cur.find((e) => isMap(e) && Object.entries(want).every(([k, v]) => deepEqual(e[k], v)));
    } else if (step.startsWith("v:")) {
      if (!Array.isArray(cur)) return undefined;
      const want: unknown = JSON.parse(step.slice(2));
      cur = cur.find((e) => deepEqual(e, want));
    } else {
      return undefined;
    }
  }
  return cur;
}

/** Removes the field at `path` from `obj` in place; a missing path is a no-op. */
export function removeAt(obj: unknown, path: FieldPath): void {
  const parent = valueAt(obj, path.slice(0, -1));
  const step = path[path.length - 1];
  if (step === undefined) return;
  if (step.startsWith("f:")) {
    if (isMap(parent)) Reflect.deleteProperty(parent, step.slice(2));
    return;
  }
  if (!Array.isArray(parent)) return;
  const target = valueAt(obj, path);
  const i = parent.indexOf(target);
  if (i >= 0) parent.splice(i, 1);
}

/** `.spec.containers[name="c1"].image`: the path as upstream prints it in conflicts. */
export function formatPath(path: FieldPath): string {
  return path
    .map((step) => {
      if (step.startsWith("f:")) return `.${step.slice(2)}`;
      if (step.startsWith("k:")) {
        const kv = JSON.parse(step.slice(2)) as JsonMap;
        return `[${Object.entries(kv)
          .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
          .join(",")}]`;
      }
      return `[=${step.slice(2)}]`;
    })
    .join("");
}

/** The FieldsV1 tree of a set (`{"f:spec":{"f:containers":{"k:{…}":{".":{},…}}}}`). */
export function toFieldsV1(set: FieldSet): JsonMap {
  const root: JsonMap = {};
  const sorted = [...set].map(decodePath).sort((a, b) => a.length - b.length);
  for (const path of sorted) {
    let node = root;
    for (const step of path) {
      const existing = node[step];
      const child: JsonMap = isMap(existing) ? existing : {};
      node[step] = child;
      node = child;
    }
  }
  // A node that is itself a member and also has children carries ".".
  markMembers(root, set, []);
  return root;
}

function markMembers(node: JsonMap, set: FieldSet, path: string[]): void {
  for (const [step, child] of Object.entries(node)) {
    if (step === "." || !isMap(child)) continue;
    const p = [...path, step];
    const childKeys = Object.keys(child).filter((k) => k !== ".");
    if (childKeys.length > 0 && set.has(encodePath(p))) child["."] = {};
    markMembers(child, set, p);
  }
}

/** Parses a FieldsV1 tree back into a set; tolerates malformed input by ignoring it. */
export function fromFieldsV1(tree: unknown): FieldSet {
  const out: FieldSet = new Set();
  const visit = (node: unknown, path: string[]): void => {
    if (!isMap(node)) return;
    for (const [step, child] of Object.entries(node)) {
      if (step === ".") {
        out.add(encodePath(path));
        continue;
      }
      const p = [...path, step];
      if (isMap(child) && Object.keys(child).length > 0) visit(child, p);
      else out.add(encodePath(p));
    }
  };
  visit(tree, []);
  return out;
}
