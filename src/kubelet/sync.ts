import { randomBytes } from "node:crypto";
import { chmod, mkdir, open, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  isConflict,
  isNotFound,
  rfc3339,
  type Container,
  type Pod,
  type PodStatus,
  type Secret,
} from "../api/index.js";
import {
  isRuntimeError,
  type AuthConfig,
  type ContainerConfig,
  type ContainerId,
  type Image,
  type ImageService,
  type Mount,
  type NamespaceMode,
  type PortMapping,
  type RuntimeService,
  type SandboxConfig,
  type SandboxId,
} from "../runtime/index.js";
import { BackOff, type Clock, type Logger } from "../util/index.js";
import { podDnsFiles, type DnsConfig } from "./dns.js";
import { ContainerConfigError, containerArgv, resolveContainerEnv, type EnvDeps } from "./env.js";
import { InvalidImageNameError, parseImageRef } from "./images.js";
import { DockerKeyring, dockerConfigOfSecret, pullWithCredentials } from "./keyring.js";
import { runLifecycleHandler } from "./lifecycle/index.js";
import {
  computePodActions,
  type ContainerToKill,
  type PodActions,
  type ProbeResults,
} from "./pod-actions.js";
import type { ProbedContainer } from "./prober/index.js";
import { containerResources, podCgroupParent, podResources } from "./resources.js";
import {
  ANN_CONTAINER_TYPE,
  ANN_HASH,
  ANN_IMAGE_DIGEST,
  ANN_IMAGE_NAME,
  ANN_POD_GRACE,
  ANN_PORTS,
  ANN_PRESTOP,
  ANN_RESTART_COUNT,
  ANN_TERM_HOST_PATH,
  ANN_TERM_PATH,
  ANN_TERM_POLICY,
  containerHash,
  getRuntimePodStatus,
  stableJson,
  isSidecar,
  LABEL_CONTAINER_NAME,
  LABEL_MANAGED,
  LABEL_POD_NAME,
  LABEL_POD_NAMESPACE,
  LABEL_POD_UID,
  newestInstance,
  podDesc,
  type ContainerKind,
  type RuntimeContainer,
  type RuntimePodStatus,
} from "./runtime-pod.js";
import { generatePodStatus, type StartFailure } from "./status.js";
import { goDuration, type EventSink, type KubeletClient } from "./types.js";

/** The volume manager as the syncer uses it (volumes/VolumeManager satisfies it). */
export interface PodVolumes {
  setUp(pod: Pod, signal: AbortSignal): Promise<void>;
  /**
   * Re-projects the contents of a pod whose volumes are set up (PL-VOL-8; token rotation).
   * Optional: without it every sync calls `setUp` again.
   */
  refresh?(pod: Pod, signal: AbortSignal): Promise<void>;
  mountsFor(pod: Pod, container: Container, env: Map<string, string>): Mount[];
  tearDown(podUid: string): Promise<void>;
  /**
   * An emptyDir of the pod using more than its `sizeLimit`, with the eviction message.
   * Optional: without it sizeLimit is not enforced.
   */
  emptyDirLimitExceeded?(pod: Pod): Promise<{ message: string } | undefined>;
}

/** The prober as the syncer uses it (prober/ProberManager satisfies it). */
export interface PodProber extends ProbeResults {
  updatePod(pod: Pod, containers: ProbedContainer[], podIP: string | undefined): void;
  removePod(uid: string): void;
}

/** Node-wide settings the syncer needs. */
export interface SyncConfig {
  nodeName: string;
  /** `<dataDir>/pods`: per-pod directories (PL-VOL-1). */
  podsDir: string;
  /** Root of container logs (PL-LOG-1). */
  logRoot: string;
  cgroupRoot: string;
  nodeIPs: string[];
  dns: DnsConfig;
  nodeMemoryBytes: number;
  nodeAllocatable: EnvDeps["nodeAllocatable"];
}

/** Options of {@link PodSyncer}. */
export interface PodSyncerOptions {
  runtime: RuntimeService;
  images: ImageService;
  client: KubeletClient;
  recorder: EventSink;
  clock: Clock;
  logger: Logger;
  volumes: PodVolumes;
  prober: PodProber;
  config: SyncConfig;
  /** Container restart back-off (PL-BO-1..4). */
  backoff: BackOff;
  /** Image pull back-off (PL-BO-5). */
  imageBackoff: BackOff;
  /** Services by namespace once read, for env service links (PL-ENV-7/8). */
  listServices: EnvDeps["listServices"];
  /** The node's registry credentials (docker config file), tried after the pod's pull secrets. */
  nodeKeyring?: DockerKeyring;
}

/** What one sync decided for the pod worker. */
export interface SyncOutcome {
  /** False when the sync failed or skipped work (PL-RUN-12: requeue sooner). */
  ok: boolean;
  /** The generated status has a terminal phase: the pod must go through termination. */
  isTerminal: boolean;
  /** Sync again no later than this (e.g. at the active deadline, PL-TERM-9). */
  requeueAfterMs?: number;
}

const DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline";
/** How often emptyDir usage is checked against sizeLimit (upstream eviction housekeeping). */
const EVICTION_CHECK_INTERVAL_MS = 10_000;
/** Grace of a pod evicted for local storage (upstream `immediateEvictionGracePeriodSeconds`). */
const EVICTION_GRACE_SECONDS = 1;
const MIN_STOP_GRACE_MS = 2000;

class StartError extends Error {
  readonly reason: string;
  /** When a retry can succeed (crash back-off expiry), so the sync requeues no later. */
  readonly retryAfterMs: number | undefined;
  constructor(reason: string, message: string, retryAfterMs?: number) {
    super(message);
    this.name = "StartError";
    this.reason = reason;
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * Applies pod plans against the runtime: the "apply" half of plan-then-apply (STYLE.md §10).
 * `syncPod` runs one reconcile pass (PL-RUN-1); `terminatePod` stops everything with grace
 * (PL-TERM); `finishPod` writes the final status and releases resources; `cleanupPod`
 * removes all runtime objects and files of a UID. Safe to call for different pods
 * concurrently; calls for one pod must be serialized by the caller (PodWorkers). Aborting the
 * signal stops waiting for pulls, hooks and runtime calls.
 */
export class PodSyncer {
  readonly #o: PodSyncerOptions;
  /** PL-RUN-9: cached start failures, by pod UID then container name. */
  readonly #startFailures = new Map<string, Map<string, StartFailure>>();
  /** Start times of admitted pods (PL-PHASE-11). */
  readonly #startTimes = new Map<string, string>();
  /** Kubelet decisions forcing Failed (PL-PHASE-7), by UID. */
  readonly #forcedFailures = new Map<string, { reason: string; message: string }>();
  /** Pods (by uid) whose volumes were set up; later syncs only refresh them (PL-VOL-8). */
  readonly #volumesSetUp = new Set<string>();
  /** Last status written, by UID, to skip no-op writes. */
  readonly #lastStatus = new Map<string, string>();
  /** Background volume refreshes in flight, by UID (at most one per pod). */
  readonly #refreshing = new Map<string, Promise<void>>();
  /** Resource version of the last status this syncer wrote, by UID (saves a conflict). */
  readonly #lastRv = new Map<string, string>();
  /** Serializes image pulls node-wide (PL-IMG-6). */
  #pullChain: Promise<unknown> = Promise.resolve();

  constructor(opts: PodSyncerOptions) {
    this.#o = opts;
  }

  /** Start failures cached for the pod (for tests and status). */
  startFailures(uid: string): ReadonlyMap<string, StartFailure> {
    return this.#startFailures.get(uid) ?? new Map<string, StartFailure>();
  }

  /** Restores admission state after a restart: the pod's existing startTime is kept. */
  #admit(pod: Pod): string {
    const uid = pod.metadata.uid ?? "";
    const st = this.#startTimes.get(uid) ?? pod.status?.startTime ?? rfc3339(this.#o.clock.now());
    this.#startTimes.set(uid, st);
    return st;
  }

  /** True when activeDeadlineSeconds has passed since startTime (PL-TERM-9). */
  isPastActiveDeadline(pod: Pod): boolean {
    const ads = pod.spec.activeDeadlineSeconds;
    if (ads === undefined) return false;
    const st = this.#startTimes.get(pod.metadata.uid ?? "") ?? pod.status?.startTime;
    if (st === undefined) return false;
    return this.#o.clock.now() - Date.parse(st) >= ads * 1000;
  }

  /**
   * One reconcile pass (PL-RUN-1): admit, volumes, plan, kill, prune, sandbox, ephemeral,
   * init and regular containers, then status. Never throws for pod-level problems: they
   * become events, cached start failures and `ok: false`.
   */
  async syncPod(pod: Pod, signal: AbortSignal): Promise<SyncOutcome> {
    const uid = pod.metadata.uid ?? "";
    const startTime = this.#admit(pod);
    const log = this.#o.logger.with({
      pod: `${pod.metadata.namespace ?? ""}/${pod.metadata.name ?? ""}`,
    });

