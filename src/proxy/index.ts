/** proxy: Service VIPs and NodePorts as nftables rules. */
export { ServiceProxy, type ServiceProxyOptions, type ProxySyncResult } from "./proxy.js";
export { runNft, NftSession } from "./nft-session.js";
export {
  buildModel,
  buildServiceModel,
  serviceChain,
  endpointChain,
  affinitySet,
  DEFAULT_AFFINITY_TIMEOUT_SECONDS,
  type ModelOptions,
  type ProxyModel,
  type ServicePortModel,
} from "./model.js";
export { fullScript, diffScript, type NftOptions } from "./nft.js";
