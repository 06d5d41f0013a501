import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeClock } from "../../util/index.js";
import { isRuntimeError, RuntimeError } from "../errors.js";
import type { ContainerConfig, RuntimeEvent, SandboxConfig } from "../types.js";
import { FakeImageService } from "./fake-image-service.js";
import { FakeRuntime } from "./fake-runtime.js";

const sandboxConfig: SandboxConfig = {
  name: "web_default_uid_0",
  attempt: 0,
  labels: { pod: "web" },
  annotations: {},
  hostname: "web",
  hostNetwork: false,
  hostIPC: false,
  pidMode: "container",
  portMappings: [],
  cgroupParent: "podrun/pod-uid",
};
const containerConfig: ContainerConfig = {
  name: "app",
  attempt: 0,
  labels: { c: "app" },
  annotations: {},
  image: "busybox",
  argv: ["sh"],
  env: [],
  mounts: [],
  logPath: "/tmp/none.log",
  pidMode: "container",
};

test("FakeRuntime runs the container lifecycle and publishes exits", async () => {
  const clock = new FakeClock();
  const rt = new FakeRuntime({ clock });
  const ac = new AbortController();
  const events: RuntimeEvent[] = [];
  const reader = (async () => {
    for await (const ev of rt.events({ signal: ac.signal })) events.push(ev);
  })();
  const sbx = await rt.runPodSandbox(sandboxConfig);
  assert.equal((await rt.podSandboxStatus(sbx)).state, "ready");
  const id = await rt.createContainer(sbx, containerConfig);
  assert.equal((await rt.containerStatus(id)).state, "created");
  await rt.startContainer(id);
  await assert.rejects(rt.startContainer(id), (e) => isRuntimeError(e, "InvalidState"));
  await clock.advance(5000);
  rt.exitContainer(id, 3);
  const st = await rt.containerStatus(id);
  assert.deepEqual([st.state, st.exitCode, st.reason], ["exited", 3, "Error"]);
  await rt.stopContainer(id, 1000);
  await rt.removeContainer(id);
  await rt.removeContainer(id);
  await assert.rejects(rt.containerStatus(id), (e) => isRuntimeError(e, "NotFound"));
  await new Promise((r) => setImmediate(r));
  ac.abort();
  await reader;
  assert.deepEqual(
    events.map((e) => e.type),
    ["ContainerStarted", "ContainerExited"],
  );
});

test("FakeRuntime failNext on startContainer leaves a StartError instance", async () => {
  const rt = new FakeRuntime({ clock: new FakeClock() });
  const sbx = await rt.runPodSandbox(sandboxConfig);
  const id = await rt.createContainer(sbx, containerConfig);
  rt.failNext("startContainer", new RuntimeError("Failed", "exec failed"));
  await assert.rejects(rt.startContainer(id), /exec failed/);
  const st = await rt.containerStatus(id);
  assert.deepEqual(
    [st.state, st.exitCode, st.reason, st.message],
    ["exited", 128, "StartError", "exec failed"],
  );
});

test("FakeRuntime killSandbox stops its containers and filters by labels", async () => {
  const rt = new FakeRuntime({ clock: new FakeClock() });
  const sbx = await rt.runPodSandbox(sandboxConfig);
  const id = await rt.createContainer(sbx, containerConfig);
  await rt.startContainer(id);
  rt.killSandbox(sbx);
  assert.equal((await rt.podSandboxStatus(sbx)).state, "notready");
  assert.equal((await rt.containerStatus(id)).exitCode, 137);
  assert.equal((await rt.listPodSandboxes({ labels: { pod: "web" } })).length, 1);
  assert.equal((await rt.listPodSandboxes({ labels: { pod: "x" } })).length, 0);
  await rt.removePodSandbox(sbx);
  assert.equal((await rt.listContainers()).length, 0);
});

test("FakeImageService pulls from its registry and normalizes references", async () => {
  const img = new FakeImageService();
  img.addRemote("busybox");
  assert.equal(await img.imageStatus("busybox"), undefined);
  const id = await img.pullImage("busybox");
  const st = await img.imageStatus("docker.io/library/busybox:latest");
  assert.equal(st?.id, id);
  assert.match(st.repoDigests[0] ?? "", /^docker\.io\/library\/busybox@sha256:[0-9a-f]{64}$/);
  await assert.rejects(img.pullImage("nginx:nope"), (e) => isRuntimeError(e, "NotFound"));
});
