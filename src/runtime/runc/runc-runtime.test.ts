import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { SystemClock } from "../../util/index.js";
import { isRuntimeError } from "../errors.js";
import { runtimeConformanceSuite } from "../testing/conformance.js";
import type {
  ContainerConfig,
  ContainerId,
  RuntimeEvent,
  SandboxConfig,
  SandboxId,
} from "../types.js";
import { runCommand } from "./exec.js";
import { RuncRuntime } from "./runc-runtime.js";
import { LayoutImages } from "./testing/layout-images.js";

// These tests need root, runc, conmon and the CNI plugins (the dev and CI machines have them).
// Each environment lives in its own network namespace, temp dir and cgroup root.

const clock = new SystemClock();
let imagesDir: Promise<string> | undefined;

function testImages(): Promise<string> {
  imagesDir ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), "podrun-runc-images-"));
    await runCommand("/work/shared/tools/make-test-images", [dir, "busybox", "pause"]);
    return dir;
  })();
  return imagesDir;
}

interface Env {
  runtime: RuncRuntime;
  images: LayoutImages;
  dir: string;
  netns: string;
  cgroupRoot: string;
  newRuntime(): RuncRuntime;
  cleanup(): Promise<void>;
}

async function makeEnv(): Promise<Env> {
  const imgs = await testImages();
  const tag = randomBytes(4).toString("hex");
  const dir = await mkdtemp(join(tmpdir(), "podrun-runc-test-"));
  const netnsName = `podrun-test-${tag}`;
  await runCommand("ip", ["netns", "add", netnsName]);
  const netns = `/run/netns/${netnsName}`;
  const cgroupRoot = `podrun-test-${tag}`;
  const images = new LayoutImages(
    [join(imgs, "busybox"), join(imgs, "pause")],
    join(dir, "layers"),
  );
  const newRuntime = (): RuncRuntime =>
    new RuncRuntime({
      root: join(dir, "root"),
      runRoot: join(dir, "run"),
      cgroupRoot,
      hostNetns: netns,
      layers: images,
      cniConfig: { bridge: "podrun0", subnet: "10.244.0.0/16", gateway: "10.244.0.1" },
    });
  const runtime = newRuntime();
  const env: Env = {
    runtime,
    images,
    dir,
    netns,
    cgroupRoot,
    newRuntime,
    cleanup: async () => {
      const rt = env.runtime;
      for (const s of await rt.listPodSandboxes()) {
        await rt.stopPodSandbox(s.id);
        await rt.removePodSandbox(s.id);
      }
      await rt.close();
      // Nothing may be left: runc containers, overlay/ns mounts, cgroups, veths. The checks run
      // first, the namespace and temp dir go in any case, then the findings are asserted.
      const list = await runCommand("runc", ["--root", join(dir, "run", "runc"), "list", "-q"]);
      const mounts = await readFile("/proc/self/mountinfo", "utf8");
      const cgroupsLeft = ["memory", "cpu", "pids", "systemd", "unified", ""].filter((c) =>
        existsSync(join("/sys/fs/cgroup", c, cgroupRoot)),
      );
      const veths = await runCommand("ip", ["-n", netnsName, "-o", "link", "show", "type", "veth"]);
      await runCommand("ip", ["netns", "del", netnsName]);
      await rm(dir, { recursive: true, force: true });
      assert.equal(list.stdout.trim(), "", "runc containers left");
      assert.ok(!mounts.includes(dir), "mounts left under the test dir");
      assert.deepEqual(cgroupsLeft, [], "cgroups left");
      assert.equal(veths.stdout.trim(), "", "veths left");
    },
  };
  return env;
}

after(async () => {
  if (imagesDir !== undefined) await rm(await imagesDir, { recursive: true, force: true });
});

