import { connect, type Socket } from "node:net";
import { PassThrough, type Duplex } from "node:stream";
import type {
  AttachRequest,
  ExecRequest,
  PortForwardRequest,
  StreamBackend,
  StreamSession,
} from "../types.js";

/**
 * A simulated process for {@link FakeStreamBackend}: PassThrough pipes, recorded resizes, and
 * `exit`/`fail` to end it. `close()` (the protocol layer giving up) destroys the pipes and
 * settles `exitCode` with 137, like a killed process. Idempotent close.
 */
export class FakeProcess implements StreamSession {
  stdin?: PassThrough;
  stdout?: PassThrough;
  stderr?: PassThrough;
  readonly resizes: [number, number][] = [];
  readonly exitCode: Promise<number>;
  isClosed = false;
  isExited = false;
  #resolve: (code: number) => void = () => undefined;
  #reject: (err: Error) => void = () => undefined;

  constructor(flags: { stdin: boolean; stdout: boolean; stderr: boolean; tty: boolean }) {
    if (flags.stdin) this.stdin = new PassThrough();
    if (flags.stdout) this.stdout = new PassThrough();
    if (flags.stderr && !flags.tty) this.stderr = new PassThrough();
    this.exitCode = new Promise<number>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // Tests that never look at the exit code must not see an unhandled rejection.
    this.exitCode.catch(() => undefined);
  }

  resize(width: number, height: number): void {
    this.resizes.push([width, height]);
  }

  /** Ends the output pipes, then settles the exit code. */
  exit(code: number): void {
    if (this.isExited) return;
    this.isExited = true;
    this.stdout?.end();
    this.stderr?.end();
    this.#resolve(code);
  }

  /** Ends the session with an error (e.g. the pod was deleted). */
  fail(err: Error): void {
    if (this.isExited) return;
    this.isExited = true;
    this.stdout?.end();
    this.stderr?.end();
    this.#reject(err);
  }

  close(): Promise<void> {
    this.isClosed = true;
    this.stdin?.destroy();
    this.stdout?.destroy();
    this.stderr?.destroy();
    if (!this.isExited) {
      this.isExited = true;
      this.#resolve(137);
    }
    return Promise.resolve();
  }
}

/** How a fake exec/attach behaves; the default runs the built-in commands. */
export type FakeScript = (proc: FakeProcess, command: readonly string[]) => void;

/**
 * Built-in commands: `echo a b` (stdout `a b\n`, exit 0), `cat` (stdin → stdout, exit 0 at stdin
 * EOF), `fail <code> <text>` (stderr text, exit code), `big <bytes>` (that many `x` on stdout),
 * `sleep` (runs until closed). Unknown commands exit 127.
 */
export const defaultScript: FakeScript = (proc, command) => {
  const [cmd, ...args] = command;
  switch (cmd ?? "") {
    case "echo":
      proc.stdout?.write(args.join(" ") + "\n");
      proc.exit(0);
      return;
    case "cat":
      if (proc.stdin === undefined || proc.stdout === undefined) {
        proc.exit(1);
        return;
      }
      proc.stdin.on("end", () => {
        proc.exit(0);
      });
      proc.stdin.pipe(proc.stdout, { end: false });
      return;
    case "fail":
      proc.stderr?.write(args.slice(1).join(" "));
      proc.exit(Number(args[0] ?? "1"));
      return;
    case "big":
      proc.stdout?.write(Buffer.alloc(Number(args[0] ?? "0"), "x"));
      proc.exit(0);
      return;
    case "sleep":
      return;
    default:
      proc.exit(127);
  }
};

/**
 * A StreamBackend for tests: exec and attach run {@link FakeProcess}es through `script`
 * (attach gets the command `["attach"]`), port-forward connects to the local TCP port that
 * `ports` maps the pod port to. Records every request; `failNext` makes the next call of a
 * method throw.
 */
export class FakeStreamBackend implements StreamBackend {
  script: FakeScript = defaultScript;
  readonly ports = new Map<number, number>();
  readonly processes: FakeProcess[] = [];
  readonly execRequests: ExecRequest[] = [];
  readonly attachRequests: AttachRequest[] = [];
  readonly portForwardRequests: PortForwardRequest[] = [];
  /** Pod-side port-forward sockets not yet closed. */
  openSockets = 0;
  readonly #failures = new Map<string, Error>();

  /** The next call of `method` throws `err`. */
  failNext(method: "exec" | "attach" | "portForward" | "checkPortForward", err: Error): void {
    this.#failures.set(method, err);
  }

  #maybeFail(method: string): void {
    const err = this.#failures.get(method);
    if (err !== undefined) {
      this.#failures.delete(method);
      throw err;
    }
  }

  /** Sessions neither exited nor closed. */
  get running(): number {
    return this.processes.filter((p) => !p.isExited).length;
  }

  exec(req: ExecRequest): Promise<StreamSession> {
    this.execRequests.push(req);
    this.#maybeFail("exec");
    const proc = new FakeProcess(req);
    this.processes.push(proc);
    this.script(proc, req.command);
    return Promise.resolve(proc);
  }

  attach(req: AttachRequest): Promise<StreamSession> {
    this.attachRequests.push(req);
    this.#maybeFail("attach");
    const proc = new FakeProcess(req);
    this.processes.push(proc);
    this.script(proc, ["attach"]);
    return Promise.resolve(proc);
  }

  checkPortForward(): Promise<void> {
    this.#maybeFail("checkPortForward");
    return Promise.resolve();
  }

  async portForward(req: PortForwardRequest): Promise<Duplex> {
    this.portForwardRequests.push(req);
    this.#maybeFail("portForward");
    const local = this.ports.get(req.port);
    if (local === undefined) {
      throw new Error(
        `failed to connect to localhost:${req.port} inside namespace: connection refused`,
      );
    }
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(local, "127.0.0.1", () => {
        s.off("error", reject);
        resolve(s);
      });
      s.once("error", reject);
    });
    this.openSockets++;
    socket.once("close", () => {
      this.openSockets--;
    });
    return socket;
  }
}
