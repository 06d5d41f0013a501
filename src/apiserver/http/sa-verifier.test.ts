import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { FakeClock } from "../../util/index.js";
import { JwtSigner, SERVICE_ACCOUNT_ISSUER, type ServiceAccountClaims } from "../tokens.js";
import { RequestAuthenticator, ServiceAccountTokenVerifier } from "./auth.js";
import { ensureServiceAccountKey } from "./pki.js";

const NOW = Date.UTC(2025, 0, 1);
const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const KEY_PEM = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
const PUB_PEM = publicKey.export({ type: "spki", format: "pem" }).toString();

function claims(mutate: (c: ServiceAccountClaims) => void = () => undefined): ServiceAccountClaims {
  const c: ServiceAccountClaims = {
    iss: SERVICE_ACCOUNT_ISSUER,
    sub: "system:serviceaccount:team:builder",
    aud: [SERVICE_ACCOUNT_ISSUER],
    exp: NOW / 1000 + 3607,
    iat: NOW / 1000,
    nbf: NOW / 1000,
    jti: "id",
    "kubernetes.io": {
      namespace: "team",
      serviceaccount: { name: "builder", uid: "sa-uid" },
      pod: { name: "web", uid: "pod-uid" },
    },
  };
  mutate(c);
  return c;
}

function setup() {
  const clock = new FakeClock(NOW);
  const objects = {
    sa: new Map([["team/builder", "sa-uid"]]),
    pods: new Map([["team/web", "pod-uid"]]),
  };
  const verifier = new ServiceAccountTokenVerifier({
    publicKeyPem: PUB_PEM,
    clock,
    lookup: {
      serviceAccountUid: (ns, name) => Promise.resolve(objects.sa.get(`${ns}/${name}`)),
      podUid: (ns, name) => Promise.resolve(objects.pods.get(`${ns}/${name}`)),
    },
  });
  return { clock, objects, verifier, signer: new JwtSigner(KEY_PEM) };
}

describe("ServiceAccountTokenVerifier", () => {
  test("accepts a valid pod-bound token as the service account user", async () => {
    const { verifier, signer } = setup();
    assert.deepEqual(await verifier.verify(signer.sign(claims())), {
      username: "system:serviceaccount:team:builder",
      uid: "sa-uid",
      groups: ["system:serviceaccounts", "system:serviceaccounts:team", "system:authenticated"],
    });
  });

  test("refuses a tampered signature", async () => {
    const { verifier, signer } = setup();
    const t = signer.sign(claims());
    const last = t.at(-2) === "A" ? "B" : "A";
    assert.equal(await verifier.verify(`${t.slice(0, -2)}${last}${t.slice(-1)}`), undefined);
  });

  test("refuses an expired token once the clock passes exp", async () => {
    const { verifier, signer, clock } = setup();
    const t = signer.sign(claims());
    await clock.advance(3607_000 + 61_000);
    assert.equal(await verifier.verify(t), undefined);
  });

  test("refuses a token for another audience", async () => {
    const { verifier, signer } = setup();
    const t = signer.sign(
      claims((c) => {
        c.aud = ["https://vault.example"];
      }),
    );
    assert.equal(await verifier.verify(t), undefined);
  });

  test("refuses a token whose pod was deleted or recreated, or whose SA was recreated", async () => {
    const { verifier, signer, objects } = setup();
    const t = signer.sign(claims());
    objects.pods.set("team/web", "other-uid");
    assert.equal(await verifier.verify(t), undefined);
    objects.pods.delete("team/web");
    assert.equal(await verifier.verify(t), undefined);
    objects.pods.set("team/web", "pod-uid");
    assert.ok(await verifier.verify(t));
    objects.sa.set("team/builder", "new-sa");
    assert.equal(await verifier.verify(t), undefined);
  });

  test("leaves static tokens to other verifiers in RequestAuthenticator", async () => {
    const { verifier } = setup();
    const auth = new RequestAuthenticator({ tokenVerifiers: [verifier] });
    const r = await auth.authenticate({
      headers: { authorization: "Bearer not-a-jwt" },
      clientCertVerified: false,
    });
    assert.deepEqual(r, { type: "rejected" });
  });
});

describe("ensureServiceAccountKey", () => {
  test("creates sa.key and sa.pub once and reuses them", async () => {
    const dir = await mkdtemp(join(tmpdir(), "podrun-sa-"));
    try {
      const a = await ensureServiceAccountKey(dir);
      const b = await ensureServiceAccountKey(dir);
      assert.equal(a.privateKeyPem, b.privateKeyPem);
      assert.equal(await readFile(join(dir, "pki", "sa.pub"), "utf8"), a.publicKeyPem);
      assert.match(a.publicKeyPem, /BEGIN PUBLIC KEY/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
