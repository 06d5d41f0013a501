import { createHash } from "node:crypto";
import { appendFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { PassThrough, type Duplex } from "node:stream";
import { SystemClock, type Clock } from "../../util/index.js";
import { RuntimeError } from "../errors.js";
import type {
  CallOptions,
  ContainerConfig,
  ContainerId,
  ContainerStats,
  ContainerStatus,
  ExecResult,
  RuntimeEvent,
  RuntimeService,
  SandboxConfig,
  SandboxId,
  SandboxStatus,
  StreamOptions,
  StreamSession,
} from "../types.js";

/** Names of the RuntimeService methods, for `failNext` and call records. */
export type RuntimeMethod = keyof RuntimeService;

/** One recorded call on a fake. */
export interface RecordedCall {
  method: string;
  args: unknown[];
}

interface FakeSandbox {
  status: SandboxStatus;
  config: SandboxConfig;
}

interface FakeContainer {
  status: ContainerStatus;
  config: ContainerConfig;
}

/** Result of a fake exec: what `execSync` (and `exec`) report for a command. */
export type ExecHandler = (
  container: ContainerStatus,
  argv: string[],
) => { exitCode: number; stdout?: string; stderr?: string; timedOut?: boolean };

/** Options of {@link FakeRuntime}. */
export interface FakeRuntimeOptions {
  /** Time source for created/started/finished stamps. @default new SystemClock() */
  clock?: Clock;
}

/**
 * An in-memory RuntimeService for unit tests. Keeps sandboxes and containers as plain records,
 * records every call, can fail a chosen method once (`failNext`), and offers helpers that
 * simulate what a real node does on its own: a container exiting, a container deleted behind
 * the kubelet's back, a sandbox dying. Every change that a real runtime would report
 * unprompted is published on `events()`.
 *
 * Semantics follow the RuntimeService contract: unknown ids → RuntimeError "NotFound";
 * starting a non-created container → "InvalidState"; stops and removes are idempotent; a
 * failed start (`failNext("startContainer", err)`) leaves the container exited with reason
 * `StartError`, exit code 128 and the error text as message, then throws. Single-threaded;
 * every call completes in one microtask hop.
 */
export class FakeRuntime implements RuntimeService {
  readonly #clock: Clock;
  readonly #sandboxes = new Map<string, FakeSandbox>();
  readonly #containers = new Map<string, FakeContainer>();
  readonly #failures = new Map<string, Error[]>();
  readonly #subscribers = new Set<(ev: RuntimeEvent) => void>();
  #seq = 0;
  #ipSeq = 1;

  /** Every call made, in order. */
  readonly calls: RecordedCall[] = [];
  /** Exit code a container gets when stopped by `stopContainer` or a sandbox stop, by name. @default 137 */
  readonly stopExitCodes = new Map<string, number>();
  /** Answers execSync/exec; default: exit 0 with no output. */
  execHandler: ExecHandler = () => ({ exitCode: 0 });
  /** Calls to reopenContainerLog, by container id. */
  readonly reopenedLogs: ContainerId[] = [];

  constructor(opts: FakeRuntimeOptions = {}) {
    this.#clock = opts.clock ?? new SystemClock();
  }

  /** Makes the next call of `method` throw `err` (queued per method, first in first out). */
  failNext(method: RuntimeMethod, err: Error): void {
    const q = this.#failures.get(method) ?? [];
    q.push(err);
    this.#failures.set(method, q);
  }

  /** Names of recorded calls of `method`, with their arguments. */
  callsOf(method: RuntimeMethod): unknown[][] {
    return this.calls.filter((c) => c.method === method).map((c) => c.args);
  }

  /** The config a container was created with. */
  configOf(id: ContainerId): ContainerConfig {
    return this.#container(id).config;
  }

  /** The config a sandbox was created with. */
  sandboxConfigOf(id: SandboxId): SandboxConfig {
    return this.#sandbox(id).config;
  }

  /** All container records (copies), newest first. */
  allContainers(): ContainerStatus[] {
    return [...this.#containers.values()]
      .map((c) => structuredClone(c.status))
      .sort((a, b) => b.createdAt - a.createdAt);
  }

  /** All sandbox records (copies). */
  allSandboxes(): SandboxStatus[] {
    return [...this.#sandboxes.values()].map((s) => structuredClone(s.status));
  }

  /**
   * Makes a running container exit with `exitCode` (reason Completed/Error, or `reason` if
   * given, e.g. OOMKilled) and publishes ContainerExited. Unknown id: NotFound.
   */
  exitContainer(id: ContainerId, exitCode: number, reason?: string): void {
    const c = this.#container(id);
    if (c.status.state !== "running" && c.status.state !== "created")
      throw new RuntimeError("InvalidState", `container ${id} is ${c.status.state}`);
    this.#markExited(c, exitCode, reason ?? (exitCode === 0 ? "Completed" : "Error"));
  }

  /** Removes a container record as if deleted outside the kubelet; publishes ContainerDeleted. */
  deleteContainerExternally(id: ContainerId): void {
    const c = this.#container(id);
    this.#containers.delete(id);
    this.#emit({
      type: "ContainerDeleted",
      id,
      sandboxId: c.status.sandboxId,
      atMs: this.#clock.now(),
    });
  }

  /** Kills a sandbox's infra process: it becomes notready and its containers exit 137. */
  killSandbox(id: SandboxId): void {
    const s = this.#sandbox(id);
    this.#stopSandbox(s);
  }

  /** Sets a container's state to "unknown" (state unreadable). */
  makeUnknown(id: ContainerId): void {
    this.#container(id).status.state = "unknown";
  }

  /**
   * Appends CRI log lines (PL-LOG-2) to the container's log file, creating its directory.
   * Each string is one full line (`F`) unless `partial` is set.
   */
  writeLog(
    id: ContainerId,
    lines: string[],
    opts: { stream?: "stdout" | "stderr"; partial?: boolean } = {},
  ): void {
    const c = this.#container(id);
    mkdirSync(dirname(c.status.logPath), { recursive: true });
    const stream = opts.stream ?? "stdout";
    const tag = opts.partial === true ? "P" : "F";
    const ts = new Date(this.#clock.now()).toISOString().replace(/\.(\d{3})Z$/, ".$1000000Z");
    appendFileSync(c.status.logPath, lines.map((l) => `${ts} ${stream} ${tag} ${l}\n`).join(""));
  }

  // RuntimeService

  runPodSandbox(config: SandboxConfig, opts?: CallOptions): Promise<SandboxId> {
    return this.#call("runPodSandbox", [config, opts], () => {
      const id = this.#newId("sandbox") as SandboxId;
      const ips = config.hostNetwork ? [] : [`10.244.0.${String(++this.#ipSeq)}`];
      this.#sandboxes.set(id, {
        config: structuredClone(config),
        status: {
          id,
          name: config.name,
          attempt: config.attempt,
          state: "ready",
          createdAt: this.#clock.now(),
          ips,
          hostNetwork: config.hostNetwork,
          labels: { ...config.labels },
          annotations: { ...config.annotations },
        },
      });
      return id;
    });
  }

  stopPodSandbox(id: SandboxId, opts?: CallOptions): Promise<void> {
    return this.#call("stopPodSandbox", [id, opts], () => {
      const s = this.#sandbox(id);
      this.#stopSandbox(s);
    });
  }

  removePodSandbox(id: SandboxId, opts?: CallOptions): Promise<void> {
    return this.#call("removePodSandbox", [id, opts], () => {
      const s = this.#sandboxes.get(id);
      if (s === undefined) return;
      this.#stopSandbox(s);
      for (const [cid, c] of this.#containers)
        if (c.status.sandboxId === id) this.#containers.delete(cid);
      this.#sandboxes.delete(id);
    });
  }

  podSandboxStatus(id: SandboxId, opts?: CallOptions): Promise<SandboxStatus> {
    return this.#call("podSandboxStatus", [id, opts], () =>
      structuredClone(this.#sandbox(id).status),
    );
  }

  listPodSandboxes(
    filter?: { labels?: Record<string, string> },
    opts?: CallOptions,
  ): Promise<SandboxStatus[]> {
    return this.#call("listPodSandboxes", [filter, opts], () =>
      [...this.#sandboxes.values()]
        .filter((s) => matchLabels(s.status.labels, filter?.labels))
        .map((s) => structuredClone(s.status)),
    );
  }

  createContainer(
    sandbox: SandboxId,
    config: ContainerConfig,
    opts?: CallOptions,
  ): Promise<ContainerId> {
    return this.#call("createContainer", [sandbox, config, opts], () => {
      const s = this.#sandbox(sandbox);
      if (s.status.state !== "ready")
        throw new RuntimeError("InvalidState", `sandbox ${sandbox} is not ready`);
      const id = this.#newId("container") as ContainerId;
      this.#containers.set(id, {
        config: structuredClone(config),
        status: {
          id,
          sandboxId: sandbox,
          name: config.name,
          attempt: config.attempt,
          state: "created",
          createdAt: this.#clock.now(),
          image: config.image,
          imageRef: config.image.startsWith("sha256:")
            ? config.image
            : `sha256:${sha256(config.image)}`,
          labels: { ...config.labels },
          annotations: { ...config.annotations },
          logPath: config.logPath,
        },
      });
      return id;
    });
  }

  startContainer(id: ContainerId, opts?: CallOptions): Promise<void> {
    this.calls.push({ method: "startContainer", args: [id, opts] });
    return Promise.resolve().then(() => {
      const c = this.#container(id);
      if (c.status.state !== "created")
        throw new RuntimeError("InvalidState", `container ${id} is ${c.status.state}, not created`);
      const err = this.#takeFailure("startContainer");
      if (err !== undefined) {
        c.status.startedAt = this.#clock.now();
        c.status.message = err.message;
        this.#markExited(c, 128, "StartError");
        throw err;
      }
      c.status.state = "running";
      c.status.startedAt = this.#clock.now();
      c.status.pid = 1000 + this.#seq;
      this.#emit({
        type: "ContainerStarted",
        id,
        sandboxId: c.status.sandboxId,
        atMs: this.#clock.now(),
      });
    });
  }

  stopContainer(id: ContainerId, graceMs: number, opts?: CallOptions): Promise<void> {
    return this.#call("stopContainer", [id, graceMs, opts], () => {
      const c = this.#container(id);
      if (c.status.state === "running" || c.status.state === "unknown")
        this.#markExited(c, this.stopExitCodes.get(c.status.name) ?? 137);
    });
  }

  removeContainer(id: ContainerId, opts?: CallOptions): Promise<void> {
    return this.#call("removeContainer", [id, opts], () => {
      const c = this.#containers.get(id);
      if (c === undefined) return;
      if (c.status.state === "running") this.#markExited(c, 137);
      this.#containers.delete(id);
    });
  }

  containerStatus(id: ContainerId, opts?: CallOptions): Promise<ContainerStatus> {
    return this.#call("containerStatus", [id, opts], () =>
      structuredClone(this.#container(id).status),
    );
  }

  listContainers(
    filter?: { sandboxId?: SandboxId; labels?: Record<string, string> },
    opts?: CallOptions,
  ): Promise<ContainerStatus[]> {
    return this.#call("listContainers", [filter, opts], () =>
      [...this.#containers.values()]
        .filter(
          (c) =>
            (filter?.sandboxId === undefined || c.status.sandboxId === filter.sandboxId) &&
            matchLabels(c.status.labels, filter?.labels),
        )
        .map((c) => structuredClone(c.status)),
    );
  }

  execSync(
    id: ContainerId,
    argv: string[],
    timeoutMs: number,
    opts?: CallOptions,
  ): Promise<ExecResult> {
    return this.#call("execSync", [id, argv, timeoutMs, opts], () => {
      const c = this.#container(id);
      if (c.status.state !== "running")
        throw new RuntimeError("InvalidState", `container ${id} is not running`);
      const r = this.execHandler(structuredClone(c.status), argv);
      return {
        exitCode: r.exitCode,
        stdout: Buffer.from(r.stdout ?? ""),
        stderr: Buffer.from(r.stderr ?? ""),
        timedOut: r.timedOut ?? false,
      };
    });
  }

  exec(id: ContainerId, argv: string[], opts: StreamOptions): Promise<StreamSession> {
    return this.#call("exec", [id, argv, opts], () => {
      const c = this.#container(id);
      if (c.status.state !== "running")
        throw new RuntimeError("InvalidState", `container ${id} is not running`);
      const r = this.execHandler(structuredClone(c.status), argv);
      return fakeSession(opts, r.stdout ?? "", r.stderr ?? "", r.exitCode);
    });
  }

  attach(id: ContainerId, opts: StreamOptions): Promise<StreamSession> {
    return this.#call("attach", [id, opts], () => {
      const c = this.#container(id);
      if (c.status.state !== "running")
        throw new RuntimeError("InvalidState", `container ${id} is not running`);
      return fakeSession(opts, "", "", 0);
    });
  }

  portForward(sandbox: SandboxId, port: number, opts?: CallOptions): Promise<Duplex> {
    return this.#call("portForward", [sandbox, port, opts], () => {
      const s = this.#sandbox(sandbox);
      if (s.status.state !== "ready")
        throw new RuntimeError("InvalidState", `sandbox ${sandbox} is not ready`);
      // An echo stream stands in for a TCP connection inside the sandbox.
      return new PassThrough();
    });
  }

  reopenContainerLog(id: ContainerId, opts?: CallOptions): Promise<void> {
    return this.#call("reopenContainerLog", [id, opts], () => {
      const c = this.#container(id);
      if (c.status.state !== "running")
        throw new RuntimeError("InvalidState", `container ${id} is not running`);
      this.reopenedLogs.push(id);
    });
  }

  containerStats(id: ContainerId, opts?: CallOptions): Promise<ContainerStats> {
    return this.#call("containerStats", [id, opts], () => {
      this.#container(id);
      return {
        timestampMs: this.#clock.now(),
        cpuUsageNanos: 0,
        memoryWorkingSetBytes: 0,
        memoryUsageBytes: 0,
      };
    });
  }

  async *events(opts: { signal: AbortSignal }): AsyncIterable<RuntimeEvent> {
    const buffer: RuntimeEvent[] = [];
    let wake: (() => void) | undefined;
    const push = (ev: RuntimeEvent): void => {
      buffer.push(ev);
      wake?.();
    };
    const onAbort = (): void => wake?.();
    this.#subscribers.add(push);
    opts.signal.addEventListener("abort", onAbort);
    try {
      while (!opts.signal.aborted) {
        const ev = buffer.shift();
        if (ev !== undefined) {
          yield ev;
          continue;
        }
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    } finally {
      this.#subscribers.delete(push);
      opts.signal.removeEventListener("abort", onAbort);
    }
  }

  // internals

  #call<T>(method: RuntimeMethod, args: unknown[], fn: () => T): Promise<T> {
    this.calls.push({ method, args });
    return Promise.resolve().then(() => {
      const signal = args.find(
        (a): a is CallOptions => typeof a === "object" && a !== null && "signal" in a,
      )?.signal;
      signal?.throwIfAborted();
      const err = this.#takeFailure(method);
      if (err !== undefined) throw err;
      return fn();
    });
  }

  #takeFailure(method: string): Error | undefined {
    const q = this.#failures.get(method);
    const err = q?.shift();
    if (q?.length === 0) this.#failures.delete(method);
    return err;
  }

  #container(id: string): FakeContainer {
    const c = this.#containers.get(id);
    if (c === undefined) throw new RuntimeError("NotFound", `container ${id} not found`);
    return c;
  }

  #sandbox(id: string): FakeSandbox {
    const s = this.#sandboxes.get(id);
    if (s === undefined) throw new RuntimeError("NotFound", `sandbox ${id} not found`);
    return s;
  }

  #stopSandbox(s: FakeSandbox): void {
    for (const c of this.#containers.values())
      if (
        c.status.sandboxId === s.status.id &&
        (c.status.state === "running" || c.status.state === "unknown")
      )
        this.#markExited(c, this.stopExitCodes.get(c.status.name) ?? 137);
    if (s.status.state === "ready") {
      s.status.state = "notready";
      this.#emit({
        type: "SandboxStopped",
        id: s.status.id,
        sandboxId: s.status.id,
        atMs: this.#clock.now(),
      });
    }
  }

  #markExited(c: FakeContainer, exitCode: number, reason?: string): void {
    c.status.state = "exited";
    c.status.exitCode = exitCode;
    c.status.finishedAt = this.#clock.now();
    c.status.reason = reason ?? (exitCode === 0 ? "Completed" : "Error");
    delete c.status.pid;
    this.#emit({
      type: "ContainerExited",
      id: c.status.id,
      sandboxId: c.status.sandboxId,
      atMs: this.#clock.now(),
    });
  }

  #emit(ev: RuntimeEvent): void {
    for (const s of this.#subscribers) s(ev);
  }

  #newId(kind: string): string {
    return sha256(`${kind}-${String(++this.#seq)}-${String(this.#clock.now())}`);
  }
}

function sha256(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}

function matchLabels(labels: Record<string, string>, want?: Record<string, string>): boolean {
  if (want === undefined) return true;
  return Object.entries(want).every(([k, v]) => labels[k] === v);
}

function fakeSession(
  opts: StreamOptions,
  out: string,
  errText: string,
  exitCode: number,
): StreamSession {
  const stdout = opts.stdout ? new PassThrough() : undefined;
  const stderr = opts.stderr && !opts.tty ? new PassThrough() : undefined;
  const stdin = opts.stdin ? new PassThrough() : undefined;
  stdout?.end(opts.tty ? out + errText : out);
  stderr?.end(errText);
  const session: StreamSession = {
    resize: () => undefined,
    exitCode: Promise.resolve(exitCode),
    close: () => {
      stdin?.destroy();
      return Promise.resolve();
    },
  };
  if (stdout !== undefined) session.stdout = stdout;
  if (stderr !== undefined) session.stderr = stderr;
  if (stdin !== undefined) session.stdin = stdin;
  return session;
}
