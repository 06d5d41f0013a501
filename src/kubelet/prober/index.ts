import type { Container, Pod, Probe } from "../../api/index.js";
import type { ContainerId } from "../../runtime/index.js";
import { isAbortError, TaskGroup, type Clock, type Logger } from "../../util/index.js";
import { ProbeError, runProbe, type ProbeExec, type RawProbeResult } from "./probes.js";
import { TimerWheel } from "./timer-wheel.js";

export {
  KUBE_VERSION,
  ProbeError,
  httpGetHeaders,
  httpGetURL,
  resolvePort,
  runProbe,
  type ProbeContext,
  type ProbeExec,
  type RawProbeResult,
} from "./probes.js";
export { httpGet, HttpGetError, type HttpGetRequest, type HttpGetResponse } from "./http.js";

/** Stored outcome of a probe (upstream `results.Result`). */
export type ProbeResult = "Success" | "Failure" | "Unknown";

/** Probe kinds. */
export type ProbeType = "readiness" | "liveness" | "startup";

/** Where the prober and hooks send events. Must not throw; may be called concurrently. */
export interface EventRecorder {
  event(
    pod: Pod,
    fieldPath: string | undefined,
    type: "Normal" | "Warning",
    reason: string,
    message: string,
  ): void;
}

/** A container instance as the prober needs to know it. */
export interface ProbedContainer {
  name: string;
  id: ContainerId;
  state: "created" | "running" | "exited" | "unknown";
  /** Epoch ms when the instance started running. */
  startedAtMs?: number;
}

/** Options of {@link ProberManager}. */
export interface ProberManagerOptions {
  exec: ProbeExec;
  clock: Clock;
  logger: Logger;
  recorder: EventRecorder;
  /** Called (synchronously, from a worker) whenever a stored result changes. */
  onResult(podUid: string): void;
  /** Source of randomness for the restart jitter (PL-PROBE-14). @default Math.random */
  random?: () => number;
}

const INITIAL: Record<ProbeType, ProbeResult> = {
  readiness: "Failure",
  liveness: "Success",
  startup: "Unknown",
};
const TYPE_TEXT: Record<ProbeType, string> = {
  readiness: "Readiness",
  liveness: "Liveness",
  startup: "Startup",
};
const MAX_PROBE_RETRIES = 3;
/**
 * Granularity of the prober's timer wheel: probe periods and deadlines fire up to this late.
 * Upstream's per-worker Go tickers are exact, but 100 ms on periods of seconds is invisible
 * and turns hundreds of timers per second into ten.
 */
const PROBE_TICK_MS = 100;

interface ResolvedProbe {
  spec: Probe;
  initialDelayMs: number;
  periodMs: number;
  successThreshold: number;
  failureThreshold: number;
}

/** Probe defaults applied once (PL-PROBE table). */
function resolveProbe(spec: Probe): ResolvedProbe {
  return {
    spec,
    initialDelayMs: (spec.initialDelaySeconds ?? 0) * 1000,
    periodMs: Math.max(1, spec.periodSeconds ?? 10) * 1000,
    successThreshold: Math.max(1, spec.successThreshold ?? 1),
    failureThreshold: Math.max(1, spec.failureThreshold ?? 3),
  };
}

interface PodEntry {
  pod: Pod;
  podIP: string | undefined;
  containers: Map<string, ProbedContainer>;
  workers: Map<string, Worker>;
  /** Workers that ended on their own (terminal pod, Never-terminated, deletion); not restarted. */
  finished: Set<string>;
}

interface Worker {
  key: string;
  podUid: string;
  containerName: string;
  type: ProbeType;
  probe: ResolvedProbe;
  stop: AbortController;
  containerId: ContainerId | undefined;
  onHold: boolean;
  lastResult: ProbeResult | undefined;
  resultRun: number;
  /** Ends the worker's current wait early (its stop signal aborted). */
  wake: (() => void) | undefined;
}

function probeOf(c: Container, type: ProbeType): Probe | undefined {
  switch (type) {
    case "readiness":
      return c.readinessProbe;
    case "liveness":
      return c.livenessProbe;
    case "startup":
      return c.startupProbe;
  }
}

