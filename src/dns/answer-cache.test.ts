import assert from "node:assert/strict";
import { test } from "node:test";
import dnsPacket from "dns-packet";
import { nullLogger } from "../util/index.js";
import { AnswerCache, parseQuestion } from "./answer-cache.js";
import { DnsServer } from "./server.js";
import { ClusterZone } from "./zone.js";

const query = (
  name: string,
  type: dnsPacket.RecordType = "A",
  extra: Partial<dnsPacket.Packet> = {},
): Buffer =>
  dnsPacket.encode({
    type: "query",
    id: 4242,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name }],
    ...extra,
  });

test("parseQuestion keys on the lower-cased name, the type and class, and the EDNS flag", () => {
  const a = parseQuestion(query("Web.Default.svc.cluster.local"));
  const b = parseQuestion(query("web.default.svc.cluster.local"));
  assert.ok(a !== undefined && b !== undefined);
  assert.equal(a.key, b.key);
  assert.equal(a.questionEnd, 12 + 31 + 4);
  assert.notEqual(parseQuestion(query("web.default.svc.cluster.local", "AAAA"))?.key, b.key);
  const edns = parseQuestion(
    query("web.default.svc.cluster.local", "A", {
      additionals: [
        {
          type: "OPT",
          name: ".",
          udpPayloadSize: 1232,
          extendedRcode: 0,
          ednsVersion: 0,
          flags: 0,
          flag_do: false,
          options: [],
        },
      ],
    }),
  );
  assert.ok(edns !== undefined);
  assert.notEqual(edns.key, b.key);
});

test("parseQuestion leaves unusual messages to the general path", () => {
  const response = dnsPacket.encode({
    type: "response",
    id: 1,
    questions: [{ type: "A", name: "a" }],
  });
  assert.equal(parseQuestion(response), undefined);
  const two = dnsPacket.encode({
    type: "query",
    id: 1,
    questions: [
      { type: "A", name: "a" },
      { type: "A", name: "b" },
    ],
  });
  assert.equal(parseQuestion(two), undefined);
  assert.equal(parseQuestion(Buffer.from([1, 2, 3])), undefined);
  // A compression pointer in the question.
  const q = query("ab");
  const ptr = Buffer.concat([q.subarray(0, 12), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]);
  assert.equal(parseQuestion(ptr), undefined);
});

test("AnswerCache patches the id, the RD bit and the question's letter case", () => {
  const cache = new AnswerCache(10);
  const first = query("web.default.svc.cluster.local");
  const q1 = parseQuestion(first);
  assert.ok(q1 !== undefined);
  const stored = dnsPacket.encode({
    type: "response",
    id: 4242,
    flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_DESIRED,
    questions: [{ type: "A", name: "web.default.svc.cluster.local" }],
    answers: [{ type: "A", name: "web.default.svc.cluster.local", ttl: 5, data: "10.96.0.20" }],
  });
  cache.set(q1, stored);
  const second = dnsPacket.encode({
    type: "query",
    id: 7,
    flags: 0,
    questions: [{ type: "A", name: "WEB.default.svc.cluster.local" }],
  });
  const q2 = parseQuestion(second);
  assert.ok(q2 !== undefined);
  const hit = cache.get(second, q2);
  assert.ok(hit !== undefined);
  const res = dnsPacket.decode(hit);
  assert.equal(res.id, 7);
  assert.equal(res.flag_rd, false);
  assert.equal(res.flag_aa, true);
  assert.equal(res.questions?.[0]?.name, "WEB.default.svc.cluster.local");
  assert.equal((res.answers?.[0] as { data?: string } | undefined)?.data, "10.96.0.20");
  assert.throws(() => new AnswerCache(0), RangeError);
});

test("DnsServer serves repeated questions from the cache and drops it when the zone changes", async () => {
  const zone = new ClusterZone();
  const svc = (ip: string) => [
    { metadata: { name: "web", namespace: "default" }, spec: { clusterIP: ip } },
  ];
  zone.update(svc("10.96.0.20"), []);
  const server = new DnsServer({
    zone,
    logger: nullLogger,
    listen: [{ host: "127.0.0.1", port: 1 }],
  });
  const signal = new AbortController().signal;
  const name = "web.default.svc.cluster.local";
  assert.equal(server.answerFromCache(query(name)), undefined);
  const first = dnsPacket.decode(await server.handle(query(name), signal));
  assert.equal((first.answers?.[0] as { data?: string } | undefined)?.data, "10.96.0.20");
  const cached = server.answerFromCache(query("Web.default.svc.cluster.local"));
  assert.ok(cached !== undefined, "second identical question is a cache hit");
  assert.equal(dnsPacket.decode(cached).questions?.[0]?.name, "Web.default.svc.cluster.local");
  // NXDOMAIN is cached too, and keeps its rcode and SOA.
  await server.handle(query("nope.default.svc.cluster.local"), signal);
  const nx = server.answerFromCache(query("nope.default.svc.cluster.local"));
  assert.ok(nx !== undefined);
  const nxRes = dnsPacket.decode(nx) as dnsPacket.DecodedPacket & { rcode?: string };
  assert.equal(nxRes.rcode, "NXDOMAIN");
  assert.equal(nxRes.authorities?.[0]?.type, "SOA");
  zone.update(svc("10.96.0.21"), []);
  assert.equal(server.answerFromCache(query(name)), undefined, "zone change empties the cache");
  const after = dnsPacket.decode(await server.handle(query(name), signal));
  assert.equal((after.answers?.[0] as { data?: string } | undefined)?.data, "10.96.0.21");
});
