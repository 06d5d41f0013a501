import {
  ApiError,
  alreadyExists,
  badRequest,
  conflict,
  expired,
  notFound,
  rfc3339,
  type ApiRequest,
  type ApiResponse,
  type KubeObject,
  type Pod,
  type WatchEvent,
} from "../../api/index.js";
import { FakeClock, type Clock } from "../../util/index.js";
import type { ApiHandler } from "../handler-transport.js";

interface ParsedPath {
  group: string;
  version: string;
  resource: string;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
}

interface HistoryEntry {
  rv: number;
  group: string;
  resource: string;
  event: WatchEvent;
}

interface Watcher {
  group: string;
  resource: string;
  namespace: string | undefined;
  matches: (obj: KubeObject) => boolean;
  push: (ev: WatchEvent | "close") => void;
}

const KINDS: Record<string, string> = {
  pods: "Pod",
  nodes: "Node",
  namespaces: "Namespace",
  services: "Service",
  endpoints: "Endpoints",
  endpointslices: "EndpointSlice",
  configmaps: "ConfigMap",
  secrets: "Secret",
  serviceaccounts: "ServiceAccount",
  events: "Event",
  leases: "Lease",
};

/**
 * An in-memory, ApiHandler-shaped apiserver for unit tests. Serves get/list/create/update/
 * patch (merge, strategic treated as merge, apply)/delete/watch for any resource path, the
 * `status` and `binding` subresources, `log` from `setLog`, and a generic Table for
 * `Accept: …as=Table`. Supports `=`/`!=` field selectors on dotted paths and `k=v`/`k!=v`/`k`
 * label selectors. Records every request; `failNext` makes one call fail; `compact` expires
 * old resourceVersions and ends watches with a 410 ERROR event; `closeWatches` ends them
 * cleanly. Not a validation or defaulting implementation.
 */
export class FakeApiHandler implements ApiHandler {
  readonly clock: Clock;
  /** Every request seen, in order. */
  readonly requests: ApiRequest[] = [];
  readonly #objects = new Map<string, KubeObject>();
  readonly #history: HistoryEntry[] = [];
  readonly #watchers = new Set<Watcher>();
  readonly #logs = new Map<string, string>();
  readonly #failures: { method: string; pathIncludes: string; err: Error }[] = [];
  #rv = 0;
  #compactedRv = 0;
  #uid = 0;

  constructor(opts: { clock?: Clock } = {}) {
    this.clock = opts.clock ?? new FakeClock();
  }

  /** Current global resourceVersion. */
  get resourceVersion(): number {
    return this.#rv;
  }

  /** Number of open watches. */
  get watchCount(): number {
    return this.#watchers.size;
  }

  /** The next request whose method matches and whose path contains `pathIncludes` fails. */
  failNext(method: string, pathIncludes: string, err: Error): void {
    this.#failures.push({ method, pathIncludes, err });
  }

  /** Sets the text served by `pods/<name>/log?container=<container>`. */
  setLog(ns: string, pod: string, container: string, text: string): void {
    this.#logs.set(`${ns}/${pod}/${container}`, text);
  }

  /** Stored object at `path` (as `/api/v1/namespaces/ns/pods/name`), or undefined. */
  peek(path: string): KubeObject | undefined {
    const p = parsePath(path);
    if (p.name === undefined) return undefined;
    const obj = this.#objects.get(storeKey(p, p.name));
    return obj === undefined ? undefined : structuredClone(obj);
  }

  /** Stores `obj` at the collection `path` directly (no request recorded). */
  seed<T extends KubeObject>(collectionPath: string, obj: T): T {
    const p = parsePath(collectionPath);
    return this.#create(p, structuredClone(obj)) as T;
  }

  /** Forgets history up to now: watches from older versions get 410 Expired, open ones end. */
  compact(): void {
    this.#compactedRv = this.#rv;
    this.#history.length = 0;
    const status = expired(`too old resource version: ${this.#rv} (${this.#rv + 1})`).toStatus();
    for (const w of this.#watchers) {
      w.push({ type: "ERROR", object: status as unknown as KubeObject });
      w.push("close");
    }
  }

