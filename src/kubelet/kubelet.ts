import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import {
  isAlreadyExists,
  isConflict,
  isNotFound,
  rfc3339,
  rfc3339Micro,
  type Lease,
  type Node,
  type NodeCondition,
  type Pod,
  type TokenRequest,
  type Service,
} from "../api/index.js";
import { EventRecorder, Informer } from "../client/index.js";
import type { ImageService, RuntimeService } from "../runtime/index.js";
import { BackOff, TaskGroup, type Clock, type Logger } from "../util/index.js";
import type { DockerKeyring } from "./keyring.js";
import type { DnsConfig } from "./dns.js";
import { LogRotator, openContainerLogs, type PodLogOptions } from "./logs.js";
import { PodWorkers } from "./pod-workers.js";
import { ProberManager } from "./prober/index.js";
import { LABEL_POD_UID, stableJson } from "./runtime-pod.js";
import { PodSyncer, type PodProber, type PodVolumes } from "./sync.js";
import { isAborted, type EventSink, type KubeletClient } from "./types.js";
import { VolumeManager } from "./volumes/index.js";

/** Node-wide kubelet settings (part of cmd/'s NodeConfig). */
export interface KubeletConfig {
  /** Kubelet state: `pods/<uid>/…`, the back-off table. @default "/var/lib/podrun" */
  dataDir?: string;
  /** Container logs (PL-LOG-1). @default "/var/log/pods" */
  logRoot?: string;
  /** @default "cluster.local" */
  clusterDomain?: string;
  /** Cluster DNS server IPs. @default ["10.96.0.10"] */
  clusterDNS?: string[];
  /** @default "10.244.0.0/16" */
  podCIDR?: string;
  /** Node IP reported as InternalIP/hostIP. @default first non-internal IPv4 address */
  nodeIP?: string;
  /** cgroup path prefix for pod cgroups. @default "podrun" */
  cgroupRoot?: string;
  /** Crash back-off initial delay (PL-BO-1). @default 10_000 */
  backoffInitialMs?: number;
  /** Crash back-off cap (PL-BO-1). @default 300_000 */
  backoffMaxMs?: number;
  /** Requeue after a successful sync (PL-RUN-12). @default 60_000 */
  syncPeriodMs?: number;
  /** Requeue after a failed sync (PL-RUN-12). @default 10_000 */
  syncBackOffMs?: number;
  /** Lease renew interval. @default 10_000 */
  leaseRenewMs?: number;
  /** Node status heartbeat. @default 60_000 */
  nodeStatusMs?: number;
  /** Log rotation size (PL-LOG-4). @default 10 MiB */
  containerLogMaxSizeBytes?: number;
  /** Log files kept per container (PL-LOG-4). @default 5 */
  containerLogMaxFiles?: number;
  /** Node resolver file contents for DNS `Default` (PL-DNS-3). @default read from /etc/resolv.conf */
  hostResolvConf?: string;
  /** Node hosts file contents (PL-DNS-11). @default read from /etc/hosts */
  hostHosts?: string;
}

/** Options of {@link Kubelet}. */
export interface KubeletOptions {
  nodeName: string;
  client: KubeletClient;
  runtime: RuntimeService;
  images: ImageService;
  clock: Clock;
  logger: Logger;
  config?: KubeletConfig;
  /** Replaces the volume manager (tests). @default VolumeManager over dataDir/pods */
  volumes?: PodVolumes;
  /** Replaces the prober (tests). @default ProberManager */
  prober?: PodProber & { run(signal: AbortSignal): Promise<void> };
  /** Replaces the event recorder (tests). @default client/'s EventRecorder */
  recorder?: EventSink & { run?(signal: AbortSignal): Promise<void> };
  /** The node's registry credentials (its docker config file). @default none */
  nodeKeyring?: DockerKeyring;
}

/** Every kubelet setting with defaults applied. */
export type ResolvedKubeletConfig = Required<KubeletConfig>;

