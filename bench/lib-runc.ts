/**
 * Shared helpers of the runtime and pod-start benchmarks: commands, throw-away network
 * namespaces, the test images in an OciImageStore, and the hand-made runc baseline (two bare
 * `runc run -d`: a pause process with fresh namespaces and a busybox container joining its
 * network, IPC, UTS and PID namespaces through config.json namespace paths).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, readdir, rm, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { OciImageStore } from "../src/runtime/index.js";
import { buildSpec } from "../src/runtime/runc/oci-spec.js";
import { nullLogger } from "../src/util/index.js";
import { nowMs } from "./lib.js";

/** Path of runc, as the runtime uses it. */
export const RUNC = "/usr/sbin/runc";
/** The standard CNI plugins, as the runtime uses them. */
const CNI_BIN_DIR = "/usr/lib/cni";
/** Image references inside the test image archives. */
export const PAUSE_REF = "docker.io/library/pause:3.9";
export const BUSYBOX_REF = "docker.io/library/busybox:1.28";

/** Runs a command to completion and returns stdout; throws with stderr on a non-zero exit. */
export function sh(
  cmd: string,
  args: string[],
  opts: { input?: string; detaches?: boolean } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    // A command that leaves a process behind (`runc run -d`) passes its stdio on to it, so
    // pipes would stay open: such commands get no pipes and are done at exit.
    const child = spawn(cmd, args, {
      stdio: opts.detaches === true ? ["pipe", "ignore", "ignore"] : ["pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on("data", (b: Buffer) => out.push(b));
    child.stderr?.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on(opts.detaches === true ? "exit" : "close", (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString());
      else
        reject(
          new Error(
            `${cmd} ${args.join(" ")} exited ${String(code)}: ${Buffer.concat(err).toString()}`,
          ),
        );
    });
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(opts.input);
  });
}

/** A short random hex tag for names of throw-away things. */
export function tag(): string {
  return randomBytes(4).toString("hex");
}

/** A named network namespace under /run/netns that `dispose` deletes. */
export interface Netns {
  name: string;
  path: string;
  dispose(): Promise<void>;
}

/** Creates a network namespace with `lo` up. */
export async function makeNetns(prefix = "podrun-bench"): Promise<Netns> {
  const name = `${prefix}-${tag()}`;
  await sh("ip", ["netns", "add", name]);
  await sh("ip", ["-n", name, "link", "set", "lo", "up"]);
  return {
    name,
    path: `/run/netns/${name}`,
    dispose: async () => {
      await sh("ip", ["netns", "del", name]);
    },
  };
}

/** The test images (busybox, pause) as built by make-test-images, cached in .cache/test-images. */
export async function testImagesDir(root: string): Promise<string> {
  const dir = join(root, ".cache/test-images");
  if (existsSync(join(dir, "busybox.oci.tar")) && existsSync(join(dir, "pause.oci.tar")))
    return dir;
  await mkdir(dir, { recursive: true });
  await sh("/work/shared/tools/make-test-images", [dir]);
  return dir;
}

/** An OciImageStore with the pause and busybox test images imported. */
export async function loadImages(
  storeRoot: string,
  imagesDir: string,
): Promise<{ images: OciImageStore; pauseRootfs: string; busyboxRootfs: string }> {
  const images = new OciImageStore({ root: storeRoot, logger: nullLogger });
  await images.importImages(join(imagesDir, "pause.oci.tar"));
  await images.importImages(join(imagesDir, "busybox.oci.tar"));
  const [pause, busybox] = await Promise.all([
    images.layerPaths(PAUSE_REF),
    images.layerPaths(BUSYBOX_REF),
  ]);
  // Both test images have a single layer, so the layer directory is the whole root filesystem.
  if (
    pause.length !== 1 ||
    busybox.length !== 1 ||
    pause[0] === undefined ||
    busybox[0] === undefined
  )
    throw new Error("bench expects single-layer pause and busybox images");
  return { images, pauseRootfs: pause[0], busyboxRootfs: busybox[0] };
}

