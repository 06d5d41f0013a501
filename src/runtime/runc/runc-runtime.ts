import { spawn, type ChildProcessByStdio } from "node:child_process";
import { randomBytes } from "node:crypto";
import { watch, type FSWatcher, constants as fsConstants } from "node:fs";
import { mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Duplex, PassThrough, type Readable, type Writable } from "node:stream";
import {
  SystemClock,
  nullLogger,
  settleBoth,
  spawner,
  type Clock,
  type Logger,
} from "../../util/index.js";
import { RuntimeError, isRuntimeError } from "../errors.js";
import { CniNetwork, type CniNetworkConfig } from "../network/cni.js";
import type {
  CallOptions,
  ContainerConfig,
  ContainerId,
  ContainerState,
  ContainerStats,
  ContainerStatus,
  ExecResult,
  Image,
  RuntimeEvent,
  RuntimeService,
  SandboxConfig,
  SandboxId,
  SandboxState,
  SandboxStatus,
  NamespaceMode,
  StreamOptions,
  StreamSession,
} from "../types.js";
import { Cgroups, detectCgroupLayout } from "./cgroups.js";
import { runCommand } from "./exec.js";
import { buildSpec, resolveUser, type SpecNamespace } from "./oci-spec.js";
import { STREAM_HELPER_PY } from "./stream-helper.js";

/** Where image layers come from: the narrow part of the image store the runtime needs. */
export interface LayerSource {
  /** Unpacked layer directories of the image, bottom → top. RuntimeError NotFound if absent. */
  layerPaths(ref: string): Promise<string[]>;
  /** The image (id and config), or undefined when absent. */
  imageStatus(ref: string): Promise<Image | undefined>;
}

/** Options of {@link RuncRuntime}. */
export interface RuncRuntimeOptions {
  /** Persistent state: bundles, container and sandbox metadata (`DATA_DIR/runtime`). */
  root: string;
  /** Volatile per-cluster state: exit files, conmon sockets, netns pins, runc root. */
  runRoot: string;
  /** @default "/usr/sbin/runc" */
  runcPath?: string;
  /** @default "/usr/bin/conmon" */
  conmonPath?: string;
  /** @default "/usr/lib/cni" */
  cniBinDir?: string;
  /** @default { bridge: "podrun0", subnet: "10.244.0.0/16", gateway: "10.244.0.1" } */
  cniConfig?: CniNetworkConfig;
  /**
   * Top cgroup of everything this runtime makes. A sandbox's `cgroupParent` not already under
   * it is placed under it. Empty cgroups up to this one are removed with the last pod.
   * @default "podrun"
   */
  cgroupRoot?: string;
  /** Image of the sandbox infra process (Entrypoint `/catatonit -P`). @default "docker.io/library/pause:3.9" */
  pauseImage?: string;
  /**
   * Path of a network namespace that plays "the host" (CNI plugins, bridge and host-network
   * sandboxes live there). @default the process's own network namespace
   */
  hostNetns?: string;
  layers: LayerSource;
  /** @default SystemClock */
  clock?: Clock;
  /** @default nullLogger */
  logger?: Logger;
}

type ResolvedOptions = Required<Omit<RuncRuntimeOptions, "hostNetns">> & { hostNetns?: string };

/** Applies the defaults of {@link RuncRuntimeOptions}. */
export function resolveRuncRuntimeOptions(opts: RuncRuntimeOptions): ResolvedOptions {
  const r: ResolvedOptions = {
    root: opts.root,
    runRoot: opts.runRoot,
    runcPath: opts.runcPath ?? "/usr/sbin/runc",
    conmonPath: opts.conmonPath ?? "/usr/bin/conmon",
    cniBinDir: opts.cniBinDir ?? "/usr/lib/cni",
    cniConfig: opts.cniConfig ?? {
      bridge: "podrun0",
      subnet: "10.244.0.0/16",
      gateway: "10.244.0.1",
    },
    cgroupRoot: (opts.cgroupRoot ?? "podrun").replace(/^\/+|\/+$/g, ""),
    pauseImage: opts.pauseImage ?? "docker.io/library/pause:3.9",
    layers: opts.layers,
    clock: opts.clock ?? new SystemClock(),
    logger: opts.logger ?? nullLogger,
  };
  if (opts.hostNetns !== undefined) r.hostNetns = opts.hostNetns;
  if (!r.root.startsWith("/")) throw new RangeError(`root must be absolute, got "${r.root}"`);
  if (!r.runRoot.startsWith("/"))
    throw new RangeError(`runRoot must be absolute, got "${r.runRoot}"`);
  if (r.cgroupRoot === "") throw new RangeError("cgroupRoot must not be empty");
  return r;
}

/** Persisted sandbox metadata (one JSON file per sandbox). */
interface SandboxMeta {
  id: SandboxId;
  config: SandboxConfig;
  state: SandboxState;
  createdAt: number;
  ips: string[];
  /** Pod cgroup, relative to the hierarchy root. */
  cgroupPath: string;
  netnsPath?: string;
  ipcPath?: string;
  utsPath?: string;
  shmPath?: string;
  pausePid: number;
  /**
   * True once the network was released (CNI DEL succeeded) and the namespace pins and shm
   * unmounted; a sandbox is never started again, so later stop/remove calls skip that work.
   */
  isTornDown?: boolean;
}

/** Persisted container metadata (one JSON file per container instance). */
interface ContainerMeta {
  id: ContainerId;
  sandboxId: SandboxId;
  config: ContainerConfig;
  imageRef: string;
  state: ContainerState;
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  exitCode?: number;
  reason?: string;
  message?: string;
  pid?: number;
  cgroupPath: string;
  /** The OCI error when `runc create` failed; startContainer turns it into a StartError. */
  createError?: string;
  /**
   * When conmon ran `runc run` (runOnCreateScript): the process runs from createContainer on,
   * and startContainer only records the start. Its exit is recorded once it is started, stopped
   * or removed, so a container is never seen exiting before it was started. Unset for
   * containers created by `runc create` (state from an older podrun), which `runc start` starts.
   */
  runAt?: number;
}

const EXIT_WAIT_AFTER_KILL_MS = 10_000;

/** How many network namespaces (with shm and `lo` up) are kept pinned for the next sandboxes. */
const PINNED_POOL_SIZE = 2;
/**
 * The pool is topped up once no sandbox has been started for this long, so that the refill's
 * processes do not take CPU from the containers that follow a new sandbox.
 */
const POOL_REFILL_DELAY_MS = 250;

/** A root filesystem for a container with what user resolution needs. */
interface PreparedRootfs {
  rootfs: string;
  image: Image | undefined;
  passwd: string;
  group: string;
}

/**
 * The real RuntimeService: sandboxes and containers through conmon + runc on overlayfs, pod
 * networks through CNI. Calls on one id are serialized; calls on different ids run concurrently.
 * All state lives in small JSON files under `root` plus runc/conmon state under `runRoot`, so a
 * new instance on the same directories adopts running containers (they are never restarted)
 * and still detects their exits. Exits are noticed through a watch on conmon's exit directory
 * and published by `events()`. Call `close()` to stop the watch.
 */
export class RuncRuntime implements RuntimeService {
  readonly #o: ResolvedOptions;
  readonly #log: Logger;
  readonly #cni: CniNetwork;
  readonly #cg: Cgroups;
  readonly #sandboxes = new Map<SandboxId, SandboxMeta>();
  readonly #containers = new Map<ContainerId, ContainerMeta>();
  readonly #locks = new Map<string, Promise<void>>();
  readonly #exitWaiters = new Map<string, Set<() => void>>();
  readonly #exitChecks = new Map<string, Promise<void>>();
  /** A second exit check queued behind the one in flight, per id. */
  readonly #exitRechecks = new Map<string, Promise<void>>();
  readonly #subscribers = new Set<(ev: RuntimeEvent) => void>();
  /** Lowest oom_score_adj we may give: our own unless we hold CAP_SYS_RESOURCE. */
  #minOomScoreAdj = -1000;
  #watcher: FSWatcher | undefined;
  #ready: Promise<void> | undefined;
  /** The pod subnet's masquerade rule, installed before the first pod network is attached. */
  #masquerade: Promise<void> | undefined;
  /**
   * Sandbox ids whose network namespace (and shm tmpfs) is already pinned under their ns dir:
   * making a network namespace is the slowest part of a sandbox before its pause can be
   * created, so a few are made ahead, while no sandbox is being started.
   */
  readonly #pinnedPool: SandboxId[] = [];
  #poolFill: Promise<void> = Promise.resolve();
  #poolTimer: AbortController | undefined;
  #closed = false;
  /** The pause image's single layer and user database, read once (forgotten after a failure). */
  #pauseRootfs: Promise<PreparedRootfs | undefined> | undefined;

