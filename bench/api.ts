/**
 * API server benchmarks: list of 10k pods, creates per second, watch delivery latency with 100
 * watchers, and server RSS. Every number is printed next to a baseline measured in the same run.
 *
 * Usage: `node --import tsx bench/api.ts [list] [create] [watch] [rss]` (all when none given).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { availableParallelism, loadavg } from "node:os";
import { readFile, symlink } from "node:fs/promises";
import { join } from "node:path";
import { createInterface, type Interface } from "node:readline";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { build } from "esbuild";
import type { KubeObject, Pod } from "../src/api/index.js";
import { Client, HttpTransport } from "../src/client/index.js";
import { encodeJson } from "../src/apiserver/objects.js";
import type { Store } from "../src/storage/index.js";
import { nullLogger } from "../src/util/index.js";
import {
  cpuMs,
  fmtMiB,
  fmtMs,
  makePod,
  nowMs,
  quantile,
  sample,
  seedPods,
  startStack,
  tempDir,
  verdict,
  renderTable,
  type ResultRow,
  type Samples,
} from "./lib.js";
import {
  monoMs,
  PODS_PATH,
  runWatchers,
  type Received,
  type ServerAddress,
  type Watcher,
} from "./watch-streams.js";

/** `--quick` shrinks every size (a smoke run of the harness, not a measurement). */
const QUICK = process.argv.includes("--quick");
const LIST_PODS = QUICK ? 500 : 10_000;
const LIST_RUNS = 10;
const CREATE_IN_FLIGHT = 50;
const CREATE_DURATION_MS = QUICK ? 500 : 5_000;
const RAW_INSERT_DURATION_MS = QUICK ? 200 : 2_000;
const WATCHERS = QUICK ? 10 : 100;
const WATCH_PODS = QUICK ? 50 : 1_000;
/** Pace of the watch benchmark's creates: one every 20 ms (50/s, 5,000 events/s to 100 watchers). */
const WATCH_INTERVAL_MS = 20;
const TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io";
const POD_KEY_LO = "/registry/core/pods/default/";
const POD_KEY_HI = "/registry/core/pods/default0";
const HERE = fileURLToPath(new URL(".", import.meta.url));

const rows: ResultRow[] = [];

function log(msg: string): void {
  console.error(`[bench] ${msg}`);
}

function p50(values: readonly number[]): number {
  return quantile(values, 0.5);
}

// ---------------------------------------------------------------------------------------------
// 1. List of 10k pods

async function benchList(): Promise<void> {
  const b = QUICK ? `1 list ${LIST_PODS} pods` : "1 list 10k pods";
  const stack = await startStack();
  try {
    log(`seeding ${LIST_PODS} pods`);
    const seedStart = nowMs();
    await seedPods(stack.api, LIST_PODS, "pod");
    log(`seeded in ${fmtMs(nowMs() - seedStart)}`);
    const { client, close } = stack.httpsClient();
    let items: Pod[] = [];
    const json = await sample(LIST_RUNS, async () => {
      const list = await client.pods("default").list();
      items = list.items;
    });
    if (items.length !== LIST_PODS) throw new Error(`list returned ${items.length} pods`);
    const bytes = Buffer.byteLength(JSON.stringify({ items }));
    const table = await sample(LIST_RUNS, async () => {
      const res = await client.request({
        method: "GET",
        path: PODS_PATH,
        headers: { accept: TABLE_ACCEPT },
      });
      const body = res.body as { kind?: string; rows?: unknown[] };
      if (body.kind !== "Table" || body.rows?.length !== LIST_PODS) {
        throw new Error(`table list returned ${body.kind ?? "?"} with ${body.rows?.length ?? 0}`);
      }
    });
    close();
    const inProc = stack.inProcessClient();
    const viaTransport = await sample(LIST_RUNS, () => inProc.pods("default").list());
    const viaHandle = await sample(LIST_RUNS, () =>
      stack.api.handle({ method: "GET", path: PODS_PATH }),
    );
    // The server's share of an HTTPS JSON list: the handler plus the body's encoding, with the
    // per-object encodings it caches, next to encoding the same list with JSON.stringify.
    const serverEncode = await sample(LIST_RUNS, async () => {
      encodeJson((await stack.api.handle({ method: "GET", path: PODS_PATH })).body);
    });
    const serverStringify = await sample(LIST_RUNS, async () => {
      Buffer.from(
        JSON.stringify((await stack.api.handle({ method: "GET", path: PODS_PATH })).body),
      );
    });
    const jsonRoundTrip = await sample(LIST_RUNS, () => {
      JSON.parse(JSON.stringify({ apiVersion: "v1", kind: "PodList", items }));
    });
    const db = new Database(join(stack.dir.path, "state.db"), { readonly: true });
    let selected: { value: string }[] = [];
    const selectStmt = db.prepare<[string, string], { value: string }>(
      "SELECT value FROM kv WHERE key >= ? AND key < ?",
    );
    const select = await sample(LIST_RUNS, () => {
      selected = selectStmt.all(POD_KEY_LO, POD_KEY_HI);
    });
    if (selected.length !== LIST_PODS) throw new Error(`select returned ${selected.length} rows`);
    const selectParse = await sample(LIST_RUNS, () => {
      selectStmt.all(POD_KEY_LO, POD_KEY_HI).map((r) => JSON.parse(r.value) as unknown);
    });
    db.close();
    const target = "< 300 ms";
    rows.push(
      row(b, `HTTPS JSON list, p50 of ${LIST_RUNS} (${fmtMiB(bytes)})`, json, target, 300),
      row(b, `HTTPS Table list, p50 of ${LIST_RUNS}`, table, target, 300),
      row(b, "in-process list via HandlerTransport, p50", viaTransport),
      row(b, "in-process ApiServer.handle list, p50", viaHandle),
      row(b, "server side: handle + encodeJson (cached item encodings), p50", serverEncode),
      row(b, "baseline: handle + JSON.stringify of the list, p50", serverStringify),
      row(b, "baseline: JSON.stringify+parse of the list", jsonRoundTrip),
      row(b, "baseline: SQLite SELECT value of the pod rows", select),
      row(b, "baseline: SQLite SELECT + JSON.parse per row", selectParse),
    );
  } finally {
    await stack.dispose();
  }
}

