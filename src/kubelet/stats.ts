import { readFile } from "node:fs/promises";
import path from "node:path";
import type { ContainerId, ContainerStats, RuntimeService } from "../runtime/index.js";
import type { Clock, Logger } from "../util/index.js";
import { LABEL_CONTAINER_NAME, LABEL_POD_NAME, LABEL_POD_NAMESPACE } from "./runtime-pod.js";

/** The runtime calls the stats provider needs. */
export type StatsRuntime = Pick<
  RuntimeService,
  "listContainers" | "listPodSandboxes" | "containerStats"
>;

/** Cumulative node counters at one instant. */
export interface NodeStatsSample {
  timestampMs: number;
  /** CPU time spent by the whole node (not idle, not iowait) since boot. */
  cpuUsageNanos: number;
  memoryWorkingSetBytes: number;
}

/** Reads node-wide CPU and memory counters. May be called concurrently. */
export interface NodeStatsReader {
  read(nowMs: number): Promise<NodeStatsSample>;
}

/** Kernel USER_HZ: /proc/stat counts CPU time in 1/100 s on every Linux we run on. */
const NANOS_PER_JIFFY = 10_000_000;

/**
 * Busy CPU time from the aggregate `cpu` line of /proc/stat, in nanoseconds: user, nice,
 * system, irq, softirq and steal (guest time is already part of user). Throws TypeError
 * when the line is missing.
 */
export function parseProcStatCpuNanos(text: string): number {
  const line = text.split("\n").find((l) => /^cpu\s/.test(l));
  if (line === undefined) throw new TypeError("/proc/stat has no aggregate cpu line");
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const at = (i: number): number => f[i] ?? 0;
  return (at(0) + at(1) + at(2) + at(5) + at(6) + at(7)) * NANOS_PER_JIFFY;
}

/** Node memory working set from /proc/meminfo: MemTotal − MemAvailable, in bytes. */
export function parseMeminfoWorkingSetBytes(text: string): number {
  const kb = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(text);
    if (m === null) throw new TypeError(`/proc/meminfo has no ${key}`);
    return Number(m[1]) * 1024;
  };
  return Math.max(0, kb("MemTotal") - kb("MemAvailable"));
}

/** Reads /proc/stat and /proc/meminfo under `procRoot` (default `/proc`). */
export class ProcNodeStatsReader implements NodeStatsReader {
  readonly #procRoot: string;

  constructor(opts: { procRoot?: string } = {}) {
    this.#procRoot = opts.procRoot ?? "/proc";
  }

