import type { Readable } from "node:stream";
import type { WebSocket, RawData } from "ws";
import type { Clock, Logger } from "../../util/index.js";
import type { SpdyConnection, SpdyStream } from "./spdy-connection.js";
import { exitStatus, failureStatus, type ExecStatus } from "./status.js";
import type { StreamFlags, StreamSession } from "./types.js";

/** Sends one chunk of process output; resolves once it was handed to the transport. */
type Send = (chunk: Buffer) => Promise<void>;

/** The session an exec/attach transport serves, and who to tell. */
export interface SessionContext {
  session: StreamSession;
  command: readonly string[];
  /** Aborts when the client went away. */
  signal: AbortSignal;
  logger: Logger;
}

/**
 * Copies process output to `send` until the readable ends. A failed send (client gone) stops
 * the copy; the abort path then closes the session.
 */
async function pump(from: Readable | undefined, send: Send | undefined, ctx: SessionContext) {
  if (from === undefined) return;
  if (send === undefined) {
    // Output nobody asked for still has to be drained, or the process blocks on a full pipe.
    from.resume();
    return;
  }
  try {
    for await (const chunk of from) await send(chunk as Buffer);
  } catch (err) {
    if (!ctx.signal.aborted) ctx.logger.debug("stream output copy stopped", { err });
  }
}

/**
 * Runs the session to its end: copies stdout/stderr, waits for the exit code and for all output
 * to be sent, and returns the status to report. Returns undefined if the client went away
 * first; the session is then closed and its output streams destroyed so nothing is left running.
 */
async function runToStatus(
  ctx: SessionContext,
  outputs: { stdout?: Send; stderr?: Send },
): Promise<ExecStatus | undefined> {
  const { session, signal } = ctx;
  const pumps = Promise.all([
    pump(session.stdout, outputs.stdout, ctx),
    pump(session.stderr, outputs.stderr, ctx),
  ]);
  const aborted = new Promise<"aborted">((resolve) => {
    if (signal.aborted) resolve("aborted");
    else
      signal.addEventListener(
        "abort",
        () => {
          resolve("aborted");
        },
        { once: true },
      );
  });
  let status: ExecStatus | undefined;
  try {
    const r = await Promise.race([session.exitCode, aborted]);
    status = r === "aborted" ? undefined : exitStatus(ctx.command, r);
  } catch (err) {
    // The backend ended the session with an error (e.g. the pod was deleted): report it.
    status = failureStatus(err);
    await session.close();
  }
  if (status === undefined) {
    await session.close();
    session.stdout?.destroy();
    session.stderr?.destroy();
  }
  // The process has exited: its output ends once the pipes drain, and the status must follow
  // the last byte of output (KA-EXEC-3).
  await Promise.race([pumps, aborted]);
  if (signal.aborted) {
    session.stdout?.destroy();
    session.stderr?.destroy();
    await pumps;
    return undefined;
  }
  return status;
}

/** Parses terminal-size JSON (`{"Width":120,"Height":40}`, maybe newline-separated). */
function applyResize(text: string, session: StreamSession, logger: Logger): void {
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      const size = JSON.parse(line) as { Width?: unknown; Height?: unknown };
      if (typeof size.Width === "number" && typeof size.Height === "number") {
        session.resize(size.Width, size.Height);
      }
    } catch (err) {
      // A malformed resize must not end the session; upstream logs and ignores it too.
      logger.debug("ignoring malformed resize", { err });
    }
  }
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** The websocket channels of `v4.channel.k8s.io` / `v5.channel.k8s.io` (KA-WS-2). */
const CHANNEL = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255 } as const;

/** Sends one binary channel message. */
function sendChannel(ws: WebSocket, channel: number, payload: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.send(Buffer.concat([Buffer.from([channel]), payload]), { binary: true }, (err) => {
      // ws passes null (not undefined) on success, whatever its typings say.
      if (err instanceof Error) reject(err);
      else resolve();
    });
  });
}

/**
 * Serves an exec or attach over a websocket using the channel protocol (KA-WS-1..6): stdin on
 * channel 0, stdout 1, stderr 2, the Status on 3, resize on 4 and, in v5, `FF 00` for stdin EOF
 * (the session keeps running until the process exits, KA-WS-4). Ends with close code 1000.
 * Resolves once the websocket closed; the session is closed by then.
 */
export async function serveWebSocketExec(
  ws: WebSocket,
  flags: StreamFlags,
  ctx: SessionContext,
): Promise<void> {
  const { session, logger } = ctx;
  const isV5 = ws.protocol.startsWith("v5.");
  const closed = new Promise<void>((resolve) => {
    if (ws.readyState === ws.CLOSED) resolve();
    else
      ws.once("close", () => {
        resolve();
      });
  });
  ws.on("error", (err) => {
    logger.debug("websocket error", { err });
  });
  ws.on("message", (data, isBinary) => {
    if (!isBinary) return;
    const buf = toBuffer(data);
    if (buf.length === 0) return;
    const payload = buf.subarray(1);
    switch (buf.readUInt8(0)) {
      case CHANNEL.stdin:
        if (session.stdin !== undefined && !session.stdin.writableEnded && payload.length > 0) {
          session.stdin.write(payload);
        }
        return;
      case CHANNEL.resize:
        applyResize(payload.toString("utf8"), session, logger);
        return;
      case CHANNEL.close:
        if (isV5 && payload[0] === CHANNEL.stdin) session.stdin?.end();
        return;
      default:
        return;
    }
  });
  try {
    const status = await runToStatus(ctx, {
      ...(flags.stdout ? { stdout: (b: Buffer) => sendChannel(ws, CHANNEL.stdout, b) } : {}),
      ...(flags.stderr ? { stderr: (b: Buffer) => sendChannel(ws, CHANNEL.stderr, b) } : {}),
    });
    if (status !== undefined && ws.readyState === ws.OPEN) {
      await sendChannel(ws, CHANNEL.error, Buffer.from(JSON.stringify(status)));
      ws.close(1000);
    }
  } catch (err) {
    logger.debug("websocket exec ended early", { err });
    ws.terminate();
  } finally {
    await session.close();
  }
  await closed;
}

