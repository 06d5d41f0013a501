import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import {
  canonicalQuantity,
  type ConfigMap,
  type Container,
  type DownwardAPIVolumeFile,
  type KeyToPath,
  type Pod,
  type Secret,
  type Volume,
  type VolumeProjection,
} from "../../api/index.js";
import type { Mount } from "../../runtime/index.js";
import { abortReason, settleBoth, type Clock, type Logger } from "../../util/index.js";
import {
  ContainerConfigError,
  expandVars,
  extractMetadataField,
  resourceFieldValue,
  type EnvDeps,
} from "../env.js";
import { intValue } from "../resources.js";
import { isCode, writeAtomic, type FileProjection } from "./atomic-writer.js";
import { SystemMounter, type Mounter } from "./mounter.js";
import { fsGroupMode, setVolumeOwnership } from "./ownership.js";
import { diskUsageBytes, mountUsageBytes } from "./usage.js";

export { SystemMounter, type Mounter } from "./mounter.js";
export { writeAtomic, type FileProjection } from "./atomic-writer.js";
export { setVolumeOwnership, type FsGroupChangePolicy } from "./ownership.js";

/** Where volume contents come from. Getters resolve undefined for a missing object. */
export interface VolumeSources {
  getConfigMap(ns: string, name: string): Promise<ConfigMap | undefined>;
  getSecret(ns: string, name: string): Promise<Secret | undefined>;
  /** Issues a service-account token; when absent, projected token files are skipped. */
  serviceAccountToken?(pod: Pod, audience: string, expirationSeconds: number): Promise<string>;
  /** Cluster CA bundle: the `ca.crt` of `kube-root-ca.crt` when that ConfigMap is absent. */
  caPem?: string;
}

/** Options of {@link VolumeManager}. */
export interface VolumeManagerOptions {
  /** Root of the pod directories (`<podsDir>/<uid>/volumes/…`, PL-VOL-1). */
  podsDir: string;
  sources: VolumeSources;
  logger: Logger;
  clock: Clock;
  /** tmpfs mounts. @default new SystemMounter() */
  mounter?: Mounter;
  /** Node allocatable, for memory emptyDir sizes and downwardAPI resource files. @default unset (no cap) */
  nodeAllocatable?: EnvDeps["nodeAllocatable"];
}

/** An emptyDir whose usage exceeds its `sizeLimit` (upstream eviction manager). */
export interface EmptyDirLimitExceeded {
  volume: string;
  /** The limit as the API prints it (`10Mi`). */
  sizeLimit: string;
  usedBytes: number;
  /** The eviction message: `Usage of EmptyDir volume "<v>" exceeds the limit "<limit>". ` */
  message: string;
}

/** How long a measured emptyDir usage is reused, so bursts of pod syncs walk a volume once. */
const USAGE_CACHE_MS = 2000;

/**
 * A volume could not be set up. `message` is the FailedMount event text
 * (`MountVolume.SetUp failed for volume "<vol>" : <detail>`, PL-EVT); `detail` is the cause text.
 */
export class VolumeSetupError extends Error {
  readonly volume: string;
  readonly detail: string;
  constructor(volume: string, detail: string, options?: ErrorOptions) {
    super(`MountVolume.SetUp failed for volume "${volume}" : ${detail}`, options);
    this.name = "VolumeSetupError";
    this.volume = volume;
    this.detail = detail;
  }
}

/** Plugin directory names (PL-VOL-1). */
export type VolumePlugin =
  | "kubernetes.io~empty-dir"
  | "kubernetes.io~host-path"
  | "kubernetes.io~configmap"
  | "kubernetes.io~secret"
  | "kubernetes.io~downward-api"
  | "kubernetes.io~projected";

