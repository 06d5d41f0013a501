// Issue 2 acceptance: the official JavaScript client (@kubernetes/client-node), unchanged —
// create, list, watch (re-listing after a 410), patch and delete pods.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { ROOT, startCluster, type Cluster } from "./harness.js";

const DRIVER = path.join(ROOT, "test/e2e/fixtures/client-node-driver.ts");

describe("@kubernetes/client-node against podrun", () => {
  let c: Cluster;
  before(async () => {
    // A short watch history, so that an old resourceVersion is quickly compacted away.
    c = await startCluster({ args: ["--watch-history", "20"] });
  });
  after(async () => {
    await c.stop();
  });

  const drive = async (scenario: string): Promise<Record<string, unknown>> => {
    const r = await c.inNetns("node", ["--import", "tsx", DRIVER, c.kubeconfig, scenario], {
      timeoutMs: 90_000,
    });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };

  test("create, list, patch, delete, and an informer that sees each change", async () => {
    const r = await drive("crud");
    assert.equal(r["createdUid"], true);
    assert.deepEqual(r["listed"], ["cn-1"]);
    assert.equal(r["patchedLabel"], "yes");
    const events = r["events"] as string[];
    assert.ok(events.includes("add cn-1"), events.join(", "));
    assert.ok(events.includes("update cn-1 patched"), events.join(", "));
    assert.ok(events.includes("delete cn-1"), events.join(", "));
  });

  test("a watch from a compacted resourceVersion gets 410 Expired; re-list and watch go on", async () => {
    // Enough writes to push revision 1 out of the 20-revision history.
    for (let i = 0; i < 25; i++)
      await c.k(["create", "configmap", `filler-${i}`, "--from-literal=a=b"]);
    const r = await drive("relist");
    assert.deepEqual((r["errors"] as { code: number }[])[0]?.code, 410);
    assert.equal(r["relistedRv"], true);
    assert.deepEqual(r["added"], ["after-relist"]);
  });
});
