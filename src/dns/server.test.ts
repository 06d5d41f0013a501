import assert from "node:assert/strict";
import dgram from "node:dgram";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import dnsPacket from "dns-packet";
import { nullLogger } from "../util/index.js";
import { DnsServer } from "./server.js";
import { ClusterZone } from "./zone.js";

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) =>
    s.listen(0, "127.0.0.1", () => {
      r();
    }),
  );
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) =>
    s.close(() => {
      r();
    }),
  );
  return port;
}

type Reply = dnsPacket.DecodedPacket & { rcode?: string };

/** The answers of a reply as [type, data, ttl] triples. */
function answersOf(res: dnsPacket.Packet): unknown[][] {
  return (res.answers ?? []).map((a) => {
    const rec = a as { type: string; data?: unknown; ttl?: number };
    return [rec.type, rec.data, rec.ttl];
  });
}

function queryUdp(port: number, name: string, type: dnsPacket.RecordType): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket("udp4");
    sock.on("message", (msg) => {
      sock.close();
      resolve(dnsPacket.decode(msg));
    });
    sock.on("error", reject);
    sock.send(
      dnsPacket.encode({
        type: "query",
        id: 7,
        flags: dnsPacket.RECURSION_DESIRED,
        questions: [{ type, name }],
      }),
      port,
      "127.0.0.1",
    );
  });
}

function queryTcp(
  port: number,
  name: string,
  type: dnsPacket.RecordType,
): Promise<dnsPacket.DecodedPacket> {
  return new Promise((resolve, reject) => {
    const conn = net.connect(port, "127.0.0.1");
    let buf = Buffer.alloc(0);
    conn.on("data", (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        conn.end();
        resolve(dnsPacket.decode(buf.subarray(2)));
      }
    });
    conn.on("error", reject);
    conn.write(dnsPacket.streamEncode({ type: "query", id: 9, questions: [{ type, name }] }));
  });
}

describe("DnsServer", () => {
  const ac = new AbortController();
  let port = 0;
  let running: Promise<void> | undefined;
  before(async () => {
    port = await freePort();
    const zone = new ClusterZone();
    zone.update(
      [{ metadata: { name: "web", namespace: "default" }, spec: { clusterIP: "10.96.0.20" } }],
      [],
    );
    // 192.0.2.1 (TEST-NET-1) is unroutable here: forwarding must fail fast and cleanly.
    const server = new DnsServer({
      zone,
      logger: nullLogger,
      listen: [{ host: "127.0.0.1", port }],
      upstreams: ["192.0.2.1"],
      forwardTimeoutMs: 300,
    });
    running = server.run(ac.signal);
    for (let i = 0; i < 50; i++) {
      try {
        await queryTcp(port, "web.default.svc.cluster.local", "A");
        break;
      } catch {
        await new Promise((r) => setImmediate(r));
      }
    }
  });
  after(async () => {
    ac.abort();
    await running;
  });

  test("answers a service A record over UDP, authoritatively, with TTL 5", async () => {
    const res = await queryUdp(port, "web.default.svc.cluster.local", "A");
    assert.equal(res.id, 7);
    assert.equal(res.flag_aa, true);
    assert.equal(res.rcode, "NOERROR");
    assert.deepEqual(answersOf(res), [["A", "10.96.0.20", 5]]);
  });

  test("answers over TCP", async () => {
    const res = await queryTcp(port, "web.default.svc.cluster.local", "A");
    assert.deepEqual(answersOf(res), [["A", "10.96.0.20", 5]]);
  });

  test("NXDOMAIN and NODATA both carry the zone SOA", async () => {
    const nx = await queryUdp(port, "nope.default.svc.cluster.local", "A");
    assert.equal(nx.rcode, "NXDOMAIN");
    assert.equal(nx.authorities?.[0]?.type, "SOA");
    const nodata = await queryUdp(port, "web.default.svc.cluster.local", "AAAA");
    assert.equal(nodata.rcode, "NOERROR");
    assert.equal(nodata.answers?.length, 0);
    assert.equal(nodata.authorities?.[0]?.type, "SOA");
  });

  test("names outside the zone go upstream; an unreachable upstream gives SERVFAIL", async () => {
    const res = await queryUdp(port, "example.com", "A");
    assert.equal(res.rcode, "SERVFAIL");
  });
});
