import { test } from "node:test";
import assert from "node:assert/strict";
import type { Pod } from "../../api/index.js";
import type { ContainerId, ExecResult } from "../../runtime/index.js";
import { FakeClock, nullLogger } from "../../util/index.js";
import { ProberManager } from "./index.js";
import type { ProbeExec } from "./probes.js";

const ID = "c1".padEnd(64, "0") as ContainerId;

/** A ProbeExec whose calls stay pending until `release` answers them all. */
class BlockingExec implements ProbeExec {
  readonly pending: (() => void)[] = [];
  execSync(): Promise<ExecResult> {
    return new Promise((resolve) => {
      this.pending.push(() => {
        resolve({ exitCode: 0, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), timedOut: false });
      });
    });
  }
  release(): void {
    for (const r of this.pending.splice(0)) r();
  }
}

test("ProberManager.run settles when stopped while a probe is in flight", async () => {
  const clock = new FakeClock();
  const exec = new BlockingExec();
  const prober = new ProberManager({
    exec,
    clock,
    logger: nullLogger,
    recorder: { event: () => undefined },
    onResult: () => undefined,
    random: () => 0,
  });
  const pod: Pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web", namespace: "default", uid: "uid-1" },
    spec: {
      containers: [
        { name: "app", readinessProbe: { exec: { command: ["check"] }, periodSeconds: 1 } },
      ],
    },
  };
  prober.updatePod(pod, [{ name: "app", id: ID, state: "running", startedAtMs: clock.now() }], "");
  const ac = new AbortController();
  const running = prober.run(ac.signal);
  while (exec.pending.length === 0) await new Promise<void>((r) => setImmediate(r));
  // The stop arrives while the worker is not waiting on the timer wheel; once the probe
  // answers, the worker must not park on a wheel that no longer turns.
  ac.abort();
  exec.release();
  const settled = { done: false };
  // Observed through `settled` by the loop below (a hang must fail the test, not time it out).
  void running.then(() => {
    settled.done = true;
  });
  for (let i = 0; i < 20 && !settled.done; i++) await new Promise<void>((r) => setImmediate(r));
  assert.equal(settled.done, true);
});
