import { runWorker } from "../runner.js";
import {
  keyOf,
  type EndpointSlice,
  type Endpoints,
  type KubeObject,
  type Pod,
  type Service,
} from "../../api/index.js";
import { Informer, type InformerEvent, type ResourceClient } from "../../client/index.js";
import { BackOff, TaskGroup, WorkQueue, type Clock, type Logger } from "../../util/index.js";
import {
  computeBackends,
  computeSlice,
  computeSubsets,
  mirrorSlice,
  selectorMatches,
} from "./compute.js";

/** The `endpointslice.kubernetes.io/managed-by` values upstream uses. */
export const SLICE_MANAGER = "endpointslice-controller.k8s.io";
export const MIRROR_MANAGER = "endpointslicemirroring-controller.k8s.io";
const SERVICE_NAME_LABEL = "kubernetes.io/service-name";
const MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by";
const SKIP_MIRROR_LABEL = "endpointslice.kubernetes.io/skip-mirror";

/** The clients the controller needs (all namespaces). */
export interface EndpointsClients {
  services(ns?: string): ResourceClient<Service>;
  pods(ns?: string): ResourceClient<Pod>;
  endpoints(ns?: string): ResourceClient<Endpoints>;
  endpointSlices(ns?: string): ResourceClient<EndpointSlice>;
}

/** Options of {@link EndpointsController}. */
export interface EndpointsControllerOptions {
  client: EndpointsClients;
  clock: Clock;
  logger: Logger;
  /** Parallel reconcilers. @default 2 */
  workers?: number;
}

/**
 * Keeps `Endpoints` and `EndpointSlices` in step with Services and their pods (upstream's
 * endpoints, endpointslice and endpointslicemirroring controllers in one): ready and not-ready
 * addresses from pod readiness, terminating endpoints, `publishNotReadyAddresses`, named
 * target ports against app containers only; for selector-less Services the user's Endpoints
 * are mirrored into a slice. Work is queued by service key; one key is never reconciled by two
 * workers at once. `run(signal)` settles after every informer and worker has stopped.
 */
export class EndpointsController {
  readonly #client: EndpointsClients;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #workers: number;
  readonly #services: Informer<Service>;
  readonly #pods: Informer<Pod>;
  readonly #endpoints: Informer<Endpoints>;
  readonly #slices: Informer<EndpointSlice>;
  readonly #queue: WorkQueue;

