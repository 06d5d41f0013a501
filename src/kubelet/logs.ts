import { createReadStream, createWriteStream } from "node:fs";
import { open, readdir, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { badRequest, type ContainerStatus, type Pod } from "../api/index.js";
import { isRuntimeError, type ContainerId, type RuntimeService } from "../runtime/index.js";
import type { Clock, Logger } from "../util/index.js";
import { parseContainerIdUrl } from "./runtime-pod.js";
import { isAborted } from "./types.js";

/** Pod log options (`GET pods/<name>/log` query, PL-LOG-5). */
export interface PodLogOptions {
  container?: string;
  follow?: boolean;
  previous?: boolean;
  sinceSeconds?: number;
  sinceTime?: string;
  timestamps?: boolean;
  tailLines?: number;
  limitBytes?: number;
}

/** What log reading needs from the runtime. */
export type LogRuntime = Pick<RuntimeService, "containerStatus">;

/** Poll interval while following a log. */
const FOLLOW_POLL_MS = 200;

/**
 * Picks the container instance whose log is read (PL-LOG-6). Throws ApiError BadRequest with
 * the upstream texts when the container is unknown or has no readable instance.
 */
export function selectLogContainer(pod: Pod, opts: PodLogOptions): { name: string; id: string } {
  const podName = pod.metadata.name ?? "";
  let name = opts.container;
  if (name === undefined || name === "") {
    const all = pod.spec.containers.map((c) => c.name);
    if (all.length === 1) name = all[0] ?? "";
    else {
      const inits = (pod.spec.initContainers ?? []).map((c) => c.name);
      const ephs = (pod.spec.ephemeralContainers ?? []).map((c) => c.name);
      let msg = `a container name must be specified for pod ${podName}, choose one of: [${all.join(" ")}]`;
      if (inits.length > 0) msg += ` or one of the init containers: [${inits.join(" ")}]`;
      if (ephs.length > 0) msg += ` or one of the ephemeral containers: [${ephs.join(" ")}]`;
      throw badRequest(msg);
    }
  }
  const st = pod.status;
  const status: ContainerStatus | undefined = [
    ...(st?.containerStatuses ?? []),
    ...(st?.initContainerStatuses ?? []),
    ...(st?.ephemeralContainerStatuses ?? []),
  ].find((s) => s.name === name);
  if (status === undefined)
    throw badRequest(`container "${name}" in pod "${podName}" is not available`);
  const lastId = status.lastState?.terminated?.containerID;
  if (opts.previous === true) {
    if (lastId === undefined || lastId === "")
      throw badRequest(`previous terminated container "${name}" in pod "${podName}" not found`);
    return { name, id: parseContainerIdUrl(lastId) };
  }
  const state = status.state ?? {};
  if (state.running !== undefined && status.containerID !== undefined)
    return { name, id: parseContainerIdUrl(status.containerID) };
  if (state.terminated !== undefined) {
    const id = state.terminated.containerID ?? lastId;
    if (id !== undefined && id !== "") return { name, id: parseContainerIdUrl(id) };
  }
  if (lastId !== undefined && lastId !== "") return { name, id: parseContainerIdUrl(lastId) };
  let reason = state.waiting?.reason ?? "";
  if (reason === "ErrImagePull") reason = "image can't be pulled";
  else if (reason === "ImagePullBackOff") reason = "trying and failing to pull image";
  throw badRequest(`container "${name}" in pod "${podName}" is waiting to start: ${reason}`);
}

interface LogEntry {
  timestamp: string;
  timeMs: number;
  content: Buffer;
}

/** Parses one CRI log line (PL-LOG-2) into its output bytes (PL-LOG-3). */
function parseLine(line: Buffer): LogEntry | undefined {
  const s1 = line.indexOf(0x20);
  if (s1 < 0) return undefined;
  const s2 = line.indexOf(0x20, s1 + 1);
  if (s2 < 0) return undefined;
  const s3 = line.indexOf(0x20, s2 + 1);
  const tag = line.subarray(s2 + 1, s3 < 0 ? line.length : s3).toString();
  const body = s3 < 0 ? Buffer.alloc(0) : line.subarray(s3 + 1);
  const timestamp = line.subarray(0, s1).toString();
  const content = tag.startsWith("P") ? body : Buffer.concat([body, Buffer.from("\n")]);
  return { timestamp, timeMs: Date.parse(timestamp), content };
}

/**
 * Opens a container's log (PL-LOG-3/5/6) with the NodeConnector contract: selection errors
 * (ApiError BadRequest with the upstream texts) are thrown here, before any byte is streamed;
 * the returned stream applies since/tail/limit and timestamps, and with `follow` keeps reading
 * (across rotation: the file is reopened when it shrinks or is replaced) until the container
 * is no longer running or the signal aborts.
 */
export async function openContainerLogs(
  pod: Pod,
  opts: PodLogOptions,
  deps: { runtime: LogRuntime; clock: Clock },
  signal: AbortSignal,
): Promise<AsyncIterable<Uint8Array>> {
  const sel = selectLogContainer(pod, opts);
  let logPath: string;
  try {
    logPath = (await deps.runtime.containerStatus(sel.id as ContainerId, { signal })).logPath;
  } catch (err) {
    if (isRuntimeError(err, "NotFound"))
      throw badRequest(
        `container "${sel.name}" in pod "${pod.metadata.name ?? ""}" is not available`,
      );
    throw err;
  }
  return streamLog(sel.id as ContainerId, logPath, opts, deps, signal);
}

/** Like {@link openContainerLogs}, as one iterable: selection errors surface on first read. */
export async function* readContainerLogs(
  pod: Pod,
  opts: PodLogOptions,
  deps: { runtime: LogRuntime; clock: Clock },
  signal: AbortSignal,
): AsyncIterable<Uint8Array> {
  yield* await openContainerLogs(pod, opts, deps, signal);
}

async function* streamLog(
  id: ContainerId,
  logPath: string,
  opts: PodLogOptions,
  deps: { runtime: LogRuntime; clock: Clock },
  signal: AbortSignal,
): AsyncIterable<Uint8Array> {
  let sinceMs: number | undefined;
  if (opts.sinceSeconds !== undefined) sinceMs = deps.clock.now() - opts.sinceSeconds * 1000;
  else if (opts.sinceTime !== undefined) sinceMs = Date.parse(opts.sinceTime);
  let remaining = opts.limitBytes ?? Number.POSITIVE_INFINITY;

  const render = (e: LogEntry): Buffer =>
    opts.timestamps === true
      ? Buffer.concat([Buffer.from(`${e.timestamp} `), e.content])
      : e.content;
  const keep = (e: LogEntry): boolean => sinceMs === undefined || !(e.timeMs < sinceMs);

  // Initial read: whole current file, then tail.
  let position = 0;
  let ino: number | undefined;
  let pending = Buffer.alloc(0);
  const readNew = async (): Promise<LogEntry[]> => {
    let st;
    try {
      st = await stat(logPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    if (ino !== undefined && (st.ino !== ino || st.size < position)) {
      // Rotated: the writer reopened a fresh file at the same path.
      position = 0;
      pending = Buffer.alloc(0);
    }
    ino = st.ino;
    if (st.size <= position) return [];
    const fh = await open(logPath, "r");
    let chunk: Buffer;
    try {
      chunk = Buffer.alloc(st.size - position);
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, position);
      chunk = chunk.subarray(0, bytesRead);
      position += bytesRead;
    } finally {
      await fh.close();
    }
    const data = Buffer.concat([pending, chunk]);
    const out: LogEntry[] = [];
    let start = 0;
    for (;;) {
      const nl = data.indexOf(0x0a, start);
      if (nl < 0) break;
      const e = parseLine(data.subarray(start, nl));
      if (e !== undefined) out.push(e);
      start = nl + 1;
    }
    pending = Buffer.from(data.subarray(start));
    return out;
  };

  const emit = function* (entries: LogEntry[]): Generator<Uint8Array, boolean> {
    for (const e of entries) {
      if (!keep(e)) continue;
      let b = render(e);
      if (b.length > remaining) b = b.subarray(0, remaining);
      remaining -= b.length;
      if (b.length > 0) yield b;
      if (remaining <= 0) return false;
    }
    return true;
  };

  let first = (await readNew()).filter(keep);
  if (opts.tailLines !== undefined && opts.tailLines >= 0) {
    // Tail counts output lines: a run of P entries plus its F entry is one line.
    let lines = 0;
    let i = first.length;
    while (i > 0) {
      const e = first[i - 1];
      if (e === undefined) break;
      const isFull = e.content.at(-1) === 0x0a;
      if (isFull) {
        if (lines === opts.tailLines) break;
        lines++;
      }
      i--;
    }
    first = first.slice(i);
  }
  if (!(yield* emit(first))) return;
  if (opts.follow !== true) return;

  while (!signal.aborted) {
    const more = await readNew();
    if (!(yield* emit(more))) return;
    if (more.length > 0) continue;
    let running = false;
    try {
      const st = await deps.runtime.containerStatus(id, { signal });
      running = st.state === "running" || st.state === "created";
    } catch (err) {
      if (!isRuntimeError(err, "NotFound")) throw err;
    }
    if (!running) {
      // Drain what the supervisor wrote before the exit.
      yield* emit(await readNew());
      return;
    }
    try {
      await deps.clock.sleep(FOLLOW_POLL_MS, signal);
    } catch {
      // Aborted: the reader went away; the loop condition ends the stream.
      return;
    }
  }
}

/** Options of {@link LogRotator}. */
export interface LogRotatorOptions {
  runtime: Pick<RuntimeService, "listContainers" | "reopenContainerLog">;
  clock: Clock;
  logger: Logger;
  /** Rotate when the active file exceeds this. @default 10 MiB */
  maxSizeBytes?: number;
  /** Files kept per container including the active one. @default 5 */
  maxFiles?: number;
  /** Check interval. @default 10_000 */
  intervalMs?: number;
}

/**
 * Rotates container log files (PL-LOG-4): on each pass, every running container whose
 * active file exceeds `maxSizeBytes` gets older rotated files trimmed to `maxFiles − 2`,
 * uncompressed rotated files gzipped, the active file renamed to `<N>.log.<YYYYMMDD-hhmmss>`,
 * and the runtime asked to reopen it. One pass at a time; `run` owns the timer.
 */
export class LogRotator {
  readonly #o: Required<LogRotatorOptions>;

  constructor(opts: LogRotatorOptions) {
    this.#o = { maxSizeBytes: 10 * 1024 * 1024, maxFiles: 5, intervalMs: 10_000, ...opts };
    if (!(this.#o.maxFiles >= 2))
      throw new RangeError(`maxFiles must be >= 2, got ${String(this.#o.maxFiles)}`);
    if (!(this.#o.maxSizeBytes > 0))
      throw new RangeError(`maxSizeBytes must be > 0, got ${String(this.#o.maxSizeBytes)}`);
  }

  /** Rotates until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.rotateAll(signal);
      } catch (err) {
        if (isAborted(signal)) return;
        // One bad pass must not stop rotation for good; the next pass retries.
        this.#o.logger.error("log rotation failed", { err });
      }
      try {
        await this.#o.clock.sleep(this.#o.intervalMs, signal);
      } catch {
        return;
      }
    }
  }

  /** One rotation pass over every running container. */
  async rotateAll(signal?: AbortSignal): Promise<void> {
    const containers = await this.#o.runtime.listContainers(undefined, signal ? { signal } : {});
    for (const c of containers) {
      if (c.state !== "running" || c.logPath === "") continue;
      await this.rotate(c.id, c.logPath);
    }
  }

  /** Rotates one container's log if it is too big. */
  async rotate(id: ContainerId, logPath: string): Promise<void> {
    let size: number;
    try {
      size = (await stat(logPath)).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    if (size <= this.#o.maxSizeBytes) return;
    const dir = dirname(logPath);
    const base = basename(logPath);
    const names = await readdir(dir);
    for (const n of names)
      if (n.startsWith(`${base}.`) && n.endsWith(".tmp")) await rm(join(dir, n), { force: true });
    let rotated = (await readdir(dir))
      .filter((n) => n.startsWith(`${base}.`) && !n.endsWith(".tmp"))
      .sort();
    while (rotated.length > this.#o.maxFiles - 2) {
      const oldest = rotated.shift();
      if (oldest !== undefined) await rm(join(dir, oldest), { force: true });
    }
    for (const n of rotated) {
      if (n.endsWith(".gz")) continue;
      const src = join(dir, n);
      const tmp = `${src}.gz.tmp`;
      await pipeline(createReadStream(src), createGzip(), createWriteStream(tmp));
      await rename(tmp, `${src}.gz`);
      await rm(src, { force: true });
    }
    rotated = [];
    await rename(logPath, `${logPath}.${rotationStamp(this.#o.clock.now())}`);
    try {
      await this.#o.runtime.reopenContainerLog(id);
    } catch (err) {
      // The container exited meanwhile: nothing writes to the old name any more.
      if (!isRuntimeError(err, "NotFound") && !isRuntimeError(err, "InvalidState")) throw err;
    }
  }
}

function rotationStamp(ms: number): string {
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, "0");
  return `${String(d.getUTCFullYear())}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}
