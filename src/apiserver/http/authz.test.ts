import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { SystemClock } from "../../util/index.js";
import { RbacAuthorizer } from "../rbac/authorizer.js";
import { bootstrapClusterRoleBindings, bootstrapClusterRoles } from "../rbac/bootstrap.js";
import { FakePolicySource } from "../rbac/testing/fake-policy-source.js";
import { RequestAuthenticator, StaticTokenVerifier } from "./auth.js";
import { ensurePki, type Pki } from "./pki.js";
import { HttpsApiServer } from "./server.js";
import { FakeApiHandler } from "./testing/fake-handler.js";

interface Reply {
  status: number;
  body: { reason?: string; message?: string; code?: number };
}

const AUTHENTICATED = ["system:authenticated"];

describe("HttpsApiServer with an authorizer", () => {
  let dir: string;
  let pki: Pki;
  let handler: FakeApiHandler;
  let server: HttpsApiServer;
  let ctl: AbortController;
  let running: Promise<void>;
  let port: number;
  const upgraded: string[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "podrun-authz-"));
    pki = await ensurePki({ dataDir: dir, clock: new SystemClock() });
    handler = new FakeApiHandler();
    const source = new FakePolicySource()
      .add(...bootstrapClusterRoles(), ...bootstrapClusterRoleBindings())
      .add({
        kind: "RoleBinding",
        metadata: { name: "alice-view", namespace: "default" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "view" },
        subjects: [{ kind: "User", name: "alice", apiGroup: "rbac.authorization.k8s.io" }],
      });
    server = new HttpsApiServer({
      handler,
      tls: { certPem: pki.serverCertPem, keyPem: pki.serverKeyPem, caPem: pki.caCertPem },
      authenticator: new RequestAuthenticator({
        tokenVerifiers: [
          new StaticTokenVerifier({
            admin: { username: "admin", groups: ["system:masters"] },
            alice: { username: "alice", groups: AUTHENTICATED },
            bob: { username: "bob", groups: AUTHENTICATED },
          }),
        ],
      }),
      authorizer: new RbacAuthorizer({ source }),
      port: 0,
      onUpgrade: (req, socket, _head, user) => {
        upgraded.push(`${req.url ?? ""} ${user.username}`);
        socket.end(
          "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n",
        );
      },
    });
    ctl = new AbortController();
    running = server.run(ctl.signal);
    port = (await server.ready()).port;
  });

  after(async () => {
    ctl.abort();
    await running;
    await rm(dir, { recursive: true, force: true });
  });

  function call(
    method: string,
    path: string,
    token: string,
    headers: Record<string, string> = {},
  ): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: "127.0.0.1",
          port,
          method,
          path,
          ca: pki.caCertPem,
          headers: { Authorization: `Bearer ${token}`, ...headers },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            resolve({
              status: res.statusCode ?? 0,
              body: text.startsWith("{") ? (JSON.parse(text) as Reply["body"]) : {},
            });
          });
        },
      );
      req.on("upgrade", (res, socket) => {
        socket.destroy();
        resolve({ status: res.statusCode ?? 0, body: {} });
      });
      req.on("error", reject);
      req.end();
    });
  }

  test("an unbound user is refused a list with upstream's 403 Status", async () => {
    const before = handler.requests.length;
    const r = await call("GET", "/api/v1/namespaces/default/pods", "bob");
    assert.equal(r.status, 403);
    assert.equal(r.body.reason, "Forbidden");
    assert.equal(r.body.code, 403);
    assert.equal(
      r.body.message,
      'pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "default"',
    );
    assert.equal(handler.requests.length, before, "the handler never saw the request");
  });

  test("watches are authorized with the watch verb", async () => {
    const r = await call("GET", "/api/v1/namespaces/default/pods?watch=true", "bob");
    assert.equal(r.status, 403);
    assert.match(r.body.message ?? "", /cannot watch resource "pods"/);
  });

  test("a bound user reaches the handler; system:masters always does", async () => {
    assert.equal((await call("GET", "/api/v1/namespaces/default/pods", "alice")).status, 200);
    assert.equal((await call("DELETE", "/api/v1/nodes/n1", "admin")).status, 200);
    assert.equal((await call("DELETE", "/api/v1/namespaces/default/pods/x", "alice")).status, 403);
  });

  test("non-resource paths: discovery is open to authenticated users, /metrics is not", async () => {
    assert.equal((await call("GET", "/apis", "bob")).status, 200);
    const m = await call("GET", "/metrics", "bob");
    assert.equal(m.status, 403);
    assert.equal(m.body.message, 'forbidden: User "bob" cannot get path "/metrics"');
  });

  test("stream upgrades need create on the subresource", async () => {
    const path = "/api/v1/namespaces/default/pods/web/exec?command=ls";
    const upgrade = { Connection: "Upgrade", Upgrade: "SPDY/3.1" };
    assert.equal((await call("POST", path, "alice", upgrade)).status, 403);
    assert.equal((await call("GET", path, "bob", upgrade)).status, 403);
    assert.deepEqual(upgraded, []);
    assert.equal((await call("POST", path, "admin", upgrade)).status, 101);
    assert.deepEqual(upgraded, [`${path} admin`]);
  });
});
