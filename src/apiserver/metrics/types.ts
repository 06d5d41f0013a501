/** CPU and memory use of one container over a sampling window, as raw numbers. */
export interface ContainerUsage {
  name: string;
  /** Average CPU use over the window, in nanocores (1e9 = one core). */
  cpuNanoCores: number;
  /** Memory working set at the end of the window. */
  memoryWorkingSetBytes: number;
}

/** Resource use of one pod's running containers over one sampling window. */
export interface PodUsage {
  namespace: string;
  name: string;
  /** End of the window, epoch milliseconds. */
  timestampMs: number;
  /** Length of the window the CPU rate was measured over. */
  windowMs: number;
  containers: ContainerUsage[];
}

/** Resource use of one node over one sampling window. */
export interface NodeUsage {
  name: string;
  /** End of the window, epoch milliseconds. */
  timestampMs: number;
  windowMs: number;
  cpuNanoCores: number;
  memoryWorkingSetBytes: number;
}

/**
 * Source of the usage figures behind `metrics.k8s.io/v1beta1` (the role metrics-server plays
 * upstream; in podrun the kubelet's stats provider). May be called concurrently. Pods and
 * nodes that do not have two samples yet are left out (upstream: "metrics not available
 * yet"). Errors are plain Errors; the API answers them as 500 InternalError.
 */
export interface MetricsProvider {
  /** Usage of every node. */
  nodeUsage(opts?: { signal?: AbortSignal }): Promise<NodeUsage[]>;
  /** Usage of every pod, or of the pods of namespace `ns`. */
  podUsage(ns: string | undefined, opts?: { signal?: AbortSignal }): Promise<PodUsage[]>;
}

/**
 * A component that contributes lines to `GET /metrics` (Prometheus text format 0.0.4), e.g.
 * the kubelet's `kubelet_running_pods`. Called once per scrape; may be called concurrently.
 * The text must be complete metric families (`# HELP`, `# TYPE`, samples), newline-terminated.
 */
export interface PrometheusSource {
  prometheusText(): Promise<string>;
}

/** `metrics.k8s.io/v1beta1` ContainerMetrics. */
export interface ContainerMetrics {
  name: string;
  usage: { cpu: string; memory: string };
}

/** `metrics.k8s.io/v1beta1` PodMetrics. */
export interface PodMetrics {
  kind: "PodMetrics";
  apiVersion: "metrics.k8s.io/v1beta1";
  metadata: {
    name: string;
    namespace: string;
    creationTimestamp: string;
    labels?: Record<string, string>;
  };
  timestamp: string;
  window: string;
  containers: ContainerMetrics[];
}

/** `metrics.k8s.io/v1beta1` NodeMetrics. */
export interface NodeMetrics {
  kind: "NodeMetrics";
  apiVersion: "metrics.k8s.io/v1beta1";
  metadata: { name: string; creationTimestamp: string; labels?: Record<string, string> };
  timestamp: string;
  window: string;
  usage: { cpu: string; memory: string };
}
