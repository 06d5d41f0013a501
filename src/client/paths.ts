import type { ListOptions, PatchType, ResourceRef, WriteOptions } from "./types.js";

/** Content type sent for each patch type (KA-PATCH-1). */
export const PATCH_CONTENT_TYPES: Readonly<Record<PatchType, string>> = {
  merge: "application/merge-patch+json",
  strategic: "application/strategic-merge-patch+json",
  json: "application/json-patch+json",
  apply: "application/apply-patch+yaml",
};

/**
 * The REST path of a resource collection, object or subresource:
 * `/api/v1/namespaces/default/pods/web/status`. `ns` undefined on a namespaced resource
 * addresses the all-namespaces collection (`/api/v1/pods`), valid only for list and watch.
 */
export function resourcePath(
  ref: ResourceRef,
  ns: string | undefined,
  name?: string,
  subresource?: string,
): string {
  const root = ref.group === "" ? `/api/${ref.version}` : `/apis/${ref.group}/${ref.version}`;
  let path = root;
  if (ref.namespaced && ns !== undefined && ns !== "") path += `/namespaces/${enc(ns)}`;
  path += `/${ref.resource}`;
  if (name !== undefined) {
    if (name === "") throw new TypeError(`empty name for ${ref.resource}`);
    path += `/${enc(name)}`;
    if (subresource !== undefined) path += `/${subresource}`;
  }
  return path;
}

function enc(segment: string): string {
  return encodeURIComponent(segment);
}

/** Query parameters of a list or watch call; unset options are left out. */
export function listQuery(opts: ListOptions | undefined, watch = false): Record<string, string> {
  const q: Record<string, string> = {};
  if (opts?.labelSelector !== undefined) q["labelSelector"] = opts.labelSelector;
  if (opts?.fieldSelector !== undefined) q["fieldSelector"] = opts.fieldSelector;
  if (opts?.limit !== undefined) q["limit"] = String(opts.limit);
  if (opts?.continue !== undefined) q["continue"] = opts.continue;
  if (opts?.resourceVersion !== undefined) q["resourceVersion"] = opts.resourceVersion;
  if (opts?.allowWatchBookmarks !== undefined)
    q["allowWatchBookmarks"] = String(opts.allowWatchBookmarks);
  if (opts?.timeoutSeconds !== undefined) q["timeoutSeconds"] = String(opts.timeoutSeconds);
  if (watch) q["watch"] = "true";
  return q;
}

/** Query parameters of a write (`fieldManager`, `dryRun=All`, `force`). */
export function writeQuery(
  opts: (WriteOptions & { force?: boolean }) | undefined,
): Record<string, string> {
  const q: Record<string, string> = {};
  if (opts?.fieldManager !== undefined) q["fieldManager"] = opts.fieldManager;
  if (opts?.dryRun === true) q["dryRun"] = "All";
  if (opts?.force !== undefined) q["force"] = String(opts.force);
  return q;
}

/** Encodes a decoded query map as a query string (`?a=1&b=2`), or `""` when empty. */
export function encodeQuery(query: Record<string, string | string[]> | undefined): string {
  if (query === undefined) return "";
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (Array.isArray(v)) for (const x of v) params.append(k, x);
    else params.append(k, v);
  }
  const s = params.toString();
  return s === "" ? "" : `?${s}`;
}
