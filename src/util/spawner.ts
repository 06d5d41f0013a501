import { spawn, type ChildProcessByStdio } from "node:child_process";
import { existsSync } from "node:fs";
import { constants } from "node:os";
import type { Readable, Writable } from "node:stream";

/**
 * Process spawning through a small long-lived helper.
 *
 * Why: Node's `child_process.spawn` forks the whole process on Linux (libuv's `uv_spawn`), and
 * the fork copies the page tables of every resident page while the event loop waits. For a
 * podrun of about 115 MiB that is 4–5 ms of blocked event loop per spawn (and 9 ms at 150 MiB),
 * measured on this project's machines, on every `mount`, CNI plugin and conmon of a pod start.
 * The helper is a python3 process of a few MiB whose `subprocess` spawns with `vfork`, so a
 * spawn costs the event loop one line of JSON each way.
 *
 * When python3 is missing or the helper cannot start, every call falls back to Node's spawn,
 * with the same results.
 */

/** What to run and how. */
export interface SpawnOptions {
  /** The whole environment of the child; the helper's (= this process's at start) when absent. */
  env?: Record<string, string>;
  cwd?: string;
  /** Written to the child's stdin, which is then closed; no stdin at all when absent. */
  input?: string;
  /** Captures stdout and stderr (else both go to /dev/null). @default true */
  capture?: boolean;
  /** Runs the child in a new session (`setsid`), as Node's `detached`. */
  setsid?: boolean;
  /**
   * Passes the write end of a new pipe to the child and names its fd number in this
   * environment variable (conmon's `_OCI_SYNCPIPE`); what the child writes there arrives
   * through {@link SpawnedProcess.onSync}.
   */
  syncPipeEnv?: string;
  /** Aborting kills the child with SIGKILL. */
  signal?: AbortSignal;
}