/** The plugin of a volume, or undefined for unsupported kinds. */
export function volumePlugin(v: Volume): VolumePlugin | undefined {
  if (v.emptyDir !== undefined) return "kubernetes.io~empty-dir";
  if (v.hostPath !== undefined) return "kubernetes.io~host-path";
  if (v.configMap !== undefined) return "kubernetes.io~configmap";
  if (v.secret !== undefined) return "kubernetes.io~secret";
  if (v.downwardAPI !== undefined) return "kubernetes.io~downward-api";
  if (v.projected !== undefined) return "kubernetes.io~projected";
  return undefined;
}

const DEFAULT_MODE = 0o644;
const DEFAULT_TOKEN_EXPIRATION_SECONDS = 3600;
/** Upstream kubelet token manager: refresh once 80% of the token's lifetime has passed… */
const TOKEN_REFRESH_FRACTION = 0.8;
/** …or once the token is older than a day, whatever its lifetime. */
const TOKEN_MAX_AGE_MS = 24 * 60 * 60 * 1000;

/** A projected token the kubelet holds, with the times that decide its rotation. */
interface CachedToken {
  token: string;
  issuedAtMs: number;
  expiresAtMs: number;
}

/** `iat`/`exp` of a JWT, undefined when the token is not a readable JWT. */
function jwtTimes(token: string): { iatMs: number; expMs: number } | undefined {
  const payload = token.split(".")[1];
  if (payload === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
    if (typeof v !== "object" || v === null) return undefined;
    const { iat, exp } = v as Record<string, unknown>;
    if (typeof iat !== "number" || typeof exp !== "number" || exp <= iat) return undefined;
    return { iatMs: iat * 1000, expMs: exp * 1000 };
  } catch {
    // Opaque (non-JWT) token: the caller falls back to the requested lifetime.
    return undefined;
  }
}
const KUBE_ROOT_CA = "kube-root-ca.crt";

const PROPAGATION: Record<string, Mount["propagation"]> = {
  None: "private",
  HostToContainer: "rslave",
  Bidirectional: "rshared",
};

/**
 * Sets up, refreshes and tears down pod volumes below `podsDir` (PL-VOL-1..12).
 *
 * Concurrency: calls for one pod UID are serialized internally (setUp, refresh, tearDown); calls for different pods run concurrently. setUp and refresh are idempotent:
 * existing directories and mounts are kept, projected content is rewritten only when it changed.
 * An aborted signal stops between volumes with the signal's reason. Setup failures are
 * VolumeSetupError (one per call: the first volume that failed); I/O failures during tearDown
 * are rethrown with the path.
 */
export class VolumeManager {
  readonly #podsDir: string;
  readonly #sources: VolumeSources;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #mounter: Mounter;
  readonly #allocatable: EnvDeps["nodeAllocatable"] | undefined;
  readonly #locks = new Map<string, Promise<void>>();
  /** Projected tokens by `<pod uid>|<audience>|<expirationSeconds>`; dropped on tearDown. */
  readonly #tokens = new Map<string, CachedToken>();
  /** Volume dirs whose fsGroup ownership this manager applied (PL-VOL fsGroup); dropped on tearDown. */
  readonly #owned = new Set<string>();
  /** Last emptyDir usage measured, by volume dir; dropped on tearDown. */
  readonly #usageCache = new Map<string, { atMs: number; bytes: number }>();

  constructor(opts: VolumeManagerOptions) {
    if (!path.isAbsolute(opts.podsDir)) {
      throw new RangeError(`podsDir ${JSON.stringify(opts.podsDir)} must be absolute`);
    }
    this.#podsDir = opts.podsDir;
    this.#sources = opts.sources;
    this.#logger = opts.logger;
    this.#clock = opts.clock;
    this.#mounter = opts.mounter ?? new SystemMounter();
    this.#allocatable = opts.nodeAllocatable;
  }

