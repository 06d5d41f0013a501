import type { Duplex, Readable, Writable } from "node:stream";

/** Options accepted by every call that waits. */
export interface CallOptions {
  signal?: AbortSignal;
}

/** Opaque sandbox id (64 hex characters). */
export type SandboxId = string & { readonly __brand: "SandboxId" };
/** Opaque container id (64 hex characters). */
export type ContainerId = string & { readonly __brand: "ContainerId" };

/** Where a namespace comes from: a fresh one, the sandbox's, the node's, or another container's. */
export type NamespaceMode = "container" | "pod" | "node" | { target: ContainerId };

/** A host port mapping handled by the CNI `portmap` plugin. */
export interface PortMapping {
  protocol: "TCP" | "UDP" | "SCTP";
  containerPort: number;
  hostPort: number;
  hostIP?: string;
}

/** cgroup limits. Unset fields mean "no limit" / runtime default. */
export interface LinuxResources {
  /** cgroup v1 cpu.shares (v2 weight derived from it, PL-RES-4). */
  cpuShares?: number;
  /** CFS quota in µs per period; unset = unlimited. */
  cpuQuotaUs?: number;
  /** CFS period in µs. @default 100000 */
  cpuPeriodUs?: number;
  memoryLimitBytes?: number;
  pidsLimit?: number;
  oomScoreAdj?: number;
}

/**
 * What the runtime needs to make a sandbox. Pod-agnostic: the kubelet fills it from a Pod.
 * `labels`/`annotations` are opaque and returned by status/list so the caller can rebuild its
 * view after a restart (PL-MAP-4).
 */
export interface SandboxConfig {
  /** Display name, e.g. `<pod>_<namespace>_<uid>_<attempt>`. */
  name: string;
  attempt: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  hostname: string;
  /** Use the node's network (and UTS) namespace. */
  hostNetwork: boolean;
  hostIPC: boolean;
  /** PID namespace of the sandbox: "pod" shares one among all containers; "node" = hostPID. */
  pidMode: "container" | "pod" | "node";
  portMappings: PortMapping[];
  /** cgroup path of the pod, relative to the cgroup root (e.g. `podrun/kubepods/besteffort/pod<uid>`). */
  cgroupParent: string;
  /** Limits on the pod cgroup itself. */
  podResources?: LinuxResources;
  /** Sysctls to set in the sandbox namespaces. */
  sysctls?: Record<string, string>;
}

/** Sandbox lifecycle states. */
export type SandboxState = "ready" | "notready";

