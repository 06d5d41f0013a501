import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { createServer as createTcpServer, type Server as TcpServer } from "node:net";
import type { Duplex } from "node:stream";
import { after, before, describe, test } from "node:test";
import { WebSocket } from "ws";
import { ApiError, notFound } from "../../api/index.js";
import { FakeClock, nullLogger } from "../../util/index.js";
import { createStreamingUpgradeHandler, type StreamingUpgradeHandler } from "./handler.js";
import type { SpdyConnection } from "./spdy-connection.js";
import { FakeStreamBackend } from "./testing/fake-backend.js";
import { dialSpdy, dialTunnelledSpdy, readAll } from "./testing/spdy-client.js";

const USER = { username: "admin", groups: ["system:masters"] };
const POD = "/api/v1/namespaces/default/pods/web";

interface Harness {
  backend: FakeStreamBackend;
  handler: StreamingUpgradeHandler;
  clock: FakeClock;
  port: number;
  server: Server;
}

async function startHarness(): Promise<Harness> {
  const backend = new FakeStreamBackend();
  const clock = new FakeClock();
  const handler = createStreamingUpgradeHandler(backend, nullLogger, { clock });
  const server = createServer();
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => undefined);
    handler(req, socket, head, USER);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  assert.ok(addr !== null && typeof addr === "object");
  return { backend, handler, clock, port: addr.port, server };
}

async function stopHarness(h: Harness): Promise<void> {
  await h.handler.wait();
  await new Promise<void>((resolve) =>
    h.server.close(() => {
      resolve();
    }),
  );
}

interface WsResult {
  channels: Map<number, Buffer>;
  closeCode: number;
}

/** Opens a websocket exec/attach, runs `drive` once open, collects channels until close. */
async function wsSession(
  port: number,
  path: string,
  protocol: string,
  drive: (ws: WebSocket) => void = () => undefined,
): Promise<WsResult & { protocol: string }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, [protocol]);
  const channels = new Map<number, Buffer>();
  ws.on("message", (data: Buffer) => {
    const ch = data.readUInt8(0);
    channels.set(ch, Buffer.concat([channels.get(ch) ?? Buffer.alloc(0), data.subarray(1)]));
  });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  drive(ws);
  const closeCode = await new Promise<number>((resolve) => ws.once("close", resolve));
  return { channels, closeCode, protocol: ws.protocol };
}

/** The non-zero samples of the streaming gauges, by series. */
function gauges(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^(podrun_streaming_\w+\{[^}]*\}) (\d+)$/gm)) {
    if (m[1] !== undefined && Number(m[2]) !== 0) out[m[1]] = Number(m[2]);
  }
  return out;
}

function statusOf(r: WsResult): unknown {
  return JSON.parse(r.channels.get(3)?.toString() ?? "null");
}

