import { ApiError } from "../../api/index.js";
import { clone, deepEqual, isMap } from "./json.js";

/** One RFC 6902 operation. */
interface Operation {
  op: string;
  path: string;
  from?: string;
  value?: unknown;
}

function invalidPatch(message: string, opts?: { cause?: unknown }): ApiError {
  return new ApiError("Invalid", message, undefined, opts);
}

function parsePointer(ptr: string): string[] {
  if (ptr === "") return [];
  if (!ptr.startsWith("/")) throw invalidPatch(`invalid JSON pointer: "${ptr}"`);
  return ptr
    .slice(1)
    .split("/")
    .map((s) => s.replaceAll("~1", "/").replaceAll("~0", "~"));
}

function arrayIndex(arr: unknown[], token: string, allowEnd: boolean, ptr: string): number {
  if (allowEnd && token === "-") return arr.length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) {
    throw invalidPatch(`invalid array index "${token}" in path "${ptr}"`);
  }
  const i = Number(token);
  if (i > arr.length || (!allowEnd && i === arr.length)) {
    throw invalidPatch(`array index out of bounds: ${token} in path "${ptr}"`);
  }
  return i;
}

/** Resolves the container holding the last token of `ptr`; throws if a step is missing. */
function parentOf(doc: unknown, tokens: string[], ptr: string): unknown {
  let cur = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) {
      cur = cur[arrayIndex(cur, t, false, ptr)];
    } else if (isMap(cur) && Object.hasOwn(cur, t)) {
      cur = cur[t];
    } else {
      throw invalidPatch(`doc is missing path: "${ptr}": missing value`);
    }
  }
  return cur;
}

function getAt(doc: unknown, ptr: string): unknown {
  const tokens = parsePointer(ptr);
  if (tokens.length === 0) return doc;
  const parent = parentOf(doc, tokens, ptr);
  const last = tokens[tokens.length - 1] ?? "";
  if (Array.isArray(parent)) return parent[arrayIndex(parent, last, false, ptr)];
  if (isMap(parent) && Object.hasOwn(parent, last)) return parent[last];
  throw invalidPatch(`doc is missing path: "${ptr}": missing value`);
}

function removeAt(doc: unknown, ptr: string): unknown {
  const tokens = parsePointer(ptr);
  if (tokens.length === 0) throw invalidPatch(`unable to remove the root of the document`);
  const parent = parentOf(doc, tokens, ptr);
  const last = tokens[tokens.length - 1] ?? "";
  if (Array.isArray(parent)) {
    return parent.splice(arrayIndex(parent, last, false, ptr), 1)[0];
  }
  if (isMap(parent) && Object.hasOwn(parent, last)) {
    const v = parent[last];
    Reflect.deleteProperty(parent, last);
    return v;
  }
  throw invalidPatch(`unable to remove nonexistent key: ${last}: missing value`);
}

/** Adds (or, with `replace`, replaces) at `ptr`; returns the new document root. */
function putAt(doc: unknown, ptr: string, value: unknown, replace: boolean): unknown {
  const tokens = parsePointer(ptr);
  if (tokens.length === 0) return value;
  const parent = parentOf(doc, tokens, ptr);
  const last = tokens[tokens.length - 1] ?? "";
  if (Array.isArray(parent)) {
    const i = arrayIndex(parent, last, !replace, ptr);
    parent.splice(i, replace ? 1 : 0, value);
  } else if (isMap(parent)) {
    if (replace && !Object.hasOwn(parent, last)) {
      throw invalidPatch(
        `replace operation does not apply: doc is missing key: ${ptr}: missing value`,
      );
    }
    parent[last] = value;
  } else {
    throw invalidPatch(`doc is missing path: "${ptr}": missing value`);
  }
  return doc;
}

function toOperations(patch: unknown): Operation[] {
  if (!Array.isArray(patch)) {
    throw new ApiError(
      "BadRequest",
      "json: cannot unmarshal object into Go value of type jsonpatch.Patch",
    );
  }
  return patch.map((op: unknown) => {
    if (!isMap(op) || typeof op["op"] !== "string" || typeof op["path"] !== "string") {
      throw invalidPatch("invalid JSON patch operation: missing op or path");
    }
    const o: Operation = { op: op["op"], path: op["path"] };
    if (typeof op["from"] === "string") o.from = op["from"];
    if (Object.hasOwn(op, "value")) o.value = op["value"];
    return o;
  });
}

/**
 * Applies a JSON patch (RFC 6902): add, remove, replace, move, copy, test. Pure. A failed
 * `test`, a missing path or an unknown op throw ApiError "Invalid" (422, KA-PATCH-5).
 */
export function jsonPatch(original: unknown, patch: unknown): unknown {
  let doc = clone(original);
  for (const o of toOperations(patch)) {
    switch (o.op) {
      case "add":
        if (!Object.hasOwn(o, "value")) throw invalidPatch(`add operation missing value`);
        doc = putAt(doc, o.path, clone(o.value), false);
        break;
      case "remove":
        removeAt(doc, o.path);
        break;
      case "replace":
        if (!Object.hasOwn(o, "value")) throw invalidPatch(`replace operation missing value`);
        doc = putAt(doc, o.path, clone(o.value), true);
        break;
      case "move": {
        if (o.from === undefined) throw invalidPatch(`move operation missing from`);
        if (o.path.startsWith(o.from + "/")) {
          throw invalidPatch(`move operation: "from" ${o.from} is a prefix of "path" ${o.path}`);
        }
        const v = removeAt(doc, o.from);
        doc = putAt(doc, o.path, v, false);
        break;
      }
      case "copy": {
        if (o.from === undefined) throw invalidPatch(`copy operation missing from`);
        doc = putAt(doc, o.path, clone(getAt(doc, o.from)), false);
        break;
      }
      case "test": {
        let actual: unknown;
        try {
          actual = getAt(doc, o.path);
        } catch (err) {
          throw invalidPatch(`testing value ${o.path} failed: test failed`, { cause: err });
        }
        if (!deepEqual(actual, o.value)) {
          throw invalidPatch(`testing value ${o.path} failed: test failed`);
        }
        break;
      }
      default:
        throw invalidPatch(`Unexpected kind: ${o.op}`);
    }
  }
  return doc;
}