    // Step 0: active deadline (PL-TERM-9).
    if (this.isPastActiveDeadline(pod) && !this.#forcedFailures.has(uid)) {
      this.#forcedFailures.set(uid, { reason: "DeadlineExceeded", message: DEADLINE_MESSAGE });
      this.#o.recorder.event(pod, undefined, "Normal", "DeadlineExceeded", DEADLINE_MESSAGE);
    }
    // Step 0b: emptyDir sizeLimit, enforced by eviction (upstream localStorageEviction).
    let overLimit: { message: string } | undefined;
    if (!this.#forcedFailures.has(uid)) {
      try {
        overLimit = await this.#o.volumes.emptyDirLimitExceeded?.(pod);
      } catch (err) {
        // Best effort, like upstream skipping pods without volume stats: the next pass retries.
        log.warn("emptyDir usage not measured", { err });
      }
    }
    if (overLimit !== undefined) {
      this.#forcedFailures.set(uid, { reason: "Evicted", message: overLimit.message });
      this.#o.recorder.event(pod, undefined, "Warning", "Evicted", overLimit.message);
    }
    if (this.#forcedFailures.has(uid)) return { ok: true, isTerminal: true };

    let ok = true;
    // Step 1: pod directory and volumes (PL-VOL-2).
    const podDir = join(this.#o.config.podsDir, uid);
    await mkdir(podDir, { recursive: true });
    const refresh = this.#o.volumes.refresh?.bind(this.#o.volumes);
    if (refresh !== undefined && this.#volumesSetUp.has(uid)) {
      // Mounted volumes do not block the pod (upstream's remount runs beside the sync, not in
      // it): the refresh runs in the background, one at a time per pod, and a failure is only
      // reported. The volume manager serializes it with a later tearDown.
      if (!this.#refreshing.has(uid)) {
        const done = refresh(pod, signal)
          .catch((err: unknown) => {
            if (signal.aborted) return;
            const msg = err instanceof Error ? err.message : String(err);
            this.#o.recorder.event(pod, undefined, "Warning", "FailedMount", msg);
          })
          .finally(() => this.#refreshing.delete(uid));
        this.#refreshing.set(uid, done);
      }
    }
    // The first set-up of the volumes; a failure reaches the caller as `FailedMount`.
    const volumes =
      refresh !== undefined && this.#volumesSetUp.has(uid)
        ? undefined
        : this.#o.volumes.setUp(pod, signal).then(
            () => {
              this.#volumesSetUp.add(uid);
              return undefined;
            },
            (err: unknown) => {
              if (signal.aborted) throw err;
              return err instanceof Error ? err.message : String(err);
            },
          );
    // Awaited below on every path that gets that far; an abort must not go unhandled meanwhile.
    void volumes?.catch(() => undefined);
    let rs = await getRuntimePodStatus(this.#o.runtime, pod, { signal });
    // A pod's first sandbox is made while its volumes are set up (nothing of the pod runs
    // yet). Otherwise, as upstream, nothing happens before the volumes are ready.
    const isFirstStart = rs.sandboxes.length === 0 && rs.containers.length === 0;
    const mountFailed = async (msg: string): Promise<SyncOutcome> => {
      this.#o.recorder.event(pod, undefined, "Warning", "FailedMount", msg);
      rs = await getRuntimePodStatus(this.#o.runtime, pod, { signal });
      await this.#writeStatus(pod, rs, { startTime, isTerminating: false }, signal);
      return { ok: false, isTerminal: false };
    };
    if (volumes !== undefined && !isFirstStart) {
      const failed = await volumes;
      if (failed !== undefined) return mountFailed(failed);
    }

    // Step 2: plan.
    // Publish what the runtime shows before acting, as upstream SyncPod does: a crash is seen
    // as `Error` before the back-off decision, a blocking postStart as `ContainerCreating`.
    // Like upstream's status manager, the write does not hold up the actions: it runs beside
    // them and every later write of this sync waits for it first (so writes stay in order).
    const early = this.#writeStatus(pod, rs, { startTime, isTerminating: false }, signal);
    // Handled here so a throw in between leaves no unhandled rejection; awaited below.
    void early.catch(() => undefined);
    const writeStatus = async (): Promise<PodStatus> => {
      await early;
      return this.#writeStatus(pod, rs, { startTime, isTerminating: false }, signal);
    };
    const plan = computePodActions(pod, rs, { probes: this.#o.prober });
    log.debug("pod actions", { plan });

    // Step 3: kills.
    if (plan.killPod) {
      if (plan.createSandbox && rs.sandboxes.length > 0)
        this.#o.recorder.event(
          pod,
          undefined,
          "Normal",
          "SandboxChanged",
          "Pod sandbox changed, it will be killed and re-created.",
        );
      await this.#killPod(pod, rs, { reason: "sync", signal });
      if (plan.createSandbox) await this.#purgeInitContainers(rs, signal);
    } else {
      await Promise.all(plan.containersToKill.map((k) => this.#killForPlan(pod, rs, k, signal)));
    }
    if (plan.killPod && !plan.createSandbox) {
      rs = await getRuntimePodStatus(this.#o.runtime, pod, { signal });
      const st = await writeStatus();
      return { ok, isTerminal: st.phase === "Succeeded" || st.phase === "Failed" };
    }

    // Step 4: prune init containers (PL-INIT-6).
    if (plan.initContainersToStart.length > 0 && !plan.createSandbox)
      await this.#pruneInitContainers(rs, signal);

    // Step 5: sandbox.
    let sandboxId = plan.sandboxId;
    let sandboxFailure: { err: unknown } | undefined;
    if (volumes !== undefined && isFirstStart) {
      // Volumes first, as upstream reports them: a sandbox made meanwhile is removed again,
      // so a pod whose volumes fail shows neither a sandbox nor an IP.
      const [failed, made] = await Promise.all([
        volumes,
        plan.createSandbox
          ? this.#createSandbox(pod, plan, signal).then(
              (id) => ({ id }),
              (err: unknown) => ({ err }),
            )
          : undefined,
      ]);
      if (failed !== undefined) {
        await early;
        if (made !== undefined && "id" in made) {
          await this.#o.runtime.stopPodSandbox(made.id, { signal });
          await this.#o.runtime.removePodSandbox(made.id, { signal });
        }
        return mountFailed(failed);
      }
      if (made !== undefined && "id" in made) sandboxId = made.id;
      else sandboxFailure = made;
    } else if (plan.createSandbox) {
      try {
        sandboxId = await this.#createSandbox(pod, plan, signal);
      } catch (err) {
        sandboxFailure = { err };
      }
    }
    if (sandboxFailure !== undefined) {
      const { err } = sandboxFailure;
      if (signal.aborted) throw err;
      const msg = err instanceof Error ? err.message : String(err);
      this.#o.recorder.event(
        pod,
        undefined,
        "Warning",
        "FailedCreatePodSandBox",
        `Failed to create pod sandbox: ${msg}`,
      );
      rs = await getRuntimePodStatus(this.#o.runtime, pod, { signal });
      await writeStatus();
      return { ok: false, isTerminal: false };
    }
    if (sandboxId === undefined) {
      await early;
      return { ok: false, isTerminal: false };
    }
    const sandbox = await this.#o.runtime.podSandboxStatus(sandboxId, { signal });
    const podIPs = pod.spec.hostNetwork === true ? this.#o.config.nodeIPs : sandbox.ips;
    await this.#ensureDnsFiles(pod, podDir, podIPs, plan.createSandbox);
    rs = await getRuntimePodStatus(this.#o.runtime, pod, { signal });

    const ctx: StartContext = { pod, rs, sandboxId, podIPs, podDir, signal };
    // Step 6: ephemeral containers (PL-EPH-4).
    for (const idx of plan.ephemeralToStart) {
      const c = pod.spec.ephemeralContainers?.[idx];
      if (c !== undefined && !(await this.#startContainer(ctx, c, "ephemeral"))) ok = false;
    }
    // Step 7: init containers; a regular init container failing aborts the sync (PL-SIDE-8).
    for (const idx of plan.initContainersToStart) {
      const c = pod.spec.initContainers?.[idx];
      if (c === undefined) continue;
      if (!(await this.#startContainer(ctx, c, "init"))) {
        ok = false;
        if (!isSidecar(c)) break;
      }
    }
    // Step 8: regular containers in spec order (PL-RUN-2).
    for (const idx of plan.containersToStart) {
      const c = pod.spec.containers[idx];
      if (c !== undefined && !(await this.#startContainer(ctx, c, "regular"))) ok = false;
    }

    // Step 9: dead-instance GC (PL-MAP-7), then status and probes.
    rs = await getRuntimePodStatus(this.#o.runtime, pod, { signal });
    if (await this.#gcDeadInstances(rs, signal))
      rs = await getRuntimePodStatus(this.#o.runtime, pod, { signal });
    this.#updateProber(pod, rs);
    const st = await writeStatus();
    const out: SyncOutcome = { ok, isTerminal: st.phase === "Succeeded" || st.phase === "Failed" };
    const ads = pod.spec.activeDeadlineSeconds;
    if (ads !== undefined)
      out.requeueAfterMs = Math.max(0, Date.parse(startTime) + ads * 1000 - this.#o.clock.now());
    // PL-BO-2: retry when the crash back-off expires (the worker caps this at its back-off period).
    if (ctx.retryAfterMs !== undefined)
      out.requeueAfterMs = Math.min(out.requeueAfterMs ?? Infinity, ctx.retryAfterMs);
    if (
      this.#o.volumes.emptyDirLimitExceeded !== undefined &&
      (pod.spec.volumes ?? []).some((v) => v.emptyDir?.sizeLimit !== undefined)
    )
      out.requeueAfterMs = Math.min(out.requeueAfterMs ?? Infinity, EVICTION_CHECK_INTERVAL_MS);
    return out;
  }

  /**
   * Stops every container of the pod with grace (PL-TERM-4..8, PL-SIDE-6) and then its
   * sandboxes. `graceOverrideSeconds` applies to force-deleted pods (PL-TERM-3). Writes the
   * final status unless the pod object is gone.
   */
  async terminatePod(
    pod: Pod,
    opts: { graceOverrideSeconds?: number; podGone?: boolean },
    signal: AbortSignal,
  ): Promise<void> {
    const startTime = this.#admit(pod);
    if (this.isPastActiveDeadline(pod) && !this.#forcedFailures.has(pod.metadata.uid ?? "")) {
      this.#forcedFailures.set(pod.metadata.uid ?? "", {
        reason: "DeadlineExceeded",
        message: DEADLINE_MESSAGE,
      });
      this.#o.recorder.event(pod, undefined, "Normal", "DeadlineExceeded", DEADLINE_MESSAGE);
    }
    let rs = await getRuntimePodStatus(this.#o.runtime, pod, { signal });
    const graceOverrideSeconds =
      opts.graceOverrideSeconds ??
      (this.#forcedFailures.get(pod.metadata.uid ?? "")?.reason === "Evicted"
        ? EVICTION_GRACE_SECONDS
        : undefined);
    await this.#killPod(pod, rs, {
      reason: "terminate",
      signal,
      stopSandboxes: false,
      ...(graceOverrideSeconds !== undefined ? { graceOverrideSeconds } : {}),
    });
    const uid = pod.metadata.uid ?? "";
    this.#o.prober.removePod(uid);
    // The termination message files live in the pod directory the teardown removes: read them
    // now that every container has stopped (PL-TERM-12).
    const terminationMessages =
      opts.podGone === true
        ? undefined
        : await this.#terminationMessages(
            await getRuntimePodStatus(this.#o.runtime, pod, { signal }),
          );
    // Nothing uses the volumes any more: they are torn down while the sandboxes stop and the
    // final status is written (finishPod and cleanupPod then find nothing left to do), which
    // keeps the unmounts off the deletion's critical path.
    const volumesDown = this.#tearDownVolumes(uid);
    void volumesDown.catch(() => undefined);
    for (const s of rs.sandboxes) await this.#o.runtime.stopPodSandbox(s.id, { signal });
    rs = await getRuntimePodStatus(this.#o.runtime, pod, { signal });
    if (terminationMessages !== undefined)
      await this.#writeStatus(
        pod,
        rs,
        { startTime, isTerminating: true, terminationMessages },
        signal,
      );
    await volumesDown;
  }

  /** Tears down the pod's volumes once any background refresh of them has settled. */
  async #tearDownVolumes(uid: string): Promise<void> {
    this.#volumesSetUp.delete(uid);
    await this.#refreshing.get(uid);
    await this.#o.volumes.tearDown(uid);
  }

  /**
   * After termination: tears down volumes and, for a deleted pod, removes the API object with
   * grace 0 and a UID precondition (PL-TERM-7). Idempotent.
   */
  async finishPod(pod: Pod, signal: AbortSignal): Promise<void> {
    const uid = pod.metadata.uid ?? "";
    await this.#tearDownVolumes(uid);
    if (pod.metadata.deletionTimestamp !== undefined) {
      try {
        await this.#o.client.pods(pod.metadata.namespace).delete(pod.metadata.name ?? "", {
          gracePeriodSeconds: 0,
          preconditions: { uid },
          signal,
        });
      } catch (err) {
        // Already gone (or replaced by a pod with another UID): nothing left to delete.
        if (!isNotFound(err) && !isConflict(err)) throw err;
      }
    }
  }

  /**
   * Removes every sandbox, container, log directory and pod directory of `uid` (the pod
   * object is gone). Running containers are stopped with a short grace first. Idempotent.
   */
  async cleanupPod(uid: string, signal: AbortSignal): Promise<void> {
    const labels = { [LABEL_POD_UID]: uid };
    const containers = await this.#o.runtime.listContainers({ labels }, { signal });
    await Promise.all(
      containers
        .filter((c) => c.state === "running" || c.state === "unknown")
        .map((c) => this.#o.runtime.stopContainer(c.id, 1000, { signal })),
    );
    const sandboxes = await this.#o.runtime.listPodSandboxes({ labels }, { signal });
    for (const s of sandboxes) {
      await this.#o.runtime.stopPodSandbox(s.id, { signal });
      await this.#o.runtime.removePodSandbox(s.id, { signal });
    }
    for (const c of containers) await this.#o.runtime.removeContainer(c.id, { signal });
    await this.#tearDownVolumes(uid);
    this.#o.prober.removePod(uid);
    const ns =
      sandboxes[0]?.labels[LABEL_POD_NAMESPACE] ?? containers[0]?.labels[LABEL_POD_NAMESPACE];
    const name = sandboxes[0]?.labels[LABEL_POD_NAME] ?? containers[0]?.labels[LABEL_POD_NAME];
    if (ns !== undefined && name !== undefined)
      await rm(join(this.#o.config.logRoot, `${ns}_${name}_${uid}`), {
        recursive: true,
        force: true,
      });
    await rm(join(this.#o.config.podsDir, uid), { recursive: true, force: true });
    this.#startFailures.delete(uid);
    this.#startTimes.delete(uid);
    this.#forcedFailures.delete(uid);
    this.#lastStatus.delete(uid);
    this.#lastRv.delete(uid);
  }

  /** Generates the status from the runtime and writes it through `pods/status` if changed. */
  async #writeStatus(
    pod: Pod,
    rs: RuntimePodStatus,
    opts: {
      startTime: string;
      isTerminating: boolean;
      /** Read earlier, when the files may be gone by now. @default read from the files */
      terminationMessages?: ReadonlyMap<string, string>;
    },
    signal: AbortSignal,
  ): Promise<PodStatus> {
    const uid = pod.metadata.uid ?? "";
    // The kubelet state as of this call: the write may run beside the sync's actions (the
    // status before acting), which must not leak into it (a crash shows `Error` first).
    const nowMs = this.#o.clock.now();
    const startFailures = new Map(this.startFailures(uid));
    const forcedFailure = this.#forcedFailures.get(uid);
    const terminationMessages = opts.terminationMessages ?? (await this.#terminationMessages(rs));
    const status = generatePodStatus(pod, rs, {
      nowMs,
      probes: this.#o.prober,
      nodeIPs: this.#o.config.nodeIPs,
      startFailures,
      terminationMessages,
      isTerminating: opts.isTerminating,
      forcedFailure,
      startTime: opts.startTime,
    });
    // Compare key-order-insensitively: a status that round-tripped through the API must not
    // look changed, or every write would trigger a watch event and another write.
    const text = stableJson(status);
    if (this.#lastStatus.get(uid) === text || stableJson(pod.status ?? {}) === text) {
      this.#lastStatus.set(uid, text);
      return status;
    }
    const pods = this.#o.client.pods(pod.metadata.namespace);
    // The object this syncer last wrote is newer than `pod` until its watch event arrives:
    // writing against its resourceVersion saves a conflict and a GET.
    const rv = newerResourceVersion(pod.metadata.resourceVersion, this.#lastRv.get(uid));
    let target: Pod =
      rv === undefined || rv === pod.metadata.resourceVersion
        ? { ...pod, status }
        : { ...pod, metadata: { ...pod.metadata, resourceVersion: rv }, status };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const written = await pods.updateStatus(target, { signal });
        const wrv = written.metadata.resourceVersion;
        if (wrv !== undefined) this.#lastRv.set(uid, wrv);
        this.#lastStatus.set(uid, text);
        pod.status = status;
        return status;
      } catch (err) {
        if (isNotFound(err)) return status;
        if (!isConflict(err)) throw err;
        const fresh = await pods.get(pod.metadata.name ?? "", { signal });
        if (fresh.metadata.uid !== uid) return status;
        target = { ...fresh, status };
      }
    }
    this.#o.logger.warn("status update kept conflicting", { pod: pod.metadata.name });
    return status;
  }

  /** Reads termination messages of exited instances (PL-TERM-12). */
  async #terminationMessages(rs: RuntimePodStatus): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const seen = new Map<string, number>();
    for (const c of rs.containers) {
      const n = seen.get(c.containerName) ?? 0;
      seen.set(c.containerName, n + 1);
      if (n >= 2 || c.state !== "exited") continue;
      const hostPath = c.annotations[ANN_TERM_HOST_PATH];
      let msg = hostPath !== undefined ? await readTail(hostPath, 4096) : "";
      if (
        msg === "" &&
        c.annotations[ANN_TERM_POLICY] === "FallbackToLogsOnError" &&
        (c.exitCode ?? 0) !== 0 &&
        c.reason !== "ContainerCannotRun"
      )
        msg = await logTail(c.logPath, 80, 2048);
      if (msg !== "") out.set(c.id, msg);
    }
    return out;
  }

  #updateProber(pod: Pod, rs: RuntimePodStatus): void {
    const seen = new Set<string>();
    const containers: ProbedContainer[] = [];
    for (const c of rs.containers) {
      if (seen.has(c.containerName) || c.kind === "ephemeral") continue;
      seen.add(c.containerName);
      const pc: ProbedContainer = { name: c.containerName, id: c.id, state: c.state };
      if (c.startedAt !== undefined) pc.startedAtMs = c.startedAt;
      containers.push(pc);
    }
    const ip =
      pod.spec.hostNetwork === true
        ? this.#o.config.nodeIPs[0]
        : rs.sandboxes.find((s) => s.state === "ready")?.ips[0];
    this.#o.prober.updatePod(pod, containers, ip);
  }

  // Sandbox

  async #createSandbox(pod: Pod, plan: PodActions, signal: AbortSignal): Promise<SandboxId> {
    const uid = pod.metadata.uid ?? "";
    const name = pod.metadata.name ?? "";
    const ns = pod.metadata.namespace ?? "";
    const dns = podDnsFiles(pod, [], this.#o.config.dns);
    const portMappings: PortMapping[] = [];
    for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers])
      for (const p of c.ports ?? [])
        if (p.hostPort !== undefined && p.hostPort > 0) {
          const m: PortMapping = {
            protocol: p.protocol ?? "TCP",
            containerPort: p.containerPort,
            hostPort: p.hostPort,
          };
          if (p.hostIP !== undefined && p.hostIP !== "") m.hostIP = p.hostIP;
          portMappings.push(m);
        }
    const sysctls: Record<string, string> = {};
    for (const s of pod.spec.securityContext?.sysctls ?? []) sysctls[s.name] = s.value;
    const config: SandboxConfig = {
      name: `${name}_${ns}_${uid}_${String(plan.sandboxAttempt)}`,
      attempt: plan.sandboxAttempt,
      labels: {
        [LABEL_POD_NAME]: name,
        [LABEL_POD_NAMESPACE]: ns,
        [LABEL_POD_UID]: uid,
        [LABEL_MANAGED]: "true",
      },
      annotations: { [ANN_POD_GRACE]: String(pod.spec.terminationGracePeriodSeconds ?? 30) },
      hostname: dns.hostname,
      hostNetwork: pod.spec.hostNetwork === true,
      hostIPC: pod.spec.hostIPC === true,
      pidMode:
        pod.spec.hostPID === true
          ? "node"
          : pod.spec.shareProcessNamespace === true
            ? "pod"
            : "container",
      portMappings,
      cgroupParent: podCgroupParent(pod, this.#o.config.cgroupRoot),
      podResources: podResources(pod),
    };
    if (Object.keys(sysctls).length > 0) config.sysctls = sysctls;
    return this.#o.runtime.runPodSandbox(config, { signal });
  }

  async #ensureDnsFiles(pod: Pod, podDir: string, podIPs: string[], force: boolean): Promise<void> {
    const hostsPath = join(podDir, "etc-hosts");
    if (!force && (await exists(hostsPath))) return;
    const files = podDnsFiles(pod, podIPs, this.#o.config.dns);
    for (const w of files.warnings)
      this.#o.recorder.event(pod, undefined, "Warning", w.reason, w.message);
    await Promise.all([
      writeFile(hostsPath, files.hosts, { mode: 0o644 }),
      writeFile(join(podDir, "resolv.conf"), files.resolvConf, { mode: 0o644 }),
      writeFile(join(podDir, "hostname"), `${files.hostname}\n`, { mode: 0o644 }),
    ]);
  }

  // Killing

  /** Kills every container of the pod (PL-SIDE-6 order) and stops every sandbox. */
  async #killPod(
    pod: Pod,
    rs: RuntimePodStatus,
    opts: {
      reason: "sync" | "terminate";
      signal: AbortSignal;
      graceOverrideSeconds?: number;
      /** False: only the containers (the caller stops the sandboxes). @default true */
      stopSandboxes?: boolean;
    },
  ): Promise<void> {
    const live = latestLive(rs);
    const graceSeconds = Math.max(
      1,
      opts.graceOverrideSeconds ??
        pod.metadata.deletionGracePeriodSeconds ??
        pod.spec.terminationGracePeriodSeconds ??
        30,
    );
    const deadline = this.#o.clock.now() + graceSeconds * 1000;
    const inits = pod.spec.initContainers ?? [];
    const sidecarIndex = (name: string): number =>
      inits.findIndex((c) => c.name === name && isSidecar(c));
    const done = new Map<string, Promise<void>>();
    const regular: Promise<void>[] = [];
    // Sidecars wait for regular containers and for every sidecar declared after them.
    // Regular containers first, then sidecars from last to first, so every container's
    // prerequisites are registered before it.
    const order = (c: RuntimeContainer): number => {
      const si = c.kind === "init" ? sidecarIndex(c.containerName) : -1;
      return si < 0 ? Number.MAX_SAFE_INTEGER : si;
    };
    const sorted = [...live].sort((a, b) => order(b) - order(a));
    for (const c of sorted) {
      const si = c.kind === "init" ? sidecarIndex(c.containerName) : -1;
      const waitFor =
        si >= 0
          ? [
              ...regular,
              ...[...done.entries()].filter(([n]) => sidecarIndex(n) > si).map(([, p]) => p),
            ]
          : [];
      const p = this.#killContainer(pod, c, {
        message: `Stopping container ${c.containerName}`,
        reason: "",
        deadlineMs: deadline,
        waitFor,
        signal: opts.signal,
      });
      done.set(c.containerName, p);
      if (si < 0) regular.push(p);
    }
    await Promise.all(done.values());
    if (opts.stopSandboxes === false) return;
    for (const s of rs.sandboxes)
      await this.#o.runtime.stopPodSandbox(s.id, { signal: opts.signal });
  }

  async #killForPlan(
    pod: Pod,
    rs: RuntimePodStatus,
    k: ContainerToKill,
    signal: AbortSignal,
  ): Promise<void> {
    const rc = rs.containers.find((c) => c.id === k.id);
    if (rc === undefined) return;
    const spec = specOf(pod, rc);
    let graceSeconds =
      pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30;
    const probe =
      k.reason === "LivenessProbe"
        ? spec?.livenessProbe
        : k.reason === "StartupProbe"
          ? spec?.startupProbe
          : undefined;
    if (
      probe?.terminationGracePeriodSeconds !== undefined &&
      pod.metadata.deletionGracePeriodSeconds === undefined
    )
      graceSeconds = probe.terminationGracePeriodSeconds;
    await this.#killContainer(pod, rc, {
      message: k.message,
      reason: k.reason,
      deadlineMs: this.#o.clock.now() + graceSeconds * 1000,
      waitFor: [],
      signal,
    });
  }

  /** PL-TERM-5: Killing event, preStop within grace, wait for ordering, stop. */
  async #killContainer(
    pod: Pod,
    rc: RuntimeContainer,
    opts: {
      message: string;
      reason: string;
      deadlineMs: number;
      waitFor: Promise<void>[];
      signal: AbortSignal;
    },
  ): Promise<void> {
    const clock = this.#o.clock;
    const spec = specOf(pod, rc);
    const fieldPath = fieldPathOf(rc.kind, rc.containerName);
    if (rc.state === "running" || rc.state === "unknown")
      this.#o.recorder.event(pod, fieldPath, "Normal", "Killing", opts.message);
    const preStop = spec?.lifecycle?.preStop;
    const ip = podIP(pod, this.#o.config.nodeIPs);
    if (
      spec !== undefined &&
      preStop !== undefined &&
      rc.state === "running" &&
      opts.deadlineMs - clock.now() > 0
    ) {
      const hookAbort = new AbortController();
      const onAbort = (): void => {
        hookAbort.abort();
      };
      opts.signal.addEventListener("abort", onAbort);
      try {
        const hook = runLifecycleHandler("preStop", preStop, {
          pod,
          container: spec,
          containerId: rc.id,
          ...(ip !== undefined ? { podIP: ip } : {}),
          exec: this.#o.runtime,
          clock,
          signal: hookAbort.signal,
          recorder: this.#o.recorder,
        });
        const timeout = clock
          .sleep(Math.max(0, opts.deadlineMs - clock.now()), hookAbort.signal)
          .then(
            () => ({ ok: true as const }),
            () => ({ ok: true as const }),
          );
        const r = await Promise.race([hook, timeout]);
        hookAbort.abort();
        // PL-HOOK-6: the grace period bounds the hook. A handler that ignores the abort must
        // not hold up the stop signal, so its settlement is only observed here, not awaited.
        void hook.catch((err: unknown) => {
          this.#o.logger.debug("preStop hook ended after abort", { err });
        });
        if (!r.ok)
          this.#o.recorder.event(
            pod,
            fieldPath,
            "Warning",
            "FailedPreStopHook",
            "PreStopHook failed",
          );
      } finally {
        opts.signal.removeEventListener("abort", onAbort);
      }
    }
    if (opts.waitFor.length > 0) {
      const waitAbort = new AbortController();
      const all = Promise.allSettled(opts.waitFor).then(() => undefined);
      await Promise.race([
        all,
        clock
          .sleep(Math.max(0, opts.deadlineMs - clock.now()), waitAbort.signal)
          .catch(() => undefined),
      ]);
      waitAbort.abort();
    }
    if (rc.state === "exited") return;
    const graceMs = Math.max(MIN_STOP_GRACE_MS, opts.deadlineMs - clock.now());
    try {
      await this.#o.runtime.stopContainer(rc.id, graceMs, { signal: opts.signal });
    } catch (err) {
      if (!isRuntimeError(err, "NotFound")) throw err;
    }
  }

  /** PL-SBX-6: all old init-container instances go when a new sandbox follows. */
  async #purgeInitContainers(rs: RuntimePodStatus, signal: AbortSignal): Promise<void> {
    for (const c of rs.containers)
      if (c.kind === "init" && c.state !== "running")
        await this.#o.runtime.removeContainer(c.id, { signal });
  }

  /**
   * PL-MAP-7: keeps the newest exited instance of each regular container and sidecar (it backs
   * `lastState` and `--previous`) and removes older ones with their log files. Returns whether
   * anything was removed.
   */
  async #gcDeadInstances(rs: RuntimePodStatus, signal: AbortSignal): Promise<boolean> {
    const kept = new Set<string>();
    let removed = false;
    for (const c of rs.containers) {
      if (c.state !== "exited" || c.kind === "ephemeral") continue;
      const key = `${c.kind}/${c.containerName}`;
      if (!kept.has(key)) {
        kept.add(key);
        continue;
      }
      await this.#o.runtime.removeContainer(c.id, { signal });
      if (c.logPath !== "") await rm(c.logPath, { force: true });
      const term = c.annotations[ANN_TERM_HOST_PATH];
      if (term !== undefined) await rm(term, { force: true });
      removed = true;
    }
    return removed;
  }