/** Applies the defaults of {@link KubeletConfig} once and validates the values. */
export function resolveKubeletConfig(cfg: KubeletConfig = {}): ResolvedKubeletConfig {
  const r: ResolvedKubeletConfig = {
    dataDir: cfg.dataDir ?? "/var/lib/podrun",
    logRoot: cfg.logRoot ?? "/var/log/pods",
    clusterDomain: cfg.clusterDomain ?? "cluster.local",
    clusterDNS: cfg.clusterDNS ?? ["10.96.0.10"],
    podCIDR: cfg.podCIDR ?? "10.244.0.0/16",
    nodeIP: cfg.nodeIP ?? defaultNodeIP(),
    cgroupRoot: cfg.cgroupRoot ?? "podrun",
    backoffInitialMs: cfg.backoffInitialMs ?? 10_000,
    backoffMaxMs: cfg.backoffMaxMs ?? 300_000,
    syncPeriodMs: cfg.syncPeriodMs ?? 60_000,
    syncBackOffMs: cfg.syncBackOffMs ?? 10_000,
    leaseRenewMs: cfg.leaseRenewMs ?? 10_000,
    nodeStatusMs: cfg.nodeStatusMs ?? 60_000,
    containerLogMaxSizeBytes: cfg.containerLogMaxSizeBytes ?? 10 * 1024 * 1024,
    containerLogMaxFiles: cfg.containerLogMaxFiles ?? 5,
    hostResolvConf: cfg.hostResolvConf ?? "",
    hostHosts: cfg.hostHosts ?? "",
  };
  for (const k of [
    "backoffInitialMs",
    "backoffMaxMs",
    "syncPeriodMs",
    "syncBackOffMs",
    "leaseRenewMs",
    "nodeStatusMs",
    "containerLogMaxSizeBytes",
  ] as const)
    if (!(r[k] > 0)) throw new RangeError(`kubelet config ${k} must be > 0, got ${String(r[k])}`);
  if (r.backoffMaxMs < r.backoffInitialMs)
    throw new RangeError(
      `kubelet config backoffMaxMs must be >= backoffInitialMs, got ${String(r.backoffMaxMs)}`,
    );
  if (r.containerLogMaxFiles < 2)
    throw new RangeError(
      `kubelet config containerLogMaxFiles must be >= 2, got ${String(r.containerLogMaxFiles)}`,
    );
  return r;
}