runtimeConformanceSuite("RuncRuntime", async () => {
  const env = await makeEnv();
  return {
    runtime: env.runtime,
    images: env.images,
    image: "docker.io/library/busybox:latest",
    logDir: join(env.dir, "logs"),
    cleanup: () => env.cleanup(),
  };
});

describe("RuncRuntime with real containers", () => {
  let env: Env;
  let seq = 0;
  before(async () => {
    env = await makeEnv();
  });
  after(async () => {
    await env.cleanup();
  });

  const sandboxConfig = (over: Partial<SandboxConfig> = {}): SandboxConfig => ({
    name: `pod-${++seq}`,
    attempt: 0,
    labels: {},
    annotations: {},
    hostname: `pod-${seq}`,
    hostNetwork: false,
    hostIPC: false,
    pidMode: "container",
    portMappings: [],
    cgroupParent: `kubepods/besteffort/pod${seq}`,
    ...over,
  });
  const containerConfig = (
    argv: string[],
    over: Partial<ContainerConfig> = {},
  ): ContainerConfig => ({
    name: `c${++seq}`,
    attempt: 0,
    labels: {},
    annotations: {},
    image: "docker.io/library/busybox:latest",
    argv,
    env: [{ name: "PATH", value: "/usr/sbin:/usr/bin:/sbin:/bin" }],
    mounts: [],
    logPath: join(env.dir, "logs", `c${seq}`, "0.log"),
    pidMode: "container",
    ...over,
  });

  async function run(sb: SandboxId, argv: string[], over: Partial<ContainerConfig> = {}) {
    const id = await env.runtime.createContainer(sb, containerConfig(argv, over));
    await env.runtime.startContainer(id);
    return id;
  }

  async function exec(id: ContainerId, cmd: string): Promise<string> {
    const r = await env.runtime.execSync(id, ["sh", "-c", cmd], 10_000);
    assert.equal(r.exitCode, 0, `exec ${cmd}: ${r.stderr.toString()}`);
    return r.stdout.toString();
  }

  async function waitFor<T>(what: string, fn: () => Promise<T | undefined>): Promise<T> {
    const deadline = clock.now() + 15_000;
    for (;;) {
      const v = await fn();
      if (v !== undefined) return v;
      assert.ok(clock.now() < deadline, `timed out waiting for ${what}`);
      await clock.sleep(50);
    }
  }

  async function exited(id: ContainerId) {
    return waitFor("exit", async () => {
      const st = await env.runtime.containerStatus(id);
      return st.state === "exited" ? st : undefined;
    });
  }

  test("PL-SBX-1 containers of a sandbox share localhost and /dev/shm; port-forward reaches them", async () => {
    const cfg = sandboxConfig();
    const sb = await env.runtime.runPodSandbox(cfg);
    const web = await run(sb, ["httpd", "-f", "-p", "8080", "-h", "/etc"]);
    const client = await run(sb, ["sleep", "3600"]);
    const body = await waitFor("httpd", async () => {
      const r = await env.runtime.execSync(
        client,
        ["wget", "-qO-", "http://127.0.0.1:8080/passwd"],
        5000,
      );
      return r.exitCode === 0 ? r.stdout.toString() : undefined;
    });
    assert.match(body, /^root:/);
    await exec(web, "echo shared-data > /dev/shm/x");
    assert.equal(await exec(client, "cat /dev/shm/x"), "shared-data\n");
    assert.equal((await exec(client, "hostname")).trim(), cfg.hostname);

    const conn = await env.runtime.portForward(sb, 8080);
    const chunks: Buffer[] = [];
    conn.on("data", (d: Buffer) => chunks.push(d));
    const ended = new Promise<void>((resolve) => conn.on("end", resolve));
    conn.write("GET /passwd HTTP/1.0\r\n\r\n");
    await ended;
    conn.end();
    assert.match(Buffer.concat(chunks).toString(), /^HTTP\/1\.[01] 200/);

    const stats = await env.runtime.containerStats(web);
    assert.ok(stats.memoryUsageBytes > 0);
    await env.runtime.stopPodSandbox(sb);
    await env.runtime.removePodSandbox(sb);
  });

  test("hostPort mappings reach the container through the portmap plugin", async () => {
    const sb = await env.runtime.runPodSandbox(
      sandboxConfig({ portMappings: [{ protocol: "TCP", containerPort: 8080, hostPort: 18080 }] }),
    );
    await run(sb, ["httpd", "-f", "-p", "8080", "-h", "/etc"]);
    const nsName = env.netns.split("/").pop()!;
    const body = await waitFor("hostPort", async () => {
      const r = await runCommand(
        "ip",
        ["netns", "exec", nsName, "busybox", "wget", "-qO-", "http://10.244.0.1:18080/passwd"],
        { check: false },
      );
      return r.code === 0 ? r.stdout : undefined;
    });
    assert.match(body, /^root:/);
    await env.runtime.stopPodSandbox(sb);
    await env.runtime.removePodSandbox(sb);
    const rules = await runCommand("ip", ["netns", "exec", nsName, "iptables-save", "-t", "nat"]);
    assert.ok(!rules.stdout.includes("18080"), "portmap rules left after CNI DEL");
  });

  test("PL-RES-7 sandboxes start concurrently and pod cgroups get pod-level limits", async () => {
    const configs = [0, 1, 2, 3].map(() =>
      sandboxConfig({ podResources: { memoryLimitBytes: 64 << 20, cpuShares: 256 } }),
    );
    const ids = await Promise.all(configs.map((c) => env.runtime.runPodSandbox(c)));
    const ips = await Promise.all(
      ids.map(async (id) => (await env.runtime.podSandboxStatus(id)).ips[0]),
    );
    assert.equal(new Set(ips).size, 4, `distinct pod IPs: ${ips.join(",")}`);
    const cg = `${env.cgroupRoot}/${configs[0]!.cgroupParent}`;
    const v2 = existsSync("/sys/fs/cgroup/cgroup.controllers");
    const mem = await readFile(
      v2 ? `/sys/fs/cgroup/${cg}/memory.max` : `/sys/fs/cgroup/memory/${cg}/memory.limit_in_bytes`,
      "utf8",
    );
    assert.equal(mem.trim(), String(64 << 20));
    if (!v2)
      assert.equal((await readFile(`/sys/fs/cgroup/cpu/${cg}/cpu.shares`, "utf8")).trim(), "256");
    await Promise.all(
      ids.map(async (id) => {
        await env.runtime.stopPodSandbox(id);
        await env.runtime.removePodSandbox(id);
      }),
    );
  });

  test("PL-SBX-3 PID namespaces are per container unless pidMode is pod, where catatonit is PID 1", async () => {
    const own = await env.runtime.runPodSandbox(sandboxConfig());
    await run(own, ["sleep", "3601"]);
    const b = await run(own, ["sleep", "3602"]);
    const psOwn = await exec(b, "ps -o pid,args");
    assert.ok(!psOwn.includes("sleep 3601"), psOwn);
    assert.match(psOwn, /^\s*1\s+sleep 3602/m);

    const shared = await env.runtime.runPodSandbox(sandboxConfig({ pidMode: "pod" }));
    await run(shared, ["sleep", "3603"], { pidMode: "pod" });
    const d = await run(shared, ["sleep", "3604"], { pidMode: "pod" });
    const psShared = await exec(d, "ps -o pid,args");
    assert.match(psShared, /sleep 3603/);
    assert.match(psShared, /^\s*1\s+\/catatonit -P/m);
    for (const sb of [own, shared]) {
      await env.runtime.stopPodSandbox(sb);
      await env.runtime.removePodSandbox(sb);
    }
  });

  test("PL-MAP-3 exit codes 0, 1, 137, OOMKilled and StartError are reported", async () => {
    const sb = await env.runtime.runPodSandbox(sandboxConfig());
    const zero = await run(sb, ["true"]);
    const one = await run(sb, ["false"]);
    const killed = await run(sb, ["sleep", "3600"]);
    const oom = await run(sb, ["sh", "-c", "dd if=/dev/zero of=/dev/null bs=64M count=1"], {
      resources: { memoryLimitBytes: 16 * 1024 * 1024 },
    });
    await env.runtime.stopContainer(killed, 0);
    const [z, o, k, m] = await Promise.all([zero, one, killed, oom].map(exited));
    assert.deepEqual([z?.exitCode, z?.reason], [0, "Completed"]);
    assert.deepEqual([o?.exitCode, o?.reason], [1, "Error"]);
    assert.deepEqual([k?.exitCode, k?.reason], [137, "Error"]);
    assert.deepEqual([m?.exitCode, m?.reason], [137, "OOMKilled"]);

    const bad = await env.runtime.createContainer(sb, containerConfig(["/nonexistent"]));
    await assert.rejects(env.runtime.startContainer(bad), (e) => isRuntimeError(e, "Failed"));
    const st = await env.runtime.containerStatus(bad);
    assert.equal(st.state, "exited");
    assert.equal(st.exitCode, 128);
    assert.equal(st.reason, "StartError");
    assert.match(
      st.message ?? "",
      /exec: "\/nonexistent": stat \/nonexistent: no such file or directory/,
    );
    await env.runtime.stopPodSandbox(sb);
    await env.runtime.removePodSandbox(sb);
  });

  test("PL-LOG-2 log lines are in CRI format and go to a new file after reopenContainerLog", async () => {
    const sb = await env.runtime.runPodSandbox(sandboxConfig());
    const id = await run(sb, [
      "sh",
      "-c",
      "i=0; while true; do echo line$i; echo err$i >&2; i=$((i+1)); sleep 0.05; done",
    ]);
    const st = await env.runtime.containerStatus(id);
    const criLine =
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(Z|[+-]\d\d:\d\d) (stdout|stderr) [FP] .*$/;
    const first = await waitFor("log lines", async () => {
      const text = await readFile(st.logPath, "utf8").catch(() => "");
      return text.includes("stdout F line1") && text.includes("stderr F err1") ? text : undefined;
    });
    for (const line of first.trim().split("\n")) assert.match(line, criLine);
    await rename(st.logPath, `${st.logPath}.1`);
    await env.runtime.reopenContainerLog(id);
    const second = await waitFor("lines in the reopened file", async () => {
      const text = await readFile(st.logPath, "utf8").catch(() => "");
      return /stdout F line\d+\n[\s\S]*stdout F line\d+\n/.test(text) ? text : undefined;
    });
    for (const line of second.trim().split("\n")) assert.match(line, criLine);
    await env.runtime.stopPodSandbox(sb);
    await env.runtime.removePodSandbox(sb);
  });

  test("PL-MAP-6 execSync reports output and exit code and kills on timeout", async () => {
    const sb = await env.runtime.runPodSandbox(sandboxConfig());
    const id = await run(sb, ["sleep", "3600"]);
    const r = await env.runtime.execSync(id, ["sh", "-c", "echo hi; exit 4"], 5000);
    assert.equal(r.exitCode, 4);
    assert.equal(r.stdout.toString(), "hi\n");
    const started = clock.now();
    const t = await env.runtime.execSync(id, ["sleep", "30"], 300);
    assert.equal(t.timedOut, true);
    assert.ok(clock.now() - started < 10_000);
    assert.ok(!(await exec(id, "ps -o args")).includes("sleep 30"));
    await env.runtime.stopPodSandbox(sb);
    await env.runtime.removePodSandbox(sb);
  });

  test("PL-MAP-4 a new RuncRuntime adopts 10 running containers and detects a later exit", async () => {
    const sb = await env.runtime.runPodSandbox(sandboxConfig({ labels: { restart: "yes" } }));
    const ids: ContainerId[] = [];
    for (let i = 0; i < 10; i++)
      ids.push(await run(sb, ["sleep", "3600"], { labels: { n: String(i) } }));
    const pids = await Promise.all(
      ids.map(async (id) => (await env.runtime.containerStatus(id)).pid),
    );
    await env.runtime.close();

    const rt2 = env.newRuntime();
    env.runtime = rt2;
    const listed = await rt2.listContainers({ sandboxId: sb });
    assert.equal(listed.length, 10);
    for (const c of listed) assert.equal(c.state, "running");
    assert.deepEqual(
      await Promise.all(ids.map(async (id) => (await rt2.containerStatus(id)).pid)),
      pids,
    );
    assert.equal((await rt2.listPodSandboxes({ labels: { restart: "yes" } }))[0]?.state, "ready");

    const ac = new AbortController();
    const target = ids[3]!;
    const got = (async (): Promise<RuntimeEvent | undefined> => {
      for await (const ev of rt2.events({ signal: ac.signal })) {
        if (ev.type === "ContainerExited" && ev.id === target) return ev;
      }
      return undefined;
    })();
    await clock.sleep(20);
    process.kill(pids[3]!, "SIGKILL");
    const timer = clock.sleep(15_000, ac.signal).then(
      () => undefined,
      () => undefined,
    );
    const ev = await Promise.race([got, timer]);
    ac.abort();
    await got;
    assert.equal(ev?.sandboxId, sb);
    assert.equal((await rt2.containerStatus(target)).exitCode, 137);
    await rt2.stopPodSandbox(sb);
    await rt2.removePodSandbox(sb);
  });

  test("PL-SBX-2 a hostNetwork sandbox uses the host network and UTS namespaces; exec streams", async () => {
    const sb = await env.runtime.runPodSandbox(sandboxConfig({ hostNetwork: true }));
    assert.deepEqual((await env.runtime.podSandboxStatus(sb)).ips, []);
    const id = await run(sb, ["sleep", "3600"]);
    const links = await exec(id, "ip -o link show");
    const hostLinks = await runCommand("ip", [
      "-n",
      env.netns.split("/").pop()!,
      "-o",
      "link",
      "show",
    ]);
    assert.equal(links.split("\n").length, hostLinks.stdout.split("\n").length);
    assert.equal(
      (await exec(id, "hostname")).trim(),
      (await readFile("/proc/sys/kernel/hostname", "utf8")).trim(),
    );

    const session = await env.runtime.exec(
      id,
      ["sh", "-c", "read x; echo got:$x; echo e >&2; exit 5"],
      {
        stdin: true,
        stdout: true,
        stderr: true,
        tty: false,
      },
    );
    const out: Buffer[] = [];
    session.stdout?.on("data", (d: Buffer) => out.push(d));
    session.stderr?.resume();
    session.stdin?.end("hello\n");
    assert.equal(await session.exitCode, 5);
    await session.close();
    assert.equal(Buffer.concat(out).toString(), "got:hello\n");
    await env.runtime.stopPodSandbox(sb);
    await env.runtime.removePodSandbox(sb);
  });

  test("half-made containers are cleaned up by a new instance", async () => {
    const sb = await env.runtime.runPodSandbox(sandboxConfig());
    const id = await run(sb, ["sleep", "3600"]);
    await env.runtime.close();
    await rm(join(env.dir, "root", "containers", id, "meta.json"));
    const rt2 = env.newRuntime();
    env.runtime = rt2;
    await assert.rejects(rt2.containerStatus(id), (e) => isRuntimeError(e, "NotFound"));
    assert.ok(!existsSync(join(env.dir, "root", "containers", id)));
    await rt2.stopPodSandbox(sb);
    await rt2.removePodSandbox(sb);
  });
});