/** A row for a timed sample: wall p50, with the CPU p50 in parentheses. */
function row(
  bench: string,
  what: string,
  samples: Samples,
  target = "baseline",
  maxMs?: number,
): ResultRow {
  const wall = p50(samples.wallMs);
  return {
    bench,
    what,
    value: `${fmtMs(wall)} (cpu ${fmtMs(p50(samples.cpuMs))})`,
    target,
    verdict: maxMs === undefined ? "" : verdict(wall < maxMs),
  };
}

// ---------------------------------------------------------------------------------------------
// 2. Creates per second

interface CreateResult {
  count: number;
  ratePerSec: number;
  /** Creates per second of this process's CPU time (client and server together). */
  perCpuSec: number;
  latenciesMs: number[];
}

/** `inFlight` workers, each with its own client, create pods until `durationMs` has passed. */
async function createLoad(
  clients: readonly Client[],
  prefix: string,
  durationMs: number,
): Promise<CreateResult> {
  const latenciesMs: number[] = [];
  const cpuStart = cpuMs();
  const start = nowMs();
  const deadline = start + durationMs;
  let next = 0;
  await Promise.all(
    clients.map(async (client) => {
      while (nowMs() < deadline) {
        const name = `${prefix}-${next++}`;
        const t0 = nowMs();
        await client.pods("default").create(makePod(name));
        latenciesMs.push(nowMs() - t0);
      }
    }),
  );
  const elapsedMs = nowMs() - start;
  const cpuUsedMs = cpuMs() - cpuStart;
  return {
    count: latenciesMs.length,
    ratePerSec: (latenciesMs.length / elapsedMs) * 1000,
    perCpuSec: (latenciesMs.length / cpuUsedMs) * 1000,
    latenciesMs,
  };
}

/** Raw better-sqlite3 inserts of `text` into the store's schema, `perTxn` rows per commit. */
async function rawInserts(
  text: string,
  perTxn: number,
  durationMs: number,
): Promise<{ ratePerSec: number; perCpuSec: number }> {
  const dir = await tempDir("podrun-bench-raw-");
  const db = new Database(join(dir.path, "raw.db"));
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.exec(`
      CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL,
        create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL);
      CREATE TABLE history (rev INTEGER PRIMARY KEY, type TEXT NOT NULL,
        key TEXT NOT NULL, value TEXT NOT NULL, prev TEXT);
    `);
    const kv = db.prepare("INSERT INTO kv (key, value, create_rev, mod_rev) VALUES (?, ?, ?, ?)");
    const hist = db.prepare(
      "INSERT INTO history (rev, type, key, value, prev) VALUES (?, ?, ?, ?, ?)",
    );
    let rev = 0;
    const batch = db.transaction((n: number) => {
      for (let i = 0; i < n; i++) {
        rev++;
        const key = `/registry/core/pods/default/raw-${rev}`;
        kv.run(key, text, rev, rev);
        hist.run(rev, "ADDED", key, text, null);
      }
    });
    const cpuStart = cpuMs();
    const start = nowMs();
    while (nowMs() - start < durationMs) batch(perTxn);
    return {
      ratePerSec: (rev / (nowMs() - start)) * 1000,
      perCpuSec: (rev / (cpuMs() - cpuStart)) * 1000,
    };
  } finally {
    db.close();
    await dir.dispose();
  }
}

