import { ApiError } from "../../api/index.js";
import { clone, deepEqual, isMap, type JsonMap } from "./json.js";
import { listStrategy, type PatchTarget } from "./merge-keys.js";

const SET_ORDER = "$setElementOrder/";
const DELETE_FROM = "$deleteFromPrimitiveList/";

function badPatch(message: string): ApiError {
  return new ApiError("BadRequest", message);
}

/** Removes every `$…` directive and null from a patch value that has no original to merge into. */
function stripDirectives(v: unknown): unknown {
  if (Array.isArray(v)) {
    return v.filter((e) => !(isMap(e) && e["$patch"] === "delete")).map((e) => stripDirectives(e));
  }
  if (!isMap(v)) return clone(v);
  const out: JsonMap = {};
  for (const [k, x] of Object.entries(v)) {
    if (k.startsWith("$") || x === null) continue;
    out[k] = stripDirectives(x);
  }
  return out;
}

/**
 * Applies a strategic merge patch (KA-PATCH-3) to `original`. Lists with a merge key (see
 * `listStrategy`) merge by key, primitive set lists merge as sets, other lists are replaced.
 * Supports `null` deletion, `$patch: replace|delete|merge`, `$setElementOrder/<list>`,
 * `$deleteFromPrimitiveList/<list>` and `$retainKeys`. Pure. Malformed directives throw
 * ApiError "BadRequest".
 */
export function strategicMergePatch(
  original: unknown,
  patch: unknown,
  target: PatchTarget,
): unknown {
  if (!isMap(patch)) throw badPatch("strategic merge patch must be a JSON object");
  const result = mergeMap(isMap(original) ? original : {}, patch, [], target);
  return result ?? {};
}

/** Merges `patch` into `orig` at `path`; undefined means "delete this map". */
function mergeMap(
  orig: JsonMap,
  patch: JsonMap,
  path: string[],
  target: PatchTarget,
): JsonMap | undefined {
  const directive = patch["$patch"];
  if (directive === "replace") return stripDirectives(patch) as JsonMap;
  if (directive === "delete") return undefined;
  if (directive !== undefined && directive !== "merge") {
    throw badPatch(`unknown patch type: ${JSON.stringify(directive)}`);
  }
  const out = clone(orig);
  for (const [k, pv] of Object.entries(patch)) {
    if (k === "$patch" || k === "$retainKeys" || k.startsWith(SET_ORDER)) continue;
    if (k.startsWith(DELETE_FROM)) {
      const field = k.slice(DELETE_FROM.length);
      if (!Array.isArray(pv)) throw badPatch(`${k} must be a list`);
      const cur = out[field];
      if (Array.isArray(cur)) out[field] = cur.filter((x) => !pv.some((d) => deepEqual(d, x)));
      continue;
    }
    if (pv === null) {
      Reflect.deleteProperty(out, k);
      continue;
    }
    const ov = out[k];
    const childPath = [...path, k];
    if (isMap(pv)) {
      const merged = mergeMap(isMap(ov) ? ov : {}, pv, childPath, target);
      if (merged === undefined) Reflect.deleteProperty(out, k);
      else out[k] = merged;
    } else if (Array.isArray(pv)) {
      out[k] = mergeList(Array.isArray(ov) ? ov : [], pv, childPath, target);
    } else {
      out[k] = pv;
    }
  }
  for (const [k, order] of Object.entries(patch)) {
    if (!k.startsWith(SET_ORDER)) continue;
    const field = k.slice(SET_ORDER.length);
    if (!Array.isArray(order)) throw badPatch(`${k} must be a list`);
    const cur = out[field];
    if (Array.isArray(cur))
      out[field] = reorder(cur, order, listStrategy(target, [...path, field]));
  }
  const retain = patch["$retainKeys"];
  if (retain !== undefined) {
    if (!Array.isArray(retain)) throw badPatch("$retainKeys must be a list of strings");
    for (const k of Object.keys(out)) if (!retain.includes(k)) Reflect.deleteProperty(out, k);
  }
  return out;
}

function keyOfElement(e: unknown, key: string): unknown {
  return isMap(e) ? e[key] : undefined;
}

function mergeList(
  orig: unknown[],
  patch: unknown[],
  path: string[],
  target: PatchTarget,
): unknown[] {
  const strategy = listStrategy(target, path);
  if (patch.some((e) => isMap(e) && e["$patch"] === "replace")) {
    return stripDirectives(
      patch.filter((e) => !(isMap(e) && e["$patch"] === "replace")),
    ) as unknown[];
  }
  switch (strategy.type) {
    case "atomic":
      return stripDirectives(patch) as unknown[];
    case "set": {
      const out = clone(orig);
      for (const v of patch) if (!out.some((x) => deepEqual(x, v))) out.push(clone(v));
      return out;
    }
    case "key": {
      const out = clone(orig);
      for (const pe of patch) {
        if (!isMap(pe)) throw badPatch(`list ${path.join(".")} must contain maps`);
        const kv = pe[strategy.key];
        if (kv === undefined) {
          throw badPatch(
            `map: ${JSON.stringify(pe)} does not contain declared merge key: ${strategy.key}`,
          );
        }
        const idx = out.findIndex((x) => deepEqual(keyOfElement(x, strategy.key), kv));
        if (pe["$patch"] === "delete") {
          if (idx >= 0) out.splice(idx, 1);
          continue;
        }
        if (idx >= 0) {
          const cur = out[idx];
          const merged = mergeMap(isMap(cur) ? cur : {}, pe, path, target);
          if (merged === undefined) out.splice(idx, 1);
          else out[idx] = merged;
        } else {
          out.push(stripDirectives(pe));
        }
      }
      return out;
    }
  }
}

/**
 * Orders `list` by `order` ($setElementOrder): listed elements take the listed order; elements
 * not listed keep their relative order after them.
 */
function reorder(
  list: unknown[],
  order: unknown[],
  strategy: ReturnType<typeof listStrategy>,
): unknown[] {
  const identity = (e: unknown): unknown =>
    strategy.type === "key" ? keyOfElement(e, strategy.key) : e;
  const rank = (e: unknown): number => {
    const id = identity(e);
    const i = order.findIndex((o) => deepEqual(identity(o), id));
    return i < 0 ? order.length : i;
  };
  return list
    .map((e, i) => ({ e, i, r: rank(e) }))
    .sort((a, b) => a.r - b.r || a.i - b.i)
    .map((x) => x.e);
}
