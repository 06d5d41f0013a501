import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { parse } from "yaml";
import { FakeClock } from "../../util/index.js";
import { certificateNames, DEFAULT_SERVING_NAMES, ensurePki, writeKubeconfig } from "./pki.js";

describe("ensurePki", () => {
  let dir: string;
  const clock = new FakeClock(Date.parse("2026-01-01T00:00:00Z"));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "podrun-pki-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("generates a CA, a serving cert with the cluster names and an admin cert; reuses them", async () => {
    const pki = await ensurePki({ dataDir: dir, nodeIps: ["192.168.1.5"], clock });
    const ca = new X509Certificate(pki.caCertPem);
    const serving = new X509Certificate(pki.serverCertPem);
    const admin = new X509Certificate(pki.adminCertPem);
    assert.ok(ca.ca);
    assert.ok(serving.verify(ca.publicKey));
    assert.ok(admin.verify(ca.publicKey));
    assert.ok(serving.checkIP("127.0.0.1"));
    assert.ok(serving.checkIP("10.96.0.1"));
    assert.ok(serving.checkIP("192.168.1.5"));
    assert.equal(
      serving.checkHost("kubernetes.default.svc.cluster.local"),
      "kubernetes.default.svc.cluster.local",
    );
    assert.deepEqual(
      certificateNames(pki.serverCertPem).sort(),
      [...DEFAULT_SERVING_NAMES, "192.168.1.5"].sort(),
    );
    assert.match(admin.subject, /CN=admin/);
    assert.match(admin.subject, /O=system:masters/);
    assert.ok(pki.adminToken.length >= 32);
    assert.equal((await stat(join(dir, "pki", "ca.key"))).mode & 0o777, 0o600);

    const again = await ensurePki({ dataDir: dir, nodeIps: ["192.168.1.5"], clock });
    assert.deepEqual(again, pki);
  });

  test("re-issues only the serving cert when a node IP is added", async () => {
    const before = await ensurePki({ dataDir: dir, clock });
    const after = await ensurePki({ dataDir: dir, nodeIps: ["10.0.0.9"], clock });
    assert.equal(after.caCertPem, before.caCertPem);
    assert.equal(after.adminToken, before.adminToken);
    assert.notEqual(after.serverCertPem, before.serverCertPem);
    assert.ok(new X509Certificate(after.serverCertPem).checkIP("10.0.0.9"));
  });

  test("writeKubeconfig writes server, CA data, token and client cert", async () => {
    const pki = await ensurePki({ dataDir: dir, clock });
    const path = join(dir, "admin.kubeconfig");
    await writeKubeconfig(path, {
      server: "https://127.0.0.1:6443",
      caPem: pki.caCertPem,
      token: pki.adminToken,
      clientCertPem: pki.adminCertPem,
      clientKeyPem: pki.adminKeyPem,
    });
    const kc = parse(await readFile(path, "utf8")) as {
      clusters: { cluster: Record<string, string> }[];
      users: { user: Record<string, string> }[];
      "current-context": string;
    };
    assert.equal(kc.clusters[0]?.cluster["server"], "https://127.0.0.1:6443");
    assert.equal(
      Buffer.from(kc.clusters[0].cluster["certificate-authority-data"] ?? "", "base64").toString(),
      pki.caCertPem,
    );
    assert.equal(kc.users[0]?.user["token"], pki.adminToken);
    assert.equal(
      Buffer.from(kc.users[0].user["client-key-data"] ?? "", "base64").toString(),
      pki.adminKeyPem,
    );
    assert.equal(kc["current-context"], "podrun");
    assert.equal((await stat(path)).mode & 0o777, 0o600);
  });
});
