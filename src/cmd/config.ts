import { createHash } from "node:crypto";
import { networkInterfaces, hostname } from "node:os";
import path from "node:path";

/** Node-wide settings (STYLE.md §7): loaded once in cmd/ and passed down. */
export interface NodeConfig {
  dataDir: string;
  /** Per-cluster runtime state (exit files, conmon sockets, netns pins, runc root). */
  runDir: string;
  /** cgroup parent of every pod of this cluster, relative to the cgroup root. */
  cgroupRoot: string;
  logDir: string;
  bindAddress: string;
  port: number;
  nodeName: string;
  nodeIP: string;
  podCIDR: string;
  serviceCIDR: string;
  clusterDNS: string;
  clusterDomain: string;
  bridgeName: string;
  runcPath: string;
  conmonPath: string;
  cniBinDir: string;
  logLevel: "debug" | "info" | "warn" | "error";
  /** Initial and maximum crash back-off (PL-BO-1). */
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** Store revisions kept for watch replay; older resourceVersions get 410 Expired. */
  watchHistory: number;
  /** Kubelet periodic pod resync, which also refreshes ConfigMap/Secret volumes (PL-EDGE-38). */
  syncPeriodMs: number;
  /** Container log rotation size and files kept (PL-LOG-4, `--container-log-max-size-bytes`/`--container-log-max-files`). */
  containerLogMaxSizeBytes: number;
  containerLogMaxFiles: number;
  /** Registry mirrors and plain-HTTP registries, k3s `registries.yaml` format (`--registries-config`). */
  registriesConfig: string;
}

/** Default data dir. */
export const DEFAULT_DATA_DIR = "/var/lib/podrun";

/** Flags as parsed (all strings), before defaults. */
export type Flags = Partial<Record<string, string>>;

/** Applies defaults to parsed flags. Throws RangeError naming a bad flag. */
export function resolveNodeConfig(flags: Flags): NodeConfig {
  const dataDir = path.resolve(flags["data-dir"] ?? DEFAULT_DATA_DIR);
  const isDefault = dataDir === DEFAULT_DATA_DIR;
  // Several clusters may run side by side: everything host-global gets a per-data-dir suffix.
  const suffix = isDefault
    ? ""
    : `-${createHash("sha256").update(dataDir).digest("hex").slice(0, 10)}`;
  const port = Number(flags["port"] ?? "6443");
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new RangeError(`--port: invalid port ${flags["port"] ?? ""}`);
  const num = (name: string, def: number): number => {
    const v = Number(flags[name] ?? def);
    if (!Number.isFinite(v) || v <= 0)
      throw new RangeError(`--${name}: must be a positive number, got ${flags[name] ?? ""}`);
    return v;
  };
  const level = flags["log-level"] ?? "info";
  if (level !== "debug" && level !== "info" && level !== "warn" && level !== "error") {
    throw new RangeError(`--log-level: must be debug, info, warn or error, got ${level}`);
  }
  return {
    dataDir,
    runDir: flags["run-dir"] ?? `/run/podrun${suffix}`,
    cgroupRoot: flags["cgroup-root"] ?? `podrun${suffix}`,
    logDir: flags["log-dir"] ?? (isDefault ? "/var/log/pods" : path.join(dataDir, "logs/pods")),
    bindAddress: flags["bind-address"] ?? "127.0.0.1",
    port,
    nodeName: flags["node-name"] ?? hostname().toLowerCase(),
    nodeIP: flags["node-ip"] ?? detectNodeIP(flags["pod-cidr"] ?? "10.244.0.0/16"),
    podCIDR: flags["pod-cidr"] ?? "10.244.0.0/16",
    serviceCIDR: flags["service-cidr"] ?? "10.96.0.0/12",
    clusterDNS: flags["cluster-dns"] ?? "10.96.0.10",
    clusterDomain: flags["cluster-domain"] ?? "cluster.local",
    bridgeName: flags["bridge"] ?? "podrun0",
    runcPath: flags["runc"] ?? "/usr/sbin/runc",
    conmonPath: flags["conmon"] ?? "/usr/bin/conmon",
    cniBinDir: flags["cni-bin-dir"] ?? "/usr/lib/cni",
    logLevel: level,
    backoffInitialMs: num("backoff-initial-ms", 10_000),
    backoffMaxMs: num("backoff-max-ms", 300_000),
    watchHistory: num("watch-history", 10_000),
    syncPeriodMs: num("sync-period-ms", 60_000),
    containerLogMaxSizeBytes: num("container-log-max-size-bytes", 10 * 1024 * 1024),
    containerLogMaxFiles: num("container-log-max-files", 5),
    registriesConfig: path.resolve(
      flags["registries-config"] ?? path.join(dataDir, "registries.yaml"),
    ),
  };
}

/**
 * The node's IP: the first global IPv4 address of a non-pod interface; inside an empty network
 * namespace (tests) there is none, and the pod bridge's gateway address stands in.
 */
function detectNodeIP(podCIDR: string): string {
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (name === "lo" || name.startsWith("podrun") || name.startsWith("veth")) continue;
    for (const a of addrs ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  const [base] = podCIDR.split("/");
  const parts = (base ?? "10.244.0.0").split(".").map(Number);
  return `${parts[0] ?? 10}.${parts[1] ?? 244}.${parts[2] ?? 0}.${(parts[3] ?? 0) + 1}`;
}
