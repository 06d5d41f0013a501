import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import * as http from "node:http";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import type { Container, LifecycleHandler, Pod } from "../../api/index.js";
import type { ContainerId } from "../../runtime/index.js";
import { FakeClock, SystemClock, type Clock } from "../../util/index.js";
import { FakeProbeExec, FakeRecorder } from "../prober/testing/fake-probe-exec.js";
import { runLifecycleHandler, type HookContext } from "./index.js";

const pod: Pod = {
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "web", namespace: "default", uid: "u-1" },
  spec: { containers: [{ name: "app" }] },
};

function ctx(
  over: { clock?: Clock; signal?: AbortSignal; container?: Container } = {},
): HookContext & {
  exec: FakeProbeExec;
  recorder: FakeRecorder;
} {
  return {
    pod,
    container: over.container ?? { name: "app" },
    containerId: "a".repeat(64) as ContainerId,
    podIP: "127.0.0.1",
    exec: new FakeProbeExec(),
    clock: over.clock ?? new SystemClock(),
    signal: over.signal ?? new AbortController().signal,
    recorder: new FakeRecorder(),
  };
}

async function listen(t: TestContext, server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => {
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

test("PL-HOOK-4 exec hook failure message", async () => {
  const c = ctx();
  c.exec.fallback = { exitCode: 1, stdout: Buffer.from("out\n"), stderr: Buffer.from("bad") };
  const res = await runLifecycleHandler(
    "postStart",
    { exec: { command: ["sh", "-c", "exit 1"] } },
    c,
  );
  assert.deepEqual(res, {
    ok: false,
    message:
      'Exec lifecycle hook ([sh -c exit 1]) for Container "app" in Pod "web_default(u-1)" failed - error: command \'sh -c exit 1\' exited with 1: bad, message: "out\\nbad"',
  });
  // FailedPostStartHook is the caller's to record.
  assert.deepEqual(c.recorder.events, []);
  c.exec.fallback = { exitCode: 0 };
  assert.deepEqual(await runLifecycleHandler("postStart", { exec: { command: ["true"] } }, c), {
    ok: true,
  });
});

test("PL-HOOK-1 sleep hook and PL-HOOK-4 sleep cut short by the signal", async () => {
  const clock = new FakeClock();
  const ac = new AbortController();
  const c = ctx({ clock, signal: ac.signal });
  const done = runLifecycleHandler("preStop", { sleep: { seconds: 5 } }, c);
  await clock.advance(5000);
  assert.deepEqual(await done, { ok: true });
  const cut = runLifecycleHandler("preStop", { sleep: { seconds: 100 } }, c);
  await clock.advance(30_000);
  ac.abort();
  assert.deepEqual(await cut, {
    ok: false,
    message:
      'Sleep lifecycle hook (100) for Container "app" in Pod "web_default(u-1)" failed - error: container terminated before sleep hook finished',
  });
});

test("PL-HOOK-1 tcpSocket handler is unsupported at runtime", async () => {
  const h: LifecycleHandler = { tcpSocket: { port: 8080 } };
  assert.deepEqual(await runLifecycleHandler("postStart", h, ctx()), {
    ok: false,
    message:
      "Cannot run handler: invalid handler: &LifecycleHandler{Exec:nil,HTTPGet:nil,TCPSocket:&TCPSocketAction{Port:{0 8080 },Host:,},Sleep:nil,}",
  });
});

test("PL-HOOK-5 httpGet hooks ignore the status code; transport errors fail", async (t) => {
  const seen: http.IncomingHttpHeaders[] = [];
  const port = await listen(
    t,
    http.createServer((req, res) => {
      seen.push(req.headers);
      res.statusCode = 500;
      res.end();
    }),
  );
  const c = ctx({ container: { name: "app", ports: [{ name: "http", containerPort: port }] } });
  assert.deepEqual(
    await runLifecycleHandler("postStart", { httpGet: { port: "http", path: "/hook" } }, c),
    { ok: true },
  );
  assert.equal(seen[0]?.["user-agent"], "kube-lifecycle/1.33");

  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const closed = (s.address() as AddressInfo).port;
  await new Promise<void>((r) =>
    s.close(() => {
      r();
    }),
  );
  assert.deepEqual(
    await runLifecycleHandler("preStop", { httpGet: { port: closed, path: "/stop" } }, c),
    {
      ok: false,
      message: `HTTP lifecycle hook (/stop) for Container "app" in Pod "web_default(u-1)" failed - error: Get "http://127.0.0.1:${closed}/stop": dial tcp 127.0.0.1:${closed}: connect: connection refused`,
    },
  );
});

test("PL-HOOK-5 HTTPS hook answered in plain HTTP falls back to HTTP", async (t) => {
  const seen: http.IncomingHttpHeaders[] = [];
  const port = await listen(
    t,
    http.createServer((req, res) => {
      seen.push(req.headers);
      res.end("ok");
    }),
  );
  const c = ctx();
  const res = await runLifecycleHandler(
    "postStart",
    {
      httpGet: {
        port,
        path: "/",
        scheme: "HTTPS",
        httpHeaders: [{ name: "Authorization", value: "secret" }],
      },
    },
    c,
  );
  assert.deepEqual(res, { ok: true });
  assert.equal(seen.length, 1);
  assert.equal(seen[0]?.authorization, undefined);
  assert.deepEqual(c.recorder.events, [
    {
      fieldPath: undefined,
      type: "Warning",
      reason: "LifecycleHTTPFallback",
      message: `request to HTTPS lifecycle hook 127.0.0.1:${port} got HTTP response, retry with HTTP succeeded`,
    },
  ]);
});
