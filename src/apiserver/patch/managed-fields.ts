import {
  ApiError,
  type KubeObject,
  type ManagedFieldsEntry,
  type StatusCause,
} from "../../api/index.js";
import {
  decodePath,
  encodePath,
  fieldsOf,
  formatPath,
  fromFieldsV1,
  removeAt,
  toFieldsV1,
  valueAt,
  type FieldSet,
} from "./field-set.js";
import { clone, deepEqual, isMap, type JsonMap } from "./json.js";
import { listStrategy, type PatchTarget } from "./merge-keys.js";

/** Options of {@link serverSideApply}. */
export interface ServerSideApplyOptions {
  /** The field manager (`fieldManager` query parameter). */
  manager: string;
  /** `force=true`: take ownership of conflicting fields instead of failing. */
  force: boolean;
  /** apiVersion recorded in the managedFields entry (`v1`, `apps/v1`). */
  apiVersion: string;
  /** Timestamp recorded in the entry (RFC 3339). */
  nowIso: string;
  /** Group and kind, for list merge keys. @default derived from the object's apiVersion/kind */
  target?: PatchTarget;
}

function targetOf(obj: KubeObject): PatchTarget {
  const av = obj.apiVersion ?? "v1";
  const i = av.indexOf("/");
  return { group: i < 0 ? "" : av.slice(0, i), kind: obj.kind ?? "" };
}

interface Entry {
  meta: ManagedFieldsEntry;
  fields: FieldSet;
}

function entriesOf(obj: KubeObject | undefined): Entry[] {
  return (obj?.metadata.managedFields ?? []).map((meta) => ({
    meta,
    fields: fromFieldsV1(meta.fieldsV1),
  }));
}

function toManagedFields(entries: Entry[]): ManagedFieldsEntry[] {
  return entries
    .filter((e) => e.fields.size > 0)
    .map((e) => ({ ...e.meta, fieldsType: "FieldsV1", fieldsV1: toFieldsV1(e.fields) }));
}

/** `"m" using v1` for Update managers and `"m"` for Apply managers, as upstream prints. */
function printManager(m: ManagedFieldsEntry): string {
  const name = JSON.stringify(m.manager ?? "");
  const sub = m.subresource ? ` with subresource ${JSON.stringify(m.subresource)}` : "";
  return m.operation === "Update" ? `${name}${sub} using ${m.apiVersion ?? ""}` : `${name}${sub}`;
}

function isMember(path: readonly string[]): boolean {
  const last = path[path.length - 1];
  return last !== undefined && (last.startsWith("k:") || last.startsWith("v:"));
}

/** Merges an applied configuration into `base` in place (keyed lists by key, sets as sets). */
function mergeApplied(base: JsonMap, applied: JsonMap, keys: string[], target: PatchTarget): void {
  for (const [k, av] of Object.entries(applied)) {
    const bv = base[k];
    const childKeys = [...keys, k];
    if (isMap(av) && isMap(bv)) {
      mergeApplied(bv, av, childKeys, target);
    } else if (Array.isArray(av) && Array.isArray(bv)) {
      base[k] = mergeList(bv, av, childKeys, target);
    } else {
      base[k] = clone(av);
    }
  }
}

function mergeList(
  base: unknown[],
  applied: unknown[],
  keys: string[],
  target: PatchTarget,
): unknown[] {
  const strategy = listStrategy(target, keys);
  switch (strategy.type) {
    case "atomic":
      return clone(applied);
    case "set": {
      const out = [...base];
      for (const v of applied) if (!out.some((x) => deepEqual(x, v))) out.push(clone(v));
      return out;
    }
    case "key": {
      const out = [...base];
      for (const ae of applied) {
        if (!isMap(ae)) continue;
        const cur = out.find((x) => isMap(x) && deepEqual(x[strategy.key], ae[strategy.key]));
        if (isMap(cur)) mergeApplied(cur, ae, keys, target);
        else out.push(clone(ae));
      }
      return out;
    }
  }
}

/**
 * Server-side apply (KA-SSA-1..4): merges `applied` into `current` (or creates it when
 * `current` is undefined) and records `opts.manager`'s Apply ownership in managedFields.
 * Fields the manager applied before but no longer applies are removed unless another
 * manager owns them. A field owned by another manager with a different value is a conflict:
 * ApiError "Conflict" with FieldManagerConflict causes, or with `force` the ownership moves.
 * Pure: returns a new object. Identity and status fields are taken from `current`.
 */
