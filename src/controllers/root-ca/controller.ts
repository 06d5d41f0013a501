import { runWorker } from "../runner.js";
import { type ConfigMap, type KubeObject, type Namespace } from "../../api/index.js";
import { Informer, type ResourceClient } from "../../client/index.js";
import { BackOff, TaskGroup, WorkQueue, type Clock, type Logger } from "../../util/index.js";

/** Name of the published ConfigMap (upstream RootCACertConfigMapName). */
export const ROOT_CA_CONFIGMAP = "kube-root-ca.crt";
/** Annotation upstream sets on the published ConfigMap. */
export const ROOT_CA_DESCRIPTION_ANNOTATION = "kubernetes.io/description";
/** Its value, word for word. */
export const ROOT_CA_DESCRIPTION =
  "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

/** The clients the controller needs (all namespaces). */
export interface RootCaClients {
  namespaces(): ResourceClient<Namespace>;
  configMaps(ns?: string): ResourceClient<ConfigMap>;
}

/** Options of {@link RootCaPublisher}. */
export interface RootCaPublisherOptions {
  client: RootCaClients;
  /** The cluster CA bundle (PEM) published as `ca.crt`. */
  caPem: string;
  clock: Clock;
  logger: Logger;
  /** Parallel reconcilers. @default 1 */
  workers?: number;
}

/**
 * Publishes the cluster CA as ConfigMap `kube-root-ca.crt` (`data["ca.crt"]`) in every
 * namespace and keeps it so (upstream's root-ca-cert-publisher): a deleted ConfigMap is
 * recreated, a changed one is put back. Terminating namespaces are left alone. Work is
 * queued by namespace name; one namespace is never reconciled by two workers at once.
 * `run(signal)` settles after both informers and every worker have stopped.
 */
export class RootCaPublisher {
  readonly #client: RootCaClients;
  readonly #caPem: string;
  readonly #logger: Logger;
  readonly #workers: number;
  readonly #namespaces: Informer<Namespace>;
  readonly #configMaps: Informer<ConfigMap>;
  readonly #queue: WorkQueue;

  constructor(opts: RootCaPublisherOptions) {
    if (opts.caPem === "") throw new RangeError("caPem must not be empty");
    const workers = opts.workers ?? 1;
    if (!Number.isInteger(workers) || workers < 1) {
      throw new RangeError(`workers must be a positive integer, got ${String(workers)}`);
    }
    this.#client = opts.client;
    this.#caPem = opts.caPem;
    this.#logger = opts.logger.with({ controller: "root-ca-cert-publisher" });
    this.#workers = workers;
    this.#namespaces = new Informer<Namespace>({
      source: opts.client.namespaces(),
      clock: opts.clock,
      logger: this.#logger,
    });
    this.#configMaps = new Informer<ConfigMap>({
      source: opts.client.configMaps(),
      clock: opts.clock,
      logger: this.#logger,
    });
    this.#queue = new WorkQueue({
      clock: opts.clock,
      backoff: new BackOff({ clock: opts.clock, initialMs: 50, maxMs: 10_000 }),
    });
  }

  /** Runs until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const tasks = new TaskGroup(this.#logger);
    const informers = [this.#namespaces, this.#configMaps] as Informer<KubeObject>[];
    for (const inf of informers) tasks.spawn("informer", () => inf.run(signal));
    const unsubscribe = [
      this.#namespaces.onChange((ev) => {
        this.#queue.add(ev.obj.metadata.name ?? "");
      }),
      this.#configMaps.onChange((ev) => {
        if (ev.obj.metadata.name === ROOT_CA_CONFIGMAP) {
          this.#queue.add(ev.obj.metadata.namespace ?? "");
        }
      }),
    ];
    signal.addEventListener(
      "abort",
      () => {
        this.#queue.shutDown();
      },
      { once: true },
    );
    let synced = true;
    for (const inf of informers) {
      if (!(await inf.waitForSync(signal))) {
        synced = false;
        break;
      }
    }
    if (synced) {
      for (let i = 0; i < this.#workers; i++) {
        tasks.spawn("root-ca worker", () =>
          runWorker(this.#queue, (key, sig) => this.reconcile(key, sig), this.#logger, signal),
        );
      }
    }
    await tasks.wait();
    for (const u of unsubscribe) u();
  }

  /**
   * Brings `kube-root-ca.crt` of namespace `ns` up to date from the informer caches. A
   * missing or terminating namespace is skipped. Throws the client's ApiErrors.
   */
  async reconcile(ns: string, signal: AbortSignal): Promise<void> {
    const namespace = this.#namespaces.get(ns);
    if (namespace === undefined || namespace.metadata.deletionTimestamp !== undefined) return;
    const data = { "ca.crt": this.#caPem };
    const cm = this.#configMaps.get(`${ns}/${ROOT_CA_CONFIGMAP}`);
    if (cm === undefined) {
      await this.#client.configMaps(ns).create(
        {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: {
            name: ROOT_CA_CONFIGMAP,
            namespace: ns,
            annotations: { [ROOT_CA_DESCRIPTION_ANNOTATION]: ROOT_CA_DESCRIPTION },
          },
          data,
        },
        { signal },
      );
      this.#logger.debug("root CA published", { namespace: ns });
      return;
    }
    const annotations = cm.metadata.annotations ?? {};
    const dataMatches =
      Object.keys(cm.data ?? {}).length === 1 && cm.data?.["ca.crt"] === this.#caPem;
    if (dataMatches && (annotations[ROOT_CA_DESCRIPTION_ANNOTATION] ?? "") !== "") return;
    const next: ConfigMap = {
      ...cm,
      metadata: {
        ...cm.metadata,
        annotations: { ...annotations, [ROOT_CA_DESCRIPTION_ANNOTATION]: ROOT_CA_DESCRIPTION },
      },
      data,
    };
    await this.#client.configMaps(ns).update(next, { signal });
    this.#logger.debug("root CA restored", { namespace: ns });
  }
}