/** One pod of the baseline: the pause and app container ids and the app's host PID. */
export interface BaselinePod {
  pauseId: string;
  appId: string;
  pausePid: number;
  appPid: number;
}

/**
 * The hand-made runc baseline. Bundles are written once per run (config.json only; the root
 * filesystems are the unpacked image layers, read-only). `dispose` deletes every container it
 * made, its runc root and cgroups.
 */
export class RuncBaseline {
  readonly #dir: string;
  readonly #cgroupRoot: string;
  readonly #pauseRootfs: string;
  readonly #busyboxRootfs: string;
  readonly #made = new Set<string>();
  readonly #sidecars = new Map<string, string>();
  readonly #networked = new Map<string, { netns: string; hostNetns: string }>();

  constructor(opts: { dir: string; pauseRootfs: string; busyboxRootfs: string }) {
    this.#dir = opts.dir;
    this.#pauseRootfs = opts.pauseRootfs;
    this.#busyboxRootfs = opts.busyboxRootfs;
    this.#cgroupRoot = `podrun-bench-${tag()}`;
  }

  get #root(): string {
    return join(this.#dir, "runc");
  }

  async #runc(args: string[]): Promise<string> {
    return sh(RUNC, ["--root", this.#root, ...args]);
  }

  /** Writes a bundle (config.json) for container `id`. */
  async #bundle(id: string, spec: Record<string, unknown>): Promise<string> {
    const bundle = join(this.#dir, "bundles", id);
    await mkdir(bundle, { recursive: true });
    await writeFile(join(bundle, "config.json"), JSON.stringify(spec));
    return bundle;
  }

  /** Runs `runc run -d` and returns the container's host PID. */
  async #run(id: string, bundle: string): Promise<number> {
    const pidFile = join(bundle, "pid");
    this.#made.add(id);
    const logFile = join(bundle, "runc.log");
    await sh(
      RUNC,
      [
        "--root",
        this.#root,
        "--log",
        logFile,
        "run",
        "-d",
        "--pid-file",
        pidFile,
        "-b",
        bundle,
        id,
      ],
      { detaches: true },
    ).catch(async (err: unknown) => {
      const runcLog = await readFile(logFile, "utf8").catch(() => "");
      throw new Error(`runc run ${id}: ${runcLog.slice(-500)}`, { cause: err });
    });
    return Number((await readFile(pidFile, "utf8")).trim());
  }

