import { join } from "node:path";
import { runCommand } from "../runc/exec.js";
import { RuntimeError } from "../errors.js";
import type { PortMapping } from "../types.js";

/** Settings of the pod network (bridge + host-local IPAM). */
export interface CniNetworkConfig {
  /** Bridge device name. @default "podrun0" */
  bridge: string;
  /** Pod CIDR. @default "10.244.0.0/16" */
  subnet: string;
  /** Gateway (bridge) address. @default "10.244.0.1" */
  gateway: string;
}

/** Options of {@link CniNetwork}. */
export interface CniNetworkOptions {
  /** Directory holding the CNI plugin binaries (`/usr/lib/cni`). */
  binDir: string;
  /** host-local IPAM data directory; distinct per cluster so clusters never share IPs. */
  ipamDataDir: string;
  config: CniNetworkConfig;
  /** Path of a network namespace that plays "the host"; plugins run inside it via nsenter. */
  hostNetns?: string;
}

/** Result of attaching one pod network namespace. */
export interface CniAttachment {
  /** Pod IPs, primary first, without prefix length. */
  ips: string[];
}

const NETWORK_NAME = "podrun";
const CNI_VERSION = "1.0.0";

/**
 * The nftables table holding the pod network's masquerade rule. One rule for the whole subnet
 * replaces the bridge plugin's `ipMasq`, which added and removed an iptables chain per pod
 * (about 40 ms per ADD and per DEL, serialized on the xtables lock).
 */
export const MASQUERADE_TABLE = "podrun-cni";

/**
 * Runs the standard CNI plugins by hand: `loopback` on `lo`, then the chain `bridge`
 * (host-local IPAM) → `portmap` on `eth0`. Safe for concurrent use on different container ids;
 * host-local serializes its own allocations with a file lock.
 */
export class CniNetwork {
  readonly #opts: CniNetworkOptions;

  constructor(opts: CniNetworkOptions) {
    this.#opts = opts;
  }

  /**
   * Installs (or refreshes) the masquerade rule of the pod subnet: traffic from a pod to
   * anything outside the subnet (multicast excepted) leaves with the host's address, as the
   * bridge plugin's `ipMasq` did per pod. Idempotent; the table is replaced as a whole.
   */
  async ensureMasquerade(signal?: AbortSignal): Promise<void> {
    const t = MASQUERADE_TABLE;
    const subnet = this.#opts.config.subnet;
    const script = [
      `add table ip ${t}`,
      `delete table ip ${t}`,
      `add table ip ${t}`,
      `add chain ip ${t} postrouting { type nat hook postrouting priority srcnat; policy accept; }`,
      `add rule ip ${t} postrouting ip saddr ${subnet} ip daddr != ${subnet} ip daddr != 224.0.0.0/4 masquerade`,
      "",
    ].join("\n");
    const [cmd, args] =
      this.#opts.hostNetns === undefined
        ? ["nft", ["-f", "-"]]
        : ["nsenter", [`--net=${this.#opts.hostNetns}`, "--", "nft", "-f", "-"]];
    await runCommand(cmd, args, { input: script, ...(signal === undefined ? {} : { signal }) });
  }