  /**
   * The first emptyDir of the pod (in `spec.volumes` order) whose usage is above its
   * positive `sizeLimit`, as upstream's eviction manager checks it (`emptyDirLimitEviction`):
   * disk-backed volumes are measured like `du -x`; memory-backed ones by their tmpfs usage
   * (which the tmpfs size, capped at the limit, normally keeps from exceeding it). A
   * measurement is reused for up to 2 s. Volumes not set up yet count as empty. Safe to call
   * concurrently with setUp/refresh; never changes anything on disk.
   */
  async emptyDirLimitExceeded(pod: Pod): Promise<EmptyDirLimitExceeded | undefined> {
    for (const v of pod.spec.volumes ?? []) {
      const q = v.emptyDir?.sizeLimit;
      if (q === undefined) continue;
      const limitBytes = intValue(q);
      if (!(limitBytes > 0)) continue;
      const used = await this.#usage(this.volumeDir(pod, v), v.emptyDir?.medium === "Memory");
      if (used > limitBytes) {
        const sizeLimit = canonicalQuantity(q);
        return {
          volume: v.name,
          sizeLimit,
          usedBytes: used,
          message: `Usage of EmptyDir volume ${JSON.stringify(v.name)} exceeds the limit ${JSON.stringify(sizeLimit)}. `,
        };
      }
    }
    return undefined;
  }

  async #usage(dir: string, isMemory: boolean): Promise<number> {
    const now = this.#clock.now();
    const cached = this.#usageCache.get(dir);
    if (cached !== undefined && now - cached.atMs < USAGE_CACHE_MS) return cached.bytes;
    let bytes: number;
    if (isMemory && (await this.#mounter.isMountPoint(dir))) bytes = await mountUsageBytes(dir);
    else bytes = await diskUsageBytes(dir);
    this.#usageCache.set(dir, { atMs: now, bytes });
    return bytes;
  }

  /** `<podsDir>/<uid>`. */
  podDir(podUid: string): string {
    return path.join(this.#podsDir, podUid);
  }

  /** Host directory of one volume (PL-VOL-1); a hostPath volume's own path. */
  volumeDir(pod: Pod, v: Volume): string {
    if (v.hostPath !== undefined) return v.hostPath.path;
    const plugin = volumePlugin(v) ?? "kubernetes.io~unsupported";
    return path.join(this.podDir(pod.metadata.uid ?? ""), "volumes", plugin, v.name);
  }

  /**
   * Makes every volume of the pod ready (PL-VOL-2): emptyDir dirs/tmpfs, hostPath type checks,
   * configMap/secret/downwardAPI/projected contents through the atomic writer.
   */
  setUp(pod: Pod, signal: AbortSignal): Promise<void> {
    return this.#serialize(pod.metadata.uid ?? "", async () => {
      for (const v of pod.spec.volumes ?? []) {
        if (signal.aborted) throw abortReason(signal);
        await this.#setUpVolume(pod, v, signal);
      }
    });
  }

