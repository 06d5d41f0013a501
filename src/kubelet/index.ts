/** kubelet: the node agent — pod workers, plan/apply sync, status, logs, node registration. */
export {
  Kubelet,
  resolveKubeletConfig,
  type KubeletConfig,
  type KubeletOptions,
  type ResolvedKubeletConfig,
} from "./kubelet.js";
export type { KubeletClient, EventSink } from "./types.js";
export {
  readContainerLogs,
  openContainerLogs,
  selectLogContainer,
  LogRotator,
  type PodLogOptions,
  type LogRotatorOptions,
} from "./logs.js";
export { computePodActions, type PodActions, type ProbeResults } from "./pod-actions.js";
export { generatePodStatus, type StatusContext } from "./status.js";
export { PodWorkers, type PodWorkerState, type PodLifecycleHandler } from "./pod-workers.js";
export { PodSyncer, type PodSyncerOptions, type SyncConfig } from "./sync.js";
export { parseImageRef, InvalidImageNameError } from "./images.js";
export {
  DockerKeyring,
  dockerConfigOfJson,
  pullWithCredentials,
  type DockerConfig,
} from "./keyring.js";
export {
  StatsProvider,
  ProcNodeStatsReader,
  cpuRateNanoCores,
  parseProcStatCpuNanos,
  parseMeminfoWorkingSetBytes,
  type StatsProviderOptions,
  type StatsRuntime,
  type NodeStatsReader,
  type NodeStatsSample,
} from "./stats.js";
