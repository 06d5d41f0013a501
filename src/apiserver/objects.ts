import { randomInt } from "node:crypto";
import type { KubeObject } from "../api/index.js";
import { apiVersionOf, type ResourceInfo } from "./resources.js";
import type { Stored } from "../storage/index.js";

/** Deep structural equality of JSON values (key order does not matter). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const ka = Object.keys(ra).filter((k) => ra[k] !== undefined);
  const kb = Object.keys(rb).filter((k) => rb[k] !== undefined);
  if (ka.length !== kb.length) return false;
  for (const k of ka) if (!deepEqual(ra[k], rb[k])) return false;
  return true;
}

/** A private deep copy (JSON semantics), for values that are about to be mutated. */
export function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

const NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789";

/** `generateName` suffix: 5 characters from upstream's alphabet (no vowels, no 0/1/3). */
export function randomSuffix(): string {
  let s = "";
  for (let i = 0; i < 5; i++) s += NAME_CHARS[randomInt(NAME_CHARS.length)] ?? "x";
  return s;
}

/** Storage key prefix of a resource, for one namespace or (undefined) all of them. */
export function prefixFor(info: ResourceInfo, namespace: string | undefined): string {
  const base = `/registry/${info.group === "" ? "core" : info.group}/${info.resource}/`;
  return info.namespaced && namespace !== undefined ? `${base}${namespace}/` : base;
}

/** Storage key of one object. */
export function keyFor(info: ResourceInfo, namespace: string | undefined, name: string): string {
  return `${prefixFor(info, namespace)}${name}`;
}

/**
 * The served form of a stored value: type meta set and `metadata.resourceVersion` =
 * `revision`. Shallow: shares everything below `metadata` with the stored value, so it must
 * be cloned before mutation.
 */
export function served(info: ResourceInfo, value: object, revision: number): KubeObject {
  const v = value as KubeObject;
  return {
    ...v,
    apiVersion: apiVersionOf(info),
    kind: info.kind,
    metadata: { ...v.metadata, resourceVersion: String(revision) },
  };
}

/** {@link served} of a Stored entry. */
export function servedStored(info: ResourceInfo, s: Stored): KubeObject {
  return served(info, s.value, s.modRevision);
}

/** Narrows an unknown value to a plain object. */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
