import type { Pod } from "../api/index.js";
import { isAbortError, TaskGroup, type Clock, type Logger } from "../util/index.js";
import { isAborted } from "./types.js";

/** Lifecycle of one pod worker (STYLE.md §6). */
export type PodWorkerState = "syncing" | "terminating" | "terminated";

/** What the workers call; PodSyncer-backed in the Kubelet, fakes in tests. */
export interface PodLifecycleHandler {
  /** One reconcile pass; `isTerminal` moves the worker to terminating. */
  syncPod(
    pod: Pod,
    signal: AbortSignal,
  ): Promise<{ ok: boolean; isTerminal: boolean; requeueAfterMs?: number }>;
  /** Stops every container; `podGone` when the API object vanished (force delete). */
  terminatePod(
    pod: Pod,
    opts: { graceOverrideSeconds?: number; podGone?: boolean },
    signal: AbortSignal,
  ): Promise<void>;
  /** Releases resources after termination and deletes the API object if it was deleted. */
  finishPod(pod: Pod, signal: AbortSignal): Promise<void>;
  /** Removes every trace of a pod whose object is gone. */
  cleanupPod(uid: string, signal: AbortSignal): Promise<void>;
  /** True when the pod must terminate although it was not deleted (deadline). */
  shouldTerminate(pod: Pod): boolean;
}

/** Options of {@link PodWorkers}. */
export interface PodWorkersOptions {
  handler: PodLifecycleHandler;
  clock: Clock;
  logger: Logger;
  /** Requeue after a successful sync (PL-RUN-12). @default 60_000 */
  resyncIntervalMs?: number;
  /** Requeue after a failed sync (PL-RUN-12). @default 10_000 */
  backOffPeriodMs?: number;
}

interface Worker {
  uid: string;
  state: PodWorkerState;
  pod: Pod;
  /** The object is gone from the API (deleted or force-deleted). */
  isGone: boolean;
  /** A newer pod (or wake) arrived since the last pass. */
  isPending: boolean;
  wake: (() => void) | undefined;
  /** Aborts the in-flight sync when termination starts. */
  inflight: AbortController | undefined;
}

/**
 * One loop per pod UID (upstream `podWorkers`): at most one sync in flight per pod, a newer
 * update replaces a pending one, a deletion aborts the in-flight sync and moves the worker to
 * "terminating", then "terminated" (and the worker ends). Safe to call from any task;
 * `run(signal)` owns every loop and settles after all of them have stopped.
 */
export class PodWorkers {
  readonly #o: Required<PodWorkersOptions>;
  readonly #workers = new Map<string, Worker>();
  /** UIDs whose worker finished: later updates for them are ignored. */
  readonly #finished = new Set<string>();
  /** Finished UIDs whose deletion has been handed to `finishPod`. */
  readonly #deleting = new Set<string>();
  #tasks: TaskGroup;
  #signal: AbortSignal | undefined;