/** How a child ended, with its output when captured. */
export interface ProcessResult {
  /** The exit code, or null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
}

/** A started child. */
export interface SpawnedProcess {
  /** Settles when the child has exited and its captured output has ended. */
  readonly done: Promise<ProcessResult>;
  /** Data the child writes to its sync pipe, in order; `end` when the pipe closes. */
  onSync(listener: (data: Buffer | "end") => void): void;
  /** Stops reading the sync pipe (the child may keep its write end). */
  releaseSync(): void;
  kill(signal: NodeJS.Signals): void;
}

/** Fails a spawn the way Node's spawn does (`ENOENT`, `EACCES`, …). */
export class SpawnError extends Error {
  readonly code: string;
  constructor(file: string, code: string, message: string) {
    super(`spawn ${file} ${code}: ${message}`);
    this.name = "SpawnError";
    this.code = code;
  }
}

const HELPER_PY = String.raw`
import base64, errno, json, os, selectors, signal, subprocess, sys, traceback

sel = selectors.DefaultSelector()
procs = {}
inbuf = b""

def send(obj):
    data = (json.dumps(obj) + "\n").encode()
    while data:
        data = data[os.write(1, data):]

def maybe_done(p):
    if p["status"] is None or p["open"] > 0:
        return
    st = p["status"]
    msg = {"id": p["id"], "exit": os.WEXITSTATUS(st) if os.WIFEXITED(st) else None,
           "sig": os.WTERMSIG(st) if os.WIFSIGNALED(st) else None}
    if p["capture"]:
        msg["out"] = base64.b64encode(b"".join(p["out"])).decode()
        msg["err"] = base64.b64encode(b"".join(p["err"])).decode()
    send(msg)
    p["reported"] = True
    if p["sync"] is None:
        procs.pop(p["id"], None)

def close_sync(p):
    fd = p["sync"]
    if fd is not None:
        sel.unregister(fd)
        os.close(fd)
        p["sync"] = None
    if p["reported"]:
        procs.pop(p["id"], None)

def errno_name(n):
    return errno.errorcode.get(n, "EIO") if n else "EIO"

def start(req):
    rid = req["id"]
    env = req.get("env")
    capture = req.get("capture", True)
    pass_fds = ()
    r = w = None
    if req.get("syncEnv"):
        r, w = os.pipe()
        os.set_inheritable(w, True)
        env = dict(os.environ if env is None else env)
        env[req["syncEnv"]] = str(w)
        pass_fds = (w,)
    pipe = subprocess.PIPE if capture else subprocess.DEVNULL
    try:
        child = subprocess.Popen(
            [req["file"]] + req["args"], env=env, cwd=req.get("cwd"),
            stdin=subprocess.PIPE if req.get("input") is not None else subprocess.DEVNULL,
            stdout=pipe, stderr=pipe, pass_fds=pass_fds, close_fds=True,
            start_new_session=bool(req.get("setsid")))
    except OSError as e:
        for fd in (r, w):
            if fd is not None:
                os.close(fd)
        send({"id": rid, "error": e.strerror or str(e), "code": errno_name(e.errno)})
        return
    if w is not None:
        os.close(w)
    p = {"id": rid, "child": child, "status": None, "open": 0, "out": [], "err": [],
         "capture": capture, "sync": r, "reported": False}
    procs[rid] = p
    if req.get("input") is not None:
        data = req["input"].encode()
        try:
            while data:
                data = data[os.write(child.stdin.fileno(), data):]
        except BrokenPipeError:
            pass
        child.stdin.close()
    for f, key in ((child.stdout, "out"), (child.stderr, "err")):
        if f is not None:
            os.set_blocking(f.fileno(), False)
            sel.register(f.fileno(), selectors.EVENT_READ, ("pipe", p, key, f))
            p["open"] += 1
    if r is not None:
        sel.register(r, selectors.EVENT_READ, ("sync", p))
    pidfd = os.pidfd_open(child.pid)
    sel.register(pidfd, selectors.EVENT_READ, ("exit", p, pidfd))

def on_request(req):
    if "kill" in req:
        p = procs.get(req["kill"])
        if p is not None and p["status"] is None:
            try:
                p["child"].send_signal(req["sig"])
            except ProcessLookupError:
                pass
    elif "release" in req:
        p = procs.get(req["release"])
        if p is not None:
            close_sync(p)
    else:
        start(req)

signal.signal(signal.SIGINT, signal.SIG_IGN)
sel.register(0, selectors.EVENT_READ, ("stdin",))
os.set_blocking(0, False)
def on_event(key):
    global inbuf
    kind = key.data[0]
    if kind == "stdin":
        try:
            chunk = os.read(0, 65536)
        except BlockingIOError:
            return
        if not chunk:
            sys.exit(0)
        inbuf += chunk
        while b"\n" in inbuf:
            line, inbuf = inbuf.split(b"\n", 1)
            on_request(json.loads(line))
    elif kind == "pipe":
        _, p, which, f = key.data
        data = os.read(f.fileno(), 65536)
        if data:
            p[which].append(data)
        else:
            sel.unregister(f.fileno())
            f.close()
            p["open"] -= 1
            maybe_done(p)
    elif kind == "sync":
        p = key.data[1]
        if p["sync"] != key.fd:
            return  # released by a request handled earlier in this round
        data = os.read(p["sync"], 65536)
        if data:
            send({"id": p["id"], "sync": base64.b64encode(data).decode()})
        else:
            send({"id": p["id"], "syncEnd": True})
            close_sync(p)
    else:
        _, p, pidfd = key.data
        sel.unregister(pidfd)
        os.close(pidfd)
        _, st = os.waitpid(p["child"].pid, 0)
        p["child"].returncode = 0
        p["status"] = st
        maybe_done(p)

while True:
    for key, _ in sel.select():
        try:
            on_event(key)
        except SystemExit:
            raise
        except Exception:
            traceback.print_exc()
`;

interface HelperMessage {
  id: number;
  error?: string;
  code?: string;
  exit?: number | null;
  sig?: number | null;
  out?: string;
  err?: string;
  sync?: string;
  syncEnd?: boolean;
}

interface Pending {
  file: string;
  /** Exit reported (the result is settled). */
  exited: boolean;
  /** A sync pipe was asked for and has not ended or been released. */
  syncOpen: boolean;
  sync: SyncFeed;
  resolve: (r: ProcessResult) => void;
  reject: (err: Error) => void;
}

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]),
);

/** The helper's last argument, by which `ps` tells it from a stream helper. */
export const SPAWN_HELPER_MARK = "podrun-spawner";

/** The system's python3 (a version manager's shim on PATH would start slower). */
const PYTHON = "/usr/bin/python3";

/** What a child writes to its sync pipe, kept until a listener comes. */
class SyncFeed {
  readonly #listeners: ((data: Buffer | "end") => void)[] = [];
  readonly #queue: (Buffer | "end")[] = [];