  /**
   * Re-projects ConfigMap/Secret/downwardAPI/projected contents (PL-VOL-8). Projected
   * service-account tokens are re-requested once 80% of their lifetime (or a day) has passed,
   * as upstream's kubelet token manager does; until then the held token is written again.
   */
  refresh(pod: Pod, signal: AbortSignal): Promise<void> {
    return this.#serialize(pod.metadata.uid ?? "", async () => {
      for (const v of pod.spec.volumes ?? []) {
        if (signal.aborted) throw abortReason(signal);
        if (v.emptyDir !== undefined || v.hostPath !== undefined) continue;
        await this.#setUpVolume(pod, v, signal);
      }
    });
  }

  /**
   * The runtime mounts of one container, in `volumeMounts` order (PL-VOL-10/11). The managed
   * /etc/hosts, resolv.conf and hostname files are the caller's (PL-DNS-10).
   * configMap/secret/downwardAPI/projected volumes are always read-only. `subPath`/`subPathExpr`
   * (expanded from `env`) are created when missing and must stay inside the volume.
   * Throws ContainerConfigError (CreateContainerConfigError) for bad sub-paths or unknown volumes.
   */
  mountsFor(pod: Pod, container: Container, env: Map<string, string>): Mount[] {
    const volumes = new Map((pod.spec.volumes ?? []).map((v) => [v.name, v]));
    const out: Mount[] = [];
    for (const vm of container.volumeMounts ?? []) {
      const v = volumes.get(vm.name);
      if (v === undefined || volumePlugin(v) === undefined) {
        throw new ContainerConfigError(
          `cannot find volume "${vm.name}" to mount into container "${container.name}"`,
        );
      }
      let hostPath = this.volumeDir(pod, v);
      let subPath = vm.subPath ?? "";
      if (vm.subPathExpr !== undefined && vm.subPathExpr !== "") {
        subPath = expandSubPathExpr(vm.subPathExpr, env);
      }
      if (subPath !== "") hostPath = prepareSubPath(hostPath, subPath);
      const isProjection =
        v.configMap !== undefined ||
        v.secret !== undefined ||
        v.downwardAPI !== undefined ||
        v.projected !== undefined;
      const m: Mount = {
        containerPath: vm.mountPath,
        hostPath,
        type: "bind",
        readOnly: vm.readOnly === true || isProjection,
      };
      const prop = PROPAGATION[vm.mountPropagation ?? "None"];
      if (prop !== undefined) m.propagation = prop;
      out.push(m);
    }
    return out;
  }

  /** Unmounts every mount below the pod directory and removes it. Idempotent. */
  tearDown(podUid: string): Promise<void> {
    return this.#serialize(podUid, async () => {
      const dir = this.podDir(podUid);
      for (const m of await this.#mounter.mountsUnder(dir)) {
        await this.#mounter.unmount(m);
      }
      await fsp.rm(dir, { recursive: true, force: true });
      for (const k of this.#tokens.keys()) if (k.startsWith(`${podUid}|`)) this.#tokens.delete(k);
      for (const d of this.#owned) if (d.startsWith(dir + "/")) this.#owned.delete(d);
      for (const d of this.#usageCache.keys())
        if (d.startsWith(dir + "/")) this.#usageCache.delete(d);
      this.#logger.debug("pod volumes removed", { podUid });
    });
  }

  async #serialize(uid: string, fn: () => Promise<void>): Promise<void> {
    const prev = this.#locks.get(uid) ?? Promise.resolve();
    // The next call waits for this one whatever its outcome; the outcome goes to our caller.
    const next = prev.then(fn, fn);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    this.#locks.set(uid, settled);
    try {
      await next;
    } finally {
      if (this.#locks.get(uid) === settled) this.#locks.delete(uid);
    }
  }

  async #setUpVolume(pod: Pod, v: Volume, signal: AbortSignal): Promise<void> {
    try {
      await this.#setUpVolumeInner(pod, v, signal);
    } catch (err) {
      if (err instanceof VolumeSetupError || signal.aborted) throw err;
      const detail = err instanceof Error ? err.message : String(err);
      throw new VolumeSetupError(v.name, detail, { cause: err });
    }
  }

  async #setUpVolumeInner(pod: Pod, v: Volume, signal: AbortSignal): Promise<void> {
    const dir = this.volumeDir(pod, v);
    const ns = pod.metadata.namespace ?? "default";
    const fsGroup = pod.spec.securityContext?.fsGroup;
    if (v.hostPath !== undefined) {
      await checkHostPath(v.hostPath.path, v.hostPath.type ?? "");
      return;
    }
    if (v.emptyDir !== undefined) {
      await this.#makeDir(dir, 0o777);
      if (v.emptyDir.medium === "Memory") {
        await this.#ensureTmpfs(dir, this.#memoryEmptyDirSize(pod, v), signal);
      }
      // Upstream applies ownership once, when the emptyDir is set up for the pod; a kubelet
      // restart sets it up again, where OnRootMismatch skips the walk of existing content.
      if (fsGroup !== undefined && !this.#owned.has(dir)) {
        await setVolumeOwnership(dir, fsGroup, {
          readOnly: false,
          policy: pod.spec.securityContext?.fsGroupChangePolicy ?? "Always",
        });
        this.#owned.add(dir);
      }
      return;
    }
    if (v.configMap !== undefined) {
      const src = v.configMap;
      await this.#makeDir(dir, 0o777);
      const cm = await this.#getConfigMap(ns, src.name);
      const payload = new Map<string, FileProjection>();
      if (cm === undefined) {
        if (src.optional !== true) throw new Error(`configmap "${src.name}" not found`);
      } else {
        addKeys(
          payload,
          configMapData(cm),
          src.items,
          src.defaultMode ?? DEFAULT_MODE,
          src.optional,
          "configmap references non-existent config key",
        );
      }
      await this.#writeProjection(dir, payload, fsGroup);
      return;
    }
    if (v.secret !== undefined) {
      const src = v.secret;
      const name = src.secretName ?? "";
      await this.#makeDir(dir, 0o777);
      // Secret content never touches the node disk (PL-VOL-6); the secret is read meanwhile.
      const [, secret] = await settleBoth(
        this.#ensureTmpfs(dir, undefined, signal),
        this.#sources.getSecret(ns, name),
      );
      const payload = new Map<string, FileProjection>();
      if (secret === undefined) {
        if (src.optional !== true) throw new Error(`secret "${name}" not found`);
      } else {
        addKeys(
          payload,
          secretData(secret),
          src.items,
          src.defaultMode ?? DEFAULT_MODE,
          src.optional,
          "references non-existent secret key",
        );
      }
      await this.#writeProjection(dir, payload, fsGroup);
      return;
    }
    if (v.downwardAPI !== undefined) {
      await this.#makeDir(dir, 0o777);
      const payload = new Map<string, FileProjection>();
      this.#addDownwardAPI(
        payload,
        pod,
        v.downwardAPI.items ?? [],
        v.downwardAPI.defaultMode ?? DEFAULT_MODE,
      );
      await this.#writeProjection(dir, payload, fsGroup);
      return;
    }
    if (v.projected !== undefined) {
      await this.#makeDir(dir, 0o777);
      // The token request and source reads run while the tmpfs is mounted.
      const [, payload] = await settleBoth(
        this.#ensureTmpfs(dir, undefined, signal),
        this.#projectedPayload(
          pod,
          v.projected.sources ?? [],
          v.projected.defaultMode ?? DEFAULT_MODE,
        ),
      );
      await this.#writeProjection(dir, payload, fsGroup);
      return;
    }
    if (v.persistentVolumeClaim !== undefined) {
      throw new Error("persistentVolumeClaim volumes are not supported on this node");
    }
    throw new Error("unsupported volume type");
  }

  /**
   * Writes a configMap/secret/downwardAPI/projected payload. With an fsGroup the volume is
   * read-only for ownership purposes (upstream `roMask`): files get group read, directories
   * group search and setgid. Modes are raised in the payload itself so that the atomic
   * writer's change detection sees the final modes and does not rewrite on every refresh.
   */
  async #writeProjection(
    dir: string,
    payload: Map<string, FileProjection>,
    fsGroup: number | undefined,
  ): Promise<void> {
    if (fsGroup === undefined) {
      await writeAtomic(dir, payload, this.#clock);
      return;
    }
    for (const [k, f] of payload) {
      payload.set(k, { data: f.data, mode: fsGroupMode(f.mode, false, true) });
    }
    const changed = await writeAtomic(dir, payload, this.#clock, fsGroup);
    if (changed || !this.#owned.has(dir)) {
      await setVolumeOwnership(dir, fsGroup, { readOnly: true, policy: "Always" });
      this.#owned.add(dir);
    }
  }

  async #projectedPayload(
    pod: Pod,
    sources: VolumeProjection[],
    defaultMode: number,
  ): Promise<Map<string, FileProjection>> {
    const ns = pod.metadata.namespace ?? "default";
    const payload = new Map<string, FileProjection>();
    const errors: string[] = [];
    for (const s of sources) {
      try {
        if (s.configMap !== undefined) {
          let cm = await this.#getConfigMap(ns, s.configMap.name);
          if (
            cm === undefined &&
            s.configMap.name === KUBE_ROOT_CA &&
            this.#sources.caPem !== undefined
          ) {
            cm = {
              apiVersion: "v1",
              kind: "ConfigMap",
              metadata: { name: KUBE_ROOT_CA },
              data: { "ca.crt": this.#sources.caPem },
            };
          }
          if (cm === undefined) {
            if (s.configMap.optional !== true)
              throw new Error(`configmap "${s.configMap.name}" not found`);
            continue;
          }
          addKeys(
            payload,
            configMapData(cm),
            s.configMap.items,
            defaultMode,
            s.configMap.optional,
            "configmap references non-existent config key",
          );
        } else if (s.secret !== undefined) {
          const secret = await this.#sources.getSecret(ns, s.secret.name);
          if (secret === undefined) {
            if (s.secret.optional !== true) throw new Error(`secret "${s.secret.name}" not found`);
            continue;
          }
          addKeys(
            payload,
            secretData(secret),
            s.secret.items,
            defaultMode,
            s.secret.optional,
            "references non-existent secret key",
          );
        } else if (s.downwardAPI !== undefined) {
          this.#addDownwardAPI(payload, pod, s.downwardAPI.items ?? [], defaultMode);
        } else if (s.serviceAccountToken !== undefined) {
          const t = s.serviceAccountToken;
          const token = await this.#projectedToken(
            pod,
            t.audience ?? "",
            t.expirationSeconds ?? DEFAULT_TOKEN_EXPIRATION_SECONDS,
          );
          if (token === undefined) continue;
          payload.set(t.path, { data: Buffer.from(token), mode: defaultMode });
        }
      } catch (err) {
        errors.push(err instanceof Error ? err.message : String(err));
      }
    }
    // Upstream aggregates the per-source errors (utilerrors.NewAggregate).
    if (errors.length === 1) throw new Error(errors[0]);
    if (errors.length > 1) throw new Error(`[${errors.join(", ")}]`);
    return payload;
  }

  /** The held token for this pod and projection, re-requested when due for rotation. */
  async #projectedToken(
    pod: Pod,
    audience: string,
    expirationSeconds: number,
  ): Promise<string | undefined> {
    const issue = this.#sources.serviceAccountToken?.bind(this.#sources);
    if (issue === undefined) return undefined;
    const key = `${pod.metadata.uid ?? ""}|${audience}|${String(expirationSeconds)}`;
    const nowMs = this.#clock.now();
    const held = this.#tokens.get(key);
    if (held !== undefined) {
      const refreshAtMs = Math.min(
        held.issuedAtMs + (held.expiresAtMs - held.issuedAtMs) * TOKEN_REFRESH_FRACTION,
        held.issuedAtMs + TOKEN_MAX_AGE_MS,
      );
      if (nowMs < refreshAtMs) return held.token;
    }
    const token = await issue(pod, audience, expirationSeconds);
    const times = jwtTimes(token);
    this.#tokens.set(key, {
      token,
      issuedAtMs: times?.iatMs ?? nowMs,
      expiresAtMs: times?.expMs ?? nowMs + expirationSeconds * 1000,
    });
    return token;
  }

  #addDownwardAPI(
    payload: Map<string, FileProjection>,
    pod: Pod,
    items: DownwardAPIVolumeFile[],
    defaultMode: number,
  ): void {
    for (const item of items) {
      let value = "";
      if (item.fieldRef !== undefined) {
        value = extractMetadataField(pod, item.fieldRef.fieldPath);
      } else if (item.resourceFieldRef !== undefined) {
        const ref = item.resourceFieldRef;
        const all = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
        const c = all.find((x) => x.name === ref.containerName) ?? { name: "" };
        const alloc = this.#allocatable ?? { cpu: 0, memoryBytes: 0, ephemeralStorageBytes: 0 };
        value = resourceFieldValue(c, ref, alloc);
      }
      payload.set(item.path, { data: Buffer.from(value), mode: item.mode ?? defaultMode });
    }
  }

  async #getConfigMap(ns: string, name: string): Promise<ConfigMap | undefined> {
    return this.#sources.getConfigMap(ns, name);
  }

  /** PL-VOL-3: smallest of node allocatable memory, the pod memory limit and sizeLimit. */
  #memoryEmptyDirSize(pod: Pod, v: Volume): number | undefined {
    const sizes: number[] = [];
    if (this.#allocatable !== undefined && this.#allocatable.memoryBytes > 0) {
      sizes.push(this.#allocatable.memoryBytes);
    }
    const limits = pod.spec.containers.map((c) => c.resources?.limits?.["memory"]);
    if (limits.length > 0 && limits.every((l) => l !== undefined)) {
      sizes.push(limits.reduce<number>((a, l) => a + intValue(l), 0));
    }
    const sizeLimit = v.emptyDir?.sizeLimit;
    if (sizeLimit !== undefined && intValue(sizeLimit) > 0) sizes.push(intValue(sizeLimit));
    return sizes.length === 0 ? undefined : Math.min(...sizes);
  }

  async #makeDir(dir: string, mode: number): Promise<void> {
    try {
      await fsp.mkdir(dir, { recursive: false, mode });
      // mkdir's mode is filtered by the umask; emptyDir must be world-writable (PL-VOL-3).
      await fsp.chmod(dir, mode);
    } catch (err) {
      if (isCode(err, "EEXIST")) return;
      if (!isCode(err, "ENOENT")) throw err;
      await fsp.mkdir(path.dirname(dir), { recursive: true, mode: 0o750 });
      await this.#makeDir(dir, mode);
    }
  }

  async #ensureTmpfs(
    dir: string,
    sizeBytes: number | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    if (await this.#mounter.isMountPoint(dir)) return;
    await this.#mounter.mountTmpfs(dir, sizeBytes, { signal });
  }
}

