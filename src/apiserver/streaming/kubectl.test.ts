import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect, createServer as createTcpServer, type Server as TcpServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ApiError, type ApiRequest, type ApiResponse } from "../../api/index.js";
import { nullLogger, SystemClock } from "../../util/index.js";
import {
  ensurePki,
  HttpsApiServer,
  RequestAuthenticator,
  StaticTokenVerifier,
} from "../http/index.js";
import { FakeApiHandler } from "../http/testing/fake-handler.js";
import { createStreamingUpgradeHandler, type StreamingUpgradeHandler } from "./handler.js";
import { FakeStreamBackend } from "./testing/fake-backend.js";

// Real kubectl binaries against an HTTPS server that serves just discovery, one Running pod and
// the streaming upgrade handler: proves the wire protocols end to end (KA-EXEC, KA-SPDY, KA-PF).
const KUBECTL_DIR = "/usr/lib/google-cloud-sdk/bin";
const kubectl = (minor: number): string => join(KUBECTL_DIR, `kubectl.1.${minor}`);
const TOKEN = "streaming-e2e-token";

const POD = {
  kind: "Pod",
  apiVersion: "v1",
  metadata: { name: "web", namespace: "default", uid: "u-1", resourceVersion: "5" },
  spec: { containers: [{ name: "c1", image: "busybox" }], nodeName: "node" },
  status: {
    phase: "Running",
    containerStatuses: [
      {
        name: "c1",
        ready: true,
        restartCount: 0,
        image: "busybox",
        imageID: "",
        state: { running: {} },
      },
    ],
  },
};