function defaultNodeIP(): string {
  for (const addrs of Object.values(os.networkInterfaces()))
    for (const a of addrs ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  return "127.0.0.1";
}

const KUBELET_VERSION = "v1.33.0";
const RUNTIME_VERSION = "podrun://0.1.0";
const LEASE_NAMESPACE = "kube-node-lease";
const LEASE_DURATION_SECONDS = 40;

/**
 * The node agent: registers the Node, renews its Lease, watches the pods bound to it and
 * drives one pod worker per pod (PodWorkers → PodSyncer). Also serves container logs
 * (`readContainerLogs`) and rotates them. Restart-safe: state is rebuilt from runtime labels
 * plus the API; running containers are never restarted; the crash back-off table is
 * persisted in `dataDir`. `run(signal)` settles after everything it started has stopped.
 */
export class Kubelet {
  readonly nodeName: string;
  readonly config: ResolvedKubeletConfig;
  readonly #o: KubeletOptions;
  readonly #backoff: BackOff;
  readonly #imageBackoff: BackOff;
  readonly #recorder: EventSink & { run?(signal: AbortSignal): Promise<void> };
  readonly #prober: PodProber & { run(signal: AbortSignal): Promise<void> };
  readonly #volumes: PodVolumes;
  readonly #syncer: PodSyncer;
  readonly #workers: PodWorkers;
  readonly #rotator: LogRotator;
  readonly #services: Informer<Service>;
  readonly #pods: Informer<Pod>;
  /** Sandbox id → pod UID, for waking workers on runtime events. */
  readonly #sandboxOwners = new Map<string, string>();
  /** Shared with the syncer; host files are filled in by `run` when not configured. */
  readonly #dns: DnsConfig;

  constructor(opts: KubeletOptions) {
    if (opts.nodeName === "") throw new RangeError("nodeName must not be empty");
    this.#o = opts;
    this.nodeName = opts.nodeName;
    this.config = resolveKubeletConfig(opts.config);
    const cfg = this.config;
    this.#backoff = new BackOff({
      clock: opts.clock,
      initialMs: cfg.backoffInitialMs,
      maxMs: cfg.backoffMaxMs,
    });
    this.#imageBackoff = new BackOff({
      clock: opts.clock,
      initialMs: cfg.backoffInitialMs,
      maxMs: cfg.backoffMaxMs,
    });
    this.#recorder =
      opts.recorder ??
      new EventRecorder({
        events: (ns) => opts.client.events(ns),
        clock: opts.clock,
        logger: opts.logger,
        component: "kubelet",
        host: opts.nodeName,
      });
    this.#prober =
      opts.prober ??
      new ProberManager({
        exec: opts.runtime,
        clock: opts.clock,
        logger: opts.logger,
        recorder: this.#recorder,
        onResult: (uid) => {
          this.#workers.wake(uid);
        },
      });
    const nodeAllocatable = {
      cpu: os.cpus().length,
      memoryBytes: os.totalmem(),
      ephemeralStorageBytes: 0,
    };
    const client = opts.client;
    this.#volumes =
      opts.volumes ??
      new VolumeManager({
        podsDir: join(cfg.dataDir, "pods"),
        sources: {
          getConfigMap: (ns, name) => getOrUndefined(() => client.configMaps(ns).get(name)),
          getSecret: (ns, name) => getOrUndefined(() => client.secrets(ns).get(name)),
          ...(client.serviceAccountToken === undefined
            ? {}
            : { serviceAccountToken: (pod, aud, exp) => requestPodToken(client, pod, aud, exp) }),
        },
        logger: opts.logger,
        clock: opts.clock,
        nodeAllocatable,
      });
    this.#services = new Informer<Service>({
      source: opts.client.services(),
      clock: opts.clock,
      logger: opts.logger,
    });
    this.#pods = new Informer<Pod>({
      source: opts.client.pods(),
      clock: opts.clock,
      logger: opts.logger,
      fieldSelector: `spec.nodeName=${opts.nodeName}`,
    });
    const dns: DnsConfig = (this.#dns = {
      clusterDomain: cfg.clusterDomain,
      clusterDNS: cfg.clusterDNS,
      hostResolvConf: cfg.hostResolvConf,
      hostHosts: cfg.hostHosts,
      nodeHostname: os.hostname(),
    });
    this.#syncer = new PodSyncer({
      runtime: opts.runtime,
      images: opts.images,
      client: opts.client,
      recorder: this.#recorder,
      clock: opts.clock,
      logger: opts.logger,
      volumes: this.#volumes,
      prober: this.#prober,
      backoff: this.#backoff,
      imageBackoff: this.#imageBackoff,
      ...(opts.nodeKeyring !== undefined ? { nodeKeyring: opts.nodeKeyring } : {}),
      listServices: (ns) =>
        this.#services.hasSynced
          ? this.#services.list().filter((s) => s.metadata.namespace === ns)
          : undefined,
      config: {
        nodeName: opts.nodeName,
        podsDir: join(cfg.dataDir, "pods"),
        logRoot: cfg.logRoot,
        cgroupRoot: cfg.cgroupRoot,
        nodeIPs: [cfg.nodeIP],
        dns,
        nodeMemoryBytes: os.totalmem(),
        nodeAllocatable,
      },
    });
    const syncer = this.#syncer;
    this.#workers = new PodWorkers({
      clock: opts.clock,
      logger: opts.logger,
      resyncIntervalMs: cfg.syncPeriodMs,
      backOffPeriodMs: cfg.syncBackOffMs,
      handler: {
        syncPod: (pod, signal) => syncer.syncPod(pod, signal),
        terminatePod: (pod, o, signal) => syncer.terminatePod(pod, o, signal),
        finishPod: (pod, signal) => syncer.finishPod(pod, signal),
        cleanupPod: (uid, signal) => syncer.cleanupPod(uid, signal),
        shouldTerminate: (pod) =>
          pod.status?.phase === "Succeeded" ||
          pod.status?.phase === "Failed" ||
          syncer.isPastActiveDeadline(pod),
      },
    });
    this.#rotator = new LogRotator({
      runtime: opts.runtime,
      clock: opts.clock,
      logger: opts.logger,
      maxSizeBytes: cfg.containerLogMaxSizeBytes,
      maxFiles: cfg.containerLogMaxFiles,
    });
  }

  /** The worker state of a pod (tests, debugging). */
  podWorkerState(uid: string): "syncing" | "terminating" | "terminated" | undefined {
    return this.#workers.state(uid);
  }

  /**
   * Opens a container's log (PL-LOG-3/5/6); the shape of the apiserver's `NodeConnector.logs`,
   * wired in cmd/. Selection errors (ApiError BadRequest) reject before streaming starts.
   */
  logs(pod: Pod, opts: PodLogOptions, signal: AbortSignal): Promise<AsyncIterable<Uint8Array>> {
    return openContainerLogs(pod, opts, { runtime: this.#o.runtime, clock: this.#o.clock }, signal);
  }

  /** Runs the node agent until the signal aborts; settles after everything has stopped. */
  async run(signal: AbortSignal): Promise<void> {
    const log = this.#o.logger.with({ node: this.nodeName });
    const tasks = new TaskGroup(log);
    await mkdir(join(this.config.dataDir, "pods"), { recursive: true });
    await mkdir(this.config.logRoot, { recursive: true });
    await this.#loadBackoff();
    if (this.#dns.hostResolvConf === "")
      this.#dns.hostResolvConf = await readOrEmpty("/etc/resolv.conf");
    if (this.#dns.hostHosts === "") this.#dns.hostHosts = await readOrEmpty("/etc/hosts");

    // Step 1: register the Node (retrying while the API is unreachable) and keep its Lease.
    for (let delayMs = 1000; ; delayMs = Math.min(delayMs * 2, 30_000)) {
      try {
        await this.#registerNode(signal);
        break;
      } catch (err) {
        if (isAborted(signal)) return;
        log.warn("node registration failed", { err });
      }
      try {
        await this.#o.clock.sleep(delayMs, signal);
      } catch {
        return;
      }
    }
    tasks.spawn("lease", () => this.#leaseLoop(signal));
    tasks.spawn("node status", () => this.#nodeStatusLoop(signal));

    // Step 2: background collaborators.
    tasks.spawn("services informer", () => this.#services.run(signal));
    tasks.spawn("pods informer", () => this.#pods.run(signal));
    tasks.spawn("prober", () => this.#prober.run(signal));
    const recorder = this.#recorder;
    if (recorder.run !== undefined) {
      const runRecorder = recorder.run.bind(recorder);
      tasks.spawn("events", () => runRecorder(signal));
    }
    tasks.spawn("log rotation", () => this.#rotator.run(signal));
    tasks.spawn("pod workers", () => this.#workers.run(signal));
    tasks.spawn("runtime events", () => this.#runtimeEvents(signal));
    tasks.spawn("housekeeping", () => this.#housekeeping(signal));

    // Step 3: pods from the API drive the workers; leftovers of vanished pods are cleaned up.
    tasks.spawn("pod events", async () => {
      for await (const ev of this.#pods.events(signal)) {
        if (ev.type === "DELETED") {
          this.#workers.removePod(ev.obj.metadata.uid ?? "");
          continue;
        }
        if (ev.old !== undefined && ev.old.metadata.uid !== ev.obj.metadata.uid)
          this.#workers.removePod(ev.old.metadata.uid ?? "");
        // A status-only change (mostly this kubelet's own writes) needs no sync pass, unless
        // readiness gates read conditions others write (upstream HandlePodReconcile).
        if (
          ev.old !== undefined &&
          ev.old.metadata.uid === ev.obj.metadata.uid &&
          (ev.obj.spec.readinessGates ?? []).length === 0 &&
          !podsDifferSemantically(ev.old, ev.obj) &&
          this.#workers.updatePodStatusOnly(ev.obj)
        )
          continue;
        this.#workers.updatePod(ev.obj);
      }
    });
    tasks.spawn("orphan cleanup", async () => {
      if (!(await this.#pods.waitForSync(signal))) return;
      const known = new Set(this.#pods.list().map((p) => p.metadata.uid ?? ""));
      const sandboxes = await this.#o.runtime.listPodSandboxes(undefined, { signal });
      const containers = await this.#o.runtime.listContainers(undefined, { signal });
      const uids = new Set<string>();
      for (const s of [...sandboxes, ...containers]) {
        const uid = s.labels[LABEL_POD_UID];
        if (uid !== undefined && !known.has(uid)) uids.add(uid);
      }
      for (const uid of uids) this.#workers.removePod(uid);
    });

    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else
        signal.addEventListener(
          "abort",
          () => {
            resolve();
          },
          { once: true },
        );
    });
    await tasks.wait();
    await this.#saveBackoff();
  }

  async #runtimeEvents(signal: AbortSignal): Promise<void> {
    for await (const ev of this.#o.runtime.events({ signal })) {
      let uid = this.#sandboxOwners.get(ev.sandboxId);
      if (uid === undefined) {
        try {
          const s = await this.#o.runtime.podSandboxStatus(ev.sandboxId, { signal });
          uid = s.labels[LABEL_POD_UID];
          if (uid !== undefined) this.#sandboxOwners.set(ev.sandboxId, uid);
        } catch (err) {
          if (signal.aborted) return;
          // The sandbox is already gone; its pod worker notices on its next pass.
          this.#o.logger.debug("runtime event for unknown sandbox", { sandbox: ev.sandboxId, err });
        }
      }
      if (uid !== undefined) this.#workers.wake(uid);
    }
  }

  async #housekeeping(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.#o.clock.sleep(10_000, signal);
      } catch {
        return;
      }
      this.#backoff.gc();
      this.#imageBackoff.gc();
      const live = new Set(
        (await this.#o.runtime.listPodSandboxes(undefined, { signal })).map((s) => s.id as string),
      );
      for (const id of this.#sandboxOwners.keys())
        if (!live.has(id)) this.#sandboxOwners.delete(id);
      await this.#saveBackoff();
    }
  }

  get #backoffFile(): string {
    return join(this.config.dataDir, "kubelet-backoff.json");
  }

  async #loadBackoff(): Promise<void> {
    try {
      const data = JSON.parse(await readFile(this.#backoffFile, "utf8")) as {
        crash?: Parameters<BackOff["load"]>[0];
      };
      if (data.crash !== undefined) this.#backoff.load(data.crash);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      // A corrupt table only loses back-off history; containers restart a little sooner.
      this.#o.logger.warn("back-off table unreadable", { err });
    }
  }

  async #saveBackoff(): Promise<void> {
    const tmp = `${this.#backoffFile}.tmp`;
    await writeFile(tmp, JSON.stringify({ crash: this.#backoff.dump() }));
    await rename(tmp, this.#backoffFile);
  }

  // Node registration

  #nodeObject(): Node {
    const cfg = this.config;
    const memKi = `${String(Math.floor(os.totalmem() / 1024))}Ki`;
    const resources = {
      cpu: String(os.cpus().length),
      memory: memKi,
      pods: "110",
      "ephemeral-storage": "0",
    };
    const arch = process.arch === "x64" ? "amd64" : process.arch;
    return {
      apiVersion: "v1",
      kind: "Node",
      metadata: {
        name: this.nodeName,
        labels: {
          "kubernetes.io/hostname": this.nodeName,
          "kubernetes.io/os": "linux",
          "kubernetes.io/arch": arch,
          "beta.kubernetes.io/os": "linux",
          "beta.kubernetes.io/arch": arch,
        },
      },
      spec: { podCIDR: cfg.podCIDR, podCIDRs: [cfg.podCIDR] },
      status: {
        capacity: resources,
        allocatable: resources,
        conditions: this.#conditions(undefined),
        addresses: [
          { type: "InternalIP", address: cfg.nodeIP },
          { type: "Hostname", address: this.nodeName },
        ],
        daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
        nodeInfo: {
          machineID: "",
          systemUUID: "",
          bootID: "",
          kernelVersion: os.release(),
          osImage: "podrun",
          containerRuntimeVersion: RUNTIME_VERSION,
          kubeletVersion: KUBELET_VERSION,
          kubeProxyVersion: KUBELET_VERSION,
          operatingSystem: "linux",
          architecture: arch,
        },
      },
    };
  }

  #conditions(old: NodeCondition[] | undefined): NodeCondition[] {
    const now = rfc3339(this.#o.clock.now());
    const mk = (
      type: string,
      status: "True" | "False",
      reason: string,
      message: string,
    ): NodeCondition => {
      const prev = old?.find((c) => c.type === type);
      return {
        type,
        status,
        lastHeartbeatTime: now,
        lastTransitionTime:
          prev?.status === status && prev.lastTransitionTime !== undefined
            ? prev.lastTransitionTime
            : now,
        reason,
        message,
      };
    };
    return [
      mk(
        "MemoryPressure",
        "False",
        "KubeletHasSufficientMemory",
        "kubelet has sufficient memory available",
      ),
      mk("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
      mk("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
      mk("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ];
  }

  async #registerNode(signal: AbortSignal): Promise<void> {
    const nodes = this.#o.client.nodes();
    const desired = this.#nodeObject();
    try {
      await nodes.create(desired, { signal });
      return;
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    await this.#updateNodeStatus(signal);
  }

  async #updateNodeStatus(signal: AbortSignal): Promise<void> {
    const nodes = this.#o.client.nodes();
    for (let attempt = 0; attempt < 3; attempt++) {
      const current = await nodes.get(this.nodeName, { signal });
      const desired = this.#nodeObject();
      const status = {
        ...current.status,
        ...desired.status,
        conditions: this.#conditions(current.status?.conditions),
      };
      try {
        await nodes.updateStatus({ ...current, status }, { signal });
        return;
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
    }
  }

  async #nodeStatusLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.#o.clock.sleep(this.config.nodeStatusMs, signal);
        await this.#updateNodeStatus(signal);
      } catch (err) {
        if (isAborted(signal)) return;
        if (isNotFound(err)) await this.#registerNode(signal);
        else this.#o.logger.warn("node status update failed", { err });
      }
    }
  }

  async #leaseLoop(signal: AbortSignal): Promise<void> {
    const leases = this.#o.client.leases(LEASE_NAMESPACE);
    while (!signal.aborted) {
      try {
        const now = rfc3339Micro(this.#o.clock.now());
        let lease: Lease | undefined;
        try {
          lease = await leases.get(this.nodeName, { signal });
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
        if (lease === undefined) {
          await leases.create(
            {
              apiVersion: "coordination.k8s.io/v1",
              kind: "Lease",
              metadata: { name: this.nodeName, namespace: LEASE_NAMESPACE },
              spec: {
                holderIdentity: this.nodeName,
                leaseDurationSeconds: LEASE_DURATION_SECONDS,
                renewTime: now,
              },
            },
            { signal },
          );
        } else {
          await leases.update(
            {
              ...lease,
              spec: {
                ...lease.spec,
                holderIdentity: this.nodeName,
                leaseDurationSeconds: LEASE_DURATION_SECONDS,
                renewTime: now,
              },
            },
            { signal },
          );
        }
      } catch (err) {
        if (isAborted(signal)) return;
        // Renewal failures are retried on the next tick; the node goes NotReady only after 40 s.
        this.#o.logger.warn("lease renewal failed", { err });
      }
      try {
        await this.#o.clock.sleep(this.config.leaseRenewMs, signal);
      } catch {
        return;
      }
    }
  }
}

async function getOrUndefined<T>(fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

async function readOrEmpty(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw err;
  }
}

/**
 * Requests the projected service-account token of `pod` (upstream kubelet token manager): bound
 * to the pod by name and uid, for `audience` (empty: the API server's own audience).
 */
async function requestPodToken(
  client: KubeletClient,
  pod: Pod,
  audience: string,
  expirationSeconds: number,
): Promise<string> {
  const request = client.serviceAccountToken?.bind(client);
  if (request === undefined) throw new TypeError("client cannot request service account tokens");
  const ns = pod.metadata.namespace ?? "default";
  const sa = pod.spec.serviceAccountName ?? "default";
  let tr: TokenRequest;
  try {
    tr = await request(ns, sa === "" ? "default" : sa, {
      metadata: {},
      spec: {
        audiences: audience === "" ? [] : [audience],
        expirationSeconds,
        boundObjectRef: {
          kind: "Pod",
          apiVersion: "v1",
          name: pod.metadata.name ?? "",
          uid: pod.metadata.uid ?? "",
        },
      },
    });
  } catch (err) {
    // Upstream's wording, which ends up in the FailedMount event.
    throw new Error(`failed to fetch token: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  const token = tr.status?.token ?? "";
  if (token === "") {
    throw new Error(`token request for service account ${ns}/${sa} returned no token`);
  }
  return token;
}

/**
 * Whether two versions of a pod differ in what the kubelet acts on (upstream
 * `podsDifferSemantically`): spec, labels, annotations and the deletion fields. Status and
 * bookkeeping metadata (resourceVersion, managedFields) do not count.
 */
export function podsDifferSemantically(a: Pod, b: Pod): boolean {
  const view = (p: Pod): string =>
    stableJson([
      p.spec,
      p.metadata.labels,
      p.metadata.annotations,
      p.metadata.deletionTimestamp,
      p.metadata.deletionGracePeriodSeconds,
    ]);
  return view(a) !== view(b);
}
