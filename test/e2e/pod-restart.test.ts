// Issue 4 acceptance: the agent is killed with SIGKILL while 20 pods run (some crash-looping in
// back-off, one terminating) and started again on the same data dir. Running containers must be
// adopted, not restarted; the terminating pod must finish; restart counts must carry over.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startCluster, type Cluster } from "./harness.js";

const SLEEP = "trap 'exit 0' TERM; while true; do sleep 1; done";
const sh = (script: string): string => JSON.stringify(["sh", "-c", script]);

interface PodView {
  metadata: { name: string; deletionTimestamp?: string };
  status: {
    phase?: string;
    containerStatuses?: {
      containerID?: string;
      restartCount: number;
      state?: { running?: object };
    }[];
  };
}

describe("agent restart", () => {
  let c: Cluster;
  before(async () => {
    // A long back-off keeps the crash-looping pods in back-off across the restart.
    c = await startCluster({
      args: ["--backoff-initial-ms", "60000", "--backoff-max-ms", "120000"],
    });
  });
  after(async () => {
    await c.stop();
  });

  const pods = async (): Promise<Map<string, PodView>> => {
    const out = await c.k(["get", "pods", "-o", "json"]);
    const list = JSON.parse(out) as { items: PodView[] };
    return new Map(list.items.map((p) => [p.metadata.name, p]));
  };

  test("kill -9 with 20 pods (3 in back-off, 1 terminating): nothing restarted, terminating pod finishes", async () => {
    const docs: string[] = [];
    for (let i = 0; i < 16; i++)
      docs.push(`
apiVersion: v1
kind: Pod
metadata: {name: run${String(i)}}
spec:
  containers: [{name: app, image: busybox:1.28, command: ${sh(SLEEP)}}]`);
    for (let i = 0; i < 3; i++)
      docs.push(`
apiVersion: v1
kind: Pod
metadata: {name: crash${String(i)}}
spec:
  containers: [{name: app, image: busybox:1.28, command: ['sh', '-c', 'exit 1']}]`);
    docs.push(`
apiVersion: v1
kind: Pod
metadata: {name: slowstop}
spec:
  terminationGracePeriodSeconds: 60
  containers: [{name: app, image: busybox:1.28, command: ${sh("trap 'sleep 8; exit 0' TERM; while true; do sleep 1; done")}}]`);
    await c.k(["apply", "-f", "-"], { input: docs.join("\n---") });

    // Running pods up, crash pods restarted once and now waiting out a 60 s back-off.
    const deadline = Date.now() + 150_000;
    for (;;) {
      const ps = await pods();
      const ok = [...ps.values()].every((p) => {
        const cs = p.status.containerStatuses?.[0];
        if (p.metadata.name.startsWith("crash"))
          return cs?.restartCount === 1 && cs.state?.running === undefined;
        return p.status.phase === "Running" && cs?.state?.running !== undefined;
      });
      if (ps.size === 20 && ok) break;
      if (Date.now() > deadline) throw new Error("pods did not settle");
      await new Promise((r) => setTimeout(r, 500));
    }
    await c.k(["delete", "pod", "slowstop", "--wait=false"]);
    // Give the kubelet a moment to send SIGTERM (the container then takes 8 s to stop).
    await new Promise((r) => setTimeout(r, 2000));
    const before = await pods();

    await c.kill("SIGKILL");
    await c.restart();

    // The terminating pod finishes and disappears.
    const gone = Date.now() + 90_000;
    while ((await c.kubectl(["get", "pod", "slowstop"])).code === 0) {
      if (Date.now() > gone) throw new Error("slowstop was not removed after the restart");
      await new Promise((r) => setTimeout(r, 500));
    }
    // Let the restarted kubelet sync every pod at least once more.
    await new Promise((r) => setTimeout(r, 5000));
    const afterRestart = await pods();
    for (const [name, p] of before) {
      if (name === "slowstop") continue;
      const was = p.status.containerStatuses?.[0];
      const now = afterRestart.get(name)?.status.containerStatuses?.[0];
      assert.ok(was !== undefined && now !== undefined, `${name} statuses`);
      if (name.startsWith("run")) {
        assert.equal(now.containerID, was.containerID, `${name} container ID`);
        assert.equal(now.restartCount, 0, `${name} restartCount`);
        assert.ok(now.state?.running !== undefined, `${name} running`);
      } else {
        // The crash-loop back-off is kept in memory, as upstream: after a restart the container
        // may start once more, but its count continues from where it was.
        assert.ok(
          now.restartCount >= was.restartCount && now.restartCount <= was.restartCount + 1,
          `${name} restartCount ${String(was.restartCount)} → ${String(now.restartCount)}`,
        );
      }
    }
  });
});
