import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, test } from "node:test";
import { FakeImageService, FakeRuntime } from "../runtime/index.js";
import { FakeClock, nullLogger } from "../util/index.js";
import { Kubelet, podsDifferSemantically } from "./kubelet.js";
import type { PodProber } from "./sync.js";
import { FakeKubeletClient, FakeRecorder } from "./testing/fake-client.js";
import { basePod, FakeProbeResults } from "./testing/fixtures.js";

class FakeProber extends FakeProbeResults implements PodProber {
  updatePod(): void {
    // no probes in these tests
  }
  removePod(): void {
    // no probes in these tests
  }
  run(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      signal.addEventListener("abort", () => {
        resolve();
      });
    });
  }
}

let dir: string;
let clock: FakeClock;
let runtime: FakeRuntime;
let images: FakeImageService;
let client: FakeKubeletClient;
let recorder: FakeRecorder;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "kubelet-"));
  clock = new FakeClock();
  runtime = new FakeRuntime({ clock });
  images = new FakeImageService();
  images.addImage("busybox:1.36");
  client = new FakeKubeletClient();
  recorder = new FakeRecorder();
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function makeKubelet(): Kubelet {
  return new Kubelet({
    nodeName: "node1",
    client,
    runtime,
    images,
    clock,
    logger: nullLogger,
    recorder,
    prober: new FakeProber(),
    volumes: {
      setUp: () => Promise.resolve(),
      mountsFor: () => [],
      tearDown: () => Promise.resolve(),
    },
    config: {
      dataDir: join(dir, "data"),
      logRoot: join(dir, "logs"),
      nodeIP: "192.168.1.10",
      hostResolvConf: "nameserver 1.1.1.1\n",
      hostHosts: "127.0.0.1 localhost\n",
    },
  });
}

async function until(what: string, cond: () => boolean): Promise<void> {
  // Real I/O (temp dirs) is involved, so poll by turns of the event loop for a bounded time.
  const deadline = performance.now() + 10_000;
  while (!cond() && performance.now() < deadline) await new Promise((r) => setImmediate(r));
  assert.ok(cond(), `timed out waiting for: ${what}`);
}

test("Kubelet registers the node, renews its lease and runs, restarts and deletes a pod", async () => {
  const kubelet = makeKubelet();
  const ac = new AbortController();
  const run = kubelet.run(ac.signal);

  // Node registration and lease.
  await until("node", () => client.nodeKind.store.size === 1);
  const node = [...client.nodeKind.store.values()][0]!;
  assert.equal(node.metadata.name, "node1");
  assert.equal(node.status?.capacity?.["pods"], "110");
  assert.equal(node.status.nodeInfo?.kubeletVersion, "v1.33.0");
  assert.equal(node.status.nodeInfo.containerRuntimeVersion, "podrun://0.1.0");
  const ready = node.status.conditions?.find((c) => c.type === "Ready");
  assert.equal(ready?.reason, "KubeletReady");
  assert.deepEqual(node.status.addresses, [
    { type: "InternalIP", address: "192.168.1.10" },
    { type: "Hostname", address: "node1" },
  ]);
  await until("lease", () => client.leaseKind.store.has("kube-node-lease/node1"));

  // A pod bound to the node starts.
  await client.pods("default").create(basePod());
  await until("pod running", () => client.pod("default", "web")?.status?.phase === "Running");
  const first = runtime.allContainers().find((c) => c.state === "running");
  assert.ok(first);

  // A pod for another node is ignored.
  await client.pods("default").create(
    basePod((p) => {
      p.metadata.name = "other";
      p.metadata.uid = "uid-2";
      p.spec.nodeName = "node2";
    }),
  );

  // A container exit wakes the worker at once; the first crash restarts immediately.
  runtime.exitContainer(first.id, 1);
  await until(
    "restart",
    () => client.pod("default", "web")?.status?.containerStatuses?.[0]?.restartCount === 1,
  );
  assert.equal(runtime.allContainers().filter((c) => c.state === "running").length, 1);

  // Graceful deletion: containers stopped, object removed, runtime cleaned up.
  const cur = client.pod("default", "web")!;
  cur.metadata.deletionTimestamp = "2025-01-01T00:00:30Z";
  cur.metadata.deletionGracePeriodSeconds = 30;
  await client.pods("default").update(cur);
  await until("pod deleted", () => client.pod("default", "web") === undefined);
  await until("runtime cleaned", () => runtime.allSandboxes().length === 0);
  assert.equal(runtime.allContainers().length, 0);
  assert.ok(recorder.lines().includes("Killing: Stopping container app"));
  assert.equal(
    runtime.allContainers().filter((c) => c.labels["io.kubernetes.pod.uid"] === "uid-2").length,
    0,
  );

  ac.abort();
  await run;
  assert.ok(existsSync(join(dir, "data", "kubelet-backoff.json")));
});

test("Kubelet PL-MAP-4 restart keeps running containers and cleans up vanished pods", async () => {
  let ac = new AbortController();
  let run = makeKubelet().run(ac.signal);
  await client.pods("default").create(basePod());
  await until("pod running", () => client.pod("default", "web")?.status?.phase === "Running");
  const id = runtime.allContainers()[0]!.id;
  ac.abort();
  await run;

  // While the kubelet is down, a second pod's leftovers exist without an API object.
  const sbx = await runtime.runPodSandbox({
    name: "ghost",
    attempt: 0,
    labels: { "io.kubernetes.pod.uid": "ghost-uid" },
    annotations: {},
    hostname: "ghost",
    hostNetwork: false,
    hostIPC: false,
    pidMode: "container",
    portMappings: [],
    cgroupParent: "x",
  });

  ac = new AbortController();
  run = makeKubelet().run(ac.signal);
  await until("ghost cleaned", () => !runtime.allSandboxes().some((s) => s.id === sbx));
  await until("synced", () => runtime.callsOf("listContainers").length > 4);
  assert.equal(runtime.allContainers().find((c) => c.state === "running")?.id, id);
  assert.equal(runtime.callsOf("createContainer").length, 1);
  ac.abort();
  await run;
});

test("podsDifferSemantically ignores status and bookkeeping metadata", () => {
  const a = basePod();
  const statusOnly = basePod((p) => {
    p.metadata.resourceVersion = "99";
    p.status = { phase: "Running" };
  });
  assert.equal(podsDifferSemantically(a, statusOnly), false);
  const relabeled = basePod((p) => (p.metadata.labels = { app: "other" }));
  assert.equal(podsDifferSemantically(a, relabeled), true);
  const deleted = basePod((p) => (p.metadata.deletionTimestamp = "2025-01-01T00:00:30Z"));
  assert.equal(podsDifferSemantically(a, deleted), true);
  const respec = basePod((p) => (p.spec.activeDeadlineSeconds = 5));
  assert.equal(podsDifferSemantically(a, respec), true);
});