  /**
   * CNI ADD for `containerId` in the namespace at `netnsPath`. Throws RuntimeError "Failed"
   * with the plugin's error message. The caller runs `remove` on failure to release the IP.
   */
  async add(
    containerId: string,
    netnsPath: string,
    portMappings: PortMapping[],
    signal?: AbortSignal,
    opts: { loopbackDone?: boolean } = {},
  ): Promise<CniAttachment> {
    const [, bridgeResult] = await Promise.all([
      opts.loopbackDone === true ? undefined : this.addLoopback(containerId, netnsPath, signal),
      this.#invoke("bridge", "ADD", containerId, netnsPath, "eth0", this.#bridgeConf(), signal),
    ]);
    let result = bridgeResult;
    if (portMappings.length > 0) {
      result = await this.#invoke(
        "portmap",
        "ADD",
        containerId,
        netnsPath,
        "eth0",
        this.#portmapConf(portMappings, result),
        signal,
      );
    }
    return { ips: parseIps(result) };
  }

  /**
   * CNI ADD of the `loopback` plugin alone (`lo` up). Done ahead for the namespaces a runtime
   * pins before it needs them; `add` then skips it.
   */
  async addLoopback(containerId: string, netnsPath: string, signal?: AbortSignal): Promise<void> {
    await this.#invoke(
      "loopback",
      "ADD",
      containerId,
      netnsPath,
      "lo",
      this.#loopbackConf(),
      signal,
    );
  }

  /** CNI DEL in reverse order; tolerant of a missing namespace (PL-MAP-1 teardown). Idempotent. */
  async remove(
    containerId: string,
    netnsPath: string | undefined,
    portMappings: PortMapping[],
    signal?: AbortSignal,
  ): Promise<void> {
    const ns = netnsPath ?? "";
    if (portMappings.length > 0) {
      await this.#invoke(
        "portmap",
        "DEL",
        containerId,
        ns,
        "eth0",
        this.#portmapConf(portMappings, undefined),
        signal,
      );
    }
    await this.#invoke("bridge", "DEL", containerId, ns, "eth0", this.#bridgeConf(), signal);
  }

  #loopbackConf(): Record<string, unknown> {
    return { cniVersion: CNI_VERSION, name: "lo", type: "loopback" };
  }

  #bridgeConf(): Record<string, unknown> {
    const c = this.#opts.config;
    return {
      cniVersion: CNI_VERSION,
      name: NETWORK_NAME,
      type: "bridge",
      bridge: c.bridge,
      isGateway: true,
      // Masquerading is one subnet-wide rule (ensureMasquerade), not a chain per pod.
      ipMasq: false,
      hairpinMode: true,
      ipam: {
        type: "host-local",
        ranges: [[{ subnet: c.subnet, gateway: c.gateway }]],
        routes: [{ dst: "0.0.0.0/0" }],
        dataDir: this.#opts.ipamDataDir,
      },
    };
  }

  #portmapConf(pm: PortMapping[], prevResult: unknown): Record<string, unknown> {
    return {
      cniVersion: CNI_VERSION,
      name: NETWORK_NAME,
      type: "portmap",
      capabilities: { portMappings: true },
      snat: true,
      runtimeConfig: {
        portMappings: pm.map((p) => ({
          hostPort: p.hostPort,
          containerPort: p.containerPort,
          protocol: p.protocol.toLowerCase(),
          ...(p.hostIP === undefined ? {} : { hostIP: p.hostIP }),
        })),
      },
      ...(prevResult === undefined ? {} : { prevResult }),
    };
  }

  async #invoke(
    plugin: string,
    command: "ADD" | "DEL",
    containerId: string,
    netnsPath: string,
    ifName: string,
    conf: Record<string, unknown>,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    const bin = join(this.#opts.binDir, plugin);
    const [cmd, args] =
      this.#opts.hostNetns === undefined
        ? [bin, []]
        : ["nsenter", [`--net=${this.#opts.hostNetns}`, "--", bin]];
    const env: Record<string, string> = {
      PATH: process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin",
      CNI_COMMAND: command,
      CNI_CONTAINERID: containerId,
      CNI_NETNS: netnsPath,
      CNI_IFNAME: ifName,
      CNI_PATH: this.#opts.binDir,
    };
    const { code, stdout, stderr } = await runCommand(cmd, args, {
      env,
      input: JSON.stringify(conf),
      check: false,
      ...(signal === undefined ? {} : { signal }),
    });
    if (code !== 0) {
      let msg = stdout.trim() || stderr.trim();
      try {
        const parsed = JSON.parse(stdout) as { msg?: string; details?: string };
        msg = [parsed.msg, parsed.details].filter(Boolean).join(": ");
      } catch {
        // Not JSON: the raw output is the best message the plugin gave.
      }
      throw new RuntimeError("Failed", `cni ${plugin} ${command}: ${msg}`, {
        command: [bin, command],
        exitCode: code,
        stderr: stderr.slice(-2000),
      });
    }
    if (command === "DEL" || stdout.trim() === "") return undefined;
    return JSON.parse(stdout) as unknown;
  }
}

/** The addresses of a CNI result (`ips[].address` without the prefix length). */
export function parseIps(result: unknown): string[] {
  if (typeof result !== "object" || result === null) return [];
  const ips = (result as { ips?: { address?: string }[] }).ips ?? [];
  const out: string[] = [];
  for (const ip of ips) {
    const addr = ip.address?.split("/")[0];
    if (addr !== undefined && addr !== "") out.push(addr);
  }
  return out;
}
