import type {
  ApiRequest,
  ApiResponse,
  CallOptions,
  ConfigMap,
  DeleteOptions,
  EndpointSlice,
  Endpoints,
  Event,
  KubeList,
  KubeObject,
  Lease,
  Namespace,
  Node,
  Pod,
  Secret,
  Service,
  ServiceAccount,
  TokenRequest,
  WatchEvent,
} from "../api/index.js";
import { PATCH_CONTENT_TYPES, listQuery, resourcePath, writeQuery } from "./paths.js";
import { isAborted } from "./signals.js";
import type {
  ListOptions,
  PatchType,
  ResourceClient,
  ResourceRef,
  Transport,
  WriteOptions,
} from "./types.js";

/** Resource references for the resources the typed client knows. */
export const REFS = {
  pods: { group: "", version: "v1", resource: "pods", namespaced: true },
  nodes: { group: "", version: "v1", resource: "nodes", namespaced: false },
  namespaces: { group: "", version: "v1", resource: "namespaces", namespaced: false },
  services: { group: "", version: "v1", resource: "services", namespaced: true },
  endpoints: { group: "", version: "v1", resource: "endpoints", namespaced: true },
  endpointSlices: {
    group: "discovery.k8s.io",
    version: "v1",
    resource: "endpointslices",
    namespaced: true,
  },
  configMaps: { group: "", version: "v1", resource: "configmaps", namespaced: true },
  secrets: { group: "", version: "v1", resource: "secrets", namespaced: true },
  serviceAccounts: { group: "", version: "v1", resource: "serviceaccounts", namespaced: true },
  events: { group: "", version: "v1", resource: "events", namespaced: true },
  leases: { group: "coordination.k8s.io", version: "v1", resource: "leases", namespaced: true },
} as const satisfies Record<string, ResourceRef>;

/** Options of a pod log read (`GET pods/<name>/log`, KA-LOGS). */
export interface LogOptions extends CallOptions {
  container?: string;
  previous?: boolean;
  tailLines?: number;
  timestamps?: boolean;
  sinceSeconds?: number;
  sinceTime?: string;
  limitBytes?: number;
}

/**
 * A typed client for one resource, bound to one namespace (or to all namespaces when `ns` is
 * undefined, which only list and watch accept; other calls then take the namespace from the
 * object). Stateless and safe for concurrent use; errors are the transport's ApiErrors.
 */
export class TypedResourceClient<T extends KubeObject> implements ResourceClient<T> {
  protected readonly transport: Transport;
  readonly ref: ResourceRef;
  readonly namespace: string | undefined;

  constructor(transport: Transport, ref: ResourceRef, ns: string | undefined) {
    this.transport = transport;
    this.ref = ref;
    this.namespace = ref.namespaced ? ns : undefined;
  }

  /** Path of the object `name` (and optional subresource) in this client's namespace. */
  protected path(name?: string, subresource?: string, ns = this.namespace): string {
    if (name !== undefined && this.ref.namespaced && (ns === undefined || ns === ""))
      throw new TypeError(`namespace required for ${this.ref.resource} "${name}"`);
    return resourcePath(this.ref, ns, name, subresource);
  }

  async get(name: string, opts?: CallOptions): Promise<T> {
    const res = await this.transport.request({ method: "GET", path: this.path(name) }, opts);
    return res.body as T;
  }

  async list(opts?: ListOptions): Promise<KubeList<T>> {
    const res = await this.transport.request(
      { method: "GET", path: this.path(), query: listQuery(opts) },
      opts,
    );
    return res.body as KubeList<T>;
  }

  async create(obj: T, opts?: WriteOptions): Promise<T> {
    const ns = this.namespace ?? obj.metadata.namespace;
    const res = await this.transport.request(
      {
        method: "POST",
        path: this.path(undefined, undefined, ns),
        query: writeQuery(opts),
        body: obj,
      },
      opts,
    );
    return res.body as T;
  }

  async update(obj: T, opts?: WriteOptions): Promise<T> {
    return this.#put(obj, undefined, opts);
  }

  async updateStatus(obj: T, opts?: WriteOptions): Promise<T> {
    return this.#put(obj, "status", opts);
  }

