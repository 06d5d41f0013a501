import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import forge from "node-forge";
import { isExpired, isNotFound, type Pod } from "../api/index.js";
import { nullLogger } from "../util/index.js";
import { Client } from "./client.js";
import { HttpTransport } from "./http-transport.js";

function selfSigned(): { certPem: string; keyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(
    publicKey.export({ type: "spki", format: "pem" }).toString(),
  );
  cert.serialNumber = "01";
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 3600_000);
  const attrs = [{ name: "commonName", value: "localhost" }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: "basicConstraints", cA: true },
    { name: "subjectAltName", altNames: [{ type: 7, ip: "127.0.0.1" }] },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(keyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}

const pod: Pod = {
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "web", namespace: "default", resourceVersion: "5" },
  spec: { containers: [{ name: "c1" }] },
};

interface Seen {
  method: string;
  url: string;
  auth: string | undefined;
  contentType: string | undefined;
  body: string;
}

let server: https.Server;
let url = "";
let caPem = "";
const seen: Seen[] = [];

before(async () => {
  const { certPem, keyPem } = selfSigned();
  caPem = certPem;
  server = https.createServer({ cert: certPem, key: keyPem }, (req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (body += c));
    req.on("end", () => {
      seen.push({
        method: req.method ?? "",
        url: req.url ?? "",
        auth: req.headers.authorization,
        contentType: req.headers["content-type"],
        body,
      });
      const u = new URL(req.url ?? "/", "https://x");
      const json = (code: number, obj: unknown): void => {
        res.writeHead(code, { "content-type": "application/json" });
        res.end(JSON.stringify(obj));
      };
      if (u.pathname.endsWith("/pods/web/log")) {
        res.writeHead(200, { "content-type": "text/plain" });
        res.write("line 1\n");
        res.end("line 2\n");
      } else if (u.pathname.endsWith("/pods/web")) {
        if (req.method === "PATCH")
          json(200, { ...pod, metadata: { ...pod.metadata, labels: {} } });
        else json(200, pod);
      } else if (u.pathname.endsWith("/pods/nope")) {
        json(404, {
          kind: "Status",
          apiVersion: "v1",
          metadata: {},
          status: "Failure",
          message: 'pods "nope" not found',
          reason: "NotFound",
          details: { name: "nope", kind: "pods" },
          code: 404,
        });
      } else if (u.searchParams.get("watch") === "true") {
        res.writeHead(200, { "content-type": "application/json" });
        res.write(JSON.stringify({ type: "ADDED", object: pod }) + "\n");
        if (u.searchParams.get("resourceVersion") === "hang") return; // stays open
        // One event split across two chunks.
        const ev = JSON.stringify({ type: "MODIFIED", object: pod }) + "\n";
        res.write(ev.slice(0, 10));
        res.write(ev.slice(10));
        res.end(
          JSON.stringify({
            type: "ERROR",
            object: {
              kind: "Status",
              apiVersion: "v1",
              metadata: {},
              status: "Failure",
              message: "too old resource version: 1 (5)",
              reason: "Expired",
              code: 410,
            },
          }) + "\n",
        );
      } else if (req.method === "POST") {
        json(201, JSON.parse(body));
      } else {
        json(200, { apiVersion: "v1", kind: "PodList", metadata: {}, items: [pod] });
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) =>
    server.close(() => {
      r();
    }),
  );
});

function client(): { client: Client; transport: HttpTransport } {
  const transport = new HttpTransport({ server: url, caPem, token: "secret", logger: nullLogger });
  return { client: new Client(transport), transport };
}

test("HttpTransport sends JSON with the bearer token over TLS and parses JSON", async () => {
  const { client: c, transport } = client();
  try {
    const got = await c.pods("default").get("web");
    assert.deepEqual(got, pod);
    const created = await c.pods("default").create(pod, { fieldManager: "me" });
    assert.equal(created.metadata.name, "web");
    const post = seen.at(-1)!;
    assert.equal(post.method, "POST");
    assert.equal(post.url, "/api/v1/namespaces/default/pods?fieldManager=me");
    assert.equal(post.auth, "Bearer secret");
    assert.equal(post.contentType, "application/json");
    assert.deepEqual(JSON.parse(post.body), pod);
    await c.pods("default").patch("web", "strategic", { metadata: { labels: null } });
    assert.equal(seen.at(-1)!.contentType, "application/strategic-merge-patch+json");
  } finally {
    transport.close();
  }
});

test("HttpTransport throws ApiError.fromStatus for non-2xx answers", async () => {
  const { client: c, transport } = client();
  try {
    await assert.rejects(c.pods("default").get("nope"), (err: unknown) => {
      assert.ok(isNotFound(err));
      assert.equal(err.message, 'pods "nope" not found');
      assert.equal(err.code, 404);
      return true;
    });
  } finally {
    transport.close();
  }
});

test("HttpTransport rejects a server whose certificate the CA did not sign", async () => {
  const other = selfSigned();
  const transport = new HttpTransport({ server: url, caPem: other.certPem, logger: nullLogger });
  try {
    await assert.rejects(new Client(transport).pods("default").get("web"));
  } finally {
    transport.close();
  }
});

test("HttpTransport watch parses newline-delimited events and throws Expired on ERROR", async () => {
  const { client: c, transport } = client();
  const ac = new AbortController();
  const types: string[] = [];
  try {
    await assert.rejects(
      (async () => {
        for await (const ev of c.pods("default").watch({ resourceVersion: "1", signal: ac.signal }))
          types.push(ev.type);
      })(),
      isExpired,
    );
    assert.deepEqual(types, ["ADDED", "MODIFIED"]);
    assert.match(seen.at(-1)!.url, /watch=true/);
    assert.match(seen.at(-1)!.url, /resourceVersion=1/);
  } finally {
    transport.close();
  }
});

test("HttpTransport watch ends quietly when the signal aborts", async () => {
  const { client: c, transport } = client();
  const ac = new AbortController();
  const types: string[] = [];
  try {
    for await (const ev of c
      .pods("default")
      .watch({ resourceVersion: "hang", signal: ac.signal })) {
      types.push(ev.type);
      ac.abort();
    }
    assert.deepEqual(types, ["ADDED"]);
  } finally {
    transport.close();
  }
});

test("HttpTransport returns text/plain answers as a stream (pod logs)", async () => {
  const { client: c, transport } = client();
  try {
    assert.equal(await c.pods("default").logs("web", { container: "c1" }), "line 1\nline 2\n");
    assert.equal(seen.at(-1)!.url, "/api/v1/namespaces/default/pods/web/log?container=c1");
  } finally {
    transport.close();
  }
});
