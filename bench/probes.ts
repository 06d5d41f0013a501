/**
 * Probe benchmark: the kubelet's ProberManager (real code, SystemClock) probing 100 pods, each with
 * one readiness probe at periodSeconds 1, for a fixed window:
 *
 * - httpGet: every probe is a real HTTP GET over TCP to a local server (127.0.0.1, one port per
 *   10 pods) answering 200 with a small body;
 * - exec: the ProbeExec is FakeProbeExec (answers at once), so the number is the manager's own
 *   cost per probe (worker loop, result bookkeeping), not runc exec.
 *
 * Reported: probes done, this process's CPU time over the window (user + system) as % of one
 * core and µs per probe, and the same window idle as the baseline. The HTTP targets run in a
 * child process, so only the prober's side is counted.
 *
 * With `--runc` (root, runc, conmon, test images) it measures exec probes for real instead: one
 * busybox container started through RuncRuntime in a throw-away netns, `--pods` (default 10)
 * exec probes (`true`, period 1 s) through ProberManager with the RuncRuntime as ProbeExec,
 * next to the same pace of bare `runc exec <id> true` spawns. CPU there includes the children
 * (runc, the exec'd process), read from /proc/self/stat once they were reaped.
 *
 * Usage: `node --import tsx bench/probes.ts [--seconds N] [--pods N] [--only httpGet|exec]
 * [--runc]`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { connect } from "node:net";
import { loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Pod } from "../src/api/index.js";
import { RuncRuntime } from "../src/runtime/index.js";
import { tempDir } from "./lib.js";
import {
  BUSYBOX_REF,
  PAUSE_REF,
  RUNC,
  loadImages,
  makeNetns,
  removeCgroupTree,
  tag,
  testImagesDir,
} from "./lib-runc.js";
import { ProberManager } from "../src/kubelet/prober/index.js";
import type { ContainerId } from "../src/runtime/index.js";
import { FakeProbeExec } from "../src/kubelet/prober/testing/fake-probe-exec.js";
import { SystemClock, nullLogger } from "../src/util/index.js";

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const SECONDS = arg("seconds", 20);
const PODS = arg("pods", 100);
/** `--only httpGet|exec`: run just that case (for profiling with `--cpu-prof`). */
const ONLY = process.argv.includes("--only")
  ? process.argv[process.argv.indexOf("--only") + 1]
  : undefined;

function pod(i: number, probe: NonNullable<Pod["spec"]["containers"][0]["readinessProbe"]>): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: `p${String(i)}`, namespace: "default", uid: `uid-${String(i)}` },
    spec: {
      containers: [
        { name: "app", image: "busybox:1.28", readinessProbe: { periodSeconds: 1, ...probe } },
      ],
    },
  };
}

/** HTTP requests answered by the probe targets (set once they run). */
let httpCountOf: () => Promise<number> = () => Promise.resolve(0);

interface Window {
  cpuMs: number;
  /** Kernel share of cpuMs (connect/close syscalls, epoll). */
  sysMs: number;
  wallMs: number;
}

async function window(ms: number): Promise<Window> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const c = process.cpuUsage(c0);
  return {
    cpuMs: (c.user + c.system) / 1000,
    sysMs: c.system / 1000,
    wallMs: performance.now() - t0,
  };
}

/**
 * Baseline: the same number of bare GETs (net.connect, write, read to close) at the same pace
 * from plain timers, no prober: the floor cost of a connection per probe in Node on this machine.
 */
