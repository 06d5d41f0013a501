/**
 * Watch streams for the watch-latency benchmark: what one watcher received, and a watch on a
 * bare TLS socket that stamps each read on arrival. Shared by bench/api.ts and the
 * bench/watchers.ts child.
 */
import { setMaxListeners } from "node:events";
import { connect as tlsConnect } from "node:tls";
import type { KubeObject } from "../src/api/index.js";

export const PODS_PATH = "/api/v1/namespaces/default/pods";

/** Where and how to reach a bench API server. */
export interface ServerAddress {
  port: number;
  token: string;
  caPem: string;
}

/**
 * CLOCK_MONOTONIC in ms. Unlike `performance.now()` (whose origin is this process's start), it
 * is the same clock in every process on this machine, so times taken in different processes
 * can be subtracted.
 */
export function monoMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** One event a watcher received: the pod's name and resourceVersion, and when it arrived. */
export interface Received {
  name: string;
  rv: string;
  at: number;
}

/** One watch stream of the benchmark. */
export interface Watcher {
  /**
   * Watches the default namespace's pods from `rv` until `signal` aborts. Calls `onReady`
   * once the pod named `ready` has been seen, and `onEvent` for each later event.
   */
  run(
    rv: string | undefined,
    ready: string,
    signal: AbortSignal,
    onReady: () => void,
    onEvent: () => void,
  ): Promise<void>;
  /** The events after the ready pod (once `run` has ended). */
  received(): Received[];
}

/** What `runWatchers` runs and whom it tells. */
export interface WatchRun {
  rv: string | undefined;
  /** The pod whose event marks a watch as established. */
  ready: string;
  /** Events each watcher is to see after the ready pod. */
  count: number;
  signal: AbortSignal;
  /** Once every watcher has seen the ready pod. */
  onAllReady: () => void;
  /** Once every watcher has seen `count` events after it. */
  onAllDone: () => void;
  /** A stream that failed (before `signal` aborted); its events count as missing. */
  onError: (index: number, err: unknown) => void;
}

/** Runs every watcher until `signal` aborts; a broken stream does not end the others. */
export async function runWatchers(watchers: readonly Watcher[], run: WatchRun): Promise<void> {
  // One AbortSignal is shared by every watch stream; many listeners on it are expected.
  setMaxListeners(watchers.length + 10, run.signal);
  let ready = 0;
  let done = 0;
  await Promise.all(
    watchers.map(async (w, i) => {
      let got = 0;
      try {
        await w.run(
          run.rv,
          run.ready,
          run.signal,
          () => {
            if (++ready === watchers.length) run.onAllReady();
          },
          () => {
            if (++got === run.count && ++done === watchers.length) run.onAllDone();
          },
        );
      } catch (err) {
        if (!run.signal.aborted) run.onError(i, err);
      }
    }),
  );
}

/**
 * A watch on a bare TLS socket that stamps each read as it arrives and decodes nothing until
 * the run is over (`expectBytes`: about how many bytes the run will read, see `ReadLog`): the
 * delivery time of the server and the transport, without the client's
 * HTTP, JSON and iterator work (which, with 100 watchers in one JS thread, queues each read
 * behind the decoding of the reads before it). The bytes are decoded afterwards (HTTP chunked
 * framing, one JSON event per line); an event's time is that of the read holding its last byte.
 */