  constructor(opts: RuncRuntimeOptions) {
    this.#o = resolveRuncRuntimeOptions(opts);
    this.#log = this.#o.logger;
    this.#cg = new Cgroups(detectCgroupLayout());
    this.#cni = new CniNetwork({
      binDir: this.#o.cniBinDir,
      ipamDataDir: join(this.#o.runRoot, "ipam"),
      config: this.#o.cniConfig,
      ...(this.#o.hostNetns === undefined ? {} : { hostNetns: this.#o.hostNetns }),
    });
  }

  get #runcRoot(): string {
    return join(this.#o.runRoot, "runc");
  }
  get #exitDir(): string {
    return join(this.#o.runRoot, "exits");
  }
  /** The runtime conmon runs: runc with `create` turned into `run` (see runOnCreateScript). */
  get #runOnCreatePath(): string {
    return join(this.#o.runRoot, "runc-run-on-create");
  }
  #sandboxDir(id: string): string {
    return join(this.#o.root, "sandboxes", id);
  }
  #containerDir(id: string): string {
    return join(this.#o.root, "containers", id);
  }
  #nsDir(id: string): string {
    return join(this.#o.runRoot, "ns", id);
  }

  /**
   * Loads persisted state, cleans up half-made sandboxes and containers, records exits that
   * happened while no instance was watching, and starts the exit watch. Runs once; every
   * method awaits it.
   */
  init(): Promise<void> {
    this.#ready ??= this.#init();
    return this.#ready;
  }