  async #put(obj: T, subresource: string | undefined, opts?: WriteOptions): Promise<T> {
    const name = obj.metadata.name;
    if (name === undefined) throw new TypeError(`update of ${this.ref.resource} without a name`);
    const ns = this.namespace ?? obj.metadata.namespace;
    const res = await this.transport.request(
      {
        method: "PUT",
        path: this.path(name, subresource, ns),
        query: writeQuery(opts),
        body: obj,
      },
      opts,
    );
    return res.body as T;
  }

  async patch(
    name: string,
    type: PatchType,
    patch: unknown,
    opts?: WriteOptions & { subresource?: string; force?: boolean },
  ): Promise<T> {
    const res = await this.transport.request(
      {
        method: "PATCH",
        path: this.path(name, opts?.subresource),
        query: writeQuery(opts),
        body: patch,
        contentType: PATCH_CONTENT_TYPES[type],
      },
      opts,
    );
    return res.body as T;
  }

  async delete(name: string, opts?: CallOptions & DeleteOptions): Promise<T | undefined> {
    const body: DeleteOptions = {};
    if (opts?.gracePeriodSeconds !== undefined) body.gracePeriodSeconds = opts.gracePeriodSeconds;
    if (opts?.propagationPolicy !== undefined) body.propagationPolicy = opts.propagationPolicy;
    if (opts?.preconditions !== undefined) body.preconditions = opts.preconditions;
    if (opts?.dryRun !== undefined) body.dryRun = opts.dryRun;
    const res = await this.transport.request(
      { method: "DELETE", path: this.path(name), body },
      opts,
    );
    const out = res.body as (KubeObject & { kind?: string }) | undefined;
    // A Status body (KA-DEL-3) means the object is gone; an object means deletion is pending.
    if (out === undefined || out.kind === "Status") return undefined;
    return out as T;
  }

  watch(opts: ListOptions & { signal: AbortSignal }): AsyncIterable<WatchEvent<T>> {
    return this.transport.watch(
      { method: "GET", path: this.path(), query: listQuery(opts, true) },
      { signal: opts.signal },
    ) as AsyncIterable<WatchEvent<T>>;
  }

  async createSubresource(
    name: string,
    subresource: string,
    body: unknown,
    opts?: CallOptions,
  ): Promise<unknown> {
    const res = await this.transport.request(
      { method: "POST", path: this.path(name, subresource), body },
      opts,
    );
    return res.body;
  }
}

/** The pods client: the generic calls plus `binding`, `ephemeralcontainers` and logs. */
export class PodClient extends TypedResourceClient<Pod> {
  /** Binds the pod to a node (`POST pods/<name>/binding`). */
  async bind(name: string, nodeName: string, opts?: CallOptions & { uid?: string }): Promise<void> {
    const metadata: Record<string, string> = { name };
    if (this.namespace !== undefined) metadata["namespace"] = this.namespace;
    if (opts?.uid !== undefined) metadata["uid"] = opts.uid;
    await this.createSubresource(
      name,
      "binding",
      { apiVersion: "v1", kind: "Binding", metadata, target: { kind: "Node", name: nodeName } },
      opts,
    );
  }

  /** PUT of the pod to the `ephemeralcontainers` subresource. */
  async updateEphemeralContainers(pod: Pod, opts?: WriteOptions): Promise<Pod> {
    const name = pod.metadata.name;
    if (name === undefined) throw new TypeError("ephemeral containers of a pod without a name");
    const res = await this.transport.request(
      {
        method: "PUT",
        path: this.path(name, "ephemeralcontainers"),
        query: writeQuery(opts),
        body: pod,
      },
      opts,
    );
    return res.body as Pod;
  }

  /** The whole log of one container as text (KA-LOGS). */
  async logs(name: string, opts?: LogOptions): Promise<string> {
    const res = await this.transport.request(
      { method: "GET", path: this.path(name, "log"), query: logQuery(opts, false) },
      opts,
    );
    if (res.stream !== undefined) {
      const decoder = new TextDecoder();
      let text = "";
      for await (const chunk of res.stream) text += decoder.decode(chunk, { stream: true });
      return text + decoder.decode();
    }
    return bodyText(res);
  }