  constructor(opts: EndpointsControllerOptions) {
    this.#client = opts.client;
    this.#clock = opts.clock;
    this.#logger = opts.logger.with({ controller: "endpoints" });
    this.#workers = opts.workers ?? 2;
    const mk = <T extends KubeObject>(source: ResourceClient<T>): Informer<T> =>
      new Informer<T>({ source, clock: this.#clock, logger: this.#logger });
    this.#services = mk(opts.client.services());
    this.#pods = mk(opts.client.pods());
    this.#endpoints = mk(opts.client.endpoints());
    this.#slices = mk(opts.client.endpointSlices());
    this.#queue = new WorkQueue({
      clock: this.#clock,
      backoff: new BackOff({ clock: this.#clock, initialMs: 50, maxMs: 10_000 }),
    });
  }

  /** Runs until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const tasks = new TaskGroup(this.#logger);
    for (const inf of [
      this.#services,
      this.#pods,
      this.#endpoints,
      this.#slices,
    ] as Informer<KubeObject>[]) {
      tasks.spawn("informer", () => inf.run(signal));
    }
    const unsubscribe = [
      this.#services.onChange((ev) => {
        this.#queue.add(ev.key);
      }),
      this.#pods.onChange((ev) => {
        this.#onPod(ev);
      }),
      this.#endpoints.onChange((ev) => {
        this.#queue.add(ev.key);
      }),
      this.#slices.onChange((ev) => {
        const svc = ev.obj.metadata.labels?.[SERVICE_NAME_LABEL];
        if (svc !== undefined) this.#queue.add(`${ev.obj.metadata.namespace ?? ""}/${svc}`);
      }),
    ];
    signal.addEventListener(
      "abort",
      () => {
        this.#queue.shutDown();
      },
      { once: true },
    );
    for (const inf of [
      this.#services,
      this.#pods,
      this.#endpoints,
      this.#slices,
    ] as Informer<KubeObject>[]) {
      if (!(await inf.waitForSync(signal))) break;
    }
    for (let i = 0; i < this.#workers; i++)
      tasks.spawn("endpoints worker", () =>
        runWorker(this.#queue, (key, sig) => this.reconcile(key, sig), this.#logger, signal),
      );
    await tasks.wait();
    for (const u of unsubscribe) u();
  }

  #onPod(ev: InformerEvent<Pod>): void {
    const ns = ev.obj.metadata.namespace;
    for (const svc of this.#services.list()) {
      if (svc.metadata.namespace !== ns) continue;
      const sel = svc.spec?.selector;
      if (sel === undefined) continue;
      if (
        selectorMatches(sel, ev.obj.metadata.labels) ||
        (ev.old !== undefined && selectorMatches(sel, ev.old.metadata.labels))
      ) {
        this.#queue.add(keyOf(svc));
      }
    }
  }

  /** Brings the Endpoints and EndpointSlices of service `key` (`ns/name`) up to date. */
  async reconcile(key: string, signal: AbortSignal): Promise<void> {
    const [ns = "", name = ""] = key.split("/");
    const svc = this.#services.get(key);
    // Only slices the endpointslice or mirroring controller manage are ours to change; slices
    // written by others (the API server's `kubernetes` slice, users' own) are left alone.
    const slices = this.#slices
      .list()
      .filter(
        (s) =>
          s.metadata.namespace === ns &&
          s.metadata.labels?.[SERVICE_NAME_LABEL] === name &&
          [SLICE_MANAGER, MIRROR_MANAGER].includes(s.metadata.labels[MANAGED_BY_LABEL] ?? ""),
      );
    if (svc === undefined) {
      for (const s of slices)
        await this.#client.endpointSlices(ns).delete(s.metadata.name ?? "", { signal });
      // Endpoints of a deleted Service go with it (the user's own ones for selector-less too).
      if (this.#endpoints.get(key) !== undefined)
        await this.#client.endpoints(ns).delete(name, { signal });
      return;
    }
    let content: Pick<EndpointSlice, "endpoints" | "ports">;
    let manager: string;
    if (svc.spec?.selector !== undefined) {
      const backends = computeBackends(svc, this.#pods.list());
      await this.#syncEndpoints(svc, computeSubsets(svc, backends), signal);
      content = computeSlice(svc, backends);
      manager = SLICE_MANAGER;
    } else {
      const ep = this.#endpoints.get(key);
      if (ep === undefined || ep.metadata.labels?.[SKIP_MIRROR_LABEL] === "true") {
        // A selector-less Service without user Endpoints, or whose Endpoints opt out of
        // mirroring, has no mirrored slice (upstream endpointslicemirroring).
        for (const s of slices)
          await this.#client.endpointSlices(ns).delete(s.metadata.name ?? "", { signal });
        return;
      }
      content = mirrorSlice(ep);
      manager = MIRROR_MANAGER;
    }
    await this.#syncSlice(svc, slices, content, manager, signal);
  }

  async #syncEndpoints(
    svc: Service,
    subsets: NonNullable<Endpoints["subsets"]>,
    signal: AbortSignal,
  ): Promise<void> {
    const ns = svc.metadata.namespace ?? "";
    const name = svc.metadata.name ?? "";
    const labels: Record<string, string> = { ...svc.metadata.labels };
    if (svc.spec?.clusterIP === "None") labels["service.kubernetes.io/headless"] = "";
    const existing = this.#endpoints.get(`${ns}/${name}`);
    const desired: Endpoints = {
      apiVersion: "v1",
      kind: "Endpoints",
      metadata: { name, namespace: ns, labels },
    };
    if (subsets.length > 0) desired.subsets = subsets;
    if (existing === undefined) {
      await this.#client.endpoints(ns).create(desired, { signal });
      return;
    }
    if (
      JSON.stringify(existing.subsets ?? []) === JSON.stringify(subsets) &&
      JSON.stringify(existing.metadata.labels ?? {}) === JSON.stringify(labels)
    )
      return;
    desired.metadata = { ...existing.metadata, labels };
    await this.#client.endpoints(ns).update(desired, { signal });
  }

  async #syncSlice(
    svc: Service,
    existing: EndpointSlice[],
    content: Pick<EndpointSlice, "endpoints" | "ports">,
    manager: string,
    signal: AbortSignal,
  ): Promise<void> {
    const ns = svc.metadata.namespace ?? "";
    const name = svc.metadata.name ?? "";
    const ours = existing.filter((s) => s.metadata.labels?.[MANAGED_BY_LABEL] === manager);
    for (const s of existing) {
      if (!ours.includes(s))
        await this.#client.endpointSlices(ns).delete(s.metadata.name ?? "", { signal });
    }
    const [first, ...extra] = ours;
    for (const s of extra)
      await this.#client.endpointSlices(ns).delete(s.metadata.name ?? "", { signal });
    const labels: Record<string, string> = {
      ...svc.metadata.labels,
      [SERVICE_NAME_LABEL]: name,
      [MANAGED_BY_LABEL]: manager,
    };
    if (svc.spec?.clusterIP === "None") labels["service.kubernetes.io/headless"] = "";
    const body: EndpointSlice = {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        generateName: `${name}-`,
        namespace: ns,
        labels,
        ownerReferences: [
          {
            apiVersion: "v1",
            kind: "Service",
            name,
            uid: svc.metadata.uid ?? "",
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      addressType: "IPv4",
      endpoints: content.endpoints,
      ports: content.ports ?? [],
    };
    if (first === undefined) {
      await this.#client.endpointSlices(ns).create(body, { signal });
      return;
    }
    if (
      JSON.stringify(first.endpoints) === JSON.stringify(body.endpoints) &&
      JSON.stringify(first.ports ?? []) === JSON.stringify(body.ports) &&
      JSON.stringify(first.metadata.labels) === JSON.stringify(labels)
    ) {
      return;
    }
    body.metadata = { ...first.metadata, labels };
    await this.#client.endpointSlices(ns).update(body, { signal });
  }
}