describe("websocket exec and attach", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await stopHarness(h);
  });

  test("KA-EXEC-1 KA-WS-3 exec sends stdout on channel 1, then Success on channel 3 and close 1000", async () => {
    const r = await wsSession(
      h.port,
      `${POD}/exec?command=echo&command=hello&container=c1&stderr=true&stdout=true`,
      "v5.channel.k8s.io",
    );
    assert.equal(r.protocol, "v5.channel.k8s.io");
    assert.equal(r.channels.get(1)?.toString(), "hello\n");
    assert.deepEqual(statusOf(r), { metadata: {}, status: "Success" });
    assert.equal(r.closeCode, 1000);
    const req = h.backend.execRequests.at(-1);
    assert.deepEqual(req?.command, ["echo", "hello"]);
    assert.equal(req.container, "c1");
    assert.equal(req.namespace, "default");
    assert.equal(req.pod, "web");
  });

  test("KA-WS-3 non-zero exit: stderr on channel 2 and NonZeroExitCode with the ExitCode cause", async () => {
    const r = await wsSession(
      h.port,
      `${POD}/exec?command=fail&command=3&command=oops&stderr=true&stdout=true`,
      "v5.channel.k8s.io",
    );
    assert.equal(r.channels.get(2)?.toString(), "oops");
    assert.deepEqual(statusOf(r), {
      metadata: {},
      status: "Failure",
      message:
        "command terminated with non-zero exit code: error executing command [fail 3 oops], exit code 3",
      reason: "NonZeroExitCode",
      details: { causes: [{ reason: "ExitCode", message: "3" }] },
    });
  });

  test("KA-WS-4 FF 00 closes stdin and the session waits for the process to exit", async () => {
    const r = await wsSession(
      h.port,
      `${POD}/exec?command=cat&stdin=true&stdout=true&stderr=true`,
      "v5.channel.k8s.io",
      (ws) => {
        ws.send(Buffer.from("\x00some input\n", "latin1"));
        ws.send(Buffer.from([0xff, 0x00]));
      },
    );
    assert.equal(r.channels.get(1)?.toString(), "some input\n");
    assert.deepEqual(statusOf(r), { metadata: {}, status: "Success" });
  });

  test("KA-WS-5 attach with a TTY applies resizes from channel 4", async () => {
    h.backend.script = (proc) => {
      proc.stdin?.on("data", (d: Buffer) => proc.stdout?.write(d.toString().toUpperCase()));
      proc.stdin?.on("end", () => {
        proc.exit(0);
      });
    };
    try {
      const r = await wsSession(
        h.port,
        `${POD}/attach?container=c1&stdin=true&stdout=true&tty=true`,
        "v5.channel.k8s.io",
        (ws) => {
          ws.send(Buffer.from('\x04{"Width":121,"Height":41}\n', "latin1"));
          ws.send(Buffer.from('\x04{"Width":120,"Height":40}\n', "latin1"));
          ws.send(Buffer.from("\x00ls\n", "latin1"));
          ws.send(Buffer.from([0xff, 0x00]));
        },
      );
      assert.equal(r.channels.get(1)?.toString(), "LS\n");
      assert.equal(r.channels.has(2), false);
      const proc = h.backend.processes.at(-1);
      assert.deepEqual(proc?.resizes, [
        [121, 41],
        [120, 40],
      ]);
      const req = h.backend.attachRequests.at(-1);
      assert.equal(req?.tty, true);
      assert.equal(req.stderr, false);
    } finally {
      h.backend.script = (await import("./testing/fake-backend.js")).defaultScript;
    }
  });

  test("KA-EXEC-1 v4.channel.k8s.io is selected when it is the only offer", async () => {
    const r = await wsSession(
      h.port,
      `${POD}/exec?command=echo&command=v4&stdout=true`,
      "v4.channel.k8s.io",
    );
    assert.equal(r.protocol, "v4.channel.k8s.io");
    assert.equal(r.channels.get(1)?.toString(), "v4\n");
    assert.deepEqual(statusOf(r), { metadata: {}, status: "Success" });
  });

  test("large output (3 MiB) reaches the client before the status (KA-WS-6)", async () => {
    const r = await wsSession(
      h.port,
      `${POD}/exec?command=big&command=3145728&stdout=true`,
      "v5.channel.k8s.io",
    );
    assert.equal(r.channels.get(1)?.length, 3 * 1024 * 1024);
    assert.deepEqual(statusOf(r), { metadata: {}, status: "Success" });
  });

  test("a backend error before the upgrade is answered with its Status and HTTP code", async () => {
    h.backend.failNext("exec", notFound("pods", "web"));
    const ws = new WebSocket(`ws://127.0.0.1:${h.port}${POD}/exec?command=ls&stdout=true`, [
      "v5.channel.k8s.io",
    ]);
    ws.on("error", () => undefined);
    const res = await new Promise<IncomingMessage>((resolve) =>
      ws.once("unexpected-response", (_req, r) => {
        resolve(r);
      }),
    );
    assert.equal(res.statusCode, 404);
    const body = await readAll(res);
    const status = JSON.parse(body.toString()) as { reason: string; message: string };
    assert.equal(status.reason, "NotFound");
    assert.equal(status.message, 'pods "web" not found');
    ws.terminate();
  });

  test("a failure after the upgrade (pod deleted) is a Failure status on channel 3", async () => {
    h.backend.script = (proc) => {
      proc.stdout?.write("partial");
      proc.fail(new ApiError("NotFound", 'pods "web" not found'));
    };
    try {
      const r = await wsSession(
        h.port,
        `${POD}/exec?command=sleep&stdout=true`,
        "v5.channel.k8s.io",
      );
      assert.equal(r.channels.get(1)?.toString(), "partial");
      assert.deepEqual(statusOf(r), {
        metadata: {},
        status: "Failure",
        message: 'pods "web" not found',
        reason: "NotFound",
        code: 404,
      });
      assert.equal(r.closeCode, 1000);
    } finally {
      h.backend.script = (await import("./testing/fake-backend.js")).defaultScript;
    }
  });

  test("the client going away closes the session and leaves nothing running", async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${h.port}${POD}/exec?command=sleep&stdout=true`, [
      "v5.channel.k8s.io",
    ]);
    await new Promise<void>((resolve) =>
      ws.once("open", () => {
        resolve();
      }),
    );
    const proc = h.backend.processes.at(-1);
    assert.equal(proc?.isClosed, false);
    assert.deepEqual(gauges(await h.handler.prometheusText()), {
      'podrun_streaming_connections{subresource="exec"}': 1,
      'podrun_streaming_sessions{subresource="exec"}': 1,
    });
    ws.terminate();
    await h.handler.wait();
    assert.equal(proc.isClosed, true);
    assert.equal(h.backend.running, 0);
    assert.equal(h.handler.sessions(), 0);
    assert.deepEqual(gauges(await h.handler.prometheusText()), {});
  });

  test("an exec without a command is rejected with 400 before the upgrade", async () => {
    const d = await dialSpdy(h.port, `${POD}/exec?stdout=true`, ["v4.channel.k8s.io"]);
    assert.equal(d.status, 400);
    assert.ok("body" in d);
    assert.match(d.body, /you must specify at least one command for the container/);
  });
});

/** Opens the exec streams in kubectl's order (KA-SPDY-3). */
async function openExecStreams(
  conn: SpdyConnection,
  types: readonly string[],
): Promise<Map<string, Awaited<ReturnType<SpdyConnection["openStream"]>>>> {
  const out = new Map<string, Awaited<ReturnType<SpdyConnection["openStream"]>>>();
  for (const t of types) out.set(t, await conn.openStream({ streamtype: t }));
  return out;
}

describe("SPDY exec", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await stopHarness(h);
  });

  test("KA-SPDY-1 negotiates v4.channel.k8s.io from kubectl's offer", async () => {
    const d = await dialSpdy(
      h.port,
      `${POD}/exec?command=echo&command=hi&stdout=true&stderr=true`,
      [
        "v5.channel.k8s.io",
        "v4.channel.k8s.io",
        "v3.channel.k8s.io",
        "v2.channel.k8s.io",
        "channel.k8s.io",
      ],
    );
    assert.equal(d.status, 101);
    assert.equal(d.headers["x-stream-protocol-version"], "v4.channel.k8s.io");
    assert.equal(d.headers["upgrade"], "SPDY/3.1");
    assert.ok("conn" in d);
    const s = await openExecStreams(d.conn, ["error", "stdout", "stderr"]);
    const [out, err, status] = await Promise.all([
      readAll(s.get("stdout")!),
      readAll(s.get("stderr")!),
      readAll(s.get("error")!),
    ]);
    assert.equal(out.toString(), "hi\n");
    assert.equal(err.length, 0);
    // KA-SPDY-3: the v4 status is written for success too.
    assert.deepEqual(JSON.parse(status.toString()), { metadata: {}, status: "Success" });
    d.conn.goAway();
    d.socket.destroy();
    await h.handler.wait();
    assert.equal(h.backend.running, 0);
  });

  test("KA-SPDY-3 stdin FIN is EOF; stdout then the NonZeroExitCode status", async () => {
    h.backend.script = (proc) => {
      proc.stdin?.pipe(proc.stdout!, { end: false });
      proc.stdin?.on("end", () => {
        proc.exit(2);
      });
    };
    try {
      const d = await dialSpdy(
        h.port,
        `${POD}/exec?command=cat&stdin=true&stdout=true&stderr=true`,
        ["v4.channel.k8s.io"],
      );
      assert.ok("conn" in d);
      const s = await openExecStreams(d.conn, ["error", "stdin", "stdout", "stderr"]);
      s.get("stdin")!.end("some input\n");
      const [out, status] = await Promise.all([
        readAll(s.get("stdout")!),
        readAll(s.get("error")!),
      ]);
      assert.equal(out.toString(), "some input\n");
      const st = JSON.parse(status.toString()) as { reason: string; details: unknown };
      assert.equal(st.reason, "NonZeroExitCode");
      assert.deepEqual(st.details, { causes: [{ reason: "ExitCode", message: "2" }] });
      d.socket.destroy();
      await h.handler.wait();
    } finally {
      h.backend.script = (await import("./testing/fake-backend.js")).defaultScript;
    }
  });

  test("KA-SPDY-3 a TTY exec takes resize data from the resize stream", async () => {
    h.backend.script = (proc) => {
      proc.stdin?.on("end", () => {
        proc.exit(0);
      });
      proc.stdin?.resume();
    };
    try {
      const d = await dialSpdy(h.port, `${POD}/exec?command=sh&stdin=true&stdout=true&tty=true`, [
        "v4.channel.k8s.io",
      ]);
      assert.ok("conn" in d);
      const s = await openExecStreams(d.conn, ["error", "stdin", "stdout", "resize"]);
      s.get("resize")!.write('{"Width":80,"Height":24}\n{"Width":100,"Height":30}\n');
      const proc = h.backend.processes.at(-1)!;
      // Ping round trip: by the time the pong is back, the resize frames before it were handled.
      await pingRoundTrip(d.conn);
      s.get("stdin")!.end();
      const status = await readAll(s.get("error")!);
      assert.deepEqual(JSON.parse(status.toString()), { metadata: {}, status: "Success" });
      assert.deepEqual(proc.resizes, [
        [80, 24],
        [100, 30],
      ]);
      d.socket.destroy();
      await h.handler.wait();
    } finally {
      h.backend.script = (await import("./testing/fake-backend.js")).defaultScript;
    }
  });

  test("a client that disconnects mid-session closes the process", async () => {
    const d = await dialSpdy(h.port, `${POD}/exec?command=sleep&stdout=true`, [
      "v4.channel.k8s.io",
    ]);
    assert.ok("conn" in d);
    await openExecStreams(d.conn, ["error", "stdout"]);
    const proc = h.backend.processes.at(-1)!;
    assert.deepEqual(gauges(await h.handler.prometheusText()), {
      'podrun_streaming_connections{subresource="exec"}': 1,
      'podrun_streaming_sessions{subresource="exec"}': 1,
    });
    d.socket.destroy();
    await h.handler.wait();
    assert.equal(proc.isClosed, true);
    assert.equal(h.backend.running, 0);
    assert.deepEqual(gauges(await h.handler.prometheusText()), {});
  });

  test("a client that never opens its streams is given up after the stream creation timeout", async () => {
    const d = await dialSpdy(h.port, `${POD}/exec?command=sleep&stdout=true`, [
      "v4.channel.k8s.io",
    ]);
    assert.ok("conn" in d);
    const proc = h.backend.processes.at(-1)!;
    while (h.clock.pendingSleepers === 0) await new Promise((r) => setImmediate(r));
    await h.clock.advance(30_000);
    // After giving up, the server waits closeGraceMs for the client to hang up.
    while (h.clock.pendingSleepers === 0 && !d.conn.isClosed) {
      await new Promise((r) => setImmediate(r));
    }
    await h.clock.advance(10_000);
    await h.handler.wait();
    assert.equal(proc.isClosed, true);
    await d.conn.closed;
  });

  test("SPDY answers a missing pod with the Status before upgrading", async () => {
    h.backend.failNext("exec", notFound("pods", "nope"));
    const d = await dialSpdy(
      h.port,
      "/api/v1/namespaces/default/pods/nope/exec?command=ls&stdout=true",
      ["v4.channel.k8s.io"],
    );
    assert.equal(d.status, 404);
    assert.ok("body" in d);
    assert.equal((JSON.parse(d.body) as { message: string }).message, 'pods "nope" not found');
  });

  test("SPDY without a protocol we speak is refused with 403", async () => {
    const d = await dialSpdy(h.port, `${POD}/exec?command=ls&stdout=true`, ["v9.channel.k8s.io"]);
    assert.equal(d.status, 403);
  });

  test("KA-SPDY-4 pings are echoed", async () => {
    const d = await dialSpdy(h.port, `${POD}/exec?command=sleep&stdout=true`, [
      "v4.channel.k8s.io",
    ]);
    assert.ok("conn" in d);
    await pingRoundTrip(d.conn);
    d.socket.destroy();
    await h.handler.wait();
    assert.equal(h.backend.running, 0);
  });
});

/** Sends a PING and resolves when the server echoed it (seen on the raw socket stream order). */
async function pingRoundTrip(conn: SpdyConnection): Promise<void> {
  // The client connection ignores pongs, so watch for the echo through a stream reply instead:
  // a fresh stream's SYN_REPLY comes back after every frame sent before it was handled.
  conn.ping(1);
  const s = await conn.openStream({ streamtype: "probe" });
  s.destroy();
}

/** A TCP echo server standing in for a container port. */
async function echoServer(): Promise<{ server: TcpServer; port: number }> {
  const server = createTcpServer((sock) => {
    sock.on("error", () => undefined);
    sock.pipe(sock);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  assert.ok(addr !== null && typeof addr === "object");
  return { server, port: addr.port };
}

/** One forwarded connection the way kubectl makes it (KA-PF-2); returns what came back. */
async function forwardOnce(
  conn: SpdyConnection,
  port: number,
  requestId: number,
  payload: string,
): Promise<{ data: string; error: string }> {
  const error = await conn.openStream({
    streamtype: "error",
    port: String(port),
    requestid: String(requestId),
  });
  error.end();
  const data = await conn.openStream({
    streamtype: "data",
    port: String(port),
    requestid: String(requestId),
  });
  data.end(payload);
  const [d, e] = await Promise.all([readAll(data), readAll(error)]);
  // kubectl resets both streams when the local connection is done.
  data.destroy();
  error.destroy();
  return { data: d.toString(), error: e.toString() };
}

describe("port-forward", () => {
  let h: Harness;
  let echo: { server: TcpServer; port: number };
  before(async () => {
    h = await startHarness();
    echo = await echoServer();
    h.backend.ports.set(80, echo.port);
    h.backend.ports.set(8080, echo.port);
  });
  after(async () => {
    await stopHarness(h);
    await new Promise<void>((resolve) =>
      echo.server.close(() => {
        resolve();
      }),
    );
  });

  test("KA-PF-2 SPDY port-forward copies bytes both ways and FINs when the pod side closes", async () => {
    const d = await dialSpdy(h.port, `${POD}/portforward`, ["portforward.k8s.io"]);
    assert.equal(d.status, 101);
    assert.equal(d.headers["x-stream-protocol-version"], "portforward.k8s.io");
    assert.ok("conn" in d);
    const r = await forwardOnce(d.conn, 80, 0, "GET / HTTP/1.1\r\n\r\n");
    assert.deepEqual(r, { data: "GET / HTTP/1.1\r\n\r\n", error: "" });
    const r2 = await forwardOnce(d.conn, 8080, 1, "second");
    assert.equal(r2.data, "second");
    d.socket.destroy();
    await h.handler.wait();
    assert.equal(h.backend.openSockets, 0);
    assert.deepEqual(
      h.backend.portForwardRequests.map((r) => r.port),
      [80, 8080],
    );
  });

  test("KA-PF-2 20 parallel connections over one session each get their own bytes back", async () => {
    const d = await dialSpdy(h.port, `${POD}/portforward`, ["portforward.k8s.io"]);
    assert.ok("conn" in d);
    const conn = d.conn;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        forwardOnce(conn, i % 2 === 0 ? 80 : 8080, i, `payload-${i}-`.repeat(1000 + i)),
      ),
    );
    results.forEach((r, i) => {
      assert.equal(r.data, `payload-${i}-`.repeat(1000 + i));
      assert.equal(r.error, "");
    });
    d.socket.destroy();
    await h.handler.wait();
    assert.equal(h.backend.openSockets, 0);
  });

  test("KA-PF-3 a refused connection is reported as text on the error stream", async () => {
    const d = await dialSpdy(h.port, `${POD}/portforward`, ["portforward.k8s.io"]);
    assert.ok("conn" in d);
    const r = await forwardOnce(d.conn, 81, 0, "x");
    assert.equal(
      r.error,
      "error forwarding port 81 to pod web, uid : failed to connect to localhost:81 inside namespace: connection refused",
    );
    assert.equal(r.data, "");
    d.socket.destroy();
    await h.handler.wait();
  });

  test("closing the client session destroys pod connections still open", async () => {
    const d = await dialSpdy(h.port, `${POD}/portforward`, ["portforward.k8s.io"]);
    assert.ok("conn" in d);
    const error = await d.conn.openStream({ streamtype: "error", port: "80", requestid: "0" });
    error.end();
    const data = await d.conn.openStream({ streamtype: "data", port: "80", requestid: "0" });
    data.write("ping");
    const first = await new Promise<Buffer>((resolve) => data.once("data", resolve));
    assert.equal(first.toString(), "ping");
    assert.equal(h.backend.openSockets, 1);
    d.socket.destroy();
    await h.handler.wait();
    assert.equal(h.backend.openSockets, 0);
  });

  test("KA-PF-4 port-forward tunnelled in websocket binary messages split across frames", async () => {
    const { conn, ws } = await dialTunnelledSpdy(h.port, `${POD}/portforward`);
    assert.equal(ws.protocol, "SPDY/3.1+portforward.k8s.io");
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) => forwardOnce(conn, 80, i, `tunnel-${i}`)),
    );
    results.forEach((r, i) => {
      assert.deepEqual(r, { data: `tunnel-${i}`, error: "" });
    });
    ws.close(1000);
    await h.handler.wait();
    assert.equal(h.backend.openSockets, 0);
  });

  test("a pod that cannot be forwarded to is answered before the upgrade", async () => {
    h.backend.failNext(
      "checkPortForward",
      new ApiError("BadRequest", "pod web does not have a host assigned"),
    );
    const d = await dialSpdy(h.port, `${POD}/portforward`, ["portforward.k8s.io"]);
    assert.equal(d.status, 400);
    assert.ok("body" in d);
    assert.match(d.body, /does not have a host assigned/);
  });
});
