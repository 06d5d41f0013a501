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

/** Request bodies decoded from JSON text for one request, see {@link markPrivateBody}. */
const privateBodies = new WeakSet<object>();

/**
 * Records that `body` was just parsed from JSON text and nobody else holds it, so the one
 * write that consumes it ({@link takePrivateBody}) may use it in place instead of taking a
 * {@link clone}, which would be the same value (a JSON round trip of a JSON parse).
 */
export function markPrivateBody(body: unknown): void {
  if (typeof body === "object" && body !== null) privateBodies.add(body);
}

/**
 * True when `body` was marked by {@link markPrivateBody}; clears the mark, so only the first
 * consumer may mutate it (a retried write must copy the original again).
 */
export function takePrivateBody(body: unknown): boolean {
  return typeof body === "object" && body !== null && privateBodies.delete(body);
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

/**
 * UTF-8 JSON of `servedStored(info, s)`, encoded once per stored entry and kept outside the
 * JS heap. A write replaces the Stored entry (stores never mutate one), so cached bytes can
 * never outlive their value.
 */
const servedBytes = new WeakMap<Stored, { info: ResourceInfo; bytes: Buffer }>();

function servedJson(info: ResourceInfo, s: Stored): Buffer {
  const hit = servedBytes.get(s);
  if (hit?.info === info) return hit.bytes;
  const bytes = Buffer.from(JSON.stringify(servedStored(info, s)));
  servedBytes.set(s, { info, bytes });
  return bytes;
}

/** Lists built by {@link listOfStored}: the entries their items were served from. */
const listSources = new WeakMap<
  object,
  { info: ResourceInfo; items: readonly KubeObject[]; stored: readonly Stored[] }
>();

/**
 * A list whose `items[i]` is `servedStored(info, stored[i])`, remembered so that
 * {@link encodeJson} can concatenate the cached encodings of its items instead of serializing
 * every item again.
 */
export function listOfStored<L extends { items: KubeObject[] }>(
  list: L,
  info: ResourceInfo,
  stored: readonly Stored[],
): L {
  listSources.set(list, { info, items: list.items, stored });
  return list;
}

const COMMA = Buffer.from(",");

/**
 * The UTF-8 bytes of `JSON.stringify(body)`, exactly, but a list from {@link listOfStored}
 * is assembled from per-object encodings that earlier responses already produced. Falls back
 * to a full stringify when the list's items were replaced or resized after it was built.
 */
export function encodeJson(body: unknown): Buffer {
  const src = typeof body === "object" && body !== null ? listSources.get(body) : undefined;
  if (src === undefined) return Buffer.from(JSON.stringify(body));
  const list = body as { items: unknown };
  if (list.items !== src.items || src.items.length !== src.stored.length) {
    return Buffer.from(JSON.stringify(body));
  }
  // `items` is the list's last key, so the rest of the list encodes with an empty array.
  const head = JSON.stringify({ ...(body as object), items: [] });
  if (!head.endsWith('"items":[]}')) return Buffer.from(JSON.stringify(body));
  const parts: Buffer[] = [Buffer.from(head.slice(0, -2))];
  src.stored.forEach((s, i) => {
    if (i > 0) parts.push(COMMA);
    parts.push(servedJson(src.info, s));
  });
  parts.push(Buffer.from("]}"));
  return Buffer.concat(parts);
}

/** Narrows an unknown value to a plain object. */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
