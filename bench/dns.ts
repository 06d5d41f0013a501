/**
 * Networking benchmarks (run on purpose, root required, never part of `npm test`):
 *
 *   node --import tsx bench/dns.ts            # all three
 *   node --import tsx bench/dns.ts dns        # a subset: dns, connect, rules
 *
 * 1. dns: queries/s and p50/p99 latency for cluster names (A records of 1,000 Services) against
 *    podrun's DnsServer in this process vs dnsmasq (same names from a hosts file), same run.
 *    The load generator runs in a worker thread (its own event loop) with 64 queries in flight.
 * 2. connect: a real cluster (test/e2e harness); time from `Service` create (API response) to
 *    the first successful TCP connection to its cluster IP from the node, 5 samples.
 * 3. rules: ServiceProxy with 1,000 Services over an in-process fake API, nft in a scratch
 *    network namespace; time of the first full sync, and from an EndpointSlice change to the
 *    end of the nft transaction that carries it (20 samples, reported by the proxy's
 *    `onSynced`), next to the same kind of change through a one-shot `nft -f -` (baseline).
 * Results go to stdout as Markdown.
 */
import { execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile, chmod } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import { Worker } from "node:worker_threads";
import type { EndpointSlice, Service } from "../src/api/index.js";
import { Client, HandlerTransport } from "../src/client/index.js";
import { FakeApiHandler } from "../src/client/testing/fake-handler.js";
import { ClusterZone, DnsServer } from "../src/dns/index.js";
import { ServiceProxy, buildServiceModel, diffScript, runNft } from "../src/proxy/index.js";
import { SystemClock, nullLogger } from "../src/util/index.js";
import { startCluster } from "../test/e2e/harness.js";

const exec = promisify(execFile);
const N_SERVICES = 1000;
const log = (m: string): void => void process.stderr.write(`${m}\n`);
const rows: string[] = [];

const ipOf = (i: number): string =>
  `10.96.${String(Math.floor(i / 250) + 1)}.${String((i % 250) + 1)}`;

function fixtures(n: number): { services: Service[]; slices: EndpointSlice[] } {
  const services: Service[] = [];
  const slices: EndpointSlice[] = [];
  for (let i = 0; i < n; i++) {
    const name = `svc-${String(i)}`;
    services.push({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace: "default", uid: `u${String(i)}` },
      spec: {
        type: "ClusterIP",
        clusterIP: ipOf(i),
        clusterIPs: [ipOf(i)],
        selector: { app: name },
        ports: [{ name: "http", port: 80, protocol: "TCP", targetPort: 8080 }],
      },
    });
    slices.push({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        name: `${name}-abcde`,
        namespace: "default",
        labels: { "kubernetes.io/service-name": name },
      },
      addressType: "IPv4",
      endpoints: [
        {
          addresses: [`10.244.${String(Math.floor(i / 250))}.${String((i % 250) + 2)}`],
          conditions: { ready: true, serving: true, terminating: false },
        },
      ],
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    });
  }
  return { services, slices };
}

const pct = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

/** Load generator (plain JS, runs in a worker): UDP queries with `inflight` outstanding. */
const LOADGEN = `
const { parentPort, workerData } = require("node:worker_threads");
const dgram = require("node:dgram");
const { port, names, inflight, durationMs } = workerData;
function query(id, name) {
  const labels = name.split(".");
  const parts = [Buffer.from([id >> 8, id & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0])];
  for (const l of labels) parts.push(Buffer.from([l.length]), Buffer.from(l));
  parts.push(Buffer.from([0, 0, 1, 0, 1]));
  return Buffer.concat(parts);
}
const sock = dgram.createSocket("udp4");
const sent = new Map();
const lat = [];
let next = 0, errors = 0, done = false;
const t0 = performance.now();
function send() {
  if (done) return;
  const id = next++ & 0xffff;
  sent.set(id, performance.now());
  sock.send(query(id, names[next % names.length]), port, "127.0.0.1");
}
sock.on("message", (m) => {
  const id = (m[0] << 8) | m[1];
  const t = sent.get(id);
  if (t === undefined) return;
  sent.delete(id);
  if ((m[3] & 15) !== 0 || ((m[6] << 8) | m[7]) === 0) errors++;
  lat.push(performance.now() - t);
  send();
});
sock.bind(0, () => {
  for (let i = 0; i < inflight; i++) send();
  // Lost datagrams: re-prime the window now and then.
  const refill = setInterval(() => {
    const now = performance.now();
    for (const [id, t] of sent) if (now - t > 1000) { sent.delete(id); errors++; send(); }
  }, 200);
  setTimeout(() => {
    done = true;
    clearInterval(refill);
    sock.close();
    parentPort.postMessage({ lat, errors, elapsedMs: performance.now() - t0 });
  }, durationMs);
});
`;

