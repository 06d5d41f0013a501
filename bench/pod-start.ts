/**
 * Pod start benchmarks against a real `podrun up`: API create → Running and → Ready for a
 * 1-container pod and for a 2-init + 1-sidecar + 1-app pod, 20 and 100 pods at once → all
 * Running, and graceful delete of a pod whose process exits on SIGTERM. Every number is printed
 * next to the hand-made runc baseline (bare `runc run -d`, see lib-runc.ts) measured in the
 * same run. Times are taken from just before the HTTPS create (the project's Client) to the
 * watch event that shows the state, so no kubectl start-up is included.
 *
 * Usage: `node --import tsx bench/pod-start.ts [single] [init] [many] [delete] [--quick]`.
 * Build first (`npx tsc -p tsconfig.build.json && touch dist/.build-stamp`): bin/podrun runs
 * dist/. The process re-runs itself inside a throw-away network namespace (podrun and the
 * client share it), and removes the cluster, its containers and the namespace at the end.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { copyFile, mkdir, readFile, readdir } from "node:fs/promises";
import { loadavg } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import type { Container, Pod } from "../src/api/index.js";
import { parseKubeconfig } from "../src/cli/kubeconfig.js";
import { Client, HttpTransport } from "../src/client/index.js";
import { nullLogger } from "../src/util/index.js";
import { fmtMs, nowMs, quantile, renderTable, tempDir, verdict, type ResultRow } from "./lib.js";
import { RuncBaseline, loadImages, makeNetns, sh, testImagesDir } from "./lib-runc.js";

const QUICK = process.argv.includes("--quick");
const RUNS = QUICK ? 5 : 50;
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const PODRUN = join(ROOT, "bin/podrun");
const NS = "default";

const rows: ResultRow[] = [];

function log(msg: string): void {
  console.error(`[bench] ${msg}`);
}

function row(bench: string, what: string, value: string, target: string, ok?: boolean): void {
  rows.push({ bench, what, value, target, verdict: ok === undefined ? "" : verdict(ok) });
}

function p50p99(v: readonly number[]): string {
  return `${fmtMs(quantile(v, 0.5))} / ${fmtMs(quantile(v, 0.99))}`;
}

// ---------------------------------------------------------------------------------------------
// The cluster and the pod watch

/** Times at which the watch first saw each pod Running, Ready, and deleted. */
interface Seen {
  running?: number;
  ready?: number;
  deleted?: number;
}

class PodTracker {
  readonly seen = new Map<string, Seen>();
  readonly #waiters = new Set<() => void>();

