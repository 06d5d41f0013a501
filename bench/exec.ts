/**
 * Interactive-stream benchmarks against a real `podrun up` (issue 7), each next to a baseline
 * measured in the same run:
 * 1. `kubectl exec POD -- true` round trip, p50/p99, for kubectl 1.27 (SPDY) and 1.33
 *    (websocket), against `runc exec` of `true` in the same container and `kubectl get pod`
 *    (kubectl's own start-up and one API round trip, no stream);
 * 2. exec throughput in MB/s: stdout of `cat` of a big file, and stdin into `cat >/dev/null`,
 *    against the same commands through `runc exec` with plain pipes;
 * 3. port-forward throughput in MB/s: `curl` of a big file from busybox httpd in the pod through
 *    `kubectl port-forward` (1.27 SPDY, 1.33 SPDY tunnelled in websocket), against the same
 *    download straight to the pod IP and a plain TCP copy over loopback (the same httpd and file
 *    on 127.0.0.1 outside any pod).
 *
 * Usage (root): `node --import tsx bench/exec.ts [--quick]`. Build first
 * (`npx tsc -p tsconfig.build.json && touch dist/.build-stamp`): bin/podrun runs dist/. The
 * cluster runs in a throw-away network namespace (test/e2e/harness.ts), and every client runs
 * inside it; the namespace, the cluster and its containers are removed at the end.
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { KUBECTL_DIR, startCluster, type Cluster } from "../test/e2e/harness.js";
import { fmtMs, nowMs, quantile, renderTable, type ResultRow } from "./lib.js";
import { RUNC, sh } from "./lib-runc.js";

const QUICK = process.argv.includes("--quick");
const RUNS = QUICK ? 5 : 40;
const BIG_MIB = QUICK ? 16 : 256;
const BIG_BYTES = BIG_MIB * 1024 * 1024;
const VERSIONS = ["1.27", "1.33"] as const;
const MARKER = "3600917";

const rows: ResultRow[] = [];

function log(msg: string): void {
  console.error(`[bench] ${msg}`);
}

function row(bench: string, what: string, value: string, target = "info"): void {
  rows.push({ bench, what, value, target, verdict: "" });
}

function p50p99(v: readonly number[]): string {
  return `${fmtMs(quantile(v, 0.5))} / ${fmtMs(quantile(v, 0.99))}`;
}

function mbps(bytes: number, ms: number): string {
  return `${(bytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s`;
}

/**
 * Runs `cmd args` inside the cluster's netns; stdout is counted and dropped, `inputBytes` of
 * zeros are written to stdin (then EOF). Resolves with the wall time and the stdout byte count;
 * throws on a non-zero exit.
 */
function timed(
  c: Cluster,
  cmd: string,
  args: string[],
  inputBytes = 0,
): Promise<{ ms: number; outBytes: number }> {
  return new Promise((resolve, reject) => {
    const t0 = nowMs();
    const child = spawn("nsenter", [`--net=/run/netns/${c.netns}`, "--", cmd, ...args], {
      stdio: [inputBytes > 0 ? "pipe" : "ignore", "pipe", "pipe"],
    });
    let outBytes = 0;
    let err = "";
    child.stdout?.on("data", (d: Buffer) => (outBytes += d.length));
    child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      const ms = nowMs() - t0;
      if (code === 0) resolve({ ms, outBytes });
      else reject(new Error(`${cmd} ${args.join(" ")} exited ${String(code)}: ${err}`));
    });
    const stdin = child.stdin;
    if (stdin !== null) {
      stdin.on("error", () => undefined);
      const chunk = Buffer.alloc(1024 * 1024);
      let left = inputBytes;
      const pump = (): void => {
        while (left > 0) {
          const n = Math.min(left, chunk.length);
          left -= n;
          if (!stdin.write(chunk.subarray(0, n))) {
            stdin.once("drain", pump);
            return;
          }
        }
        stdin.end();
      };
      pump();
    }
  });
}

function kubectl(v: string): string {
  return join(KUBECTL_DIR, `kubectl.${v}`);
}

/**
 * The runc root and container id of the pod's app container, found by its unique argv among
 * the runc roots of every podrun run dir (`/run/podrun*\/runc`; the cluster's is derived from
 * its data dir).
 */
