/** dns: the cluster DNS server (cluster.local from Services and EndpointSlices). */
export {
  ClusterZone,
  reverseName,
  type ZoneAnswer,
  type ZoneRecord,
  type ClusterZoneOptions,
} from "./zone.js";
export { DnsServer, type DnsServerOptions } from "./server.js";