function configMapData(cm: ConfigMap): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(cm.data ?? {})) out.set(k, Buffer.from(v));
  for (const [k, v] of Object.entries(cm.binaryData ?? {})) out.set(k, Buffer.from(v, "base64"));
  return out;
}

function secretData(s: Secret): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(s.stringData ?? {})) out.set(k, Buffer.from(v));
  for (const [k, v] of Object.entries(s.data ?? {})) out.set(k, Buffer.from(v, "base64"));
  return out;
}

/** Adds all keys, or the listed `items`, of an object to a payload (PL-VOL-6/7). */
function addKeys(
  payload: Map<string, FileProjection>,
  data: Map<string, Buffer>,
  items: KeyToPath[] | undefined,
  defaultMode: number,
  optional: boolean | undefined,
  missingKeyText: string,
): void {
  if (items === undefined || items.length === 0) {
    for (const [k, v] of data) payload.set(k, { data: v, mode: defaultMode });
    return;
  }
  for (const item of items) {
    const v = data.get(item.key);
    if (v === undefined) {
      if (optional === true) continue;
      throw new Error(`${missingKeyText}: ${item.key}`);
    }
    payload.set(item.path, { data: v, mode: item.mode ?? defaultMode });
  }
}

const HOST_PATH_KINDS: Record<string, { test: (st: fs.Stats) => boolean; what: string }> = {
  Directory: { test: (st) => st.isDirectory(), what: "a directory" },
  DirectoryOrCreate: { test: (st) => st.isDirectory(), what: "a directory" },
  File: { test: (st) => st.isFile(), what: "a file" },
  FileOrCreate: { test: (st) => st.isFile(), what: "a file" },
  Socket: { test: (st) => st.isSocket(), what: "a socket file" },
  CharDevice: { test: (st) => st.isCharacterDevice(), what: "a character device" },
  BlockDevice: { test: (st) => st.isBlockDevice(), what: "a block device" },
};

