import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { ApiError, type UserInfo } from "../../api/index.js";
import { SystemClock, TaskGroup, type Clock, type Logger } from "../../util/index.js";
import type { UpgradeHandler } from "../http/index.js";
import { gaugeText } from "../metrics/index.js";
import { ExecStreams, serveSpdyExec, serveWebSocketExec } from "./exec.js";
import { PortForwardSession } from "./port-forward.js";
import { parseStreamRequest, type StreamTarget, type StreamVerb } from "./request.js";
import { SpdyConnection, type ByteTransport, type SpdyStream } from "./spdy-connection.js";
import { toApiError } from "./status.js";
import type { StreamBackend, StreamSession } from "./types.js";

/** Websocket subprotocols for exec/attach, most preferred first (KA-EXEC-1). */
const EXEC_WS_PROTOCOLS = ["v5.channel.k8s.io", "v4.channel.k8s.io"] as const;
/** The websocket subprotocol that tunnels SPDY port-forward (KA-PF-4). */
const PORT_FORWARD_WS_PROTOCOL = "SPDY/3.1+portforward.k8s.io";
/** The SPDY exec stream protocol we speak; every kubectl 1.27–1.33 offers it (KA-SPDY-1). */
const SPDY_EXEC_PROTOCOL = "v4.channel.k8s.io";
const SPDY_PORT_FORWARD_PROTOCOL = "portforward.k8s.io";
/** What `ws` sees as the offer once the real protocol was chosen. */
const WS_PROTOCOL_PLACEHOLDER = "podrun.selected";

/** Options of {@link createStreamingUpgradeHandler}. */
export interface StreamingOptions {
  /** @default new SystemClock() */
  clock?: Clock;
  /** How long a SPDY client has to open its exec streams. @default 30_000 (upstream) */
  streamCreationTimeoutMs?: number;
  /** How long to wait for the client to close a finished SPDY connection. @default 10_000 */
  closeGraceMs?: number;
}

interface ResolvedStreamingOptions {
  clock: Clock;
  streamCreationTimeoutMs: number;
  closeGraceMs: number;
}

function resolveStreamingOptions(o: StreamingOptions): ResolvedStreamingOptions {
  const r = {
    clock: o.clock ?? new SystemClock(),
    streamCreationTimeoutMs: o.streamCreationTimeoutMs ?? 30_000,
    closeGraceMs: o.closeGraceMs ?? 10_000,
  };
  for (const k of ["streamCreationTimeoutMs", "closeGraceMs"] as const) {
    if (!Number.isFinite(r[k]) || r[k] < 0) {
      throw new RangeError(`createStreamingUpgradeHandler: invalid ${k} ${r[k]}`);
    }
  }
  return r;
}

/**
 * The upgrade handler for `pods/exec`, `pods/attach` and `pods/portforward`, with
 * `sessions()` (streaming connections still being served), `wait()` (resolves once every
 * one has ended) for tests and shutdown, and `prometheusText()`: the gauges
 * `podrun_streaming_connections` (connections being served) and `podrun_streaming_sessions`
 * (exec/attach sessions open in the runtime, port-forward connections open into pods), by
 * `subresource`. Both return to 0 once every client has gone and everything was cleaned up.
 */
export type StreamingUpgradeHandler = UpgradeHandler & {
  sessions(): number;
  wait(): Promise<void>;
  prometheusText(): Promise<string>;
};

const SUBRESOURCES: readonly StreamVerb[] = ["attach", "exec", "portforward"];

