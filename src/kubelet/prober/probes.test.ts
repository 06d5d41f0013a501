import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import type { Container, Pod, Probe } from "../../api/index.js";
import type { ContainerId } from "../../runtime/index.js";
import { FakeClock, SystemClock, type Clock } from "../../util/index.js";
import {
  decodeHealthCheckResponse,
  encodeHealthCheckRequest,
  ProbeError,
  runProbe,
  type ProbeContext,
} from "./probes.js";
import { FakeProbeExec } from "./testing/fake-probe-exec.js";

const pod: Pod = {
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "web", namespace: "default", uid: "u" },
  spec: { containers: [] },
};

function ctx(
  container: Partial<Container> = {},
  clock: Clock = new SystemClock(),
): ProbeContext & { exec: FakeProbeExec } {
  return {
    pod,
    container: { name: "app", ...container },
    containerId: "x".repeat(64) as ContainerId,
    podIP: "127.0.0.1",
    exec: new FakeProbeExec(),
    clock,
  };
}

async function listen(t: TestContext, server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => {
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) =>
    s.close(() => {
      r();
    }),
  );
  return port;
}

test("PL-PROBE-10 PL-PROBE-11 httpGet results, headers and redirects", async (t) => {
  const seen: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers);
    const port = (server.address() as AddressInfo).port;
    switch (req.url ?? "") {
      case "/ok":
        res.end("fine");
        return;
      case "/500":
        res.statusCode = 500;
        res.end("bad");
        return;
      case "/other-host":
        res.writeHead(302, { location: `http://localhost:${port}/ok` });
        res.end("moved away");
        return;
      case "/chunked":
        res.writeHead(302, { location: `http://localhost:${port}/ok` });
        res.write("a".repeat(5000));
        setImmediate(() => {
          res.write("b".repeat(6000));
          res.end("c");
        });
        return;
      case "/same-host":
        res.writeHead(301, { location: "/ok" });
        res.end();
        return;
      case "/loop":
        res.writeHead(302, { location: "/loop" });
        res.end();
        return;
      default:
        res.statusCode = 404;
        res.end();
    }
  });
  const port = await listen(t, server);
  const get = (path: string, extra: Partial<Probe["httpGet"]> = {}) =>
    runProbe(
      { httpGet: { port: "web", path, ...extra } },
      ctx({ ports: [{ name: "web", containerPort: port }] }),
    );

  assert.deepEqual(await get("/ok"), { result: "success", output: "fine" });
  assert.equal(seen.at(0)?.["user-agent"], "kube-probe/1.33");
  assert.equal(seen.at(0)?.accept, "*/*");
  assert.deepEqual(await get("/500"), {
    result: "failure",
    output: "HTTP probe failed with statuscode: 500",
  });
  assert.deepEqual(await get("/other-host"), {
    result: "warning",
    output: "Probe terminated redirects, Response body: moved away",
  });
  const chunked = await get("/chunked");
  assert.equal(
    chunked.output,
    "Probe terminated redirects, Response body: " + "a".repeat(5000) + "b".repeat(10 * 1024 - 5000),
  );
  assert.deepEqual(await get("/same-host"), { result: "success", output: "fine" });
  assert.deepEqual(await get("/loop"), {
    result: "failure",
    output: `Get "http://127.0.0.1:${port}/loop": stopped after 10 redirects`,
  });
  seen.length = 0;
  await get("/ok", {
    httpHeaders: [
      { name: "Accept", value: "" },
      { name: "X-Custom", value: "a" },
      { name: "Host", value: "example.com" },
      { name: "User-Agent", value: "mine" },
    ],
  });
  assert.equal(seen.at(0)?.accept, undefined);
  assert.equal(seen.at(0)?.["x-custom"], "a");
  assert.equal(seen.at(0)?.host, "example.com");
  assert.equal(seen.at(0)?.["user-agent"], "mine");
  await assert.rejects(
    runProbe({ httpGet: { port: "nope" } }, ctx()),
    (err: unknown) => err instanceof ProbeError,
  );
});

test("PL-PROBE-11 PL-EDGE-19 dial errors read like Go", async () => {
  const port = await closedPort();
  assert.deepEqual(await runProbe({ httpGet: { port, path: "/healthz" } }, ctx()), {
    result: "failure",
    output: `Get "http://127.0.0.1:${port}/healthz": dial tcp 127.0.0.1:${port}: connect: connection refused`,
  });
});

test("PL-PROBE-11 httpGet timeout uses the injected clock", async (t) => {
  let arrived!: () => void;
  const requestArrived = new Promise<void>((r) => (arrived = r));
  // Never answers.
  const server = http.createServer(() => {
    arrived();
  });
  const port = await listen(t, server);
  t.after(() => {
    server.closeAllConnections();
  });
  const clock = new FakeClock();
  const run = runProbe({ httpGet: { port, path: "/" }, timeoutSeconds: 1 }, ctx({}, clock));
  await requestArrived;
  await clock.advance(1000);
  assert.deepEqual(await run, {
    result: "failure",
    output: `Get "http://127.0.0.1:${port}/": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`,
  });
});

