// Issue 4 acceptance: the default crash back-off steps (PL-BO-1, PL-BO-2), measured from the
// container status timestamps kubectl shows, on a cluster with the default 10 s / 300 s back-off.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startCluster, type Cluster } from "./harness.js";

/** Start and finish time (ms) of one container instance, by restart count. */
interface Instance {
  startedMs?: number | undefined;
  finishedMs?: number | undefined;
}

interface Terminated {
  startedAt?: string;
  finishedAt?: string;
}

interface ContainerStatusView {
  restartCount: number;
  image: string;
  state?: { terminated?: Terminated; running?: { startedAt?: string }; waiting?: object };
  lastState?: { terminated?: Terminated };
}

describe("crash back-off with defaults", () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster();
  });
  after(async () => {
    await c.stop();
  });

  const ms = (t: string | undefined): number | undefined =>
    t === undefined ? undefined : new Date(t).getTime();

  test("PL-BO-2 / PL-EDGE-11: first crash restarts at once, then after 10 s, then after 20 s; PL-EDGE-13: an image update restarts at once", async () => {
    await c.k(["apply", "-f", "-"], {
      input: `
apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  # Each instance lives ~2 s so that polling sees every start and finish; back-off is
  # measured from one instance's finish to the next one's start.
  containers: [{name: app, image: busybox:1.28, command: ['sh', '-c', 'sleep 2; exit 1']}]
`,
    });
    const seen = new Map<number, Instance>();
    const record = (n: number, t: Terminated | undefined): void => {
      if (t === undefined || n < 0) return;
      const i = seen.get(n) ?? {};
      i.startedMs ??= ms(t.startedAt);
      i.finishedMs ??= ms(t.finishedAt);
      seen.set(n, i);
    };
    const poll = async (): Promise<ContainerStatusView | undefined> => {
      const out = await c.k([
        "get",
        "pod",
        "crash",
        "-o",
        "jsonpath={.status.containerStatuses[0]}",
      ]);
      if (out === "") return undefined;
      const s = JSON.parse(out) as ContainerStatusView;
      record(s.restartCount, s.state?.terminated);
      if (s.state?.running?.startedAt !== undefined)
        record(s.restartCount, { startedAt: s.state.running.startedAt });
      // While waiting to restart, lastState is the newest instance (index = restartCount).
      record(
        s.state?.waiting === undefined ? s.restartCount - 1 : s.restartCount,
        s.lastState?.terminated,
      );
      return s;
    };
    const deadline = Date.now() + 90_000;
    // Instances 0..3 started and finished: three restarts (0 s, 10 s, 20 s).
    for (;;) {
      await poll();
      if (seen.get(3)?.finishedMs !== undefined && seen.get(2)?.finishedMs !== undefined) break;
      if (Date.now() > deadline) throw new Error(`restarts not seen: ${JSON.stringify([...seen])}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const gap = (n: number): number => {
      const start = seen.get(n)?.startedMs;
      const prevEnd = seen.get(n - 1)?.finishedMs;
      assert.ok(start !== undefined && prevEnd !== undefined, `instance ${String(n)} timestamps`);
      return (start - prevEnd) / 1000;
    };
    // Timestamps have second precision; the kubelet's resync adds a little latency.
    const gaps = [gap(1), gap(2), gap(3)];
    assert.ok(gaps[0] !== undefined && gaps[0] <= 2, `first restart after ${String(gaps[0])} s`);
    assert.ok(
      gaps[1] !== undefined && gaps[1] >= 9 && gaps[1] <= 14,
      `second restart after ${String(gaps[1])} s (${gaps.join(", ")})`,
    );
    assert.ok(
      gaps[2] !== undefined && gaps[2] >= 19 && gaps[2] <= 25,
      `third restart after ${String(gaps[2])} s (${gaps.join(", ")})`,
    );
    const ev = await c.k([
      "get",
      "events",
      "--field-selector",
      "involvedObject.name=crash,reason=BackOff",
      "-o",
      "jsonpath={.items[0].message}",
    ]);
    assert.match(ev, /^Back-off restarting failed container app in pod crash_default\(/);
    // Now in a 40 s back-off: a new image is a new back-off key, so it starts at once.
    const before = (await poll())?.restartCount ?? 0;
    const t0 = Date.now();
    await c.k(["set", "image", "pod/crash", "app=busybox:latest"]);
    for (;;) {
      const s = await poll();
      if (s !== undefined && s.restartCount > before && s.image.endsWith("busybox:latest")) break;
      if (Date.now() - t0 > 15_000) throw new Error("image update did not restart at once");
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(Date.now() - t0 < 15_000);
  });
});