async function benchCreates(): Promise<void> {
  const b = "2 creates/s";
  {
    const stack = await startStack();
    try {
      const conns = Array.from({ length: CREATE_IN_FLIGHT }, () => stack.httpsClient());
      log(`HTTPS creates, ${CREATE_IN_FLIGHT} clients for ${CREATE_DURATION_MS} ms`);
      await createLoad(
        conns.map((c) => c.client),
        "warm",
        500,
      );
      const r = await createLoad(
        conns.map((c) => c.client),
        "https",
        CREATE_DURATION_MS,
      );
      for (const c of conns) c.close();
      // The clients share the server's one JS thread here, so this row counts their CPU too;
      // the target applies to the server alone in a child process (benchRss).
      rows.push(
        rateRow(b, `HTTPS, server in the bench process, ${CREATE_IN_FLIGHT} clients`, r, "info"),
      );
      rows.push(latencyRow(b, "HTTPS create latency p50 / p99", r.latenciesMs));
    } finally {
      await stack.dispose();
    }
  }
  {
    const stack = await startStack();
    try {
      log(`in-process creates, ${CREATE_IN_FLIGHT} in flight for ${CREATE_DURATION_MS} ms`);
      const clients = Array.from({ length: CREATE_IN_FLIGHT }, () => stack.inProcessClient());
      await createLoad(clients, "warm", 500);
      const r = await createLoad(clients, "inproc", CREATE_DURATION_MS);
      rows.push(rateRow(b, `in-process HandlerTransport, ${CREATE_IN_FLIGHT} in flight`, r));
      rows.push(latencyRow(b, "in-process create latency p50 / p99", r.latenciesMs));
    } finally {
      await stack.dispose();
    }
  }
  const text = await defaultedPodJson();
  log("raw SQLite inserts");
  const one = await rawInserts(text, 1, RAW_INSERT_DURATION_MS);
  const batched = await rawInserts(text, CREATE_IN_FLIGHT, RAW_INSERT_DURATION_MS);
  rows.push(
    {
      bench: b,
      what: "baseline: raw SQLite insert, 1 per txn (WAL, sync=FULL)",
      value: `${one.ratePerSec.toFixed(0)}/s (${one.perCpuSec.toFixed(0)}/cpu-s)`,
      target: "baseline",
      verdict: "",
    },
    {
      bench: b,
      what: `baseline: raw SQLite insert, ${CREATE_IN_FLIGHT} per txn (WAL, sync=FULL)`,
      value: `${batched.ratePerSec.toFixed(0)}/s (${batched.perCpuSec.toFixed(0)}/cpu-s)`,
      target: "baseline",
      verdict: "",
    },
  );
}

/** The JSON text the store writes for one defaulted pod (as stored by the server). */
async function defaultedPodJson(): Promise<string> {
  const stack = await startStack();
  try {
    const created = await stack.inProcessClient().pods("default").create(makePod("sample"));
    return JSON.stringify(created);
  } finally {
    await stack.dispose();
  }
}

function rateRow(
  bench: string,
  what: string,
  r: CreateResult,
  target = "baseline",
  minPerSec?: number,
): ResultRow {
  return {
    bench,
    what: `${what} (${r.count} pods)`,
    value: `${r.ratePerSec.toFixed(0)}/s (${r.perCpuSec.toFixed(0)}/cpu-s)`,
    target,
    verdict: minPerSec === undefined ? "" : verdict(r.ratePerSec >= minPerSec),
  };
}

function latencyRow(
  bench: string,
  what: string,
  samples: readonly number[],
  target = "info",
  p99MaxMs?: number,
): ResultRow {
  const p99 = quantile(samples, 0.99);
  return {
    bench,
    what,
    value: `${fmtMs(p50(samples))} / ${fmtMs(p99)}`,
    target,
    verdict: p99MaxMs === undefined ? "" : verdict(p99 < p99MaxMs),
  };
}

// ---------------------------------------------------------------------------------------------
// 3. Watch delivery latency

interface WatchResult {
  /**
   * Receive time minus the commit time: when the store published the event (seen by a
   * `store.watch` in the server's process), i.e. the server's fan-out and the transport alone.
   */
  fromCommitMs: number[];
  /** Receive time minus the time just before the create request was sent. */
  fromRequestMs: number[];
  /** Receive time minus the time the create response arrived (negative: event came first). */
  fromResponseMs: number[];
  missing: number;
}