  constructor(opts: PodWorkersOptions) {
    this.#o = { resyncIntervalMs: 60_000, backOffPeriodMs: 10_000, ...opts };
    if (!(this.#o.resyncIntervalMs > 0))
      throw new RangeError(`resyncIntervalMs must be > 0, got ${String(this.#o.resyncIntervalMs)}`);
    if (!(this.#o.backOffPeriodMs > 0))
      throw new RangeError(`backOffPeriodMs must be > 0, got ${String(this.#o.backOffPeriodMs)}`);
    this.#tasks = new TaskGroup(opts.logger);
  }

  /** The worker state of `uid`, or undefined when there is no worker. */
  state(uid: string): PodWorkerState | undefined {
    return this.#workers.get(uid)?.state ?? (this.#finished.has(uid) ? "terminated" : undefined);
  }

  /** UIDs with a live worker. */
  uids(): string[] {
    return [...this.#workers.keys()];
  }

  /** True once the worker of `uid` has finished termination. */
  isFinished(uid: string): boolean {
    return this.#finished.has(uid);
  }

  /** Hands the latest version of a pod to its worker (creating it). Ignored for finished UIDs. */
  updatePod(pod: Pod): void {
    const uid = pod.metadata.uid ?? "";
    if (this.#finished.has(uid)) {
      // A finished (terminal) pod that is deleted later still needs its object removed.
      if (pod.metadata.deletionTimestamp !== undefined && !this.#deleting.has(uid)) {
        this.#deleting.add(uid);
        this.#tasks.spawn(`finish ${uid}`, () =>
          this.#o.handler.finishPod(pod, this.#signal ?? new AbortController().signal),
        );
      }
      return;
    }
    const w = this.#workers.get(uid);
    if (w === undefined) {
      this.#start({
        uid,
        state: "syncing",
        pod,
        isGone: false,
        isPending: true,
        wake: undefined,
        inflight: undefined,
      });
      return;
    }
    w.pod = pod;
    w.isPending = true;
    if (pod.metadata.deletionTimestamp !== undefined || this.#o.handler.shouldTerminate(pod))
      w.inflight?.abort(new DOMException("pod is terminating", "AbortError"));
    w.wake?.();
  }

  /**
   * Hands a newer version of a pod whose spec and metadata did not change (a status write,
   * usually the kubelet's own) to its worker without a sync pass, as upstream's pod config
   * reconciles status-only updates. Returns false, changing nothing, when the pod has no
   * worker or must terminate: then {@link updatePod} applies.
   */
  updatePodStatusOnly(pod: Pod): boolean {
    const w = this.#workers.get(pod.metadata.uid ?? "");
    if (w === undefined || this.#o.handler.shouldTerminate(pod)) return false;
    w.pod = pod;
    return true;
  }

  /** The pod object vanished: terminate (force delete, PL-TERM-3) and clean up. */
  removePod(uid: string): void {
    const w = this.#workers.get(uid);
    if (w === undefined) {
      // Finished (or never seen) pods still have runtime objects, logs and directories.
      this.#finished.add(uid);
      this.#tasks.spawn(`cleanup ${uid}`, () =>
        this.#o.handler.cleanupPod(uid, this.#signal ?? new AbortController().signal),
      );
      return;
    }
    w.isGone = true;
    w.isPending = true;
    w.inflight?.abort(new DOMException("pod was removed", "AbortError"));
    w.wake?.();
  }

  /** Wakes the worker of `uid` for an immediate pass (runtime event, probe result). */
  wake(uid: string): void {
    const w = this.#workers.get(uid);
    if (w === undefined) return;
    w.isPending = true;
    w.wake?.();
  }

  /** Runs until the signal aborts, then waits for every worker loop to stop. */
  async run(signal: AbortSignal): Promise<void> {
    this.#signal = signal;
    for (const w of this.#workers.values()) this.#spawn(w);
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else
        signal.addEventListener(
          "abort",
          () => {
            resolve();
          },
          { once: true },
        );
    });
    for (const w of this.#workers.values()) {
      w.inflight?.abort(signal.reason);
      w.wake?.();
    }
    await this.#tasks.wait();
  }

  #start(w: Worker): void {
    this.#workers.set(w.uid, w);
    if (this.#signal !== undefined) this.#spawn(w);
  }

  #spawn(w: Worker): void {
    const signal = this.#signal;
    if (signal === undefined) return;
    this.#tasks.spawn(`pod worker ${w.uid}`, () => this.#loop(w, signal));
  }

  async #loop(w: Worker, signal: AbortSignal): Promise<void> {
    const log = this.#o.logger.with({ podUid: w.uid });
    let delayMs = 0;
    try {
      while (!signal.aborted) {
        if (!w.isPending) await this.#waitForWork(w, delayMs, signal);
        if (isAborted(signal)) break;
        w.isPending = false;
        const pod = w.pod;
        if (
          w.state === "syncing" &&
          (w.isGone ||
            pod.metadata.deletionTimestamp !== undefined ||
            this.#o.handler.shouldTerminate(pod))
        )
          w.state = "terminating";

        if (w.state === "syncing") {
          const ac = new AbortController();
          const onAbort = (): void => {
            ac.abort(signal.reason);
          };
          signal.addEventListener("abort", onAbort, { once: true });
          w.inflight = ac;
          try {
            const r = await this.#o.handler.syncPod(pod, ac.signal);
            if (r.isTerminal) {
              w.state = "terminating";
              w.isPending = true;
            }
            delayMs = r.ok ? this.#o.resyncIntervalMs : this.#o.backOffPeriodMs;
            if (r.requeueAfterMs !== undefined) delayMs = Math.min(delayMs, r.requeueAfterMs);
          } catch (err) {
            if (!(isAbortError(err) || ac.signal.aborted)) {
              log.error("pod sync failed", { err });
              delayMs = this.#o.backOffPeriodMs;
            } else {
              delayMs = 0;
            }
          } finally {
            w.inflight = undefined;
            signal.removeEventListener("abort", onAbort);
          }
          continue;
        }

        if (w.state === "terminating") {
          try {
            await this.#o.handler.terminatePod(
              w.pod,
              w.isGone ? { graceOverrideSeconds: 1, podGone: true } : {},
              signal,
            );
            w.state = "terminated";
          } catch (err) {
            if (isAborted(signal)) break;
            log.error("pod termination failed", { err });
            delayMs = this.#o.backOffPeriodMs;
            continue;
          }
        }

        try {
          if (w.isGone) await this.#o.handler.cleanupPod(w.uid, signal);
          else await this.#o.handler.finishPod(w.pod, signal);
        } catch (err) {
          if (isAborted(signal)) break;
          log.error("pod cleanup failed", { err });
          delayMs = this.#o.backOffPeriodMs;
          continue;
        }
        this.#workers.delete(w.uid);
        this.#finished.add(w.uid);
        return;
      }
    } finally {
      w.wake = undefined;
    }
  }

  async #waitForWork(w: Worker, delayMs: number, signal: AbortSignal): Promise<void> {
    const ac = new AbortController();
    const onAbort = (): void => {
      ac.abort();
    };
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      await Promise.race([
        new Promise<void>((resolve) => (w.wake = resolve)),
        this.#o.clock.sleep(delayMs, ac.signal).catch(() => undefined),
      ]);
    } finally {
      w.wake = undefined;
      ac.abort();
      signal.removeEventListener("abort", onAbort);
    }
  }
}