async function findContainer(): Promise<{ root: string; id: string }> {
  for (const d of await readdir("/run")) {
    if (!d.startsWith("podrun")) continue;
    const root = join("/run", d, "runc");
    const list = await sh(RUNC, ["--root", root, "list", "-f", "json"]).catch(() => "null");
    for (const c of (JSON.parse(list) as { id: string; pid: number }[] | null) ?? []) {
      const argv = await readFile(`/proc/${c.pid}/cmdline`, "utf8").catch(() => "");
      if (argv === `sleep\0${MARKER}\0`) return { root, id: c.id };
    }
  }
  throw new Error("app container not found in any runc root");
}

async function main(): Promise<void> {
  const load0 = loadavg()[0] ?? 0;
  const hostDir = await mkdtemp(join(tmpdir(), "podrun-bench-exec-"));
  const c = await startCluster();
  try {
    log("cluster up");
    await c.k(["apply", "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "v1",
        kind: "List",
        items: [
          {
            apiVersion: "v1",
            kind: "Pod",
            metadata: { name: "bench" },
            spec: {
              terminationGracePeriodSeconds: 0,
              containers: [
                { name: "app", image: "busybox:1.28", command: ["sleep", MARKER] },
                {
                  name: "http",
                  image: "busybox:1.28",
                  command: [
                    "sh",
                    "-c",
                    `mkdir -p /www && dd if=/dev/zero of=/www/big bs=1048576 count=${BIG_MIB} 2>/dev/null && exec httpd -f -p 8080 -h /www`,
                  ],
                },
              ],
            },
          },
        ],
      }),
    });
    await c.waitFor("pod/bench", "{.status.phase}", "Running", 120_000);
    const podIp = await c.waitFor("pod/bench", "{.status.podIP}", /\d+\.\d+\.\d+\.\d+/);
    await c.k([
      "exec",
      "bench",
      "-c",
      "app",
      "--",
      "dd",
      "if=/dev/zero",
      "of=/tmp/big",
      "bs=1048576",
      `count=${BIG_MIB}`,
    ]);
    const ctr = await findContainer();
    const runc = (args: string[]): string[] => ["--root", ctr.root, "exec", ...args];

    // 1. Round trip.
    log(`1 exec round trip, ${RUNS} runs each`);
    const sampleMs = async (cmd: string, args: string[]): Promise<number[]> => {
      await timed(c, cmd, args); // warm-up
      const out: number[] = [];
      for (let i = 0; i < RUNS; i++) out.push((await timed(c, cmd, args)).ms);
      return out;
    };
    for (const v of VERSIONS) {
      const ms = await sampleMs(kubectl(v), [
        "--kubeconfig",
        c.kubeconfig,
        "exec",
        "bench",
        "-c",
        "app",
        "--",
        "true",
      ]);
      row("1 exec round trip", `kubectl ${v} exec POD -- true, p50 / p99`, p50p99(ms));
      const get = await sampleMs(kubectl(v), [
        "--kubeconfig",
        c.kubeconfig,
        "get",
        "pod",
        "bench",
        "-o",
        "name",
      ]);
      row(
        "1 exec round trip",
        `baseline: kubectl ${v} get pod POD, p50 / p99`,
        p50p99(get),
        "baseline",
      );
    }
    const direct = await sampleMs(RUNC, runc([ctr.id, "true"]));
    row("1 exec round trip", "baseline: runc exec CTR true, p50 / p99", p50p99(direct), "baseline");

    // 2. Exec throughput.
    log(`2 exec throughput, ${BIG_MIB} MiB`);
    const best = async (fn: () => Promise<{ ms: number; outBytes: number }>, want: number) => {
      let bestMs = Number.POSITIVE_INFINITY;
      for (let i = 0; i < (QUICK ? 1 : 3); i++) {
        const r = await fn();
        if (want > 0 && r.outBytes !== want) throw new Error(`got ${r.outBytes} of ${want} bytes`);
        bestMs = Math.min(bestMs, r.ms);
      }
      return bestMs;
    };
    for (const v of VERSIONS) {
      const base = ["--kubeconfig", c.kubeconfig, "exec"];
      const outMs = await best(
        () => timed(c, kubectl(v), [...base, "bench", "-c", "app", "--", "cat", "/tmp/big"]),
        BIG_BYTES,
      );
      row(
        "2 exec throughput",
        `kubectl ${v} exec cat FILE (stdout), best of 3`,
        mbps(BIG_BYTES, outMs),
      );
      const inMs = await best(
        () =>
          timed(
            c,
            kubectl(v),
            [...base, "-i", "bench", "-c", "app", "--", "sh", "-c", "cat >/dev/null"],
            BIG_BYTES,
          ),
        0,
      );
      row(
        "2 exec throughput",
        `kubectl ${v} exec -i cat >/dev/null (stdin), best of 3`,
        mbps(BIG_BYTES, inMs),
      );
    }
    const rOut = await best(() => timed(c, RUNC, runc([ctr.id, "cat", "/tmp/big"])), BIG_BYTES);
    row(
      "2 exec throughput",
      "baseline: runc exec cat FILE (stdout)",
      mbps(BIG_BYTES, rOut),
      "baseline",
    );
    const rIn = await best(
      () => timed(c, RUNC, runc([ctr.id, "sh", "-c", "cat >/dev/null"]), BIG_BYTES),
      0,
    );
    row(
      "2 exec throughput",
      "baseline: runc exec cat >/dev/null (stdin)",
      mbps(BIG_BYTES, rIn),
      "baseline",
    );

    // 3. Port-forward throughput.
    log(`3 port-forward throughput, ${BIG_MIB} MiB`);
    const curl = (url: string) => () => timed(c, "curl", ["-sS", "--fail", "-o", "-", url]);
    for (const v of VERSIONS) {
      const port = 18200 + VERSIONS.indexOf(v);
      const pf = spawn(
        "nsenter",
        [
          `--net=/run/netns/${c.netns}`,
          "--",
          kubectl(v),
          "--kubeconfig",
          c.kubeconfig,
          "port-forward",
          "pod/bench",
          `${port}:8080`,
        ],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      let out = "";
      pf.stdout.on("data", (d: Buffer) => (out += d.toString()));
      pf.stderr.on("data", (d: Buffer) => (out += d.toString()));
      try {
        const deadline = nowMs() + 30_000;
        while (!out.includes("Forwarding from")) {
          if (nowMs() > deadline) throw new Error(`port-forward did not start: ${out}`);
          await sleep(50);
        }
        const ms = await best(curl(`http://127.0.0.1:${port}/big`), BIG_BYTES);
        row(
          "3 port-forward",
          `kubectl ${v} port-forward, curl FILE, best of 3`,
          mbps(BIG_BYTES, ms),
        );
      } finally {
        const closed = new Promise((r) => pf.once("close", r));
        pf.kill("SIGTERM");
        await closed;
      }
    }
    const podMs = await best(curl(`http://${podIp}:8080/big`), BIG_BYTES);
    row(
      "3 port-forward",
      "baseline: curl FILE straight to the pod IP",
      mbps(BIG_BYTES, podMs),
      "baseline",
    );
    await writeFile(join(hostDir, "big"), Buffer.alloc(BIG_BYTES));
    const httpd = spawn(
      "nsenter",
      [
        `--net=/run/netns/${c.netns}`,
        "--",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "127.0.0.1:18299",
        "-h",
        hostDir,
      ],
      { stdio: "ignore" },
    );
    const closed = new Promise((r) => httpd.once("close", r));
    try {
      await sleep(300);
      const loMs = await best(curl("http://127.0.0.1:18299/big"), BIG_BYTES);
      row(
        "3 port-forward",
        "baseline: plain TCP copy over loopback (same httpd + curl)",
        mbps(BIG_BYTES, loMs),
        "baseline",
      );
    } finally {
      httpd.kill("SIGTERM");
      await closed;
    }
  } finally {
    await c.stop();
    await rm(hostDir, { recursive: true, force: true });
  }
  const load1 = loadavg()[0] ?? 0;
  console.log(
    `exec bench, ${new Date().toISOString()}, node ${process.version}, ${BIG_MIB} MiB, load ${load0.toFixed(1)} before / ${load1.toFixed(1)} after\n`,
  );
  console.log(renderTable(rows));
}

await main();
