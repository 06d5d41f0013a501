/** apiserver: routing, discovery, REST semantics over the Store, watch; HTTP adapter in http/. */
export { ApiServer, SERVER_VERSION } from "./server.js";
export { encodeWatchEvent } from "./watch.js";
export {
  noAdmission,
  resolveApiServerOptions,
  type Admission,
  type ApiServerOptions,
  type FieldValidationMode,
  type NodeConnector,
  type PodLogOptions,
  type ResolvedApiServerOptions,
  type ValidateOptions,
} from "./types.js";
export {
  RESOURCES,
  apiVersionOf,
  findResource,
  qualifiedResource,
  type ResourceInfo,
} from "./resources.js";
export { parseLabelSelector, parseFieldSelector, matchesLabels } from "./selectors.js";
export {
  METRICS_RESOURCES,
  type ContainerUsage,
  type MetricsProvider,
  type NodeMetrics,
  type NodeUsage,
  type PodMetrics,
  type PodUsage,
  type PrometheusSource,
} from "./metrics/index.js";