  observe(type: string, pod: Pod): void {
    const name = pod.metadata.name ?? "";
    const s = this.seen.get(name) ?? {};
    const t = nowMs();
    if (type === "DELETED") s.deleted ??= t;
    else {
      if (pod.status?.phase === "Running") s.running ??= t;
      if (pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"))
        s.ready ??= t;
    }
    this.seen.set(name, s);
    for (const w of this.#waiters) w();
  }

  /** Resolves when `pred` holds for every name (re-checked on each event). */
  async until(names: string[], pred: (s: Seen) => boolean, timeoutMs = 120_000): Promise<void> {
    const ok = (): boolean => names.every((n) => pred(this.seen.get(n) ?? {}));
    const deadline = nowMs() + timeoutMs;
    while (!ok()) {
      if (nowMs() > deadline) throw new Error(`timed out waiting for ${names.join(",")}`);
      await new Promise<void>((resolve) => {
        const w = (): void => {
          this.#waiters.delete(w);
          resolve();
        };
        this.#waiters.add(w);
        setTimeout(w, 1000);
      });
    }
  }
}

interface Cluster {
  client: Client;
  tracker: PodTracker;
  stop(): Promise<void>;
}

async function startCluster(dataDir: string): Promise<Cluster> {
  const imagesDir = await testImagesDir(ROOT);
  const preload = join(dataDir, "images/preload");
  await mkdir(preload, { recursive: true });
  for (const f of await readdir(imagesDir))
    if (f.endsWith(".oci.tar")) await copyFile(join(imagesDir, f), join(preload, f));
  const logPath = join(dataDir, "podrun.log");
  const { openSync, closeSync } = await import("node:fs");
  const fd = openSync(logPath, "a");
  const proc: ChildProcess = spawn(PODRUN, ["up", "--data-dir", dataDir], {
    stdio: ["ignore", fd, fd],
  });
  closeSync(fd);
  const kubeconfig = join(dataDir, "admin.kubeconfig");
  const deadline = nowMs() + 60_000;
  let client: Client | undefined;
  let transport: HttpTransport | undefined;
  while (client === undefined) {
    if (proc.exitCode !== null)
      throw new Error(`podrun exited:\n${await readFile(logPath, "utf8")}`);
    if (nowMs() > deadline) throw new Error("podrun did not become ready");
    if (existsSync(kubeconfig)) {
      const ctx = await parseKubeconfig(await readFile(kubeconfig, "utf8"), (p) =>
        readFile(p, "utf8"),
      );
      const t = new HttpTransport({
        server: ctx.server,
        logger: nullLogger,
        ...(ctx.caPem === undefined ? {} : { caPem: ctx.caPem }),
        ...(ctx.token === undefined ? {} : { token: ctx.token }),
        ...(ctx.certPem === undefined ? {} : { certPem: ctx.certPem }),
        ...(ctx.keyPem === undefined ? {} : { keyPem: ctx.keyPem }),
      });
      const c = new Client(t);
      try {
        await c.serviceAccounts(NS).get("default");
        client = c;
        transport = t;
        break;
      } catch {
        t.close();
      }
    }
    await sleep(100);
  }
  const tracker = new PodTracker();
  const ctl = new AbortController();
  const list = await client.pods(NS).list();
  const watching = (async () => {
    let rv = list.metadata.resourceVersion ?? "0";
    const isStopped = (): boolean => ctl.signal.aborted;
    while (!isStopped()) {
      try {
        for await (const ev of client.pods(NS).watch({ resourceVersion: rv, signal: ctl.signal })) {
          tracker.observe(ev.type, ev.object);
          rv = ev.object.metadata.resourceVersion ?? rv;
        }
      } catch (err) {
        if (isStopped()) return;
        log(`watch failed, restarting: ${String(err)}`);
      }
    }
  })();
  return {
    client,
    tracker,
    stop: async () => {
      ctl.abort();
      await watching;
      transport?.close();
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      await Promise.race([exited, sleep(20_000)]);
      if (proc.exitCode === null) proc.kill("SIGKILL");
      await sh(PODRUN, ["reset", "--data-dir", dataDir]).catch((err: unknown) => {
        log(`podrun reset failed: ${String(err)}`);
      });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Pods

function container(name: string, command: string[]): Container {
  return { name, image: "busybox:1.28", imagePullPolicy: "IfNotPresent", command };
}

function singlePod(name: string): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: NS },
    spec: {
      // sleep is not PID 1 with a shared PID namespace, so SIGTERM ends it at once.
      shareProcessNamespace: true,
      terminationGracePeriodSeconds: 30,
      containers: [container("app", ["sleep", "3600"])],
    },
  };
}

function initPod(name: string): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: NS },
    spec: {
      shareProcessNamespace: true,
      initContainers: [
        container("init1", ["true"]),
        container("init2", ["true"]),
        { ...container("sidecar", ["sleep", "3600"]), restartPolicy: "Always" },
      ],
      containers: [container("app", ["sleep", "3600"])],
    },
  };
}

async function forceDelete(c: Cluster, names: string[]): Promise<void> {
  await Promise.all(names.map((n) => c.client.pods(NS).delete(n, { gracePeriodSeconds: 0 })));
  await c.tracker.until(names, (s) => s.deleted !== undefined);
}

// ---------------------------------------------------------------------------------------------
// Benchmarks

