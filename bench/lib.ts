/**
 * Shared helpers of the API server benchmarks: wiring a real store + ApiServer + HTTPS
 * endpoint, realistic pod fixtures, timing statistics and the result table.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { applyDefaults, validateObject, type Pod } from "../src/api/index.js";
import { ApiServer, type Admission } from "../src/apiserver/index.js";
import {
  HttpsApiServer,
  RequestAuthenticator,
  StaticTokenVerifier,
  ensurePki,
  type Pki,
} from "../src/apiserver/http/index.js";
import { Client, HandlerTransport, HttpTransport } from "../src/client/index.js";
import { SqliteStore } from "../src/storage/index.js";
import { SystemClock, nullLogger } from "../src/util/index.js";

/** Bearer token of the benchmark's admin user. */
export const BENCH_TOKEN = "bench-token";

/** The admission `cmd/` wires: API defaulting, then validation. */
export const ADMISSION: Admission = {
  default: (kind, group, obj) => {
    applyDefaults(kind, group, obj);
  },
  validate: (kind, group, obj, old, opts) => validateObject(kind, group, obj, old, opts),
};

/** A temporary directory that `dispose` removes with everything in it. */
export interface TempDir {
  path: string;
  dispose(): Promise<void>;
}

/** Creates a temporary directory under the OS temp dir. */
export async function tempDir(prefix: string): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return {
    path,
    dispose: () => rm(path, { recursive: true, force: true }),
  };
}

/**
 * A realistic pod as kubectl would send it (`kubectl run`-like busybox pod with labels and one
 * container); the server applies defaults on create.
 */
export function makePod(name: string, namespace = "default"): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace,
      labels: { app: "bench", tier: "backend", "pod-template-hash": "5d8f7c9b6d", run: name },
      annotations: { "bench.podrun.dev/owner": "api-bench" },
    },
    spec: {
      containers: [
        {
          name: "main",
          image: "busybox:1.36",
          command: ["sh", "-c", "sleep 3600"],
          env: [{ name: "MODE", value: "bench" }],
          ports: [{ containerPort: 8080, name: "http" }],
          resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { memory: "32Mi" } },
        },
      ],
      restartPolicy: "Always",
    },
  };
}

/** One running server stack (SQLite store, ApiServer, HTTPS endpoint) in this process. */
export interface ServerStack {
  dir: TempDir;
  store: SqliteStore;
  api: ApiServer;
  pki: Pki;
  port: number;
  /** Bearer token accepted by the HTTPS endpoint. */
  token: string;
  /** A client over HTTPS with its own keep-alive connection pool. */
  httpsClient(): { client: Client; close: () => void };
  /** A client that calls the ApiServer in-process. */
  inProcessClient(): Client;
  /** Stops the servers, closes the store and removes the data directory if it made it. */
  dispose(): Promise<void>;
}

/**
 * Starts a fresh stack on a free port. Its data goes to `dataDir` (left in place, the caller
 * owns it) or else to a new temp dir that `dispose` removes.
 */
export async function startStack(opts: { dataDir?: string } = {}): Promise<ServerStack> {
  const dir: TempDir =
    opts.dataDir === undefined
      ? await tempDir("podrun-bench-")
      : { path: opts.dataDir, dispose: () => Promise.resolve() };
  const clock = new SystemClock();
  const ctl = new AbortController();
  const store = new SqliteStore(join(dir.path, "state.db"));
  const api = new ApiServer({ store, clock, logger: nullLogger, admission: ADMISSION });
  await api.bootstrap();
  const pki = await ensurePki({ dataDir: dir.path, clock });
  const https = new HttpsApiServer({
    handler: api,
    tls: { certPem: pki.serverCertPem, keyPem: pki.serverKeyPem, caPem: pki.caCertPem },
    authenticator: new RequestAuthenticator({
      tokenVerifiers: [
        new StaticTokenVerifier({
          [BENCH_TOKEN]: { username: "admin", groups: ["system:masters"] },
        }),
      ],
    }),
    port: 0,
  });
  const running = Promise.all([api.run(ctl.signal), https.run(ctl.signal)]);
  const { port } = await https.ready();
  const transports: HttpTransport[] = [];
  return {
    dir,
    store,
    api,
    pki,
    port,
    token: BENCH_TOKEN,
    httpsClient: () => {
      const t = new HttpTransport({
        server: `https://127.0.0.1:${port}`,
        caPem: pki.caCertPem,
        token: BENCH_TOKEN,
        logger: nullLogger,
      });
      transports.push(t);
      return {
        client: new Client(t),
        close: () => {
          t.close();
        },
      };
    },
    inProcessClient: () => new Client(new HandlerTransport(api)),
    dispose: async () => {
      for (const t of transports) t.close();
      ctl.abort();
      await running;
      await store.close();
      await dir.dispose();
    },
  };
}