  #pauseSpec(name: string, id: string): Record<string, unknown> {
    return buildSpec({
      rootfs: this.#pauseRootfs,
      readonlyRootfs: true,
      argv: ["/catatonit", "-P"],
      env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      cwd: "/",
      uid: 0,
      gid: 0,
      additionalGids: [],
      terminal: false,
      hostname: name,
      mounts: [],
      namespaces: [{ type: "network" }, { type: "ipc" }, { type: "uts" }, { type: "pid" }],
      cgroupsPath: `/${this.#cgroupRoot}/${id}`,
      security: { capabilitiesDrop: ["ALL"], noNewPrivileges: true },
    });
  }

  /**
   * Starts one pod: `runc run -d` of the pause rootfs with fresh net/IPC/UTS/PID/mount
   * namespaces, then of the busybox rootfs running `argv` in the pause's net/IPC/UTS
   * namespaces (paths under /proc/<pause pid>/ns). Resolves when both are running.
   */
  async startPod(name: string, argv: string[] = ["sleep", "3600"]): Promise<BaselinePod> {
    const pauseId = `${name}-pause`;
    const appId = `${name}-app`;
    const pauseBundle = await this.#bundle(pauseId, this.#pauseSpec(name, pauseId));
    const pausePid = await this.#run(pauseId, pauseBundle);
    const appBundle = await this.#bundle(appId, this.#appSpec(appId, pausePid, argv));
    const appPid = await this.#run(appId, appBundle);
    return { pauseId, appId, pausePid, appPid };
  }

  /**
   * Starts a pod like a 2-init + 1-sidecar + 1-app pod: the pause (`runc run -d`), two init
   * containers running `true` to completion one after the other (foreground `runc run`), then
   * the sidecar and the app (`runc run -d` each). The returned pod's app is the app; the sidecar
   * is removed with the pause by {@link stopPod}.
   */
  async startPodWithInit(name: string): Promise<BaselinePod> {
    const pauseId = `${name}-pause`;
    const pausePid = await this.#run(
      pauseId,
      await this.#bundle(pauseId, this.#pauseSpec(name, pauseId)),
    );
    for (const init of ["init1", "init2"]) {
      const id = `${name}-${init}`;
      const bundle = await this.#bundle(id, this.#appSpec(id, pausePid, ["true"]));
      await sh(RUNC, ["--root", this.#root, "run", "-b", bundle, id]);
    }
    const sidecarId = `${name}-sidecar`;
    await this.#run(
      sidecarId,
      await this.#bundle(sidecarId, this.#appSpec(sidecarId, pausePid, ["sleep", "3600"])),
    );
    this.#sidecars.set(pauseId, sidecarId);
    const appId = `${name}-app`;
    const appPid = await this.#run(
      appId,
      await this.#bundle(appId, this.#appSpec(appId, pausePid, ["sleep", "3600"])),
    );
    return { pauseId, appId, pausePid, appPid };
  }

  /** A busybox container in the pause's net, IPC, UTS and PID namespaces. */
  #appSpec(id: string, pausePid: number, argv: string[]): Record<string, unknown> {
    const ns = (t: string): string => `/proc/${String(pausePid)}/ns/${t}`;
    return buildSpec({
      rootfs: this.#busyboxRootfs,
      readonlyRootfs: true,
      argv,
      env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      cwd: "/",
      uid: 0,
      gid: 0,
      additionalGids: [],
      terminal: false,
      mounts: [],
      namespaces: [
        { type: "network", path: ns("net") },
        { type: "ipc", path: ns("ipc") },
        { type: "uts", path: ns("uts") },
        { type: "pid", path: ns("pid") },
      ],
      cgroupsPath: `/${this.#cgroupRoot}/${id}`,
    });
  }

  /** Starts only a pause container with fresh namespaces (the baseline of a sandbox). */
  async startSandbox(name: string): Promise<{ id: string; pid: number }> {
    const id = `${name}-pause`;
    const bundle = await this.#bundle(id, this.#pauseSpec(name, id));
    return { id, pid: await this.#run(id, bundle) };
  }

  /**
   * A pause with its network, as a runtime makes a sandbox: `runc run -d` of the pause, then the
   * CNI `loopback` and `bridge` (host-local IPAM) plugins run by hand, side by side, on its
   * network namespace, from the network namespace `hostNetns` through nsenter (as the runtime
   * under test runs them). Its own bridge and subnet (`prbase0`, 10.245.0.0/16).
   */
  async startSandboxWithNetwork(
    name: string,
    hostNetns: string,
  ): Promise<{ id: string; pid: number }> {
    const s = await this.startSandbox(name);
    const netns = `/proc/${String(s.pid)}/ns/net`;
    this.#networked.set(s.id, { netns, hostNetns });
    await Promise.all([
      this.#cni("ADD", "loopback", s.id, netns, "lo", hostNetns),
      this.#cni("ADD", "bridge", s.id, netns, "eth0", hostNetns),
    ]);
    return s;
  }

  /** Runs one CNI plugin the way the CNI spec says: env for the command, config on stdin. */
  async #cni(
    command: "ADD" | "DEL",
    plugin: "loopback" | "bridge",
    id: string,
    netns: string,
    ifName: string,
    hostNetns: string,
  ): Promise<void> {
    const conf =
      plugin === "loopback"
        ? { cniVersion: "1.0.0", name: "lo", type: "loopback" }
        : {
            cniVersion: "1.0.0",
            name: "prbase",
            type: "bridge",
            bridge: "prbase0",
            isGateway: true,
            ipMasq: false,
            hairpinMode: true,
            ipam: {
              type: "host-local",
              ranges: [[{ subnet: "10.245.0.0/16", gateway: "10.245.0.1" }]],
              routes: [{ dst: "0.0.0.0/0" }],
              dataDir: join(this.#dir, "ipam"),
            },
          };
    await sh(
      "env",
      [
        `CNI_COMMAND=${command}`,
        `CNI_CONTAINERID=${id}`,
        `CNI_NETNS=${netns}`,
        `CNI_IFNAME=${ifName}`,
        `CNI_PATH=${CNI_BIN_DIR}`,
        "nsenter",
        `--net=${hostNetns}`,
        "--",
        join(CNI_BIN_DIR, plugin),
      ],
      { input: JSON.stringify(conf) },
    );
  }

  /** `runc delete --force` of one container (after CNI DEL when it has a network). */
  async deleteForce(id: string): Promise<void> {
    const net = this.#networked.get(id);
    if (net !== undefined) {
      await this.#cni("DEL", "bridge", id, net.netns, "eth0", net.hostNetns);
      this.#networked.delete(id);
    }
    await this.#runc(["delete", "--force", id]);
    this.#made.delete(id);
  }

  /**
   * Stops one pod like a graceful delete: SIGTERM to the app, wait until its process is gone
   * (polled every millisecond), `runc delete` it, then kill and delete the pause.
   */
  /** Sends SIGTERM to the app and waits until its process is gone (polled every millisecond). */
  async terminateApp(pod: BaselinePod): Promise<void> {
    await this.#runc(["kill", pod.appId, "TERM"]);
    await waitGone(pod.appPid, 30_000);
  }

  async stopPod(pod: BaselinePod, signal: "TERM" | "KILL" = "TERM"): Promise<void> {
    if (signal === "TERM") {
      await this.#runc(["kill", pod.appId, "TERM"]);
      await waitGone(pod.appPid, 30_000);
      await this.#runc(["delete", pod.appId]);
    } else await this.#runc(["delete", "--force", pod.appId]);
    const sidecar = this.#sidecars.get(pod.pauseId);
    if (sidecar !== undefined) {
      await this.#runc(["delete", "--force", sidecar]);
      this.#made.delete(sidecar);
      this.#sidecars.delete(pod.pauseId);
    }
    await this.#runc(["delete", "--force", pod.pauseId]);
    this.#made.delete(pod.appId);
    this.#made.delete(pod.pauseId);
  }

  /** Deletes every container still around, the runc root, bundles and cgroups. */
  async dispose(): Promise<void> {
    for (const id of [...this.#made].reverse()) {
      await this.#runc(["delete", "--force", id]).catch(() => undefined);
    }
    this.#made.clear();
    await removeCgroupTree(this.#cgroupRoot);
    await rm(join(this.#dir, "bundles"), { recursive: true, force: true });
    await rm(this.#root, { recursive: true, force: true });
  }
}

/** Waits until process `pid` no longer exists (or is a zombie), polling every millisecond. */
export async function waitGone(pid: number, timeoutMs: number): Promise<void> {
  const deadline = nowMs() + timeoutMs;
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    const stat = await readFile(`/proc/${String(pid)}/stat`, "utf8").catch(() => "");
    if (stat === "" || stat.includes(" Z ")) return;
    if (nowMs() > deadline) throw new Error(`process ${String(pid)} did not exit`);
    await sleep(1);
  }
}

/** Removes the cgroup `name` (relative to each hierarchy root) and its empty children. */
export async function removeCgroupTree(name: string): Promise<void> {
  const base = "/sys/fs/cgroup";
  const roots = existsSync(join(base, "cgroup.controllers"))
    ? [base]
    : (await readdir(base)).map((h) => join(base, h));
  for (const r of roots) {
    await rmTree(join(r, name));
  }
}

async function rmTree(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) if (e.isDirectory()) await rmTree(join(dir, e.name));
  await rmdir(dir).catch(() => undefined);
}