  emit(d: Buffer | "end"): void {
    if (this.#listeners.length === 0) this.#queue.push(d);
    for (const l of this.#listeners) l(d);
  }

  listen(l: (data: Buffer | "end") => void): void {
    this.#listeners.push(l);
    for (const d of this.#queue.splice(0)) l(d);
  }
}

/** SIGKILLs through `kill` when `signal` aborts, until `settled` settles. */
function killOnAbort(
  signal: AbortSignal | undefined,
  kill: (sig: NodeJS.Signals) => void,
  settled: Promise<unknown>,
): void {
  if (signal === undefined) return;
  const onAbort = (): void => {
    kill("SIGKILL");
  };
  if (signal.aborted) {
    onAbort();
    return;
  }
  signal.addEventListener("abort", onAbort, { once: true });
  void settled
    .finally(() => {
      signal.removeEventListener("abort", onAbort);
    })
    .catch(() => undefined);
}

/** The helper process and the requests in flight through it. */
class Helper {
  readonly #child: ChildProcessByStdio<Writable, Readable, null>;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #buf = "";
  #dead: Error | undefined;

  constructor() {
    this.#child = spawn(PYTHON, ["-c", HELPER_PY, SPAWN_HELPER_MARK], {
      stdio: ["pipe", "pipe", "inherit"],
      // Its own process group: a Ctrl-C meant for podrun must not end the helper while podrun
      // shuts down. It exits when its stdin closes, i.e. when podrun is gone.
      detached: true,
    });
    this.#child.on("error", (err) => {
      this.#fail(err);
    });
    this.#child.on("exit", (code, sig) => {
      this.#fail(new Error(`spawn helper exited (${String(code ?? sig)})`));
    });
    this.#child.stdin.on("error", (err) => {
      this.#fail(err);
    });
    this.#child.stdout.setEncoding("utf8");
    this.#child.stdout.on("data", (d: string) => {
      this.#buf += d;
      let nl: number;
      while ((nl = this.#buf.indexOf("\n")) >= 0) {
        const line = this.#buf.slice(0, nl);
        this.#buf = this.#buf.slice(nl + 1);
        this.#onMessage(JSON.parse(line) as HelperMessage);
      }
    });
    this.#idle();
  }

  get dead(): Error | undefined {
    return this.#dead;
  }

  /** While nothing is in flight the helper must not keep this process alive. */
  #idle(): void {
    if (this.#pending.size > 0) {
      this.#child.ref();
      (this.#child.stdout as Readable & { ref?: () => void }).ref?.();
    } else {
      this.#child.unref();
      (this.#child.stdout as Readable & { unref?: () => void }).unref?.();
    }
  }

  #fail(err: Error): void {
    if (this.#dead !== undefined) return;
    this.#dead = err;
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }

  #send(obj: unknown): void {
    this.#child.stdin.write(`${JSON.stringify(obj)}\n`);
  }

  #onMessage(m: HelperMessage): void {
    const p = this.#pending.get(m.id);
    if (p === undefined) return;
    if (m.error !== undefined) {
      this.#pending.delete(m.id);
      p.reject(new SpawnError(p.file, m.code ?? "EIO", m.error));
    } else if (m.sync !== undefined || m.syncEnd === true) {
      const d: Buffer | "end" = m.syncEnd === true ? "end" : Buffer.from(m.sync ?? "", "base64");
      p.sync.emit(d);
      if (d === "end") this.#syncClosed(m.id, p);
    } else if (m.exit !== undefined) {
      // A daemonizing child (conmon) exits before its sync pipe has spoken: the entry stays
      // until the pipe ends or is released.
      p.exited = true;
      if (!p.syncOpen) this.#pending.delete(m.id);
      p.resolve({
        code: m.exit,
        signal:
          m.sig === null || m.sig === undefined ? null : (SIGNAL_NAMES.get(m.sig) ?? "SIGKILL"),
        stdout: Buffer.from(m.out ?? "", "base64"),
        stderr: Buffer.from(m.err ?? "", "base64"),
      });
    }
    this.#idle();
  }

  #syncClosed(id: number, p: Pending): void {
    p.syncOpen = false;
    if (p.exited) this.#pending.delete(id);
    this.#idle();
  }

  start(file: string, args: readonly string[], opts: SpawnOptions): SpawnedProcess {
    const id = this.#nextId++;
    const entry: Pending = {
      file,
      exited: false,
      syncOpen: opts.syncPipeEnv !== undefined,
      sync: new SyncFeed(),
      resolve: () => undefined,
      reject: () => undefined,
    };
    const done = new Promise<ProcessResult>((resolve, reject) => {
      entry.resolve = resolve;
      entry.reject = reject;
    });
    this.#pending.set(id, entry);
    this.#idle();
    // The helper handles requests in order, so a kill always finds the child it names (or
    // nothing, once it has been reaped).
    const kill = (sig: NodeJS.Signals): void => {
      this.#send({ kill: id, sig: constants.signals[sig] });
    };
    killOnAbort(opts.signal, kill, done);
    this.#send({
      id,
      file,
      args,
      env: opts.env ?? null,
      cwd: opts.cwd ?? null,
      input: opts.input ?? null,
      capture: opts.capture ?? true,
      setsid: opts.setsid === true,
      syncEnv: opts.syncPipeEnv ?? null,
    });
    return {
      done,
      onSync: (l) => {
        entry.sync.listen(l);
      },
      releaseSync: () => {
        if (!entry.syncOpen) return;
        this.#send({ release: id });
        this.#syncClosed(id, entry);
      },
      kill,
    };
  }
}