/** What the runtime knows about a sandbox. */
export interface SandboxStatus {
  id: SandboxId;
  name: string;
  attempt: number;
  state: SandboxState;
  /** Epoch milliseconds. */
  createdAt: number;
  /** Primary pod IP first; empty for host-network sandboxes. */
  ips: string[];
  hostNetwork: boolean;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** One mount in a container. */
export interface Mount {
  containerPath: string;
  /** Host path for binds; ignored for tmpfs. */
  hostPath: string;
  type?: "bind" | "tmpfs";
  readOnly?: boolean;
  propagation?: "private" | "rslave" | "rshared";
  /** tmpfs size limit. */
  sizeBytes?: number;
}

/** Security settings of a container. */
export interface ContainerSecurity {
  privileged?: boolean;
  /** Capability names without the `CAP_` prefix, as in Kubernetes (`NET_ADMIN`). */
  capabilitiesAdd?: string[];
  capabilitiesDrop?: string[];
  readOnlyRootfs?: boolean;
  noNewPrivileges?: boolean;
}

/**
 * What the runtime needs to make one container instance. argv is final: the kubelet has
 * already combined the image's Entrypoint/Cmd with command/args and expanded `$(VAR)`.
 */
export interface ContainerConfig {
  name: string;
  attempt: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Image reference or id as returned by ImageService (`sha256:…` or a repo tag). */
  image: string;
  argv: string[];
  env: { name: string; value: string }[];
  workingDir?: string;
  /** Numeric ids; when unset, the image's `User` (resolved against its /etc/passwd) or root. */
  user?: { uid: number; gid: number; additionalGids?: number[] };
  /** Image `User` string to resolve when `user` is unset (`1000`, `nobody`, `1000:1000`). */
  imageUser?: string;
  /**
   * Group ids the process gets on top of its user's own groups (CRI `SupplementalGroups`: the
   * pod's fsGroup and supplementalGroups), whichever way the user was chosen.
   */
  supplementalGroups?: number[];
  mounts: Mount[];
  /** Absolute path of the CRI-format log file for this instance (PL-LOG-1). */
  logPath: string;
  stdin?: boolean;
  stdinOnce?: boolean;
  tty?: boolean;
  resources?: LinuxResources;
  security?: ContainerSecurity;
  /** PID namespace: own ("container"), the sandbox's ("pod"), the node's, or a target container's. */
  pidMode: NamespaceMode;
  /** Signal name used by stopContainer (`SIGTERM` when unset). */
  stopSignal?: string;
}

/** Container instance states (PL-MAP-3). */
export type ContainerState = "created" | "running" | "exited" | "unknown";

/** What the runtime knows about a container instance. Times are epoch milliseconds. */
export interface ContainerStatus {
  id: ContainerId;
  sandboxId: SandboxId;
  name: string;
  attempt: number;
  state: ContainerState;
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  exitCode?: number;
  /** `OOMKilled` | `StartError` | `Error` | `Completed` for exited instances. */
  reason?: string;
  /** Runtime message (e.g. the OCI error of a StartError). */
  message?: string;
  /** The image as configured. */
  image: string;
  /** The resolved image id (`sha256:…`). */
  imageRef: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  logPath: string;
  /** Host PID of the container's init process while running. */
  pid?: number;
}

/** Result of a synchronous exec. */
export interface ExecResult {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
  timedOut: boolean;
}

/** Options for streaming exec and attach. */
export interface StreamOptions extends CallOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/**
 * A live exec or attach session. `stdin` is present when requested; with a TTY, stderr is
 * merged into stdout. `exitCode` settles when the process (exec) or the session (attach)
 * ends; `close()` ends it early and frees everything. Idempotent close.
 */
export interface StreamSession {
  stdin?: Writable;
  stdout?: Readable;
  stderr?: Readable;
  resize(width: number, height: number): void;
  exitCode: Promise<number>;
  close(): Promise<void>;
}

/** Resource usage of a container from its cgroup. */
export interface ContainerStats {
  timestampMs: number;
  cpuUsageNanos: number;
  memoryWorkingSetBytes: number;
  memoryUsageBytes: number;
}

/** A change the runtime noticed without being asked (PLEG input). */
export interface RuntimeEvent {
  type: "ContainerStarted" | "ContainerExited" | "ContainerDeleted" | "SandboxStopped";
  id: string;
  sandboxId: SandboxId;
  atMs: number;
}

/**
 * Runs sandboxes and containers. Knows nothing of Pods. Calls on different ids may run
 * concurrently; calls on one id are serialized by the implementation.
 *
 * Errors are `RuntimeError`s: NotFound (unknown id), AlreadyExists, InvalidState (e.g. start
 * of a running container), Unavailable, Failed (the underlying tool failed; the error keeps
 * the command, exit code and stderr tail). Aborting a call's signal stops waiting; stop calls
 * escalate to SIGKILL at once and still wait for the exit.
 */
export interface RuntimeService {
  /** Creates and starts a sandbox (namespaces, pause process, network). Returns its id. */
  runPodSandbox(config: SandboxConfig, opts?: CallOptions): Promise<SandboxId>;
  /** Kills every container of the sandbox, the pause process, and tears down the network. Idempotent. */
  stopPodSandbox(id: SandboxId, opts?: CallOptions): Promise<void>;
  /** Removes a stopped sandbox and all its containers. Idempotent for unknown ids. */
  removePodSandbox(id: SandboxId, opts?: CallOptions): Promise<void>;
  podSandboxStatus(id: SandboxId, opts?: CallOptions): Promise<SandboxStatus>;
  listPodSandboxes(
    filter?: { labels?: Record<string, string> },
    opts?: CallOptions,
  ): Promise<SandboxStatus[]>;

