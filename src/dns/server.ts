import dgram from "node:dgram";
import net from "node:net";
import dnsPacket from "dns-packet";
import type { Logger } from "../util/index.js";
import { AnswerCache, parseQuestion, type QuestionKey } from "./answer-cache.js";
import type { ClusterZone, ZoneRecord } from "./zone.js";

/** Seconds answers may be cached (the CoreDNS kubernetes plugin's default). */
const TTL_SECONDS = 5;
const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

/** Sends a query upstream and returns the raw answer; rejects on failure or timeout. */
export type Forwarder = (query: Buffer, signal: AbortSignal) => Promise<Buffer>;

/** Options of {@link DnsServer}. */
export interface DnsServerOptions {
  zone: ClusterZone;
  logger: Logger;
  /** Addresses to listen on (UDP and TCP). */
  listen: { host: string; port: number }[];
  /** Upstream resolvers for names outside the cluster zone. @default [] (answer SERVFAIL) */
  upstreams?: string[];
  /** Upstream timeout. @default 2000 */
  forwardTimeoutMs?: number;
  /** Most pre-encoded zone answers kept (see `AnswerCache`). @default 10000 */
  cacheEntries?: number;
}

/**
 * Cluster DNS over UDP and TCP: answers the cluster zone authoritatively (NXDOMAIN vs NODATA
 * with the zone's SOA) and forwards every other name to the node's resolvers. Zone answers are
 * encoded once and then served from a cache keyed by the question, emptied whenever the zone
 * changes, so the hot path neither decodes nor encodes. `run(signal)` listens until the
 * signal aborts, then closes every socket.
 */
export class DnsServer {
  readonly #opts: Required<DnsServerOptions>;
  readonly #cache: AnswerCache;
  #cacheGeneration = -1;

  constructor(opts: DnsServerOptions) {
    this.#opts = { upstreams: [], forwardTimeoutMs: 2000, cacheEntries: 10_000, ...opts };
    if (this.#opts.listen.length === 0)
      throw new RangeError("listen: at least one address is needed");
    this.#cache = new AnswerCache(this.#opts.cacheEntries);
  }

  /**
   * The cached answer to `query`, if its question is a plain one already answered from the
   * zone since the zone last changed (synchronous: the UDP hot path).
   */
  answerFromCache(query: Buffer): Buffer | undefined {
    const q = parseQuestion(query);
    if (q === undefined) return undefined;
    if (this.#cacheGeneration !== this.#opts.zone.generation) {
      this.#cache.clear();
      this.#cacheGeneration = this.#opts.zone.generation;
      return undefined;
    }
    return this.#cache.get(query, q);
  }

  /** Answers one wire-format query (exported for tests and benchmarks). */
  async handle(query: Buffer, signal: AbortSignal): Promise<Buffer> {
    const hit = this.answerFromCache(query);
    if (hit !== undefined) return hit;
    const local = this.#answerLocally(query);
    if (local.kind === "answer") {
      // Computed synchronously, so under the zone generation the cache was checked against.
      const q = parseQuestion(query);
      if (q !== undefined && local.isCacheable && echoesQuestion(query, local.bytes, q))
        this.#cache.set(q, local.bytes);
      return local.bytes;
    }
    return this.#forward(query, local.base, local.rd, signal);
  }

  /** The answer from the zone, or what forwarding needs for a name outside it. */
  #answerLocally(
    query: Buffer,
  ):
    | { kind: "answer"; bytes: Buffer; isCacheable: boolean }
    | { kind: "forward"; base: dnsPacket.Packet; rd: number } {
    let req: dnsPacket.DecodedPacket;
    try {
      req = dnsPacket.decode(query);
    } catch {
      // Not a DNS message: nothing sensible to answer with an id; send FORMERR-less silence.
      return { kind: "answer", bytes: Buffer.alloc(0), isCacheable: false };
    }
    const q = req.questions?.[0];
    const base = { type: "response" as const, id: req.id ?? 0, questions: req.questions ?? [] };
    const rd = req.flag_rd ? dnsPacket.RECURSION_DESIRED : 0;
    if (q === undefined) {
      const bytes = dnsPacket.encode({ ...base, flags: rd | RCODE.NOTIMP });
      return { kind: "answer", bytes, isCacheable: false };
    }
    const ans = this.#opts.zone.answer(q.name, q.type);
    switch (ans.kind) {
      case "outside":
        return { kind: "forward", base, rd };
      case "nxdomain":
      case "nodata": {
        const bytes = dnsPacket.encode({
          ...base,
          flags:
            dnsPacket.AUTHORITATIVE_ANSWER |
            dnsPacket.RECURSION_AVAILABLE |
            rd |
            (ans.kind === "nxdomain" ? RCODE.NXDOMAIN : 0),
          authorities: [this.#soa()],
        });
        return { kind: "answer", bytes, isCacheable: true };
      }
      case "records": {
        const bytes = dnsPacket.encode({
          ...base,
          flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_AVAILABLE | rd,
          answers: ans.records.map((r) => toAnswer(r)),
        });
        return { kind: "answer", bytes, isCacheable: true };
      }
    }
  }

  async #forward(
    query: Buffer,
    base: dnsPacket.Packet,
    rd: number,
    signal: AbortSignal,
  ): Promise<Buffer> {
    for (const upstream of this.#opts.upstreams) {
      try {
        return await forwardUdp(upstream, query, this.#opts.forwardTimeoutMs, signal);
      } catch (err) {
        // An unreachable resolver (offline machine) is expected; try the next one, then SERVFAIL.
        this.#opts.logger.debug("dns forward failed", { upstream, err });
      }
    }
    return dnsPacket.encode({
      ...base,
      flags: dnsPacket.RECURSION_AVAILABLE | rd | RCODE.SERVFAIL,
    });
  }

  #soa(): dnsPacket.Answer {
    const d = this.#opts.zone.domain;
    return {
      type: "SOA",
      name: d,
      ttl: TTL_SECONDS,
      data: {
        mname: `ns.dns.${d}`,
        rname: `hostmaster.${d}`,
        serial: Math.floor(Date.now() / 1000),
        refresh: 7200,
        retry: 1800,
        expire: 86400,
        minimum: TTL_SECONDS,
      },
    };
  }

