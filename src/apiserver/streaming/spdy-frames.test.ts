import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { constants as zlibConstants, createDeflate } from "node:zlib";
import { SPDY3_DICTIONARY } from "./spdy-dictionary.js";
import {
  encodeDataFrame,
  encodeHeaderPairs,
  encodePing,
  encodeRstStream,
  encodeSynReply,
  encodeSynStream,
  SpdyFrameParser,
  SpdyHeaderCompressor,
  SpdyHeaderDecompressor,
} from "./spdy-frames.js";
import { parseStreamRequest } from "./request.js";

test("KA-SPDY-2 the SPDY/3 dictionary is the 1423 bytes kubectl carries", () => {
  assert.equal(SPDY3_DICTIONARY.length, 1423);
  assert.equal(
    createHash("sha256").update(SPDY3_DICTIONARY).digest("hex"),
    "51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02",
  );
  assert.equal(SPDY3_DICTIONARY.subarray(0, 11).toString("latin1"), "\x00\x00\x00\x07options");
});

test("KA-SPDY-2 control and data frames have the documented layout", () => {
  assert.deepEqual(
    [...encodeDataFrame(3, Buffer.from("hi"), true)],
    [0, 0, 0, 3, 1, 0, 0, 2, 0x68, 0x69],
  );
  assert.deepEqual([...encodePing(7)], [0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 7]);
  assert.deepEqual([...encodeRstStream(5, 5)], [0x80, 3, 0, 3, 0, 0, 0, 8, 0, 0, 0, 5, 0, 0, 0, 5]);
  const syn = encodeSynStream(1, Buffer.from([9, 9]), false);
  assert.deepEqual([...syn.subarray(0, 8)], [0x80, 3, 0, 1, 0, 0, 0, 12]);
  assert.deepEqual([...syn.subarray(8, 12)], [0, 0, 0, 1]);
});

test("KA-SPDY-2 the parser reassembles frames split at any byte", () => {
  const bytes = Buffer.concat([
    encodeSynStream(1, Buffer.from([1, 2, 3]), true),
    encodeDataFrame(1, Buffer.from("hello"), false),
    encodeSynReply(2, Buffer.from([4]), false),
    encodeDataFrame(1, Buffer.alloc(0), true),
    encodePing(1),
  ]);
  const parser = new SpdyFrameParser();
  const frames = [];
  for (const b of bytes) frames.push(...parser.push(Buffer.from([b])));
  assert.deepEqual(
    frames.map((f) => f.type),
    ["syn_stream", "data", "syn_reply", "data", "ping"],
  );
  const [syn, data, , fin] = frames;
  assert.ok(syn?.type === "syn_stream" && syn.fin && syn.streamId === 1);
  assert.deepEqual([...syn.headerBlock], [1, 2, 3]);
  assert.ok(data?.type === "data" && data.data.toString() === "hello" && !data.fin);
  assert.ok(fin?.type === "data" && fin.fin && fin.data.length === 0);
});

test("KA-SPDY-2 a frame that is not version 3 is a protocol error", () => {
  const bad = encodePing(1);
  bad.writeUInt16BE(0x8002, 0);
  assert.throws(() => new SpdyFrameParser().push(bad), RangeError);
});

test("KA-SPDY-2 header blocks from a real zlib deflater with the dictionary decode in order", async () => {
  const z = createDeflate({ dictionary: SPDY3_DICTIONARY });
  const out: Buffer[] = [];
  z.on("data", (b: Buffer) => out.push(b));
  const d = new SpdyHeaderDecompressor();
  try {
    for (const h of [
      { streamtype: "error", port: "80", requestid: "0" },
      { streamtype: "data", port: "80", requestid: "0" },
      { StreamType: "stdout" },
    ]) {
      z.write(encodeHeaderPairs(h));
      await new Promise<void>((resolve) => {
        z.flush(zlibConstants.Z_SYNC_FLUSH, () => {
          resolve();
        });
      });
      await new Promise((resolve) => setImmediate(resolve));
      const expected = Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
      assert.deepEqual(await d.decompress(Buffer.concat(out.splice(0))), expected);
    }
  } finally {
    d.close();
    z.destroy();
  }
});

test("KA-SPDY-2 our compressed header blocks form one valid zlib stream with the dictionary", async () => {
  const c = new SpdyHeaderCompressor();
  const d = new SpdyHeaderDecompressor();
  try {
    const first = c.compress({});
    // zlib header with FDICT and the dictionary's Adler-32.
    assert.equal(first.readUInt8(0), 0x78);
    assert.equal(first.readUInt8(1) & 0x20, 0x20);
    // Every block ends with the SYNC_FLUSH marker; Go's inflater breaks on later frames otherwise.
    assert.deepEqual([...first.subarray(-5)], [0, 0, 0, 0xff, 0xff]);
    assert.deepEqual(await d.decompress(first), {});
    const big = { a: "b".repeat(70_000) };
    assert.deepEqual(await d.decompress(c.compress(big)), big);
    assert.deepEqual(await d.decompress(c.compress({ x: "y" })), { x: "y" });
  } finally {
    d.close();
  }
});

test("parseStreamRequest reads exec flags the way kubectl sends them (KA-EXEC)", () => {
  const t = parseStreamRequest(
    "GET",
    "/api/v1/namespaces/default/pods/web/exec?command=sh&command=-c&command=echo%20hi&container=c1&stdin=true&stdout=true&tty=true&stderr=true",
  );
  assert.deepEqual(t, {
    verb: "exec",
    namespace: "default",
    pod: "web",
    container: "c1",
    command: ["sh", "-c", "echo hi"],
    stdin: true,
    stdout: true,
    stderr: false,
    tty: true,
    ports: [],
  });
  assert.equal(parseStreamRequest("GET", "/api/v1/namespaces/default/pods/web/log"), undefined);
  assert.throws(
    () => parseStreamRequest("PUT", "/api/v1/namespaces/default/pods/web/attach?stdout=1"),
    { reason: "MethodNotAllowed" },
  );
  assert.throws(
    () => parseStreamRequest("POST", "/api/v1/namespaces/default/pods/web/attach"),
    /at least 1 of stdin, stdout, stderr/,
  );
  assert.deepEqual(
    parseStreamRequest("POST", "/api/v1/namespaces/ns/pods/p/portforward?ports=80,8080")?.ports,
    [80, 8080],
  );
});
