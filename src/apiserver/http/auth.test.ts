import assert from "node:assert/strict";
import { test } from "node:test";
import type { UserInfo } from "../../api/index.js";
import {
  isPublicPath,
  RequestAuthenticator,
  StaticTokenVerifier,
  type TokenVerifier,
} from "./auth.js";

const admin: UserInfo = { username: "admin", groups: ["system:masters"] };

class FakeJwtVerifier implements TokenVerifier {
  verify(token: string): Promise<UserInfo | undefined> {
    return Promise.resolve(
      token.startsWith("jwt.")
        ? { username: "system:serviceaccount:default:sa", groups: ["system:serviceaccounts"] }
        : undefined,
    );
  }
}

const auth = new RequestAuthenticator({
  tokenVerifiers: [new StaticTokenVerifier({ t0k3n: admin }), new FakeJwtVerifier()],
});

test("bearer tokens are tried against each verifier in order", async () => {
  assert.deepEqual(
    await auth.authenticate({
      headers: { authorization: "Bearer t0k3n" },
      clientCertVerified: false,
    }),
    {
      type: "user",
      user: { username: "admin", groups: ["system:masters", "system:authenticated"] },
    },
  );
  const sa = await auth.authenticate({
    headers: { authorization: "Bearer jwt.abc" },
    clientCertVerified: false,
  });
  assert.equal(sa.type === "user" ? sa.user.username : "", "system:serviceaccount:default:sa");
});

test("an unknown token or a non-bearer scheme is rejected, even with a client cert", async () => {
  for (const authorization of ["Bearer wrong", "Basic YTpi", "Bearer"]) {
    const r = await auth.authenticate({
      headers: { authorization },
      clientCertVerified: true,
      clientCertSubject: { CN: "admin" },
    });
    assert.deepEqual(r, { type: "rejected" }, authorization);
  }
});

test("verified client certificates map CN to user and O to groups; unverified are anonymous", async () => {
  const r = await auth.authenticate({
    headers: {},
    clientCertVerified: true,
    clientCertSubject: { CN: "node1", O: ["system:nodes", "x"] },
  });
  assert.deepEqual(r, {
    type: "user",
    user: { username: "node1", groups: ["system:nodes", "x", "system:authenticated"] },
  });
  assert.deepEqual(
    await auth.authenticate({
      headers: {},
      clientCertVerified: false,
      clientCertSubject: { CN: "admin" },
    }),
    { type: "anonymous" },
  );
});

test("only health and version paths are public", () => {
  for (const p of ["/healthz", "/livez", "/readyz", "/readyz/ping", "/version"])
    assert.ok(isPublicPath(p), p);
  for (const p of ["/api", "/apis", "/healthzz", "/openapi/v3", "/api/v1/pods"])
    assert.ok(!isPublicPath(p), p);
});
