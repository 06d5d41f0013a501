import assert from "node:assert/strict";
import { createPublicKey, generateKeyPairSync } from "node:crypto";
import { describe, test } from "node:test";
import type { ApiRequest, ApiResponse, Pod, Status } from "../api/index.js";
import { MemoryStore } from "../storage/index.js";
import { FakeClock, nullLogger } from "../util/index.js";
import { injectServiceAccountToken, SERVICE_ACCOUNT_MOUNT_PATH } from "./sa-admission.js";
import { ApiServer } from "./server.js";
import type { TokenRequest } from "./token-request.js";
import { JwtSigner, SERVICE_ACCOUNT_ISSUER, verifyServiceAccountJwt } from "./tokens.js";

const KEY_PEM = generateKeyPairSync("rsa", { modulusLength: 2048 })
  .privateKey.export({ type: "pkcs1", format: "pem" })
  .toString();
const PUBLIC_KEY = createPublicKey(KEY_PEM);
const NOW = Date.UTC(2025, 0, 1);
const NS = "/api/v1/namespaces/default";

async function setup(opts: { withKey: boolean } = { withKey: true }) {
  const store = new MemoryStore();
  const clock = new FakeClock(NOW);
  const server = new ApiServer({
    store,
    clock,
    logger: nullLogger,
    ...(opts.withKey ? { serviceAccountKeyPem: KEY_PEM } : {}),
  });
  await server.bootstrap();
  const call = (method: ApiRequest["method"], path: string, body?: unknown) =>
    server.handle({ method, path, ...(body === undefined ? {} : { body }) });
  return { clock, server, call };
}

function pod(name: string, mutate: (p: Pod) => void = () => undefined): Pod {
  const p: Pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name },
    spec: {
      containers: [{ name: "c1", image: "busybox" }],
      initContainers: [{ name: "i1", image: "busybox" }],
    },
  };
  mutate(p);
  return p;
}

/** The response body viewed as `T` (tests know what each endpoint returns). */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- a typed view, by design
function body<T>(r: ApiResponse): T {
  const b: unknown = r.body;
  return b as T;
}

function claimsOf(token: string): Record<string, unknown> {
  const part = token.split(".")[1] ?? "";
  return JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as Record<string, unknown>;
}

describe("JwtSigner and verifyServiceAccountJwt", () => {
  const signer = new JwtSigner(KEY_PEM);
  const claims = {
    iss: SERVICE_ACCOUNT_ISSUER,
    sub: "system:serviceaccount:default:default",
    aud: [SERVICE_ACCOUNT_ISSUER],
    exp: NOW / 1000 + 3600,
    iat: NOW / 1000,
    nbf: NOW / 1000,
    jti: "j",
    "kubernetes.io": { namespace: "default", serviceaccount: { name: "default", uid: "u1" } },
  };
  const opts = { nowMs: NOW, audiences: [SERVICE_ACCOUNT_ISSUER] };

  test("accepts a token it signed and returns its claims", () => {
    const r = verifyServiceAccountJwt(signer.sign(claims), PUBLIC_KEY, opts);
    assert.deepEqual(r, { ok: true, claims });
  });

  test("refuses a tampered payload or signature", () => {
    const [h, , s] = signer.sign(claims).split(".");
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: "x" })).toString("base64url");
    assert.deepEqual(verifyServiceAccountJwt(`${h ?? ""}.${forged}.${s ?? ""}`, PUBLIC_KEY, opts), {
      ok: false,
      reason: "BadSignature",
    });
    const other = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({
      type: "pkcs1",
      format: "pem",
    });
    const foreign = new JwtSigner(other.toString()).sign(claims);
    assert.equal(verifyServiceAccountJwt(foreign, PUBLIC_KEY, opts).ok, false);
    assert.deepEqual(verifyServiceAccountJwt("a.b", PUBLIC_KEY, opts), {
      ok: false,
      reason: "Malformed",
    });
  });

  test("refuses an expired token (after the 60 s leeway) and a wrong audience", () => {
    const t = signer.sign(claims);
    assert.equal(
      verifyServiceAccountJwt(t, PUBLIC_KEY, { ...opts, nowMs: NOW + 3_659_000 }).ok,
      true,
    );
    assert.deepEqual(verifyServiceAccountJwt(t, PUBLIC_KEY, { ...opts, nowMs: NOW + 3_661_000 }), {
      ok: false,
      reason: "Expired",
    });
    const wrongAud = signer.sign({ ...claims, aud: ["vault"] });
    assert.deepEqual(verifyServiceAccountJwt(wrongAud, PUBLIC_KEY, opts), {
      ok: false,
      reason: "WrongAudience",
    });
  });
});