  /**
   * Follows a container log (`follow=true`): chunks as they are written. Ends when the server
   * ends the stream (the container exited); abort the signal to stop early.
   */
  async *streamLogs(
    name: string,
    opts: LogOptions & { signal: AbortSignal },
  ): AsyncIterable<Uint8Array> {
    let res: ApiResponse;
    try {
      res = await this.transport.request(
        { method: "GET", path: this.path(name, "log"), query: logQuery(opts, true) },
        opts,
      );
    } catch (err) {
      if (opts.signal.aborted) return;
      throw err;
    }
    if (res.stream === undefined) {
      yield new TextEncoder().encode(bodyText(res));
      return;
    }
    // Race every read against the signal: an in-process stream may wait long for its next
    // chunk, and aborting must end the follow at once.
    const it = res.stream[Symbol.asyncIterator]();
    const aborted = new Promise<"aborted">((resolve) => {
      if (opts.signal.aborted) resolve("aborted");
      opts.signal.addEventListener(
        "abort",
        () => {
          resolve("aborted");
        },
        { once: true },
      );
    });
    try {
      for (;;) {
        const next = await Promise.race([it.next(), aborted]);
        if (next === "aborted" || next.done === true) return;
        yield next.value;
      }
    } catch (err) {
      if (isAborted(opts.signal)) return;
      throw err;
    } finally {
      // Tell the producer to stop; it may be parked on a read that never resolves.
      void it.return?.().catch(() => undefined); // observed by nobody: a best-effort close
    }
  }
}

function bodyText(res: ApiResponse): string {
  if (res.body === undefined) return "";
  return typeof res.body === "string" ? res.body : JSON.stringify(res.body);
}

function logQuery(opts: LogOptions | undefined, follow: boolean): Record<string, string> {
  const q: Record<string, string> = {};
  if (opts?.container !== undefined) q["container"] = opts.container;
  if (follow) q["follow"] = "true";
  if (opts?.previous === true) q["previous"] = "true";
  if (opts?.tailLines !== undefined) q["tailLines"] = String(opts.tailLines);
  if (opts?.timestamps === true) q["timestamps"] = "true";
  if (opts?.sinceSeconds !== undefined) q["sinceSeconds"] = String(opts.sinceSeconds);
  if (opts?.sinceTime !== undefined) q["sinceTime"] = opts.sinceTime;
  if (opts?.limitBytes !== undefined) q["limitBytes"] = String(opts.limitBytes);
  return q;
}

/**
 * The typed API client: one entry point per resource over a single Transport (HTTP or
 * in-process). Stateless and safe for concurrent use; every call takes an optional signal.
 */
export class Client {
  readonly transport: Transport;

  constructor(transport: Transport) {
    this.transport = transport;
  }

  /** Sends a raw request (discovery, Tables, anything without a typed call). */
  request(req: ApiRequest, opts?: CallOptions): Promise<ApiResponse> {
    return this.transport.request(req, opts);
  }

  pods(ns?: string): PodClient {
    return new PodClient(this.transport, REFS.pods, ns);
  }
  nodes(): ResourceClient<Node> {
    return this.resource<Node>(REFS.nodes);
  }
  namespaces(): ResourceClient<Namespace> {
    return this.resource<Namespace>(REFS.namespaces);
  }
  services(ns?: string): ResourceClient<Service> {
    return this.resource<Service>(REFS.services, ns);
  }
  endpoints(ns?: string): ResourceClient<Endpoints> {
    return this.resource<Endpoints>(REFS.endpoints, ns);
  }
  endpointSlices(ns?: string): ResourceClient<EndpointSlice> {
    return this.resource<EndpointSlice>(REFS.endpointSlices, ns);
  }
  configMaps(ns?: string): ResourceClient<ConfigMap> {
    return this.resource<ConfigMap>(REFS.configMaps, ns);
  }
  secrets(ns?: string): ResourceClient<Secret> {
    return this.resource<Secret>(REFS.secrets, ns);
  }
  serviceAccounts(ns?: string): ResourceClient<ServiceAccount> {
    return this.resource<ServiceAccount>(REFS.serviceAccounts, ns);
  }
  events(ns?: string): ResourceClient<Event> {
    return this.resource<Event>(REFS.events, ns);
  }
  leases(ns?: string): ResourceClient<Lease> {
    return this.resource<Lease>(REFS.leases, ns);
  }

  /**
   * Requests a service-account token (`POST serviceaccounts/<name>/token`, TokenRequest) and
   * resolves the answered TokenRequest with `status.token`. Errors are the server's ApiErrors
   * (NotFound for a missing ServiceAccount or bound object).
   */
  async serviceAccountToken(
    ns: string,
    name: string,
    req: TokenRequest,
    opts?: CallOptions,
  ): Promise<TokenRequest> {
    const body = { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", ...req };
    const res = await this.serviceAccounts(ns).createSubresource(name, "token", body, opts);
    return res as TokenRequest;
  }

  /** A typed client for any resource; `ns` undefined means all namespaces (list/watch). */
  resource<T extends KubeObject>(ref: ResourceRef, ns?: string): TypedResourceClient<T> {
    return new TypedResourceClient<T>(this.transport, ref, ns);
  }
}
