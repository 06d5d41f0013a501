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

function harness(
  t: TestContext,
  failRefresh: { on: boolean },
  overLimit: { message?: string } = {},
  failSetUp: { on: boolean } = { on: false },
) {
  const dir = mkdtempSync(join(tmpdir(), "kubelet-syncvol-"));
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const calls: string[] = [];
  const volumes: PodVolumes = {
    setUp: (pod) => {
      calls.push(`setUp ${pod.metadata.name ?? ""}`);
      return failSetUp.on
        ? Promise.reject(new Error('configmap "cfg" not found'))
        : Promise.resolve();
    },
    refresh: (pod) => {
      calls.push(`refresh ${pod.metadata.name ?? ""}`);
      return failRefresh.on
        ? Promise.reject(new Error('configmap "cfg" not found'))
        : Promise.resolve();
    },
    mountsFor: () => [],
    emptyDirLimitExceeded: () =>
      Promise.resolve(overLimit.message === undefined ? undefined : { message: overLimit.message }),
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

test("PL-VOL-2 volumes failing on the first start: FailedMount, no sandbox left, no IP", async (t) => {
  // The first sandbox is made while the volumes are set up; their failure removes it again,
  // so the pod looks as upstream shows it: ContainerCreating without a pod IP.
  const failSetUp = { on: true };
  const h = harness(t, { on: false }, {}, failSetUp);
  const pod = await h.client.pods("default").create(basePod());
  const r = await h.sync(pod);
  assert.equal(r.ok, false);
  assert.ok(h.recorder.lines().includes('FailedMount: configmap "cfg" not found'));
  assert.deepEqual(h.runtime.allSandboxes(), []);
  assert.deepEqual(h.runtime.allContainers(), []);
  const st = h.client.pod("default", "web")?.status;
  assert.equal(st?.podIP, undefined);
  assert.equal(st?.containerStatuses?.[0]?.state?.waiting?.reason, "ContainerCreating");
  // Once the volumes can be set up, the pod starts.
  failSetUp.on = false;
  assert.equal((await h.sync(pod)).ok, true);
  assert.ok(h.runtime.allContainers().some((c) => c.state === "running"));
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

test("PL-VOL-3 an emptyDir over its sizeLimit evicts the pod: Failed, Evicted, 1 s grace", async (t) => {
  const over: { message?: string } = {};
  const h = harness(t, { on: false }, over);
  const p = basePod();
  p.spec.volumes = [{ name: "scratch", emptyDir: { sizeLimit: "1Mi" } }];
  const pod = await h.client.pods("default").create(p);
  const first = await h.sync(pod);
  // Usage is checked again within the eviction interval even with a long resync period.
  assert.ok(first.requeueAfterMs !== undefined && first.requeueAfterMs <= 10_000);
  over.message = 'Usage of EmptyDir volume "scratch" exceeds the limit "1Mi". ';
  const r = await h.sync(pod);
  assert.equal(r.isTerminal, true);
  assert.ok(h.recorder.lines().includes(`Evicted: ${over.message}`));
  const fresh = h.client.pod("default", "web") ?? pod;
  await h.syncer.terminatePod(fresh, {}, new AbortController().signal);
  const st = h.client.pod("default", "web")?.status;
  assert.equal(st?.phase, "Failed");
  assert.equal(st.reason, "Evicted");
  assert.equal(st.message, over.message);
  assert.ok(h.runtime.allContainers().every((c) => c.state !== "running"));
});