/**
 * Creates `count` pods named `${prefix}-<i>` through the ApiServer in-process (defaults,
 * validation, uid and timestamps exactly as over HTTPS), `inFlight` at a time.
 */
export async function seedPods(
  api: ApiServer,
  count: number,
  prefix: string,
  inFlight = 64,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const res = await api.handle({
        method: "POST",
        path: "/api/v1/namespaces/default/pods",
        body: makePod(`${prefix}-${i}`),
      });
      if (res.status !== 201) {
        throw new Error(`seed pod ${prefix}-${i}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
}

/** Milliseconds since an arbitrary origin, sub-millisecond resolution. */
export function nowMs(): number {
  return performance.now();
}

/** CPU time (user + system) this process has used, in milliseconds. */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * Durations of repeated runs: wall-clock time, and this process's CPU time, which is less
 * disturbed when other work competes for the cores (client and server share this process, so
 * it covers both).
 */
export interface Samples {
  wallMs: number[];
  cpuMs: number[];
}

/** Runs `fn` `runs` times (after `warmup` untimed runs) and returns the durations. */
export async function sample(runs: number, fn: () => unknown, warmup = 1): Promise<Samples> {
  for (let i = 0; i < warmup; i++) await fn();
  const out: Samples = { wallMs: [], cpuMs: [] };
  for (let i = 0; i < runs; i++) {
    const c0 = cpuMs();
    const t0 = nowMs();
    await fn();
    out.wallMs.push(nowMs() - t0);
    out.cpuMs.push(cpuMs() - c0);
  }
  return out;
}

/** The `q` quantile (0..1) of `values` (nearest rank); NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[idx] ?? Number.NaN;
}

/** One row of the result table. */
export interface ResultRow {
  /** Which benchmark, e.g. "list 10k pods". */
  bench: string;
  /** What was measured in this row. */
  what: string;
  /** The measured value, already formatted with its unit. */
  value: string;
  /** The target, or "baseline" for a baseline row. */
  target: string;
  /** "ok", "MISS" or "" (baselines). */
  verdict: string;
}

/** Formats milliseconds for the table. */
export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return "n/a";
  if (Math.abs(ms) < 0.1) return `${(ms * 1000).toFixed(1)} µs`;
  if (Math.abs(ms) < 10) return `${ms.toFixed(2)} ms`;
  return `${ms.toFixed(0)} ms`;
}

/** Formats a byte count in MiB. */
export function fmtMiB(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** "ok" when `pass`, else "MISS". */
export function verdict(pass: boolean): string {
  return pass ? "ok" : "MISS";
}

/** Renders rows as a Markdown table (readable in a terminal and pasteable into notes). */
export function renderTable(rows: readonly ResultRow[]): string {
  const head: ResultRow = {
    bench: "benchmark",
    what: "measurement",
    value: "result",
    target: "target",
    verdict: "",
  };
  const cols = ["bench", "what", "value", "target", "verdict"] as const;
  const all = [head, ...rows];
  const width = cols.map((c) => Math.max(...all.map((r) => r[c].length)));
  const line = (r: ResultRow): string =>
    `| ${cols.map((c, i) => r[c].padEnd(width[i] ?? 0)).join(" | ")} |`;
  const sep = `|${width.map((w) => "-".repeat(w + 2)).join("|")}|`;
  return [line(head), sep, ...rows.map(line)].join("\n");
}