async function benchSingle(c: Cluster, base: RuncBaseline): Promise<void> {
  const b = "1 one-container pod";
  const running: number[] = [];
  const ready: number[] = [];
  const baseline: number[] = [];
  for (let i = -2; i < RUNS; i++) {
    const name = `single-${String(i + 2)}`;
    const t0 = nowMs();
    await c.client.pods(NS).create(singlePod(name));
    await c.tracker.until([name], (s) => s.ready !== undefined && s.running !== undefined);
    const s = c.tracker.seen.get(name) ?? {};
    if (i >= 0) {
      running.push((s.running ?? Number.NaN) - t0);
      ready.push((s.ready ?? Number.NaN) - t0);
    }
    await forceDelete(c, [name]);
    const b0 = nowMs();
    const pod = await base.startPod(`bs${String(i + 2)}`, ["sleep", "3600"]);
    if (i >= 0) baseline.push(nowMs() - b0);
    await base.stopPod(pod, "KILL");
  }
  const bp50 = quantile(baseline, 0.5);
  row(
    b,
    `create → Running, p50 / p99 (${String(RUNS)} runs)`,
    p50p99(running),
    "≤ 1.5× baseline",
    quantile(running, 0.5) <= 1.5 * bp50,
  );
  row(
    b,
    "create → Ready, p50 / p99",
    p50p99(ready),
    "≤ 1.5× baseline",
    quantile(ready, 0.5) <= 1.5 * bp50,
  );
  row(b, "baseline: pause + app runc run -d, p50 / p99", p50p99(baseline), "baseline");
}

async function benchInit(c: Cluster, base: RuncBaseline): Promise<void> {
  const b = "2 2 init + sidecar + app";
  const running: number[] = [];
  const ready: number[] = [];
  const baseline: number[] = [];
  for (let i = -2; i < RUNS; i++) {
    const name = `init-${String(i + 2)}`;
    const t0 = nowMs();
    await c.client.pods(NS).create(initPod(name));
    await c.tracker.until([name], (s) => s.ready !== undefined && s.running !== undefined);
    const s = c.tracker.seen.get(name) ?? {};
    if (i >= 0) {
      running.push((s.running ?? Number.NaN) - t0);
      ready.push((s.ready ?? Number.NaN) - t0);
    }
    await forceDelete(c, [name]);
    const b0 = nowMs();
    const pod = await base.startPodWithInit(`bi${String(i + 2)}`);
    if (i >= 0) baseline.push(nowMs() - b0);
    await base.stopPod(pod, "KILL");
  }
  row(
    b,
    `create → Running, p50 / p99 (${String(RUNS)} runs)`,
    p50p99(running),
    "≤ 250 ms",
    quantile(running, 0.5) <= 250,
  );
  row(b, "create → Ready, p50 / p99", p50p99(ready), "≤ 250 ms", quantile(ready, 0.5) <= 250);
  row(
    b,
    "baseline: pause, 2× runc run (init), sidecar + app runc run -d, p50 / p99",
    p50p99(baseline),
    "baseline",
  );
}

async function benchMany(
  c: Cluster,
  base: RuncBaseline,
  n: number,
  target?: number,
): Promise<void> {
  const b = `3 ${String(n)} pods at once`;
  const names = Array.from({ length: n }, (_, i) => `many${String(n)}-${String(i)}`);
  const t0 = nowMs();
  await Promise.all(names.map((nm) => c.client.pods(NS).create(singlePod(nm))));
  await c.tracker.until(names, (s) => s.running !== undefined, 300_000);
  const last = Math.max(...names.map((nm) => c.tracker.seen.get(nm)?.running ?? Number.NaN));
  const allMs = last - t0;
  await forceDelete(c, names);
  const b0 = nowMs();
  const pods = await Promise.all(names.map((nm) => base.startPod(`b${nm}`, ["sleep", "3600"])));
  const baseMs = nowMs() - b0;
  await Promise.all(pods.map((p) => base.stopPod(p, "KILL")));
  row(
    b,
    "create → all Running",
    fmtMs(allMs),
    target === undefined ? "info" : `≤ ${fmtMs(target)}`,
    target === undefined ? undefined : allMs <= target,
  );
  row(b, "baseline: N pods (pause + app) runc run -d at once", fmtMs(baseMs), "baseline");
}