async function bareBaseline(ports: number[]): Promise<Window & { probes: number }> {
  let done = 0;
  const timers: NodeJS.Timeout[] = [];
  const get = (port: number): void => {
    const sock = connect(port, "127.0.0.1", () => {
      sock.end("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    });
    sock.on("data", () => undefined);
    sock.on("close", () => {
      done++;
    });
    sock.on("error", () => undefined);
  };
  for (let i = 0; i < PODS; i++) {
    const port = ports[i % ports.length] ?? 0;
    setTimeout(
      () => {
        timers.push(
          setInterval(() => {
            get(port);
          }, 1000),
        );
      },
      (1000 * i) / PODS,
    );
  }
  await new Promise((r) => setTimeout(r, 2000));
  const d0 = done;
  const w = await window(SECONDS * 1000);
  const probes = done - d0;
  for (const t of timers) clearInterval(t);
  return { probes, ...w };
}

async function measure(
  kind: "httpGet" | "exec",
  ports: number[],
): Promise<Window & { probes: number }> {
  const exec = new FakeProbeExec();
  const ac = new AbortController();
  const mgr = new ProberManager({
    exec,
    clock: new SystemClock(),
    logger: nullLogger,
    recorder: { event: () => undefined },
    onResult: () => undefined,
  });
  const running = mgr.run(ac.signal);
  const now = Date.now();
  for (let i = 0; i < PODS; i++) {
    const port = ports[i % ports.length] ?? 0;
    const p =
      kind === "httpGet"
        ? pod(i, { httpGet: { path: "/healthz", port } })
        : pod(i, { exec: { command: ["true"] } });
    mgr.updatePod(
      p,
      [{ name: "app", id: `c${String(i)}` as ContainerId, state: "running", startedAtMs: now }],
      "127.0.0.1",
    );
  }
  // Warm-up: let every worker start and spread over the period.
  await new Promise((r) => setTimeout(r, 2000));
  const h0 = await httpCountOf();
  const e0 = exec.calls.length;
  const w = await window(SECONDS * 1000);
  const probes = kind === "httpGet" ? (await httpCountOf()) - h0 : exec.calls.length - e0;
  ac.abort();
  await running;
  return { probes, ...w };
}

/** Probe targets in a child process, so the server's CPU is not counted as the prober's. */
const TARGETS = `
const http = require("node:http");
let count = 0;
const n = Number(process.argv[1]);
const ports = [];
let pending = n;
for (let i = 0; i < n; i++) {
  const s = http.createServer((req, res) => {
    if (req.url === "/count") { res.end(String(count)); return; }
    count++;
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("ok");
  });
  s.listen(0, "127.0.0.1", () => {
    ports.push(s.address().port);
    if (--pending === 0) console.log(JSON.stringify(ports));
  });
}
`;

async function startTargets(n: number): Promise<{ ports: number[]; child: ChildProcess }> {
  const child = spawn(process.execPath, ["-e", TARGETS, String(n)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const ports = await new Promise<number[]>((resolve, reject) => {
    child.stdout.once("data", (b: Buffer) => {
      resolve(JSON.parse(b.toString()) as number[]);
    });
    child.once("exit", (code) => {
      reject(new Error(`probe targets exited ${String(code)}`));
    });
  });
  return { ports, child };
}

async function main(): Promise<void> {
  const { ports, child } = await startTargets(Math.max(1, Math.ceil(PODS / 10)));
  httpCountOf = async () =>
    Number(await (await fetch(`http://127.0.0.1:${String(ports[0])}/count`)).text());
  const load0 = loadavg()[0] ?? 0;
  if (ONLY === "httpGet" || ONLY === "exec") {
    const r = await measure(ONLY, ports);
    child.kill();
    console.log(
      `${ONLY}: ${String(r.probes)} probes, ${((100 * r.cpuMs) / r.wallMs).toFixed(2)} % ` +
        `(system ${((100 * r.sysMs) / r.wallMs).toFixed(2)} %)`,
    );
    return;
  }
  console.error(`idle baseline ${String(SECONDS)} s …`);
  const idle = await window(SECONDS * 1000);
  console.error("bare GET baseline …");
  const bare = await bareBaseline(ports);
  console.error("httpGet …");
  const http = await measure("httpGet", ports);
  console.error("exec (FakeProbeExec) …");
  const exec = await measure("exec", ports);
  child.kill();
  const load1 = loadavg()[0] ?? 0;

  const pct = (cpuMs: number, wallMs: number): string => ((100 * cpuMs) / wallMs).toFixed(2) + " %";
  const per = (cpuMs: number, probes: number): string =>
    probes === 0 ? "-" : ((1000 * cpuMs) / probes).toFixed(0) + " µs";
  console.log(
    `probes: ${String(PODS)} pods × 1 readiness probe, period 1 s, ${String(SECONDS)} s window, ` +
      `node ${process.version}, load ${load0.toFixed(1)} → ${load1.toFixed(1)}\n`,
  );
  console.log(
    "| case | probes | probes/s | CPU (% of one core) | of which system | CPU per probe |",
  );
  console.log("| --- | --- | --- | --- | --- | --- |");
  console.log(
    `| idle (baseline) | 0 | 0 | ${pct(idle.cpuMs, idle.wallMs)} | ${pct(idle.sysMs, idle.wallMs)} | - |`,
  );
  for (const [name, r] of [
    ["baseline: bare net.connect GETs, no prober", bare],
    ["httpGet (real TCP, targets in a child process)", http],
    ["exec (FakeProbeExec)", exec],
  ] as const) {
    console.log(
      `| ${name} | ${String(r.probes)} | ${((1000 * r.probes) / r.wallMs).toFixed(1)} | ` +
        `${pct(r.cpuMs, r.wallMs)} | ${pct(r.sysMs, r.wallMs)} | ${per(r.cpuMs, r.probes)} |`,
    );
  }
  const httpPct = (100 * http.cpuMs) / http.wallMs;
  console.log(
    `\nhttpGet case: ${httpPct.toFixed(2)} % of one core — ${httpPct < 10 ? "PASS" : "FAIL"} (budget 10 %)`,
  );
}

/** CPU ms of this process plus its reaped children (utime, stime, cutime, cstime). */
function cpuWithChildrenMs(): number {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = [11, 12, 13, 14].reduce((a, i) => a + Number(f[i] ?? 0), 0);
  return ticks * 10; // USER_HZ is 100 on Linux
}

async function runcWindow(ms: number): Promise<{ cpuMs: number; wallMs: number }> {
  const c0 = cpuWithChildrenMs();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  return { cpuMs: cpuWithChildrenMs() - c0, wallMs: performance.now() - t0 };
}

async function runcMain(): Promise<void> {
  const pods = process.argv.includes("--pods") ? PODS : 10;
  const dir = await tempDir("podrun-bench-probes-");
  const netns = await makeNetns();
  const cgroupRoot = `podrun-bench-${tag()}`;
  const runRoot = join(dir.path, "run");
  const root = fileURLToPath(new URL("..", import.meta.url));
  const { images } = await loadImages(join(dir.path, "images"), await testImagesDir(root));
  const runtime = new RuncRuntime({
    root: join(dir.path, "root"),
    runRoot,
    cgroupRoot,
    hostNetns: netns.path,
    pauseImage: PAUSE_REF,
    layers: images,
    logger: nullLogger,
  });
  const dispose = async (): Promise<void> => {
    for (const sb of await runtime.listPodSandboxes().catch(() => [])) {
      await runtime.stopPodSandbox(sb.id).catch(() => undefined);
      await runtime.removePodSandbox(sb.id).catch(() => undefined);
    }
    await runtime.close();
    await removeCgroupTree(cgroupRoot);
    await netns.dispose();
    await dir.dispose();
  };
  try {
    await runtime.init();
    await mkdir(join(dir.path, "logs"), { recursive: true });
    const sb = await runtime.runPodSandbox({
      name: "probe",
      attempt: 0,
      labels: {},
      annotations: {},
      hostname: "probe",
      hostNetwork: false,
      hostIPC: false,
      pidMode: "pod",
      portMappings: [],
      cgroupParent: `${cgroupRoot}/pod-probe`,
    });
    const id = await runtime.createContainer(sb, {
      name: "app",
      attempt: 0,
      labels: {},
      annotations: {},
      image: BUSYBOX_REF,
      argv: ["sleep", "3600"],
      env: [
        { name: "PATH", value: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" },
      ],
      mounts: [],
      logPath: join(dir.path, "logs", "app.log"),
      pidMode: "pod",
    });
    await runtime.startContainer(id);
    const load0 = loadavg()[0] ?? 0;

    // Baseline: bare `runc exec <id> true`, `pods` per second from plain timers.
    let bareDone = 0;
    const timers: NodeJS.Timeout[] = [];
    for (let i = 0; i < pods; i++) {
      setTimeout(
        () => {
          timers.push(
            setInterval(() => {
              const child = spawn(RUNC, ["--root", join(runRoot, "runc"), "exec", id, "true"], {
                stdio: "ignore",
              });
              child.on("close", () => {
                bareDone++;
              });
            }, 1000),
          );
        },
        (1000 * i) / pods,
      );
    }
    await new Promise((r) => setTimeout(r, 2000));
    const b0 = bareDone;
    const bare = await runcWindow(SECONDS * 1000);
    const bareProbes = bareDone - b0;
    for (const t of timers) clearInterval(t);
    await new Promise((r) => setTimeout(r, 1500));

    // podrun: ProberManager with the RuncRuntime as its ProbeExec.
    let probeDone = 0;
    const exec = {
      execSync: async (cid: typeof id, argv: string[], timeoutMs: number) => {
        const r = await runtime.execSync(cid, argv, timeoutMs);
        probeDone++;
        return r;
      },
    };
    const ac = new AbortController();
    const mgr = new ProberManager({
      exec,
      clock: new SystemClock(),
      logger: nullLogger,
      recorder: { event: () => undefined },
      onResult: () => undefined,
    });
    const running = mgr.run(ac.signal);
    const now = Date.now();
    for (let i = 0; i < pods; i++) {
      mgr.updatePod(
        pod(i, { exec: { command: ["true"] } }),
        [{ name: "app", id, state: "running", startedAtMs: now }],
        undefined,
      );
    }
    await new Promise((r) => setTimeout(r, 2000));
    const p0 = probeDone;
    const prober = await runcWindow(SECONDS * 1000);
    const probes = probeDone - p0;
    ac.abort();
    await running;
    const load1 = loadavg()[0] ?? 0;

    console.log(
      `exec probes through runc: ${String(pods)} probes/s target, ${String(SECONDS)} s window, ` +
        `node ${process.version}, load ${load0.toFixed(1)} → ${load1.toFixed(1)}\n`,
    );
    console.log("| case | execs | execs/s | CPU incl. children (% of one core) | CPU per exec |");
    console.log("| --- | --- | --- | --- | --- |");
    for (const [name, n, w] of [
      ["baseline: bare `runc exec <id> true`", bareProbes, bare],
      ["exec probe through ProberManager + RuncRuntime.execSync", probes, prober],
    ] as const) {
      console.log(
        `| ${name} | ${String(n)} | ${((1000 * n) / w.wallMs).toFixed(1)} | ` +
          `${((100 * w.cpuMs) / w.wallMs).toFixed(1)} % | ` +
          `${n === 0 ? "-" : (w.cpuMs / n).toFixed(1) + " ms"} |`,
      );
    }
  } finally {
    await dispose();
  }
}

if (process.argv.includes("--runc")) await runcMain();
else await main();