  /** Ends every open watch cleanly (a server-side timeout or dropped connection). */
  closeWatches(): void {
    for (const w of this.#watchers) w.push("close");
  }

  handle(req: ApiRequest): Promise<ApiResponse> {
    this.requests.push(structuredClone(req));
    try {
      return Promise.resolve(this.#handle(req));
    } catch (err) {
      if (err instanceof ApiError) {
        return Promise.resolve({ status: err.code, body: err.toStatus() });
      }
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  #takeFailure(req: ApiRequest): Error | undefined {
    const i = this.#failures.findIndex(
      (f) => f.method === req.method && req.path.includes(f.pathIncludes),
    );
    if (i < 0) return undefined;
    const [f] = this.#failures.splice(i, 1);
    return f?.err;
  }

  #handle(req: ApiRequest): ApiResponse {
    const failure = this.#takeFailure(req);
    if (failure !== undefined) throw failure;
    const p = parsePath(req.path);
    const query = req.query ?? {};
    switch (req.method) {
      case "GET": {
        if (p.name === undefined) return this.#list(p, query, req.headers?.["accept"]);
        const obj = this.#get(p, p.name);
        if (p.subresource === "log") return this.#log(p, obj as Pod, query);
        if (req.headers?.["accept"]?.includes("as=Table") === true)
          return { status: 200, body: tableOf([obj], String(this.#rv)) };
        return { status: 200, body: obj };
      }
      case "POST": {
        if (p.name !== undefined && p.subresource === "binding") return this.#bind(p, req.body);
        const obj = structuredClone(req.body) as KubeObject;
        if (p.namespace !== undefined) obj.metadata.namespace = p.namespace;
        return { status: 201, body: this.#create(p, obj) };
      }
      case "PUT": {
        if (p.name === undefined) throw new ApiError("MethodNotAllowed", "PUT on a collection");
        const obj = structuredClone(req.body) as KubeObject & { status?: unknown };
        const cur = this.#get(p, p.name) as KubeObject & { status?: unknown };
        const rv = obj.metadata.resourceVersion;
        if (rv !== undefined && rv !== cur.metadata.resourceVersion)
          throw conflict(p.resource, p.name);
        let next: KubeObject;
        if (p.subresource === "status") {
          next = { ...structuredClone(cur), status: obj.status } as KubeObject;
        } else {
          next = { ...obj, metadata: { ...cur.metadata, ...obj.metadata } };
          if ("status" in cur) (next as { status?: unknown }).status = cur.status;
        }
        return { status: 200, body: this.#replace(p, next) };
      }
      case "PATCH": {
        if (p.name === undefined) throw new ApiError("MethodNotAllowed", "PATCH on a collection");
        const key = storeKey(p, p.name);
        const cur = this.#objects.get(key);
        if (cur === undefined) {
          if (req.contentType === "application/apply-patch+yaml") {
            const obj = structuredClone(req.body) as KubeObject;
            if (p.namespace !== undefined) obj.metadata.namespace ??= p.namespace;
            return { status: 201, body: this.#create(p, obj) };
          }
          throw notFound(p.resource, p.name);
        }
        if (req.contentType === "application/json-patch+json")
          throw new ApiError("UnsupportedMediaType", "json patch is not supported by the fake");
        const merged = mergePatch(structuredClone(cur), req.body) as KubeObject;
        merged.metadata.name = p.name;
        merged.metadata.uid = cur.metadata.uid ?? "";
        return { status: 200, body: this.#replace(p, merged) };
      }
      case "DELETE": {
        if (p.name === undefined) throw new ApiError("MethodNotAllowed", "DELETE on a collection");
        const cur = this.#get(p, p.name);
        this.#objects.delete(storeKey(p, p.name));
        const gone = structuredClone(cur);
        gone.metadata.resourceVersion = String(++this.#rv);
        this.#emit(p, { type: "DELETED", object: gone });
        return {
          status: 200,
          body: {
            kind: "Status",
            apiVersion: "v1",
            metadata: {},
            status: "Success",
            details: { name: p.name, kind: p.resource, uid: cur.metadata.uid },
          },
        };
      }
    }
  }

  #get(p: ParsedPath, name: string): KubeObject {
    const obj = this.#objects.get(storeKey(p, name));
    if (obj === undefined) throw notFound(qualified(p), name);
    return structuredClone(obj);
  }

  #list(p: ParsedPath, query: Record<string, string | string[]>, accept?: string): ApiResponse {
    const matches = selectorMatcher(query);
    const items = [...this.#objects.entries()]
      .filter(([k]) => k.startsWith(collectionPrefix(p)))
      .map(([, v]) => v)
      .filter((o) => p.namespace === undefined || o.metadata.namespace === p.namespace)
      .filter(matches)
      .map((o) => structuredClone(o));
    if (accept?.includes("as=Table") === true) {
      return { status: 200, body: tableOf(items, String(this.#rv)) };
    }
    return {
      status: 200,
      body: {
        apiVersion: p.group === "" ? p.version : `${p.group}/${p.version}`,
        kind: `${KINDS[p.resource] ?? "Object"}List`,
        metadata: { resourceVersion: String(this.#rv) },
        items,
      },
    };
  }

  #create(p: ParsedPath, obj: KubeObject): KubeObject {
    if (obj.metadata.name === undefined && obj.metadata.generateName !== undefined) {
      obj.metadata.name = `${obj.metadata.generateName}${(++this.#uid).toString(36).padStart(5, "x")}`;
    }
    const name = obj.metadata.name;
    if (name === undefined || name === "") throw badRequest("name or generateName is required");
    const key = storeKey(p, name);
    if (this.#objects.has(key)) throw alreadyExists(qualified(p), name);
    obj.metadata.uid = `uid-${++this.#uid}`;
    obj.metadata.resourceVersion = String(++this.#rv);
    obj.metadata.creationTimestamp = rfc3339(this.clock.now());
    obj.kind ??= KINDS[p.resource] ?? "Object";
    obj.apiVersion ??= p.group === "" ? p.version : `${p.group}/${p.version}`;
    this.#objects.set(key, obj);
    this.#emit(p, { type: "ADDED", object: structuredClone(obj) });
    return structuredClone(obj);
  }

  #replace(p: ParsedPath, obj: KubeObject): KubeObject {
    const name = obj.metadata.name ?? p.name ?? "";
    obj.metadata.resourceVersion = String(++this.#rv);
    this.#objects.set(storeKey(p, name), obj);
    this.#emit(p, { type: "MODIFIED", object: structuredClone(obj) });
    return structuredClone(obj);
  }

  #bind(p: ParsedPath, body: unknown): ApiResponse {
    const name = p.name ?? "";
    const pod = this.#get(p, name) as Pod;
    if (pod.spec.nodeName !== undefined && pod.spec.nodeName !== "")
      throw conflict(
        "pods",
        name,
        `pod ${name} is already assigned to node "${pod.spec.nodeName}"`,
      );
    const target = (body as { target?: { name?: string } }).target?.name;
    if (target === undefined) throw badRequest("binding without a target");
    pod.spec.nodeName = target;
    pod.status ??= {};
    const conditions = (pod.status.conditions ?? []).filter((c) => c.type !== "PodScheduled");
    conditions.push({
      type: "PodScheduled",
      status: "True",
      lastProbeTime: null,
      lastTransitionTime: rfc3339(this.clock.now()),
    });
    pod.status.conditions = conditions;
    this.#replace(p, pod);
    return {
      status: 201,
      body: { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", code: 201 },
    };
  }

  #log(p: ParsedPath, pod: Pod, query: Record<string, string | string[]>): ApiResponse {
    const container = query["container"] ?? pod.spec.containers[0]?.name ?? "";
    const text = this.#logs.get(`${p.namespace ?? ""}/${p.name ?? ""}/${String(container)}`) ?? "";
    const tail = query["tailLines"];
    let out = text;
    if (typeof tail === "string") {
      const lines = text.split("\n");
      if (lines.at(-1) === "") lines.pop();
      out = lines.slice(-Number(tail)).join("\n") + (lines.length > 0 ? "\n" : "");
    }
    const bytes = new TextEncoder().encode(out);
    return {
      status: 200,
      contentType: "text/plain",
      stream: (async function* () {
        await Promise.resolve();
        yield bytes;
      })(),
    };
  }

  #emit(p: ParsedPath, event: WatchEvent): void {
    const rv = Number(event.object.metadata.resourceVersion);
    this.#history.push({ rv, group: p.group, resource: p.resource, event });
    for (const w of this.#watchers) {
      if (w.group !== p.group || w.resource !== p.resource) continue;
      if (w.namespace !== undefined && event.object.metadata.namespace !== w.namespace) continue;
      if (!w.matches(event.object)) continue;
      w.push(structuredClone(event));
    }
  }

  async *watch(req: ApiRequest, opts: { signal: AbortSignal }): AsyncIterable<WatchEvent> {
    this.requests.push(structuredClone(req));
    const failure = this.#takeFailure(req);
    if (failure !== undefined) throw failure;
    const p = parsePath(req.path);
    const query = req.query ?? {};
    const matches = selectorMatcher(query);
    const rvParam = typeof query["resourceVersion"] === "string" ? query["resourceVersion"] : "";
    const queue: (WatchEvent | "close")[] = [];
    let wake: (() => void) | undefined;
    const push = (ev: WatchEvent | "close"): void => {
      queue.push(ev);
      wake?.();
    };
    const inScope = (o: KubeObject): boolean =>
      (p.namespace === undefined || o.metadata.namespace === p.namespace) && matches(o);
    if (rvParam === "" || rvParam === "0") {
      for (const [k, o] of this.#objects)
        if (k.startsWith(collectionPrefix(p)) && inScope(o))
          queue.push({ type: "ADDED", object: structuredClone(o) });
    } else {
      const from = Number(rvParam);
      if (from < this.#compactedRv) {
        const st = expired(`too old resource version: ${from} (${this.#rv})`).toStatus();
        yield { type: "ERROR", object: st };
        return;
      }
      for (const h of this.#history)
        if (h.rv > from && h.group === p.group && h.resource === p.resource)
          if (inScope(h.event.object)) queue.push(structuredClone(h.event));
    }
    const watcher: Watcher = {
      group: p.group,
      resource: p.resource,
      namespace: p.namespace,
      matches,
      push,
    };
    this.#watchers.add(watcher);
    const onAbort = (): void => {
      push("close");
    };
    opts.signal.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        const ev = queue.shift();
        if (ev === undefined) {
          await new Promise<void>((r) => (wake = r));
          wake = undefined;
          continue;
        }
        if (ev === "close" || opts.signal.aborted) return;
        yield ev;
      }
    } finally {
      opts.signal.removeEventListener("abort", onAbort);
      this.#watchers.delete(watcher);
    }
  }
}

function qualified(p: ParsedPath): string {
  return p.group === "" ? p.resource : `${p.resource}.${p.group}`;
}

function parsePath(path: string): ParsedPath {
  const segs = path.split("/").filter((s) => s !== "");
  let group = "";
  let version: string;
  let rest: string[];
  if (segs[0] === "api") {
    version = segs[1] ?? "";
    rest = segs.slice(2);
  } else if (segs[0] === "apis") {
    group = segs[1] ?? "";
    version = segs[2] ?? "";
    rest = segs.slice(3);
  } else {
    throw new ApiError("NotFound", "the server could not find the requested resource");
  }
  rest = rest.map((s) => decodeURIComponent(s));
  const isNamespaceSub = rest.length === 3 && ["status", "finalize"].includes(rest[2] ?? "");
  if (rest[0] === "namespaces" && rest.length >= 3 && !isNamespaceSub) {
    return {
      group,
      version,
      namespace: rest[1],
      resource: rest[2] ?? "",
      name: rest[3],
      subresource: rest[4],
    };
  }
  return {
    group,
    version,
    namespace: undefined,
    resource: rest[0] ?? "",
    name: rest[1],
    subresource: rest[2],
  };
}

function collectionPrefix(p: ParsedPath): string {
  return `${p.group}/${p.resource}/`;
}

function storeKey(p: ParsedPath, name: string): string {
  return `${collectionPrefix(p)}${p.namespace ?? ""}/${name}`;
}

function fieldValue(obj: unknown, path: string): string {
  let cur: unknown = obj;
  for (const part of path.split(".")) {
    if (typeof cur !== "object" || cur === null) return "";
    cur = (cur as Record<string, unknown>)[part];
  }
  if (cur === undefined || cur === null) return "";
  return typeof cur === "string" ? cur : JSON.stringify(cur);
}

/** A predicate for the labelSelector and fieldSelector query parameters. */
function selectorMatcher(query: Record<string, string | string[]>): (o: KubeObject) => boolean {
  const fs = typeof query["fieldSelector"] === "string" ? query["fieldSelector"] : "";
  const ls = typeof query["labelSelector"] === "string" ? query["labelSelector"] : "";
  const tests: ((o: KubeObject) => boolean)[] = [];
  for (const term of fs.split(",").filter((t) => t !== "")) {
    const m = /^([^!=]+)(!=|==|=)(.*)$/.exec(term);
    if (m === null) throw badRequest(`invalid field selector: ${term}`);
    const [, path = "", op, value = ""] = m;
    tests.push((o) => (fieldValue(o, path) === value) === (op !== "!="));
  }
  for (const term of ls.split(",").filter((t) => t !== "")) {
    const m = /^([^!=]+)(!=|==|=)(.*)$/.exec(term);
    if (m === null) {
      const neg = term.startsWith("!");
      const key = neg ? term.slice(1) : term;
      tests.push((o) => (o.metadata.labels?.[key] !== undefined) !== neg);
      continue;
    }
    const [, key = "", op, value = ""] = m;
    tests.push((o) => (o.metadata.labels?.[key] === value) === (op !== "!="));
  }
  return (o) => tests.every((t) => t(o));
}

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    typeof target === "object" && target !== null && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) Reflect.deleteProperty(out, k);
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function tableOf(items: KubeObject[], resourceVersion: string): unknown {
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: { resourceVersion },
    columnDefinitions: [
      { name: "Name", type: "string", format: "name", description: "", priority: 0 },
      { name: "Created At", type: "date", format: "", description: "", priority: 0 },
    ],
    rows: items.map((o) => ({
      cells: [o.metadata.name ?? "", o.metadata.creationTimestamp ?? ""],
      object: {
        kind: "PartialObjectMetadata",
        apiVersion: "meta.k8s.io/v1",
        metadata: o.metadata,
      },
    })),
  };
}