async function benchDelete(c: Cluster, base: RuncBaseline): Promise<void> {
  const b = "4 graceful delete";
  const gone: number[] = [];
  const baseline: number[] = [];
  const baselineAll: number[] = [];
  const runs = QUICK ? 5 : 20;
  for (let i = -1; i < runs; i++) {
    const name = `del-${String(i + 1)}`;
    await c.client.pods(NS).create(singlePod(name));
    await c.tracker.until([name], (s) => s.ready !== undefined);
    const t0 = nowMs();
    await c.client.pods(NS).delete(name);
    await c.tracker.until([name], (s) => s.deleted !== undefined);
    if (i >= 0) gone.push((c.tracker.seen.get(name)?.deleted ?? Number.NaN) - t0);
    const pod = await base.startPod(`bd${String(i + 1)}`, ["sleep", "3600"]);
    const b0 = nowMs();
    await base.terminateApp(pod);
    const b1 = nowMs();
    await base.stopPod(pod, "KILL");
    if (i >= 0) {
      baseline.push(b1 - b0);
      baselineAll.push(nowMs() - b0);
    }
  }
  row(
    b,
    `delete (grace 30 s, exits on SIGTERM) → DELETED, p50 / p99 (${String(runs)} runs)`,
    p50p99(gone),
    "≤ 150 ms",
    quantile(gone, 0.5) <= 150,
  );
  row(b, "baseline: runc kill TERM → process gone, p50 / p99", p50p99(baseline), "baseline");
  row(b, "baseline: … + runc delete of app and pause, p50 / p99", p50p99(baselineAll), "baseline");
}

// ---------------------------------------------------------------------------------------------

async function inNetns(): Promise<void> {
  const args = process.argv.slice(2).filter((a) => !a.startsWith("--"));
  const all = args.length === 0;
  const dir = await tempDir("podrun-bench-ps-");
  const dataDir = join(dir.path, "data");
  const { pauseRootfs, busyboxRootfs } = await loadImages(
    join(dir.path, "images"),
    await testImagesDir(ROOT),
  );
  const base = new RuncBaseline({ dir: join(dir.path, "baseline"), pauseRootfs, busyboxRootfs });
  const load0 = loadavg()[0] ?? 0;
  let cluster: Cluster | undefined;
  // One cleanup shared by the signal handler and the finally below.
  let cleaning: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      await cluster?.stop();
      await base.dispose();
      await dir.dispose();
    })());
  process.once("SIGTERM", () => {
    void cleanup().finally(() => process.exit(130));
  });
  process.once("SIGINT", () => undefined);
  try {
    cluster = await startCluster(dataDir);
    log("cluster up");
    if (all || args.includes("single")) {
      log("1 one-container pod");
      await benchSingle(cluster, base);
    }
    if (all || args.includes("init")) {
      log("2 init + sidecar + app");
      await benchInit(cluster, base);
    }
    if (all || args.includes("many")) {
      log("3 many pods");
      await benchMany(cluster, base, 20, 1300);
      if (!QUICK) await benchMany(cluster, base, 100);
    }
    if (all || args.includes("delete")) {
      log("4 graceful delete");
      await benchDelete(cluster, base);
    }
  } finally {
    await cleanup();
  }
  const load1 = loadavg()[0] ?? 0;
  console.log(
    `pod-start bench, ${new Date().toISOString()}, node ${process.version}, load ${load0.toFixed(1)} before / ${load1.toFixed(1)} after\n`,
  );
  console.log(renderTable(rows));
}

/** Re-runs this script inside a fresh network namespace and deletes the namespace after. */
async function outer(): Promise<number> {
  const netns = await makeNetns();
  try {
    const child = spawn(
      "nsenter",
      [
        `--net=${netns.path}`,
        process.execPath,
        ...process.execArgv,
        fileURLToPath(import.meta.url),
        ...process.argv.slice(2),
        "--in-netns",
      ],
      { stdio: "inherit" },
    );
    const forward = (sig: NodeJS.Signals): void => {
      child.kill(sig === "SIGINT" ? "SIGTERM" : sig);
    };
    process.on("SIGINT", forward);
    process.on("SIGTERM", forward);
    return await new Promise<number>((resolve) =>
      child.once("exit", (code) => {
        resolve(code ?? 1);
      }),
    );
  } finally {
    await netns.dispose();
  }
}

if (process.argv.includes("--in-netns")) await inNetns();
else process.exitCode = await outer();
