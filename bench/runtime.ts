/**
 * Runtime benchmarks: one sandbox + one container through RuncRuntime (start → running and
 * stop → gone), 50 sandboxes started at once, and the unpack of a ~100 MB layer. Each number is
 * printed next to a hand-made baseline measured in the same run (bare `runc run -d`, `tar -xzf`).
 *
 * Usage: `node --import tsx bench/runtime.ts [pod] [many] [unpack] [--quick]` (all when none
 * given). Needs root, runc, conmon and the CNI plugins. The runtime's "host" is a throw-away
 * network namespace; everything made is removed at the end.
 */
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { RuncRuntime } from "../src/runtime/index.js";
import type { ContainerConfig, SandboxConfig, SandboxId } from "../src/runtime/index.js";
import { hostXattrSetter } from "../src/runtime/images/index.js";
import { unpackLayer } from "../src/runtime/images/unpack.js";
import { nullLogger, type LogFields, type Logger } from "../src/util/index.js";
import { fmtMs, nowMs, quantile, renderTable, tempDir, verdict, type ResultRow } from "./lib.js";
import {
  BUSYBOX_REF,
  PAUSE_REF,
  RuncBaseline,
  loadImages,
  makeNetns,
  removeCgroupTree,
  sh,
  tag,
  testImagesDir,
} from "./lib-runc.js";

const QUICK = process.argv.includes("--quick");
const POD_RUNS = QUICK ? 5 : 30;
const MANY = QUICK ? 10 : 50;
const UNPACK_RUNS = QUICK ? 1 : 5;
const ROOT = fileURLToPath(new URL("..", import.meta.url));

const rows: ResultRow[] = [];

/** Step end times of each runPodSandbox (the runtime's "sandbox start steps" debug line). */
const sandboxSteps: Record<string, number>[] = [];

/** A logger that keeps only the runtime's per-step timings. */
const stepLogger: Logger = {
  ...nullLogger,
  debug: (msg: string, fields?: LogFields) => {
    if (msg === "sandbox start steps" && typeof fields?.["ms"] === "object")
      sandboxSteps.push(fields["ms"] as Record<string, number>);
  },
  with: () => stepLogger,
};

/** p50 of each step's end time (ms after runPodSandbox began) over the recorded runs. */
function stepSummary(runs: readonly Record<string, number>[]): string {
  const names = [...new Set(runs.flatMap((r) => Object.keys(r)))];
  return names
    .map(
      (n) =>
        `${n} ${fmtMs(
          p(
            runs.map((r) => r[n] ?? 0),
            0.5,
          ),
        )}`,
    )
    .join(", ");
}

function log(msg: string): void {
  console.error(`[bench] ${msg}`);
}

function p(values: readonly number[], q: number): number {
  return quantile(values, q);
}

function row(bench: string, what: string, value: string, target: string, ok?: boolean): void {
  rows.push({ bench, what, value, target, verdict: ok === undefined ? "" : verdict(ok) });
}

/** Runtime, baseline and their shared directories for one benchmark run. */
interface Env {
  runtime: RuncRuntime;
  baseline: RuncBaseline;
  dir: string;
  /** The throw-away network namespace that plays the host (bridges live there). */
  netns: string;
  cgroupRoot: string;
  dispose(): Promise<void>;
}

async function makeEnv(): Promise<Env> {
  const dir = await tempDir("podrun-bench-rt-");
  const netns = await makeNetns();
  const cgroupRoot = `podrun-bench-${tag()}`;
  const imagesDir = await testImagesDir(ROOT);
  const { images, pauseRootfs, busyboxRootfs } = await loadImages(
    join(dir.path, "images"),
    imagesDir,
  );
  const runtime = new RuncRuntime({
    root: join(dir.path, "root"),
    runRoot: join(dir.path, "run"),
    cgroupRoot,
    hostNetns: netns.path,
    pauseImage: PAUSE_REF,
    layers: images,
    logger: stepLogger,
  });
  await runtime.init();
  const baseline = new RuncBaseline({
    dir: join(dir.path, "baseline"),
    pauseRootfs,
    busyboxRootfs,
  });
  await mkdir(join(dir.path, "logs"), { recursive: true });
  return {
    runtime,
    baseline,
    dir: dir.path,
    netns: netns.path,
    cgroupRoot,
    dispose: async () => {
      for (const s of await runtime.listPodSandboxes().catch(() => [])) {
        await runtime.stopPodSandbox(s.id).catch(() => undefined);
        await runtime.removePodSandbox(s.id).catch(() => undefined);
      }
      await runtime.close();
      await baseline.dispose();
      await removeCgroupTree(cgroupRoot);
      await netns.dispose();
      await dir.dispose();
    },
  };
}

function sandboxConfig(env: Env, name: string): SandboxConfig {
  return {
    name,
    attempt: 0,
    labels: {},
    annotations: {},
    hostname: name,
    hostNetwork: false,
    hostIPC: false,
    pidMode: "pod",
    portMappings: [],
    cgroupParent: `${env.cgroupRoot}/pod-${name}`,
  };
}

