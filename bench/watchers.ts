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
import { setMaxListeners } from "node:events";
import { createInterface } from "node:readline";
import { rawWatcher, type ServerAddress } from "./watch-streams.js";

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
  // Every watch listens on the one stop signal.
  setMaxListeners(cfg.watchers + 10, stop.signal);
  // Room for the run's bytes: about 2.3 KiB per pod event, with headroom.
  const expectBytes = (cfg.count + 64) * 4096;
  const watchers = Array.from({ length: cfg.watchers }, () => rawWatcher(cfg, expectBytes));
  let ready = 0;
  let done = 0;
  await Promise.all(
    watchers.map(async (w, i) => {
      let got = 0;
      try {
        await w.run(
          cfg.rv,
          cfg.ready,
          stop.signal,
          () => {
            if (++ready === cfg.watchers) process.stdout.write("ready\n");
          },
          () => {
            if (++got === cfg.count && ++done === cfg.watchers) process.stdout.write("done\n");
          },
        );
      } catch (err) {
        // A broken stream's events count as missing; the others still report.
        if (!stop.signal.aborted) console.error(`watchers: watch ${i} failed: ${String(err)}`);
      }
    }),
  );
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
