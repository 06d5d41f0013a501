import type { NodeConfig } from "./config.js";

/** Removes everything a cluster made on this machine. */
export function reset(config: NodeConfig): Promise<number> {
  return Promise.reject(new Error(`reset is being wired (data dir ${config.dataDir})`));
}
