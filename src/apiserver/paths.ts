import { RESOURCES, type ResourceInfo } from "./resources.js";

/** A parsed request path. */
export type Route =
  | { type: "version" }
  | { type: "health"; name: "healthz" | "livez" | "readyz" }
  | { type: "api" }
  | { type: "apis" }
  | { type: "group"; group: string }
  | { type: "groupVersion"; group: string; version: string }
  | {
      type: "resource";
      info: ResourceInfo;
      /** Namespace from the path (undefined: cluster-scoped or all namespaces). */
      namespace: string | undefined;
      name: string | undefined;
      subresource: string | undefined;
      /** Deprecated `/watch/` path prefix was used. */
      watchPath: boolean;
    };

function find(
  resources: readonly ResourceInfo[],
  group: string,
  version: string,
  resource: string,
): ResourceInfo | undefined {
  return resources.find(
    (r) => r.group === group && r.version === version && r.resource === resource,
  );
}

/**
 * Parses an API path (`/api/v1/namespaces/default/pods/web/log`, `/apis/apps/v1/...`,
 * `/version`, …). Undefined when nothing is served there (404).
 */
export function parsePath(
  path: string,
  resources: readonly ResourceInfo[] = RESOURCES,
): Route | undefined {
  // Clients escape each segment (`system:discovery` arrives as `system%3Adiscovery`).
  const segs = path
    .split("/")
    .filter((s) => s !== "")
    .map(unescapeSegment);
  const [first, ...rest] = segs;
  if (first === "version" && rest.length === 0) return { type: "version" };
  if ((first === "healthz" || first === "livez" || first === "readyz") && rest.length === 0) {
    return { type: "health", name: first };
  }
  let group: string;
  let version: string;
  let tail: string[];
  if (first === "api") {
    if (rest.length === 0) return { type: "api" };
    version = rest[0] ?? "";
    group = "";
    tail = rest.slice(1);
    if (version !== "v1") return undefined;
    if (tail.length === 0) return { type: "groupVersion", group, version };
  } else if (first === "apis") {
    if (rest.length === 0) return { type: "apis" };
    group = rest[0] ?? "";
    if (!resources.some((r) => r.group === group && group !== "")) return undefined;
    if (rest.length === 1) return { type: "group", group };
    version = rest[1] ?? "";
    if (!resources.some((r) => r.group === group && r.version === version)) return undefined;
    tail = rest.slice(2);
    if (tail.length === 0) return { type: "groupVersion", group, version };
  } else {
    return undefined;
  }
  let watchPath = false;
  if (tail[0] === "watch") {
    watchPath = true;
    tail = tail.slice(1);
  }
  // /namespaces/<ns>/<resource>[/<name>[/<sub>]] unless the third segment is a
  // subresource of the namespace itself (status, finalize).
  const nsInfo = find(resources, group, version, "namespaces");
  if (tail[0] === "namespaces" && tail.length >= 3) {
    const third = tail[2] ?? "";
    const isNsSub =
      group === "" &&
      nsInfo !== undefined &&
      nsInfo.subresources.includes(third) &&
      tail.length === 3;
    if (!isNsSub) {
      const info = find(resources, group, version, third);
      if (info === undefined || !info.namespaced || tail.length > 5) return undefined;
      if (tail[4] !== undefined && !info.subresources.includes(tail[4])) return undefined;
      return {
        type: "resource",
        info,
        namespace: tail[1],
        name: tail[3],
        subresource: tail[4],
        watchPath,
      };
    }
  }
  const info = find(resources, group, version, tail[0] ?? "");
  if (info === undefined || tail.length > 3) return undefined;
  // /api/v1/pods lists across namespaces; /api/v1/pods/x is not a path.
  if (info.namespaced && tail.length > 1) return undefined;
  if (tail[2] !== undefined && !info.subresources.includes(tail[2])) return undefined;
  return {
    type: "resource",
    info,
    namespace: undefined,
    name: tail[1],
    subresource: tail[2],
    watchPath,
  };
}

/** A path segment with its percent-escapes decoded; a malformed escape stays as sent. */
function unescapeSegment(segment: string): string {
  if (!segment.includes("%")) return segment;
  try {
    return decodeURIComponent(segment);
  } catch (err) {
    if (err instanceof URIError) return segment;
    throw err;
  }
}
