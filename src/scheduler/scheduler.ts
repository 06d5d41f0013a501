import {
  isConflict,
  isNotFound,
  keyOf,
  rfc3339,
  type Node,
  type Pod,
  type PodCondition,
} from "../api/index.js";
import { EventRecorder, Informer, type Client, type InformerEvent } from "../client/index.js";
import { BackOff, WorkQueue, isAbortError, type Clock, type Logger } from "../util/index.js";
import { findNodeForPod, isNodeReady } from "./fit.js";

/** First retry delay of a pod whose scheduling attempt failed with an error. */
export const POD_INITIAL_BACKOFF_MS = 1_000;
/** Cap on that delay. */
export const POD_MAX_BACKOFF_MS = 10_000;

/** Options of {@link Scheduler}. */
export interface SchedulerOptions {
  client: Client;
  clock: Clock;
  logger: Logger;
  /** Pods whose `spec.schedulerName` equals this are ours. @default "default-scheduler" */
  schedulerName?: string;
}

/** {@link SchedulerOptions} with defaults applied. */
export type ResolvedSchedulerOptions = Required<SchedulerOptions>;

/** Applies the defaults of {@link SchedulerOptions}. */
export function resolveSchedulerOptions(opts: SchedulerOptions): ResolvedSchedulerOptions {
  return { ...opts, schedulerName: opts.schedulerName ?? "default-scheduler" };
}

/**
 * Binds pending pods to nodes, like kube-scheduler with the filters podrun needs
 * (unschedulable, taints, nodeSelector, resource fit). Watches unassigned pods
 * (`spec.nodeName=`), assigned non-terminal pods and nodes; queues pod keys; one worker
 * schedules one key at a time. A fit assumes the pod on its node and then, beside the next
 * attempt, POSTs `pods/<name>/binding` and emits `Scheduled` (a failed binding forgets the
 * assumed pod and re-queues the pending ones); no fit
 * sets `PodScheduled=False` reason `Unschedulable` through `pods/status` and emits
 * `FailedScheduling`, and the pod is retried when nodes or assigned pods change. Pods with
 * scheduling gates get `PodScheduled=False` reason `SchedulingGated` and wait. Errors re-queue
 * the key with back-off (1 s doubling to 10 s). `run(signal)` settles after everything stopped.
 */
export class Scheduler {
  readonly #opts: ResolvedSchedulerOptions;
  readonly #logger: Logger;
  readonly #recorder: EventRecorder;
  readonly #queue: WorkQueue;
  readonly #pending: Informer<Pod>;
  readonly #assigned: Informer<Pod>;
  readonly #nodes: Informer<Node>;
  /** Pods bound by us that the assigned-pods informer has not reported yet. */
  readonly #assumed = new Map<string, Pod>();
  /** Binding cycles in flight; `run` waits for them before it settles. */
  readonly #binding = new Set<Promise<void>>();
  #started = false;