async function load(
  port: number,
  names: string[],
): Promise<{ qps: number; p50: number; p99: number; errors: number; count: number }> {
  const w = new Worker(LOADGEN, {
    eval: true,
    workerData: { port, names, inflight: 64, durationMs: 5000 },
  });
  const r = await new Promise<{ lat: number[]; errors: number; elapsedMs: number }>(
    (resolve, reject) => {
      w.once("message", resolve);
      w.once("error", reject);
    },
  );
  await w.terminate();
  const sorted = r.lat.sort((a, b) => a - b);
  return {
    qps: Math.round(r.lat.length / (r.elapsedMs / 1000)),
    p50: pct(sorted, 50),
    p99: pct(sorted, 99),
    errors: r.errors,
    count: r.lat.length,
  };
}

/** CPU seconds (user + system) one thread has used so far, from /proc (Linux). */
async function threadCpuSeconds(pid: number, tid = pid): Promise<number> {
  const stat = await readFile(`/proc/${String(pid)}/task/${String(tid)}/stat`, "utf8");
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}
const CLOCK_TICKS = Number((await exec("getconf", ["CLK_TCK"])).stdout.trim()) || 100;

/** Runs `load` and measures the CPU time `pid`'s thread `tid` spent meanwhile. */
async function loadWithCpu(
  port: number,
  names: string[],
  pid: number,
  tid = pid,
): Promise<Awaited<ReturnType<typeof load>> & { perCpuSecond: number }> {
  const cpu0 = await threadCpuSeconds(pid, tid);
  const r = await load(port, names);
  const cpu = (await threadCpuSeconds(pid, tid)) - cpu0;
  return { ...r, perCpuSecond: cpu > 0 ? Math.round(r.count / cpu) : NaN };
}

async function benchDns(): Promise<void> {
  const { services, slices } = fixtures(N_SERVICES);
  const names = services.map((s) => `${s.metadata.name ?? ""}.default.svc.cluster.local`);
  const zone = new ClusterZone({ clusterDomain: "cluster.local" });
  zone.update(services, slices);
  const port = 20000 + Math.floor(Math.random() * 20000);
  const ac = new AbortController();
  const server = new DnsServer({ zone, logger: nullLogger, listen: [{ host: "127.0.0.1", port }] });
  const running = server.run(ac.signal);
  const dir = await mkdtemp(path.join(tmpdir(), "podrun-bench-dns-"));
  const hosts = path.join(dir, "hosts");
  await writeFile(hosts, services.map((s, i) => `${ipOf(i)} ${names[i] ?? ""}`).join("\n") + "\n");
  const port2 = port + 1;
  const dm = spawn(
    "dnsmasq",
    [
      "--no-daemon",
      "--keep-in-foreground",
      `--port=${String(port2)}`,
      "--listen-address=127.0.0.1",
      "--bind-interfaces",
      "--no-resolv",
      "--no-hosts",
      `--addn-hosts=${hosts}`,
      "--cache-size=10000",
      "--user=root",
      "--pid-file=",
    ],
    { stdio: "ignore" },
  );
  try {
    await new Promise((r) => setTimeout(r, 500));
    log("dns: warm-up");
    await load(port, names.slice(0, 10));
    await load(port2, names.slice(0, 10));
    // Rounds alternate between the two servers so that a change in the machine's load (it is
    // shared) hits both alike; the median round of each is reported.
    type Result = Awaited<ReturnType<typeof loadWithCpu>>;
    const ours: Result[] = [];
    const theirs: Result[] = [];
    for (let round = 0; round < 3; round++) {
      log(`dns: round ${String(round + 1)} of 3`);
      // The server's own thread: podrun's is this process's main thread, dnsmasq is single
      // threaded. Queries per CPU-second is what one core would serve, whatever the load.
      ours.push(await loadWithCpu(port, names, process.pid));
      theirs.push(await loadWithCpu(port2, names, dm.pid ?? 0));
    }
    const median = (r: Result[]): Result => {
      const sorted = [...r].sort((a, b) => a.qps - b.qps);
      const m = sorted[Math.floor(sorted.length / 2)];
      if (m === undefined) throw new RangeError("no rounds");
      return m;
    };
    const median2 = (r: Result[]): number =>
      [...r].map((x) => x.perCpuSecond).sort((x, y) => x - y)[Math.floor(r.length / 2)] ?? NaN;
    const [a, b] = [median(ours), median(theirs)];
    rows.push(
      "| DNS A queries, 1,000 cluster names, 64 in flight, 3 alternating rounds of 5 s (median round) | podrun DnsServer (in-process) | dnsmasq (hosts file) |",
      "|---|---|---|",
      `| queries/s | ${String(a.qps)} | ${String(b.qps)} |`,
      `| queries/s, every round | ${ours.map((r) => String(r.qps)).join(" / ")} | ${theirs.map((r) => String(r.qps)).join(" / ")} |`,
      `| queries per CPU-second of the server's thread (one core's capacity), median round | ${String(median2(ours))} | ${String(median2(theirs))} |`,
      `| p50 latency ms | ${a.p50.toFixed(2)} | ${b.p50.toFixed(2)} |`,
      `| p99 latency ms | ${a.p99.toFixed(2)} | ${b.p99.toFixed(2)} |`,
      `| errors/lost | ${String(a.errors)} | ${String(b.errors)} |`,
      "",
    );
  } finally {
    dm.kill("SIGTERM");
    ac.abort();
    await running;
    await rm(dir, { recursive: true, force: true });
  }
}

