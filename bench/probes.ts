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
 * core and µs per probe, and the same window idle as the baseline. The HTTP server shares the
 * process, so the httpGet CPU includes the server side too (an upper bound for the kubelet).
 *
 * Usage: `node --import tsx bench/probes.ts [--seconds N] [--pods N]`.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
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

/** HTTP requests answered by the probe targets. */
let httpCount = 0;

async function window(ms: number): Promise<{ cpuMs: number; wallMs: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const c = process.cpuUsage(c0);
  return { cpuMs: (c.user + c.system) / 1000, wallMs: performance.now() - t0 };
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
  const h0 = httpCount;
  const e0 = exec.calls.length;
  const w = await window(SECONDS * 1000);
  const probes = kind === "httpGet" ? httpCount - h0 : exec.calls.length - e0;
  ac.abort();
  await running;
  return { probes, ...w };
}

async function main(): Promise<void> {
  const servers: Server[] = [];
  const ports: number[] = [];
  for (let i = 0; i < Math.max(1, Math.ceil(PODS / 10)); i++) {
    const s = createServer((_req, res) => {
      httpCount++;
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok\n");
    });
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    servers.push(s);
    ports.push((s.address() as AddressInfo).port);
  }
  const load0 = loadavg()[0] ?? 0;
  console.error(`idle baseline ${String(SECONDS)} s …`);
  const idle = await window(SECONDS * 1000);
  console.error("httpGet …");
  const http = await measure("httpGet", ports);
  console.error("exec (FakeProbeExec) …");
  const exec = await measure("exec", ports);
  for (const s of servers) s.close();
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
    ["httpGet (real TCP, server in-process)", http],
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