/** The same contract through Node's own spawn (no helper available). */
function startWithNode(file: string, args: readonly string[], opts: SpawnOptions): SpawnedProcess {
  const capture = opts.capture ?? true;
  const stdio: ("ignore" | "pipe")[] = [
    opts.input === undefined ? "ignore" : "pipe",
    capture ? "pipe" : "ignore",
    capture ? "pipe" : "ignore",
  ];
  let env = opts.env;
  if (opts.syncPipeEnv !== undefined) {
    stdio.push("pipe");
    env = { ...(env ?? (process.env as Record<string, string>)), [opts.syncPipeEnv]: "3" };
  }
  const child = spawn(file, args, {
    stdio,
    detached: opts.setsid === true,
    ...(env === undefined ? {} : { env }),
    ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
  });
  const feed = new SyncFeed();
  const sync = opts.syncPipeEnv === undefined ? undefined : (child.stdio[3] as Readable);
  sync?.on("data", (d: Buffer) => {
    feed.emit(d);
  });
  sync?.on("close", () => {
    feed.emit("end");
  });
  const done = new Promise<ProcessResult>((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on("data", (d: Buffer) => out.push(d));
    child.stderr?.on("data", (d: Buffer) => err.push(d));
    child.on("error", (e: NodeJS.ErrnoException) => {
      reject(new SpawnError(file, e.code ?? "EIO", e.message));
    });
    child.on("close", (code, sig) => {
      resolve({ code, signal: sig, stdout: Buffer.concat(out), stderr: Buffer.concat(err) });
    });
  });
  killOnAbort(
    opts.signal,
    (sig) => {
      child.kill(sig);
    },
    done,
  );
  if (opts.input !== undefined) {
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(opts.input);
  }
  return {
    done,
    onSync: (l) => {
      feed.listen(l);
    },
    releaseSync: () => {
      sync?.destroy();
    },
    kill: (sig) => {
      child.kill(sig);
    },
  };
}

/**
 * Starts processes through the helper when it can (see the top of this file), else through
 * Node's spawn. A helper that dies is replaced on the next call; the calls in flight through it
 * reject.
 */
export class Spawner {
  #helper: Helper | undefined;
  #useHelper: boolean;

  constructor(opts: { useHelper?: boolean } = {}) {
    this.#useHelper = (opts.useHelper ?? true) && existsSync(PYTHON);
  }

  /** True when processes start through the helper. */
  get usesHelper(): boolean {
    return this.#useHelper;
  }

  /**
   * Starts `file args` (resolved on PATH as Node's spawn does). A failure to start rejects
   * `done` with a {@link SpawnError}.
   */
  start(file: string, args: readonly string[], opts: SpawnOptions = {}): SpawnedProcess {
    if (this.#useHelper) {
      if (this.#helper?.dead !== undefined) this.#helper = undefined;
      this.#helper ??= new Helper();
      return this.#helper.start(file, args, opts);
    }
    return startWithNode(file, args, opts);
  }

  /** Runs `file args` to its end and returns how it ended with its output. */
  run(file: string, args: readonly string[], opts: SpawnOptions = {}): Promise<ProcessResult> {
    return this.start(file, args, opts).done;
  }
}

/** The process-wide spawner; `PODRUN_NO_SPAWN_HELPER=1` makes it use Node's spawn. */
export const spawner = new Spawner({ useHelper: process.env["PODRUN_NO_SPAWN_HELPER"] !== "1" });
