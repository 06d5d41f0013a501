/** apiserver/metrics: the metrics.k8s.io/v1beta1 API and the Prometheus `/metrics` text. */
export {
  METRICS_GROUP,
  METRICS_RESOURCES,
  serveMetrics,
  toNodeMetrics,
  toPodMetrics,
  type MetricsObjectLister,
  type MetricsRequest,
} from "./api.js";
export { formatBytes, formatGoDuration, formatNanoCores } from "./quantity.js";
export { RequestMetrics, gaugeText, processMetricsText, type RequestLabels } from "./prometheus.js";
export type {
  ContainerMetrics,
  ContainerUsage,
  MetricsProvider,
  NodeMetrics,
  NodeUsage,
  PodMetrics,
  PodUsage,
  PrometheusSource,
} from "./types.js";
