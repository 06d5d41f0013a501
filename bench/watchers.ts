/**
 * The watchers of the watch-latency benchmark, in a process of their own: opens N pod watches
 * on bare TLS sockets (`rawWatcher`) and stamps every read on arrival. Keeping them out of the
 * bench process keeps the readers' timestamps free of that process's work (the writer's
 * requests, and the garbage collection of everything the earlier benchmarks left on its heap).
 *
 * Usage: `watchers.mjs '<json>'` with `{port, token, caPem, watchers, rv, ready, count}`.
 * Prints `ready` once every watch has seen the pod named `ready`, `done` once each has seen
 * `count` events after it. On `stop` (a line on stdin, or stdin closing) it ends the watches
 * and prints one JSON line: what each watcher received (`[[name, rv, at], …]` per watcher,
 * `at` on the CLOCK_MONOTONIC clock in ms). Then it exits.
 */
import { createInterface } from "node:readline";
import { rawWatcher, runWatchers, type ServerAddress } from "./watch-streams.js";

interface Config extends ServerAddress {
  watchers: number;
  rv: string | undefined;
  ready: string;
  count: number;
}

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2] ?? "{}") as Config;
  const stop = new AbortController();
  const lines = createInterface({ input: process.stdin });
  lines.on("line", (line) => {
    if (line.trim() === "stop") stop.abort();
  });
  lines.on("close", () => {
    stop.abort();
  });
  // Room for the run's bytes: about 2.3 KiB per pod event, with headroom.
  const expectBytes = (cfg.count + 64) * 4096;
  const watchers = Array.from({ length: cfg.watchers }, () => rawWatcher(cfg, expectBytes));
  await runWatchers(watchers, {
    rv: cfg.rv,
    ready: cfg.ready,
    count: cfg.count,
    signal: stop.signal,
    onAllReady: () => process.stdout.write("ready\n"),
    onAllDone: () => process.stdout.write("done\n"),
    onError: (i, err) => {
      console.error(`watchers: watch ${i} failed: ${String(err)}`);
    },
  });
  lines.close();
  const received = watchers.map((w) => w.received().map((e) => [e.name, e.rv, e.at]));
  // Stdout is a pipe (written asynchronously): exit only once the long line is out.
  await new Promise<void>((resolve) => {
    process.stdout.write(`${JSON.stringify(received)}\n`, () => {
      resolve();
    });
  });
}

main().then(
  () => {
    process.exit(0);
  },
  (err: unknown) => {
    console.error("watchers failed:", err);
    process.exit(1);
  },
);
