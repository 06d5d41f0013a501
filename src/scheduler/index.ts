/** scheduler: binds pending pods to a node. */
export {
  Scheduler,
  resolveSchedulerOptions,
  POD_INITIAL_BACKOFF_MS,
  POD_MAX_BACKOFF_MS,
  type SchedulerOptions,
  type ResolvedSchedulerOptions,
} from "./scheduler.js";
export {
  findNodeForPod,
  nodeFailures,
  podRequests,
  isNodeReady,
  type FitResult,
  type ResourceAmounts,
} from "./fit.js";