  /** PL-INIT-6: keep only the newest exited instance of each init container. */
  async #pruneInitContainers(rs: RuntimePodStatus, signal: AbortSignal): Promise<void> {
    const kept = new Set<string>();
    for (const c of rs.containers) {
      if (c.kind !== "init" || c.state !== "exited") continue;
      if (!kept.has(c.containerName)) {
        kept.add(c.containerName);
        continue;
      }
      await this.#o.runtime.removeContainer(c.id, { signal });
    }
  }

  // Starting

  async #startContainer(ctx: StartContext, c: Container, kind: ContainerKind): Promise<boolean> {
    const { pod } = ctx;
    const uid = pod.metadata.uid ?? "";
    const failures = this.#startFailures.get(uid) ?? new Map<string, StartFailure>();
    this.#startFailures.set(uid, failures);
    try {
      await this.#startContainerSteps(ctx, c, kind);
      failures.delete(c.name);
      return true;
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      if (err instanceof StartError) {
        failures.set(c.name, { reason: err.reason, message: err.message });
        if (err.retryAfterMs !== undefined)
          ctx.retryAfterMs = Math.min(ctx.retryAfterMs ?? Infinity, err.retryAfterMs);
        return false;
      }
      throw err;
    }
  }

  async #startContainerSteps(ctx: StartContext, c: Container, kind: ContainerKind): Promise<void> {
    const { pod, rs, signal } = ctx;
    const fieldPath = fieldPathOf(kind, c.name);
    const rec = (type: "Normal" | "Warning", reason: string, msg: string): void => {
      this.#o.recorder.event(pod, fieldPath, type, reason, msg);
    };
    const hash = containerHash(c);

    // Step 1: crash back-off (PL-BO-2).
    const lastExited = rs.containers.find(
      (x) => x.containerName === c.name && x.state === "exited",
    );
    if (lastExited !== undefined && kind !== "ephemeral") {
      const key = backoffKey(pod, c.name, hash);
      const eventMs = lastExited.finishedAt ?? lastExited.createdAt;
      if (this.#o.backoff.isInBackOffSince(key, eventMs)) {
        rec(
          "Warning",
          "BackOff",
          `Back-off restarting failed container ${c.name} in pod ${podDesc(pod)}`,
        );
        const delayMs = this.#o.backoff.get(key);
        throw new StartError(
          "CrashLoopBackOff",
          `back-off ${goDuration(delayMs)} restarting failed container=${c.name} pod=${podDesc(pod)}`,
          Math.max(0, eventMs + delayMs - this.#o.clock.now()),
        );
      }
      this.#o.backoff.next(key, eventMs);
    }

    // Step 2: image (PL-IMG).
    const image = await this.#ensureImage(pod, c, rec, signal);

    // Step 3: config.
    const previous = newestInstance(rs, c.name);
    const restartCount =
      previous !== undefined
        ? previous.restartCount + 1
        : await recoverRestartCount(join(this.#o.config.logRoot, logDirName(pod), c.name));
    let config: ContainerConfig;
    try {
      config = await this.#containerConfig(ctx, c, kind, image, restartCount, hash);
    } catch (err) {
      if (err instanceof ContainerConfigError) {
        rec("Warning", "Failed", `Error: ${err.message}`);
        throw new StartError("CreateContainerConfigError", err.message);
      }
      throw err;
    }

    // Step 4: create.
    let id: ContainerId;
    try {
      id = await this.#o.runtime.createContainer(ctx.sandboxId, config, { signal });
    } catch (err) {
      if (signal.aborted) throw err;
      const msg = errText(err);
      rec("Warning", "Failed", `Error: ${msg}`);
      throw new StartError("CreateContainerError", msg);
    }
    rec("Normal", "Created", `Created container: ${c.name}`);

    // Step 5: start.
    try {
      await this.#o.runtime.startContainer(id, { signal });
    } catch (err) {
      if (signal.aborted) throw err;
      const msg = errText(err);
      rec("Warning", "Failed", `Error: ${msg}`);
      throw new StartError("RunContainerError", msg);
    }
    rec("Normal", "Started", `Started container ${c.name}`);

    // Step 6: postStart (PL-HOOK-2/3).
    const postStart = c.lifecycle?.postStart;
    if (postStart !== undefined && kind !== "ephemeral") {
      const ip = ctx.podIPs[0];
      const r = await runLifecycleHandler("postStart", postStart, {
        pod,
        container: c,
        containerId: id,
        ...(ip !== undefined ? { podIP: ip } : {}),
        exec: this.#o.runtime,
        clock: this.#o.clock,
        signal,
        recorder: this.#o.recorder,
      });
      if (!r.ok) {
        rec("Warning", "FailedPostStartHook", "PostStartHook failed");
        const created = await this.#o.runtime.containerStatus(id, { signal });
        const rc: RuntimeContainer = {
          ...created,
          containerName: c.name,
          kind,
          restartCount,
          hash,
        };
        await this.#killContainer(pod, rc, {
          message: "FailedPostStartHook",
          reason: "",
          deadlineMs: this.#o.clock.now() + (pod.spec.terminationGracePeriodSeconds ?? 30) * 1000,
          waitFor: [],
          signal,
        });
        throw new StartError("PostStartHookError", r.message);
      }
    }
  }

  async #ensureImage(
    pod: Pod,
    c: Container,
    rec: (type: "Normal" | "Warning", reason: string, msg: string) => void,
    signal: AbortSignal,
  ): Promise<Image> {
    const spec = c.image ?? "";
    let ref: string;
    let repository: string;
    let hasTagOrDigest: { tag: string | undefined; digest: string | undefined };
    try {
      const parsed = parseImageRef(spec);
      ref = parsed.normalized;
      repository = parsed.repository;
      hasTagOrDigest = { tag: parsed.tag, digest: parsed.digest };
    } catch (err) {
      if (!(err instanceof InvalidImageNameError)) throw err;
      rec("Warning", "InspectFailed", err.message);
      throw new StartError("InvalidImageName", err.message);
    }
    const policy =
      c.imagePullPolicy ??
      (hasTagOrDigest.tag === "latest" ||
      (hasTagOrDigest.tag === undefined && hasTagOrDigest.digest === undefined)
        ? "Always"
        : "IfNotPresent");
    let present: Image | undefined;
    try {
      present = await this.#o.images.imageStatus(ref, { signal });
    } catch (err) {
      if (signal.aborted) throw err;
      const msg = `Failed to inspect image "${spec}": ${errText(err)}`;
      rec("Warning", "InspectFailed", msg);
      throw new StartError("ImageInspectError", msg);
    }
    if (present !== undefined && policy !== "Always") {
      rec("Normal", "Pulled", `Container image "${spec}" already present on machine`);
      return present;
    }
    if (policy === "Never") {
      const msg = `Container image "${spec}" is not present with pull policy of Never`;
      rec("Warning", "ErrImageNeverPull", msg);
      throw new StartError("ErrImageNeverPull", msg);
    }
    const key = `${pod.metadata.uid ?? ""}_${spec}`;
    if (this.#o.imageBackoff.isInBackOffSinceUpdate(key)) {
      const msg = `Back-off pulling image "${spec}"`;
      rec("Normal", "BackOff", msg);
      rec("Warning", "Failed", "Error: ImagePullBackOff");
      throw new StartError("ImagePullBackOff", msg);
    }
    const waitStart = this.#o.clock.now();
    const creds = await this.#pullCredentials(pod, repository, rec);
    const pull = this.#pullChain.then(async () => {
      const pullStart = this.#o.clock.now();
      rec("Normal", "Pulling", `Pulling image "${spec}"`);
      const id = await pullWithCredentials(creds, (auth) =>
        this.#o.images.pullImage(ref, { signal, ...(auth !== undefined ? { auth } : {}) }),
      );
      return { id, pullMs: this.#o.clock.now() - pullStart };
    });
    this.#pullChain = pull.catch(() => undefined);
    let result: { id: string; pullMs: number };
    try {
      result = await pull;
    } catch (err) {
      if (signal.aborted) throw err;
      const msg = errText(err);
      this.#o.imageBackoff.next(key, this.#o.clock.now());
      rec("Warning", "Failed", `Failed to pull image "${spec}": ${msg}`);
      rec("Warning", "Failed", "Error: ErrImagePull");
      // ErrImagePull shows until the next pass, which reports the back-off (ImagePullBackOff),
      // as upstream's next sync does. It comes within the image back-off: the kubelet's own
      // status write triggers no sync, and the worker's back-off may outlast the image's.
      throw new StartError("ErrImagePull", msg, Math.floor(this.#o.imageBackoff.get(key) / 2));
    }
    this.#o.imageBackoff.gc();
    const img = await this.#o.images.imageStatus(result.id, { signal });
    if (img === undefined)
      throw new StartError("ErrImagePull", `image ${result.id} vanished after pull`);
    rec(
      "Normal",
      "Pulled",
      `Successfully pulled image "${spec}" in ${goDuration(result.pullMs)} (${goDuration(this.#o.clock.now() - waitStart)} including waiting). Image size: ${String(img.sizeBytes)} bytes.`,
    );
    return img;
  }

  /**
   * The credentials to try for `repository`: the pod's imagePullSecrets, then the node's
   * keyring (upstream MakeDockerKeyring). Secrets that cannot be read are reported with
   * upstream's `FailedToRetrieveImagePullSecret` event and skipped.
   */
  async #pullCredentials(
    pod: Pod,
    repository: string,
    rec: (type: "Normal" | "Warning", reason: string, msg: string) => void,
  ): Promise<AuthConfig[]> {
    const ns = pod.metadata.namespace ?? "default";
    const failed: string[] = [];
    const creds: AuthConfig[] = [];
    for (const { name } of pod.spec.imagePullSecrets ?? []) {
      if (name === "") continue;
      let secret: Secret | undefined;
      try {
        secret = await this.#o.client.secrets(ns).get(name);
      } catch {
        secret = undefined;
      }
      if (secret === undefined) {
        failed.push(name);
        continue;
      }
      const config = dockerConfigOfSecret(secret);
      if (config !== undefined) creds.push(...DockerKeyring.of(config).lookup(repository));
    }
    if (failed.length > 0) {
      rec(
        "Warning",
        "FailedToRetrieveImagePullSecret",
        `Unable to retrieve some image pull secrets (${failed.join(", ")}); attempting to pull the image may not succeed.`,
      );
    }
    creds.push(...(this.#o.nodeKeyring?.lookup(repository) ?? []));
    return creds;
  }

  async #containerConfig(
    ctx: StartContext,
    c: Container,
    kind: ContainerKind,
    image: Image,
    restartCount: number,
    hash: string,
  ): Promise<ContainerConfig> {
    const { pod } = ctx;
    const uid = pod.metadata.uid ?? "";
    const envDeps: EnvDeps = {
      getConfigMap: async (ns, name) =>
        getOrUndefined(() => this.#o.client.configMaps(ns).get(name)),
      getSecret: async (ns, name) => getOrUndefined(() => this.#o.client.secrets(ns).get(name)),
      listServices: this.#o.listServices,
      nodeName: this.#o.config.nodeName,
      hostIPs: this.#o.config.nodeIPs,
      podIPs: ctx.podIPs,
      nodeAllocatable: this.#o.config.nodeAllocatable,
    };
    const env = await resolveContainerEnv(pod, c, envDeps);
    const argv = containerArgv(c, image.config, env);
    const envMap = new Map(env.map((e) => [e.name, e.value]));
    // PL-ENV-1: the image's Env is the base environment; pod variables override same names.
    const imageEnv = image.config.env
      .map((kv) => {
        const i = kv.indexOf("=");
        return i < 0 ? { name: kv, value: "" } : { name: kv.slice(0, i), value: kv.slice(i + 1) };
      })
      .filter((e) => !envMap.has(e.name));
    const processEnv = [...imageEnv, ...env];

    // User and runAsNonRoot (PL-ENV-1 neighbours).
    const sc = c.securityContext;
    const psc = pod.spec.securityContext;
    const runAsUser = sc?.runAsUser ?? psc?.runAsUser;
    const runAsGroup = sc?.runAsGroup ?? psc?.runAsGroup;
    const runAsNonRoot = sc?.runAsNonRoot ?? psc?.runAsNonRoot;
    if (runAsNonRoot === true) {
      const imgUser = image.config.user.split(":")[0] ?? "";
      const isRoot =
        runAsUser !== undefined
          ? runAsUser === 0
          : imgUser === "" || imgUser === "0" || imgUser === "root";
      if (isRoot)
        throw new ContainerConfigError(
          runAsUser === 0
            ? `container's runAsUser breaks non-root policy (pod: "${podDesc(pod)}", container: ${c.name})`
            : `container has runAsNonRoot and image will run as root (pod: "${podDesc(pod)}", container: ${c.name})`,
        );
    }

    // Mounts: volumes, then the kubelet-managed files (PL-MAP-2).
    const mounts = [...this.#o.volumes.mountsFor(pod, c, envMap)];
    const has = (p: string): boolean => mounts.some((m) => m.containerPath === p);
    if (!has("/etc/hosts"))
      mounts.push({
        containerPath: "/etc/hosts",
        hostPath: join(ctx.podDir, "etc-hosts"),
        type: "bind",
      });
    if (!has("/etc/resolv.conf"))
      mounts.push({
        containerPath: "/etc/resolv.conf",
        hostPath: join(ctx.podDir, "resolv.conf"),
        type: "bind",
      });
    if (!has("/etc/hostname") && pod.spec.hostNetwork !== true)
      mounts.push({
        containerPath: "/etc/hostname",
        hostPath: join(ctx.podDir, "hostname"),
        type: "bind",
      });
    const annotations: Record<string, string> = {
      [ANN_HASH]: hash,
      [ANN_RESTART_COUNT]: String(restartCount),
      [ANN_CONTAINER_TYPE]: kind,
      [ANN_POD_GRACE]: String(pod.spec.terminationGracePeriodSeconds ?? 30),
      [ANN_IMAGE_NAME]: parseImageRef(c.image ?? "").normalized,
      [ANN_IMAGE_DIGEST]: image.repoDigests[0] ?? image.id,
    };
    const termPath = c.terminationMessagePath ?? "/dev/termination-log";
    annotations[ANN_TERM_PATH] = termPath;
    annotations[ANN_TERM_POLICY] = c.terminationMessagePolicy ?? "File";
    const logDir = join(this.#o.config.logRoot, logDirName(pod), c.name);
    const makeLogDir = mkdir(logDir, { recursive: true, mode: 0o755 });
    // Handled here so a failing termination file leaves no unhandled rejection; awaited below.
    void makeLogDir.catch(() => undefined);
    if (termPath !== "") {
      // PL-TERM-11: a fresh empty world-writable file per instance.
      const dir = join(ctx.podDir, "containers", c.name);
      await mkdir(dir, { recursive: true });
      const file = join(dir, randomBytes(4).toString("hex"));
      await writeFile(file, "", { mode: 0o666 });
      await chmod(file, 0o666);
      annotations[ANN_TERM_HOST_PATH] = file;
      if (!has(termPath)) mounts.push({ containerPath: termPath, hostPath: file, type: "bind" });
    }
    if (c.lifecycle?.preStop !== undefined)
      annotations[ANN_PRESTOP] = JSON.stringify(c.lifecycle.preStop);
    if (c.ports !== undefined && c.ports.length > 0)
      annotations[ANN_PORTS] = JSON.stringify(c.ports);

    await makeLogDir;

    let pidMode: NamespaceMode =
      pod.spec.hostPID === true
        ? "node"
        : pod.spec.shareProcessNamespace === true
          ? "pod"
          : "container";
    if (kind === "ephemeral") {
      const target = (pod.spec.ephemeralContainers ?? []).find(
        (e) => e.name === c.name,
      )?.targetContainerName;
      if (target !== undefined && target !== "") {
        const t = newestInstance(ctx.rs, target);
        if (t === undefined)
          throw new ContainerConfigError(`unable to find target container ${target}`);
        pidMode = { target: t.id };
      }
    }
    const config: ContainerConfig = {
      name: c.name,
      attempt: restartCount,
      labels: {
        [LABEL_POD_NAME]: pod.metadata.name ?? "",
        [LABEL_POD_NAMESPACE]: pod.metadata.namespace ?? "",
        [LABEL_POD_UID]: uid,
        [LABEL_CONTAINER_NAME]: c.name,
        [LABEL_MANAGED]: "true",
      },
      annotations,
      image: image.id,
      argv,
      env: processEnv,
      mounts,
      logPath: join(logDir, `${String(restartCount)}.log`),
      pidMode,
    };
    const workingDir = c.workingDir ?? image.config.workingDir;
    if (workingDir !== "") config.workingDir = workingDir;
    if (runAsUser !== undefined) {
      const groups = [...(psc?.supplementalGroups ?? [])];
      if (psc?.fsGroup !== undefined) groups.push(psc.fsGroup);
      config.user = { uid: runAsUser, gid: runAsGroup ?? 0, additionalGids: groups };
    } else {
      if (image.config.user !== "") config.imageUser = image.config.user;
      // The image's user keeps its own groups; fsGroup and supplementalGroups are added.
      const groups = [...(psc?.supplementalGroups ?? [])];
      if (psc?.fsGroup !== undefined) groups.push(psc.fsGroup);
      if (groups.length > 0) config.supplementalGroups = groups;
    }
    if (c.stdin !== undefined) config.stdin = c.stdin;
    if (c.stdinOnce !== undefined) config.stdinOnce = c.stdinOnce;
    if (c.tty !== undefined) config.tty = c.tty;
    if (kind !== "ephemeral")
      config.resources = containerResources(pod, c, this.#o.config.nodeMemoryBytes);
    if (sc !== undefined) {
      const sec: NonNullable<ContainerConfig["security"]> = {};
      if (sc.privileged !== undefined) sec.privileged = sc.privileged;
      if (sc.capabilities?.add !== undefined) sec.capabilitiesAdd = sc.capabilities.add;
      if (sc.capabilities?.drop !== undefined) sec.capabilitiesDrop = sc.capabilities.drop;
      if (sc.readOnlyRootFilesystem !== undefined) sec.readOnlyRootfs = sc.readOnlyRootFilesystem;
      if (sc.allowPrivilegeEscalation === false) sec.noNewPrivileges = true;
      config.security = sec;
    }
    const stopSignal = c.lifecycle?.stopSignal ?? image.config.stopSignal;
    if (stopSignal !== "") config.stopSignal = stopSignal;
    return config;
  }
}

interface StartContext {
  pod: Pod;
  rs: RuntimePodStatus;
  sandboxId: SandboxId;
  podIPs: string[];
  podDir: string;
  signal: AbortSignal;
  /** Earliest crash back-off expiry met in this sync (ms from now), to requeue then. */
  retryAfterMs?: number;
}

/** `<namespace>_<name>_<uid>`: the pod's log directory name (PL-LOG-1). */
export function logDirName(pod: Pod): string {
  return `${pod.metadata.namespace ?? ""}_${pod.metadata.name ?? ""}_${pod.metadata.uid ?? ""}`;
}

/** PL-BO-1 key. */
export function backoffKey(pod: Pod, container: string, hash: string): string {
  return `${pod.metadata.name ?? ""}_${pod.metadata.namespace ?? ""}_${pod.metadata.uid ?? ""}_${container}_${hash}`;
}

function fieldPathOf(kind: ContainerKind, name: string): string {
  const list =
    kind === "init"
      ? "initContainers"
      : kind === "ephemeral"
        ? "ephemeralContainers"
        : "containers";
  return `spec.${list}{${name}}`;
}

function specOf(pod: Pod, rc: RuntimeContainer): Container | undefined {
  const list: Container[] =
    rc.kind === "init"
      ? (pod.spec.initContainers ?? [])
      : rc.kind === "ephemeral"
        ? (pod.spec.ephemeralContainers ?? [])
        : pod.spec.containers;
  return list.find((c) => c.name === rc.containerName);
}

function podIP(pod: Pod, nodeIPs: string[]): string | undefined {
  if (pod.spec.hostNetwork === true) return nodeIPs[0];
  return pod.status?.podIP;
}

/** Newest instance per container name that may still run. */
function latestLive(rs: RuntimePodStatus): RuntimeContainer[] {
  return rs.containers.filter(
    (c) => c.state === "running" || c.state === "unknown" || c.state === "created",
  );
}

/**
 * The newer of two resource versions (the store's revisions are increasing integers); `a` when
 * `b` is missing or either is not a number.
 */
function newerResourceVersion(a: string | undefined, b: string | undefined): string | undefined {
  if (b === undefined || a === undefined) return a;
  const na = Number(a);
  const nb = Number(b);
  return Number.isSafeInteger(na) && Number.isSafeInteger(nb) && nb > na ? b : a;
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function getOrUndefined<T>(fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}

/** PL-RUN-8: 1 + the highest N among `N.log*` files, or 0 without any. */
export async function recoverRestartCount(dir: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw err;
  }
  let max = -1;
  for (const n of names) {
    const m = /^(\d+)\.log/.exec(n);
    if (m?.[1] !== undefined) max = Math.max(max, Number(m[1]));
  }
  return max + 1;
}

/** The last `maxBytes` of a file as text; empty when missing. */
async function readTail(path: string, maxBytes: number): Promise<string> {
  let fh;
  try {
    fh = await open(path, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw err;
  }
  try {
    const { size } = await fh.stat();
    const len = Math.min(size, maxBytes);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    return buf.toString();
  } finally {
    await fh.close();
  }
}

/** The last `lines` log lines (content only), capped at `maxBytes` keeping the tail. */
async function logTail(path: string, lines: number, maxBytes: number): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw err;
  }
  let out = "";
  for (const line of text.split("\n")) {
    const m = /^\S+ (?:stdout|stderr) ([FP]) (.*)$/.exec(line);
    if (m === null) continue;
    out += m[1] === "F" ? `${m[2] ?? ""}\n` : (m[2] ?? "");
  }
  const kept = out.split("\n");
  if (kept[kept.length - 1] === "") kept.pop();
  let tail = kept.slice(-lines).join("\n");
  if (out.endsWith("\n") && tail !== "") tail += "\n";
  const buf = Buffer.from(tail);
  return buf.length > maxBytes ? buf.subarray(buf.length - maxBytes).toString() : tail;
}