/** Commit times of the pods the watch benchmark creates, on the `monoMs` clock. */
interface CommitStamps {
  /** Starts stamping ADDED events from now on; resolves once the stamping watch is set up. */
  start(signal: AbortSignal): Promise<void>;
  /** Every stamp so far (after `signal` aborted), by resourceVersion. */
  finish(): Promise<Map<string, number>>;
}

/** Stamps from an in-process `store.watch` on the pods prefix (server in this process). */
function storeCommitStamps(store: Store): CommitStamps {
  const at = new Map<string, number>();
  let loop: Promise<void> = Promise.resolve();
  return {
    start: async (signal) => {
      const from = await store.currentRevision();
      loop = (async () => {
        for await (const ev of store.watch(POD_KEY_LO, from, { signal })) {
          if (ev.type === "ADDED") at.set(String(ev.revision), monoMs());
        }
      })();
    },
    finish: async () => {
      await loop;
      return at;
    },
  };
}

/** Stamps taken in the bench/api-server child by its own `store.watch` (`stamp-commits`). */
function childCommitStamps(c: ServerChild): CommitStamps {
  return {
    start: async () => {
      c.child.stdin?.write("stamp-commits\n");
      const answer = JSON.parse(await c.next()) as { from?: number; error?: string };
      if (answer.from === undefined) throw new Error(`stamp-commits: ${answer.error ?? "?"}`);
    },
    finish: async () => {
      c.child.stdin?.write("commits\n");
      const answer = JSON.parse(await c.next()) as { commits?: [number, number][] };
      if (answer.commits === undefined) throw new Error("commits: no stamps in the answer");
      return new Map(answer.commits.map(([rv, ms]) => [String(rv), ms]));
    },
  };
}

/** A watch through the project's Client: each event is decoded before it is stamped. */
function clientWatcher(client: Client): Watcher {
  const mine: Received[] = [];
  return {
    received: () => mine,
    run: async (rv, ready, signal, onReady, onEvent) => {
      for await (const ev of client.pods("default").watch({
        signal,
        ...(rv === undefined ? {} : { resourceVersion: rv }),
      })) {
        const at = monoMs();
        if (ev.type !== "ADDED") continue;
        const meta = (ev.object as KubeObject).metadata;
        const name = meta.name ?? "";
        if (name === ready) {
          onReady();
          continue;
        }
        mine.push({ name, rv: meta.resourceVersion ?? "", at });
        onEvent();
      }
    },
  };
}

/** A set of watch streams, started together; the benchmark stamps what each receives. */
interface WatcherGroup {
  readonly size: number;
  /**
   * Starts every watch from `rv`. `ready` resolves once each has seen the pod named
   * `readyName`, `done` once each has seen `count` events after it, `ended` (after `signal`
   * aborted and the streams closed) with what each received.
   */
  start(
    rv: string | undefined,
    readyName: string,
    count: number,
    signal: AbortSignal,
  ): { ready: Promise<void>; done: Promise<void>; ended: Promise<Received[][]> };
}

/** Watchers that run in this process. */
function localGroup(watchers: readonly Watcher[]): WatcherGroup {
  return {
    size: watchers.length,
    start: (rv, readyName, count, signal) => {
      let onAllReady: () => void = () => undefined;
      let onAllDone: () => void = () => undefined;
      const ready = new Promise<void>((resolve) => (onAllReady = resolve));
      const done = new Promise<void>((resolve) => (onAllDone = resolve));
      const ended = runWatchers(watchers, {
        rv,
        ready: readyName,
        count,
        signal,
        onAllReady,
        onAllDone,
        // A broken stream must not end the run before its cleanup: its events count as missing.
        onError: (i, err) => {
          log(`watch ${i} ended with an error: ${String(err)}`);
        },
      }).then(() => watchers.map((w) => w.received()));
      return { ready, done, ended };
    },
  };
}

/** `size` bare TLS watchers in a bench/watchers child process of their own (plain node). */
function childGroup(bundle: string, hello: ChildHello, size: number): WatcherGroup {
  return {
    size,
    start: (rv, readyName, count, signal) => {
      const cfg = { ...hello, watchers: size, rv, ready: readyName, count };
      const c = spawnChild([bundle, JSON.stringify(cfg)]);
      const stop = (): void => {
        c.child.stdin?.end("stop\n");
      };
      if (signal.aborted) stop();
      else signal.addEventListener("abort", stop, { once: true });
      let onReady: () => void = () => undefined;
      let onDone: () => void = () => undefined;
      const ready = new Promise<void>((resolve) => (onReady = resolve));
      const done = new Promise<void>((resolve) => (onDone = resolve));
      // The child's lines: "ready", "done" (unless events went missing), then after `stop`
      // what each watcher received.
      const ended = (async () => {
        for (;;) {
          const line = await c.next();
          if (line === "ready") onReady();
          else if (line === "done") onDone();
          else {
            const all = JSON.parse(line) as [string, string, number][][];
            return all.map((events) => events.map(([name, rv, at]) => ({ name, rv, at })));
          }
        }
      })();
      return { ready, done, ended };
    },
  };
}

