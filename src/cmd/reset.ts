// `podrun reset`: removes everything a cluster made on this machine — containers, sandboxes
// (and with them conmon processes, overlay mounts, netns pins, CNI allocations, pod cgroups),
// volume mounts under the data dir, the proxy's nftables table and the bridge. Idempotent.
// The data dir itself (state.db, images) stays; delete it to start from scratch.
import { openImageStore, openRuntime } from "./node-runtime.js";
import { execFile } from "node:child_process";
import { readFile, readdir, rm, rmdir } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { runNft } from "../proxy/index.js";
import { StreamLogger, SystemClock } from "../util/index.js";
import type { NodeConfig } from "./config.js";
import { removeBridge } from "./host-network.js";

const exec = promisify(execFile);

/** Removes everything a cluster made on this machine. Returns the exit code. */
export async function reset(config: NodeConfig): Promise<number> {
  const logger = new StreamLogger({ level: config.logLevel });
  const clock = new SystemClock();
  const images = openImageStore(config.dataDir, clock, logger);
  const runtime = openRuntime(config, images, clock, logger);
  let failures = 0;
  for (const sb of await runtime.listPodSandboxes()) {
    try {
      await runtime.stopPodSandbox(sb.id);
      await runtime.removePodSandbox(sb.id);
    } catch (err) {
      failures++;
      logger.error("could not remove sandbox", { sandbox: sb.id, err });
    }
  }
  for (const c of await runtime.listContainers()) {
    try {
      await runtime.removeContainer(c.id);
    } catch (err) {
      failures++;
      logger.error("could not remove container", { container: c.id, err });
    }
  }
  // Volume mounts (tmpfs for secrets and memory emptyDirs, binds) under the data dir, deepest first.
  const mounts = (await readFile("/proc/self/mounts", "utf8"))
    .split("\n")
    .map((l) => l.split(" ")[1] ?? "")
    .filter((m) => m.startsWith(config.dataDir + "/"))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    await exec("umount", ["-l", m.replace(/\\040/g, " ")]).catch((err: unknown) => {
      failures++;
      logger.error("could not unmount", { mount: m, err });
    });
  }
  // `podrun` is the proxy's table, `podrun-cni` the pod subnet's masquerade rule (runtime).
  const tables = "add table ip podrun\ndelete table ip podrun\n";
  const cniTable = "add table ip podrun-cni\ndelete table ip podrun-cni\n";
  await runNft("nft", tables + cniTable).catch((err: unknown) => {
    logger.warn("could not remove the proxy table", { err });
  });
  await removeBridge(config.bridgeName);
  await runtime.close();
  // The cluster's runtime state dir (exit files, sockets, IPAM, runc root) and its now empty
  // cgroup roots go last, and only once nothing is mounted below the run dir.
  const stillMounted = (await readFile("/proc/self/mounts", "utf8"))
    .split("\n")
    .some((l) => (l.split(" ")[1] ?? "").startsWith(config.runDir + "/"));
  if (stillMounted) {
    failures++;
    logger.error("mounts left under the run dir; not removing it", { runDir: config.runDir });
  } else {
    await rm(config.runDir, { recursive: true, force: true });
  }
  await removeEmptyCgroups(config.cgroupRoot);
  return failures === 0 ? 0 : 1;
}

/** Removes `root` and its descendants from every cgroup hierarchy, deepest first, if empty. */
async function removeEmptyCgroups(root: string): Promise<void> {
  const base = "/sys/fs/cgroup";
  const hierarchies = (await readdir(base, { withFileTypes: true }).catch(() => []))
    .filter((e) => e.isDirectory())
    .map((e) => path.join(base, e.name));
  const tops = [path.join(base, root), ...hierarchies.map((h) => path.join(h, root))];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) if (e.isDirectory()) await walk(path.join(dir, e.name));
    // rmdir fails on a cgroup that still has tasks: such a cgroup is not ours to remove.
    await rmdir(dir).catch(() => undefined);
  };
  for (const t of tops) await walk(t);
}
