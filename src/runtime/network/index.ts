/** runtime/network: pod network namespaces wired through the CNI plugins. */
export { CniNetwork, parseIps } from "./cni.js";
export type { CniNetworkConfig, CniNetworkOptions, CniAttachment } from "./cni.js";
