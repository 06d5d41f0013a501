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
 *    end of the nft transaction that carries it (20 samples).
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
import { ServiceProxy } from "../src/proxy/index.js";
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
): Promise<{ qps: number; p50: number; p99: number; errors: number }> {
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
  };
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
  await new Promise((r) => setTimeout(r, 300));
  log("dns: warm-up + podrun DnsServer");
  await load(port, names.slice(0, 10));
  const ours = await load(port, names);
  ac.abort();
  await running;

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
    log("dns: dnsmasq");
    await load(port2, names.slice(0, 10));
    const theirs = await load(port2, names);
    rows.push(
      "| DNS A queries, 1,000 cluster names, 64 in flight, 5 s | podrun DnsServer (in-process) | dnsmasq (hosts file) |",
      "|---|---|---|",
      `| queries/s | ${String(ours.qps)} | ${String(theirs.qps)} |`,
      `| p50 latency ms | ${ours.p50.toFixed(2)} | ${theirs.p50.toFixed(2)} |`,
      `| p99 latency ms | ${ours.p99.toFixed(2)} | ${theirs.p99.toFixed(2)} |`,
      `| errors/lost | ${String(ours.errors)} | ${String(theirs.errors)} |`,
      "",
    );
  } finally {
    dm.kill("SIGTERM");
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
  const stamps = path.join(dir, "stamps");
  const wrapper = path.join(dir, "nft");
  await writeFile(
    wrapper,
    `#!/bin/sh\nnsenter --net=/run/netns/${ns} nft "$@"\nrc=$?\ndate +%s%N >> ${stamps}\nexit $rc\n`,
  );
  await chmod(wrapper, 0o755);
  await writeFile(stamps, "");
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
    const stampCount = async (): Promise<number[]> =>
      (await readFile(stamps, "utf8"))
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => Number(BigInt(l) / 1000n) / 1000);
    const proxy = new ServiceProxy({
      client,
      clock: new SystemClock(),
      logger: nullLogger,
      nft: wrapper,
    });
    const tFull = Date.now();
    running = proxy.run(ac.signal);
    while ((await stampCount()).length === 0) await new Promise((r) => setTimeout(r, 5));
    const full = ((await stampCount())[0] ?? 0) - tFull;
    const samples: number[] = [];
    for (let i = 0; i < 20; i++) {
      const before = (await stampCount()).length;
      const idx = (i * 37) % N_SERVICES;
      const cur = await client.endpointSlices("default").get(`svc-${String(idx)}-abcde`);
      cur.endpoints = [
        ...cur.endpoints,
        { addresses: [`10.244.200.${String(i + 2)}`], conditions: { ready: true } },
      ];
      const t0 = Date.now();
      await client.endpointSlices("default").update(cur);
      let st: number[];
      while ((st = await stampCount()).length === before)
        await new Promise((r) => setTimeout(r, 2));
      samples.push((st[before] ?? 0) - t0);
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
    rows.push(
      `| nftables rules, 1,000 Services (${String(elements)} map elements) | ms |`,
      "|---|---|",
      `| first full sync (informers list → nft done) | ${full.toFixed(0)} |`,
      `| EndpointSlice update → nft transaction done, 20 samples: min / median / p95 / max | ${s[0]?.toFixed(1) ?? ""} / ${pct(s, 50).toFixed(1)} / ${pct(s, 95).toFixed(1)} / ${s[s.length - 1]?.toFixed(1) ?? ""} |`,
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
