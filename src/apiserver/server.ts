import {
  ApiError,
  badRequest,
  isAlreadyExists,
  isNotFound,
  type ApiRequest,
  type ApiResponse,
  type CallOptions,
  type DeleteOptions,
  type KubeObject,
  type Pod,
  type Status,
  type WatchEvent,
} from "../api/index.js";
import type { Store } from "../storage/index.js";
import type { Clock, Logger } from "../util/index.js";
import { discoveryContentType, negotiateDiscovery, negotiateTable } from "./accept.js";
import {
  aggregatedDiscovery,
  apiGroup,
  apiGroupList,
  apiResourceList,
  apiVersions,
  groupVersions,
} from "./discovery.js";
import { EventsViewStore } from "./events-view.js";
import { METRICS_GROUP, METRICS_RESOURCES, serveMetrics } from "./metrics/api.js";
import { processMetricsText, RequestMetrics, type RequestLabels } from "./metrics/prometheus.js";
import { isRecord, prefixFor } from "./objects.js";
import { parsePath, type Route } from "./paths.js";
import { NAMESPACES_INFO, Registry, type WriteContext } from "./registry.js";
import { apiVersionOf, findResource, RESOURCES, type ResourceInfo } from "./resources.js";
import { compileFilter, type ObjectFilter } from "./selectors.js";
import { toTable } from "./tables/index.js";
import { TokenRequestHandler } from "./token-request.js";
import {
  encodeWatchEvent,
  sharedEvent,
  sleepResult,
  WatchStream,
  type WatchPlan,
} from "./watch.js";
import {
  AUTHORIZATION_GROUP,
  selfSubjectAccessReview,
  selfSubjectRulesReview,
} from "./rbac/access-review.js";
import {
  resolveApiServerOptions,
  type ApiServerOptions,
  type FieldValidationMode,
  type PodLogOptions,
  type ResolvedApiServerOptions,
} from "./types.js";

/** Version reported by `/version` (KA-VER-1); `minor` picks the kubectl binary (KA-HTTP-9). */
export const SERVER_VERSION = {
  major: "1",
  minor: "33",
  gitVersion: "v1.33.0",
  gitCommit: "0000000000000000000000000000000000000000",
  gitTreeState: "clean",
  buildDate: "2025-04-23T00:00:00Z",
  goVersion: "go1.24.2",
  compiler: "gc",
  platform: "linux/amd64",
} as const;

/** Namespaces created at bootstrap. */
const SYSTEM_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"];

type ResourceRoute = Extract<Route, { type: "resource" }>;

const encoder = new TextEncoder();

function query(req: ApiRequest, name: string): string | undefined {
  const v = req.query?.[name];
  return Array.isArray(v) ? v[0] : v;
}

