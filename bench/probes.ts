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
 * Usage: `node --import tsx bench/probes.ts [--seconds N] [--pods N]`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { connect } from "node:net";
import { loadavg } from "node:os";
import type { Pod } from "../src/api/index.js";
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

async function window(ms: number): Promise<{ cpuMs: number; wallMs: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const c = process.cpuUsage(c0);
  return { cpuMs: (c.user + c.system) / 1000, wallMs: performance.now() - t0 };
}

/**
 * Baseline: the same number of bare GETs (net.connect, write, read to close) at the same pace
 * from plain timers, no prober: the floor cost of a connection per probe in Node on this machine.
 */
async function bareBaseline(
  ports: number[],
): Promise<{ probes: number; cpuMs: number; wallMs: number }> {
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
): Promise<{ probes: number; cpuMs: number; wallMs: number }> {
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
  console.log("| case | probes | probes/s | CPU (% of one core) | CPU per probe |");
  console.log("| --- | --- | --- | --- | --- |");
  console.log(`| idle (baseline) | 0 | 0 | ${pct(idle.cpuMs, idle.wallMs)} | - |`);
  for (const [name, r] of [
    ["baseline: bare net.connect GETs, no prober", bare],
    ["httpGet (real TCP, targets in a child process)", http],
    ["exec (FakeProbeExec)", exec],
  ] as const) {
    console.log(
      `| ${name} | ${String(r.probes)} | ${((1000 * r.probes) / r.wallMs).toFixed(1)} | ` +
        `${pct(r.cpuMs, r.wallMs)} | ${per(r.cpuMs, r.probes)} |`,
    );
  }
  const httpPct = (100 * http.cpuMs) / http.wallMs;
  console.log(
    `\nhttpGet case: ${httpPct.toFixed(2)} % of one core — ${httpPct < 10 ? "PASS" : "FAIL"} (budget 10 %)`,
  );
}

await main();