async function benchConnect(): Promise<void> {
  log("connect: starting a cluster");
  const c = await startCluster();
  try {
    await c.k([
      "run",
      "backend",
      "--image=web:latest",
      "--image-pull-policy=IfNotPresent",
      "--labels=app=backend",
    ]);
    await c.waitFor(
      "pod/backend",
      '{.status.conditions[?(@.type=="Ready")].status}',
      "True",
      60_000,
    );
    const samples: number[] = [];
    for (let i = 0; i < 5; i++) {
      const name = `s${String(i)}`;
      const svc = JSON.stringify({
        apiVersion: "v1",
        kind: "Service",
        metadata: { name },
        spec: { selector: { app: "backend" }, ports: [{ port: 80 }] },
      });
      // Timed from the API's answer to the create (kubectl returns the new Service's IP).
      const ip = (
        await c.k(["create", "-f", "-", "-o", "jsonpath={.spec.clusterIP}"], { input: svc })
      ).trim();
      const t0 = performance.now();
      for (;;) {
        const r = await c.inNetns("curl", ["-s", "-o", "/dev/null", "-m", "1", `http://${ip}/`]);
        if (r.code === 0) break;
        if (performance.now() - t0 > 30_000) throw new Error("no connection after 30 s");
      }
      samples.push(performance.now() - t0);
    }
    const s = samples.sort((a, b) => a - b);
    rows.push(
      "| Service create (API response) → first successful connection (curl to the cluster IP from the node, 1 s timeout, retried at once), 5 samples | ms |",
      "|---|---|",
      `| min / median / max | ${s[0]?.toFixed(0) ?? ""} / ${pct(s, 50).toFixed(0)} / ${s[s.length - 1]?.toFixed(0) ?? ""} |`,
      "",
    );
  } finally {
    await c.stop();
  }
}

