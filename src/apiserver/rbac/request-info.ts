import type { UserInfo } from "../../api/index.js";
import type { RequestAttributes } from "./types.js";

/** Namespace subresources that stay on the namespace (`/api/v1/namespaces/x/status`). */
const NAMESPACE_SUBRESOURCES = new Set(["status", "finalize"]);

/**
 * Subresources whose websocket GET is authorized as `create`, as upstream does since 1.30
 * (AuthorizePodWebsocketUpgradeCreatePermission): kubectl ≥ 1.30 opens exec, attach and
 * port-forward with a GET upgrade, and `get pods/exec` must not be enough to run commands.
 */
const STREAMING_SUBRESOURCES = new Set(["exec", "attach", "portforward"]);

function firstQuery(query: Record<string, string | string[]>, name: string): string | undefined {
  const v = query[name];
  return Array.isArray(v) ? v[0] : v;
}

/** `metadata.name=x` (or `==`) in a field selector, as upstream narrows list/watch to a name. */
function nameFromFieldSelector(selector: string | undefined): string {
  if (selector === undefined) return "";
  for (const term of selector.split(",")) {
    const m = /^\s*metadata\.name\s*==?\s*(.*?)\s*$/.exec(term);
    if (m?.[1] !== undefined) return m[1];
  }
  return "";
}

/**
 * Derives the authorization attributes of a request from its method, path and query, the way
 * upstream's RequestInfoFactory does: `/api/v1/...` and `/apis/<group>/<version>/...` are
 * resource requests (verb from the method; GET without a name is `list` or `watch`, DELETE
 * without a name `deletecollection`; the `/watch/` prefix means `watch`); anything else is a
 * non-resource request whose verb is the lower-case method. Pure.
 */
export function requestAttributes(
  user: UserInfo,
  method: string,
  path: string,
  query: Record<string, string | string[]> = {},
): RequestAttributes {
  const attrs: RequestAttributes = {
    user,
    verb: method.toLowerCase(),
    isResourceRequest: false,
    path,
    apiGroup: "",
    apiVersion: "",
    resource: "",
    subresource: "",
    namespace: "",
    name: "",
  };
  let parts = path.split("/").filter((s) => s !== "");
  if (parts.length < 3) return attrs;
  const prefix = parts[0];
  if (prefix !== "api" && prefix !== "apis") return attrs;
  parts = parts.slice(1);
  let group = "";
  if (prefix === "apis") {
    if (parts.length < 3) return attrs;
    group = parts[0] ?? "";
    parts = parts.slice(1);
  }
  const version = parts[0] ?? "";
  parts = parts.slice(1);
  let verb: string;
  if (parts[0] === "watch" || parts[0] === "proxy") {
    if (parts.length < 2) return attrs;
    verb = parts[0];
    parts = parts.slice(1);
  } else {
    verb = methodVerb(method);
  }
  let namespace = "";
  if (parts[0] === "namespaces") {
    if (parts.length > 1) {
      namespace = parts[1] ?? "";
      if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2] ?? "")) parts = parts.slice(2);
    }
  }
  const resource = parts[0] ?? "";
  let name = parts[1] ?? "";
  const subresource = parts.length >= 3 && verb !== "proxy" ? (parts[2] ?? "") : "";
  if (name === "" && verb === "get") {
    const isWatch = ["true", "1"].includes(firstQuery(query, "watch") ?? "");
    verb = isWatch ? "watch" : "list";
    name = nameFromFieldSelector(firstQuery(query, "fieldSelector"));
  } else if (name === "" && verb === "watch") {
    name = nameFromFieldSelector(firstQuery(query, "fieldSelector"));
  }
  if (name === "" && verb === "delete") verb = "deletecollection";
  if (group === "" && resource === "pods" && STREAMING_SUBRESOURCES.has(subresource)) {
    if (verb === "get") verb = "create";
  }
  return {
    ...attrs,
    verb,
    isResourceRequest: true,
    apiGroup: group,
    apiVersion: version,
    resource,
    subresource,
    namespace,
    name,
  };
}

function methodVerb(method: string): string {
  switch (method.toUpperCase()) {
    case "POST":
      return "create";
    case "GET":
    case "HEAD":
      return "get";
    case "PUT":
      return "update";
    case "PATCH":
      return "patch";
    case "DELETE":
      return "delete";
    default:
      return "";
  }
}