  /** Stops the exit watch and releases unused pinned namespaces. Containers keep running. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#poolTimer?.abort();
    this.#watcher?.close();
    this.#watcher = undefined;
    await this.#poolFill;
    const unused = this.#pinnedPool.splice(0);
    await Promise.all(unused.map((id) => this.#releaseNsDir(id)));
  }

  /** Tops the pool of pinned network namespaces up to PINNED_POOL_SIZE, one at a time. */
  #fillPool(): void {
    this.#poolFill = this.#poolFill.then(async () => {
      while (!this.#closed && this.#pinnedPool.length < PINNED_POOL_SIZE) {
        const id = newId() as SandboxId;
        const nsDir = this.#nsDir(id);
        try {
          await this.#pinNamespaces(nsDir, join(nsDir, "net"), join(nsDir, "shm"), undefined);
          await this.#cni.addLoopback(id, join(nsDir, "net"));
        } catch (err) {
          // Sandboxes pin their own namespaces then; the next sandbox tries again.
          this.#log.warn("pinning a spare network namespace failed", { err });
          await this.#releaseNsDir(id);
          return;
        }
        this.#pinnedPool.push(id);
      }
    });
  }

  /** {@link #fillPool} once no sandbox has started for POOL_REFILL_DELAY_MS. */
  #fillPoolSoon(): void {
    this.#poolTimer?.abort();
    const timer = new AbortController();
    this.#poolTimer = timer;
    this.#o.clock.sleep(POOL_REFILL_DELAY_MS, timer.signal).then(
      () => {
        if (this.#poolTimer !== timer) return;
        this.#poolTimer = undefined;
        this.#fillPool();
      },
      () => undefined,
    );
  }

  /** Unmounts whatever is pinned in a sandbox's ns dir and removes it. */
  async #releaseNsDir(id: string): Promise<void> {
    await this.#unmountNs(id);
    await rm(this.#nsDir(id), { recursive: true, force: true });
  }

  async #init(): Promise<void> {
    const o = this.#o;
    await Promise.all(
      [
        join(o.root, "sandboxes"),
        join(o.root, "containers"),
        this.#runcRoot,
        this.#exitDir,
        join(o.runRoot, "sock"),
        join(o.runRoot, "pid"),
        join(o.runRoot, "ns"),
        join(o.runRoot, "ipam"),
      ].map((d) => mkdir(d, { recursive: true })),
    );
    this.#minOomScoreAdj = await minOomScoreAdj();
    await writeFile(this.#runOnCreatePath, runOnCreateScript(o.runcPath), { mode: 0o755 });
    // Watch before scanning so that no exit falls between the scan and the watch.
    this.#watcher = watch(this.#exitDir, (_ev, name) => {
      if (name !== null) this.#onExitFile(name);
    });
    this.#watcher.on("error", (err) => {
      this.#log.error("exit directory watch failed", { err });
    });

    for (const id of await readdir(join(o.root, "sandboxes"))) {
      const meta = await readJson<SandboxMeta>(join(this.#sandboxDir(id), "meta.json"));
      if (meta === undefined) {
        this.#log.warn("removing half-made sandbox", { sandbox: id });
        await this.#cleanupSandboxFiles(id, undefined);
      } else this.#sandboxes.set(meta.id, meta);
    }
    for (const id of await readdir(join(o.root, "containers"))) {
      const meta = await readJson<ContainerMeta>(join(this.#containerDir(id), "meta.json"));
      if (meta === undefined || !this.#sandboxes.has(meta.sandboxId)) {
        this.#log.warn("removing half-made container", { container: id });
        await this.#cleanupContainerFiles(id);
      } else this.#containers.set(meta.id, meta);
    }
    await Promise.all([
      ...[...this.#containers.keys()].map((id) => this.#checkExit(id)),
      ...[...this.#sandboxes.keys()].map((id) => this.#checkExit(id)),
    ]);
    // Namespaces pinned ahead by an instance that was killed belong to no sandbox.
    for (const id of await readdir(join(o.runRoot, "ns"))) {
      if (!this.#sandboxes.has(id as SandboxId)) await this.#releaseNsDir(id);
    }
    this.#fillPool();
  }

  // ---------------------------------------------------------------------------------------
  // Sandboxes

  /**
   * Creates a sandbox: Step 1 takes a pinned network namespace with the pod's shm from the pool
   * (or pins one: `unshare` running `mount`) and prepares the pause rootfs; Step 2 writes the
   * pause's config.json; Step 3 runs CNI ADD while conmon runs the pause (in new IPC and UTS
   * namespaces) and the pod cgroup is written; Step 4 persists the metadata. Any failure tears
   * down what was made and throws. The time of each step is logged at debug level ("sandbox
   * start steps").
   */
  async runPodSandbox(config: SandboxConfig, opts: CallOptions = {}): Promise<SandboxId> {
    await this.init();
    const pinned = config.hostNetwork ? undefined : this.#pinnedPool.shift();
    const id = pinned ?? (newId() as SandboxId);
    const signal = opts.signal;
    const dir = this.#sandboxDir(id);
    const nsDir = this.#nsDir(id);
    const cgroupPath = this.#podCgroup(config.cgroupParent);
    const steps = new StepTimer(this.#o.clock);
    const meta: SandboxMeta = {
      id,
      config,
      state: "ready",
      createdAt: this.#o.clock.now(),
      ips: [],
      cgroupPath,
      pausePid: 0,
    };
    if (!config.hostNetwork) meta.netnsPath = join(nsDir, "net");
    else if (this.#o.hostNetns !== undefined) meta.netnsPath = this.#o.hostNetns;
    if (!config.hostIPC) meta.shmPath = join(nsDir, "shm");
    let cniAdded = false;
    try {
      // Step 1.
      // Only the network namespace is pinned up front: CNI attaches it while the pause is made.
      // The pause makes its own IPC and UTS namespaces; containers join them through it.
      // A sandbox from the pool has both already; its shm is unused with hostIPC.
      const pin = meta.netnsPath?.startsWith(nsDir) === true ? meta.netnsPath : undefined;
      const [, pause] = await Promise.all([
        pinned === undefined
          ? steps.time("pins", this.#pinNamespaces(nsDir, pin, meta.shmPath, signal))
          : undefined,
        steps.time("rootfs", this.#preparePauseRootfs(dir, signal)),
      ]);
      // Step 2.
      const image = pause.image;
      const pauseUser = resolveUser(image?.config.user ?? "", pause.passwd, pause.group);
      const argv = [...(image?.config.entrypoint ?? []), ...(image?.config.cmd ?? [])];
      const namespaces: SpecNamespace[] = [];
      if (meta.netnsPath !== undefined) namespaces.push({ type: "network", path: meta.netnsPath });
      if (!config.hostIPC) namespaces.push({ type: "ipc" });
      if (!config.hostNetwork) namespaces.push({ type: "uts" });
      if (config.pidMode !== "node") namespaces.push({ type: "pid" });
      const spec = buildSpec({
        rootfs: pause.rootfs,
        readonlyRootfs: true,
        argv: argv.length > 0 ? argv : ["/catatonit", "-P"],
        env: image?.config.env ?? [],
        cwd: "/",
        uid: pauseUser.uid,
        gid: pauseUser.gid,
        additionalGids: [],
        terminal: false,
        ...(config.hostNetwork ? {} : { hostname: config.hostname }),
        mounts: [],
        ...(meta.shmPath === undefined ? {} : { shmPath: meta.shmPath }),
        namespaces,
        cgroupsPath: `/${cgroupPath}/${id}`,
        resources: { oomScoreAdj: this.#clampOom(-998), cpuShares: 2 },
        security: { capabilitiesDrop: ["ALL"], noNewPrivileges: true },
        ...(config.sysctls === undefined ? {} : { sysctls: config.sysctls }),
      });
      await writeFile(join(dir, "bundle", "config.json"), JSON.stringify(spec));
      // Step 3. The pause does not need its network to start, so it starts while CNI runs.
      // Both branches finish before a failure is thrown, so teardown never races a CNI ADD.
      const [netResult] = await settleBoth(
        steps.time(
          "cni",
          (async () => {
            if (config.hostNetwork || meta.netnsPath === undefined) return [];
            await this.#ensureMasquerade(signal);
            cniAdded = true;
            const loopbackDone = pinned !== undefined;
            return (
              await this.#cni.add(id, meta.netnsPath, config.portMappings, signal, { loopbackDone })
            ).ips;
          })(),
        ),
        (async () => {
          // The pause starts as soon as it is made: conmon runs `runc run --detach` in place
          // of `runc create`, which saves a second runc process (`runc start`) on every pod.
          // runc makes the pod cgroup's directories as it needs them, so the pod cgroup and
          // its limits are written meanwhile (a parent's limit covers the tasks already in it).
          const [, created] = await settleBoth(
            steps.time("cgroup", this.#cg.ensurePod(cgroupPath, config.podResources)),
            steps.time(
              "create",
              this.#conmonCreate(id, join(dir, "bundle"), join(dir, "pause.log"), {}),
            ),
          );
          if (created.error !== undefined) {
            throw new RuntimeError("Failed", `create sandbox infra container: ${created.error}`);
          }
          meta.pausePid = created.pid;
          if (!config.hostIPC) meta.ipcPath = `/proc/${String(created.pid)}/ns/ipc`;
          if (!config.hostNetwork) meta.utsPath = `/proc/${String(created.pid)}/ns/uts`;
        })(),
      );
      meta.ips = netResult;
      // Step 4.
      await writeJsonAtomic(join(dir, "meta.json"), meta);
      this.#sandboxes.set(id, meta);
      this.#log.info("sandbox started", { sandbox: id, name: config.name, ips: meta.ips });
      this.#log.debug("sandbox start steps", { sandbox: id, ms: steps.result() });
      return id;
    } catch (err) {
      this.#pauseRootfs = undefined;
      await this.#teardownSandbox(meta, cniAdded)
        .then(() => this.#cleanupSandboxFiles(id, meta))
        .catch((e: unknown) => {
          // The original error matters more to the caller; the leftover is logged for humans.
          this.#log.error("cleanup of failed sandbox failed", { sandbox: id, err: e });
        });
      throw err;
    } finally {
      // Replaces the namespace taken from the pool (or retries a pool that failed to fill).
      this.#fillPoolSoon();
    }
  }

  /** Installs the masquerade rule once; a failure is retried by the next sandbox. */
  async #ensureMasquerade(signal: AbortSignal | undefined): Promise<void> {
    this.#masquerade ??= this.#cni.ensureMasquerade(signal).catch((err: unknown) => {
      this.#masquerade = undefined;
      throw new RuntimeError("Failed", "install the pod network masquerade rule", { cause: err });
    });
    await this.#masquerade;
  }

  #clampOom(adj: number): number {
    // Without CAP_SYS_RESOURCE the kernel refuses a value below our own and runc init dies.
    return Math.max(adj, this.#minOomScoreAdj);
  }

  #podCgroup(parent: string): string {
    const p = parent.replace(/^\/+|\/+$/g, "");
    const root = this.#o.cgroupRoot;
    return p === root || p.startsWith(`${root}/`) ? p : `${root}/${p}`;
  }

  /**
   * Pins a fresh network namespace at `netns` (when given) with one `unshare --net=FILE`, which
   * then runs `mount` for the shm tmpfs. `mount` runs in the new network namespace but in our
   * mount namespace, so the tmpfs lands on the host like the pin. One program for both.
   */
  async #pinNamespaces(
    nsDir: string,
    netns: string | undefined,
    shmPath: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    if (netns === undefined && shmPath === undefined) return;
    await mkdir(nsDir, { recursive: true });
    await Promise.all([
      netns === undefined ? undefined : writeFile(netns, ""),
      shmPath === undefined ? undefined : mkdir(shmPath, { recursive: true }),
    ]);
    const then =
      shmPath === undefined
        ? ["true"]
        : ["mount", "-t", "tmpfs", "-o", SHM_MOUNT_OPTIONS, "shm", shmPath];
    const [cmd = "true", ...args] =
      netns === undefined ? then : ["unshare", `--net=${netns}`, ...then];
    await runCommand(cmd, args, signal ? { signal } : {});
  }

  /**
   * The pause's root filesystem. A single-layer pause image (the usual case) is used in place:
   * the pause root is read-only, so the layer directory itself is the root and no overlay is
   * mounted (as the runc baseline does). Otherwise a fresh overlay as for containers.
   */
  async #preparePauseRootfs(dir: string, signal: AbortSignal | undefined): Promise<PreparedRootfs> {
    this.#pauseRootfs ??= this.#readPauseLayer();
    const [inPlace] = await Promise.all([
      this.#pauseRootfs,
      mkdir(join(dir, "bundle"), { recursive: true }),
    ]);
    return inPlace ?? this.#prepareRootfs(dir, this.#o.pauseImage, signal);
  }

  /** The pause image's only layer with its image and user database; undefined for more layers. */
  async #readPauseLayer(): Promise<PreparedRootfs | undefined> {
    const ref = this.#o.pauseImage;
    const [layers, image] = await Promise.all([
      this.#o.layers.layerPaths(ref),
      this.#o.layers.imageStatus(ref),
    ]);
    const only = layers.length === 1 ? layers[0] : undefined;
    if (only === undefined) return undefined;
    const [passwd, group] = await Promise.all([
      readFile(join(only, "etc/passwd"), "utf8").catch(() => ""),
      readFile(join(only, "etc/group"), "utf8").catch(() => ""),
    ]);
    return { rootfs: only, image, passwd, group };
  }

  /** Mounts a fresh overlay rootfs of `image` under `<dir>/bundle/rootfs`. */
  async #prepareRootfs(
    dir: string,
    imageRef: string,
    signal: AbortSignal | undefined,
  ): Promise<PreparedRootfs> {
    const bundle = join(dir, "bundle");
    const rootfs = join(bundle, "rootfs");
    const [layers, image] = await Promise.all([
      this.#o.layers.layerPaths(imageRef),
      this.#o.layers.imageStatus(imageRef),
      mkdir(rootfs, { recursive: true }),
      mkdir(join(dir, "upper"), { recursive: true }),
      mkdir(join(dir, "work"), { recursive: true }),
    ]);
    if (layers.length === 0)
      throw new RuntimeError("NotFound", `image "${imageRef}" has no layers`);
    const lower = [...layers].reverse().join(":");
    await runCommand(
      "mount",
      [
        "-t",
        "overlay",
        "overlay",
        "-o",
        `lowerdir=${lower},upperdir=${join(dir, "upper")},workdir=${join(dir, "work")}`,
        rootfs,
      ],
      signal ? { signal } : {},
    );
    const [passwd, group] = await Promise.all([
      readFile(join(rootfs, "etc/passwd"), "utf8").catch(() => ""),
      readFile(join(rootfs, "etc/group"), "utf8").catch(() => ""),
    ]);
    return { rootfs, image, passwd, group };
  }

  /** Stops every container, the pause, the network; unpins namespaces. Idempotent. */
  async stopPodSandbox(id: SandboxId, opts: CallOptions = {}): Promise<void> {
    await this.init();
    const meta = this.#sandboxes.get(id);
    if (meta === undefined) throw new RuntimeError("NotFound", `sandbox ${id} not found`);
    const members = [...this.#containers.values()].filter((c) => c.sandboxId === id);
    await Promise.all(members.map((c) => this.stopContainer(c.id, 0, opts)));
    await this.#withLock(id, async () => {
      // A pause that died on its own leaves the sandbox "not ready" with its network and
      // namespace pins still in place: teardown (idempotent) runs whenever stop is called.
      const wasReady = meta.state === "ready" || meta.pausePid !== 0;
      const wasTornDown = meta.isTornDown === true;
      await this.#teardownSandbox(meta, !meta.config.hostNetwork);
      if (!wasReady) {
        if (!wasTornDown && meta.isTornDown === true)
          await writeJsonAtomic(join(this.#sandboxDir(id), "meta.json"), meta);
        return;
      }
      meta.state = "notready";
      meta.pausePid = 0;
      await writeJsonAtomic(join(this.#sandboxDir(id), "meta.json"), meta);
      this.#emit({ type: "SandboxStopped", id, sandboxId: id, atMs: this.#o.clock.now() });
    });
  }

  /**
   * Kills the pause, CNI DEL, unmounts pins and shm. Tolerates missing pieces. Once all of it
   * succeeded the sandbox is marked torn down (in memory; persisted by the caller) and later
   * calls only make sure the pause is dead.
   */
  async #teardownSandbox(meta: SandboxMeta, cni: boolean): Promise<void> {
    const id = meta.id;
    await this.#killAndWait(id);
    if (meta.isTornDown === true) return;
    let isReleased = true;
    if (cni && meta.netnsPath !== undefined) {
      try {
        await this.#cni.remove(id, meta.netnsPath, meta.config.portMappings);
      } catch (err) {
        // A DEL failure must not block the rest of the teardown; it is retried on remove.
        this.#log.warn("cni del failed", { sandbox: id, err });
        isReleased = false;
      }
    }
    await this.#unmountNs(id);
    if (isReleased) meta.isTornDown = true;
  }

  async #unmountNs(id: string): Promise<void> {
    const nsDir = this.#nsDir(id);
    const targets = ["net", "ipc", "uts", "shm"].map((n) => join(nsDir, n));
    await runCommand("umount", targets, { check: false });
  }

  /** Removes a sandbox and everything in it, incl. its pod cgroup. Idempotent. */
  async removePodSandbox(id: SandboxId): Promise<void> {
    await this.init();
    const meta = this.#sandboxes.get(id);
    if (meta === undefined) return;
    const members = [...this.#containers.values()].filter((c) => c.sandboxId === id);
    await Promise.all(members.map((c) => this.removeContainer(c.id)));
    await this.#withLock(id, async () => {
      if (!this.#sandboxes.has(id)) return;
      // Idempotent; also releases the network of a sandbox whose pause died on its own.
      await this.#teardownSandbox(meta, !meta.config.hostNetwork);
      await this.#cleanupSandboxFiles(id, meta);
      this.#sandboxes.delete(id);
    });
  }

  /** Deletes the pause container, rootfs, pins and the pod cgroup of a sandbox. */
  async #cleanupSandboxFiles(id: string, meta: SandboxMeta | undefined): Promise<void> {
    // `delete --force` kills a pause still running itself; no separate `runc kill`.
    if (await this.#runcKnows(id)) await this.#runc(["delete", "--force", id], undefined, false);
    if (meta === undefined) {
      // Half-made: the network may have been attached before the crash.
      await this.#cni.remove(id, join(this.#nsDir(id), "net"), []).catch((err: unknown) => {
        this.#log.warn("cni del of half-made sandbox failed", { sandbox: id, err });
      });
    }
    // The pins outlive a pause process that died on its own (PL-EDGE-6), so a sandbox that
    // is already "not ready" may still hold them: unmount before removing their directory.
    if (meta?.isTornDown !== true) await this.#unmountNs(id);
    const dir = this.#sandboxDir(id);
    // A pause running on its image layer in place has no rootfs directory and no mount.
    if (await exists(join(dir, "bundle", "rootfs")))
      await runCommand("umount", [join(dir, "bundle", "rootfs")], { check: false });
    await Promise.all([
      rm(dir, { recursive: true, force: true }),
      rm(this.#nsDir(id), { recursive: true, force: true }),
      rm(join(this.#exitDir, id), { force: true }),
      rm(join(this.#o.runRoot, "pid", id), { force: true }),
      rm(join(this.#o.runRoot, "pid", `${id}.conmon`), { force: true }),
      rm(join(this.#o.runRoot, "sock", id), { recursive: true, force: true }),
    ]);
    if (meta !== undefined) await this.#cg.remove(meta.cgroupPath, this.#o.cgroupRoot);
  }

  podSandboxStatus(id: SandboxId): Promise<SandboxStatus> {
    return this.init().then(() => {
      const meta = this.#sandboxes.get(id);
      if (meta === undefined) throw new RuntimeError("NotFound", `sandbox ${id} not found`);
      return sandboxStatus(meta);
    });
  }

  async listPodSandboxes(
    filter: { labels?: Record<string, string> } = {},
  ): Promise<SandboxStatus[]> {
    await this.init();
    return [...this.#sandboxes.values()]
      .filter((s) => matchLabels(s.config.labels, filter.labels))
      .map(sandboxStatus);
  }

  // ---------------------------------------------------------------------------------------
  // Containers

  /**
   * Creates a container: fresh overlay rootfs, config.json joining the sandbox namespaces,
   * conmon + `runc run --detach` (runOnCreateScript: its process runs from here on, startContainer
   * records the start). A runc failure (e.g. executable not found) does not throw here: it is
   * kept and reported by startContainer as a StartError (PL-MAP-3).
   */
  async createContainer(
    sandboxId: SandboxId,
    config: ContainerConfig,
    opts: CallOptions = {},
  ): Promise<ContainerId> {
    await this.init();
    const sb = this.#sandboxes.get(sandboxId);
    if (sb === undefined) throw new RuntimeError("NotFound", `sandbox ${sandboxId} not found`);
    if (sb.state !== "ready") {
      throw new RuntimeError("InvalidState", `sandbox ${sandboxId} is not ready`);
    }
    const id = newId() as ContainerId;
    const dir = this.#containerDir(id);
    const steps = new StepTimer(this.#o.clock);
    try {
      const [prep] = await steps.time(
        "rootfs",
        Promise.all([
          this.#prepareRootfs(dir, config.image, opts.signal),
          mkdir(dirname(config.logPath), { recursive: true }),
        ]),
      );
      const image = prep.image;
      let user = config.user;
      if (user === undefined) {
        try {
          user = resolveUser(config.imageUser ?? image?.config.user ?? "", prep.passwd, prep.group);
        } catch (err) {
          throw new RuntimeError("Failed", `resolve user: ${(err as Error).message}`, {
            cause: err,
          });
        }
      }
      const namespaces: SpecNamespace[] = [];
      if (sb.netnsPath !== undefined) namespaces.push({ type: "network", path: sb.netnsPath });
      if (sb.ipcPath !== undefined) namespaces.push({ type: "ipc", path: sb.ipcPath });
      if (sb.utsPath !== undefined) namespaces.push({ type: "uts", path: sb.utsPath });
      const pid = this.#pidNamespace(sb, config.pidMode);
      if (pid !== undefined) namespaces.push(pid);
      const cgroupPath = `${sb.cgroupPath}/${id}`;
      const spec = buildSpec({
        rootfs: prep.rootfs,
        readonlyRootfs: config.security?.readOnlyRootfs === true,
        argv: config.argv,
        env: config.env.map((e) => `${e.name}=${e.value}`),
        cwd: config.workingDir === undefined || config.workingDir === "" ? "/" : config.workingDir,
        uid: user.uid,
        gid: user.gid,
        additionalGids: [
          ...new Set([...(user.additionalGids ?? []), ...(config.supplementalGroups ?? [])]),
        ],
        terminal: config.tty === true,
        mounts: config.mounts,
        ...(sb.shmPath === undefined ? {} : { shmPath: sb.shmPath }),
        namespaces,
        cgroupsPath: `/${cgroupPath}`,
        ...(config.resources === undefined
          ? {}
          : {
              resources: {
                ...config.resources,
                ...(config.resources.oomScoreAdj === undefined
                  ? {}
                  : { oomScoreAdj: this.#clampOom(config.resources.oomScoreAdj) }),
              },
            }),
        ...(config.security === undefined ? {} : { security: config.security }),
      });
      await steps.time("spec", writeFile(join(dir, "bundle", "config.json"), JSON.stringify(spec)));
      const created = await steps.time(
        "create",
        this.#conmonCreate(id, join(dir, "bundle"), config.logPath, {
          tty: config.tty === true,
          stdin: config.stdin === true,
          leaveStdinOpen: config.stdin === true && config.stdinOnce !== true,
        }),
      );
      const meta: ContainerMeta = {
        id,
        sandboxId,
        config,
        imageRef: image?.id ?? config.image,
        state: "created",
        createdAt: this.#o.clock.now(),
        cgroupPath,
      };
      if (created.error !== undefined) meta.createError = created.error;
      else {
        meta.pid = created.pid;
        meta.runAt = this.#o.clock.now();
      }
      await steps.time("meta", writeJsonAtomic(join(dir, "meta.json"), meta));
      this.#containers.set(id, meta);
      this.#log.debug("container create steps", { container: id, ms: steps.result() });
      return id;
    } catch (err) {
      await this.#cleanupContainerFiles(id).catch((e: unknown) => {
        // The creation error is what the caller needs; leftovers are logged.
        this.#log.error("cleanup of failed container failed", { container: id, err: e });
      });
      throw err;
    }
  }

  #pidNamespace(sb: SandboxMeta, mode: NamespaceMode): SpecNamespace | undefined {
    if (mode === "node") return undefined;
    if (mode === "container") return { type: "pid" };
    if (mode === "pod") {
      if (sb.config.pidMode === "node") return undefined;
      return { type: "pid", path: `/proc/${sb.pausePid}/ns/pid` };
    }
    const target = this.#containers.get(mode.target);
    if (target?.pid === undefined || target.state !== "running") {
      throw new RuntimeError("InvalidState", `target container ${mode.target} is not running`);
    }
    return { type: "pid", path: `/proc/${target.pid}/ns/pid` };
  }

  /**
   * Starts a created container: records the start of one whose process runs since create, or
   * runs `runc start` (containers adopted from older state). A failure (now or kept from
   * create) leaves it exited with reason StartError, exit code 128, and throws "Failed".
   */
  async startContainer(id: ContainerId, opts: CallOptions = {}): Promise<void> {
    await this.init();
    await this.#withLock(id, async () => {
      const meta = this.#mustContainer(id);
      if (meta.state !== "created") {
        throw new RuntimeError("InvalidState", `container ${id} is ${meta.state}, not created`);
      }
      let error = meta.createError;
      if (error === undefined && meta.runAt === undefined) {
        try {
          await this.#runc(["start", id], opts.signal);
        } catch (err) {
          if (!isRuntimeError(err)) throw err;
          error = ociMessage(err.stderr ?? err.message);
        }
      }
      if (error !== undefined) {
        meta.state = "exited";
        meta.exitCode = 128;
        meta.reason = "StartError";
        meta.message = error;
        meta.finishedAt = this.#o.clock.now();
        meta.startedAt = 0;
        await this.#persist(meta);
        this.#emit({
          type: "ContainerExited",
          id,
          sandboxId: meta.sandboxId,
          atMs: meta.finishedAt,
        });
        throw new RuntimeError("Failed", `start container: ${error}`);
      }
      // The process may already have exited and been recorded by the exit watch.
      meta.startedAt = meta.runAt ?? this.#o.clock.now();
      const current = this.#containers.get(id)?.state;
      if (current === "created") meta.state = "running";
      await this.#persist(meta);
      this.#emit({ type: "ContainerStarted", id, sandboxId: meta.sandboxId, atMs: meta.startedAt });
    });
    await this.#checkExit(id);
  }

  /**
   * Stop signal (config.stopSignal or SIGTERM), up to `graceMs`, then SIGKILL; resolves after
   * the exit is recorded. Idempotent. Aborting escalates to SIGKILL at once.
   */
  async stopContainer(id: ContainerId, graceMs: number, opts: CallOptions = {}): Promise<void> {
    await this.init();
    const meta = this.#mustContainer(id);
    if (meta.state === "exited" || meta.createError !== undefined) return;
    this.#runningUnstarted(meta);
    if (graceMs > 0 && opts.signal?.aborted !== true) {
      const sig = (meta.config.stopSignal ?? "SIGTERM").replace(/^SIG/, "");
      await this.#runc(["kill", id, sig], undefined, false);
      if (await this.#waitExit(id, graceMs, opts.signal)) return;
    }
    await this.#killAndWait(id);
  }

  /**
   * A container whose process started at create but that is stopped or removed before it was
   * started is running: from here on its exit is recorded like any other.
   */
  #runningUnstarted(meta: ContainerMeta): void {
    if (meta.state !== "created" || meta.runAt === undefined) return;
    meta.state = "running";
    meta.startedAt = meta.runAt;
  }

  /** SIGKILL and wait for the exit file. */
  async #killAndWait(id: string): Promise<void> {
    if (this.#isExited(id)) return;
    const res = await this.#runc(["kill", id, "KILL"], undefined, false);
    if (res.code !== 0) {
      // Already stopped or never created: runc refuses; the exit file (if any) tells.
      await this.#checkExit(id);
      if (this.#isExited(id) || !(await this.#runcKnows(id))) return;
      const state = await this.#runc(["state", id], undefined, false);
      if (state.stdout.includes('"stopped"')) return;
    }
    if (!(await this.#waitExit(id, EXIT_WAIT_AFTER_KILL_MS, undefined))) {
      throw new RuntimeError("Failed", `container ${id} did not exit after SIGKILL`);
    }
  }

  #isExited(id: string): boolean {
    const c = this.#containers.get(id as ContainerId);
    if (c !== undefined) return c.state === "exited";
    const s = this.#sandboxes.get(id as SandboxId);
    return s?.pausePid === 0 && s.state === "notready";
  }

  async #runcKnows(id: string): Promise<boolean> {
    try {
      await stat(join(this.#runcRoot, id));
      return true;
    } catch {
      return false;
    }
  }

  /** Resolves true once the exit of `id` is recorded, false after `timeoutMs`. */
  async #waitExit(
    id: string,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    if (this.#isExited(id)) return true;
    const ac = new AbortController();
    const onAbort = (): void => {
      ac.abort();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    let resolveExit = (): void => undefined;
    const exited = new Promise<boolean>((resolve) => {
      resolveExit = () => {
        resolve(true);
      };
    });
    let set = this.#exitWaiters.get(id);
    if (set === undefined) {
      set = new Set();
      this.#exitWaiters.set(id, set);
    }
    set.add(resolveExit);
    try {
      await this.#checkExit(id);
      if (this.#isExited(id)) return true;
      return await Promise.race([
        exited,
        this.#o.clock.sleep(timeoutMs, ac.signal).then(
          () => this.#isExited(id),
          () => this.#isExited(id),
        ),
      ]);
    } finally {
      ac.abort();
      signal?.removeEventListener("abort", onAbort);
      set.delete(resolveExit);
      if (set.size === 0) this.#exitWaiters.delete(id);
    }
  }

  #onExitFile(name: string): void {
    // The watch callback cannot be awaited; #checkExit logs its own failures.
    void this.#checkExit(name);
  }

  /**
   * Records the exit of `id` if conmon wrote its exit file. Idempotent; never throws. Concurrent
   * checks of one id share one run, so an exit is recorded and published exactly once.
   */
  #checkExit(id: string): Promise<void> {
    const running = this.#exitChecks.get(id);
    if (running !== undefined) {
      // The check in flight may have read the exit file before conmon wrote it (the watch
      // fires on create and again on write), so one more check follows it. Without this an
      // exit could go unnoticed and stopPodSandbox failed with "did not exit after SIGKILL".
      let again = this.#exitRechecks.get(id);
      if (again === undefined) {
        again = running.then(() => {
          this.#exitRechecks.delete(id);
          return this.#checkExit(id);
        });
        this.#exitRechecks.set(id, again);
      }
      return again;
    }
    const p = this.#doCheckExit(id).finally(() => this.#exitChecks.delete(id));
    this.#exitChecks.set(id, p);
    return p;
  }

  async #doCheckExit(id: string): Promise<void> {
    try {
      const file = join(this.#exitDir, id);
      let text: string;
      let mtimeMs: number;
      try {
        const [t, st] = await Promise.all([readFile(file, "utf8"), stat(file)]);
        text = t;
        mtimeMs = Math.floor(st.mtimeMs);
      } catch (err) {
        if (isErrno(err, "ENOENT")) return;
        throw err;
      }
      if (text.trim() === "") return;
      const code = Number(text.trim());
      const c = this.#containers.get(id as ContainerId);
      if (c !== undefined) {
        if (c.state === "exited") return;
        // Recorded once started (startContainer checks again), so no exit precedes the start.
        if (c.state === "created" && c.runAt !== undefined) return;
        const oom = await this.#cg.oomKilled(c.cgroupPath);
        c.state = "exited";
        c.exitCode = oom && code === 0 ? 137 : code;
        // The exit file's mtime has ms resolution; the start time was taken after the fact.
        c.finishedAt = Math.max(mtimeMs, c.startedAt ?? 0);
        c.reason = oom ? "OOMKilled" : code === 0 ? "Completed" : "Error";
        await this.#persist(c);
        this.#emit({ type: "ContainerExited", id, sandboxId: c.sandboxId, atMs: mtimeMs });
      } else {
        const s = this.#sandboxes.get(id as SandboxId);
        if (s === undefined || (s.state === "notready" && s.pausePid === 0)) {
          this.#wake(id);
          return;
        }
        s.state = "notready";
        s.pausePid = 0;
        await writeJsonAtomic(join(this.#sandboxDir(id), "meta.json"), s);
        this.#emit({ type: "SandboxStopped", id, sandboxId: s.id, atMs: mtimeMs });
      }
      this.#wake(id);
    } catch (err) {
      // Runs from the file watch with no caller; the next status read retries.
      this.#log.error("recording container exit failed", { container: id, err });
    }
  }

  #wake(id: string): void {
    for (const w of this.#exitWaiters.get(id) ?? []) w();
  }

  /** Removes a container: kills it if needed, `runc delete`, unmounts and deletes files. Idempotent. */
  async removeContainer(id: ContainerId): Promise<void> {
    await this.init();
    if (!this.#containers.has(id)) return;
    await this.#withLock(id, async () => {
      const meta = this.#containers.get(id);
      if (meta === undefined) return;
      this.#runningUnstarted(meta);
      if (meta.state !== "exited" && meta.createError === undefined) await this.#killAndWait(id);
      await this.#cleanupContainerFiles(id);
      this.#containers.delete(id);
      this.#emit({
        type: "ContainerDeleted",
        id,
        sandboxId: meta.sandboxId,
        atMs: this.#o.clock.now(),
      });
    });
  }

  async #cleanupContainerFiles(id: string): Promise<void> {
    const del = await this.#runc(["delete", id], undefined, false);
    if (del.code !== 0 && (await this.#runcKnows(id))) {
      await this.#runc(["delete", "--force", id], undefined, false);
    }
    const dir = this.#containerDir(id);
    await runCommand("umount", [join(dir, "bundle", "rootfs")], { check: false });
    await Promise.all([
      rm(dir, { recursive: true, force: true }),
      rm(join(this.#exitDir, id), { force: true }),
      rm(join(this.#o.runRoot, "pid", id), { force: true }),
      rm(join(this.#o.runRoot, "pid", `${id}.conmon`), { force: true }),
      rm(join(this.#o.runRoot, "sock", id), { recursive: true, force: true }),
    ]);
  }

  async containerStatus(id: ContainerId): Promise<ContainerStatus> {
    await this.init();
    await this.#checkExit(id);
    return containerStatus(this.#mustContainer(id));
  }

  async listContainers(
    filter: { sandboxId?: SandboxId; labels?: Record<string, string> } = {},
  ): Promise<ContainerStatus[]> {
    await this.init();
    return [...this.#containers.values()]
      .filter((c) => filter.sandboxId === undefined || c.sandboxId === filter.sandboxId)
      .filter((c) => matchLabels(c.config.labels, filter.labels))
      .map(containerStatus);
  }

  // ---------------------------------------------------------------------------------------
  // Exec, logs, stats

  /**
   * Runs `argv` in the container with `runc exec`; after `timeoutMs` the exec'd process is
   * killed (found through `--pid-file`) and the result has timedOut=true (PL-MAP-6).
   */
  async execSync(
    id: ContainerId,
    argv: string[],
    timeoutMs: number,
    opts: CallOptions = {},
  ): Promise<ExecResult> {
    await this.init();
    this.#mustRunning(id);
    const pidFile = join(this.#o.runRoot, "pid", `exec-${newId().slice(0, 16)}`);
    const done = spawner
      .run(this.#o.runcPath, ["--root", this.#runcRoot, "exec", "--pid-file", pidFile, id, ...argv])
      .then((r) => ({ ...r, exitCode: r.code ?? 128 + (r.signal === null ? 0 : 9) }));
    const ac = new AbortController();
    const onAbort = (): void => {
      ac.abort();
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const flags = { timedOut: false };
    const timer = this.#o.clock.sleep(timeoutMs, ac.signal).then(
      async () => {
        flags.timedOut = true;
        await this.#killExec(pidFile);
      },
      async () => {
        if (opts.signal?.aborted === true) await this.#killExec(pidFile);
      },
    );
    try {
      const { exitCode, stdout, stderr } = await done;
      return {
        exitCode: flags.timedOut && exitCode === 0 ? 137 : exitCode,
        stdout,
        stderr,
        timedOut: flags.timedOut,
      };
    } finally {
      ac.abort();
      await timer;
      opts.signal?.removeEventListener("abort", onAbort);
      await rm(pidFile, { force: true });
    }
  }

  async #killExec(pidFile: string): Promise<void> {
    try {
      const pid = Number((await readFile(pidFile, "utf8")).trim());
      if (pid > 0) process.kill(pid, "SIGKILL");
    } catch (err) {
      // The process already ended (no pid file yet or ESRCH): nothing left to kill.
      if (!isErrno(err, "ENOENT") && !isErrno(err, "ESRCH")) throw err;
    }
  }

  /**
   * Streaming exec through `runc exec`. With a TTY the pty master is bridged by the python3
   * stream helper (see stream-helper.ts) and stderr is merged into stdout. close() kills the
   * exec'd process, not only runc.
   */
  async exec(id: ContainerId, argv: string[], opts: StreamOptions): Promise<StreamSession> {
    await this.init();
    this.#mustRunning(id);
    if (opts.tty) return this.#ttyExec(id, argv, opts);
    // Killing `runc exec` alone would orphan the exec'd process inside the container, so
    // close() kills the process itself, found through --pid-file (as execSync does).
    const pidFile = join(this.#o.runRoot, "pid", `exec-${newId().slice(0, 16)}`);
    const child = spawn(
      this.#o.runcPath,
      ["--root", this.#runcRoot, "exec", "--pid-file", pidFile, id, ...argv],
      { stdio: [opts.stdin ? "pipe" : "ignore", "pipe", "pipe"] },
    );
    const exitCode = new Promise<number>((resolve, reject) => {
      child.on("error", reject);
      child.on("close", (code) => {
        resolve(code ?? 137);
      });
    }).finally(() => rm(pidFile, { force: true }));
    const session: StreamSession = {
      resize: () => undefined,
      exitCode,
      close: async () => {
        if (child.exitCode === null && child.signalCode === null) {
          await this.#killExec(pidFile);
          child.kill("SIGKILL");
        }
        await exitCode.catch(() => 0);
      },
    };
    if (opts.stdin && child.stdin !== null) session.stdin = child.stdin;
    if (opts.stdout && child.stdout !== null) session.stdout = child.stdout;
    else child.stdout?.resume();
    if (opts.stderr && child.stderr !== null) session.stderr = child.stderr;
    else child.stderr?.resume();
    return session;
  }

  #ttyExec(id: ContainerId, argv: string[], opts: StreamOptions): StreamSession {
    const pidFile = join(this.#o.runRoot, "pid", `exec-${newId().slice(0, 16)}`);
    const runc = [this.#o.runcPath, "--root", this.#runcRoot, "exec", "-t", "--pid-file", pidFile];
    return this.#helperSession(["exec", opts.stdin ? "1" : "0", "-", ...runc, id, ...argv], opts, {
      merge: true,
      beforeKill: () => this.#killExec(pidFile),
      cleanup: () => rm(pidFile, { force: true }),
    });
  }

  /**
   * Attaches to the main process through conmon's attach socket (bridged by the python3 stream
   * helper, see stream-helper.ts). Only output written after attaching is seen. Resizes go to
   * conmon's ctl fifo. `exitCode` resolves 0 when the container exits (conmon closes the
   * socket) and the session ends. Not running: RuntimeError "InvalidState".
   */
  async attach(id: ContainerId, opts: StreamOptions): Promise<StreamSession> {
    await this.init();
    this.#mustRunning(id);
    const bundle = join(this.#containerDir(id), "bundle");
    // conmon links <socket-dir>/<id> to the bundle; the link keeps the socket path short.
    const socketPath = join(this.#o.runRoot, "sock", id, "attach");
    return this.#helperSession(
      ["attach", opts.stdin ? "1" : "0", socketPath, join(bundle, "ctl")],
      opts,
      { merge: opts.tty, beforeKill: () => Promise.resolve(), cleanup: () => Promise.resolve() },
    );
  }

  /** Runs the stream helper and exposes its pipes as a StreamSession. */
  #helperSession(
    args: string[],
    opts: StreamOptions,
    hooks: { merge: boolean; beforeKill: () => Promise<void>; cleanup: () => Promise<void> },
  ): StreamSession {
    const child = spawn("python3", ["-c", STREAM_HELPER_PY, ...args], {
      stdio: [opts.stdin ? "pipe" : "ignore", "pipe", "pipe", "pipe"],
    });
    const ctl = child.stdio[3] as Writable;
    const { stdout, stderr } = child;
    if (stdout === null || stderr === null)
      throw new TypeError("stream helper has no output pipes");
    // The helper may exit before a late resize; that write error is expected.
    ctl.on("error", () => undefined);
    const exitCode = new Promise<number>((resolve, reject) => {
      child.on("error", (err) => {
        reject(new RuntimeError("Failed", "run the stream helper", { cause: err }));
      });
      child.on("close", (code) => {
        resolve(code ?? 137);
      });
    }).finally(hooks.cleanup);
    const session: StreamSession = {
      resize: (width, height) => {
        if (!ctl.writableEnded && !ctl.destroyed) ctl.write(`${width} ${height}\n`);
      },
      exitCode,
      close: async () => {
        if (child.exitCode === null && child.signalCode === null) {
          await hooks.beforeKill();
          child.kill("SIGKILL");
        }
        await exitCode.catch(() => 0);
      },
    };
    if (opts.stdin && child.stdin !== null) session.stdin = child.stdin;
    if (hooks.merge) {
      // With a TTY there is only one output stream; helper/runc diagnostics join it.
      const out = new PassThrough();
      let open = 2;
      for (const r of [stdout, stderr]) {
        r.on("data", (d: Buffer) => out.write(d));
        r.on("end", () => {
          if (--open === 0) out.end();
        });
      }
      if (opts.stdout) session.stdout = out;
      else out.resume();
    } else {
      if (opts.stdout) session.stdout = stdout;
      else stdout.resume();
      if (opts.stderr) session.stderr = stderr;
      else stderr.resume();
    }
    return session;
  }

  /** A TCP connection to `port` on 127.0.0.1 inside the sandbox's network namespace. */
  async portForward(sandbox: SandboxId, port: number): Promise<Duplex> {
    await this.init();
    const sb = this.#sandboxes.get(sandbox);
    if (sb === undefined) throw new RuntimeError("NotFound", `sandbox ${sandbox} not found`);
    if (sb.state !== "ready")
      throw new RuntimeError("InvalidState", `sandbox ${sandbox} is not ready`);
    const args =
      sb.netnsPath === undefined
        ? ["nc", "127.0.0.1", String(port)]
        : ["nsenter", `--net=${sb.netnsPath}`, "--", "busybox", "nc", "127.0.0.1", String(port)];
    const child = spawn(sb.netnsPath === undefined ? "busybox" : "nsenter", args.slice(1), {
      stdio: ["pipe", "pipe", "ignore"],
    });
    return childDuplex(child);
  }

  /** Asks conmon to reopen the log file (message type 2 on its ctl fifo). */
  async reopenContainerLog(id: ContainerId): Promise<void> {
    await this.init();
    this.#mustRunning(id);
    const ctl = join(this.#containerDir(id), "bundle", "ctl");
    try {
      const fh = await open(ctl, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
      try {
        await fh.write("2 0 0\n");
      } finally {
        await fh.close();
      }
    } catch (err) {
      if (isErrno(err, "ENXIO") || isErrno(err, "ENOENT")) {
        throw new RuntimeError("InvalidState", `container ${id} has no log supervisor`, {
          cause: err,
        });
      }
      throw err;
    }
  }

  async containerStats(id: ContainerId): Promise<ContainerStats> {
    await this.init();
    const meta = this.#mustContainer(id);
    const s = await this.#cg.stats(meta.cgroupPath);
    return {
      timestampMs: this.#o.clock.now(),
      cpuUsageNanos: s.cpuNanos,
      memoryUsageBytes: s.memUsage,
      memoryWorkingSetBytes: s.workingSet,
    };
  }

  /** Events as they happen until the signal aborts. Each call is an independent subscriber. */
  async *events(opts: { signal: AbortSignal }): AsyncIterable<RuntimeEvent> {
    await this.init();
    const queue: RuntimeEvent[] = [];
    let wake: (() => void) | undefined;
    const push = (ev: RuntimeEvent): void => {
      queue.push(ev);
      wake?.();
    };
    const onAbort = (): void => wake?.();
    this.#subscribers.add(push);
    opts.signal.addEventListener("abort", onAbort, { once: true });
    try {
      while (!opts.signal.aborted) {
        const ev = queue.shift();
        if (ev !== undefined) {
          yield ev;
          continue;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    } finally {
      this.#subscribers.delete(push);
      opts.signal.removeEventListener("abort", onAbort);
    }
  }

  #emit(ev: RuntimeEvent): void {
    for (const s of this.#subscribers) s(ev);
  }

  // ---------------------------------------------------------------------------------------
  // Helpers

  #mustContainer(id: ContainerId): ContainerMeta {
    const meta = this.#containers.get(id);
    if (meta === undefined) throw new RuntimeError("NotFound", `container ${id} not found`);
    return meta;
  }

  #mustRunning(id: ContainerId): ContainerMeta {
    const meta = this.#mustContainer(id);
    if (meta.state !== "running") {
      throw new RuntimeError("InvalidState", `container ${id} is ${meta.state}, not running`);
    }
    return meta;
  }

  async #persist(meta: ContainerMeta): Promise<void> {
    await writeJsonAtomic(join(this.#containerDir(meta.id), "meta.json"), meta);
  }

  async #withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(key) ?? Promise.resolve();
    let release = (): void => undefined;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const chained = prev.then(() => mine);
    this.#locks.set(key, chained);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.#locks.get(key) === chained) this.#locks.delete(key);
    }
  }

  async #runc(
    args: string[],
    signal: AbortSignal | undefined,
    check = true,
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    return runCommand(this.#o.runcPath, ["--root", this.#runcRoot, ...args], {
      check,
      ...(signal === undefined ? {} : { signal }),
    });
  }

  /**
   * Runs conmon, which daemonizes, runs `runc run --detach` (through runOnCreateScript) and
   * reports the container pid (or the OCI error) on its sync pipe. conmon then lives on,
   * independent of this process.
   */
  async #conmonCreate(
    id: string,
    bundle: string,
    logPath: string,
    opts: { tty?: boolean; stdin?: boolean; leaveStdinOpen?: boolean },
  ): Promise<{ pid: number; error?: string }> {
    const o = this.#o;
    const { tty = false, stdin = false, leaveStdinOpen = false } = opts;
    const args = [
      "--api-version",
      "1",
      "-c",
      id,
      "-u",
      id,
      "-r",
      this.#runOnCreatePath,
      "-b",
      bundle,
      "-p",
      join(o.runRoot, "pid", id),
      "--exit-dir",
      this.#exitDir,
      "-l",
      `k8s-file:${logPath}`,
      "--socket-dir-path",
      join(o.runRoot, "sock"),
      "--container-pidfile",
      join(o.runRoot, "pid", `${id}.conmon`),
      "--syslog=false",
      "--log-level",
      "error",
      "--runtime-arg",
      "--root",
      "--runtime-arg",
      this.#runcRoot,
    ];
    if (tty) args.push("-t");
    if (stdin) args.push("-i");
    // Without stdinOnce, an attach client going away must not close the container's stdin.
    if (leaveStdinOpen) args.push("--leave-stdin-open");
    const child = spawner.start(o.conmonPath, args, {
      // conmon writes an `oom` marker into its working directory after an OOM kill.
      cwd: dirname(bundle),
      capture: false,
      setsid: true,
      env: { PATH: process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin" },
      syncPipeEnv: "_OCI_SYNCPIPE",
    });
    const message = await new Promise<string>((resolve, reject) => {
      let buf = "";
      child.done.catch((err: unknown) => {
        reject(new RuntimeError("Failed", "run conmon", { cause: err }));
      });
      child.onSync((d) => {
        if (d === "end") {
          resolve(buf);
          return;
        }
        buf += d.toString();
        if (buf.includes("}")) resolve(buf);
      });
    });
    // conmon keeps the pipe's write end; the runtime no longer needs its read end.
    child.releaseSync();
    let parsed: { data?: number; message?: string };
    try {
      parsed = JSON.parse(message.slice(0, message.indexOf("}") + 1)) as typeof parsed;
    } catch (err) {
      throw new RuntimeError("Failed", `conmon gave no create result for ${id}`, {
        cause: err,
        command: [o.conmonPath, ...args],
      });
    }
    const pid = parsed.data ?? -1;
    if (pid <= 0) return { pid: 0, error: ociMessage(parsed.message ?? "runc create failed") };
    return { pid };
  }
}

/**
 * A Duplex over a child's stdin/stdout: writes go to stdin, `end()` closes it, stdout is the
 * readable side; destroying the duplex kills the child.
 */
function childDuplex(child: ChildProcessByStdio<Writable, Readable, null>): Duplex {
  const duplex = new Duplex({
    write(chunk: Buffer, _enc, cb) {
      child.stdin.write(chunk, (err) => {
        cb(peerClosed(err) ? null : err);
      });
    },
    final(cb) {
      if (child.stdin.destroyed || child.stdin.writableEnded) {
        cb();
        return;
      }
      child.stdin.end(() => {
        // Ending our side after the helper exited is not an error: the peer closed first.
        cb();
      });
    },
    read() {
      child.stdout.resume();
    },
    destroy(err, cb) {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      cb(err);
    },
  });
  child.stdout.on("data", (d: Buffer) => {
    if (!duplex.push(d)) child.stdout.pause();
  });
  child.stdout.on("end", () => duplex.push(null));
  child.stdin.on("error", (err: NodeJS.ErrnoException) => {
    // EPIPE: the far side closed first (the helper exited); the read side reports the end,
    // and a later end() from the caller must still succeed.
    if (peerClosed(err)) return;
    duplex.destroy(err);
  });
  child.on("error", (err) => duplex.destroy(err));
  return duplex;
}

/** True for the errors a pipe reports once the process on its other end has gone. */
function peerClosed(err: Error | null | undefined): boolean {
  const code = (err as NodeJS.ErrnoException | null | undefined)?.code;
  return code === "EPIPE" || code === "ERR_STREAM_DESTROYED";
}

/** Extracts the OCI error text from runc's output (`exec: "/x": stat /x: no such file…`). */
export function ociMessage(raw: string): string {
  const lines = raw.trim().split("\n");
  const last = lines[lines.length - 1] ?? "";
  const m = /msg="((?:[^"\\]|\\.)*)"/.exec(last);
  let msg = m?.[1] === undefined ? last : m[1].replace(/\\(.)/g, "$1");
  msg = msg.replace(/^runc (create|start|run) failed: /, "");
  msg = msg.replace(/^unable to start container process: /, "");
  return msg.trim();
}

function sandboxStatus(m: SandboxMeta): SandboxStatus {
  return {
    id: m.id,
    name: m.config.name,
    attempt: m.config.attempt,
    state: m.state,
    createdAt: m.createdAt,
    ips: [...m.ips],
    hostNetwork: m.config.hostNetwork,
    labels: { ...m.config.labels },
    annotations: { ...m.config.annotations },
  };
}

function containerStatus(m: ContainerMeta): ContainerStatus {
  const s: ContainerStatus = {
    id: m.id,
    sandboxId: m.sandboxId,
    name: m.config.name,
    attempt: m.config.attempt,
    state: m.state,
    createdAt: m.createdAt,
    image: m.config.image,
    imageRef: m.imageRef,
    labels: { ...m.config.labels },
    annotations: { ...m.config.annotations },
    logPath: m.config.logPath,
  };
  if (m.startedAt !== undefined) s.startedAt = m.startedAt;
  if (m.finishedAt !== undefined) s.finishedAt = m.finishedAt;
  if (m.exitCode !== undefined) s.exitCode = m.exitCode;
  if (m.reason !== undefined) s.reason = m.reason;
  if (m.message !== undefined) s.message = m.message;
  if (m.pid !== undefined && m.state === "running") s.pid = m.pid;
  return s;
}

function matchLabels(
  labels: Record<string, string>,
  want: Record<string, string> | undefined,
): boolean {
  if (want === undefined) return true;
  return Object.entries(want).every(([k, v]) => labels[k] === v);
}

function newId(): string {
  return randomBytes(32).toString("hex");
}

function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && "code" in err && err.code === code;
}

/** Our own oom_score_adj when we lack CAP_SYS_RESOURCE (bit 24), else -1000. */
async function minOomScoreAdj(): Promise<number> {
  const status = await readFile("/proc/self/status", "utf8");
  const capEff = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1] ?? "0"}`);
  if ((capEff & (1n << 24n)) !== 0n) return -1000;
  return Number((await readFile("/proc/self/oom_score_adj", "utf8")).trim());
}

/** Mount options of a pod's /dev/shm tmpfs (the size Kubernetes runtimes give by default). */
const SHM_MOUNT_OPTIONS = "nosuid,nodev,noexec,mode=1777,size=65536k";

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (isErrno(err, "ENOENT")) return false;
    throw err;
  }
}

/** Durations of the named steps of one operation, for a debug log line. */
class StepTimer {
  readonly #clock: Clock;
  readonly #t0: number;
  readonly #ms: Record<string, number> = {};

  constructor(clock: Clock) {
    this.#clock = clock;
    this.#t0 = clock.now();
  }

  /** Awaits `p` and records, under `name`, the time from the timer's start to its end. */
  async time<T>(name: string, p: Promise<T>): Promise<T> {
    const v = await p;
    this.#ms[name] = this.#clock.now() - this.#t0;
    return v;
  }

  /** Milliseconds from the start to the end of each step, plus `total`. */
  result(): Record<string, number> {
    return { ...this.#ms, total: this.#clock.now() - this.#t0 };
  }
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as T;
  } catch (err) {
    if (isErrno(err, "ENOENT") || err instanceof SyntaxError) return undefined;
    throw err;
  }
}

async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(tmp, JSON.stringify(value));
  await rename(tmp, path);
}

/**
 * conmon runs `RUNTIME [global options] create [options] ID` and then watches the container.
 * This wrapper replaces the first `create` argument with `run --detach`, so the container is
 * created and started by one runc process; conmon is its subreaper either way and still writes
 * the exit file. startContainer then only records the start (ContainerMeta.runAt).
 */
function runOnCreateScript(runcPath: string): string {
  const quoted = `'${runcPath.replaceAll("'", `'\\''`)}'`;
  return [
    "#!/bin/sh",
    "# Written by podrun: runs runc with `create` replaced by `run --detach`.",
    "replaced=",
    "for arg do",
    "  shift",
    '  if [ -z "$replaced" ] && [ "$arg" = create ]; then set -- "$@" run --detach; replaced=1',
    '  else set -- "$@" "$arg"; fi',
    "done",
    `exec ${quoted} "$@"`,
    "",
  ].join("\n");
}