/**
 * Opens one pod watch per watcher, creates `count` pods through `writer` at a steady pace, and
 * measures when each watcher sees each ADDED event.
 */
async function watchLatency(
  writer: Client,
  group: WatcherGroup,
  count: number,
  prefix: string,
  stamps: CommitStamps,
): Promise<WatchResult> {
  const sentAt = new Map<string, number>();
  const answeredAt = new Map<string, number>();
  const ctl = new AbortController();
  await stamps.start(ctl.signal);
  let run: ReturnType<WatcherGroup["start"]> | undefined;
  let complete = false;
  let received: Received[][] = [];
  try {
    // Open the writer's connections first: TLS handshakes belong to no steady state.
    await Promise.all(
      Array.from({ length: 32 }, (_, i) =>
        writer.pods("default").create(makePod(`${prefix}-warm-${i}`)),
      ),
    );
    const rv = (await writer.pods("default").list({ limit: 1 })).metadata.resourceVersion;
    const ready = `${prefix}-ready`;
    run = group.start(rv, ready, count, ctl.signal);
    // Every watch is established once each has seen this pod.
    await writer.pods("default").create(makePod(ready));
    await withTimeout(run.ready, 30_000, "watchers did not all start");

    const creates: Promise<unknown>[] = [];
    const start = monoMs();
    for (let i = 0; i < count; i++) {
      const due = start + i * WATCH_INTERVAL_MS;
      const wait = due - monoMs();
      if (wait > 0) await sleepMs(wait);
      const name = `${prefix}-${i}`;
      sentAt.set(name, monoMs());
      creates.push(
        writer
          .pods("default")
          .create(makePod(name))
          .then(() => {
            answeredAt.set(name, monoMs());
          }),
      );
    }
    await Promise.all(creates);
    complete = await withTimeout(run.done, 30_000, "").then(
      () => true,
      () => false,
    );
  } finally {
    // Also on a throw: the streams and the stamping watch end, so the caller can clean up.
    ctl.abort();
    if (run !== undefined) received = await run.ended;
  }
  const committedAt = await stamps.finish();
  const fromCommitMs: number[] = [];
  const fromRequestMs: number[] = [];
  const fromResponseMs: number[] = [];
  let seen = 0;
  for (const events of received) {
    for (const { name, rv, at } of events) {
      const sent = sentAt.get(name);
      const answered = answeredAt.get(name);
      const committed = committedAt.get(rv);
      if (sent === undefined || answered === undefined || committed === undefined) continue;
      seen++;
      fromCommitMs.push(at - committed);
      fromRequestMs.push(at - sent);
      fromResponseMs.push(at - answered);
    }
  }
  const missing = count * group.size - seen;
  if (!complete) log(`watch: ${missing} events never arrived`);
  return { fromCommitMs, fromRequestMs, fromResponseMs, missing };
}

function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          reject(new Error(what));
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The same fan-out through an EventEmitter: emit at the same pace, 100 listeners. */
async function emitterLatency(count: number): Promise<number[]> {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(WATCHERS + 1);
  const out: number[] = [];
  for (let w = 0; w < WATCHERS; w++) {
    emitter.on("pod", (ev: { sentAt: number }) => {
      out.push(nowMs() - ev.sentAt);
    });
  }
  const start = nowMs();
  for (let i = 0; i < count; i++) {
    const wait = start + i * WATCH_INTERVAL_MS - nowMs();
    if (wait > 0) await sleepMs(wait);
    emitter.emit("pod", { type: "ADDED", object: makePod(`emit-${i}`), sentAt: nowMs() });
  }
  return out;
}

