// Issue 7 acceptance: killing kubectl mid-stream (exec, exec -it, attach -it, port-forward with
// an open connection, logs -f) or deleting the pod mid-exec leaves nothing behind: no process
// in the container (checked from the node's /proc), no stream helper or runc exec under podrun,
// no API server connection, and the streaming gauges of /metrics back at 0. With kubectl 1.27
// (SPDY), 1.31 and 1.33 (websocket, tunnelled port-forward).
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { readFile, readdir } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import { SPAWN_HELPER_MARK } from "../../src/util/index.js";
import { startCluster, type Cluster } from "./harness.js";
import { kubectlArgv, spawnOnPty } from "./pty.js";

const VERSIONS = ["1.27", "1.31", "1.33"];
const short = (v: string): string => v.replace(".", "");

const manifests = `
apiVersion: v1
kind: Pod
metadata:
  name: demo
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox:1.28
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do echo tick; sleep 1; done"]
---
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: web:latest
    imagePullPolicy: IfNotPresent
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
---
apiVersion: v1
kind: Pod
metadata:
  name: tty
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: sh
    image: busybox:1.28
    command: ["sh"]
    stdin: true
    tty: true
${VERSIONS.map(
  (v) => `---
apiVersion: v1
kind: Pod
metadata:
  name: victim-${short(v)}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox:1.28
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
`,
).join("")}`;

