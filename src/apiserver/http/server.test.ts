import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { Agent, request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connect } from "node:tls";
import { ApiError, type ApiRequest } from "../../api/index.js";
import { SystemClock } from "../../util/index.js";
import { RequestAuthenticator, StaticTokenVerifier } from "./auth.js";
import { ensurePki, type Pki } from "./pki.js";
import { HttpsApiServer } from "./server.js";
import { FakeApiHandler } from "./testing/fake-handler.js";

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

describe("HttpsApiServer", () => {
  let dir: string;
  let pki: Pki;
  let handler: FakeApiHandler;
  let server: HttpsApiServer;
  let ctl: AbortController;
  let running: Promise<void>;
  let port: number;
  let agent: Agent;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "podrun-http-"));
    pki = await ensurePki({ dataDir: dir, clock: new SystemClock() });
    handler = new FakeApiHandler();
    server = new HttpsApiServer({
      handler,
      tls: { certPem: pki.serverCertPem, keyPem: pki.serverKeyPem, caPem: pki.caCertPem },
      authenticator: new RequestAuthenticator({
        tokenVerifiers: [
          new StaticTokenVerifier({ secret: { username: "admin", groups: ["system:masters"] } }),
        ],
      }),
      port: 0,
      maxBodyBytes: 64 * 1024,
    });
    ctl = new AbortController();
    running = server.run(ctl.signal);
    port = (await server.ready()).port;
    agent = new Agent({ keepAlive: true, ca: pki.caCertPem, maxSockets: 1 });
  });

  after(async () => {
    agent.destroy();
    ctl.abort();
    await running;
    await rm(dir, { recursive: true, force: true });
  });

  function call(
    method: string,
    path: string,
    opts: {
      body?: string | Buffer;
      headers?: Record<string, string>;
      token?: string | null;
      cert?: boolean;
      chunked?: boolean;
    } = {},
  ): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { ...opts.headers };
      if (opts.token !== null) headers["Authorization"] = `Bearer ${opts.token ?? "secret"}`;
      if (opts.body !== undefined && !opts.chunked) {
        headers["Content-Length"] = String(Buffer.byteLength(opts.body));
      }
      const req = request(
        {
          host: "127.0.0.1",
          port,
          method,
          path,
          headers,
          ...(opts.cert
            ? { key: pki.adminKeyPem, cert: pki.adminCertPem, ca: pki.caCertPem }
            : { agent }),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              text: Buffer.concat(chunks).toString(),
            });
          });
        },
      );
      req.on("error", reject);
      if (opts.body !== undefined && opts.chunked) {
        const b = Buffer.from(opts.body);
        req.write(b.subarray(0, 5));
        req.write(b.subarray(5));
      } else if (opts.body !== undefined) {
        req.write(opts.body);
      }
      req.end();
    });
  }

  function lastRequest(): ApiRequest {
    const r = handler.requests.at(-1);
    assert.ok(r);
    return r;
  }

  test("no credentials is 401 Unauthorized Status", async () => {
    const r = await call("GET", "/api/v1/pods", { token: null });
    assert.equal(r.status, 401);
    assert.equal(r.headers["content-type"], "application/json");
    assert.deepEqual(JSON.parse(r.text), {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: "Unauthorized",
      reason: "Unauthorized",
      code: 401,
    });
  });

  test("a wrong bearer token is 401", async () => {
    const r = await call("GET", "/api/v1/pods", { token: "nope" });
    assert.equal(r.status, 401);
  });

  test("/healthz and /version are served to anonymous users", async () => {
    handler.respond = () => Promise.resolve({ status: 200, body: "ok", contentType: "text/plain" });
    const r = await call("GET", "/healthz", { token: null });
    assert.equal(r.status, 200);
    assert.equal(r.text, "ok");
    assert.equal(r.headers["content-type"], "text/plain");
    assert.equal(lastRequest().user?.username, "system:anonymous");
    handler.respond = (req) => Promise.resolve({ status: 200, body: { echo: req } });
  });

  test("bearer token: user, decoded query with repeated keys, lower-case headers", async () => {
    const r = await call(
      "GET",
      "/api/v1/namespaces/default/pods?limit=500&command=a&command=b%20c",
      {
        headers: { "Kubectl-Command": "kubectl get" },
      },
    );
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-type"], "application/json");
    const req = lastRequest();
    assert.equal(req.path, "/api/v1/namespaces/default/pods");
    assert.deepEqual(req.query, { limit: "500", command: ["a", "b c"] });
    assert.equal(req.headers?.["kubectl-command"], "kubectl get");
    assert.deepEqual(req.user, {
      username: "admin",
      groups: ["system:masters", "system:authenticated"],
    });
  });

  test("client certificate signed by the CA authenticates as admin/system:masters", async () => {
    const r = await call("GET", "/api/v1/pods", { token: null, cert: true });
    assert.equal(r.status, 200);
    assert.deepEqual(lastRequest().user, {
      username: "admin",
      groups: ["system:masters", "system:authenticated"],
    });
  });

  test("KA-HTTP-4/5 chunked body without Content-Type is JSON", async () => {
    const r = await call("POST", "/api/v1/namespaces/default/configmaps", {
      body: '{"kind":"ConfigMap","data":{"a":"b"}}',
      chunked: true,
    });
    assert.equal(r.status, 200);
    const req = lastRequest();
    assert.equal(req.method, "POST");
    assert.equal(req.contentType, "application/json");
    assert.deepEqual(req.body, { kind: "ConfigMap", data: { a: "b" } });
  });

  test("KA-SSA-2 apply-patch+yaml body is parsed as YAML", async () => {
    await call("PATCH", "/api/v1/namespaces/default/pods/p2?fieldManager=kubectl", {
      body: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p2\n",
      headers: { "Content-Type": "application/apply-patch+yaml" },
    });
    const req = lastRequest();
    assert.equal(req.contentType, "application/apply-patch+yaml");
    assert.deepEqual(req.body, { apiVersion: "v1", kind: "Pod", metadata: { name: "p2" } });
  });

  test("malformed JSON is 400 BadRequest and the connection keeps serving", async () => {
    const bad = await call("POST", "/api/v1/namespaces/default/pods", {
      body: '{"kind": ',
      headers: { "Content-Type": "application/json" },
    });
    assert.equal(bad.status, 400);
    const status = JSON.parse(bad.text) as { reason: string; message: string };
    assert.equal(status.reason, "BadRequest");
    assert.match(status.message, /json parse error/);
    const ok = await call("GET", "/api/v1/pods");
    assert.equal(ok.status, 200);
  });

  test("invalid UTF-8 and deep nesting are 400 BadRequest", async () => {
    const utf = await call("POST", "/api/v1/namespaces/default/pods", {
      body: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
    });
    assert.equal(utf.status, 400);
    assert.match(utf.text, /UTF-8/);
    const deep = await call("POST", "/api/v1/namespaces/default/pods", {
      body: "[".repeat(500) + "]".repeat(500),
    });
    assert.equal(deep.status, 400);
    assert.match(deep.text, /max depth/);
  });

  test("a body over the limit is 413 RequestEntityTooLarge", async () => {
    const r = await call("POST", "/api/v1/namespaces/default/pods", {
      body: JSON.stringify({ data: "x".repeat(70 * 1024) }),
      chunked: true,
    });
    assert.equal(r.status, 413);
    assert.equal((JSON.parse(r.text) as { reason: string }).reason, "RequestEntityTooLarge");
    assert.equal((await call("GET", "/api/v1/pods")).status, 200);
  });

  test("an ApiError from the handler becomes its Status", async () => {
    handler.respond = () =>
      Promise.reject(
        new ApiError("NotFound", 'pods "nope" not found', { name: "nope", kind: "pods" }),
      );
    const r = await call("GET", "/api/v1/namespaces/default/pods/nope");
    assert.equal(r.status, 404);
    assert.equal((JSON.parse(r.text) as { message: string }).message, 'pods "nope" not found');
    handler.respond = () => Promise.reject(new Error("boom"));
    const r2 = await call("GET", "/api/v1/namespaces/default/pods/nope");
    assert.equal(r2.status, 500);
    assert.equal((JSON.parse(r2.text) as { reason: string }).reason, "InternalError");
    handler.respond = (req) => Promise.resolve({ status: 200, body: { echo: req } });
  });

  test("KA-HTTP-6 handler content type is kept (aggregated discovery)", async () => {
    const ct = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
    handler.respond = () => Promise.resolve({ status: 200, body: { items: [] }, contentType: ct });
    const r = await call("GET", "/api");
    assert.equal(r.headers["content-type"], ct);
    handler.respond = (req) => Promise.resolve({ status: 200, body: { echo: req } });
  });

  test("streams are text/plain chunked", async () => {
    async function* lines(): AsyncIterable<Uint8Array> {
      await Promise.resolve();
      yield Buffer.from("line 1\n");
      yield Buffer.from("line 2\n");
    }
    handler.respond = () => Promise.resolve({ status: 200, stream: lines() });
    const r = await call("GET", "/api/v1/namespaces/default/pods/web/log?follow=true");
    assert.equal(r.text, "line 1\nline 2\n");
    assert.equal(r.headers["content-type"], "text/plain");
    assert.equal(r.headers["transfer-encoding"], "chunked");
    handler.respond = (req) => Promise.resolve({ status: 200, body: { echo: req } });
  });

  test("KA-WATCH-1 watch is chunked JSON lines and ends on client disconnect", async () => {
    handler.watchEvents = [
      { type: "ADDED", object: { kind: "Pod", metadata: { name: "a" } } },
      { type: "MODIFIED", object: { kind: "Pod", metadata: { name: "a" } } },
    ];
    const received = await new Promise<{ headers: Record<string, unknown>; lines: string[] }>(
      (resolve, reject) => {
        const req = request(
          {
            host: "127.0.0.1",
            port,
            path: "/api/v1/pods?watch=true",
            headers: { Authorization: "Bearer secret" },
            ca: pki.caCertPem,
          },
          (res) => {
            let buf = "";
            res.on("data", (c: Buffer) => {
              buf += c.toString();
              const lines = buf.split("\n").filter((l) => l !== "");
              if (lines.length === 2) {
                resolve({ headers: res.headers, lines });
                req.destroy();
              }
            });
          },
        );
        req.on("error", (err) => {
          if ((err as NodeJS.ErrnoException).code !== "ECONNRESET") reject(err);
        });
        req.end();
      },
    );
    assert.equal(received.headers["content-type"], "application/json");
    assert.equal(received.headers["transfer-encoding"], "chunked");
    assert.deepEqual(
      received.lines.map((l) => (JSON.parse(l) as { type: string }).type),
      ["ADDED", "MODIFIED"],
    );
    await handler.watchAborted;
    handler.watchEvents = [];
  });

  test("KA-WATCH-1 a watch that ends closes its chunked body, and the connection is reused", async () => {
    handler.watchEvents = [
      { type: "ADDED", object: { kind: "Pod", metadata: { name: "é" } } },
      { type: "DELETED", object: { kind: "Pod", metadata: { name: "b" } } },
    ];
    handler.watchEndsAfterEvents = true;
    try {
      // The keep-alive agent has one socket: the second request can only be answered on it
      // once the first response's body ended with its last chunk.
      const first = await call("GET", "/api/v1/pods?watch=true");
      const second = await call("GET", "/api/v1/pods?watch=true");
      for (const r of [first, second]) {
        assert.equal(r.status, 200);
        assert.equal(r.headers["transfer-encoding"], "chunked");
        assert.deepEqual(
          r.text
            .split("\n")
            .filter((l) => l !== "")
            .map((l) => JSON.parse(l) as unknown),
          handler.watchEvents,
        );
      }
    } finally {
      handler.watchEndsAfterEvents = false;
      handler.watchEvents = [];
    }
  });

  test("a watch that fails before its first event answers with the Status", async () => {
    handler.watchError = new ApiError("Expired", "too old resource version: 1 (5)");
    const r = await call("GET", "/api/v1/pods?watch=1&resourceVersion=1");
    assert.equal(r.status, 410);
    handler.watchError = undefined;
  });

  test("upgrades without a handler are answered 400", async () => {
    const r = await call("POST", "/api/v1/namespaces/default/pods/web/exec", {
      headers: { Connection: "Upgrade", Upgrade: "SPDY/3.1" },
    });
    assert.equal(r.status, 400);
  });

  test("upgrades reach onUpgrade with the authenticated user", async () => {
    const seen: string[] = [];
    const up = new HttpsApiServer({
      handler,
      tls: { certPem: pki.serverCertPem, keyPem: pki.serverKeyPem, caPem: pki.caCertPem },
      authenticator: new RequestAuthenticator({
        tokenVerifiers: [new StaticTokenVerifier({ secret: { username: "admin", groups: [] } })],
      }),
      port: 0,
      onUpgrade: (req, socket, _head, user) => {
        seen.push(`${req.url ?? ""} ${user.username}`);
        socket.end(
          "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n",
        );
      },
    });
    const upCtl = new AbortController();
    const upRun = up.run(upCtl.signal);
    const upPort = (await up.ready()).port;
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({
        host: "127.0.0.1",
        port: upPort,
        method: "POST",
        path: "/api/v1/namespaces/default/pods/web/exec?command=ls",
        ca: pki.caCertPem,
        headers: { Authorization: "Bearer secret", Connection: "Upgrade", Upgrade: "SPDY/3.1" },
      });
      req.on("upgrade", (res, socket) => {
        socket.destroy();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.end();
    });
    upCtl.abort();
    await upRun;
    assert.equal(status, 101);
    assert.deepEqual(seen, ["/api/v1/namespaces/default/pods/web/exec?command=ls admin"]);
  });

  test("KA-HTTP-10 ALPN offers only http/1.1", async () => {
    const proto = await new Promise<string | false | null>((resolve, reject) => {
      const s = connect(
        { host: "127.0.0.1", port, ca: pki.caCertPem, ALPNProtocols: ["h2", "http/1.1"] },
        () => {
          resolve(s.alpnProtocol);
          s.destroy();
        },
      );
      s.on("error", reject);
    });
    assert.equal(proto, "http/1.1");
  });

  test("/openapi/v2 answers 200 with an empty octet-stream body (KA-OAPI-3)", async () => {
    const r = await call("GET", "/openapi/v2?timeout=32s");
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-type"], "application/octet-stream");
    assert.equal(r.text, "");
  });
});
