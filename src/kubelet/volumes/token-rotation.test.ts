import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test, type TestContext } from "node:test";
import type { Pod } from "../../api/index.js";
import { FakeClock, nullLogger } from "../../util/index.js";
import { VolumeManager } from "./index.js";
import { FakeMounter } from "./testing/fake-mounter.js";

const T0 = Date.UTC(2025, 0, 1);
const signal = new AbortController().signal;

/** A JWT-shaped token (unsigned) with the given iat/exp, as the API server answers. */
function jwt(n: number, iatMs: number, expMs: number): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${part({ alg: "RS256" })}.${part({ n, iat: iatMs / 1000, exp: expMs / 1000 })}.sig`;
}

function setup(t: TestContext) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podrun-tok-"));
  t.after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const clock = new FakeClock(T0);
  const issued: string[] = [];
  const vm = new VolumeManager({
    podsDir: path.join(dir, "pods"),
    logger: nullLogger,
    clock,
    mounter: new FakeMounter(),
    sources: {
      getConfigMap: () => Promise.resolve(undefined),
      getSecret: () => Promise.resolve(undefined),
      serviceAccountToken: (_pod, _aud, exp) => {
        const now = clock.now();
        const tok = jwt(issued.length + 1, now, now + exp * 1000);
        issued.push(tok);
        return Promise.resolve(tok);
      },
    },
  });
  const pod: Pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web", namespace: "team", uid: "uid-1" },
    spec: {
      containers: [{ name: "app" }],
      volumes: [
        {
          name: "kube-api-access-abcde",
          projected: {
            sources: [{ serviceAccountToken: { path: "token", expirationSeconds: 3600 } }],
          },
        },
      ],
    },
  };
  const tokenFile = path.join(
    dir,
    "pods/uid-1/volumes/kubernetes.io~projected/kube-api-access-abcde/token",
  );
  return { vm, clock, issued, pod, read: () => fs.readFileSync(tokenFile, "utf8") };
}

test("PL-VOL-12 refresh keeps the token until 80% of its lifetime, then rotates it", async (t) => {
  const e = setup(t);
  await e.vm.setUp(e.pod, signal);
  assert.equal(e.issued.length, 1);
  assert.equal(e.read(), e.issued[0]);
  await e.clock.advance(0.79 * 3600_000);
  await e.vm.refresh(e.pod, signal);
  await e.vm.setUp(e.pod, signal);
  assert.equal(e.issued.length, 1, "no new TokenRequest before 80% of the lifetime");
  await e.clock.advance(0.02 * 3600_000);
  await e.vm.refresh(e.pod, signal);
  assert.equal(e.issued.length, 2);
  assert.equal(e.read(), e.issued[1]);
});

test("PL-VOL-12 tearDown forgets the pod's tokens", async (t) => {
  const e = setup(t);
  await e.vm.setUp(e.pod, signal);
  await e.vm.tearDown("uid-1");
  await e.vm.setUp(e.pod, signal);
  assert.equal(e.issued.length, 2);
});
