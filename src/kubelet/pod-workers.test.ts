import assert from "node:assert/strict";
import { test } from "node:test";
import type { Pod } from "../api/index.js";
import { FakeClock, nullLogger } from "../util/index.js";
import { PodWorkers, type PodLifecycleHandler } from "./pod-workers.js";
import { basePod } from "./testing/fixtures.js";

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await tick();
  assert.ok(cond(), "condition not reached");
}

class FakeHandler implements PodLifecycleHandler {
  log: string[] = [];
  gate: Promise<void> | undefined;
  terminal = false;
  async syncPod(pod: Pod, signal: AbortSignal): Promise<{ ok: boolean; isTerminal: boolean }> {
    this.log.push(`sync ${pod.metadata.resourceVersion ?? ""}`);
    if (this.gate !== undefined) {
      const gate = this.gate;
      await new Promise<void>((resolve, reject) => {
        signal.addEventListener("abort", () => {
          this.log.push("aborted");
          reject(new DOMException("aborted", "AbortError"));
        });
        void gate.then(resolve);
      });
    }
    return { ok: true, isTerminal: this.terminal };
  }
  terminatePod(
    pod: Pod,
    opts: { graceOverrideSeconds?: number; podGone?: boolean },
  ): Promise<void> {
    this.log.push(
      `terminate grace=${String(opts.graceOverrideSeconds)} gone=${String(opts.podGone)}`,
    );
    return Promise.resolve();
  }
  finishPod(): Promise<void> {
    this.log.push("finish");
    return Promise.resolve();
  }
  cleanupPod(uid: string): Promise<void> {
    this.log.push(`cleanup ${uid}`);
    return Promise.resolve();
  }
  shouldTerminate(): boolean {
    return false;
  }
}

function setup(): {
  h: FakeHandler;
  w: PodWorkers;
  clock: FakeClock;
  ac: AbortController;
  run: Promise<void>;
} {
  const h = new FakeHandler();
  const clock = new FakeClock();
  const w = new PodWorkers({ handler: h, clock, logger: nullLogger, resyncIntervalMs: 60_000 });
  const ac = new AbortController();
  const run = w.run(ac.signal);
  return { h, w, clock, ac, run };
}

const podV = (rv: string, mutate?: (p: Pod) => void): Pod =>
  basePod((p) => {
    p.metadata.resourceVersion = rv;
    mutate?.(p);
  });

test("PodWorkers: a newer update replaces a pending one, one sync in flight", async () => {
  const { h, w, ac, run } = setup();
  let release!: () => void;
  h.gate = new Promise((r) => (release = r));
  w.updatePod(podV("1"));
  await until(() => h.log.length === 1);
  w.updatePod(podV("2"));
  w.updatePod(podV("3"));
  h.gate = undefined;
  release();
  await until(() => h.log.length === 2);
  await tick();
  assert.deepEqual(h.log, ["sync 1", "sync 3"]);
  assert.equal(w.state("uid-1"), "syncing");
  ac.abort();
  await run;
});

test("PodWorkers: a status-only update replaces the pod without a sync pass", async () => {
  const { h, w, ac, run } = setup();
  assert.equal(w.updatePodStatusOnly(podV("1")), false, "no worker yet");
  w.updatePod(podV("1"));
  await until(() => h.log.length === 1);
  assert.equal(w.updatePodStatusOnly(podV("2")), true);
  for (let i = 0; i < 5; i++) await tick();
  assert.deepEqual(h.log, ["sync 1"]);
  // The next pass (a wake) sees the newest version.
  w.wake("uid-1");
  await until(() => h.log.length === 2);
  assert.deepEqual(h.log, ["sync 1", "sync 2"]);
  ac.abort();
  await run;
});

test("PodWorkers: deletion aborts the in-flight sync, terminates, then finishes", async () => {
  const { h, w, ac, run } = setup();
  h.gate = new Promise(() => undefined);
  w.updatePod(podV("1"));
  await until(() => h.log.length === 1);
  w.updatePod(podV("2", (p) => (p.metadata.deletionTimestamp = "2025-01-01T00:00:30Z")));
  await until(() => h.log.includes("finish"));
  assert.deepEqual(h.log, [
    "sync 1",
    "aborted",
    "terminate grace=undefined gone=undefined",
    "finish",
  ]);
  assert.equal(w.state("uid-1"), "terminated");
  w.updatePod(podV("3"));
  await tick();
  assert.equal(h.log.length, 4, "finished pods get no more syncs");
  ac.abort();
  await run;
});

test("PodWorkers: PL-TERM-3 a vanished pod is torn down with 1s grace and cleaned up", async () => {
  const { h, w, ac, run } = setup();
  w.updatePod(podV("1"));
  await until(() => h.log.length === 1);
  w.removePod("uid-1");
  await until(() => h.log.includes("cleanup uid-1"));
  assert.deepEqual(h.log, ["sync 1", "terminate grace=1 gone=true", "cleanup uid-1"]);
  ac.abort();
  await run;
});

test("PodWorkers: a terminal sync result moves the worker to termination", async () => {
  const { h, w, ac, run } = setup();
  h.terminal = true;
  w.updatePod(podV("1"));
  await until(() => h.log.includes("finish"));
  assert.deepEqual(h.log, ["sync 1", "terminate grace=undefined gone=undefined", "finish"]);
  ac.abort();
  await run;
});

test("PodWorkers: PL-RUN-12 requeues after the resync interval and on wake", async () => {
  const { h, w, clock, ac, run } = setup();
  w.updatePod(podV("1"));
  await until(() => h.log.length === 1 && clock.pendingSleepers > 0);
  await clock.advance(59_000);
  assert.equal(h.log.length, 1);
  await clock.advance(1000);
  await until(() => h.log.length === 2);
  w.wake("uid-1");
  await until(() => h.log.length === 3);
  ac.abort();
  await run;
});