  async read(nowMs: number): Promise<NodeStatsSample> {
    const [stat, meminfo] = await Promise.all([
      readFile(path.join(this.#procRoot, "stat"), "utf8"),
      readFile(path.join(this.#procRoot, "meminfo"), "utf8"),
    ]);
    return {
      timestampMs: nowMs,
      cpuUsageNanos: parseProcStatCpuNanos(stat),
      memoryWorkingSetBytes: parseMeminfoWorkingSetBytes(meminfo),
    };
  }
}

/**
 * Average CPU use between two cumulative samples, in nanocores (1e9 = one core busy):
 * Δ cpu nanoseconds / Δ wall nanoseconds × 1e9. Undefined when the window is empty or
 * the counter went backwards (a new container or cgroup behind the same key).
 */
export function cpuRateNanoCores(
  prev: { timestampMs: number; cpuUsageNanos: number },
  cur: { timestampMs: number; cpuUsageNanos: number },
): number | undefined {
  const dtMs = cur.timestampMs - prev.timestampMs;
  const dCpu = cur.cpuUsageNanos - prev.cpuUsageNanos;
  if (dtMs <= 0 || dCpu < 0) return undefined;
  return Math.round((dCpu * 1000) / dtMs);
}

/** CPU and memory of one container over a window (the shape metrics.k8s.io serves). */
export interface ContainerUsage {
  name: string;
  cpuNanoCores: number;
  memoryWorkingSetBytes: number;
}

/** One pod's usage over one window. */
export interface PodUsage {
  namespace: string;
  name: string;
  timestampMs: number;
  windowMs: number;
  containers: ContainerUsage[];
}

/** The node's usage over one window. */
export interface NodeUsage {
  name: string;
  timestampMs: number;
  windowMs: number;
  cpuNanoCores: number;
  memoryWorkingSetBytes: number;
}

/** Options of {@link StatsProvider}. */
export interface StatsProviderOptions {
  nodeName: string;
  runtime: StatsRuntime;
  node: NodeStatsReader;
  clock: Clock;
  logger: Logger;
  /** Period of background samples. @default 10_000 */
  sampleIntervalMs?: number;
  /** A query samples again first when the newest sample is at least this old. @default 1_000 */
  minSampleAgeMs?: number;
}

interface ContainerTrack {
  namespace: string;
  pod: string;
  name: string;
  prev: ContainerStats | undefined;
  last: ContainerStats;
}

/**
 * The kubelet's resource usage view (what cAdvisor + metrics-server do upstream): samples the
 * cumulative CPU counters and memory of every running container and of the node, and serves
 * rates over the last two samples. `run(signal)` samples every `sampleIntervalMs` until the
 * signal aborts and settles then; queries sample again on demand when the newest sample is
 * older than `minSampleAgeMs`, so one query after a pause still sees a fresh window. Either
 * sample is skipped when the newest is younger than that, so every window is at least as long.
 *
 * Concurrency: queries may run concurrently; at most one sample runs at a time and
 * concurrent callers share it. A container or pod appears once it has two samples.
 * A container that vanished between list and stats is skipped for that sample.
 */
export class StatsProvider {
  readonly #o: Required<StatsProviderOptions>;
  readonly #containers = new Map<ContainerId, ContainerTrack>();
  #nodePrev: NodeStatsSample | undefined;
  #nodeLast: NodeStatsSample | undefined;
  #lastSampleMs: number | undefined;
  #inFlight: Promise<void> | undefined;
  #runningPods = 0;
  #runningContainers = 0;

  constructor(opts: StatsProviderOptions) {
    this.#o = { sampleIntervalMs: 10_000, minSampleAgeMs: 1_000, ...opts };
    if (!(this.#o.sampleIntervalMs > 0)) {
      throw new RangeError(`sampleIntervalMs must be > 0, got ${String(this.#o.sampleIntervalMs)}`);
    }
    if (!(this.#o.minSampleAgeMs >= 0)) {
      throw new RangeError(`minSampleAgeMs must be >= 0, got ${String(this.#o.minSampleAgeMs)}`);
    }
  }

  /** Samples every `sampleIntervalMs` until `signal` aborts; settles after the last sample. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        // Skipped right after a query's own sample, so no window is shorter than minSampleAgeMs.
        await this.#fresh();
      } catch (err) {
        // The next period retries; usage figures are best-effort and must not stop the kubelet.
        this.#o.logger.warn("stats sample failed", { err });
      }
      const slept = await this.#o.clock.sleep(this.#o.sampleIntervalMs, signal).then(
        () => true,
        (err: unknown) => {
          // Aborted sleep is the normal way out of the loop.
          if (signal.aborted) return false;
          throw err;
        },
      );
      if (!slept) break;
    }
    await this.#inFlight;
  }

  /** Takes one sample now (joins one already in flight). */
  sample(): Promise<void> {
    this.#inFlight ??= this.#sampleOnce().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  async #sampleOnce(): Promise<void> {
    const { runtime, logger } = this.#o;
    const [containers, sandboxes] = await Promise.all([
      runtime.listContainers(),
      runtime.listPodSandboxes(),
    ]);
    const running = containers.filter(
      (c) => c.state === "running" && c.labels[LABEL_POD_NAME] !== undefined,
    );
    const seen = new Set<ContainerId>();
    await Promise.all(
      running.map(async (c) => {
        let stats: ContainerStats;
        try {
          stats = await runtime.containerStats(c.id);
        } catch (err) {
          // Exited or removed since the list: it has no usage to report any more.
          logger.debug("container stats unavailable", { container: c.id, err });
          return;
        }
        seen.add(c.id);
        const old = this.#containers.get(c.id);
        this.#containers.set(c.id, {
          namespace: c.labels[LABEL_POD_NAMESPACE] ?? "",
          pod: c.labels[LABEL_POD_NAME] ?? "",
          name: c.labels[LABEL_CONTAINER_NAME] ?? c.name,
          prev: old?.last,
          last: stats,
        });
      }),
    );
    for (const id of [...this.#containers.keys()]) {
      if (!seen.has(id)) this.#containers.delete(id);
    }
    this.#runningContainers = running.length;
    this.#runningPods = sandboxes.filter((s) => s.state === "ready").length;
    const node = await this.#o.node.read(this.#o.clock.now());
    this.#nodePrev = this.#nodeLast;
    this.#nodeLast = node;
    this.#lastSampleMs = this.#o.clock.now();
  }

  async #fresh(): Promise<void> {
    const last = this.#lastSampleMs;
    if (last === undefined || this.#o.clock.now() - last >= this.#o.minSampleAgeMs) {
      await this.sample();
    }
  }

  /** Usage of the node (empty until two samples exist). */
  async nodeUsage(): Promise<NodeUsage[]> {
    await this.#fresh();
    const prev = this.#nodePrev;
    const last = this.#nodeLast;
    if (prev === undefined || last === undefined) return [];
    const cpu = cpuRateNanoCores(prev, last);
    if (cpu === undefined) return [];
    return [
      {
        name: this.#o.nodeName,
        timestampMs: last.timestampMs,
        windowMs: last.timestampMs - prev.timestampMs,
        cpuNanoCores: cpu,
        memoryWorkingSetBytes: last.memoryWorkingSetBytes,
      },
    ];
  }

  /**
   * Usage of every pod (or of namespace `ns`) whose running containers all have two samples,
   * as upstream drops pods with partial data. Containers sorted by name.
   */
  async podUsage(ns?: string): Promise<PodUsage[]> {
    await this.#fresh();
    const pods = new Map<string, PodUsage | "partial">();
    for (const t of this.#containers.values()) {
      if (ns !== undefined && t.namespace !== ns) continue;
      const key = `${t.namespace}/${t.pod}`;
      const cpu = t.prev === undefined ? undefined : cpuRateNanoCores(t.prev, t.last);
      if (t.prev === undefined || cpu === undefined) {
        pods.set(key, "partial");
        continue;
      }
      let p = pods.get(key);
      if (p === "partial") continue;
      if (p === undefined) {
        p = {
          namespace: t.namespace,
          name: t.pod,
          timestampMs: t.last.timestampMs,
          windowMs: t.last.timestampMs - t.prev.timestampMs,
          containers: [],
        };
        pods.set(key, p);
      }
      p.timestampMs = Math.max(p.timestampMs, t.last.timestampMs);
      p.containers.push({
        name: t.name,
        cpuNanoCores: cpu,
        memoryWorkingSetBytes: t.last.memoryWorkingSetBytes,
      });
    }
    const out: PodUsage[] = [];
    for (const p of pods.values()) {
      if (p === "partial") continue;
      p.containers.sort((a, b) => a.name.localeCompare(b.name));
      out.push(p);
    }
    return out.sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  }

  /** `kubelet_running_pods` and `kubelet_running_containers` as of the last sample. */
  prometheusText(): Promise<string> {
    return Promise.resolve(
      "# HELP kubelet_running_pods Number of pods that have a running pod sandbox\n" +
        "# TYPE kubelet_running_pods gauge\n" +
        `kubelet_running_pods ${String(this.#runningPods)}\n` +
        "# HELP kubelet_running_containers Number of containers currently running\n" +
        "# TYPE kubelet_running_containers gauge\n" +
        `kubelet_running_containers{container_state="running"} ${String(this.#runningContainers)}\n`,
    );
  }
}
