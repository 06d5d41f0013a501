import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { SystemClock } from "../../util/index.js";
import { isRuntimeError } from "../errors.js";
import type {
  ContainerConfig,
  ContainerId,
  ContainerStatus,
  ImageService,
  RuntimeEvent,
  RuntimeService,
  SandboxConfig,
  SandboxId,
} from "../types.js";

/**
 * What a conformance run needs. The suite only uses this argv vocabulary, which a fake must
 * interpret through `onContainerStarted` (a real runtime runs it with busybox):
 * `["sh","-c","exit N"]` exits with N at once; `["sleep","3600"]` runs until stopped (PID 1
 * ignores SIGTERM, so a stop ends in SIGKILL → 137). For execSync:
 * `["sh","-c","echo out; echo err >&2; exit 3"]` and `["sleep","10"]` (for the timeout).
 */
export interface ConformanceHarness {
  runtime: RuntimeService;
  images: ImageService;
  /** Image reference to run (busybox-like); pulled through `images` first. */
  image: string;
  /** Directory for log files of the suite's containers. */
  logDir: string;
  /** Called after a successful startContainer, so a fake can act out `argv`. */
  onContainerStarted?: (id: ContainerId, argv: string[]) => void | Promise<void>;
  /** Frees everything; the suite calls it once at the end. */
  cleanup(): Promise<void>;
}

const WAIT_MS = 15_000;
const clock = new SystemClock();

/**
 * Behaviours every RuntimeService must show: sandbox lifecycle, container create/start/stop/
 * remove, exit codes 0/1/137, status fields, idempotent stop/remove, NotFound for unknown ids,
 * execSync output/exit code/timeout, events on exit, list filters. Registers node:test tests.
 */
