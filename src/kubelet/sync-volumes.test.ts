import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import type { Pod } from "../api/index.js";
import { FakeImageService, FakeRuntime } from "../runtime/index.js";
import { BackOff, FakeClock, nullLogger } from "../util/index.js";
import { PodSyncer, type PodVolumes } from "./sync.js";
import { FakeKubeletClient, FakeRecorder } from "./testing/fake-client.js";
import { basePod, FakeProbeResults } from "./testing/fixtures.js";

class Prober extends FakeProbeResults {
  updatePod(): void {
    // Probes are not under test here.
  }
  removePod(): void {
    // Probes are not under test here.
  }
}

function harness(t: TestContext, failRefresh: { on: boolean }) {
  const dir = mkdtempSync(join(tmpdir(), "kubelet-syncvol-"));
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const calls: string[] = [];
  const volumes: PodVolumes = {
    setUp: (pod) => {
      calls.push(`setUp ${pod.metadata.name ?? ""}`);
      return Promise.resolve();
    },
    refresh: (pod) => {
      calls.push(`refresh ${pod.metadata.name ?? ""}`);
      return failRefresh.on
        ? Promise.reject(new Error('configmap "cfg" not found'))
        : Promise.resolve();
    },
    mountsFor: () => [],
    tearDown: (uid) => {
      calls.push(`tearDown ${uid}`);
      return Promise.resolve();
    },
  };
  const clock = new FakeClock();
  const runtime = new FakeRuntime({ clock });
  const images = new FakeImageService();
  images.addImage("busybox:1.36");
  const client = new FakeKubeletClient();
  const recorder = new FakeRecorder();
  const syncer = new PodSyncer({
    runtime,
    images,
    client,
    recorder,
    clock,
    logger: nullLogger,
    volumes,
    prober: new Prober(),
    backoff: new BackOff({ clock, initialMs: 10_000, maxMs: 300_000 }),
    imageBackoff: new BackOff({ clock, initialMs: 10_000, maxMs: 300_000 }),
    listServices: () => [],
    config: {
      nodeName: "node1",
      podsDir: join(dir, "pods"),
      logRoot: join(dir, "logs"),
      cgroupRoot: "podrun",
      nodeIPs: ["192.168.1.10"],
      dns: {
        clusterDomain: "cluster.local",
        clusterDNS: ["10.96.0.10"],
        hostResolvConf: "nameserver 1.1.1.1\n",
        hostHosts: "127.0.0.1 localhost\n",
        nodeHostname: "node1",
      },
      nodeMemoryBytes: 8 * 1024 ** 3,
      nodeAllocatable: { cpu: 2, memoryBytes: 8 * 1024 ** 3, ephemeralStorageBytes: 0 },
    },
  });
  const sync = async (p: Pod) => {
    const fresh = client.pod("default", p.metadata.name ?? "") ?? p;
    return syncer.syncPod(fresh, new AbortController().signal);
  };
  return { calls, client, recorder, syncer, sync, runtime };
}

test("PL-VOL-8 later syncs refresh volumes instead of setting them up again", async (t) => {
  const h = harness(t, { on: false });
  const pod = await h.client.pods("default").create(basePod());
  await h.sync(pod);
  await h.sync(pod);
  await h.sync(pod);
  assert.deepEqual(h.calls, ["setUp web", "refresh web", "refresh web"]);
});

test("PL-VOL-8 a failed refresh is a FailedMount event but does not block the pod", async (t) => {
  const fail = { on: false };
  const h = harness(t, fail);
  const pod = await h.client.pods("default").create(basePod());
  await h.sync(pod);
  fail.on = true;
  const r = await h.sync(pod);
  assert.equal(r.ok, true);
  assert.ok(h.recorder.lines().includes('FailedMount: configmap "cfg" not found'));
  assert.ok(h.runtime.allContainers().some((c) => c.state === "running"));
});