  /** Creates (does not start) a container in the sandbox. */
  createContainer(
    sandbox: SandboxId,
    config: ContainerConfig,
    opts?: CallOptions,
  ): Promise<ContainerId>;
  /** Starts a created container; a failure leaves it exited with reason StartError, exit 128, and throws. */
  startContainer(id: ContainerId, opts?: CallOptions): Promise<void>;
  /** Stop signal, up to `graceMs`, then SIGKILL; resolves after the exit. Idempotent. */
  stopContainer(id: ContainerId, graceMs: number, opts?: CallOptions): Promise<void>;
  /** Removes an exited container (bundle, rootfs, state). Running ones are killed first. Idempotent. */
  removeContainer(id: ContainerId, opts?: CallOptions): Promise<void>;
  containerStatus(id: ContainerId, opts?: CallOptions): Promise<ContainerStatus>;
  listContainers(
    filter?: { sandboxId?: SandboxId; labels?: Record<string, string> },
    opts?: CallOptions,
  ): Promise<ContainerStatus[]>;

  /** Runs `argv` in the container; kills it after `timeoutMs` (timedOut=true). */
  execSync(
    id: ContainerId,
    argv: string[],
    timeoutMs: number,
    opts?: CallOptions,
  ): Promise<ExecResult>;
  /** Starts `argv` in the container with streams. */
  exec(id: ContainerId, argv: string[], opts: StreamOptions): Promise<StreamSession>;
  /** Attaches to the container's main process streams. */
  attach(id: ContainerId, opts: StreamOptions): Promise<StreamSession>;
  /** Opens a TCP connection to `port` inside the sandbox's network namespace. */
  portForward(sandbox: SandboxId, port: number, opts?: CallOptions): Promise<Duplex>;
  /** Makes the supervisor reopen the log file (after rotation renamed it). */
  reopenContainerLog(id: ContainerId, opts?: CallOptions): Promise<void>;
  containerStats(id: ContainerId, opts?: CallOptions): Promise<ContainerStats>;
  /** Container exits and other changes as they happen, until the signal aborts. */
  events(opts: { signal: AbortSignal }): AsyncIterable<RuntimeEvent>;
}

/** Image configuration fields the kubelet uses (PL-IMG-8). */
export interface ImageConfig {
  entrypoint: string[];
  cmd: string[];
  env: string[];
  workingDir: string;
  user: string;
  stopSignal: string;
  exposedPorts: string[];
}

/** An image in the local store. */
export interface Image {
  /** `sha256:<config digest>`. */
  id: string;
  /** Normalized references, e.g. `docker.io/library/busybox:latest`. */
  repoTags: string[];
  /** `docker.io/library/busybox@sha256:<manifest digest>`. */
  repoDigests: string[];
  sizeBytes: number;
  config: ImageConfig;
}

/** Registry credentials for one pull. */
export interface AuthConfig {
  username?: string;
  password?: string;
  auth?: string;
  identityToken?: string;
  registryToken?: string;
}

/** Pull progress, for terminals. */
export interface PullProgress {
  layer: string;
  currentBytes: number;
  totalBytes: number;
}

/**
 * The local image store: pull, import, inspect, remove. Pulls of the same reference are
 * coalesced. Errors: RuntimeError NotFound (unknown image/manifest), Failed (registry or
 * digest errors, with the cause), Unavailable (registry unreachable).
 */
export interface ImageService {
  /** Pulls `ref` (normalized or not) and returns the image id. */
  pullImage(
    ref: string,
    opts?: CallOptions & { auth?: AuthConfig; onProgress?: (p: PullProgress) => void },
  ): Promise<string>;
  /** The image for a reference or id, or undefined when absent. */
  imageStatus(ref: string, opts?: CallOptions): Promise<Image | undefined>;
  listImages(opts?: CallOptions): Promise<Image[]>;
  /** Removes the image (tags and unreferenced layers). NotFound for unknown refs. */
  removeImage(ref: string, opts?: CallOptions): Promise<void>;
  /** Imports an OCI layout directory, OCI archive or docker-save archive; returns image ids. */
  importImages(path: string, opts?: CallOptions): Promise<string[]>;
}
