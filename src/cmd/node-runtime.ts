// The node's image store and container runtime as one NodeConfig describes them; `up`,
// `reset` and `image` all open the same ones.
import path from "node:path";
import { OciImageStore, RuncRuntime, type RegistryConfig } from "../runtime/index.js";
import type { Clock, Logger } from "../util/index.js";
import { PAUSE_IMAGE } from "./builtin-images.js";
import type { NodeConfig } from "./config.js";
import { gatewayOf } from "./host-network.js";

/** The image store under `<dataDir>/images`, pulling through `registries` (mirrors, plain HTTP). */
export function openImageStore(
  dataDir: string,
  clock: Clock,
  logger: Logger,
  registries: RegistryConfig = {},
): OciImageStore {
  return new OciImageStore({ root: path.join(dataDir, "images"), logger, clock, registries });
}

/** The conmon + runc runtime of the cluster `config` describes, over `images`. */
export function openRuntime(
  config: NodeConfig,
  images: OciImageStore,
  clock: Clock,
  logger: Logger,
): RuncRuntime {
  return new RuncRuntime({
    root: path.join(config.dataDir, "runtime"),
    runRoot: config.runDir,
    runcPath: config.runcPath,
    conmonPath: config.conmonPath,
    cniBinDir: config.cniBinDir,
    cniConfig: {
      bridge: config.bridgeName,
      subnet: config.podCIDR,
      gateway: gatewayOf(config.podCIDR).gateway,
    },
    cgroupRoot: config.cgroupRoot,
    pauseImage: PAUSE_IMAGE,
    layers: images,
    clock,
    logger,
  });
}