async function benchRules(): Promise<void> {
  const ns = `podrun-bench-${String(process.pid)}`;
  const dir = await mkdtemp(path.join(tmpdir(), "podrun-bench-rules-"));
  const wrapper = path.join(dir, "nft");
  await writeFile(wrapper, `#!/bin/sh\nexec nsenter --net=/run/netns/${ns} nft "$@"\n`);
  await chmod(wrapper, 0o755);
  await exec("ip", ["netns", "add", ns]);
  const ac = new AbortController();
  let running: Promise<void> | undefined;
  try {
    const handler = new FakeApiHandler();
    const client = new Client(new HandlerTransport(handler));
    const { services, slices } = fixtures(N_SERVICES);
    log("rules: creating 1,000 Services");
    for (const s of services) await client.services("default").create(s);
    for (const s of slices) await client.endpointSlices("default").create(s);
    // The proxy reports the end of each nft transaction it applied; waiting on it is a
    // promise, not a polling loop that would compete with the proxy for the event loop.
    const synced: number[] = [];
    let onSync: (() => void) | undefined;
    const proxy = new ServiceProxy({
      client,
      clock: new SystemClock(),
      logger: nullLogger,
      nft: wrapper,
      onSynced: () => {
        synced.push(performance.now());
        onSync?.();
      },
    });
    const waitSynced = async (count: number): Promise<number> => {
      const timer = setTimeout(() => {
        process.stderr.write("rules: the proxy did not sync in 30 s\n");
        process.exit(1);
      }, 30_000);
      while (synced.length < count) {
        await new Promise<void>((resolve) => {
          onSync = resolve;
        });
      }
      clearTimeout(timer);
      return synced[count - 1] ?? NaN;
    };
    const tFull = performance.now();
    running = proxy.run(ac.signal);
    const full = (await waitSynced(1)) - tFull;
    const samples: number[] = [];
    for (let i = 0; i < 20; i++) {
      const before = synced.length;
      const idx = (i * 37) % N_SERVICES;
      const cur = await client.endpointSlices("default").get(`svc-${String(idx)}-abcde`);
      cur.endpoints = [
        ...cur.endpoints,
        { addresses: [`10.244.200.${String(i + 2)}`], conditions: { ready: true } },
      ];
      const t0 = performance.now();
      await client.endpointSlices("default").update(cur);
      samples.push((await waitSynced(before + 1)) - t0);
      // Let the machine settle between samples (the proxy is idle again).
      await new Promise((r) => setTimeout(r, 20));
    }
    // Baseline, same run and table: the same kind of change through a one-shot `nft -f -`
    // (a process spawn per change, nft re-reading the table each time).
    const spawned: number[] = [];
    const base = fixtures(N_SERVICES);
    for (let i = 0; i < 20; i++) {
      const idx = 500 + i;
      const svc = base.services[idx];
      const slice = base.slices[idx];
      if (svc === undefined || slice === undefined) break;
      const before = new Map(buildServiceModel(svc, [slice]).map((m) => [m.id, m]));
      const grown = {
        ...slice,
        endpoints: [
          ...slice.endpoints,
          { addresses: [`10.244.201.${String(i + 2)}`], conditions: { ready: true } },
        ],
      };
      const after = new Map(buildServiceModel(svc, [grown]).map((m) => [m.id, m]));
      const t0 = performance.now();
      await runNft(wrapper, diffScript(before, after, { table: "podrun" }));
      spawned.push(performance.now() - t0);
      await runNft(wrapper, diffScript(after, before, { table: "podrun" }));
    }
    const listed = await exec("nsenter", [
      `--net=/run/netns/${ns}`,
      "nft",
      "list",
      "map",
      "ip",
      "podrun",
      "service-ips",
    ]);
    const elements = (listed.stdout.match(/ : goto /g) ?? []).length;
    const s = samples.sort((a, b) => a - b);
    const b = spawned.sort((x, y) => x - y);
    const row = (v: number[]): string =>
      `${v[0]?.toFixed(1) ?? ""} / ${pct(v, 50).toFixed(1)} / ${pct(v, 95).toFixed(1)} / ${v[v.length - 1]?.toFixed(1) ?? ""}`;
    rows.push(
      `| nftables rules, 1,000 Services (${String(elements)} map elements) | ms |`,
      "|---|---|",
      `| first full sync (informers list → nft done) | ${full.toFixed(0)} |`,
      `| EndpointSlice update → nft transaction done (ServiceProxy, long-lived \`nft -i\`), 20 samples: min / median / p95 / max | ${row(s)} |`,
      `| baseline: the same one-service diff through a one-shot \`nft -f -\` spawn, 20 samples: min / median / p95 / max | ${row(b)} |`,
      "",
    );
  } finally {
    ac.abort();
    await running;
    await exec("ip", ["netns", "del", ns]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

const want = process.argv.slice(2);
const on = (n: string): boolean => want.length === 0 || want.includes(n);
const load0 = loadavg()[0] ?? 0;
if (on("dns")) await benchDns();
if (on("rules")) await benchRules();
if (on("connect")) await benchConnect();
process.stdout.write(
  `node ${process.version}, load average ${load0.toFixed(1)} before / ${(loadavg()[0] ?? 0).toFixed(1)} after\n\n${rows.join("\n")}\n`,
);