async function benchWatch(): Promise<void> {
  const b = `3 watch, ${WATCHERS} watchers`;
  const pace = `${WATCH_PODS} creates @ ${1000 / WATCH_INTERVAL_MS}/s`;
  log(`HTTPS watch, server alone in a child process: ${WATCHERS} watchers, ${pace}`);
  const child = await withServerChild(async (c, hello, bundleDir) => {
    const transports: HttpTransport[] = [];
    const client = (): Client => {
      const t = new HttpTransport({
        server: `https://127.0.0.1:${hello.port}`,
        caPem: hello.caPem,
        token: hello.token,
        logger: nullLogger,
      });
      transports.push(t);
      return new Client(t);
    };
    try {
      const writer = client();
      const raw = childGroup(await bundleEntry(bundleDir, "watchers"), hello, WATCHERS);
      const r = await watchLatency(writer, raw, WATCH_PODS, "w", childCommitStamps(c));
      log(`HTTPS watch, server alone, through the Client: ${WATCHERS} watchers, ${pace}`);
      const viaClient = localGroup(Array.from({ length: WATCHERS }, () => clientWatcher(client())));
      const rc = await watchLatency(writer, viaClient, WATCH_PODS, "c", childCommitStamps(c));
      return { r, rc };
    } finally {
      for (const t of transports) t.close();
    }
  });
  pushWatchRows(b, "HTTPS, server alone, TLS sockets stamped on read", pace, child.r, true);
  // Info: the same server through the project's Client, whose 100 streams decode every event
  // in this one JS thread before stamping it.
  pushWatchRows(b, "HTTPS, server alone, through the Client", pace, child.rc, false);
  {
    const stack = await startStack();
    try {
      const writer = stack.httpsClient();
      const conns = Array.from({ length: WATCHERS }, () => stack.httpsClient());
      log(`HTTPS watch, server in this process: ${WATCHERS} watchers, ${pace}`);
      const r = await watchLatency(
        writer.client,
        localGroup(conns.map((c) => clientWatcher(c.client))),
        WATCH_PODS,
        "w",
        storeCommitStamps(stack.store),
      );
      writer.close();
      for (const c of conns) c.close();
      // Info only: one event loop serves the server and parses every client's events, so these
      // numbers measure client work as much as the server's delivery.
      pushWatchRows(b, "HTTPS, server in the bench process", pace, r, false);
    } finally {
      await stack.dispose();
    }
  }
  {
    const stack = await startStack();
    try {
      log(`in-process watch: ${WATCHERS} watchers, ${pace}`);
      const watchers = Array.from({ length: WATCHERS }, () =>
        clientWatcher(stack.inProcessClient()),
      );
      const r = await watchLatency(
        stack.inProcessClient(),
        localGroup(watchers),
        WATCH_PODS,
        "w",
        storeCommitStamps(stack.store),
      );
      pushWatchRows(b, "in-process HandlerTransport", pace, r, false);
    } finally {
      await stack.dispose();
    }
  }
  const emitted = await emitterLatency(WATCH_PODS);
  rows.push(latencyRow(b, "baseline: EventEmitter fan-out p50 / p99", emitted, "baseline"));
}

function pushWatchRows(
  bench: string,
  via: string,
  pace: string,
  r: WatchResult,
  hasTarget: boolean,
): void {
  const missing = r.missing === 0 ? "" : `, ${r.missing} missing`;
  const target = hasTarget ? "p99 < 10 ms" : "info";
  const maxMs = hasTarget ? 10 : undefined;
  rows.push(
    latencyRow(
      bench,
      `${via}: store commit → ADDED, p50 / p99 (${pace}${missing})`,
      r.fromCommitMs,
      target,
      maxMs,
    ),
    latencyRow(
      bench,
      `${via}: create response → ADDED, p50 / p99`,
      r.fromResponseMs,
      target,
      maxMs,
    ),
    latencyRow(bench, `${via}: create request start → ADDED, p50 / p99`, r.fromRequestMs),
  );
}

// ---------------------------------------------------------------------------------------------
// 4. RSS

/** A child process speaking the line protocol of bench/api-server.ts. */
interface ServerChild {
  child: ChildProcess;
  lines: Interface;
  next(): Promise<string>;
}

