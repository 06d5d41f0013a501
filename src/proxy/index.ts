/** proxy: Service VIPs and NodePorts as nftables rules. */
export { ServiceProxy, runNft, type ServiceProxyOptions } from "./proxy.js";
export {
  buildModel,
  serviceChain,
  endpointChain,
  type ProxyModel,
  type ServicePortModel,
} from "./model.js";
export { fullScript, diffScript, type NftOptions } from "./nft.js";