function respond(req: ApiRequest): Promise<ApiResponse> {
  const ok = (body: unknown): Promise<ApiResponse> => Promise.resolve({ status: 200, body });
  switch (req.path) {
    case "/version":
      return ok({ major: "1", minor: "33", gitVersion: "v1.33.0", platform: "linux/amd64" });
    case "/api":
      return ok({ kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [] });
    case "/apis":
      return ok({ kind: "APIGroupList", apiVersion: "v1", groups: [] });
    case "/api/v1":
      return ok({
        kind: "APIResourceList",
        groupVersion: "v1",
        resources: [
          {
            name: "pods",
            singularName: "pod",
            namespaced: true,
            kind: "Pod",
            verbs: ["get", "list"],
            shortNames: ["po"],
          },
          {
            name: "pods/exec",
            singularName: "",
            namespaced: true,
            kind: "PodExecOptions",
            verbs: ["create", "get"],
          },
          {
            name: "pods/attach",
            singularName: "",
            namespaced: true,
            kind: "PodAttachOptions",
            verbs: ["create", "get"],
          },
          {
            name: "pods/portforward",
            singularName: "",
            namespaced: true,
            kind: "PodPortForwardOptions",
            verbs: ["create", "get"],
          },
        ],
      });
    case "/api/v1/namespaces/default/pods/web":
      return ok(POD);
    default:
      return Promise.resolve({
        status: 404,
        body: {
          kind: "Status",
          apiVersion: "v1",
          metadata: {},
          status: "Failure",
          message: "the server could not find the requested resource",
          reason: "NotFound",
          code: 404,
        },
      });
  }
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs kubectl to completion with `input` on stdin (bounded by a 30 s kill). */
function run(bin: string, args: string[], kubeconfig: string, input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ["--kubeconfig", kubeconfig, ...args], {
      stdio: ["pipe", "pipe", "pipe"],
      timeout: 30_000,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      resolve({ code, stdout, stderr });
    });
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

describe("real kubectl against the streaming handler", () => {
  let dir: string;
  let kubeconfig: string;
  let server: HttpsApiServer;
  let stop: AbortController;
  let running: Promise<void>;
  let backend: FakeStreamBackend;
  let handler: StreamingUpgradeHandler;
  let echo: TcpServer;
  const upgrades: string[] = [];

  before(async () => {
    // The real clients are part of every machine's set-up: missing ones fail, never skip.
    for (const m of [27, 30, 33]) assert.ok(existsSync(kubectl(m)), `${kubectl(m)} is missing`);
    dir = await mkdtemp(join(tmpdir(), "podrun-streaming-"));
    const pki = await ensurePki({ dataDir: dir, clock: new SystemClock() });
    backend = new FakeStreamBackend();
    handler = createStreamingUpgradeHandler(backend, nullLogger);
    const api = new FakeApiHandler();
    api.respond = respond;
    server = new HttpsApiServer({
      handler: api,
      tls: { certPem: pki.serverCertPem, keyPem: pki.serverKeyPem, caPem: pki.caCertPem },
      authenticator: new RequestAuthenticator({
        tokenVerifiers: [new StaticTokenVerifier({ [TOKEN]: { username: "admin", groups: [] } })],
      }),
      port: 0,
      onUpgrade: (req, socket, head, user) => {
        upgrades.push(`${req.method ?? ""} ${String(req.headers.upgrade)} ${req.url ?? ""}`);
        handler(req, socket, head, user);
      },
    });
    stop = new AbortController();
    running = server.run(stop.signal);
    const addr = await server.ready();
    kubeconfig = join(dir, "kubeconfig");
    await writeFile(
      kubeconfig,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [
          {
            name: "c",
            cluster: {
              server: `https://127.0.0.1:${addr.port}`,
              "insecure-skip-tls-verify": true,
            },
          },
        ],
        users: [{ name: "u", user: { token: TOKEN } }],
        contexts: [{ name: "c", context: { cluster: "c", user: "u", namespace: "default" } }],
        "current-context": "c",
      }),
    );
    echo = createTcpServer((sock) => {
      sock.on("error", () => undefined);
      sock.pipe(sock);
    });
    await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
    const echoAddr = echo.address();
    assert.ok(echoAddr !== null && typeof echoAddr === "object");
    backend.ports.set(80, echoAddr.port);
  });

  after(async () => {
    stop.abort();
    await running;
    await handler.wait();
    await new Promise<void>((resolve) =>
      echo.close(() => {
        resolve();
      }),
    );
    await rm(dir, { recursive: true, force: true });
  });

  for (const minor of [27, 33]) {
    const transport = minor >= 30 ? "websocket" : "SPDY/3.1";

    test(`KA-EXEC-1/2 kubectl 1.${minor} exec over ${transport}: stdout and exit 0`, async () => {
      upgrades.length = 0;
      const r = await run(
        kubectl(minor),
        ["exec", "web", "--", "echo", "hello", "world"],
        kubeconfig,
      );
      assert.equal(r.stderr, "");
      assert.equal(r.stdout, "hello world\n");
      assert.equal(r.code, 0);
      assert.match(upgrades[0] ?? "", new RegExp(transport.replace("/", "\\/"), "i"));
      assert.equal(backend.running, 0);
    });

    test(`KA-WS-3 kubectl 1.${minor} exec propagates a non-zero exit code and stderr`, async () => {
      const r = await run(kubectl(minor), ["exec", "web", "--", "fail", "3", "oops"], kubeconfig);
      assert.equal(r.code, 3);
      assert.match(r.stderr, /oops/);
      assert.match(r.stderr, /command terminated with exit code 3/);
    });

    test(`KA-CP-1 kubectl 1.${minor} exec -i sends stdin and closes it (EOF)`, async () => {
      const input = "some input\n".repeat(5000);
      const r = await run(kubectl(minor), ["exec", "-i", "web", "--", "cat"], kubeconfig, input);
      assert.equal(r.stderr, "");
      assert.equal(r.code, 0);
      assert.equal(r.stdout, input);
    });
  }

  test("kubectl 1.27 prints a backend error answered before the upgrade", async () => {
    backend.failNext("exec", new ApiError("BadRequest", "container c9 is not running"));
    const r = await run(kubectl(27), ["exec", "web", "--", "true"], kubeconfig);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /container c9 is not running/);
  });

  for (const minor of [30, 33]) {
    test(`KA-PF-1 kubectl 1.${minor} port-forward (${minor >= 31 ? "websocket tunnel" : "SPDY"})`, async () => {
      upgrades.length = 0;
      const child = spawn(
        kubectl(minor),
        ["--kubeconfig", kubeconfig, "port-forward", "pod/web", ":80"],
        { stdio: ["ignore", "pipe", "pipe"], timeout: 30_000 },
      );
      const exited = new Promise<void>((resolve) =>
        child.once("close", () => {
          resolve();
        }),
      );
      try {
        const localPort = await new Promise<number>((resolve, reject) => {
          let out = "";
          child.stdout.on("data", (d: Buffer) => {
            out += d.toString();
            const m = /Forwarding from 127\.0\.0\.1:(\d+) -> 80/.exec(out);
            if (m?.[1] !== undefined) resolve(Number(m[1]));
          });
          child.once("close", () => {
            reject(new Error(`kubectl port-forward exited: ${out}`));
          });
        });
        const results = await Promise.all(
          Array.from({ length: 5 }, (_, i) => roundTrip(localPort, `conn-${i}-`.repeat(2000))),
        );
        results.forEach((got, i) => {
          assert.equal(got, `conn-${i}-`.repeat(2000));
        });
        assert.match(upgrades[0] ?? "", minor >= 31 ? /websocket/ : /SPDY\/3\.1/i);
      } finally {
        child.kill("SIGTERM");
        await exited;
      }
      await handler.wait();
      assert.equal(backend.openSockets, 0);
    });
  }
});

/** Sends `payload` through a forwarded port, half-closes, and reads the echo. */
function roundTrip(port: number, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1", () => {
      s.end(payload);
    });
    let got = "";
    s.on("data", (d: Buffer) => (got += d.toString()));
    s.on("error", reject);
    s.on("close", () => {
      resolve(got);
    });
  });
}