function containerConfig(env: Env, name: string): ContainerConfig {
  return {
    name: "app",
    attempt: 0,
    labels: {},
    annotations: {},
    image: BUSYBOX_REF,
    argv: ["sleep", "3600"],
    env: [{ name: "PATH", value: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" }],
    mounts: [],
    logPath: join(env.dir, "logs", `${name}.log`),
    // sleep is not PID 1 in the sandbox's PID namespace, so SIGTERM ends it at once.
    pidMode: "pod",
  };
}

// ---------------------------------------------------------------------------------------------
// 1. One sandbox + one container: start → running, stop → gone

async function benchPod(env: Env): Promise<void> {
  const b = "1 sandbox + container";
  const rt = env.runtime;
  const start: number[] = [];
  const stop: number[] = [];
  const baseStart: number[] = [];
  const baseStop: number[] = [];
  // Runs alternate between podrun and the baseline so both see the same machine load.
  for (let i = -2; i < POD_RUNS; i++) {
    const name = `p${String(i + 2)}`;
    const t0 = nowMs();
    const sb = await rt.runPodSandbox(sandboxConfig(env, name));
    const c = await rt.createContainer(sb, containerConfig(env, name));
    await rt.startContainer(c);
    const t1 = nowMs();
    await rt.stopContainer(c, 30_000);
    await rt.removeContainer(c);
    await rt.stopPodSandbox(sb);
    await rt.removePodSandbox(sb);
    const t2 = nowMs();
    if (i >= 0) {
      start.push(t1 - t0);
      stop.push(t2 - t1);
    }

    const b0 = nowMs();
    const pod = await env.baseline.startPod(`b${name}`);
    const b1 = nowMs();
    await env.baseline.stopPod(pod);
    const b2 = nowMs();
    if (i >= 0) {
      baseStart.push(b1 - b0);
      baseStop.push(b2 - b1);
    }
  }
  log(`sandbox steps (end, p50): ${stepSummary(sandboxSteps.slice(2))}`);
  sandboxSteps.length = 0;
  const s50 = p(start, 0.5);
  const bs50 = p(baseStart, 0.5);
  const st50 = p(stop, 0.5);
  const bst50 = p(baseStop, 0.5);
  row(
    b,
    `start → running, p50 / p99 (${String(POD_RUNS)} runs)`,
    `${fmtMs(s50)} / ${fmtMs(p(start, 0.99))}`,
    "≤ 1.5× baseline p50",
    s50 <= 1.5 * bs50,
  );
  row(
    b,
    "baseline: 2× runc run -d, p50 / p99",
    `${fmtMs(bs50)} / ${fmtMs(p(baseStart, 0.99))}`,
    "baseline",
  );
  row(
    b,
    `stop → gone (SIGTERM exits), p50 / p99`,
    `${fmtMs(st50)} / ${fmtMs(p(stop, 0.99))}`,
    "≤ 1.5× baseline p50",
    st50 <= 1.5 * bst50,
  );
  row(
    b,
    "baseline: runc kill TERM + delete ×2, p50 / p99",
    `${fmtMs(bst50)} / ${fmtMs(p(baseStop, 0.99))}`,
    "baseline",
  );
}

// ---------------------------------------------------------------------------------------------
// 2. Many sandboxes at once

async function benchMany(env: Env): Promise<void> {
  const b = `2 ${String(MANY)} sandboxes at once`;
  const rt = env.runtime;
  const names = Array.from({ length: MANY }, (_, i) => `m${String(i)}`);
  let t0 = nowMs();
  const ids: SandboxId[] = await Promise.all(
    names.map((n) => rt.runPodSandbox(sandboxConfig(env, n))),
  );
  const startMs = nowMs() - t0;
  log(`sandbox steps (end, p50 of ${String(MANY)}): ${stepSummary(sandboxSteps)}`);
  sandboxSteps.length = 0;
  t0 = nowMs();
  await Promise.all(ids.map((id) => rt.stopPodSandbox(id).then(() => rt.removePodSandbox(id))));
  const stopMs = nowMs() - t0;

  t0 = nowMs();
  const base = await Promise.all(names.map((n) => env.baseline.startSandbox(`b${n}`)));
  const baseStartMs = nowMs() - t0;
  t0 = nowMs();
  await Promise.all(base.map((s) => env.baseline.deleteForce(s.id)));
  const baseStopMs = nowMs() - t0;
  // The same pauses with the network a sandbox has: the CNI plugins by hand on each.
  t0 = nowMs();
  const withNet = await Promise.all(
    names.map((n) => env.baseline.startSandboxWithNetwork(`n${n}`, env.netns)),
  );
  const baseNetMs = nowMs() - t0;
  await Promise.all(withNet.map((s) => env.baseline.deleteForce(s.id)));

  row(
    b,
    "all ready (runPodSandbox ×N)",
    fmtMs(startMs),
    "≤ 1.5× network baseline",
    startMs <= 1.5 * baseNetMs,
  );
  row(
    b,
    "baseline: N× (runc run -d of pause, then CNI loopback + bridge by hand)",
    fmtMs(baseNetMs),
    "baseline",
  );
  row(b, "baseline: N× runc run -d of pause, no network", fmtMs(baseStartMs), "info");
  row(b, "all stopped + removed", fmtMs(stopMs), "info");
  row(b, "baseline: N× runc delete --force", fmtMs(baseStopMs), "baseline");
}

// ---------------------------------------------------------------------------------------------
// 3. Unpack of a ~100 MB layer

async function makeLayer(dir: string): Promise<{ tarball: string; sizeBytes: number }> {
  const src = join(dir, "layer-src");
  const sizeMiB = QUICK ? 10 : 100;
  // Half random binaries (incompressible), half text files of mixed sizes (compressible).
  await mkdir(join(src, "bin"), { recursive: true });
  const randFiles = Math.round(sizeMiB / 2 / 2);
  for (let i = 0; i < randFiles; i++) {
    await writeFile(join(src, "bin", `blob${String(i)}.bin`), randomBytes(2 * 1024 * 1024));
  }
  const textBytes = (sizeMiB / 2) * 1024 * 1024;
  const line =
    "the quick brown fox jumps over the lazy dog 0123456789 lorem ipsum dolor sit amet\n";
  let written = 0;
  let i = 0;
  while (written < textBytes) {
    const sub = join(src, "share", `d${String(i % 50)}`);
    if (i < 50) await mkdir(sub, { recursive: true });
    const size = 2048 + ((i * 7919) % 60_000);
    const text = line.repeat(Math.ceil(size / line.length)).slice(0, size) + String(i);
    await writeFile(join(sub, `f${String(i)}.txt`), text);
    written += size;
    i++;
  }
  const tarball = join(dir, "layer.tar.gz");
  await sh("tar", ["-czf", tarball, "-C", src, "."]);
  const du = await sh("du", ["-sb", src]);
  await sh("rm", ["-rf", src]);
  return { tarball, sizeBytes: Number(du.split("\t")[0]) };
}

async function benchUnpack(env: Env): Promise<void> {
  const b = "3 unpack layer";
  log("making the test layer");
  const { tarball, sizeBytes } = await makeLayer(env.dir);
  const setXattr = hostXattrSetter();
  const ours: number[] = [];
  const tars: number[] = [];
  for (let i = -1; i < UNPACK_RUNS; i++) {
    const a = join(env.dir, `unpack-ours-${String(i + 1)}`);
    const t = join(env.dir, `unpack-tar-${String(i + 1)}`);
    await mkdir(a);
    await mkdir(t);
    // Each run's dirty pages are written back (sync) before the next one starts, and the two
    // take turns going first, so neither always meets the other's writeback.
    const timeOurs = async (): Promise<number> => {
      await sh("sync", []);
      const t0 = nowMs();
      await unpackLayer(tarball, a, { setXattr });
      return nowMs() - t0;
    };
    const timeTar = async (): Promise<number> => {
      await sh("sync", []);
      const t0 = nowMs();
      await sh("tar", ["-xzf", tarball, "-C", t]);
      return nowMs() - t0;
    };
    let ourMs: number;
    let tarMs: number;
    if (i % 2 === 0) {
      ourMs = await timeOurs();
      tarMs = await timeTar();
    } else {
      tarMs = await timeTar();
      ourMs = await timeOurs();
    }
    if (i >= 0) {
      ours.push(ourMs);
      tars.push(tarMs);
    }
    await sh("rm", ["-rf", a, t]);
  }
  const o50 = p(ours, 0.5);
  const t50 = p(tars, 0.5);
  const mib = (sizeBytes / 1024 / 1024).toFixed(0);
  row(
    b,
    `unpackLayer (OciImageStore's unpack) of ${mib} MiB, p50 of ${String(UNPACK_RUNS)}`,
    fmtMs(o50),
    "≤ 1.2× tar",
    o50 <= 1.2 * t50,
  );
  row(b, "baseline: tar -xzf of the same tarball", fmtMs(t50), "baseline");
}

async function main(): Promise<void> {
  const args = process.argv.slice(2).filter((a) => !a.startsWith("--"));
  const all = args.length === 0;
  const load0 = loadavg()[0] ?? 0;
  const env = await makeEnv();
  // An interrupted run still removes its containers, mounts, cgroups and namespace.
  const onSignal = (): void => {
    log("interrupted, cleaning up");
    void env.dispose().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    if (all || args.includes("pod")) {
      log("1 sandbox + container");
      await benchPod(env);
    }
    if (all || args.includes("many")) {
      log(`2 ${String(MANY)} sandboxes at once`);
      await benchMany(env);
    }
    if (all || args.includes("unpack")) {
      log("3 unpack");
      await benchUnpack(env);
    }
  } finally {
    await env.dispose();
  }
  const load1 = loadavg()[0] ?? 0;
  console.log(
    `runtime bench, ${new Date().toISOString()}, node ${process.version}, load ${load0.toFixed(1)} before / ${load1.toFixed(1)} after\n`,
  );
  console.log(renderTable(rows));
}

await main();
