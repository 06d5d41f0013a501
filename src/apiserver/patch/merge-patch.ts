import { clone, isMap } from "./json.js";

/**
 * Applies a JSON merge patch (RFC 7386, KA-PATCH-2): maps merge recursively, `null` deletes a
 * key, every other value (lists included) replaces. Pure: neither argument is modified.
 */
export function mergePatch(original: unknown, patch: unknown): unknown {
  if (!isMap(patch)) return clone(patch);
  const out: Record<string, unknown> = isMap(original) ? clone(original) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) {
      Reflect.deleteProperty(out, k);
    } else {
      out[k] = mergePatch(out[k], v);
    }
  }
  return out;
}