/** The containers that are probed: regular containers and sidecars. */
function probedContainers(pod: Pod): { container: Container; fieldPath: string }[] {
  const out: { container: Container; fieldPath: string }[] = [];
  for (const c of pod.spec.initContainers ?? []) {
    if (c.restartPolicy === "Always")
      out.push({ container: c, fieldPath: `spec.initContainers{${c.name}}` });
  }
  for (const c of pod.spec.containers)
    out.push({ container: c, fieldPath: `spec.containers{${c.name}}` });
  return out;
}

/**
 * Runs probe workers (PL-PROBE-1..14): one loop per (container, probe type) on the injected
 * clock, with upstream's initial values, startup gating, thresholds and on-hold rules.
 *
 * Concurrency: all methods are synchronous and may be called at any time from the kubelet's
 * loops; workers run only between `run(signal)` starting and its signal aborting, and `run`
 * settles after every worker stopped. updatePod is idempotent (replaces the known pod, its
 * container instances and IP; starts missing workers). removePod stops and forgets the pod's
 * workers and results. Results change only through workers, and each change calls onResult.
 */
export class ProberManager {
  readonly #exec: ProbeExec;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #recorder: EventRecorder;
  readonly #onResult: (podUid: string) => void;
  readonly #random: () => number;
  readonly #startedAt: number;
  readonly #pods = new Map<string, PodEntry>();
  readonly #results = new Map<string, ProbeResult>();
  /** One timer for all workers' periods and probe deadlines. */
  readonly #wheel: TimerWheel;
  #tasks: TaskGroup | undefined;
  #runSignal: AbortSignal | undefined;