export function serverSideApply(
  current: KubeObject | undefined,
  applied: KubeObject,
  opts: ServerSideApplyOptions,
): KubeObject {
  const target = opts.target ?? targetOf(applied);
  const appliedFields = fieldsOf(applied, target);
  const entries = entriesOf(current);
  const conflicts: { entry: ManagedFieldsEntry; path: string[] }[] = [];

  // Step 1: find conflicts with other managers.
  for (const e of entries) {
    if (e.meta.manager === opts.manager && e.meta.operation === "Apply") continue;
    for (const p of appliedFields) {
      if (!e.fields.has(p)) continue;
      const path = decodePath(p);
      if (isMember(path)) continue;
      const cur = valueAt(current, path);
      if (cur === undefined || deepEqual(cur, valueAt(applied, path))) continue;
      conflicts.push({ entry: e.meta, path });
    }
  }
  if (conflicts.length > 0 && !opts.force) throw conflictError(conflicts);
  for (const c of conflicts) {
    const e = entries.find((x) => x.meta === c.entry);
    e?.fields.delete(encodePath(c.path));
  }

  // Step 2: merge the applied configuration.
  const result = clone(current ?? { metadata: {} }) as unknown as JsonMap;
  const appliedCopy = clone(applied) as unknown as JsonMap;
  const appliedMeta = appliedCopy["metadata"];
  if (isMap(appliedMeta)) Reflect.deleteProperty(appliedMeta, "managedFields");
  mergeApplied(result, appliedCopy, [], target);

  // Step 3: remove fields this manager dropped from its configuration, if nobody else owns them.
  const own = entries.find((e) => e.meta.manager === opts.manager && e.meta.operation === "Apply");
  if (own !== undefined) {
    const dropped = [...own.fields]
      .filter((p) => !appliedFields.has(p))
      .filter((p) => !entries.some((e) => e !== own && e.fields.has(p)))
      .map(decodePath)
      .sort((a, b) => b.length - a.length);
    for (const path of dropped) removeAt(result, path);
  }

  // Step 4: record ownership.
  const entry: Entry = {
    meta: {
      manager: opts.manager,
      operation: "Apply",
      apiVersion: opts.apiVersion,
      time: opts.nowIso,
      fieldsType: "FieldsV1",
    },
    fields: appliedFields,
  };
  const others = entries.filter((e) => e !== own);
  const ordered =
    own === undefined ? [...others, entry] : entries.map((e) => (e === own ? entry : e));
  const meta = result["metadata"] as JsonMap;
  meta["managedFields"] = toManagedFields(ordered);
  return result as unknown as KubeObject;
}

function conflictError(conflicts: { entry: ManagedFieldsEntry; path: string[] }[]): ApiError {
  const causes: StatusCause[] = conflicts.map((c) => ({
    reason: "FieldManagerConflict",
    message: `conflict with ${printManager(c.entry)}`,
    field: formatPath(c.path),
  }));
  let message: string;
  const first = conflicts[0];
  if (conflicts.length === 1 && first !== undefined) {
    message = `Apply failed with 1 conflict: conflict with ${printManager(first.entry)}: ${formatPath(first.path)}`;
  } else {
    const byManager = new Map<string, string[]>();
    for (const c of conflicts) {
      const m = printManager(c.entry);
      byManager.set(m, [...(byManager.get(m) ?? []), formatPath(c.path)]);
    }
    const lines: string[] = [];
    for (const m of [...byManager.keys()].sort()) {
      lines.push(`conflicts with ${m}:`);
      for (const p of byManager.get(m) ?? []) lines.push(`- ${p}`);
    }
    message = `Apply failed with ${conflicts.length} conflicts: ${lines.join("\n")}`;
  }
  return new ApiError("Conflict", message, { causes });
}

/**
 * Records an ordinary write (create, update, non-apply patch) by `manager` in managedFields
 * with `operation: "Update"`: fields the write set or changed move to that manager, fields it
 * removed leave every manager. `old` is undefined for a create. Pure: returns a new object.
 */
export function updateManagedFields<T extends KubeObject>(
  old: KubeObject | undefined,
  next: T,
  manager: string,
  nowIso: string,
): T {
  const target = targetOf(next);
  const newFields = fieldsOf(next, target);
  const oldFields = old === undefined ? new Set<string>() : fieldsOf(old, target);
  const changed = [...newFields].filter((p) => {
    if (!oldFields.has(p)) return true;
    const path = decodePath(p);
    return !isMember(path) && !deepEqual(valueAt(old, path), valueAt(next, path));
  });
  const removed = [...oldFields].filter((p) => !newFields.has(p));
  const base = next.metadata.managedFields ?? old?.metadata.managedFields;
  const entries = entriesOf({ metadata: base === undefined ? {} : { managedFields: base } });
  const isMine = (e: Entry): boolean =>
    e.meta.manager === manager && e.meta.operation === "Update" && e.meta.subresource === undefined;
  for (const e of entries) {
    for (const p of removed) e.fields.delete(p);
    if (!isMine(e)) for (const p of changed) e.fields.delete(p);
  }
  let mine = entries.find(isMine);
  if (mine === undefined && changed.length > 0) {
    mine = { meta: { manager, operation: "Update" }, fields: new Set() };
    entries.push(mine);
  }
  if (mine !== undefined && changed.length > 0) {
    for (const p of changed) mine.fields.add(p);
    mine.meta = {
      manager,
      operation: "Update",
      apiVersion: next.apiVersion ?? "v1",
      time: nowIso,
      fieldsType: "FieldsV1",
    };
  }
  const out = clone(next);
  const managed = toManagedFields(entries);
  if (managed.length > 0) out.metadata.managedFields = managed;
  else delete out.metadata.managedFields;
  return out;
}
