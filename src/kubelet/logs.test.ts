import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, test } from "node:test";
import { ApiError, type Pod } from "../api/index.js";
import { FakeRuntime, type ContainerId, type SandboxId } from "../runtime/index.js";
import { FakeClock, nullLogger } from "../util/index.js";
import {
  LogRotator,
  openContainerLogs,
  readContainerLogs,
  selectLogContainer,
  type PodLogOptions,
} from "./logs.js";
import { basePod } from "./testing/fixtures.js";

let dir: string;
let clock: FakeClock;
let runtime: FakeRuntime;
let sandbox: SandboxId;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "kubelet-logs-"));
  clock = new FakeClock();
  runtime = new FakeRuntime({ clock });
  sandbox = await runtime.runPodSandbox({
    name: "s",
    attempt: 0,
    labels: {},
    annotations: {},
    hostname: "web",
    hostNetwork: false,
    hostIPC: false,
    pidMode: "container",
    portMappings: [],
    cgroupParent: "x",
  });
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function container(n: number): Promise<ContainerId> {
  const id = await runtime.createContainer(sandbox, {
    name: "app",
    attempt: n,
    labels: {},
    annotations: {},
    image: "busybox",
    argv: ["sh"],
    env: [],
    mounts: [],
    logPath: join(dir, "app", `${String(n)}.log`),
    pidMode: "container",
  });
  await runtime.startContainer(id);
  return id;
}

function podWith(id: ContainerId, mutate?: (p: Pod) => void): Pod {
  return basePod((p) => {
    p.status = {
      containerStatuses: [
        {
          name: "app",
          image: "busybox",
          imageID: "",
          ready: true,
          restartCount: 0,
          containerID: `podrun://${id}`,
          state: { running: { startedAt: "2025-01-01T00:00:00Z" } },
        },
      ],
    };
    mutate?.(p);
  });
}

async function read(
  pod: Pod,
  opts: PodLogOptions,
  signal = new AbortController().signal,
): Promise<string> {
  let out = "";
  for await (const chunk of readContainerLogs(pod, opts, { runtime, clock }, signal))
    out += Buffer.from(chunk).toString();
  return out;
}

test("PL-LOG-6 container selection errors use the upstream texts", () => {
  const pod = basePod((p) => {
    p.status = {
      containerStatuses: [
        {
          name: "app",
          image: "x",
          imageID: "",
          ready: false,
          restartCount: 0,
          state: { waiting: { reason: "ErrImagePull" } },
        },
      ],
    };
  });
  const msg = (opts: PodLogOptions): string => {
    try {
      selectLogContainer(pod, opts);
    } catch (err) {
      assert.ok(err instanceof ApiError);
      assert.equal(err.reason, "BadRequest");
      return err.message;
    }
    return "no error";
  };
  assert.equal(msg({}), 'container "app" in pod "web" is waiting to start: image can\'t be pulled');
  assert.equal(msg({ container: "nope" }), 'container "nope" in pod "web" is not available');
  assert.equal(
    msg({ previous: true }),
    'previous terminated container "app" in pod "web" not found',
  );
  pod.spec.containers.push({ name: "b", image: "x" });
  assert.equal(msg({}), "a container name must be specified for pod web, choose one of: [app b]");
});

test("PL-LOG-3/5 tail, timestamps, partial lines and limitBytes", async () => {
  const id = await container(0);
  runtime.writeLog(id, ["one", "two"]);
  runtime.writeLog(id, ["th"], { partial: true });
  runtime.writeLog(id, ["ree"]);
  const pod = podWith(id);
  assert.equal(await read(pod, {}), "one\ntwo\nthree\n");
  assert.equal(await read(pod, { tailLines: 2 }), "two\nthree\n");
  assert.equal(await read(pod, { tailLines: 0 }), "");
  assert.equal(await read(pod, { limitBytes: 6 }), "one\ntw");
  const ts = await read(pod, { tailLines: 1, timestamps: true });
  assert.match(ts, /^2025-01-01T00:00:00\.000000000Z th2025-01-01T00:00:00\.000000000Z ree\n$/);
});

test("PL-LOG-5 sinceSeconds drops older entries", async () => {
  const id = await container(0);
  runtime.writeLog(id, ["old"]);
  await clock.advance(60_000);
  runtime.writeLog(id, ["new"]);
  assert.equal(await read(podWith(id), { sinceSeconds: 10 }), "new\n");
});

test("PL-LOG-6 previous reads the last terminated instance", async () => {
  const old = await container(0);
  runtime.writeLog(old, ["first life"]);
  runtime.exitContainer(old, 1);
  const cur = await container(1);
  runtime.writeLog(cur, ["second life"]);
  const pod = podWith(cur, (p) => {
    p.status!.containerStatuses![0]!.lastState = {
      terminated: { exitCode: 1, containerID: `podrun://${old}` },
    };
  });
  assert.equal(await read(pod, { previous: true }), "first life\n");
  assert.equal(await read(pod, {}), "second life\n");
});

test("PL-LOG-5 follow streams new lines, survives rotation and ends when the container exits", async () => {
  const id = await container(0);
  runtime.writeLog(id, ["a"]);
  const chunks: string[] = [];
  const done = (async () => {
    for await (const c of readContainerLogs(
      podWith(id),
      { follow: true },
      { runtime, clock },
      new AbortController().signal,
    ))
      chunks.push(Buffer.from(c).toString());
  })();
  const until = async (n: number): Promise<void> => {
    for (let i = 0; i < 200 && chunks.length < n; i++) {
      await clock.advance(200);
      await new Promise((r) => setImmediate(r));
    }
  };
  await until(1);
  runtime.writeLog(id, ["b"]);
  await until(2);
  const rotator = new LogRotator({
    runtime,
    clock,
    logger: nullLogger,
    maxSizeBytes: 1,
    maxFiles: 3,
  });
  await rotator.rotateAll();
  assert.deepEqual(runtime.reopenedLogs, [id]);
  runtime.writeLog(id, ["c"]);
  await until(3);
  runtime.exitContainer(id, 0);
  await until(4);
  await done;
  assert.deepEqual(chunks, ["a\n", "b\n", "c\n"]);
});

test("PL-LOG-4 rotation keeps maxFiles-2 rotated files and gzips older ones", async () => {
  const id = await container(0);
  const rotator = new LogRotator({
    runtime,
    clock,
    logger: nullLogger,
    maxSizeBytes: 10,
    maxFiles: 3,
  });
  for (let i = 0; i < 3; i++) {
    runtime.writeLog(id, [`line ${String(i)} with some bytes`]);
    await rotator.rotateAll();
    await clock.advance(1000);
  }
  const files = readdirSync(join(dir, "app")).sort();
  assert.equal(files.length, 2, files.join(","));
  assert.ok(
    files.some((f) => /^0\.log\.\d{8}-\d{6}\.gz$/.test(f)),
    files.join(","),
  );
  assert.ok(
    files.some((f) => /^0\.log\.\d{8}-\d{6}$/.test(f)),
    files.join(","),
  );
});

test("PL-LOG-6 openContainerLogs rejects before streaming for an unknown container", async () => {
  const id = await container(0);
  const pod = podWith(id);
  await assert.rejects(
    openContainerLogs(pod, { container: "nope" }, { runtime, clock }, new AbortController().signal),
    (err) => err instanceof ApiError && err.reason === "BadRequest",
  );
  await runtime.removeContainer(id);
  await assert.rejects(
    openContainerLogs(pod, {}, { runtime, clock }, new AbortController().signal),
    /container "app" in pod "web" is not available/,
  );
});
