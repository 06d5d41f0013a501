// Host-side network set-up of a cluster: the pod bridge with its gateway address (so the DNS
// server and the API server can listen on it before the first pod), IP forwarding.
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { promisify } from "node:util";

const exec = promisify(execFile);

/** The gateway address and prefix length of a pod CIDR (`10.244.0.0/16` → `10.244.0.1`, 16). */
export function gatewayOf(cidr: string): { gateway: string; prefix: number } {
  const [base = "10.244.0.0", len = "16"] = cidr.split("/");
  const o = base.split(".").map(Number);
  return {
    gateway: `${o[0] ?? 10}.${o[1] ?? 244}.${o[2] ?? 0}.${(o[3] ?? 0) + 1}`,
    prefix: Number(len),
  };
}

async function ip(args: string[]): Promise<string> {
  const { stdout } = await exec("ip", args);
  return stdout;
}

/**
 * Makes sure the bridge exists, carries the gateway address and is up; enables IPv4
 * forwarding (pods reach Services and the outside through the node). Idempotent: the CNI
 * bridge plugin later finds and reuses this bridge.
 */
export async function ensureBridge(name: string, podCIDR: string): Promise<string> {
  const { gateway, prefix } = gatewayOf(podCIDR);
  const links = await ip(["-o", "link", "show"]);
  if (!new RegExp(`^\\d+: ${name}[:@]`, "m").test(links)) {
    await ip(["link", "add", "name", name, "type", "bridge"]);
  }
  const addrs = await ip(["-o", "-4", "addr", "show", "dev", name]);
  if (!addrs.includes(` ${gateway}/`))
    await ip(["addr", "add", `${gateway}/${prefix}`, "dev", name]);
  await ip(["link", "set", name, "up"]);
  await writeFile("/proc/sys/net/ipv4/ip_forward", "1\n");
  return gateway;
}

/**
 * Makes Service cluster IPs routable from the node itself: the proxy's DNAT runs in the nat
 * output hook, after the route lookup, so a node without a route covering the service CIDR
 * (a bare network namespace without a default route) could not reach a cluster IP at all.
 * When no route covers it, the service CIDR is routed onto the bridge (gone with the bridge).
 */
export async function ensureServiceRoute(
  bridge: string,
  serviceCIDR: string,
  gateway: string,
): Promise<void> {
  const [base = "10.96.0.0"] = serviceCIDR.split("/");
  const routed = await ip(["route", "get", base]).then(
    () => true,
    () => false,
  );
  if (!routed) await ip(["route", "replace", serviceCIDR, "dev", bridge, "src", gateway]);
}

/** Removes the bridge (reset). Missing bridge: nothing to do. */
export async function removeBridge(name: string): Promise<void> {
  await ip(["link", "del", name]).catch(() => undefined);
}