describe("TokenRequest (serviceaccounts/<name>/token)", () => {
  test("issues a JWT with upstream claims and expiration", async () => {
    const { call } = await setup();
    const sa = body<Pod>(await call("GET", `${NS}/serviceaccounts/default`));
    const r = await call("POST", `${NS}/serviceaccounts/default/token`, {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: {},
    });
    assert.equal(r.status, 201);
    const tr = body<TokenRequest>(r);
    assert.equal(tr.kind, "TokenRequest");
    assert.equal(tr.apiVersion, "authentication.k8s.io/v1");
    assert.deepEqual(tr.spec, { audiences: [SERVICE_ACCOUNT_ISSUER], expirationSeconds: 3600 });
    assert.equal(tr.status.expirationTimestamp, "2025-01-01T01:00:00Z");
    const c = claimsOf(tr.status.token);
    assert.equal(c["iss"], SERVICE_ACCOUNT_ISSUER);
    assert.equal(c["sub"], "system:serviceaccount:default:default");
    assert.deepEqual(c["aud"], [SERVICE_ACCOUNT_ISSUER]);
    assert.equal(c["iat"], NOW / 1000);
    assert.equal(c["nbf"], NOW / 1000);
    assert.equal(c["exp"], NOW / 1000 + 3600);
    assert.deepEqual(c["kubernetes.io"], {
      namespace: "default",
      serviceaccount: { name: "default", uid: sa.metadata.uid },
    });
    const v = verifyServiceAccountJwt(tr.status.token, PUBLIC_KEY, {
      nowMs: NOW,
      audiences: [SERVICE_ACCOUNT_ISSUER],
    });
    assert.equal(v.ok, true);
  });

  test("binds the token to a pod and keeps requested audiences", async () => {
    const { call } = await setup();
    const p = body<Pod>(await call("POST", `${NS}/pods`, pod("web")));
    const r = await call("POST", `${NS}/serviceaccounts/default/token`, {
      spec: {
        audiences: ["api", "vault"],
        expirationSeconds: 3607,
        boundObjectRef: { kind: "Pod", apiVersion: "v1", name: "web", uid: p.metadata.uid },
      },
    });
    assert.equal(r.status, 201);
    const tr = body<TokenRequest>(r);
    assert.deepEqual(tr.spec.audiences, ["api", "vault"]);
    assert.equal(tr.spec.expirationSeconds, 3607);
    const k = claimsOf(tr.status.token)["kubernetes.io"] as Record<string, unknown>;
    assert.deepEqual(k["pod"], { name: "web", uid: p.metadata.uid });
  });

  test("answers 404 for a missing ServiceAccount or bound pod, 409 for a stale pod uid", async () => {
    const { call } = await setup();
    const r1 = await call("POST", `${NS}/serviceaccounts/nope/token`, { spec: {} });
    assert.equal(r1.status, 404);
    assert.equal(body<Status>(r1).message, 'serviceaccounts "nope" not found');
    const r2 = await call("POST", `${NS}/serviceaccounts/default/token`, {
      spec: { boundObjectRef: { kind: "Pod", name: "gone" } },
    });
    assert.equal(r2.status, 404);
    assert.equal(body<Status>(r2).message, 'pods "gone" not found');
    await call("POST", `${NS}/pods`, pod("web"));
    const r3 = await call("POST", `${NS}/serviceaccounts/default/token`, {
      spec: { boundObjectRef: { kind: "Pod", name: "web", uid: "old" } },
    });
    assert.equal(r3.status, 409);
  });

  test("rejects expirationSeconds below ten minutes as Invalid", async () => {
    const { call } = await setup();
    const r = await call("POST", `${NS}/serviceaccounts/default/token`, {
      spec: { expirationSeconds: 599 },
    });
    assert.equal(r.status, 422);
    assert.match(body<Status>(r).message ?? "", /may not specify a duration less than 10 minutes/);
  });

  test("answers 404 when no signing key is configured", async () => {
    const { call } = await setup({ withKey: false });
    const r = await call("POST", `${NS}/serviceaccounts/default/token`, { spec: {} });
    assert.equal(r.status, 404);
  });
});

