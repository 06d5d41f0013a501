import type { NodeConfig } from "./config.js";

/** Runs the whole single-node cluster in this process until SIGINT/SIGTERM. */
export function up(
  config: NodeConfig,
  opts: { applyExamples: string | undefined },
): Promise<number> {
  return Promise.reject(
    new Error(`up is being wired (data dir ${config.dataDir}, ${opts.applyExamples ?? ""})`),
  );
}