/** hostPath type checks with upstream's messages (PL-VOL-4). */
export async function checkHostPath(p: string, type: string): Promise<void> {
  if (type === "") return;
  const kind = HOST_PATH_KINDS[type];
  if (kind === undefined) throw new Error(`hostPath type check failed: unknown type ${type}`);
  let st: fs.Stats | undefined;
  try {
    st = await fsp.stat(p);
  } catch (err) {
    if (!isCode(err, "ENOENT")) throw err;
  }
  if (st === undefined) {
    if (type === "DirectoryOrCreate") {
      await fsp.mkdir(p, { recursive: true, mode: 0o755 });
      await fsp.chmod(p, 0o755);
      return;
    }
    if (type === "FileOrCreate") {
      const fh = await fsp.open(p, "a", 0o644);
      await fh.close();
      await fsp.chmod(p, 0o644);
      return;
    }
    throw new Error(`hostPath type check failed: ${p} is not ${kind.what}`);
  }
  if (!kind.test(st)) throw new Error(`hostPath type check failed: ${p} is not ${kind.what}`);
}

/** Expands a subPathExpr (upstream `ExpandContainerVolumeMounts`): undefined or empty names fail. */
function expandSubPathExpr(expr: string, env: Map<string, string>): string {
  const missing = new Set<string>();
  const lookup = new Map<string, string>();
  for (const m of expr.matchAll(/\$\(([^)]*)\)/g)) {
    const name = m[1] ?? "";
    const v = env.get(name);
    if (v === undefined || v === "") missing.add(name);
    lookup.set(name, v ?? "");
  }
  if (missing.size > 0) {
    throw new ContainerConfigError(`missing value for ${[...missing].sort().join(", ")}`);
  }
  return expandVars(expr, lookup);
}

