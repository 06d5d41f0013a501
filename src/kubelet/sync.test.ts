import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, test } from "node:test";
import type { Pod } from "../api/index.js";
import { FakeImageService, FakeRuntime, RuntimeError, type ContainerId } from "../runtime/index.js";
import { BackOff, FakeClock, nullLogger } from "../util/index.js";
import { PodSyncer, type PodProber } from "./sync.js";
import { FakeKubeletClient, FakeRecorder } from "./testing/fake-client.js";
import { basePod, FakeProbeResults } from "./testing/fixtures.js";

class FakeProber extends FakeProbeResults implements PodProber {
  updates = 0;
  removed: string[] = [];
  updatePod(): void {
    this.updates++;
  }
  removePod(uid: string): void {
    this.removed.push(uid);
  }
}

interface Harness {
  clock: FakeClock;
  runtime: FakeRuntime;
  images: FakeImageService;
  client: FakeKubeletClient;
  recorder: FakeRecorder;
  prober: FakeProber;
  syncer: PodSyncer;
  dir: string;
  backoff: BackOff;
  newSyncer(): PodSyncer;
}

let h: Harness;

function makeHarness(): Harness {
  const dir = mkdtempSync(join(tmpdir(), "kubelet-sync-"));
  const clock = new FakeClock();
  const runtime = new FakeRuntime({ clock });
  const images = new FakeImageService();
  const client = new FakeKubeletClient();
  const recorder = new FakeRecorder();
  const prober = new FakeProber();
  const backoff = new BackOff({ clock, initialMs: 10_000, maxMs: 300_000 });
  const newSyncer = (): PodSyncer =>
    new PodSyncer({
      runtime,
      images,
      client,
      recorder,
      clock,
      logger: nullLogger,
      volumes: {
        setUp: () => Promise.resolve(),
        mountsFor: () => [],
        tearDown: () => Promise.resolve(),
      },
      prober,
      backoff,
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
  return {
    dir,
    clock,
    runtime,
    images,
    client,
    recorder,
    prober,
    backoff,
    newSyncer,
    syncer: newSyncer(),
  };
}

beforeEach(() => {
  h = makeHarness();
});
afterEach(() => {
  rmSync(h.dir, { recursive: true, force: true });
});

async function createPod(mutate?: (p: Pod) => void): Promise<Pod> {
  h.images.addImage("busybox:1.36");
  return h.client.pods("default").create(basePod(mutate));
}

async function sync(
  pod: Pod,
): Promise<{ pod: Pod; ok: boolean; isTerminal: boolean; requeueAfterMs?: number }> {
  const fresh = h.client.pod("default", pod.metadata.name ?? "") ?? pod;
  const r = await h.syncer.syncPod(fresh, new AbortController().signal);
  return { ...r, pod: h.client.pod("default", pod.metadata.name ?? "") ?? fresh };
}

function running(name: string): ContainerId {
  const c = h.runtime.allContainers().find((x) => x.name === name && x.state === "running");
  assert.ok(c, `container ${name} should be running`);
  return c.id;
}

test("PodSyncer first sync creates the sandbox and container and reports Running", async () => {
  const pod = await createPod();
  const { pod: after, ok } = await sync(pod);
  assert.equal(ok, true);
  assert.equal(h.runtime.allSandboxes().length, 1);
  const id = running("app");
  const cfg = h.runtime.configOf(id);
  assert.equal(cfg.labels["io.kubernetes.pod.uid"], "uid-1");
  assert.equal(cfg.annotations["io.kubernetes.container.restartCount"], "0");
  assert.equal(cfg.logPath, join(h.dir, "logs", "default_web_uid-1", "app", "0.log"));
  const paths = cfg.mounts.map((m) => m.containerPath).sort();
  assert.deepEqual(paths, [
    "/dev/termination-log",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
  ]);
  assert.deepEqual(
    h.recorder.lines().filter((l) => !l.startsWith("DNS")),
    [
      'Pulled: Container image "busybox:1.36" already present on machine',
      "Created: Created container: app",
      "Started: Started container app",
    ],
  );
  const st = after.status;
  assert.equal(st?.phase, "Running");
  assert.equal(st.podIP, "10.244.0.2");
  assert.equal(st.hostIP, "192.168.1.10");
  assert.ok(st.startTime);
  const cs = st.containerStatuses?.[0];
  assert.equal(cs?.containerID, `podrun://${id}`);
  assert.equal(cs.image, "docker.io/library/busybox:1.36");
  assert.match(cs.imageID, /^docker\.io\/library\/busybox@sha256:[0-9a-f]{64}$/);
  assert.equal(cs.ready, true);
  assert.equal(cs.started, true);
  assert.deepEqual(
    st.conditions?.map((c) => `${c.type}=${c.status}`),
    [
      "PodReadyToStartContainers=True",
      "Initialized=True",
      "Ready=True",
      "ContainersReady=True",
      "PodScheduled=True",
    ],
  );
});

test("PL-ENV-1 the image's Env is the base environment and pod variables override it", async () => {
  h.images.addImage("busybox:1.36", { config: { env: ["PATH=/bin", "LANG=C", "MODE=image"] } });
  const pod = await h.client.pods("default").create(
    basePod((p) => {
      p.spec.containers[0]!.env = [{ name: "MODE", value: "pod" }];
    }),
  );
  await sync(pod);
  const env = h.runtime.configOf(running("app")).env;
  const get = (n: string): string | undefined => env.find((e) => e.name === n)?.value;
  assert.equal(get("PATH"), "/bin");
  assert.equal(get("LANG"), "C");
  assert.equal(get("MODE"), "pod");
  assert.equal(env.filter((e) => e.name === "MODE").length, 1);
});

test("PL-BO-2 first crash restarts at once, the second waits 10s with CrashLoopBackOff", async () => {
  const pod = await createPod();
  await sync(pod);
  h.runtime.exitContainer(running("app"), 1);
  await h.clock.advance(1000);
  let r = await sync(pod);
  const id2 = running("app");
  assert.equal(h.runtime.configOf(id2).annotations["io.kubernetes.container.restartCount"], "1");
  assert.equal(r.pod.status?.containerStatuses?.[0]?.restartCount, 1);
  assert.equal(r.pod.status.containerStatuses[0].lastState?.terminated?.exitCode, 1);

  h.runtime.exitContainer(id2, 1);
  await h.clock.advance(1000);
  r = await sync(pod);
  assert.equal(r.ok, false);
  const cs = r.pod.status?.containerStatuses?.[0];
  assert.deepEqual(cs?.state?.waiting, {
    reason: "CrashLoopBackOff",
    message: "back-off 10s restarting failed container=app pod=web_default(uid-1)",
  });
  assert.equal(cs.lastState?.terminated?.exitCode, 1);
  assert.ok(
    h.recorder
      .lines()
      .includes("BackOff: Back-off restarting failed container app in pod web_default(uid-1)"),
  );
  assert.equal(r.pod.status?.phase, "Running");
  // The worker is asked to retry when the back-off expires (10 s after the exit, 1 s ago).
  assert.equal(r.requeueAfterMs, 9000);

  await h.clock.advance(10_000);
  r = await sync(pod);
  assert.equal(r.ok, true);
  assert.equal(r.pod.status?.containerStatuses?.[0]?.restartCount, 2);
  assert.ok(r.pod.status.containerStatuses[0].state?.running);
});

test("PL-INIT-1 init containers run one at a time before the app", async () => {
  const pod = await createPod((p) => {
    p.spec.initContainers = [
      { name: "init1", image: "busybox:1.36" },
      { name: "init2", image: "busybox:1.36" },
    ];
  });
  let r = await sync(pod);
  assert.deepEqual(
    h.runtime.allContainers().map((c) => c.name),
    ["init1"],
  );
  assert.equal(r.pod.status?.phase, "Pending");
  assert.equal(r.pod.status.initContainerStatuses?.[1]?.state?.waiting?.reason, "PodInitializing");
  const initCond = r.pod.status.conditions?.find((c) => c.type === "Initialized");
  assert.equal(initCond?.message, "containers with incomplete status: [init1 init2]");

  h.runtime.exitContainer(running("init1"), 0);
  r = await sync(pod);
  running("init2");
  assert.equal(r.pod.status?.initContainerStatuses?.[0]?.ready, true);

  h.runtime.exitContainer(running("init2"), 0);
  r = await sync(pod);
  running("app");
  assert.equal(r.pod.status?.phase, "Running");
  assert.equal(r.pod.status.conditions?.find((c) => c.type === "Initialized")?.status, "True");
});

test("PL-IMG-5 pulls an absent image with Pulling/Pulled events", async () => {
  h.images.addRemote("nginx:1.27", { sizeBytes: 1234 });
  await h.client.pods("default").create(
    basePod((p) => {
      p.spec.containers[0]!.image = "nginx:1.27";
    }),
  );
  const r = await sync(basePod());
  running("app");
  const lines = h.recorder.lines();
  assert.equal(lines[0], 'Pulling: Pulling image "nginx:1.27"');
  assert.match(
    lines[1] ?? "",
    /^Pulled: Successfully pulled image "nginx:1\.27" in \S+ \(\S+ including waiting\)\. Image size: 1234 bytes\.$/,
  );
  assert.equal(r.pod.status?.containerStatuses?.[0]?.image, "docker.io/library/nginx:1.27");
});

test("PL-IMG-5/PL-BO-5 a failed pull gives ErrImagePull, then ImagePullBackOff", async () => {
  await h.client.pods("default").create(
    basePod((p) => {
      p.spec.containers[0]!.image = "nginx:doesnotexist";
    }),
  );
  let r = await sync(basePod());
  assert.equal(r.ok, false);
  assert.equal(r.pod.status?.containerStatuses?.[0]?.state?.waiting?.reason, "ErrImagePull");
  assert.ok(h.recorder.lines().includes("Failed: Error: ErrImagePull"));
  r = await sync(basePod());
  assert.deepEqual(r.pod.status?.containerStatuses?.[0]?.state?.waiting, {
    reason: "ImagePullBackOff",
    message: 'Back-off pulling image "nginx:doesnotexist"',
  });
  assert.equal(h.images.pulls.length, 1);
});

test("PL-IMG-2 an upper-case image is InvalidImageName without a pull", async () => {
  await h.client.pods("default").create(
    basePod((p) => {
      p.spec.containers[0]!.image = "Nginx";
    }),
  );
  const r = await sync(basePod());
  const w = r.pod.status?.containerStatuses?.[0]?.state?.waiting;
  assert.equal(w?.reason, "InvalidImageName");
  assert.equal(
    w.message,
    'Failed to apply default image tag "Nginx": couldn\'t parse image name "Nginx": invalid reference format: repository name (library/Nginx) must be lowercase',
  );
  assert.equal(h.images.pulls.length, 0);
});

test("PL-IMG-3 imagePullPolicy Never with an absent image is ErrImageNeverPull", async () => {
  await h.client.pods("default").create(
    basePod((p) => {
      p.spec.containers[0]!.image = "absent:1";
      p.spec.containers[0]!.imagePullPolicy = "Never";
    }),
  );
  const r = await sync(basePod());
  assert.deepEqual(r.pod.status?.containerStatuses?.[0]?.state?.waiting, {
    reason: "ErrImageNeverPull",
    message: 'Container image "absent:1" is not present with pull policy of Never',
  });
});

test("PL-CST-10 a start failure shows RunContainerError, then StartError in lastState", async () => {
  const pod = await createPod();
  h.runtime.failNext(
    "startContainer",
    new RuntimeError("Failed", 'exec: "/nonexistent": no such file'),
  );
  let r = await sync(pod);
  assert.equal(r.pod.status?.containerStatuses?.[0]?.state?.waiting?.reason, "RunContainerError");
  await h.clock.advance(1000);
  r = await sync(pod);
  // The retry right after the first failure is immediate (PL-BO-2), and succeeds here.
  const cs = r.pod.status?.containerStatuses?.[0];
  assert.equal(cs?.lastState?.terminated?.reason, "StartError");
  assert.equal(cs.lastState.terminated.exitCode, 128);
  assert.ok(cs.state?.running);
});

test("PL-PHASE-5 restartPolicy Never and exit 0 ends Succeeded and terminal", async () => {
  const pod = await createPod((p) => (p.spec.restartPolicy = "Never"));
  await sync(pod);
  h.runtime.exitContainer(running("app"), 0);
  const r = await sync(pod);
  assert.equal(r.isTerminal, true);
  assert.equal(r.pod.status?.phase, "Succeeded");
  assert.equal(r.pod.status.containerStatuses?.[0]?.state?.terminated?.reason, "Completed");
});

test("PL-TERM-12 the termination message file is read after exit", async () => {
  const pod = await createPod((p) => (p.spec.restartPolicy = "Never"));
  await sync(pod);
  const id = running("app");
  const file = h.runtime.configOf(id).annotations["podrun.io/termination-message-host-path"];
  assert.ok(file);
  const { writeFileSync } = await import("node:fs");
  writeFileSync(file, "x".repeat(5000) + "END");
  h.runtime.exitContainer(id, 1);
  const r = await sync(pod);
  const msg = r.pod.status?.containerStatuses?.[0]?.state?.terminated?.message ?? "";
  assert.equal(msg.length, 4096);
  assert.ok(msg.endsWith("END"));
});

test("PL-TERM-5/7 deletion stops containers with Killing events, then the pod is deleted", async () => {
  const pod = await createPod();
  await sync(pod);
  const id = running("app");
  const deleting = h.client.pod("default", "web")!;
  deleting.metadata.deletionTimestamp = "2025-01-01T00:00:30Z";
  deleting.metadata.deletionGracePeriodSeconds = 30;
  await h.syncer.terminatePod(deleting, {}, new AbortController().signal);
  assert.ok(h.recorder.lines().includes("Killing: Stopping container app"));
  const stop = h.runtime.callsOf("stopContainer")[0];
  assert.equal(stop?.[0], id);
  assert.equal(stop[1], 30_000);
  assert.ok(h.runtime.allSandboxes().every((s) => s.state === "notready"));
  const final = h.client.pod("default", "web")!;
  assert.equal(final.status?.phase, "Failed");
  assert.equal(final.status.containerStatuses?.[0]?.state?.terminated?.exitCode, 137);
  await h.syncer.finishPod(deleting, new AbortController().signal);
  assert.equal(h.client.pod("default", "web"), undefined);
  const del = h.client.podKind.writes.find((w) => w.verb === "delete");
  assert.deepEqual(
    { grace: (del?.body as { gracePeriodSeconds?: number }).gracePeriodSeconds },
    { grace: 0 },
  );
});

test("PL-SIDE-6 termination stops the app first, then sidecars in reverse order", async () => {
  const pod = await createPod((p) => {
    p.spec.initContainers = [
      { name: "s1", image: "busybox:1.36", restartPolicy: "Always" },
      { name: "s2", image: "busybox:1.36", restartPolicy: "Always" },
    ];
  });
  for (let i = 0; i < 3; i++) await sync(pod);
  running("s1");
  running("s2");
  running("app");
  const deleting = h.client.pod("default", "web")!;
  deleting.metadata.deletionTimestamp = "2025-01-01T00:00:30Z";
  await h.syncer.terminatePod(deleting, {}, new AbortController().signal);
  const order = h.runtime
    .callsOf("stopContainer")
    .map((a) => h.runtime.allContainers().find((c) => c.id === a[0])?.name);
  assert.deepEqual(order, ["app", "s2", "s1"]);
});

test("PL-MAP-4 a new kubelet over the same runtime does not restart running containers", async () => {
  const pod = await createPod();
  await sync(pod);
  const id = running("app");
  h.syncer = h.newSyncer();
  const r = await sync(pod);
  assert.equal(running("app"), id);
  assert.equal(h.runtime.callsOf("createContainer").length, 1);
  assert.equal(r.pod.status?.containerStatuses?.[0]?.restartCount, 0);
});

test("PL-EDGE-5 a container deleted externally is recreated with restartCount from the logs", async () => {
  const pod = await createPod();
  await sync(pod);
  const id = running("app");
  h.runtime.writeLog(id, ["hello"]);
  h.runtime.deleteContainerExternally(id);
  await sync(pod);
  const id2 = running("app");
  assert.notEqual(id2, id);
  assert.equal(h.runtime.configOf(id2).annotations["io.kubernetes.container.restartCount"], "1");
});

test("PL-SBX-6 a dead sandbox is replaced and init containers re-run", async () => {
  const pod = await createPod((p) => {
    p.spec.initContainers = [{ name: "init1", image: "busybox:1.36" }];
  });
  await sync(pod);
  h.runtime.exitContainer(running("init1"), 0);
  await sync(pod);
  running("app");
  const sbx = h.runtime.allSandboxes()[0]!;
  h.runtime.killSandbox(sbx.id);
  await sync(pod);
  assert.ok(
    h.recorder
      .lines()
      .includes("SandboxChanged: Pod sandbox changed, it will be killed and re-created."),
  );
  const sandboxes = h.runtime.allSandboxes();
  assert.equal(sandboxes.filter((s) => s.state === "ready").length, 1);
  assert.equal(sandboxes.find((s) => s.state === "ready")?.attempt, 1);
  running("init1");
});

test("PL-TERM-9 activeDeadlineSeconds makes the pod terminal with DeadlineExceeded", async () => {
  const pod = await createPod((p) => (p.spec.activeDeadlineSeconds = 5));
  await sync(pod);
  await h.clock.advance(6000);
  const r = await sync(pod);
  assert.equal(r.isTerminal, true);
  await h.syncer.terminatePod(r.pod, {}, new AbortController().signal);
  const final = h.client.pod("default", "web")!;
  assert.equal(final.status?.phase, "Failed");
  assert.equal(final.status.reason, "DeadlineExceeded");
  assert.equal(
    final.status.message,
    "Pod was active on the node longer than the specified deadline",
  );
  assert.ok(
    h.recorder
      .lines()
      .includes("DeadlineExceeded: Pod was active on the node longer than the specified deadline"),
  );
});

test("PL-MAP-7 only the newest dead instance of a container is kept, with its log", async () => {
  const pod = await createPod();
  await sync(pod);
  for (let i = 0; i < 3; i++) {
    const id = running("app");
    h.runtime.writeLog(id, [`life ${String(i)}`]);
    h.runtime.exitContainer(id, 1);
    await h.clock.advance(400_000);
    await sync(pod);
  }
  const all = h.runtime.allContainers();
  assert.equal(all.filter((c) => c.state === "exited").length, 1);
  assert.equal(all.filter((c) => c.state === "running").length, 1);
  const { readdirSync } = await import("node:fs");
  assert.deepEqual(readdirSync(join(h.dir, "logs", "default_web_uid-1", "app")).sort(), ["2.log"]);
  const st = h.client.pod("default", "web")!.status!.containerStatuses![0]!;
  assert.equal(st.restartCount, 3);
  assert.ok(st.lastState?.terminated);
});

test("PL-EDGE-26 a preStop hook longer than the grace period is cut, then stop gets 2s", async () => {
  const pod = await createPod((p) => {
    p.spec.containers[0]!.lifecycle = { preStop: { sleep: { seconds: 100 } } };
  });
  await sync(pod);
  const deleting = h.client.pod("default", "web")!;
  deleting.metadata.deletionTimestamp = "2025-01-01T00:00:30Z";
  deleting.metadata.deletionGracePeriodSeconds = 30;
  const start = h.clock.now();
  const state = { done: false };
  const p = h.syncer.terminatePod(deleting, {}, new AbortController().signal).then(() => {
    state.done = true;
  });
  for (let i = 0; i < 100 && !state.done; i++) {
    await h.clock.advance(1000);
    await new Promise((r) => setImmediate(r));
  }
  await p;
  const stop = h.runtime.callsOf("stopContainer")[0];
  assert.equal(stop?.[1], 2000);
  const finishedAt = h.runtime.allContainers().find((c) => c.name === "app")?.finishedAt ?? 0;
  const elapsed = finishedAt - start;
  assert.ok(elapsed >= 30_000 && elapsed <= 32_000, `elapsed ${String(elapsed)}`);
});

test("PL-RUN-4 a liveness failure kills and restarts the container", async () => {
  const pod = await createPod();
  await sync(pod);
  const id = running("app");
  h.prober.set(id, "liveness", "Failure");
  const r = await sync(pod);
  assert.ok(
    h.recorder.lines().includes("Killing: Container app failed liveness probe, will be restarted"),
  );
  assert.notEqual(running("app"), id);
  assert.equal(r.pod.status?.containerStatuses?.[0]?.restartCount, 1);
});

test("PL-EDGE-8 Job-style pod: the app exits 0, the sidecar is stopped, phase Succeeded", async () => {
  const pod = await createPod((p) => {
    p.spec.restartPolicy = "Never";
    p.spec.initContainers = [{ name: "side", image: "busybox:1.36", restartPolicy: "Always" }];
  });
  await sync(pod);
  await sync(pod);
  h.runtime.exitContainer(running("app"), 0);
  const r = await sync(pod);
  assert.equal(r.isTerminal, true);
  assert.equal(r.pod.status?.phase, "Succeeded");
  assert.ok(h.recorder.lines().includes("Killing: Stopping container side"));
  assert.equal(h.runtime.allContainers().filter((c) => c.state === "running").length, 0);
});