  constructor(opts: ProberManagerOptions) {
    this.#exec = opts.exec;
    this.#clock = opts.clock;
    this.#logger = opts.logger;
    this.#recorder = opts.recorder;
    this.#onResult = (uid) => {
      opts.onResult(uid);
    };
    this.#random = opts.random ?? Math.random;
    this.#startedAt = opts.clock.now();
    this.#wheel = new TimerWheel(opts.clock, PROBE_TICK_MS, (err) => {
      // A probe callback threw: the probe it belongs to fails on its own deadline path.
      opts.logger.error("probe timer callback failed", { err });
    });
  }

  /** Updates the pod, its container instances and IP, and starts workers not yet running. */
  updatePod(pod: Pod, containers: ProbedContainer[], podIP: string | undefined): void {
    const uid = pod.metadata.uid ?? "";
    let entry = this.#pods.get(uid);
    if (entry === undefined) {
      entry = { pod, podIP, containers: new Map(), workers: new Map(), finished: new Set() };
      this.#pods.set(uid, entry);
    }
    entry.pod = pod;
    entry.podIP = podIP;
    entry.containers = new Map(containers.map((c) => [c.name, c]));
    const wanted = new Set<string>();
    for (const { container } of probedContainers(pod)) {
      for (const type of ["startup", "liveness", "readiness"] as const) {
        const spec = probeOf(container, type);
        if (spec === undefined) continue;
        const key = `${container.name}/${type}`;
        wanted.add(key);
        if (entry.workers.has(key) || entry.finished.has(key)) continue;
        const w: Worker = {
          key,
          podUid: uid,
          containerName: container.name,
          type,
          probe: resolveProbe(spec),
          stop: new AbortController(),
          containerId: undefined,
          onHold: false,
          lastResult: undefined,
          resultRun: 0,
          wake: undefined,
        };
        entry.workers.set(key, w);
        this.#startWorker(w);
      }
    }
    for (const [key, w] of entry.workers) {
      if (!wanted.has(key)) w.stop.abort();
    }
  }

  /** Stops all workers of the pod and drops its results. Idempotent. */
  removePod(uid: string): void {
    const entry = this.#pods.get(uid);
    if (entry === undefined) return;
    for (const w of entry.workers.values()) w.stop.abort();
    for (const c of entry.containers.values()) {
      for (const type of ["readiness", "liveness", "startup"] as const)
        this.#results.delete(`${c.id}/${type}`);
    }
    this.#pods.delete(uid);
  }

  /** The stored result for a container instance, or undefined when no worker has set one. */
  result(containerId: ContainerId, type: ProbeType): ProbeResult | undefined {
    return this.#results.get(`${containerId}/${type}`);
  }

  /**
   * Whether the container instance counts as started (PL-PROBE-3): running and, when it has a
   * startup probe, that probe's stored result is Success.
   */
  isStarted(container: Container, c: ProbedContainer): boolean {
    if (c.state !== "running") return false;
    if (container.startupProbe === undefined) return true;
    return this.result(c.id, "startup") === "Success";
  }

  /** Runs workers until the signal aborts; settles after all of them stopped. */
  async run(signal: AbortSignal): Promise<void> {
    const tasks = new TaskGroup(this.#logger);
    this.#tasks = tasks;
    this.#runSignal = signal;
    tasks.spawn("probe timer wheel", () => this.#wheel.run(signal));
    for (const entry of this.#pods.values()) {
      for (const w of entry.workers.values()) this.#startWorker(w);
    }
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
    for (const entry of this.#pods.values()) {
      for (const w of entry.workers.values()) w.stop.abort();
    }
    await tasks.wait();
    this.#tasks = undefined;
  }

  #startWorker(w: Worker): void {
    const tasks = this.#tasks;
    const runSignal = this.#runSignal;
    // Before run() starts, workers wait in the pod entry; run() starts them.
    if (tasks === undefined || runSignal === undefined || runSignal.aborted) return;
    // run() aborts every worker's own controller when its signal aborts, so the worker needs
    // only that one (AbortSignal.any would add per-tick listener cost on hot paths).
    const signal = w.stop.signal;
    tasks.spawn(`probe ${w.podUid}/${w.key}`, () => this.#runWorker(w, signal));
  }

  /** Waits on the timer wheel until `atMs` or until the worker's signal aborts. */
  #sleepUntil(w: Worker, atMs: number): Promise<void> {
    // Stopped while it was probing: the wake-up already happened, so do not wait at all.
    if (w.stop.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      w.wake = resolve;
      this.#wheel.schedule(atMs, resolve);
    });
  }

  async #runWorker(w: Worker, signal: AbortSignal): Promise<void> {
    const onStop = (): void => {
      w.wake?.();
    };
    signal.addEventListener("abort", onStop, { once: true });
    try {
      const period = w.probe.periodMs;
      // PL-PROBE-14: after a kubelet restart, spread the first probes over one period.
      const jitterMs = Math.floor(this.#random() * period);
      if (this.#clock.now() - this.#startedAt < period && jitterMs > 0) {
        await this.#sleepUntil(w, this.#clock.now() + jitterMs);
      }
      let next = this.#clock.now();
      while (!signal.aborted) {
        if (!(await this.#doProbe(w, signal))) {
          this.#pods.get(w.podUid)?.finished.add(w.key);
          break;
        }
        next += period;
        const now = this.#clock.now();
        // Like a Go ticker, missed ticks are dropped rather than run back to back.
        if (next <= now) next = now + period - ((now - next) % period);
        await this.#sleepUntil(w, next);
      }
    } catch (err) {
      if (!isAbortError(err) && !signal.aborted) throw err;
    } finally {
      signal.removeEventListener("abort", onStop);
      w.wake = undefined;
      if (w.containerId !== undefined) this.#results.delete(`${w.containerId}/${w.type}`);
      const entry = this.#pods.get(w.podUid);
      if (entry?.workers.get(w.key) === w) entry.workers.delete(w.key);
    }
  }

  #set(w: Worker, result: ProbeResult): void {
    if (w.containerId === undefined) return;
    const key = `${w.containerId}/${w.type}`;
    if (this.#results.get(key) === result) return;
    this.#results.set(key, result);
    this.#onResult(w.podUid);
  }

  /** One tick of a worker (upstream `worker.doProbe`); false = stop the worker. */
  async #doProbe(w: Worker, signal: AbortSignal): Promise<boolean> {
    const entry = this.#pods.get(w.podUid);
    if (entry === undefined) return false;
    const pod = entry.pod;
    const phase = pod.status?.phase;
    if (phase === "Succeeded" || phase === "Failed") return false;
    const c = entry.containers.get(w.containerName);
    if (c === undefined) return true;

    if (w.containerId !== c.id) {
      if (w.containerId !== undefined) this.#results.delete(`${w.containerId}/${w.type}`);
      w.containerId = c.id;
      this.#set(w, INITIAL[w.type]);
      w.onHold = false;
    }
    if (w.onHold) return true;

    if (c.state !== "running") {
      this.#set(w, "Failure");
      return !(c.state === "exited" && pod.spec.restartPolicy === "Never");
    }

    if (pod.metadata.deletionTimestamp != null && w.type !== "readiness") {
      // Graceful shutdown: a last Success keeps liveness/startup from killing the container.
      this.#set(w, "Success");
      return false;
    }

    if (this.#clock.now() - (c.startedAtMs ?? 0) < w.probe.initialDelayMs) return true;

    const found = probedContainers(pod).find((x) => x.container.name === w.containerName);
    if (found === undefined) return true;
    const started = this.isStarted(found.container, c);
    if (started ? w.type === "startup" : w.type !== "startup") return true;

    const result = await this.#probe(
      w,
      pod,
      found.container,
      found.fieldPath,
      c.id,
      entry.podIP,
      signal,
    );
    if (result === undefined || signal.aborted) return true;

    if (w.lastResult === result) {
      w.resultRun++;
    } else {
      w.lastResult = result;
      w.resultRun = 1;
    }
    if (
      (result === "Failure" && w.resultRun < w.probe.failureThreshold) ||
      (result === "Success" && w.resultRun < w.probe.successThreshold)
    ) {
      return true;
    }
    this.#set(w, result);
    if ((w.type === "liveness" && result === "Failure") || w.type === "startup") {
      // Hold until a new container instance appears (upstream #21751, #117153).
      w.onHold = true;
      w.resultRun = 0;
    }
    return true;
  }

  /** Runs the probe with retries and records events; undefined = errored, result discarded. */
  async #probe(
    w: Worker,
    pod: Pod,
    container: Container,
    fieldPath: string,
    containerId: ContainerId,
    podIP: string | undefined,
    signal: AbortSignal,
  ): Promise<ProbeResult | undefined> {
    const typeText = TYPE_TEXT[w.type];
    let lastErr: unknown;
    let raw: { result: RawProbeResult; output: string } | undefined;
    for (let i = 0; i < MAX_PROBE_RETRIES && raw === undefined; i++) {
      try {
        raw = await runProbe(w.probe.spec, {
          pod,
          container,
          containerId,
          podIP,
          exec: this.#exec,
          clock: this.#clock,
          timers: this.#wheel,
          signal,
        });
      } catch (err) {
        if (!(err instanceof ProbeError)) throw err;
        lastErr = err;
      }
    }
    if (raw === undefined) {
      const msg = lastErr instanceof Error ? lastErr.message : String(lastErr);
      this.#logger.debug("probe errored", {
        pod: pod.metadata.name,
        container: container.name,
        type: w.type,
        err: lastErr,
      });
      this.#recorder.event(
        pod,
        fieldPath,
        "Warning",
        "Unhealthy",
        `${typeText} probe errored and resulted in unknown state: ${msg}`,
      );
      return undefined;
    }
    switch (raw.result) {
      case "success":
        return "Success";
      case "warning":
        this.#recorder.event(
          pod,
          fieldPath,
          "Warning",
          "ProbeWarning",
          `${typeText} probe warning: ${raw.output}`,
        );
        return "Success";
      case "failure":
        this.#recorder.event(
          pod,
          fieldPath,
          "Warning",
          "Unhealthy",
          `${typeText} probe failed: ${raw.output}`,
        );
        return "Failure";
      case "unknown":
        return "Failure";
    }
  }
}