test("PL-PROBE-12 tcpSocket success and refusal", async (t) => {
  const port = await listen(
    t,
    net.createServer((s) => s.destroy()),
  );
  assert.deepEqual(await runProbe({ tcpSocket: { port } }, ctx()), {
    result: "success",
    output: "",
  });
  const closed = await closedPort();
  assert.deepEqual(await runProbe({ tcpSocket: { port: closed } }, ctx()), {
    result: "failure",
    output: `dial tcp 127.0.0.1:${closed}: connect: connection refused`,
  });
});

test("PL-PROBE-13 grpc health check", async (t) => {
  const statuses: Record<string, number> = { "": 1, bad: 2 };
  const server = http2.createServer();
  server.on("stream", (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      assert.equal(headers[":path"], "/grpc.health.v1.Health/Check");
      const body = Buffer.concat(chunks);
      const service = body.length > 7 ? body.subarray(7).toString() : "";
      if (service === "missing") {
        stream.respond(
          {
            ":status": 200,
            "content-type": "application/grpc",
            "grpc-status": "5",
            "grpc-message": "unknown%20service",
          },
          { endStream: true },
        );
        return;
      }
      stream.respond(
        { ":status": 200, "content-type": "application/grpc" },
        { waitForTrailers: true },
      );
      stream.on("wantTrailers", () => {
        stream.sendTrailers({ "grpc-status": "0" });
      });
      const status = statuses[service] ?? 0;
      stream.end(Buffer.from([0, 0, 0, 0, 2, 0x08, status]));
    });
  });
  const port = await listen(t, server);
  assert.deepEqual(await runProbe({ grpc: { port } }, ctx()), {
    result: "success",
    output: "service is healthy",
  });
  assert.deepEqual(await runProbe({ grpc: { port, service: "bad" } }, ctx()), {
    result: "failure",
    output: 'service unhealthy (responded with "NOT_SERVING")',
  });
  assert.deepEqual(await runProbe({ grpc: { port, service: "missing" } }, ctx()), {
    result: "failure",
    output: "error: health rpc probe failed: rpc error: code = NotFound desc = unknown service",
  });
  const closed = await closedPort();
  assert.deepEqual(await runProbe({ grpc: { port: closed } }, ctx()), {
    result: "failure",
    output: `timeout: failed to connect service "127.0.0.1:${closed}" within 1s: context deadline exceeded`,
  });
});

test("grpc frame encoding", () => {
  assert.deepEqual(encodeHealthCheckRequest(""), Buffer.from([0, 0, 0, 0, 0]));
  assert.deepEqual(
    encodeHealthCheckRequest("ab"),
    Buffer.from([0, 0, 0, 0, 4, 0x0a, 2, 0x61, 0x62]),
  );
  assert.equal(decodeHealthCheckResponse(Buffer.from([0, 0, 0, 0, 0])), 0);
  assert.equal(decodeHealthCheckResponse(Buffer.from([0, 0, 0, 0, 2, 0x08, 3])), 3);
});

test("PL-PROBE-9 exec output is stdout then stderr, capped at 10 KiB", async () => {
  const c = ctx();
  const exec = c.exec;
  exec.fallback = { exitCode: 2, stdout: Buffer.from("out "), stderr: Buffer.from("err") };
  assert.deepEqual(await runProbe({ exec: { command: ["x"] } }, c), {
    result: "failure",
    output: "out err",
  });
  exec.fallback = { exitCode: 0, stdout: Buffer.alloc(20_000, "a") };
  const r = await runProbe({ exec: { command: ["x"] } }, c);
  assert.equal(r.output.length, 10 * 1024);
});

test("PL-PROBE-11 chunked responses split at every byte are parsed", async (t) => {
  const raw =
    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 302 Found\r\nLocation: http://elsewhere.example/\r\n" +
    "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nA;ext=1\r\n0123456789\r\n0\r\n\r\n";
  const port = await listen(
    t,
    net.createServer((s) => {
      s.once("data", () => {
        const bytes = Buffer.from(raw);
        let i = 0;
        const next = (): void => {
          if (i >= bytes.length) {
            s.end();
            return;
          }
          s.write(bytes.subarray(i, ++i), () => {
            setImmediate(next);
          });
        };
        next();
      });
    }),
  );
  assert.deepEqual(await runProbe({ httpGet: { port, path: "/" } }, ctx()), {
    result: "warning",
    output: "Probe terminated redirects, Response body: abc0123456789",
  });
});

test("PL-PROBE-11 connection closed before a response reads as EOF", async (t) => {
  const port = await listen(
    t,
    net.createServer((s) => {
      s.once("data", () => s.end());
    }),
  );
  assert.deepEqual(await runProbe({ httpGet: { port, path: "/x" } }, ctx()), {
    result: "failure",
    output: `Get "http://127.0.0.1:${port}/x": EOF`,
  });
});