/** Polls `fn` until it returns a value other than undefined. */
async function until<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  detail: () => Promise<string> = () => Promise.resolve(""),
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${await detail()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Every process on the host: pid, parent pid and argv. */
async function processes(): Promise<{ pid: number; ppid: number; argv: string[] }[]> {
  const out: { pid: number; ppid: number; argv: string[] }[] = [];
  for (const d of await readdir("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = await readFile(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const argv = (await readFile(`/proc/${d}/cmdline`, "utf8")).split("\0").slice(0, -1);
      out.push({ pid: Number(d), ppid, argv });
    } catch {
      // The process exited while we looked: it is not left behind.
    }
  }
  return out;
}

/** Processes whose argv is exactly `argv` (e.g. a container's `sleep 3917`). */
async function exactly(argv: string[]): Promise<number[]> {
  return (await processes())
    .filter((p) => p.argv.length === argv.length && p.argv.every((a, i) => a === argv[i]))
    .map((p) => p.pid);
}

describe("streams end cleanly when the client goes away", () => {
  let c: Cluster;
  let podrunPid = 0;
  before(async () => {
    c = await startCluster();
    await c.k(["apply", "-f", "-"], { input: manifests });
    const podrun = (await processes()).find(
      (p) => p.argv.includes("up") && p.argv.includes(c.dataDir) && p.argv[0]?.endsWith("node"),
    );
    assert.ok(podrun !== undefined, "podrun process not found");
    podrunPid = podrun.pid;
    for (const pod of ["demo", "web", "tty", ...VERSIONS.map((v) => `victim-${short(v)}`)]) {
      await c.waitFor(`pod/${pod}`, "{.status.phase}", "Running", 90_000);
    }
  });
  after(async () => {
    await c.stop();
  });

  /** Stream helpers, `runc exec` and port-forward `nc` processes podrun started. */
  async function streamChildren(): Promise<string[]> {
    const all = await processes();
    const children = new Map<number, number[]>();
    for (const p of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p.pid]);
    const mine = new Set<number>();
    const queue = [podrunPid];
    for (let pid = queue.pop(); pid !== undefined; pid = queue.pop()) {
      for (const ch of children.get(pid) ?? []) {
        mine.add(ch);
        queue.push(ch);
      }
    }
    return (
      all
        // The spawn helper lives as long as podrun; what it starts is podrun's like the rest.
        .filter((p) => mine.has(p.pid) && p.argv.at(-1) !== SPAWN_HELPER_MARK)
        .map((p) => p.argv.join(" "))
        .filter((a) => /python3|runc .*\bexec\b|\bnc 127\.0\.0\.1/.test(a))
    );
  }

  /** API server TCP connections not yet closed on the server side (established or CLOSE-WAIT). */
  async function apiConnections(): Promise<string[]> {
    // Not TIME-WAIT: a connection the server closed first lingers there, owned by nobody.
    const r = await c.inNetns("ss", [
      "-Htn",
      "state",
      "established",
      "state",
      "close-wait",
      "( sport = :6443 )",
    ]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.split("\n").filter((l) => l.trim() !== "");
  }

  /** The sums of the streaming gauges in the API server's /metrics. */
  async function gauges(): Promise<{ connections: number; sessions: number; text: string }> {
    const text = await c.k(["get", "--raw", "/metrics"]);
    const sum = (name: string): number => {
      let total = 0;
      let seen = false;
      for (const m of text.matchAll(new RegExp(`^${name}\\{[^}]*\\} (\\d+)$`, "gm"))) {
        total += Number(m[1]);
        seen = true;
      }
      assert.ok(seen, `${name} missing from /metrics`);
      return total;
    };
    return {
      connections: sum("podrun_streaming_connections"),
      sessions: sum("podrun_streaming_sessions"),
      text,
    };
  }

  /** Waits until nothing of a stream is left; `leftover` is the container process's argv. */
  async function assertClean(leftover?: string[]): Promise<void> {
    const state = async () => ({
      procs: leftover === undefined ? [] : await exactly(leftover),
      children: await streamChildren(),
      // Read before the /metrics request opens a connection of its own.
      sockets: await apiConnections(),
      gauges: await gauges(),
    });
    await until(
      "the stream to be cleaned up",
      async () => {
        const s = await state();
        const isClean =
          s.procs.length === 0 &&
          s.children.length === 0 &&
          s.sockets.length === 0 &&
          s.gauges.connections === 0 &&
          s.gauges.sessions === 0;
        return isClean ? true : undefined;
      },
      30_000,
      async () => {
        const s = await state();
        return JSON.stringify({ ...s, gauges: s.gauges.text.match(/^podrun_streaming.*$/gm) });
      },
    );
  }

  /** Starts kubectl in the background inside the cluster's netns. */
  function kubectlBg(v: string, args: string[]): { child: ChildProcess; output: () => string } {
    const child = spawn(
      "nsenter",
      [`--net=/run/netns/${c.netns}`, "--", ...kubectlArgv(c, v), ...args],
      { stdio: ["pipe", "pipe", "pipe"] },
    );
    track(child);
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    return { child, output: () => out };
  }

  /** Tracks when each background process closed (the event fires once, maybe already). */
  const closedOf = new WeakMap<ChildProcess, Promise<void>>();
  function track(child: ChildProcess): ChildProcess {
    closedOf.set(
      child,
      new Promise((r) => {
        child.once("close", () => {
          r();
        });
      }),
    );
    return child;
  }

  async function killAndWait(child: ChildProcess): Promise<void> {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await closedOf.get(child);
  }

  /** Waits until the gauge `subresource` of podrun_streaming_sessions reaches `n`. */
  async function waitSessions(subresource: string, n: number): Promise<void> {
    const re = new RegExp(
      `^podrun_streaming_sessions\\{subresource="${subresource}"\\} (\\d+)$`,
      "m",
    );
    await until(`${subresource} sessions = ${n}`, async () =>
      Number(re.exec((await gauges()).text)?.[1]) === n ? true : undefined,
    );
  }

  for (const v of VERSIONS) {
    test(`kubectl ${v}: killing exec mid-stream kills the exec'd process`, async () => {
      const sleeper = ["sleep", `39${short(v)}1`];
      const ex = kubectlBg(v, [
        "exec",
        "demo",
        "--",
        "sh",
        "-c",
        `echo started; exec ${sleeper.join(" ")}`,
      ]);
      try {
        await until("exec started", () =>
          Promise.resolve(ex.output().includes("started") ? true : undefined),
        );
        assert.equal((await exactly(sleeper)).length, 1);
        await waitSessions("exec", 1);
      } finally {
        await killAndWait(ex.child);
      }
      await assertClean(sleeper);
    });

    test(`kubectl ${v}: killing exec -it on a terminal kills the exec'd process`, async () => {
      const sleeper = ["sleep", `39${short(v)}2`];
      const pty = spawnOnPty(c, [
        ...kubectlArgv(c, v),
        "exec",
        "-it",
        "demo",
        "--",
        "sh",
        "-c",
        `echo started; exec ${sleeper.join(" ")}`,
      ]);
      try {
        await until("exec -it started", () =>
          Promise.resolve(pty.output().includes("started") ? true : undefined),
        );
        assert.equal((await exactly(sleeper)).length, 1);
        await waitSessions("exec", 1);
      } finally {
        process.kill(await pty.pid, "SIGKILL");
        await pty.exited;
      }
      await assertClean(sleeper);
    });

    test(`kubectl ${v}: killing attach -it leaves the container running and nothing else`, async () => {
      const pty = spawnOnPty(c, [...kubectlArgv(c, v), "attach", "-it", "tty"]);
      try {
        await until("attach started", () =>
          Promise.resolve(pty.output().includes("try pressing enter") ? true : undefined),
        );
        await waitSessions("attach", 1);
      } finally {
        process.kill(await pty.pid, "SIGKILL");
        await pty.exited;
      }
      await assertClean();
      assert.equal(
        await c.k([
          "get",
          "pod",
          "tty",
          "-o",
          "jsonpath={.status.containerStatuses[0].restartCount} {.status.phase}",
        ]),
        "0 Running",
      );
    });

    test(`kubectl ${v}: killing port-forward with an open connection closes it in the pod`, async () => {
      const port = 18100 + VERSIONS.indexOf(v);
      const pf = kubectlBg(v, ["port-forward", "pod/web", `${port}:80`]);
      let conn: ChildProcess | undefined;
      try {
        await until("port-forward listening", () =>
          Promise.resolve(pf.output().includes("Forwarding from") ? true : undefined),
        );
        // A request that never ends keeps the forwarded connection open.
        conn = track(
          spawn(
            "nsenter",
            [`--net=/run/netns/${c.netns}`, "busybox", "nc", "127.0.0.1", String(port)],
            { stdio: ["pipe", "ignore", "ignore"] },
          ),
        );
        conn.stdin?.write("GET / HTTP/1.1\r\nHost: x\r\n");
        await waitSessions("portforward", 1);
        await killAndWait(pf.child);
        await assertClean();
      } finally {
        await killAndWait(pf.child);
        if (conn !== undefined) await killAndWait(conn);
      }
    });

    test(`kubectl ${v}: killing logs -f closes the log stream`, async () => {
      const logs = kubectlBg(v, ["logs", "-f", "demo"]);
      try {
        await until("logs streaming", () =>
          Promise.resolve(/tick\n[\s\S]*tick\n/.test(logs.output()) ? true : undefined),
        );
        assert.ok((await apiConnections()).length > 0, "logs -f has no API connection");
      } finally {
        await killAndWait(logs.child);
      }
      await assertClean();
    });

    test(`kubectl ${v}: deleting the pod mid-exec ends the exec and leaves no process`, async () => {
      const pod = `victim-${short(v)}`;
      const sleeper = ["sleep", `39${short(v)}3`];
      const ex = kubectlBg(v, [
        "exec",
        pod,
        "--",
        "sh",
        "-c",
        `echo started; exec ${sleeper.join(" ")}`,
      ]);
      const exited = closedOf.get(ex.child)?.then(() => ex.child.exitCode);
      try {
        await until("exec started", () =>
          Promise.resolve(ex.output().includes("started") ? true : undefined),
        );
        assert.equal((await exactly(sleeper)).length, 1);
        await c.k(["delete", "pod", pod, "--wait=false"], { version: v });
        let timer: NodeJS.Timeout | undefined;
        const code = await Promise.race([
          exited,
          new Promise<"timeout">((r) => {
            timer = setTimeout(() => {
              r("timeout");
            }, 60_000);
          }),
        ]);
        clearTimeout(timer);
        assert.notEqual(code, "timeout", `exec did not end: ${ex.output()}`);
        assert.notEqual(code, 0, ex.output());
      } finally {
        await killAndWait(ex.child);
      }
      await assertClean(sleeper);
      await until(
        `pod ${pod} gone`,
        async () => {
          const r = await c.kubectl(["get", "pod", pod]);
          return r.code !== 0 && r.stderr.includes("NotFound") ? true : undefined;
        },
        60_000,
      );
    });
  }
});
