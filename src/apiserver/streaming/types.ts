import type { Duplex, Readable, Writable } from "node:stream";

/**
 * A live exec or attach session, structurally identical to the runtime's `StreamSession`
 * (the apiserver may not import runtime/). `stdin` is present when requested; with a TTY, stderr
 * is merged into stdout. `exitCode` settles when the process (exec) or the session (attach)
 * ends, and may reject with an ApiError (e.g. the pod was deleted); `close()` ends it early and
 * frees everything. Idempotent close.
 */
export interface StreamSession {
  stdin?: Writable;
  stdout?: Readable;
  stderr?: Readable;
  resize(width: number, height: number): void;
  exitCode: Promise<number>;
  close(): Promise<void>;
}

/** Which standard streams an exec or attach wants, and whether it runs on a TTY. */
export interface StreamFlags {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** An attach to a container's main process. `container` is unset when the URL named none. */
export interface AttachRequest extends StreamFlags {
  namespace: string;
  pod: string;
  container?: string;
  /** Aborts when the client goes away; the backend then ends the session. */
  signal: AbortSignal;
}

/** An exec of `command` in a container. */
export interface ExecRequest extends AttachRequest {
  command: string[];
}

/** One TCP connection to `port` inside the pod's network namespace. */
export interface PortForwardRequest {
  namespace: string;
  pod: string;
  port: number;
  /** Aborts when the client goes away. */
  signal: AbortSignal;
}

/**
 * The container side of exec, attach and port-forward, implemented by the node (kubelet +
 * runtime) and wired in `cmd/`. Safe for concurrent calls. Each method fails with an ApiError
 * before anything starts: `NotFound` (`pods "web" not found`), `BadRequest` (`container c not
 * found in pod web`, `pod web does not have a host assigned`, not running). Once a session or
 * socket is returned, the caller owns it and closes or destroys it when done; the `signal` aborts
 * when the client disconnects.
 */
export interface StreamBackend {
  exec(req: ExecRequest): Promise<StreamSession>;
  attach(req: AttachRequest): Promise<StreamSession>;
  portForward(req: PortForwardRequest): Promise<Duplex>;
  /**
   * Optional check before a port-forward upgrade is answered: rejects with the ApiError for a
   * missing or not-running pod, which the client then gets as the HTTP Status (upstream checks
   * the pod before upgrading). Without it every port-forward upgrade succeeds and failures show
   * per connection on the error streams.
   */
  checkPortForward?(req: { namespace: string; pod: string; signal: AbortSignal }): Promise<void>;
}
