/**
 * A stand-alone API server for the benchmarks that need the server alone in its process (RSS,
 * creates, watch latency): SQLite store + ApiServer + HTTPS on a free port, data in the
 * directory given as the first argument (the caller removes it).
 *
 * Protocol: prints one JSON line `{"port":…,"token":…,"caPem":…}` when ready. Then reads
 * commands from stdin, one per line, and answers each with one JSON line:
 * - `rss` → `{"rss":<bytes>,"heapUsed":<bytes>}`
 * - `gc`  → a full collection (needs `--expose-gc`), then the same answer as `rss`
 * - `stamp-commits` → starts an in-process `store.watch` on the default namespace's pods from the
 *   current revision, which stamps each ADDED event when the store publishes it; answers
 *   `{"from":<revision>}`
 * - `commits` → `{"commits":[[<revision>,<ms>],…]}`: every ADDED event stamped so far. `ms` is
 *   `process.hrtime.bigint()` (CLOCK_MONOTONIC) in ms, comparable between processes on one host.
 * Stdin closing (or SIGTERM) stops the server, closes the store and exits 0.
 */
import { createInterface } from "node:readline";
import { startStack } from "./lib.js";
import { monoMs } from "./watch-streams.js";

const POD_PREFIX = "/registry/core/pods/default/";

async function main(): Promise<void> {
  const dataDir = process.argv[2];
  if (dataDir === undefined) throw new TypeError("usage: api-server.ts <data-dir>");
  const stack = await startStack({ dataDir });
  process.stdout.write(
    `${JSON.stringify({ port: stack.port, token: stack.token, caPem: stack.pki.caCertPem })}\n`,
  );
  const stop = new AbortController();
  process.once("SIGTERM", () => {
    stop.abort();
  });
  const commits: [number, number][] = [];
  let stamping: Promise<void> | undefined;
  const answer = (obj: unknown): void => {
    process.stdout.write(`${JSON.stringify(obj)}\n`);
  };
  const startStamping = async (): Promise<void> => {
    const from = await stack.store.currentRevision();
    stamping ??= (async () => {
      for await (const ev of stack.store.watch(POD_PREFIX, from, { signal: stop.signal })) {
        if (ev.type === "ADDED") commits.push([ev.revision, monoMs()]);
      }
    })().catch((err: unknown) => {
      if (!stop.signal.aborted) console.error("api-server: commit watch failed:", err);
    });
    answer({ from });
  };
  const lines = createInterface({ input: process.stdin });
  lines.on("close", () => {
    stop.abort();
  });
  lines.on("line", (line) => {
    const cmd = line.trim();
    if (cmd === "stamp-commits") {
      startStamping().catch((err: unknown) => {
        answer({ error: String(err) });
      });
      return;
    }
    if (cmd === "commits") {
      answer({ commits });
      return;
    }
    const gc = (globalThis as { gc?: () => void }).gc;
    if (cmd === "gc" && gc !== undefined) gc();
    const mem = process.memoryUsage();
    answer({ rss: mem.rss, heapUsed: mem.heapUsed });
  });
  await new Promise<void>((resolve) => {
    if (stop.signal.aborted) resolve();
    stop.signal.addEventListener("abort", () => {
      resolve();
    });
  });
  lines.close();
  await stamping;
  await stack.dispose();
}

main().then(
  () => {
    process.exit(0);
  },
  (err: unknown) => {
    console.error("api-server failed:", err);
    process.exit(1);
  },
);