function queryAll(req: ApiRequest, name: string): string[] {
  const v = req.query?.[name];
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

function queryInt(req: ApiRequest, name: string): number | undefined {
  const v = query(req, name);
  if (v === undefined || v === "") return undefined;
  if (!/^-?\d+$/.test(v)) throw badRequest(`invalid value for ${name}: ${v}`);
  return Number(v);
}

function queryBool(req: ApiRequest, name: string): boolean {
  const v = query(req, name);
  return v === "true" || v === "1";
}

function notFoundPath(): ApiError {
  return new ApiError("NotFound", "the server could not find the requested resource", {});
}

function methodNotAllowed(): ApiError {
  return new ApiError(
    "MethodNotAllowed",
    "the server does not allow this method on the requested resource",
    {},
  );
}

function textStream(text: string): AsyncIterable<Uint8Array> {
  const bytes = encoder.encode(text);
  return (async function* () {
    await Promise.resolve();
    yield bytes;
  })();
}

/**
 * The API server core: routing, discovery, REST semantics over the Store, watch and
 * subresources, transport-neutral (the HTTPS adapter and the in-process transport call
 * `handle` and `watch`). Safe for concurrent requests. Errors never escape `handle`: an
 * ApiError becomes its Status, anything else a 500 InternalError (logged).
 *
 * Lifecycle: `bootstrap()` once before serving (idempotent: system namespaces, default
 * ServiceAccounts, the `kubernetes` Service), and `run(signal)` for the namespace
 * finalizer, which settles after the signal aborts.
 */
export class ApiServer {
  readonly #o: ResolvedApiServerOptions;
  readonly #registry: Registry;
  /** The configured store, with events.k8s.io events served from core events. */
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #tokens: TokenRequestHandler | undefined;
  /** Served resources: RESOURCES plus metrics.k8s.io when a metrics provider is set. */
  readonly #resources: readonly ResourceInfo[];
  readonly #requestMetrics = new RequestMetrics();
  readonly #startMs: number;
  #namespacesDirty = true;
  #wakeNamespaces: (() => void) | undefined;

  constructor(opts: ApiServerOptions) {
    this.#o = resolveApiServerOptions(opts);
    this.#clock = this.#o.clock;
    this.#logger = this.#o.logger;
    this.#store = new EventsViewStore(this.#o.store);
    this.#resources =
      this.#o.metricsProvider === undefined ? RESOURCES : [...RESOURCES, ...METRICS_RESOURCES];
    this.#startMs = this.#clock.now();
    const keyPem = this.#o.serviceAccountKeyPem;
    this.#tokens =
      keyPem === undefined ? undefined : new TokenRequestHandler({ privateKeyPem: keyPem });
    this.#registry = new Registry({
      store: this.#store,
      clock: this.#o.clock,
      admission: this.#o.admission,
      logger: this.#o.logger,
      mountServiceAccountToken: this.#tokens !== undefined,
      onNamespaceTerminating: () => {
        this.#namespacesDirty = true;
        this.#wakeNamespaces?.();
      },
    });
  }

  /** Creates the system namespaces, their default ServiceAccounts and the `kubernetes` Service. Idempotent. */
  async bootstrap(): Promise<void> {
    const ctx: WriteContext = { dryRun: false, fieldManager: undefined, fieldValidation: "Ignore" };
    for (const name of SYSTEM_NAMESPACES) {
      try {
        await this.#registry.create(NAMESPACES_INFO, undefined, { metadata: { name } }, ctx);
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        await this.#registry.ensureDefaultServiceAccount(name);
      }
    }
    const services = findResource("", "v1", "services");
    if (services === undefined) throw new TypeError("resource table misses services");
    const ip = this.#o.kubernetesServiceIP;
    try {
      await this.#registry.get(services, "default", "kubernetes");
      return;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    try {
      await this.#registry.create(
        services,
        "default",
        {
          metadata: {
            name: "kubernetes",
            namespace: "default",
            labels: { component: "apiserver", provider: "kubernetes" },
          },
          spec: {
            type: "ClusterIP",
            clusterIP: ip,
            clusterIPs: [ip],
            ports: [{ name: "https", port: 443, protocol: "TCP", targetPort: this.#o.securePort }],
            sessionAffinity: "None",
            ipFamilies: ["IPv4"],
            ipFamilyPolicy: "SingleStack",
            internalTrafficPolicy: "Cluster",
          },
        },
        ctx,
      );
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
  }

  /**
   * Runs the namespace finalizer until `signal` aborts: terminating namespaces get their
   * content deleted and are removed once empty (re-checked every `namespaceRetryMs`).
   * Calls `bootstrap()` first (idempotent); callers should still await `bootstrap()` before
   * serving so that the first requests find the system namespaces.
   */
  async run(signal: AbortSignal): Promise<void> {
    try {
      // Idempotent; done here too so that a caller that only runs the server is complete.
      await this.bootstrap();
    } catch (err) {
      // Serving without the system objects beats not serving: requests still work.
      this.#logger.error("bootstrap failed", { err });
    }
    while (!signal.aborted) {
      let pending = false;
      if (this.#namespacesDirty) {
        this.#namespacesDirty = false;
        try {
          pending = await this.#finalizeNamespaces();
        } catch (err) {
          // The next pass retries; a failing pass must not stop namespace deletion for good.
          this.#logger.error("namespace finalization failed", { err });
          pending = true;
        }
      }
      await this.#waitForNamespaceWork(signal, pending ? this.#o.namespaceRetryMs : undefined);
      if (pending) this.#namespacesDirty = true;
    }
  }

  async #finalizeNamespaces(): Promise<boolean> {
    const { items } = await this.#store.list(prefixFor(NAMESPACES_INFO, undefined));
    let pending = false;
    for (const s of items) {
      const ns = s.value as KubeObject;
      if (ns.metadata.deletionTimestamp === undefined) continue;
      const gone = await this.#registry.finalizeNamespace(ns.metadata.name ?? "", RESOURCES);
      if (gone) this.#logger.info("namespace deleted", { namespace: ns.metadata.name });
      else pending = true;
    }
    return pending;
  }

  async #waitForNamespaceWork(signal: AbortSignal, timeoutMs: number | undefined): Promise<void> {
    if (this.#namespacesDirty || signal.aborted) return;
    const ac = new AbortController();
    const onAbort = (): void => {
      ac.abort();
    };
    signal.addEventListener("abort", onAbort, { once: true });
    const woken = new Promise<void>((resolve) => {
      this.#wakeNamespaces = resolve;
      ac.signal.addEventListener(
        "abort",
        () => {
          resolve();
        },
        { once: true },
      );
    });
    const timer = timeoutMs === undefined ? woken : sleepResult(this.#clock, timeoutMs, ac.signal);
    try {
      await Promise.race([woken, timer]);
    } finally {
      this.#wakeNamespaces = undefined;
      ac.abort();
      await timer;
      signal.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Serves one request. Never throws: errors come back as Status responses. A GET with
   * `watch=true` answers a newline-delimited JSON `stream` of watch events (prefer
   * {@link watch} for typed events). `opts.signal` cancels streams (watch, logs).
   */
  async handle(req: ApiRequest, opts: CallOptions = {}): Promise<ApiResponse> {
    const startMs = this.#clock.now();
    // Parsed once for the dispatch and the metrics labels.
    const route = parsePath(req.path, this.#resources);
    let resp: ApiResponse;
    try {
      // `opts` travels down unread: its signal may be created on first use (HTTP adapter), and
      // only streams need one.
      resp = await this.#dispatch(req, route, opts);
    } catch (err) {
      resp = this.#errorResponse(err, req);
    }
    this.#requestMetrics.observe(
      this.#requestLabels(req, route),
      resp.status,
      this.#clock.now() - startMs,
    );
    return resp;
  }

  /** How a request is counted in `apiserver_request_total` (upstream verb and scope rules). */
  #requestLabels(req: ApiRequest, route: Route | undefined): RequestLabels {
    if (route?.type !== "resource") {
      return { verb: req.method, group: "", version: "", resource: "", subresource: "", scope: "" };
    }
    const { info, name, namespace } = route;
    let verb: string = req.method;
    if (req.method === "GET" && name === undefined) {
      verb = this.#wantsWatch(req, route) ? "WATCH" : "LIST";
    } else if (req.method === "DELETE" && name === undefined) {
      verb = "DELETECOLLECTION";
    } else if (req.method === "PATCH" && (req.contentType ?? "").includes("apply-patch")) {
      verb = "APPLY";
    }
    const scope =
      name !== undefined ? "resource" : namespace !== undefined ? "namespace" : "cluster";
    return {
      verb,
      group: info.group,
      version: info.version,
      resource: info.resource,
      subresource: route.subresource ?? "",
      scope,
    };
  }

  /** `GET /metrics`: this server's families, then every injected source's. */
  async #prometheus(): Promise<ApiResponse> {
    const parts = [this.#requestMetrics.text(), processMetricsText(this.#startMs)];
    for (const source of this.#o.prometheusSources) parts.push(await source.prometheusText());
    return {
      status: 200,
      stream: textStream(parts.join("")),
      contentType: "text/plain; version=0.0.4; charset=utf-8",
    };
  }

  #errorResponse(err: unknown, req: ApiRequest): ApiResponse {
    if (err instanceof ApiError) return { status: err.code, body: err.toStatus() };
    this.#logger.error("request failed", { method: req.method, path: req.path, err });
    const e = new ApiError(
      "InternalError",
      `Internal error occurred: ${err instanceof Error ? err.message : String(err)}`,
    );
    return { status: e.code, body: e.toStatus() };
  }

  async #dispatch(
    req: ApiRequest,
    route: Route | undefined,
    opts: CallOptions,
  ): Promise<ApiResponse> {
    if (req.path === "/metrics") {
      if (req.method !== "GET") throw methodNotAllowed();
      return this.#prometheus();
    }
    if (route === undefined) throw notFoundPath();
    if (route.type !== "resource" && req.method !== "GET") throw methodNotAllowed();
    const accept = req.headers?.["accept"];
    switch (route.type) {
      case "version":
        return { status: 200, body: { ...SERVER_VERSION } };
      case "health":
        return { status: 200, stream: textStream("ok"), contentType: "text/plain" };
      case "api": {
        const v = negotiateDiscovery(accept);
        if (v === undefined) return { status: 200, body: apiVersions(this.#o.serverAddress) };
        return {
          status: 200,
          body: aggregatedDiscovery(true, v, this.#resources),
          contentType: discoveryContentType(v),
        };
      }
      case "apis": {
        const v = negotiateDiscovery(accept);
        if (v === undefined) return { status: 200, body: apiGroupList(this.#resources) };
        return {
          status: 200,
          body: aggregatedDiscovery(false, v, this.#resources),
          contentType: discoveryContentType(v),
        };
      }
      case "group":
        return {
          status: 200,
          body: apiGroup(route.group, groupVersions(this.#resources).get(route.group) ?? []),
        };
      case "groupVersion":
        return { status: 200, body: apiResourceList(route.group, route.version, this.#resources) };
      case "resource":
        if (route.info.group === METRICS_GROUP) return this.#metrics(req, route, opts.signal);
        if (route.info.group === AUTHORIZATION_GROUP) return this.#accessReview(req, route);
        return this.#resource(req, route, opts);
    }
  }

  /**
   * `POST selfsubjectaccessreviews` and `selfsubjectrulesreviews`: asks the authorizer about
   * the requesting user. The
   * in-process transport carries no user; it acts as the loopback `system:apiserver`, which
   * upstream also places in system:masters.
   */
  async #accessReview(req: ApiRequest, route: ResourceRoute): Promise<ApiResponse> {
    const authorizer = this.#o.authorizer;
    if (req.method !== "POST" || authorizer === undefined) throw methodNotAllowed();
    const user = req.user ?? { username: "system:apiserver", groups: ["system:masters"] };
    const review =
      route.info.resource === "selfsubjectrulesreviews"
        ? selfSubjectRulesReview
        : selfSubjectAccessReview;
    return { status: 201, body: await review(req.body, user, authorizer) };
  }

  /** metrics.k8s.io/v1beta1 (KA-TOP-1): read-only, from the metrics provider. */
  async #metrics(
    req: ApiRequest,
    route: ResourceRoute,
    signal: AbortSignal | undefined,
  ): Promise<ApiResponse> {
    const provider = this.#o.metricsProvider;
    if (provider === undefined) throw notFoundPath();
    if (req.method !== "GET" || this.#wantsWatch(req, route) || route.subresource !== undefined) {
      throw methodNotAllowed();
    }
    const list = async (resource: string, ns: string | undefined): Promise<KubeObject[]> => {
      const info = findResource("", "v1", resource);
      if (info === undefined) throw new TypeError(`resource table misses ${resource}`);
      const all = { filter: compileFilter("", resource, undefined, undefined) };
      return (
        await this.#registry.list(info, ns, { ...all, limit: undefined, continueToken: undefined })
      ).items;
    };
    return serveMetrics(
      {
        info: route.info,
        namespace: route.namespace,
        name: route.name,
        labelSelector: query(req, "labelSelector"),
        fieldSelector: query(req, "fieldSelector"),
        nowMs: this.#clock.now(),
        signal,
      },
      provider,
      { pods: (ns) => list("pods", ns), nodes: () => list("nodes", undefined) },
    );
  }

  #writeContext(req: ApiRequest): WriteContext {
    const fv = query(req, "fieldValidation") ?? "Warn";
    if (fv !== "Strict" && fv !== "Warn" && fv !== "Ignore") {
      throw badRequest(`fieldValidation must be one of Strict, Warn, Ignore; got ${fv}`);
    }
    const dryRun = queryAll(req, "dryRun");
    for (const d of dryRun) {
      if (d !== "All")
        throw badRequest(`dryRun: Unsupported value: "${d}": supported values: "All"`);
    }
    return {
      dryRun: dryRun.length > 0,
      fieldManager: query(req, "fieldManager"),
      fieldValidation: fv satisfies FieldValidationMode,
    };
  }

  #wantsWatch(req: ApiRequest, route: ResourceRoute): boolean {
    return route.watchPath || queryBool(req, "watch");
  }

  async #resource(req: ApiRequest, route: ResourceRoute, call: CallOptions): Promise<ApiResponse> {
    const { info, namespace: ns, name, subresource: sub } = route;
    // A namespaced resource without a namespace in the path is only a cross-namespace list.
    if (info.namespaced && ns === undefined && req.method !== "GET") throw methodNotAllowed();
    switch (req.method) {
      case "GET": {
        if (this.#wantsWatch(req, route)) {
          // Validate now so that request errors get their status code, not a stream.
          this.#watchFilter(req, route);
          const events = this.watch(req, { signal: call.signal ?? new AbortController().signal });
          return { status: 200, stream: ndjson(events), contentType: "application/json" };
        }
        if (name === undefined) {
          const list = await this.#registry.list(info, ns, {
            filter: compileFilter(
              info.group,
              info.resource,
              query(req, "labelSelector"),
              query(req, "fieldSelector"),
            ),
            limit: queryInt(req, "limit"),
            continueToken: query(req, "continue"),
          });
          const tableV = negotiateTable(req.headers?.["accept"]);
          if (tableV !== undefined) {
            return { status: 200, body: this.#table(req, info, list.items, tableV, list.metadata) };
          }
          return { status: 200, body: list };
        }
        if (sub === "log") return this.#logs(req, info, ns ?? "", name, call.signal);
        if (sub !== undefined && sub !== "status" && sub !== "ephemeralcontainers") {
          throw new ApiError("BadRequest", "Upgrade request required");
        }
        const obj = await this.#registry.get(info, ns, name);
        const tableV = negotiateTable(req.headers?.["accept"]);
        if (tableV !== undefined && sub === undefined) {
          return {
            status: 200,
            body: this.#table(req, info, [obj], tableV, {
              resourceVersion: obj.metadata.resourceVersion ?? "",
            }),
          };
        }
        return { status: 200, body: obj };
      }
      case "POST": {
        if (name === undefined) {
          const obj = await this.#registry.create(info, ns, req.body, this.#writeContext(req));
          return { status: 201, body: obj };
        }
        if (sub === "binding" && info.resource === "pods") {
          await this.#registry.bind(info, ns ?? "", name, req.body);
          return { status: 201, body: successStatus(201) };
        }
        if (sub === "token" && info.group === "" && info.resource === "serviceaccounts") {
          return this.#tokenRequest(req, ns ?? "", name);
        }
        if (sub === "eviction" && info.resource === "pods") {
          const body = isRecord(req.body) ? req.body : {};
          const opts = isRecord(body["deleteOptions"])
            ? (body["deleteOptions"] as DeleteOptions)
            : {};
          await this.#registry.delete(info, ns, name, opts, this.#writeContext(req));
          return { status: 201, body: successStatus(201) };
        }
        throw methodNotAllowed();
      }
      case "PUT": {
        if (name === undefined) throw methodNotAllowed();
        if (sub !== undefined && !["status", "ephemeralcontainers", "finalize"].includes(sub)) {
          throw methodNotAllowed();
        }
        const r = await this.#registry.update(
          info,
          ns,
          name,
          req.body,
          this.#writeContext(req),
          sub,
        );
        return { status: r.created ? 201 : 200, body: r.object };
      }
      case "PATCH": {
        if (name === undefined) throw methodNotAllowed();
        if (sub !== undefined && sub !== "status" && sub !== "ephemeralcontainers") {
          throw methodNotAllowed();
        }
        const r = await this.#registry.patch(
          info,
          ns,
          name,
          req.contentType ?? "application/json",
          req.body,
          { ...this.#writeContext(req), force: queryBool(req, "force") },
          sub,
        );
        return { status: r.created ? 201 : 200, body: r.object };
      }
      case "DELETE": {
        if (sub !== undefined) throw methodNotAllowed();
        const opts = deleteOptions(req);
        const ctx = {
          dryRun: this.#writeContext(req).dryRun || (opts.dryRun ?? []).includes("All"),
        };
        if (name === undefined) return this.#deleteCollection(req, info, ns, opts, ctx);
        const r = await this.#registry.delete(info, ns, name, opts, ctx);
        if (!r.deleted || returnsDeletedObject(info)) return { status: 200, body: r.object };
        return {
          status: 200,
          body: {
            ...successStatus(),
            details: {
              name,
              group: info.group,
              kind: info.resource,
              uid: r.object.metadata.uid ?? "",
            },
          },
        };
      }
    }
  }

  async #deleteCollection(
    req: ApiRequest,
    info: ResourceInfo,
    ns: string | undefined,
    opts: DeleteOptions,
    ctx: { dryRun: boolean },
  ): Promise<ApiResponse> {
    if (!info.verbs.includes("deletecollection")) throw methodNotAllowed();
    const list = await this.#registry.list(info, ns, {
      filter: compileFilter(
        info.group,
        info.resource,
        query(req, "labelSelector"),
        query(req, "fieldSelector"),
      ),
      limit: undefined,
      continueToken: undefined,
    });
    const items: KubeObject[] = [];
    for (const obj of list.items) {
      try {
        const r = await this.#registry.delete(
          info,
          obj.metadata.namespace,
          obj.metadata.name ?? "",
          opts,
          ctx,
        );
        items.push(r.object);
      } catch (err) {
        // Deleted by someone else meanwhile: that is the outcome deletecollection wants.
        if (!(err instanceof ApiError && err.reason === "NotFound")) throw err;
      }
    }
    return { status: 200, body: { ...list, items } };
  }

  /** POST serviceaccounts/<name>/token (TokenRequest); 404 when no signing key is configured. */
  async #tokenRequest(req: ApiRequest, ns: string, name: string): Promise<ApiResponse> {
    const tokens = this.#tokens;
    if (tokens === undefined) throw notFoundPath();
    const reader =
      (resource: string) =>
      async (n: string, objName: string): Promise<KubeObject | undefined> => {
        const info = findResource("", "v1", resource);
        if (info === undefined) throw new TypeError(`resource table misses ${resource}`);
        try {
          return await this.#registry.get(info, n, objName);
        } catch (err) {
          if (isNotFound(err)) return undefined;
          throw err;
        }
      };
    const tr = await tokens.create(
      ns,
      name,
      req.body,
      {
        serviceAccount: reader("serviceaccounts"),
        pod: reader("pods"),
        secret: reader("secrets"),
      },
      this.#clock.now(),
    );
    return { status: 201, body: tr };
  }

  #table(
    req: ApiRequest,
    info: ResourceInfo,
    objects: KubeObject[],
    version: "v1" | "v1beta1",
    listMeta: KubeObject["metadata"] | { resourceVersion?: string; continue?: string },
  ): object {
    const io = query(req, "includeObject") ?? "Metadata";
    if (io !== "None" && io !== "Metadata" && io !== "Object") {
      throw badRequest(`includeObject: Unsupported value: "${io}"`);
    }
    const t = toTable(info, objects, {
      nowMs: this.#clock.now(),
      includeObject: io,
      listMeta: listMeta,
    });
    return version === "v1" ? t : { ...t, apiVersion: "meta.k8s.io/v1beta1" };
  }

  async #logs(
    req: ApiRequest,
    info: ResourceInfo,
    ns: string,
    name: string,
    signal: AbortSignal | undefined,
  ): Promise<ApiResponse> {
    const connector = this.#o.nodeConnector;
    if (connector === undefined) {
      throw new ApiError("ServiceUnavailable", "pod logs are not available: no node connection");
    }
    const pod = (await this.#registry.get(info, ns, name)) as Pod;
    const names = [
      ...pod.spec.containers.map((c) => c.name),
      ...(pod.spec.initContainers ?? []).map((c) => c.name),
      ...(pod.spec.ephemeralContainers ?? []).map((c) => c.name),
    ];
    let container = query(req, "container") ?? "";
    if (container === "") {
      const only = pod.spec.containers.length === 1 ? pod.spec.containers[0] : undefined;
      if (only === undefined) {
        throw badRequest(
          `a container name must be specified for pod ${name}, choose one of: [${pod.spec.containers.map((c) => c.name).join(" ")}]`,
        );
      }
      container = only.name;
    }
    if (!names.includes(container)) {
      throw badRequest(`container ${container} is not valid for pod ${name}`);
    }
    const opts: PodLogOptions = {
      container,
      follow: queryBool(req, "follow"),
      previous: queryBool(req, "previous"),
      timestamps: queryBool(req, "timestamps"),
    };
    const tail = queryInt(req, "tailLines");
    if (tail !== undefined) opts.tailLines = tail;
    const since = queryInt(req, "sinceSeconds");
    if (since !== undefined) opts.sinceSeconds = since;
    const sinceTime = query(req, "sinceTime");
    if (sinceTime !== undefined) opts.sinceTime = sinceTime;
    const limitBytes = queryInt(req, "limitBytes");
    if (limitBytes !== undefined) opts.limitBytes = limitBytes;
    const ac = new AbortController();
    const onAbort = (): void => {
      ac.abort();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    let stream: AsyncIterable<Uint8Array>;
    try {
      stream = await connector.logs(pod, opts, ac.signal);
    } catch (err) {
      signal?.removeEventListener("abort", onAbort);
      throw err;
    }
    async function* owned(): AsyncGenerator<Uint8Array> {
      try {
        yield* stream;
      } finally {
        // The consumer stopped (or the log ended): release the node-side stream.
        ac.abort();
        signal?.removeEventListener("abort", onAbort);
      }
    }
    return { status: 200, stream: owned(), contentType: "text/plain" };
  }

  #watchFilter(req: ApiRequest, route: ResourceRoute): ObjectFilter {
    const { info, name } = route;
    const fs = [
      query(req, "fieldSelector"),
      name === undefined ? undefined : `metadata.name=${name}`,
    ]
      .filter((s): s is string => s !== undefined && s !== "")
      .join(",");
    return compileFilter(info.group, info.resource, query(req, "labelSelector"), fs);
  }

  /**
   * A watch (GET with `watch=true`, KA-WATCH-1..8). Request errors (unknown path, bad
   * selector, bad resourceVersion) are thrown by the first `next()` as ApiErrors; once the
   * stream started, a too-old resourceVersion comes as an ERROR event with a 410 Status,
   * after which the stream ends. Ends when `signal` aborts or `timeoutSeconds` pass.
   * Event objects may be shared between watchers: never mutate them; serialize with
   * {@link encodeWatchEvent}, which encodes each shared event once.
   */
  watch(req: ApiRequest, opts: { signal: AbortSignal }): AsyncIterableIterator<WatchEvent> {
    return new WatchStream(() => this.#watchPlan(req), this.#store, this.#clock, opts.signal);
  }

  /** Decides what a watch request serves; throws its request errors as ApiErrors. */
  #watchPlan(req: ApiRequest): WatchPlan {
    const route = parsePath(req.path);
    if (route?.type !== "resource") throw notFoundPath();
    if (route.subresource !== undefined) throw methodNotAllowed();
    const { info } = route;
    const filter = this.#watchFilter(req, route);
    const tableV = negotiateTable(req.headers?.["accept"]);
    const includeObject = query(req, "includeObject") ?? "Metadata";
    if (includeObject !== "None" && includeObject !== "Metadata" && includeObject !== "Object") {
      throw badRequest(`includeObject: Unsupported value: "${includeObject}"`);
    }
    const rvParam = query(req, "resourceVersion") ?? "";
    if (rvParam !== "" && !/^\d+$/.test(rvParam)) {
      throw badRequest(
        `resourceVersion: Invalid value: "${rvParam}": must be a non-negative integer`,
      );
    }
    const sendInitial =
      query(req, "sendInitialEvents") === "true" || rvParam === "" || rvParam === "0";
    const bookmarks = queryBool(req, "allowWatchBookmarks");
    const timeoutSeconds = queryInt(req, "timeoutSeconds");
    const wrap = (obj: KubeObject): object => ({
      ...toTable(info, [obj], { nowMs: this.#clock.now(), includeObject }),
      ...(tableV === "v1beta1" ? { apiVersion: "meta.k8s.io/v1beta1" } : {}),
    });
    return {
      info,
      prefix: prefixFor(info, route.namespace),
      filter,
      fromRevision: sendInitial ? undefined : Number(rvParam),
      initialEndBookmark: bookmarks && query(req, "sendInitialEvents") === "true",
      bookmarkIntervalMs: bookmarks ? this.#o.bookmarkIntervalMs : undefined,
      timeoutMs:
        timeoutSeconds !== undefined && timeoutSeconds > 0 ? timeoutSeconds * 1000 : undefined,
      event: (type, obj) =>
        tableV === undefined ? sharedEvent(type, obj) : { type, object: wrap(obj) as KubeObject },
      bookmark: (rev, initialEnd) => ({
        type: "BOOKMARK",
        object: {
          kind: info.kind,
          apiVersion: apiVersionOf(info),
          metadata: {
            resourceVersion: String(rev),
            ...(initialEnd ? { annotations: { "k8s.io/initial-events-end": "true" } } : {}),
          },
        },
      }),
    };
  }
}

/** Kinds whose immediate delete answers the object instead of a Status (upstream ReturnDeletedObject). */
function returnsDeletedObject(info: ResourceInfo): boolean {
  return info.group === "" && (info.resource === "pods" || info.resource === "services");
}

function successStatus(code?: number): Status {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Success",
    ...(code === undefined ? {} : { code }),
  };
}

/** DeleteOptions from the body (KA-DEL-1) overlaid with query parameters of the same names. */
function deleteOptions(req: ApiRequest): DeleteOptions {
  const body = isRecord(req.body) ? (req.body as DeleteOptions) : {};
  const opts: DeleteOptions = { ...body };
  const grace = queryInt(req, "gracePeriodSeconds");
  if (grace !== undefined) opts.gracePeriodSeconds = grace;
  const policy = query(req, "propagationPolicy");
  if (policy === "Orphan" || policy === "Background" || policy === "Foreground") {
    opts.propagationPolicy = policy;
  } else if (policy !== undefined) {
    throw badRequest(`propagationPolicy: Unsupported value: "${policy}"`);
  }
  if (query(req, "orphanDependents") === "true" && opts.propagationPolicy === undefined) {
    opts.propagationPolicy = "Orphan";
  }
  const uid = query(req, "preconditions.uid");
  const rv = query(req, "preconditions.resourceVersion");
  if (uid !== undefined || rv !== undefined) {
    opts.preconditions = {
      ...(opts.preconditions ?? {}),
      ...(uid === undefined ? {} : { uid }),
      ...(rv === undefined ? {} : { resourceVersion: rv }),
    };
  }
  return opts;
}

/** Newline-delimited JSON of watch events, one chunk per event (KA-WATCH-1). */
async function* ndjson(events: AsyncIterable<WatchEvent>): AsyncGenerator<Uint8Array> {
  for await (const ev of events) yield encodeWatchEvent(ev);
}