/** The tokens of a possibly repeated, comma-separated header. */
function headerTokens(v: string | string[] | undefined): string[] {
  const all = Array.isArray(v) ? v : v === undefined ? [] : [v];
  return all
    .flatMap((s) => s.split(","))
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/** Answers a failed upgrade with a Status body and closes the connection. */
function rejectUpgrade(socket: Duplex, err: ApiError): void {
  const body = JSON.stringify(err.toStatus());
  socket.end(
    `HTTP/1.1 ${err.code} ${err.reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * Creates the handler for streaming upgrades (kubectl exec/attach/port-forward/cp/debug). It
 * recognizes `/api/v1/namespaces/<ns>/pods/<name>/exec|attach|portforward` on GET or POST and
 * negotiates, by the request's `Upgrade` header:
 * - websocket: `v5.channel.k8s.io` / `v4.channel.k8s.io` for exec and attach (KA-WS-*), and
 *   `SPDY/3.1+portforward.k8s.io` for port-forward (SPDY tunnelled in binary messages, KA-PF-4);
 * - `SPDY/3.1` with `X-Stream-Protocol-Version` `v4.channel.k8s.io` (exec, attach) or
 *   `portforward.k8s.io` (KA-SPDY-*, KA-PF-*).
 * Exec and attach call the backend before answering the upgrade, so a missing pod or container
 * is answered with its Status and HTTP code; later failures go on the error channel. A client
 * disconnect aborts the backend and closes the session; a process exit flushes its output,
 * sends the status and closes the connection. Other paths get 404.
 */
export function createStreamingUpgradeHandler(
  backend: StreamBackend,
  logger: Logger,
  opts: StreamingOptions = {},
): StreamingUpgradeHandler {
  const o = resolveStreamingOptions(opts);
  const tasks = new TaskGroup(logger);
  const chosenProtocols = new WeakMap<IncomingMessage, string>();
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    // The protocol was chosen before the upgrade (see serveWebSocket).
    handleProtocols: (_offered, req) => chosenProtocols.get(req) ?? false,
  });
  // Gauges for /metrics: connections being served, and exec/attach sessions not yet closed.
  const connections = new Map<StreamVerb, number>(SUBRESOURCES.map((v) => [v, 0]));
  const openSessions = new Map<StreamVerb, number>(SUBRESOURCES.map((v) => [v, 0]));
  const portForwards = new Set<PortForwardSession>();
  const bump = (m: Map<StreamVerb, number>, verb: StreamVerb, by: number): void => {
    m.set(verb, (m.get(verb) ?? 0) + by);
  };
  const handler = (req: IncomingMessage, socket: Duplex, head: Buffer, user: UserInfo): void => {
    tasks.spawn("streaming session", () => serve(req, socket, head, user));
  };

  async function serve(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    user: UserInfo,
  ): Promise<void> {
    const method = (req.method ?? "GET").toUpperCase();
    let target: StreamTarget | undefined;
    try {
      target = parseStreamRequest(method, req.url ?? "/");
    } catch (err) {
      rejectUpgrade(socket, toApiError(err));
      return;
    }
    if (target === undefined) {
      rejectUpgrade(
        socket,
        new ApiError("NotFound", "the server could not find the requested resource"),
      );
      return;
    }
    const verb = target.verb;
    bump(connections, verb, 1);
    const log = logger.with({
      pod: `${target.namespace}/${target.pod}`,
      verb: target.verb,
      user: user.username,
    });
    const upgrade = (req.headers.upgrade ?? "").toLowerCase();
    const abort = new AbortController();
    const onGone = (): void => {
      abort.abort(new Error("client disconnected"));
    };
    socket.once("close", onGone);
    if (upgrade === "spdy/3.1") socket.once("end", onGone);
    try {
      if (upgrade === "websocket") {
        await serveWebSocket(req, socket, head, target, abort, log);
      } else if (upgrade === "spdy/3.1") {
        await serveSpdy(req, socket, head, target, abort, log);
      } else {
        rejectUpgrade(socket, new ApiError("BadRequest", `unsupported upgrade "${upgrade}"`));
      }
    } catch (err) {
      // A bug or an unexpected I/O failure: the connection cannot be trusted any more.
      log.error("streaming session failed", { err });
      socket.destroy();
    } finally {
      abort.abort(new Error("session finished"));
      bump(connections, verb, -1);
    }
  }

  /** Counts `session` as open until its first close() settles. */
  function tracked(verb: StreamVerb, session: StreamSession): StreamSession {
    bump(openSessions, verb, 1);
    let isCounted = true;
    const t: StreamSession = {
      resize: (width, height) => {
        session.resize(width, height);
      },
      exitCode: session.exitCode,
      close: async () => {
        try {
          await session.close();
        } finally {
          if (isCounted) {
            isCounted = false;
            bump(openSessions, verb, -1);
          }
        }
      },
    };
    if (session.stdin !== undefined) t.stdin = session.stdin;
    if (session.stdout !== undefined) t.stdout = session.stdout;
    if (session.stderr !== undefined) t.stderr = session.stderr;
    return t;
  }

  /** A port-forward session, counted while it has connections open into the pod. */
  function portForwardSession(target: StreamTarget, abort: AbortController, log: Logger) {
    const pf = new PortForwardSession({
      backend,
      namespace: target.namespace,
      pod: target.pod,
      allowedPorts: target.ports,
      signal: abort.signal,
      logger: log,
    });
    portForwards.add(pf);
    return {
      pf,
      wait: async () => {
        await pf.wait();
        portForwards.delete(pf);
      },
    };
  }

  /** Starts the exec or attach session, before the upgrade is answered. */
  async function startSession(target: StreamTarget, signal: AbortSignal): Promise<StreamSession> {
    const base = {
      namespace: target.namespace,
      pod: target.pod,
      ...(target.container === undefined ? {} : { container: target.container }),
      stdin: target.stdin,
      stdout: target.stdout,
      stderr: target.stderr,
      tty: target.tty,
      signal,
    };
    const session =
      target.verb === "exec"
        ? await backend.exec({ ...base, command: target.command })
        : await backend.attach(base);
    return tracked(target.verb, session);
  }

  async function serveWebSocket(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    target: StreamTarget,
    abort: AbortController,
    log: Logger,
  ): Promise<void> {
    const offered = headerTokens(req.headers["sec-websocket-protocol"]);
    const supported: readonly string[] =
      target.verb === "portforward" ? [PORT_FORWARD_WS_PROTOCOL] : EXEC_WS_PROTOCOLS;
    const protocol = supported.find((p) => offered.includes(p));
    if (protocol === undefined) {
      // A non-101 answer makes kubectl 1.30+ fall back to SPDY.
      rejectUpgrade(
        socket,
        new ApiError(
          "BadRequest",
          `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(" ")}], server supports [${supported.join(" ")}]`,
        ),
      );
      return;
    }
    let session: StreamSession | undefined;
    if (target.verb === "portforward") {
      if (!(await checkPod(target, abort.signal, socket))) return;
    } else {
      try {
        session = await startSession(target, abort.signal);
      } catch (err) {
        rejectUpgrade(socket, toApiError(err));
        return;
      }
    }
    // `ws` accepts only GET upgrades; kubectl uses GET, and POST is accepted the same way.
    req.method = "GET";
    // `ws` rejects offers that are not RFC 7230 tokens, and `SPDY/3.1+portforward.k8s.io` has a
    // slash: hand it a token and answer with the real name through handleProtocols.
    req.headers["sec-websocket-protocol"] = WS_PROTOCOL_PLACEHOLDER;
    chosenProtocols.set(req, protocol);
    const ws = await new Promise<WebSocket | undefined>((resolve) => {
      if (abort.signal.aborted) {
        resolve(undefined);
        return;
      }
      wss.handleUpgrade(req, socket, head, resolve);
      socket.once("close", () => {
        resolve(undefined);
      });
    });
    if (ws === undefined) {
      await session?.close();
      return;
    }
    log.debug("websocket stream started", { protocol });
    if (session !== undefined) {
      await serveWebSocketExec(ws, target, {
        session,
        command: target.command,
        signal: abort.signal,
        logger: log,
      });
      return;
    }
    const transport: ByteTransport = {
      write: (data, cb) => {
        ws.send(data, { binary: true }, cb);
      },
      end: () => {
        ws.close(1000);
      },
    };
    const { pf, wait } = portForwardSession(target, abort, log);
    const conn = new SpdyConnection({
      transport,
      role: "server",
      logger: log,
      onStream: (s) => {
        pf.add(s);
      },
    });
    ws.on("message", (data, isBinary) => {
      // Message boundaries need not match SPDY frame boundaries (KA-PF-4).
      if (isBinary) conn.receive(Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]));
    });
    ws.on("error", (err) => {
      log.debug("websocket error", { err });
    });
    await new Promise<void>((resolve) => {
      ws.once("close", () => {
        resolve();
      });
    });
    conn.transportClosed();
    await wait();
  }

  /** For port-forward: answers the upgrade with the pod's error if the backend rejects it. */
  async function checkPod(
    target: StreamTarget,
    signal: AbortSignal,
    socket: Duplex,
  ): Promise<boolean> {
    if (backend.checkPortForward === undefined) return true;
    try {
      await backend.checkPortForward({ namespace: target.namespace, pod: target.pod, signal });
      return true;
    } catch (err) {
      rejectUpgrade(socket, toApiError(err));
      return false;
    }
  }

  async function serveSpdy(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    target: StreamTarget,
    abort: AbortController,
    log: Logger,
  ): Promise<void> {
    const offered = headerTokens(req.headers["x-stream-protocol-version"]);
    const protocol =
      target.verb === "portforward" ? SPDY_PORT_FORWARD_PROTOCOL : SPDY_EXEC_PROTOCOL;
    if (!offered.includes(protocol)) {
      rejectUpgrade(
        socket,
        new ApiError(
          "Forbidden",
          `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(" ")}], server supports [${protocol}]`,
        ),
      );
      return;
    }
    let session: StreamSession | undefined;
    if (target.verb === "portforward") {
      if (!(await checkPod(target, abort.signal, socket))) return;
    } else {
      try {
        session = await startSession(target, abort.signal);
      } catch (err) {
        rejectUpgrade(socket, toApiError(err));
        return;
      }
    }
    if (abort.signal.aborted) {
      await session?.close();
      return;
    }
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${protocol}\r\n\r\n`,
    );
    log.debug("spdy stream started", { protocol });
    let onStream: (s: SpdyStream) => void;
    const execStreams = session === undefined ? undefined : new ExecStreams(target);
    const forward = session === undefined ? portForwardSession(target, abort, log) : undefined;
    const pf = forward?.pf;
    if (execStreams !== undefined) {
      onStream = (s) => {
        execStreams.add(s);
      };
    } else {
      onStream = (s) => {
        pf?.add(s);
      };
    }
    const conn = new SpdyConnection({
      role: "server",
      logger: log,
      onStream,
      transport: {
        write: (data, cb) => {
          if (socket.destroyed) cb(new Error("socket closed"));
          else socket.write(data, cb);
        },
        end: () => {
          socket.end();
        },
      },
    });
    socket.on("data", (chunk: Buffer) => {
      conn.receive(chunk);
    });
    // The HTTP server's sockets allow half-open connections, so a client hanging up shows as
    // 'end' first; without ending our side too, the socket would never close.
    socket.once("end", () => {
      conn.transportClosed();
      socket.end();
    });
    socket.once("close", () => {
      conn.transportClosed();
    });
    if (head.length > 0) conn.receive(head);

    if (session !== undefined && execStreams !== undefined) {
      await serveSpdyExec(
        conn,
        execStreams,
        target,
        { session, command: target.command, signal: abort.signal, logger: log },
        { clock: o.clock, streamCreationTimeoutMs: o.streamCreationTimeoutMs },
      );
      // Let the client read everything and hang up itself (it resets its streams and sends
      // GOAWAY); closing first could lose the tail of the output. Bounded by closeGraceMs.
      await closeGracefully(socket, conn);
      return;
    }
    await conn.closed;
    await forward?.wait();
  }

  async function closeGracefully(socket: Duplex, conn: SpdyConnection): Promise<void> {
    if (!conn.isClosed) {
      const timer = new AbortController();
      const slept = o.clock.sleep(o.closeGraceMs, timer.signal).then(
        () => undefined,
        () => undefined,
      );
      await Promise.race([conn.closed, slept]);
      timer.abort();
      await slept;
    }
    socket.end();
    socket.destroy();
  }

  const prometheusText = (): Promise<string> => {
    const sessions = new Map(openSessions);
    let forwards = 0;
    for (const pf of portForwards) forwards += pf.active;
    sessions.set("portforward", forwards);
    const samples = (m: Map<StreamVerb, number>) =>
      SUBRESOURCES.map((v) => ({
        labels: [["subresource", v]] as const,
        value: m.get(v) ?? 0,
      }));
    return Promise.resolve(
      gaugeText(
        "podrun_streaming_connections",
        "Exec, attach and port-forward connections the API server is serving.",
        samples(connections),
      ) +
        gaugeText(
          "podrun_streaming_sessions",
          "Exec and attach sessions open in the container runtime, and port-forward connections open into pods.",
          samples(sessions),
        ),
    );
  };

  return Object.assign(handler, {
    sessions: () => tasks.size,
    wait: () => tasks.wait(),
    prometheusText,
  });
}