function spawnChild(args: string[]): ServerChild {
  // BENCH_CHILD_PROF=DIR writes a CPU profile of each server child there (node --cpu-prof).
  const profDir = process.env["BENCH_CHILD_PROF"];
  const prof = profDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${profDir}`];
  const child = spawn(process.execPath, [...prof, ...args], {
    stdio: ["pipe", "pipe", "inherit"],
    cwd: HERE,
  });
  const lines = createInterface({ input: child.stdout });
  const queue: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  lines.on("line", (line) => {
    const w = waiting.shift();
    if (w !== undefined) w(line);
    else queue.push(line);
  });
  return {
    child,
    lines,
    next: () => {
      const line = queue.shift();
      if (line !== undefined) return Promise.resolve(line);
      return withTimeout(
        new Promise<string>((resolve) => waiting.push(resolve)),
        120_000,
        "child did not answer",
      );
    },
  };
}

async function childRss(c: ServerChild, cmd: "rss" | "gc"): Promise<number> {
  c.child.stdin?.write(`${cmd}\n`);
  const answer = JSON.parse(await c.next()) as { rss: number };
  return answer.rss;
}

async function stopChild(c: ServerChild): Promise<void> {
  const exited = new Promise<void>((resolve) => {
    if (c.child.exitCode !== null) resolve();
    else
      c.child.once("exit", () => {
        resolve();
      });
  });
  c.child.stdin?.end();
  await withTimeout(exited, 10_000, "child did not exit").catch(() => {
    c.child.kill("SIGKILL");
  });
  c.lines.close();
}

/** The first line bench/api-server prints: where and how to reach it. */
type ChildHello = ServerAddress;

/**
 * Runs `fn` against bench/api-server alone in a child process on plain `node` (bundled, like
 * the built `dist/`), with its data in a new temp dir. `fn` may bundle more children into the
 * bundle directory. The child is stopped and both temp dirs are removed when `fn` returns or
 * throws.
 */
async function withServerChild<T>(
  fn: (c: ServerChild, hello: ChildHello, bundleDir: string) => Promise<T>,
): Promise<T> {
  const bundleDir = await tempDir("podrun-bench-bundle-");
  try {
    const bundle = await bundleServer(bundleDir.path);
    const dataDir = await tempDir("podrun-bench-child-");
    try {
      const c = spawnChild([bundle, dataDir.path]);
      try {
        return await fn(c, JSON.parse(await c.next()) as ChildHello, bundleDir.path);
      } finally {
        await stopChild(c);
      }
    } finally {
      await dataDir.dispose();
    }
  } finally {
    await bundleDir.dispose();
  }
}

/** RSS of a bare `node` (with `extraArgs`) that does nothing but report it. */
async function bareRss(extraArgs: string[]): Promise<number> {
  const c = spawnChild([
    ...extraArgs,
    "-e",
    "process.stdout.write(JSON.stringify({rss: process.memoryUsage().rss}) + '\\n')",
  ]);
  try {
    return (JSON.parse(await c.next()) as { rss: number }).rss;
  } finally {
    await stopChild(c);
  }
}

interface RssResult {
  idle: number;
  loaded: number;
  loadedGc: number;
  createsPerSec: number;
  /** Creates per CPU-second of the server child alone (all its threads), from /proc. */
  createsPerServerCpuSec: number;
}

/** CPU time (user + system, all threads) of process `pid` so far, in ms (Linux /proc). */
async function procCpuMs(pid: number | undefined): Promise<number> {
  if (pid === undefined) return NaN;
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}

/**
 * Starts bench/api-server in a child (`args` run it), reads its idle RSS, creates the 10k pods
 * over HTTPS from this process, lists them once and reads the RSS again.
 */
async function measureServerRss(args: string[]): Promise<RssResult> {
  const dir = await tempDir("podrun-bench-rss-");
  const c = spawnChild([...args, dir.path]);
  try {
    const hello = JSON.parse(await c.next()) as { port: number; token: string; caPem: string };
    await sleepMs(1_000);
    const idle = await childRss(c, "gc");
    const transport = new HttpTransport({
      server: `https://127.0.0.1:${hello.port}`,
      caPem: hello.caPem,
      token: hello.token,
      logger: nullLogger,
    });
    const client = new Client(transport);
    let next = 0;
    const seedStart = nowMs();
    const cpuStart = await procCpuMs(c.child.pid);
    await Promise.all(
      Array.from({ length: CREATE_IN_FLIGHT }, async () => {
        while (next < LIST_PODS) await client.pods("default").create(makePod(`pod-${next++}`));
      }),
    );
    const createsPerSec = (LIST_PODS / (nowMs() - seedStart)) * 1000;
    const createsPerServerCpuSec = (LIST_PODS / ((await procCpuMs(c.child.pid)) - cpuStart)) * 1000;
    const list = await client.pods("default").list();
    if (list.items.length !== LIST_PODS) throw new Error(`list returned ${list.items.length}`);
    const loaded = await childRss(c, "rss");
    const loadedGc = await childRss(c, "gc");
    transport.close();
    return { idle, loaded, loadedGc, createsPerSec, createsPerServerCpuSec };
  } finally {
    await stopChild(c);
    await dir.dispose();
  }
}

/**
 * Bundles bench/api-server.ts (our code only; packages stay external) into a temp dir, so the
 * child runs on plain `node` like the built `dist/` does, without the tsx loader's memory.
 */