  constructor(options: SchedulerOptions) {
    const opts = resolveSchedulerOptions(options);
    if (opts.schedulerName === "") throw new RangeError("schedulerName must not be empty");
    this.#opts = opts;
    this.#logger = opts.logger.with({ component: "scheduler" });
    this.#recorder = new EventRecorder({
      events: (ns) => opts.client.events(ns),
      clock: opts.clock,
      logger: this.#logger,
      component: opts.schedulerName,
    });
    this.#queue = new WorkQueue({
      clock: opts.clock,
      backoff: new BackOff({
        clock: opts.clock,
        initialMs: POD_INITIAL_BACKOFF_MS,
        maxMs: POD_MAX_BACKOFF_MS,
      }),
    });
    const common = { clock: opts.clock, logger: this.#logger };
    this.#pending = new Informer<Pod>({
      ...common,
      source: opts.client.pods(),
      fieldSelector: "spec.nodeName=",
    });
    this.#assigned = new Informer<Pod>({
      ...common,
      source: opts.client.pods(),
      fieldSelector: "spec.nodeName!=,status.phase!=Succeeded,status.phase!=Failed",
    });
    this.#nodes = new Informer<Node>({ ...common, source: opts.client.nodes() });
  }

  /** Runs until `signal` aborts; settles once informers, worker and event writes stopped. */
  async run(signal: AbortSignal): Promise<void> {
    if (this.#started) throw new TypeError("Scheduler.run called twice");
    this.#started = true;
    const unsubscribe = [
      this.#pending.onChange((ev) => {
        this.#onPendingPod(ev);
      }),
      this.#assigned.onChange((ev) => {
        this.#onAssignedPod(ev);
      }),
      this.#nodes.onChange((ev) => {
        this.#onNode(ev);
      }),
    ];
    const onAbort = (): void => {
      this.#queue.shutDown();
    };
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      await Promise.all([
        this.#pending.run(signal),
        this.#assigned.run(signal),
        this.#nodes.run(signal),
        this.#recorder.run(signal),
        this.#work(signal),
      ]);
      await Promise.all(this.#binding);
    } finally {
      signal.removeEventListener("abort", onAbort);
      for (const u of unsubscribe) u();
    }
  }

  #onPendingPod(ev: InformerEvent<Pod>): void {
    if (ev.type === "DELETED") {
      // A bound pod leaves this watch too (KA-WATCH-4); keep it assumed until the
      // assigned-pods watch reports it, so its requests stay counted meanwhile.
      if ((ev.obj.spec.nodeName ?? "") === "") this.#assumed.delete(ev.key);
      return;
    }
    if ((ev.obj.spec.nodeName ?? "") !== "") return;
    // Status-only updates (including our own Unschedulable condition) change nothing about
    // where the pod fits; spec changes (gates removed, tolerations added) do.
    if (ev.type === "MODIFIED" && JSON.stringify(ev.old?.spec) === JSON.stringify(ev.obj.spec))
      return;
    this.#queue.add(ev.key);
  }

  #onAssignedPod(ev: InformerEvent<Pod>): void {
    this.#assumed.delete(ev.key);
    // A pod leaving a node frees resources: retry everything still pending.
    if (ev.type === "DELETED") this.#requeueAllPending();
  }

  #onNode(ev: InformerEvent<Node>): void {
    if (ev.type === "MODIFIED" && ev.old !== undefined && signature(ev.old) === signature(ev.obj))
      return;
    this.#requeueAllPending();
  }

  #requeueAllPending(): void {
    for (const pod of this.#pending.list()) this.#queue.add(keyOf(pod));
  }

  async #work(signal: AbortSignal): Promise<void> {
    const synced = await Promise.all([
      this.#pending.waitForSync(signal),
      this.#assigned.waitForSync(signal),
      this.#nodes.waitForSync(signal),
    ]);
    if (!synced.every(Boolean)) return;
    for (;;) {
      const key = await this.#queue.get(signal);
      if (key === undefined) return;
      try {
        await this.#scheduleOne(key, signal);
        this.#queue.forget(key);
      } catch (err) {
        if (isAbortError(err) && signal.aborted) return;
        this.#logger.warn("scheduling attempt failed, retrying", { pod: key, err });
        this.#queue.requeueWithBackoff(key, signal);
      } finally {
        this.#queue.done(key);
      }
    }
  }

  /**
   * One attempt for the pod `key`: 1) skip pods that are gone, bound, terminating, or not ours;
   * 2) gated pods get the SchedulingGated condition; 3) pick a node; 4) assume the pod there and
   * start its binding cycle (`#bind`), or set Unschedulable and emit FailedScheduling.
   */
  async #scheduleOne(key: string, signal: AbortSignal): Promise<void> {
    // Step 1.
    const pod = this.#pending.get(key);
    if (pod === undefined || this.#assumed.has(key)) return;
    if ((pod.spec.nodeName ?? "") !== "" || pod.metadata.deletionTimestamp !== undefined) return;
    if ((pod.spec.schedulerName ?? "default-scheduler") !== this.#opts.schedulerName) return;
    // Step 2.
    if ((pod.spec.schedulingGates ?? []).length > 0) {
      await this.#setPodScheduledFalse(
        pod,
        "SchedulingGated",
        "Scheduling is blocked due to non-empty scheduling gates",
        signal,
      );
      return;
    }
    // Step 3.
    const assigned = new Map(this.#assigned.list().map((p) => [keyOf(p), p]));
    for (const [k, p] of this.#assumed) if (!assigned.has(k)) assigned.set(k, p);
    const result = findNodeForPod(pod, this.#nodes.list(), [...assigned.values()]);
    // Step 4.
    if (result.fits) {
      // Assume the pod on its node, then bind beside the next scheduling attempt (upstream's
      // binding cycle): the next pod already counts this one's requests.
      this.#assumed.set(key, { ...pod, spec: { ...pod.spec, nodeName: result.nodeName } });
      const binding = this.#bind(key, pod, result.nodeName, signal);
      this.#binding.add(binding);
      void binding.finally(() => this.#binding.delete(binding));
      return;
    }
    this.#logger.info("pod unschedulable", { pod: key, message: result.message });
    this.#recorder.event(pod, undefined, "Warning", "FailedScheduling", result.message);
    await this.#setPodScheduledFalse(pod, "Unschedulable", result.message, signal);
  }

  /**
   * The binding cycle of an assumed pod: POST `pods/<name>/binding`, then `Scheduled`. On
   * failure the pod is forgotten; a pod deleted or bound by someone else meanwhile is left
   * alone, any other error re-queues it with back-off. Never rejects.
   */
  async #bind(key: string, pod: Pod, nodeName: string, signal: AbortSignal): Promise<void> {
    const ns = pod.metadata.namespace ?? "default";
    const name = pod.metadata.name ?? "";
    try {
      await this.#opts.client
        .pods(ns)
        .bind(name, nodeName, { uid: pod.metadata.uid ?? "", signal });
    } catch (err) {
      // Forgetting the assumed pod frees its requests: pods that did not fit may fit now.
      this.#assumed.delete(key);
      if (signal.aborted) return;
      for (const other of this.#pending.list()) {
        const k = keyOf(other);
        if (k !== key) this.#queue.add(k);
      }
      // Deleted meanwhile, or already bound by someone else: nothing left to do for this pod.
      if (isNotFound(err) || isConflict(err)) return;
      this.#logger.warn("binding failed, retrying", { pod: key, err });
      this.#queue.requeueWithBackoff(key, signal);
      return;
    }
    this.#logger.info("pod bound", { pod: key, node: nodeName });
    this.#recorder.event(
      pod,
      undefined,
      "Normal",
      "Scheduled",
      `Successfully assigned ${ns}/${name} to ${nodeName}`,
    );
  }

  async #setPodScheduledFalse(
    pod: Pod,
    reason: string,
    message: string,
    signal: AbortSignal,
  ): Promise<void> {
    const conditions = pod.status?.conditions ?? [];
    const old = conditions.find((c) => c.type === "PodScheduled");
    if (old?.status === "False" && old.reason === reason && old.message === message) return;
    const cond: PodCondition = {
      type: "PodScheduled",
      status: "False",
      lastProbeTime: null,
      lastTransitionTime:
        old?.status === "False" && old.lastTransitionTime !== undefined
          ? old.lastTransitionTime
          : rfc3339(this.#opts.clock.now()),
      reason,
      message,
    };
    const next = structuredClone(pod);
    next.status = {
      ...next.status,
      phase: next.status?.phase ?? "Pending",
      conditions: [...conditions.filter((c) => c.type !== "PodScheduled"), cond],
    };
    try {
      await this.#opts.client.pods(pod.metadata.namespace).updateStatus(next, { signal });
    } catch (err) {
      // Gone meanwhile: nothing to report on. Conflicts propagate and re-queue the key.
      if (isNotFound(err)) return;
      throw err;
    }
  }
}

/** The parts of a node that decide where pods fit. */
function signature(node: Node): string {
  return JSON.stringify([
    node.metadata.labels,
    node.spec?.taints,
    node.spec?.unschedulable,
    node.status?.allocatable,
    isNodeReady(node),
  ]);
}