/**
 * Resolves `subPath` inside `volumeDir` (PL-VOL-10): relative, no `..`, created as a
 * directory when missing, and its real path (after symlinks) must stay inside the volume.
 */
function prepareSubPath(volumeDir: string, subPath: string): string {
  if (path.isAbsolute(subPath)) {
    throw new ContainerConfigError(
      `unable to provision SubPath \`${subPath}\`: must be a relative path`,
    );
  }
  if (subPath.split("/").includes("..")) {
    throw new ContainerConfigError(
      `unable to provision SubPath \`${subPath}\`: must not contain '..'`,
    );
  }
  const full = path.join(volumeDir, subPath);
  try {
    const rootReal = fs.realpathSync(volumeDir);
    let real: string;
    try {
      real = fs.realpathSync(full);
    } catch (err) {
      if (!isCode(err, "ENOENT")) throw err;
      // Refuse to create through a symlink that leaves the volume: check the deepest existing parent.
      let parent = path.dirname(full);
      while (!fs.existsSync(parent)) parent = path.dirname(parent);
      const parentReal = fs.realpathSync(parent);
      if (!within(rootReal, parentReal)) throw escapeError(full, volumeDir);
      fs.mkdirSync(full, { recursive: true, mode: 0o755 });
      real = fs.realpathSync(full);
    }
    if (!within(rootReal, real)) throw escapeError(full, volumeDir);
    return real;
  } catch (err) {
    if (err instanceof ContainerConfigError) throw err;
    const msg = err instanceof Error ? err.message : String(err);
    throw new ContainerConfigError(`failed to prepare subPath \`${subPath}\`: ${msg}`, {
      cause: err,
    });
  }
}

function within(root: string, p: string): boolean {
  return p === root || p.startsWith(root + "/");
}

function escapeError(full: string, volumeDir: string): ContainerConfigError {
  return new ContainerConfigError(`subpath "${full}" not within volume path "${volumeDir}"`);
}