export function rawWatcher(hello: ServerAddress, expectBytes: number): Watcher {
  const reads = new ReadLog(expectBytes);
  let events: Received[] = [];
  return {
    received: () => events,
    run: async (rv, ready, signal, onReady, onEvent) => {
      const readyBytes = Buffer.from(`"name":"${ready}"`);
      const sock = tlsConnect({ host: "127.0.0.1", port: hello.port, ca: hello.caPem });
      const query = `watch=true${rv === undefined ? "" : `&resourceVersion=${rv}`}`;
      sock.write(
        `GET ${PODS_PATH}?${query} HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
          `Authorization: Bearer ${hello.token}\r\nAccept: application/json\r\n\r\n`,
      );
      let isReady = false;
      let tail = Buffer.alloc(0);
      let lastByte = 0;
      await new Promise<void>((resolve, reject) => {
        sock.on("data", (buf: Buffer) => {
          reads.add(monoMs(), buf);
          if (!isReady) {
            const seen = Buffer.concat([tail, buf]);
            if (seen.includes(readyBytes)) {
              isReady = true;
              onReady();
            } else tail = seen.subarray(Math.max(0, seen.length - readyBytes.length));
            lastByte = buf[buf.length - 1] ?? 0;
            return;
          }
          // An event ends with "}\n" (newlines inside JSON strings are escaped).
          let from = 0;
          if (lastByte === 0x7d && buf[0] === 0x0a) {
            onEvent();
            from = 1;
          }
          for (let i = buf.indexOf("}\n", from); i >= 0; i = buf.indexOf("}\n", i + 2)) onEvent();
          lastByte = buf[buf.length - 1] ?? 0;
        });
        sock.on("error", (err: Error) => {
          if (signal.aborted) resolve();
          else reject(err);
        });
        sock.on("close", () => {
          resolve();
        });
        signal.addEventListener("abort", () => sock.destroy(), { once: true });
      });
      events = decodeWatchReads(reads, ready);
    },
  };
}

/**
 * The bytes one socket read, with the arrival time of each read. Reads are copied into one
 * arena and their buffers dropped at once: 100 watchers keeping every read's Buffer (some
 * 200 MB of small off-heap buffers per run) made the harness's own garbage collection pause
 * its reads, and those pauses showed up as delivery tails. The arena is allocated (zeroed,
 * so its pages are in memory) for the whole run up front: grown on demand, all 100 arenas
 * grew at the same event, and that copying stalled every read for ~100 ms.
 */
class ReadLog {
  #arena: Buffer;
  #length = 0;
  /** ends[k]: the arena offset just past read k. */
  readonly ends: number[] = [];
  readonly ats: number[] = [];

  constructor(expectBytes: number) {
    this.#arena = Buffer.alloc(expectBytes);
  }

  add(at: number, buf: Buffer): void {
    if (this.#length + buf.length > this.#arena.length) {
      const bigger = Buffer.allocUnsafe(
        Math.max(this.#arena.length * 2, this.#length + buf.length),
      );
      this.#arena.copy(bigger, 0, 0, this.#length);
      this.#arena = bigger;
    }
    this.#length += buf.copy(this.#arena, this.#length);
    this.ends.push(this.#length);
    this.ats.push(at);
  }

  get bytes(): Buffer {
    return this.#arena.subarray(0, this.#length);
  }

  /** When the byte at `offset` arrived: the time of the read that held it. */
  atOffset(offset: number): number {
    let lo = 0;
    let hi = this.ends.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.ends[mid] ?? 0) > offset) hi = mid;
      else lo = mid + 1;
    }
    return this.ats[lo] ?? Number.NaN;
  }
}

/** The ADDED events (after the ready pod) in a watch response read as `reads`. */
function decodeWatchReads(reads: ReadLog, ready: string): Received[] {
  const all = reads.bytes;
  let pos = all.indexOf("\r\n\r\n") + 4;
  // Chunked framing: "<hex size>\r\n<data>\r\n"; the body is the data, with its offsets.
  const body: Buffer[] = [];
  const bodyEnds: number[] = [];
  while (pos > 3 && pos < all.length) {
    const nl = all.indexOf("\r\n", pos);
    if (nl < 0) break;
    const size = parseInt(all.subarray(pos, nl).toString(), 16);
    if (!(size > 0) || nl + 2 + size > all.length) break;
    body.push(all.subarray(nl + 2, nl + 2 + size));
    bodyEnds.push(nl + 2 + size);
    pos = nl + 2 + size + 2;
  }
  const out: Received[] = [];
  let pending = "";
  let afterReady = false;
  body.forEach((chunk, k) => {
    pending += chunk.toString();
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      const ev = JSON.parse(line) as { type: string; object: KubeObject };
      const name = ev.object.metadata.name ?? "";
      if (name === ready) {
        afterReady = true;
        continue;
      }
      if (!afterReady || ev.type !== "ADDED") continue;
      // The line ends in this chunk: its last byte arrived with the read holding the chunk's end.
      out.push({
        name,
        rv: ev.object.metadata.resourceVersion ?? "",
        at: reads.atOffset((bodyEnds[k] ?? 1) - 1),
      });
    }
  });
  return out;
}