export function runtimeConformanceSuite(
  name: string,
  make: () => Promise<ConformanceHarness>,
): void {
  describe(`RuntimeService conformance: ${name}`, () => {
    let h: ConformanceHarness;
    let seq = 0;

    before(async () => {
      h = await make();
      await h.images.pullImage(h.image);
    });
    after(async () => {
      await h.cleanup();
    });

    const sandboxConfig = (labels: Record<string, string> = {}): SandboxConfig => ({
      name: `conf-${++seq}`,
      attempt: 0,
      labels: { suite: "conformance", ...labels },
      annotations: { note: "a" },
      hostname: `conf-${seq}`,
      hostNetwork: false,
      hostIPC: false,
      pidMode: "container",
      portMappings: [],
      cgroupParent: `conformance/pod${seq}`,
    });
    const containerConfig = (
      argv: string[],
      labels: Record<string, string> = {},
    ): ContainerConfig => ({
      name: `c${++seq}`,
      attempt: 1,
      labels: { suite: "conformance", ...labels },
      annotations: { "io.kubernetes.container.restartCount": "1" },
      image: h.image,
      argv,
      env: [{ name: "PATH", value: "/usr/sbin:/usr/bin:/sbin:/bin" }],
      mounts: [],
      logPath: `${h.logDir}/c${seq}/1.log`,
      pidMode: "container",
    });

    async function startIn(sandbox: SandboxId, argv: string[], labels?: Record<string, string>) {
      const id = await h.runtime.createContainer(sandbox, containerConfig(argv, labels));
      await h.runtime.startContainer(id);
      await h.onContainerStarted?.(id, argv);
      return id;
    }

    async function waitExited(id: ContainerId): Promise<ContainerStatus> {
      const ac = new AbortController();
      try {
        const events = h.runtime.events({ signal: ac.signal })[Symbol.asyncIterator]();
        const deadline = clock.now() + WAIT_MS;
        let st = await h.runtime.containerStatus(id);
        while (st.state !== "exited") {
          assert.ok(clock.now() < deadline, `container ${id} did not exit`);
          const timer = clock.sleep(200, ac.signal).then(
            () => undefined,
            () => undefined,
          );
          await Promise.race([events.next(), timer]);
          st = await h.runtime.containerStatus(id);
        }
        return st;
      } finally {
        ac.abort();
      }
    }

    async function withSandbox(
      fn: (id: SandboxId) => Promise<void>,
      labels?: Record<string, string>,
    ) {
      const id = await h.runtime.runPodSandbox(sandboxConfig(labels));
      try {
        await fn(id);
      } finally {
        await h.runtime.stopPodSandbox(id);
        await h.runtime.removePodSandbox(id);
      }
    }

    test("sandbox lifecycle: ready, listed by labels, notready after stop, gone after remove", async () => {
      const cfg = sandboxConfig({ app: "lifecycle" });
      const id = await h.runtime.runPodSandbox(cfg);
      const st = await h.runtime.podSandboxStatus(id);
      assert.equal(st.state, "ready");
      assert.equal(st.name, cfg.name);
      assert.equal(st.attempt, 0);
      assert.equal(st.hostNetwork, false);
      assert.deepEqual(st.labels, cfg.labels);
      assert.deepEqual(st.annotations, cfg.annotations);
      assert.ok(st.ips.length >= 1, "a pod-network sandbox has an IP");
      const listed = await h.runtime.listPodSandboxes({ labels: { app: "lifecycle" } });
      assert.deepEqual(
        listed.map((s) => s.id),
        [id],
      );
      assert.equal((await h.runtime.listPodSandboxes({ labels: { app: "nope" } })).length, 0);
      await h.runtime.stopPodSandbox(id);
      assert.equal((await h.runtime.podSandboxStatus(id)).state, "notready");
      await h.runtime.stopPodSandbox(id);
      await h.runtime.removePodSandbox(id);
      await h.runtime.removePodSandbox(id);
      await assert.rejects(h.runtime.podSandboxStatus(id), (e) => isRuntimeError(e, "NotFound"));
    });

    test("container status fields through created, running and exited", async () => {
      await withSandbox(async (sb) => {
        const cfg = containerConfig(["sleep", "3600"], { role: "fields" });
        const id = await h.runtime.createContainer(sb, cfg);
        let st = await h.runtime.containerStatus(id);
        assert.equal(st.state, "created");
        assert.equal(st.sandboxId, sb);
        assert.equal(st.name, cfg.name);
        assert.equal(st.attempt, 1);
        assert.equal(st.image, h.image);
        assert.match(st.imageRef, /^sha256:/);
        assert.deepEqual(st.labels, cfg.labels);
        assert.deepEqual(st.annotations, cfg.annotations);
        assert.equal(st.logPath, cfg.logPath);
        assert.equal(st.startedAt, undefined);
        await h.runtime.startContainer(id);
        await h.onContainerStarted?.(id, cfg.argv);
        st = await h.runtime.containerStatus(id);
        assert.equal(st.state, "running");
        assert.ok((st.startedAt ?? 0) >= st.createdAt);
        await assert.rejects(h.runtime.startContainer(id), (e) =>
          isRuntimeError(e, "InvalidState"),
        );
        await h.runtime.stopContainer(id, 0);
        st = await h.runtime.containerStatus(id);
        assert.equal(st.state, "exited");
        assert.equal(st.exitCode, 137);
        assert.ok((st.finishedAt ?? 0) >= (st.startedAt ?? 0));
      });
    });

    test("exit codes 0 and 1 are reported with reasons Completed and Error", async () => {
      await withSandbox(async (sb) => {
        const ok = await startIn(sb, ["sh", "-c", "exit 0"]);
        const bad = await startIn(sb, ["sh", "-c", "exit 1"]);
        const [a, b] = await Promise.all([waitExited(ok), waitExited(bad)]);
        assert.equal(a.exitCode, 0);
        assert.equal(a.reason, "Completed");
        assert.equal(b.exitCode, 1);
        assert.equal(b.reason, "Error");
      });
    });

    test("stop and remove are idempotent; unknown ids give NotFound", async () => {
      await withSandbox(async (sb) => {
        const id = await startIn(sb, ["sleep", "3600"]);
        await h.runtime.stopContainer(id, 100);
        await h.runtime.stopContainer(id, 100);
        assert.equal((await h.runtime.containerStatus(id)).exitCode, 137);
        await h.runtime.removeContainer(id);
        await h.runtime.removeContainer(id);
        await assert.rejects(h.runtime.containerStatus(id), (e) => isRuntimeError(e, "NotFound"));
      });
      const unknownC = "0".repeat(64) as ContainerId;
      const unknownS = "0".repeat(64) as SandboxId;
      await assert.rejects(h.runtime.containerStatus(unknownC), (e) =>
        isRuntimeError(e, "NotFound"),
      );
      await assert.rejects(h.runtime.startContainer(unknownC), (e) =>
        isRuntimeError(e, "NotFound"),
      );
      await assert.rejects(h.runtime.podSandboxStatus(unknownS), (e) =>
        isRuntimeError(e, "NotFound"),
      );
      await assert.rejects(
        h.runtime.createContainer(unknownS, containerConfig(["sleep", "3600"])),
        (e) => isRuntimeError(e, "NotFound"),
      );
      await h.runtime.removeContainer(unknownC);
      await h.runtime.removePodSandbox(unknownS);
    });

    test("execSync returns output and exit code, and kills the process on timeout", async () => {
      await withSandbox(async (sb) => {
        const id = await startIn(sb, ["sleep", "3600"]);
        const r = await h.runtime.execSync(
          id,
          ["sh", "-c", "echo out; echo err >&2; exit 3"],
          10_000,
        );
        assert.equal(r.exitCode, 3);
        assert.equal(r.stdout.toString(), "out\n");
        assert.equal(r.stderr.toString(), "err\n");
        assert.equal(r.timedOut, false);
        const t = await h.runtime.execSync(id, ["sleep", "10"], 300);
        assert.equal(t.timedOut, true);
      });
    });

    test("events() reports ContainerExited for a container that exits by itself", async () => {
      await withSandbox(async (sb) => {
        const ac = new AbortController();
        const seen: RuntimeEvent[] = [];
        const id = await h.runtime.createContainer(sb, containerConfig(["sh", "-c", "exit 2"]));
        const consumer = (async () => {
          for await (const ev of h.runtime.events({ signal: ac.signal })) {
            seen.push(ev);
            if (ev.type === "ContainerExited" && ev.id === id) break;
          }
        })();
        // Let the subscription register before the exit can happen.
        await clock.sleep(20);
        await h.runtime.startContainer(id);
        await h.onContainerStarted?.(id, ["sh", "-c", "exit 2"]);
        const timeout = clock.sleep(WAIT_MS, ac.signal).then(
          () => "timeout",
          () => "done",
        );
        const winner = await Promise.race([consumer.then(() => "event"), timeout]);
        ac.abort();
        await consumer;
        assert.equal(winner, "event");
        const ev = seen.find((e) => e.type === "ContainerExited" && e.id === id);
        assert.equal(ev?.sandboxId, sb);
        assert.equal((await h.runtime.containerStatus(id)).exitCode, 2);
      });
    });

    test("listContainers filters by sandbox and labels", async () => {
      await withSandbox(async (sb1) => {
        await withSandbox(async (sb2) => {
          const a = await startIn(sb1, ["sleep", "3600"], { pick: "yes" });
          const b = await startIn(sb1, ["sleep", "3600"], { pick: "no" });
          const c = await startIn(sb2, ["sleep", "3600"], { pick: "yes" });
          const in1 = (await h.runtime.listContainers({ sandboxId: sb1 })).map((s) => s.id).sort();
          assert.deepEqual(in1, [a, b].sort());
          const picked = (await h.runtime.listContainers({ labels: { pick: "yes" } }))
            .map((s) => s.id)
            .sort();
          assert.deepEqual(picked, [a, c].sort());
          const both = await h.runtime.listContainers({ sandboxId: sb2, labels: { pick: "yes" } });
          assert.deepEqual(
            both.map((s) => s.id),
            [c],
          );
        });
      });
    });

    test("stopPodSandbox stops every container of the sandbox", async () => {
      const sb = await h.runtime.runPodSandbox(sandboxConfig());
      const id = await startIn(sb, ["sleep", "3600"]);
      await h.runtime.stopPodSandbox(sb);
      const st = await h.runtime.containerStatus(id);
      assert.equal(st.state, "exited");
      await h.runtime.removePodSandbox(sb);
      await assert.rejects(h.runtime.containerStatus(id), (e) => isRuntimeError(e, "NotFound"));
    });
  });
}