/** The SPDY exec stream types (KA-SPDY-3). */
type ExecStreamType = "error" | "stdin" | "stdout" | "stderr" | "resize";

/** A promise with its resolver. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve: (v: T) => void = () => undefined;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/**
 * Collects the client's exec streams by `streamtype` as they arrive (error, stdin, stdout,
 * stderr or resize). Feed it every stream of the connection via `add`.
 */
export class ExecStreams {
  readonly #want: Set<ExecStreamType>;
  readonly #streams = new Map<ExecStreamType, ReturnType<typeof deferred<SpdyStream>>>();
  readonly #all = deferred<true>();
  #missing: number;

  constructor(flags: StreamFlags) {
    const want: ExecStreamType[] = ["error"];
    if (flags.stdin) want.push("stdin");
    if (flags.stdout) want.push("stdout");
    if (flags.stderr) want.push("stderr");
    if (flags.tty) want.push("resize");
    this.#want = new Set(want);
    for (const t of want) this.#streams.set(t, deferred());
    this.#missing = want.length;
  }

  /** Takes one stream the client opened; unknown or repeated types are reset. */
  add(stream: SpdyStream): void {
    const type = stream.headers["streamtype"] as ExecStreamType | undefined;
    const d = type === undefined ? undefined : this.#streams.get(type);
    if (type === undefined || d === undefined || !this.#want.delete(type)) {
      stream.reset();
      return;
    }
    d.resolve(stream);
    if (--this.#missing === 0) this.#all.resolve(true);
  }

  /** The stream of `type`, once it arrived (never settles for a type not expected). */
  get(type: ExecStreamType): Promise<SpdyStream> | undefined {
    return this.#streams.get(type)?.promise;
  }

  /** Resolves when every expected stream arrived. */
  get complete(): Promise<true> {
    return this.#all.promise;
  }
}

function writeStream(stream: SpdyStream, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(chunk, (err) => {
      if (err instanceof Error) reject(err);
      else resolve();
    });
  });
}

/** Options of {@link serveSpdyExec}. */
export interface SpdyExecOptions {
  clock: Clock;
  /** How long the client has to open its streams (upstream: 30 s). */
  streamCreationTimeoutMs: number;
}

/**
 * Serves an exec or attach over SPDY with the v4 stream protocol (KA-SPDY-3): wires the client's
 * streams to the session as they arrive, and when the process exits sends the v4 Status JSON on
 * the error stream (also for success) and FIN on every stream. If the client does not open its
 * streams in time, the session is closed without a status. Resolves when the session is done;
 * the caller then closes the connection.
 */
export async function serveSpdyExec(
  conn: SpdyConnection,
  streams: ExecStreams,
  flags: StreamFlags,
  ctx: SessionContext,
  opts: SpdyExecOptions,
): Promise<void> {
  const { session, logger, signal } = ctx;
  // The three `void` chains below only resolve (stream arrival) and wire listeners; nothing
  // can reject, so there is nothing to observe.
  const stdin = streams.get("stdin");
  if (stdin !== undefined) {
    void stdin.then((s) => {
      if (session.stdin === undefined) s.resume();
      // FIN on the stdin stream is stdin EOF; `pipe` ends the process's stdin then.
      else s.pipe(session.stdin);
    });
  }
  void streams.get("resize")?.then((s) => {
    s.setEncoding("utf8");
    s.on("data", (text: string) => {
      applyResize(text, session, logger);
    });
  });
  void streams.get("error")?.then((s) => s.resume());

  // The client opens all its streams right after the upgrade; give up on a client that never
  // does, as upstream does after its stream creation timeout.
  const timer = new AbortController();
  const timedOut = opts.clock.sleep(opts.streamCreationTimeoutMs, timer.signal).then(
    () => true,
    () => false,
  );
  const ready = await Promise.race([
    streams.complete.then(() => true),
    timedOut.then(() => false),
    conn.closed.then(() => false),
  ]);
  timer.abort();
  await timedOut;
  if (!ready) {
    if (!signal.aborted) logger.info("exec client did not create its streams in time");
    await session.close();
    session.stdout?.destroy();
    session.stderr?.destroy();
    return;
  }
  const stdout = await streams.get("stdout");
  const stderr = await streams.get("stderr");
  const error = await streams.get("error");
  try {
    const status = await runToStatus(ctx, {
      ...(stdout === undefined ? {} : { stdout: (b: Buffer) => writeStream(stdout, b) }),
      ...(stderr === undefined ? {} : { stderr: (b: Buffer) => writeStream(stderr, b) }),
    });
    if (status === undefined || conn.isClosed) return;
    stdout?.end();
    stderr?.end();
    error?.end(Buffer.from(JSON.stringify(status)));
  } finally {
    await session.close();
  }
}
