import type { FieldError } from "../errors.js";

// Constructors mirroring upstream's field.Required/Invalid/… so validators read like upstream.

/** `Required value[: detail]`. */
export function required(field: string, detail?: string): FieldError {
  return detail === undefined || detail === ""
    ? { type: "Required", field }
    : { type: "Required", field, detail };
}

/** `Invalid value: <v>: detail`. */
export function invalidField(field: string, value: unknown, detail: string): FieldError {
  return { type: "Invalid", field, value, detail };
}

/** `Forbidden: detail`. */
export function forbidden(field: string, detail: string): FieldError {
  return { type: "Forbidden", field, detail };
}

/** `Duplicate value: <v>`. */
export function duplicate(field: string, value: unknown): FieldError {
  return { type: "Duplicate", field, value };
}

/** `Not found: <v>`. */
export function notFoundField(field: string, value: unknown): FieldError {
  return { type: "NotFound", field, value };
}

/** `Unsupported value: <v>: supported values: "a", "b"`. */
export function notSupported(field: string, value: unknown, supported: string[]): FieldError {
  return { type: "NotSupported", field, value, supported };
}

/** `Too long: may not be more than <n> bytes`. */
export function tooLong(field: string, value: unknown, maxBytes: number): FieldError {
  return {
    type: "TooLong",
    field,
    value,
    detail: `may not be more than ${maxBytes} ${maxBytes === 1 ? "byte" : "bytes"}`,
  };
}

/** True for a plain JSON object. */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Upstream's immutable-field check: `Invalid value: <new>: field is immutable`. */
export function validateImmutable(newV: unknown, oldV: unknown, field: string): FieldError[] {
  return deepEqual(newV, oldV) ? [] : [invalidField(field, newV, "field is immutable")];
}

/** Structural equality of JSON values; `undefined` members equal absent ones. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => deepEqual(x, b[i]));
  }
  if (isRecord(a) && isRecord(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) if (!deepEqual(a[k], b[k])) return false;
    return true;
  }
  return false;
}

/** True for a non-null, non-array object; keeps the static type (for typed API values). */
export function isObj<T>(v: T): v is Exclude<T, null | undefined> & object {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** True if `v` (untrusted input, whatever its static type) is one of `allowed`. */
export function isOneOf(v: unknown, allowed: readonly string[]): boolean {
  return typeof v === "string" && allowed.includes(v);
}