describe("ServiceAccount admission (PL-VOL-12)", () => {
  test("PL-VOL-12 injects kube-api-access-<suffix> into every container and init container", async () => {
    const { call } = await setup();
    const r = await call("POST", `${NS}/pods`, pod("web"));
    assert.equal(r.status, 201);
    const p = body<Pod>(r);
    const vols = p.spec.volumes ?? [];
    assert.equal(vols.length, 1);
    const v = vols[0];
    assert.ok(v !== undefined);
    assert.match(v.name, /^kube-api-access-[a-z0-9]{5}$/);
    assert.deepEqual(v.projected, {
      defaultMode: 420,
      sources: [
        { serviceAccountToken: { expirationSeconds: 3607, path: "token" } },
        { configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] } },
        {
          downwardAPI: {
            items: [
              {
                path: "namespace",
                fieldRef: { apiVersion: "v1", fieldPath: "metadata.namespace" },
              },
            ],
          },
        },
      ],
    });
    const mount = { name: v.name, readOnly: true, mountPath: SERVICE_ACCOUNT_MOUNT_PATH };
    assert.deepEqual(p.spec.containers[0]?.volumeMounts, [mount]);
    assert.deepEqual(p.spec.initContainers?.[0]?.volumeMounts, [mount]);
    assert.equal(p.spec.serviceAccountName, "default");
  });

  test("PL-VOL-12 does not inject when automountServiceAccountToken is false on the pod or SA", async () => {
    const { call } = await setup();
    const r1 = await call(
      "POST",
      `${NS}/pods`,
      pod("a", (p) => {
        p.spec.automountServiceAccountToken = false;
      }),
    );
    assert.equal(body<Pod>(r1).spec.volumes, undefined);
    await call("POST", `${NS}/serviceaccounts`, {
      metadata: { name: "quiet" },
      automountServiceAccountToken: false,
    });
    const r2 = await call(
      "POST",
      `${NS}/pods`,
      pod("b", (p) => {
        p.spec.serviceAccountName = "quiet";
      }),
    );
    assert.equal(r2.status, 201);
    assert.equal(body<Pod>(r2).spec.volumes, undefined);
    // The pod's own setting wins over the ServiceAccount's.
    const r3 = await call(
      "POST",
      `${NS}/pods`,
      pod("c", (p) => {
        p.spec.serviceAccountName = "quiet";
        p.spec.automountServiceAccountToken = true;
      }),
    );
    assert.equal(body<Pod>(r3).spec.volumes?.length, 1);
  });

  test("rejects a pod whose ServiceAccount does not exist (403)", async () => {
    const { call } = await setup();
    const r = await call(
      "POST",
      `${NS}/pods`,
      pod("x", (p) => {
        p.spec.serviceAccountName = "ghost";
      }),
    );
    assert.equal(r.status, 403);
    assert.equal(
      body<Status>(r).message,
      'pods "x" is forbidden: error looking up service account default/ghost: serviceaccount "ghost" not found',
    );
  });

  test("updates and ephemeral containers do not re-inject", async () => {
    const { call } = await setup();
    const created = body<Pod>(await call("POST", `${NS}/pods`, pod("web")));
    const upd = structuredClone(created);
    upd.metadata.labels = { a: "b" };
    const r = await call("PUT", `${NS}/pods/web`, upd);
    assert.equal(r.status, 200);
    assert.deepEqual(body<Pod>(r).spec.volumes, created.spec.volumes);
    const eph = structuredClone(body<Pod>(r));
    eph.spec.ephemeralContainers = [{ name: "dbg", image: "busybox" }];
    const r2 = await call("PUT", `${NS}/pods/web/ephemeralcontainers`, eph);
    assert.equal(r2.status, 200);
    const after = body<Pod>(r2);
    assert.equal(after.spec.volumes?.length, 1);
    assert.equal(after.spec.ephemeralContainers?.[0]?.volumeMounts, undefined);
  });

  test("keeps a user's own mount at the token path and adds no volume then", () => {
    const p = pod("web", (x) => {
      x.spec.initContainers = [];
      x.spec.containers[0] = {
        name: "c1",
        volumeMounts: [{ name: "mine", mountPath: SERVICE_ACCOUNT_MOUNT_PATH }],
      };
      x.spec.volumes = [{ name: "mine", emptyDir: {} }];
    });
    assert.equal(injectServiceAccountToken(p, { metadata: { name: "default" } }, "abcde"), false);
    assert.deepEqual(p.spec.volumes, [{ name: "mine", emptyDir: {} }]);
  });
});
