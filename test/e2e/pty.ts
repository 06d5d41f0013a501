// Pseudo-terminal drivers for the interactive kubectl e2e tests (`kubectl exec -it`, `attach
// -it`, `debug -it`, `run -it` only behave interactively when their stdin is a terminal).
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import path from "node:path";
import { KUBECTL_DIR, type Cluster, type RunResult } from "./harness.js";

/**
 * Runs argv[3:] as the session leader of a new pseudo-terminal of argv[1] rows and argv[2]
 * columns, writes `PID <pid>` on stderr, copies the terminal's output to stdout as it comes,
 * and exits with the command's exit code once it exited and its output was drained.
 */
const PTY_RUN = String.raw`
import fcntl, os, pty, select, struct, subprocess, sys, termios
rows, cols = int(sys.argv[1]), int(sys.argv[2])
m, s = pty.openpty()
fcntl.ioctl(m, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
p = subprocess.Popen(sys.argv[3:], stdin=s, stdout=s, stderr=s, start_new_session=True,
                     preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
os.close(s)
sys.stderr.write("PID %d\n" % p.pid); sys.stderr.flush()
while True:
    r, _, _ = select.select([m], [], [], 0.2)
    if r:
        try:
            d = os.read(m, 65536)
        except OSError:
            d = b""
        if not d:
            break
        sys.stdout.buffer.write(d); sys.stdout.buffer.flush()
    elif p.poll() is not None:
        break
sys.exit(p.wait())
`;

/** The kubectl binary of `version` with the cluster's kubeconfig, as an argv prefix. */
export function kubectlArgv(c: Cluster, version: string): string[] {
  return [path.join(KUBECTL_DIR, `kubectl.${version}`), "--kubeconfig", c.kubeconfig];
}

/** Runs `argv` on a pseudo-terminal inside the cluster's netns and waits for it to exit. */
export function runOnPty(
  c: Cluster,
  argv: string[],
  opts: { rows?: number; cols?: number; timeoutMs?: number } = {},
): Promise<RunResult> {
  return c.inNetns(
    "python3",
    ["-c", PTY_RUN, String(opts.rows ?? 40), String(opts.cols ?? 200), ...argv],
    { timeoutMs: opts.timeoutMs ?? 120_000 },
  );
}

/** A command running on a pseudo-terminal in the background. */
export interface PtyProcess {
  /** The command's own pid (not the driver's). */
  pid: Promise<number>;
  /** Output so far. */
  output(): string;
  /** Resolves with the driver's exit code once it exited. */
  exited: Promise<number>;
  driver: ChildProcessWithoutNullStreams;
}

/** Starts `argv` on a pseudo-terminal inside the cluster's netns without waiting for it. */
export function spawnOnPty(c: Cluster, argv: string[]): PtyProcess {
  const driver = spawn(
    "nsenter",
    [`--net=/run/netns/${c.netns}`, "python3", "-c", PTY_RUN, "40", "200", ...argv],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  let out = "";
  let err = "";
  let resolvePid: (pid: number) => void = () => undefined;
  let rejectPid: (e: Error) => void = () => undefined;
  const pid = new Promise<number>((resolve, reject) => {
    resolvePid = resolve;
    rejectPid = reject;
  });
  driver.stdout.on("data", (d: Buffer) => (out += d.toString()));
  driver.stderr.on("data", (d: Buffer) => {
    err += d.toString();
    const m = /^PID (\d+)$/m.exec(err);
    if (m?.[1] !== undefined) resolvePid(Number(m[1]));
  });
  const exited = new Promise<number>((resolve) => {
    driver.once("close", (code) => {
      rejectPid(new Error(`pty driver exited ${String(code)}: ${err}`));
      resolve(code ?? -1);
    });
  });
  // Observed through `exited` by every caller; a rejection here only means the driver ended.
  pid.catch(() => undefined);
  return { pid, output: () => out, exited, driver };
}