async function bundleServer(dir: string): Promise<string> {
  const out = await bundleEntry(dir, "api-server");
  // External packages resolve from the bundle's directory.
  await symlink(join(HERE, "..", "node_modules"), join(dir, "node_modules"));
  return out;
}

/** Bundles bench/`name`.ts into `dir` as `name`.mjs (packages stay external). */
async function bundleEntry(dir: string, name: string): Promise<string> {
  const out = join(dir, `${name}.mjs`);
  await build({
    entryPoints: [join(HERE, `${name}.ts`)],
    bundle: true,
    platform: "node",
    format: "esm",
    packages: "external",
    target: "node20",
    outfile: out,
    logLevel: "warning",
  });
  return out;
}

async function benchRss(): Promise<void> {
  const b = "4 server RSS";
  const bundleDir = await tempDir("podrun-bench-bundle-");
  try {
    log(`RSS: plain node child (bundled), creating ${LIST_PODS} pods over HTTPS`);
    const bundle = await bundleServer(bundleDir.path);
    const plain = await measureServerRss(["--expose-gc", bundle]);
    log(`RSS: tsx child, creating ${LIST_PODS} pods over HTTPS`);
    const tsx = await measureServerRss([
      "--import",
      "tsx",
      "--expose-gc",
      join(HERE, "api-server.ts"),
    ]);
    const bare = await bareRss([]);
    const bareTsx = await bareRss(["--import", "tsx"]);
    const limit = 80 * 1024 * 1024;
    // A by-product worth its own row: creates with the server alone in its process, as in
    // production, instead of sharing one event loop with 50 clients.
    rows.push({
      bench: "2 creates/s",
      what: `HTTPS, server alone in a child process, ${CREATE_IN_FLIGHT} in flight (${LIST_PODS} pods)`,
      value: `${plain.createsPerSec.toFixed(0)}/s (${plain.createsPerServerCpuSec.toFixed(0)}/server-cpu-s)`,
      target: "≥ 2000/s",
      verdict: verdict(plain.createsPerSec >= 2000),
    });
    rows.push(
      {
        bench: b,
        what: "idle after start, plain node (bundled)",
        value: fmtMiB(plain.idle),
        target: "< 80 MiB",
        verdict: verdict(plain.idle < limit),
      },
      {
        bench: b,
        what: `plain node: ${LIST_PODS} pods + one full list, before / after gc`,
        value: `${fmtMiB(plain.loaded)} / ${fmtMiB(plain.loadedGc)}`,
        target: "info",
        verdict: "",
      },
      {
        bench: b,
        // Info: tsx's loader (esbuild, source maps) is a development tool, not what runs.
        what: "idle after start, node --import tsx",
        value: fmtMiB(tsx.idle),
        target: "info",
        verdict: "",
      },
      {
        bench: b,
        what: `node --import tsx: ${LIST_PODS} pods + one full list, before / after gc`,
        value: `${fmtMiB(tsx.loaded)} / ${fmtMiB(tsx.loadedGc)}`,
        target: "info",
        verdict: "",
      },
      {
        bench: b,
        what: "baseline: bare node",
        value: fmtMiB(bare),
        target: "baseline",
        verdict: "",
      },
      {
        bench: b,
        what: "baseline: bare node --import tsx",
        value: fmtMiB(bareTsx),
        target: "baseline",
        verdict: "",
      },
    );
  } finally {
    await bundleDir.dispose();
  }
}

// ---------------------------------------------------------------------------------------------

const BENCHES: Record<string, () => Promise<void>> = {
  list: benchList,
  create: benchCreates,
  watch: benchWatch,
  rss: benchRss,
};

async function main(): Promise<void> {
  const loadBefore = loadavg()[0] ?? 0;
  const wanted = process.argv.slice(2).filter((a) => a !== "--quick");
  const names = wanted.length === 0 ? Object.keys(BENCHES) : wanted;
  for (const name of names) {
    const fn = BENCHES[name];
    if (fn === undefined) throw new RangeError(`unknown benchmark ${name}`);
    await fn();
  }
  console.log(
    `\nAPI server benchmarks, ${new Date().toISOString()}, node ${process.version}, ` +
      `${availableParallelism()} cores, load average ${loadBefore.toFixed(1)} before / ` +
      `${(loadavg()[0] ?? 0).toFixed(1)} after\n`,
  );
  // Stable sort: rows stay in measurement order within each benchmark.
  rows.sort((a, b) => a.bench.localeCompare(b.bench));
  console.log(renderTable(rows));
}

main().then(
  () => {
    process.exit(0);
  },
  (err: unknown) => {
    console.error("benchmark failed:", err);
    if (rows.length > 0) console.log(renderTable(rows));
    process.exit(1);
  },
);