  /** Serves until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const closers: (() => Promise<void>)[] = [];
    try {
      for (const { host, port } of this.#opts.listen) {
        closers.push(await this.#listenUdp(host, port, signal));
        closers.push(await this.#listenTcp(host, port, signal));
      }
      this.#opts.logger.info("dns listening", {
        addresses: this.#opts.listen.map((l) => `${l.host}:${l.port}`),
      });
      await new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        else
          signal.addEventListener(
            "abort",
            () => {
              resolve();
            },
            { once: true },
          );
      });
    } finally {
      await Promise.all(closers.map((c) => c()));
    }
  }

  #listenUdp(host: string, port: number, signal: AbortSignal): Promise<() => Promise<void>> {
    const sock = dgram.createSocket(net.isIPv6(host) ? "udp6" : "udp4");
    sock.on("message", (msg, rinfo) => {
      const hit = this.answerFromCache(msg);
      if (hit !== undefined) {
        sock.send(hit.length > 512 ? truncate(hit) : hit, rinfo.port, rinfo.address);
        return;
      }
      this.handle(msg, signal).then(
        (res) => {
          if (res.length === 0) return;
          // Classic DNS over UDP is limited to 512 bytes unless EDNS says otherwise: truncate.
          const out = res.length > 512 ? truncate(res) : res;
          sock.send(out, rinfo.port, rinfo.address);
        },
        (err: unknown) => {
          this.#opts.logger.warn("dns query failed", { err });
        },
      );
    });
    return new Promise((resolve, reject) => {
      sock.once("error", reject);
      sock.bind(port, host, () => {
        sock.off("error", reject);
        sock.on("error", (err) => {
          this.#opts.logger.warn("dns udp socket error", { err });
        });
        resolve(
          () =>
            new Promise((r) => {
              sock.close(() => {
                r();
              });
            }),
        );
      });
    });
  }

  #listenTcp(host: string, port: number, signal: AbortSignal): Promise<() => Promise<void>> {
    const conns = new Set<net.Socket>();
    const server = net.createServer((conn) => {
      conns.add(conn);
      conn.on("close", () => conns.delete(conn));
      conn.on("error", () => undefined); // a client resetting its connection is routine
      let buf = Buffer.alloc(0);
      conn.on("data", (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        while (buf.length >= 2) {
          const len = buf.readUInt16BE(0);
          if (buf.length < 2 + len) break;
          const msg = buf.subarray(2, 2 + len);
          buf = buf.subarray(2 + len);
          this.handle(msg, signal).then(
            (res) => {
              if (res.length === 0) return;
              const hdr = Buffer.alloc(2);
              hdr.writeUInt16BE(res.length);
              conn.write(Buffer.concat([hdr, res]));
            },
            (err: unknown) => {
              this.#opts.logger.warn("dns query failed", { err });
            },
          );
        }
      });
    });
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve(
          () =>
            new Promise((r) => {
              for (const c of conns) c.destroy();
              server.close(() => {
                r();
              });
            }),
        );
      });
    });
  }
}

/** Whether `response` carries the question of `query` at the same place (case aside). */
function echoesQuestion(query: Buffer, response: Buffer, q: QuestionKey): boolean {
  if (response.length < q.questionEnd || response.readUInt16BE(4) !== 1) return false;
  const a = query.toString("latin1", 12, q.questionEnd).toLowerCase();
  return a === response.toString("latin1", 12, q.questionEnd).toLowerCase();
}

function toAnswer(r: ZoneRecord): dnsPacket.Answer {
  if (r.type === "SRV") return { type: "SRV", name: r.name, ttl: TTL_SECONDS, data: r.data };
  return { type: r.type, name: r.name, ttl: TTL_SECONDS, data: r.data };
}

/** Keeps the header and question, drops answers, sets TC so the client retries over TCP. */
function truncate(res: Buffer): Buffer {
  const p = dnsPacket.decode(res);
  return dnsPacket.encode({
    type: "response",
    id: p.id ?? 0,
    flags: (p.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE,
    questions: p.questions ?? [],
  });
}

function forwardUdp(
  upstream: string,
  query: Buffer,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket(net.isIPv6(upstream) ? "udp6" : "udp4");
    const done = (err: Error | undefined, res?: Buffer): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      sock.close();
      if (err !== undefined) reject(err);
      else if (res !== undefined) resolve(res);
    };
    const onAbort = (): void => {
      done(new Error("aborted"));
    };
    const timer = setTimeout(() => {
      done(new Error(`upstream ${upstream} timed out`));
    }, timeoutMs);
    signal.addEventListener("abort", onAbort, { once: true });
    sock.on("error", (err) => {
      done(err);
    });
    sock.on("message", (msg) => {
      done(undefined, msg);
    });
    sock.send(query, 53, upstream, (err) => {
      if (err) done(err);
    });
  });
}
