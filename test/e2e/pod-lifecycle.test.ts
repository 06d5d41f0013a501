// Issue 4 acceptance: pods come to life as in Kubernetes, observed only through kubectl.
// Tests are named after the rules of ../shared/spec/pod-lifecycle.md they prove.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { KUBECTL_DIR, startCluster, type Cluster } from "./harness.js";

const SLEEP = "trap 'exit 0' TERM; while true; do sleep 1; done";
/** A YAML flow sequence (JSON) for `sh -c <script>`. */
const sh = (script: string): string => JSON.stringify(["sh", "-c", script]);

/** One `kubectl get -w` row: STATUS and RESTARTS columns and when it arrived. */
interface WatchRow {
  status: string;
  restarts: string;
  atMs: number;
}

/** A running `kubectl get pod <name> -w --no-headers` in the cluster's netns. */
interface PodWatch {
  rows: WatchRow[];
  /** Resolves once a row with this STATUS arrived. */
  until(status: string, timeoutMs?: number): Promise<WatchRow>;
  stop(): Promise<void>;
}

function watchPod(c: Cluster, name: string): PodWatch {
  const child = spawn(
    "nsenter",
    [
      `--net=/run/netns/${c.netns}`,
      `${KUBECTL_DIR}/kubectl.1.33`,
      "--kubeconfig",
      c.kubeconfig,
      "get",
      "pods",
      "--field-selector",
      `metadata.name=${name}`,
      "-w",
      "--no-headers",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const rows: WatchRow[] = [];
  let buf = "";
  child.stdout.on("data", (b: Buffer) => {
    buf += b.toString();
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      // NAME READY STATUS RESTARTS AGE; RESTARTS may read "2 (3s ago)".
      const m = /^\S+\s+\S+\s+(\S+)\s+(\d+(?: \([^)]*\))?)\s+\S+$/.exec(line.trim());
      if (m) rows.push({ status: m[1] ?? "", restarts: m[2] ?? "", atMs: Date.now() });
    }
  });
  const exited = new Promise<void>((resolve) => {
    child.once("close", () => {
      resolve();
    });
  });
  return {
    rows,
    async until(status, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const row = rows.find((r) => r.status === status);
        if (row) return row;
        if (Date.now() > deadline)
          throw new Error(`watch of ${name}: no ${status} in ${statuses(rows).join(" → ")}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** STATUS values of watch rows with consecutive repeats folded. */
function statuses(rows: WatchRow[]): string[] {
  const out: string[] = [];
  for (const r of rows) if (out.at(-1) !== r.status) out.push(r.status);
  return out;
}

/** Asserts `seq` is `want` with the entries marked `?` optional. */
function assertSequence(seq: string[], want: string[]): void {
  const re = new RegExp(
    "^" + want.map((w) => (w.endsWith("?") ? `(?:${w.slice(0, -1)},)?` : `${w},`)).join("") + "$",
  );
  assert.match(seq.map((s) => `${s},`).join(""), re, `sequence ${seq.join(" → ")}`);
}

describe("pod lifecycle", () => {
  let c: Cluster;
  before(async () => {
    // A short crash back-off keeps the suite fast; pod-backoff.test.ts shows the default steps.
    c = await startCluster({ args: ["--backoff-initial-ms", "1000", "--backoff-max-ms", "4000"] });
  });
  after(async () => {
    await c.stop();
  });

  const apply = (yaml: string): Promise<string> => c.k(["apply", "-f", "-"], { input: yaml });
  const status = async (name: string): Promise<string> => {
    const out = await c.k(["get", "pod", name, "--no-headers"]);
    return out.trim().split(/\s+/)[2] ?? "";
  };
  const waitStatus = async (
    name: string,
    want: string | RegExp,
    timeoutMs = 30_000,
  ): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    for (;;) {
      last = await status(name).catch((e: unknown) => String(e));
      if (typeof want === "string" ? last === want : want.test(last)) return last;
      if (Date.now() > deadline)
        throw new Error(`pod ${name}: STATUS ${last}, wanted ${String(want)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  test("seed transcript: Init:0/2 → Init:1/2 → Running, logs, describe events", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata:
  name: myapp-pod
  labels: {app.kubernetes.io/name: MyApp}
spec:
  containers:
  - name: myapp-container
    image: busybox:1.28
    command: ${sh(`echo The app is running! && ${SLEEP}`)}
  initContainers:
  - name: init-myservice
    image: busybox:1.28
    command: ['sh', '-c', 'until [ -f /work/myservice ]; do echo waiting for myservice; sleep 1; done']
    volumeMounts: [{name: work, mountPath: /work}]
  - name: init-mydb
    image: busybox:1.28
    command: ['sh', '-c', 'until [ -f /work/mydb ]; do echo waiting for mydb; sleep 1; done']
    volumeMounts: [{name: work, mountPath: /work}]
  volumes:
  - name: work
    hostPath: {path: /tmp/podrun-e2e-myapp, type: DirectoryOrCreate}
`);
    await waitStatus("myapp-pod", "Init:0/2");
    // The default statuses (PL-CST-1) are published before the sandbox has its IP.
    await c.waitFor("pod/myapp-pod", "{.status.podIP}", /^10\.244\./);
    const wide = await c.k(["get", "pod", "myapp-pod", "-o", "wide"]);
    assert.match(wide, /^myapp-pod\s+0\/1\s+Init:0\/2\s+0\s+\S+\s+10\.244\.\d+\.\d+\s/m);
    await new Promise((r) => setTimeout(r, 1500));
    assert.match(
      await c.k(["logs", "myapp-pod", "-c", "init-myservice"]),
      /^waiting for myservice$/m,
    );
    await c.inNetns("sh", ["-c", "touch /tmp/podrun-e2e-myapp/myservice"]);
    await waitStatus("myapp-pod", "Init:1/2");
    await c.inNetns("sh", ["-c", "touch /tmp/podrun-e2e-myapp/mydb"]);
    await waitStatus("myapp-pod", "Running");
    assert.match(await c.k(["get", "pod", "myapp-pod"]), /^myapp-pod\s+1\/1\s+Running\s+0\s/m);
    assert.equal(await c.k(["logs", "myapp-pod"]), "The app is running!\n");
    const d = await c.k(["describe", "pod", "myapp-pod"]);
    for (const re of [
      /Normal\s+Scheduled\s+.*default-scheduler\s+Successfully assigned default\/myapp-pod to /,
      /Normal\s+Pulled\s+.*kubelet\s+Container image "busybox:1.28" already present on machine/,
      /Normal\s+Created\s+.*kubelet\s+Created container: init-myservice/,
      /Normal\s+Started\s+.*kubelet\s+Started container init-myservice/,
      /Normal\s+Started\s+.*kubelet\s+Started container myapp-container/,
    ]) {
      assert.match(d, re);
    }
    await c.inNetns("rm", ["-rf", "/tmp/podrun-e2e-myapp"]);
  });

  test("PL-EDGE-1: init container exits 1 under restartPolicy Never → Init:Error, Failed", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: edge1}
spec:
  restartPolicy: Never
  initContainers: [{name: init, image: busybox:1.28, command: ['sh', '-c', 'exit 1']}]
  containers: [{name: app, image: busybox:1.28, command: ['sh', '-c', 'echo never']}]
`);
    await waitStatus("edge1", "Init:Error");
    assert.equal(await c.k(["get", "pod", "edge1", "-o", "jsonpath={.status.phase}"]), "Failed");
    assert.equal(
      await c.k([
        "get",
        "pod",
        "edge1",
        "-o",
        "jsonpath={.status.containerStatuses[0].state.waiting.reason}",
      ]),
      "PodInitializing",
    );
  });

  test("PL-EDGE-2: init container exits 1 under Always → Init:Error / Init:CrashLoopBackOff, Pending", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: edge2}
spec:
  initContainers: [{name: init, image: busybox:1.28, command: ['sh', '-c', 'exit 1']}]
  containers: [{name: app, image: busybox:1.28, command: ['sh', '-c', 'echo never']}]
`);
    await waitStatus("edge2", "Init:CrashLoopBackOff");
    assert.equal(await c.k(["get", "pod", "edge2", "-o", "jsonpath={.status.phase}"]), "Pending");
    const restarts = Number(
      await c.k([
        "get",
        "pod",
        "edge2",
        "-o",
        "jsonpath={.status.initContainerStatuses[0].restartCount}",
      ]),
    );
    assert.ok(restarts >= 1, `restartCount ${restarts}`);
  });

  test("PL-EDGE-8: Job-style pod with a sidecar completes; the sidecar is stopped after the app", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: edge8}
spec:
  restartPolicy: Never
  initContainers:
  - {name: side, image: busybox:1.28, restartPolicy: Always, command: ${sh(SLEEP)}}
  containers:
  - {name: app, image: busybox:1.28, command: ['sh', '-c', 'sleep 1; echo done']}
`);
    await waitStatus("edge8", "Completed");
    // The phase turns terminal only once the sidecar, too, has stopped (PL-PHASE-10).
    await c.waitFor("pod/edge8", "{.status.phase}", "Succeeded");
    assert.equal(
      await c.k([
        "get",
        "pod",
        "edge8",
        "-o",
        "jsonpath={.status.initContainerStatuses[0].restartCount}",
      ]),
      "0",
    );
  });

  test("PL-EDGE-10: OnFailure — exit 0 completes; exit 2 restarts with Error then CrashLoopBackOff", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: edge10a}
spec:
  restartPolicy: OnFailure
  containers: [{name: app, image: busybox:1.28, command: ['true']}]
---
apiVersion: v1
kind: Pod
metadata: {name: edge10b}
spec:
  restartPolicy: OnFailure
  containers: [{name: app, image: busybox:1.28, command: ['sh', '-c', 'exit 2']}]
`);
    await waitStatus("edge10a", "Completed");
    await waitStatus("edge10b", "CrashLoopBackOff");
    assert.equal(await c.k(["get", "pod", "edge10b", "-o", "jsonpath={.status.phase}"]), "Running");
    assert.equal(
      await c.k([
        "get",
        "pod",
        "edge10b",
        "-o",
        "jsonpath={.status.containerStatuses[0].lastState.terminated.exitCode}",
      ]),
      "2",
    );
  });

  test("PL-EDGE-11 / seed: command echo SUCCESS under Always ends in CrashLoopBackOff; logs print SUCCESS", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: success}
spec:
  containers: [{name: app, image: busybox:1.28, command: ['echo', 'SUCCESS']}]
`);
    await waitStatus("success", "CrashLoopBackOff");
    assert.equal(await c.k(["logs", "success"]), "SUCCESS\n");
    const row = await c.k(["get", "pod", "success", "--no-headers"]);
    assert.match(row, /^success\s+0\/1\s+CrashLoopBackOff\s+\d+ \(\d+s ago\)\s/);
    const ev = await c.k(["get", "events", "--field-selector", "involvedObject.name=success"]);
    assert.match(
      ev,
      /Warning\s+BackOff\s+pod\/success\s+Back-off restarting failed container app in pod success_default\(/,
    );
  });

  test("PL-EDGE-15 / seed: imagePullPolicy Never with an absent image → ErrImageNeverPull", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: neverpull}
spec:
  containers: [{name: app, image: example.invalid/absent:1.0, imagePullPolicy: Never}]
`);
    await waitStatus("neverpull", "ErrImageNeverPull");
    const ev = await c.k([
      "get",
      "events",
      "--field-selector",
      "involvedObject.name=neverpull,reason=ErrImageNeverPull",
      "-o",
      "jsonpath={.items[0].message}",
    ]);
    assert.equal(
      ev,
      'Container image "example.invalid/absent:1.0" is not present with pull policy of Never',
    );
  });

  test("PL-EDGE-16 / seed: an image without tag gets imagePullPolicy Always and the normalized image", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: notag}
spec:
  containers: [{name: app, image: busybox, command: ${sh(SLEEP)}}]
`);
    assert.equal(
      await c.k(["get", "pod", "notag", "-o", "jsonpath={.spec.containers[0].imagePullPolicy}"]),
      "Always",
    );
  });

  test("PL-EDGE-17: a missing executable → RunContainerError, then StartError exit 128", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: edge17}
spec:
  containers: [{name: app, image: busybox:1.28, command: ['/nonexistent']}]
`);
    await waitStatus("edge17", /^(RunContainerError|CrashLoopBackOff)$/);
    await c.waitFor(
      "pod/edge17",
      "{.status.containerStatuses[0].lastState.terminated.reason}",
      "StartError",
    );
    assert.equal(
      await c.k([
        "get",
        "pod",
        "edge17",
        "-o",
        "jsonpath={.status.containerStatuses[0].lastState.terminated.exitCode}",
      ]),
      "128",
    );
  });

  test("PL-EDGE-30 and PL-EDGE-31: termination messages", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: edge30}
spec:
  restartPolicy: Never
  containers: [{name: app, image: busybox:1.28, command: ['sh', '-c', 'head -c 6000 /dev/zero | tr "\\\\0" x > /dev/termination-log; exit 1']}]
---
apiVersion: v1
kind: Pod
metadata: {name: edge31}
spec:
  restartPolicy: Never
  containers: [{name: app, image: busybox:1.28, terminationMessagePolicy: FallbackToLogsOnError, command: ['sh', '-c', 'for i in $(seq 1 200); do echo line $i; done; exit 1']}]
`);
    await waitStatus("edge30", "Error");
    const msg = await c.k([
      "get",
      "pod",
      "edge30",
      "-o",
      "jsonpath={.status.containerStatuses[0].state.terminated.message}",
    ]);
    assert.equal(msg.length, 4096);
    await waitStatus("edge31", "Error");
    const logs = await c.k([
      "get",
      "pod",
      "edge31",
      "-o",
      "jsonpath={.status.containerStatuses[0].state.terminated.message}",
    ]);
    const lines = logs.trimEnd().split("\n");
    assert.equal(lines.length, 80);
    assert.equal(lines.at(-1), "line 200");
  });

  test("PL-EDGE-36 and PL-EDGE-37: resolv.conf, /etc/hosts and hostname", async () => {
    await c.k(["create", "namespace", "team"]);
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: dns, namespace: team}
spec:
  hostname: web
  subdomain: svc1
  restartPolicy: Never
  containers: [{name: app, image: busybox:1.28, command: ['sh', '-c', 'cat /etc/resolv.conf; echo ---; cat /etc/hosts; echo ---; hostname']}]
`);
    await c.waitFor("pod/dns -n team", "{.status.phase}", "Succeeded");
    const out = await c.k(["logs", "-n", "team", "dns"]);
    const [resolv = "", hosts = "", hostname = ""] = out.split("---\n");
    assert.match(resolv, /^search team\.svc\.cluster\.local svc\.cluster\.local cluster\.local/m);
    assert.match(resolv, /^nameserver 10\.96\.0\.10$/m);
    assert.match(resolv, /^options ndots:5$/m);
    assert.match(hosts, /^# Kubernetes-managed hosts file\.$/m);
    assert.match(hosts, /^10\.244\.\d+\.\d+\tweb\.svc1\.team\.svc\.cluster\.local\tweb$/m);
    assert.equal(hostname.trim(), "web");
  });

  test("PL-EDGE-28: a pod that exits on SIGTERM is deleted quickly and ends Succeeded", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: graceful}
spec:
  containers: [{name: app, image: busybox:1.28, command: ${sh(SLEEP)}}]
`);
    await waitStatus("graceful", "Running");
    const t0 = Date.now();
    await c.k(["delete", "pod", "graceful"]);
    assert.ok(Date.now() - t0 < 10_000, `delete took ${Date.now() - t0} ms`);
  });

  const jp = (name: string, path: string): Promise<string> =>
    c.k(["get", "pod", name, "-o", `jsonpath=${path}`]);
  const ms = (t: string): number => new Date(t).getTime();
  /** runc `--root` of the cluster's runtime: `<runDir>/runc` holding a state dir for `id`. */
  const runcRoot = (id: string): string => {
    for (const d of readdirSync("/run")) {
      if (!d.startsWith("podrun")) continue;
      const root = `/run/${d}/runc`;
      try {
        readdirSync(`${root}/${id}`);
        return root;
      } catch {
        // not this cluster's
      }
    }
    throw new Error(`no runc state for ${id}`);
  };
  const containerId = async (name: string, field = "containerStatuses[0]"): Promise<string> =>
    (await jp(name, `{.status.${field}.containerID}`)).replace(/^[a-z]+:\/\//, "");
  const runcPid = async (root: string, id: string): Promise<number> => {
    const r = await c.inNetns("runc", ["--root", root, "state", id]);
    return (JSON.parse(r.stdout) as { pid: number }).pid;
  };

  test("PL-EDGE-3: second init container starts only after the first exits 0 (Init:0/2 → Init:1/2)", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: edge3}
spec:
  initContainers:
  - {name: first, image: busybox:1.28, command: ['sh', '-c', 'sleep 3']}
  - {name: second, image: busybox:1.28, command: ['true']}
  containers: [{name: app, image: busybox:1.28, command: ${sh(SLEEP)}}]
`);
    await waitStatus("edge3", "Init:0/2");
    assert.equal(
      await jp("edge3", "{.status.initContainerStatuses[1].state.waiting.reason}"),
      "PodInitializing",
    );
    await waitStatus("edge3", "Running");
    const firstDone = ms(
      await jp("edge3", "{.status.initContainerStatuses[0].state.terminated.finishedAt}"),
    );
    const secondStart = ms(
      await jp("edge3", "{.status.initContainerStatuses[1].state.terminated.startedAt}"),
    );
    assert.ok(
      secondStart >= firstDone,
      `second started ${secondStart} before first finished ${firstDone}`,
    );
    await c.k(["delete", "pod", "edge3", "--wait=false"]);
  });

  test("PL-EDGE-4: init done, app still starting (blocking postStart) → PodInitializing, Initialized=True, ContainersNotReady", async () => {
    // Documented substitute for a slow pull: the app container's postStart hook blocks its start,
    // so after the init container finished the app is still Waiting PodInitializing.
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: edge4}
spec:
  initContainers: [{name: init, image: busybox:1.28, command: ['true']}]
  containers:
  - name: app
    image: busybox:1.28
    command: ${sh(SLEEP)}
    lifecycle: {postStart: {exec: {command: ['sleep', '6']}}}
`);
    await waitStatus("edge4", "PodInitializing");
    assert.equal(
      await jp("edge4", '{.status.conditions[?(@.type=="Initialized")].status}'),
      "True",
    );
    assert.equal(
      await jp("edge4", '{.status.conditions[?(@.type=="ContainersReady")].status}'),
      "False",
    );
    assert.equal(
      await jp("edge4", '{.status.conditions[?(@.type=="ContainersReady")].reason}'),
      "ContainersNotReady",
    );
    await waitStatus("edge4", "Running");
    await c.k(["delete", "pod", "edge4", "--wait=false"]);
  });

  test("PL-EDGE-5: app container deleted with runc → recreated, restartCount 1, init not re-run", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: edge5}
spec:
  initContainers: [{name: init, image: busybox:1.28, command: ['true']}]
  containers: [{name: app, image: busybox:1.28, command: ${sh(SLEEP)}}]
`);
    await waitStatus("edge5", "Running");
    const initId = await containerId("edge5", "initContainerStatuses[0]");
    const id = await containerId("edge5");
    const root = runcRoot(id);
    await c.inNetns("runc", ["--root", root, "delete", "-f", id]);
    await c.waitFor("pod/edge5", "{.status.containerStatuses[0].restartCount}", "1");
    await waitStatus("edge5", "Running");
    assert.notEqual(await containerId("edge5"), id);
    assert.equal(await containerId("edge5", "initContainerStatuses[0]"), initId);
    assert.equal(await jp("edge5", "{.status.initContainerStatuses[0].restartCount}"), "0");
    await c.k(["delete", "pod", "edge5", "--wait=false"]);
  });

  test("PL-EDGE-6: pause process killed → SandboxChanged, init re-run, restart counts increase", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: edge6}
spec:
  initContainers: [{name: init, image: busybox:1.28, command: ['true']}]
  containers: [{name: app, image: busybox:1.28, command: ${sh(SLEEP)}}]
`);
    await waitStatus("edge6", "Running");
    const id = await containerId("edge6");
    const root = runcRoot(id);
    const appPid = await runcPid(root, id);
    const appNet = readlinkSync(`/proc/${String(appPid)}/ns/net`);
    const list = JSON.parse(
      (await c.inNetns("runc", ["--root", root, "list", "-f", "json"])).stdout,
    ) as { id: string; pid: number; bundle: string }[] | null;
    // The sandbox's infra process: a runc container whose bundle is a sandbox, in the app's netns.
    const pause = (list ?? []).find((e) => {
      try {
        return (
          e.bundle.includes("/sandboxes/") &&
          e.pid > 0 &&
          readlinkSync(`/proc/${String(e.pid)}/ns/net`) === appNet
        );
      } catch {
        return false;
      }
    });
    assert.ok(pause, "pause process found");
    process.kill(pause.pid, "SIGKILL");
    await c.waitFor("pod/edge6", "{.status.containerStatuses[0].restartCount}", "1");
    await c.waitFor("pod/edge6", "{.status.initContainerStatuses[0].restartCount}", "1");
    await waitStatus("edge6", "Running");
    const ev = await c.k([
      "get",
      "events",
      "--field-selector",
      "involvedObject.name=edge6,reason=SandboxChanged",
      "-o",
      "jsonpath={.items[0].message}",
    ]);
    assert.equal(ev, "Pod sandbox changed, it will be killed and re-created.");
    await c.k(["delete", "pod", "edge6", "--wait=false"]);
  });

  test("PL-EDGE-7: sidecar failing its startupProbe is restarted; later containers never start; Pending", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: edge7}
spec:
  initContainers:
  - name: side
    image: busybox:1.28
    restartPolicy: Always
    command: ${sh(SLEEP)}
    startupProbe: {exec: {command: ['false']}, periodSeconds: 1, failureThreshold: 3}
  - {name: next, image: busybox:1.28, command: ['true']}
  containers: [{name: app, image: busybox:1.28, command: ${sh(SLEEP)}}]
`);
    await c.waitFor(
      "pod/edge7",
      "{.status.initContainerStatuses[0].restartCount}",
      /^[1-9]/,
      45_000,
    );
    assert.equal(await jp("edge7", "{.status.phase}"), "Pending");
    assert.equal(
      await jp("edge7", "{.status.initContainerStatuses[1].state.waiting.reason}"),
      "PodInitializing",
    );
    assert.equal(
      await jp("edge7", "{.status.containerStatuses[0].state.waiting.reason}"),
      "PodInitializing",
    );
    const ev = await c.k([
      "get",
      "events",
      "--field-selector",
      "involvedObject.name=edge7,reason=Killing",
      "-o",
      "jsonpath={.items[*].message}",
    ]);
    assert.match(ev, /Init container side failed startup probe/);
    await c.k(["delete", "pod", "edge7", "--wait=false"]);
  });

  test("PL-EDGE-9: delete with two sidecars → preStop hooks at once; app, then s2, then s1 get the stop signal", async () => {
    await c.inNetns("mkdir", ["-p", "/tmp/podrun-e2e-edge9"]);
    await c.inNetns("rm", ["-f", "/tmp/podrun-e2e-edge9/order"]);
    const ctr = (name: string, side: boolean): string => `
  - name: ${name}
    image: busybox:1.28
    ${side ? "restartPolicy: Always" : ""}
    command: ${sh(`trap 'echo stop-${name} >> /o/order; exit 0' TERM; while true; do sleep 1; done`)}
    lifecycle: {preStop: {exec: {command: ${sh(`echo pre-${name} >> /o/order`)}}}}
    volumeMounts: [{name: o, mountPath: /o}]`;
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: edge9}
spec:
  terminationGracePeriodSeconds: 20
  volumes: [{name: o, hostPath: {path: /tmp/podrun-e2e-edge9}}]
  initContainers:${ctr("s1", true)}${ctr("s2", true)}
  containers:${ctr("app", false)}
`);
    await waitStatus("edge9", "Running");
    await c.k(["delete", "pod", "edge9"]);
    const lines = readFileSync("/tmp/podrun-e2e-edge9/order", "utf8").trim().split("\n");
    assert.deepEqual(
      lines.filter((l) => l.startsWith("stop-")),
      ["stop-app", "stop-s2", "stop-s1"],
    );
    assert.deepEqual(lines.filter((l) => l.startsWith("pre-")).sort(), [
      "pre-app",
      "pre-s1",
      "pre-s2",
    ]);
    await c.inNetns("rm", ["-rf", "/tmp/podrun-e2e-edge9"]);
  });

  test("PL-EDGE-12: a run longer than 2 × max back-off resets the delay (configured 1 s / 4 s)", async () => {
    // Runs 1–3 crash at once (delays 0, 1, 2 s; the cap is 4 s), run 4 lasts 10 s > 2 × 4 s,
    // so run 5 starts without the 4 s delay it would otherwise get.
    await c.inNetns("mkdir", ["-p", "/tmp/podrun-e2e-edge12"]);
    await c.inNetns("rm", ["-f", "/tmp/podrun-e2e-edge12/runs"]);
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: edge12}
spec:
  volumes: [{name: o, hostPath: {path: /tmp/podrun-e2e-edge12}}]
  containers:
  - name: app
    image: busybox:1.28
    volumeMounts: [{name: o, mountPath: /o}]
    command: ${sh(`n=$(( $(grep -c '^[0-9]' /o/runs 2>/dev/null || echo 0) + 1 )); echo "$n $(date +%s)" >> /o/runs; if [ $n -eq 4 ]; then sleep 10; echo "end $(date +%s)" >> /o/runs; fi; exit 1`)}
`);
    const deadline = Date.now() + 60_000;
    let runs: string[] = [];
    while (Date.now() < deadline) {
      try {
        runs = readFileSync("/tmp/podrun-e2e-edge12/runs", "utf8").trim().split("\n");
      } catch {
        runs = [];
      }
      if (runs.length >= 6) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const end4 = Number(runs.find((l) => l.startsWith("end "))?.split(" ")[1]);
    const start5 = Number(runs.find((l) => l.startsWith("5 "))?.split(" ")[1]);
    assert.ok(
      start5 - end4 <= 2,
      `run 5 started ${String(start5 - end4)} s after run 4 ended: ${runs.join("; ")}`,
    );
    await c.k(["delete", "pod", "edge12", "--wait=false"]);
    await c.inNetns("rm", ["-rf", "/tmp/podrun-e2e-edge12"]);
  });

  test("PL-EDGE-13: image update on a crash-looping container restarts it with the new image", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: edge13}
spec:
  containers: [{name: app, image: busybox:1.28, command: ['sh', '-c', 'exit 1']}]
`);
    await waitStatus("edge13", "CrashLoopBackOff");
    await c.k(["set", "image", "pod/edge13", "app=busybox:latest"]);
    await c.waitFor("pod/edge13", "{.status.containerStatuses[0].image}", /busybox:latest$/);
    await c.waitFor(
      "pod/edge13",
      "{.status.containerStatuses[0].lastState.terminated.exitCode}",
      "1",
    );
    await c.k(["delete", "pod", "edge13", "--wait=false"]);
  });

  test("PL-EDGE-14: pull from an unreachable registry → ErrImagePull, then ImagePullBackOff", async () => {
    // ErrImagePull shows until the next sync, half the image back-off later: watch from the start.
    const w = watchPod(c, "edge14");
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: edge14}
spec:
  containers: [{name: app, image: "127.0.0.1:5999/nope:doesnotexist"}]
`);
    try {
      await w.until("ImagePullBackOff", 45_000);
      assert.ok(statuses(w.rows).includes("ErrImagePull"), statuses(w.rows).join(" → "));
    } finally {
      await w.stop();
    }
    const ev = await c.k([
      "get",
      "events",
      "--field-selector",
      "involvedObject.name=edge14,reason=Failed",
      "-o",
      "jsonpath={range .items[*]}{.message}{'\\n'}{end}",
    ]);
    assert.match(ev, /^Failed to pull image "127\.0\.0\.1:5999\/nope:doesnotexist": /m);
    assert.match(ev, /^Error: ErrImagePull$/m);
    await c.k(["delete", "pod", "edge14", "--wait=false"]);
  });

  test("PL-EDGE-25: a blocking postStart keeps ContainerCreating; the next container starts after it", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: edge25}
spec:
  containers:
  - name: a
    image: busybox:1.28
    command: ${sh(SLEEP)}
    lifecycle: {postStart: {exec: {command: ['sleep', '5']}}}
  - {name: b, image: busybox:1.28, command: ${sh(SLEEP)}}
`);
    await waitStatus("edge25", "ContainerCreating");
    await waitStatus("edge25", "Running");
    const a = ms(await jp("edge25", "{.status.containerStatuses[0].state.running.startedAt}"));
    const b = ms(await jp("edge25", "{.status.containerStatuses[1].state.running.startedAt}"));
    assert.ok(b - a >= 4000, `b started ${String(b - a)} ms after a`);
    await c.k(["delete", "pod", "edge25", "--wait=false"]);
  });

  test("PL-EDGE-26: preStop sleep 100 with grace 3 is cut at ~3 s, then SIGKILL 2 s later", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: edge26}
spec:
  terminationGracePeriodSeconds: 3
  containers:
  - name: app
    image: busybox:1.28
    command: ['sh', '-c', 'sleep 3600']
    lifecycle: {preStop: {exec: {command: ['sleep', '100']}}}
`);
    await waitStatus("edge26", "Running");
    const t0 = Date.now();
    await c.k(["delete", "pod", "edge26"]);
    const took = Date.now() - t0;
    assert.ok(took >= 4000 && took < 12_000, `delete took ${String(took)} ms`);
  });

  test("PL-EDGE-27: no SIGTERM handler, grace 3 → killed after ~3 s, exit 137, phase Failed", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: edge27}
spec:
  terminationGracePeriodSeconds: 3
  containers: [{name: app, image: busybox:1.28, command: ['sh', '-c', 'sleep 3600']}]
`);
    await waitStatus("edge27", "Running");
    const child = spawn(
      "nsenter",
      [
        `--net=/run/netns/${c.netns}`,
        `${KUBECTL_DIR}/kubectl.1.33`,
        "--kubeconfig",
        c.kubeconfig,
        "get",
        "pod",
        "edge27",
        "-w",
        "-o",
        'jsonpath={.status.phase} {.status.containerStatuses[0].state.terminated.exitCode}{"\\n"}',
      ],
      { stdio: ["ignore", "pipe", "ignore"] },
    );
    let out = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    const closed = new Promise((r) => child.once("close", r));
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    await c.k(["delete", "pod", "edge27"]);
    const took = Date.now() - t0;
    child.kill("SIGTERM");
    await closed;
    assert.ok(took >= 2500 && took < 10_000, `delete took ${String(took)} ms`);
    assert.match(out, /^Failed 137$/m);
  });

  test("PL-EDGE-29: activeDeadlineSeconds 5 → Failed DeadlineExceeded; raising it is rejected", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: edge29}
spec:
  activeDeadlineSeconds: 5
  containers: [{name: app, image: busybox:1.28, command: ${sh(SLEEP)}}]
`);
    await waitStatus("edge29", "Running");
    const raise = await c.kubectl([
      "patch",
      "pod",
      "edge29",
      "-p",
      '{"spec":{"activeDeadlineSeconds":50}}',
    ]);
    assert.notEqual(raise.code, 0);
    assert.match(raise.stderr, /must be less than or equal to previous value/);
    await c.waitFor("pod/edge29", "{.status.phase}", "Failed", 30_000);
    assert.equal(await jp("edge29", "{.status.reason}"), "DeadlineExceeded");
    assert.equal(
      await jp("edge29", "{.status.message}"),
      "Pod was active on the node longer than the specified deadline",
    );
  });

  test("kubectl get -w: init pod Pending → Init:0/1 → PodInitializing → Running", async () => {
    const w = watchPod(c, "winit");
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: winit}
spec:
  initContainers: [{name: init, image: busybox:1.28, command: ['sleep', '2']}]
  containers: [{name: app, image: busybox:1.28, command: ${sh(SLEEP)}}]
`);
    try {
      await w.until("Running");
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      await w.stop();
    }
    assertSequence(statuses(w.rows), ["Pending?", "Init:0/1", "PodInitializing?", "Running"]);
    await c.k(["delete", "pod", "winit", "--wait=false"]);
  });

  test("kubectl get -w: crash loop shows Error → CrashLoopBackOff with RESTARTS N (Xs ago)", async () => {
    const w = watchPod(c, "wcrash");
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: wcrash}
spec:
  containers: [{name: app, image: busybox:1.28, command: ['sh', '-c', 'sleep 1; exit 1']}]
`);
    try {
      const row = await w.until("CrashLoopBackOff");
      assert.match(row.restarts, /^\d+ \(\d+s ago\)$/);
    } finally {
      await w.stop();
    }
    const seq = statuses(w.rows);
    assertSequence(seq.slice(0, seq.indexOf("CrashLoopBackOff") + 1), [
      "Pending?",
      "ContainerCreating?",
      "Running",
      "Error",
      "(?:Running,Error,)*CrashLoopBackOff",
    ]);
    await c.k(["delete", "pod", "wcrash", "--wait=false"]);
  });

  test("kubectl get -w: Job-style pod → Completed; with a sidecar → Completed after the app", async () => {
    const wj = watchPod(c, "wjob");
    const ws = watchPod(c, "wside");
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: wjob}
spec:
  restartPolicy: Never
  containers: [{name: app, image: busybox:1.28, command: ['sh', '-c', 'sleep 2']}]
---
apiVersion: v1
kind: Pod
metadata: {name: wside}
spec:
  restartPolicy: Never
  initContainers: [{name: side, image: busybox:1.28, restartPolicy: Always, command: ${sh(SLEEP)}}]
  containers: [{name: app, image: busybox:1.28, command: ['sh', '-c', 'sleep 2']}]
`);
    try {
      await wj.until("Completed");
      await ws.until("Completed");
      await c.waitFor("pod/wside", "{.status.phase}", "Succeeded");
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      await wj.stop();
      await ws.stop();
    }
    assertSequence(statuses(wj.rows), ["Pending?", "ContainerCreating?", "Running", "Completed"]);
    assertSequence(statuses(ws.rows), [
      "Pending?",
      "Init:0/1?",
      "PodInitializing?",
      "Running",
      "Completed",
    ]);
    const finished = ms(
      await jp("wside", "{.status.containerStatuses[0].state.terminated.finishedAt}"),
    );
    const sideFinished = ms(
      await jp("wside", "{.status.initContainerStatuses[0].state.terminated.finishedAt}"),
    );
    assert.ok(sideFinished >= finished, "sidecar stopped after the app");
    assert.equal(await jp("wside", "{.status.initContainerStatuses[0].restartCount}"), "0");
  });

  test("PL-EDGE-27 / kubectl get -w: SIGTERM ignored, default grace → Terminating ≈ 30 s; --force → gone at once", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: wterm}
spec:
  containers: [{name: app, image: busybox:1.28, command: ['sh', '-c', 'sleep 3600']}]
---
apiVersion: v1
kind: Pod
metadata: {name: wforce}
spec:
  containers: [{name: app, image: busybox:1.28, command: ['sh', '-c', 'sleep 3600']}]
`);
    await waitStatus("wterm", "Running");
    await waitStatus("wforce", "Running");
    const w = watchPod(c, "wterm");
    const wf = watchPod(c, "wforce");
    try {
      await w.until("Running");
      await wf.until("Running");
      const t0 = Date.now();
      await c.k(["delete", "pod", "wterm", "--wait=false"]);
      const tf = Date.now();
      await c.k(["delete", "pod", "wforce", "--grace-period=0", "--force"]);
      assert.ok(Date.now() - tf < 5000, `force delete took ${String(Date.now() - tf)} ms`);
      assert.notEqual((await c.kubectl(["get", "pod", "wforce"])).code, 0);
      // Gone once the kubelet killed it after the 30 s grace and removed the object.
      while ((await c.kubectl(["get", "pod", "wterm"])).code === 0) {
        if (Date.now() - t0 > 60_000) throw new Error("wterm still present after 60 s");
        await new Promise((r) => setTimeout(r, 200));
      }
      const took = Date.now() - t0;
      assert.ok(took >= 28_000 && took < 45_000, `Terminating for ${String(took)} ms`);
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      await w.stop();
      await wf.stop();
    }
    assertSequence(statuses(w.rows), ["Running", "Terminating", "Error?"]);
    assertSequence(statuses(wf.rows), ["Running", "Terminating"]);
  });

  test("PL-EDGE-40: log rotation keeps 0.log, one 0.log.<ts> and at most one .gz; --previous reads N-1", async () => {
    // Runs on its own cluster with --container-log-max-size-bytes 1 MiB, --container-log-max-files 3.
    const c2 = await startCluster({
      args: ["--container-log-max-size-bytes", "1048576", "--container-log-max-files", "3"],
    });
    try {
      await c2.k(["apply", "-f", "-"], {
        input: `
apiVersion: v1
kind: Pod
metadata: {name: edge40}
spec:
  containers:
  - name: app
    image: busybox:1.28
    command: ${sh("i=0; while [ $i -lt 30 ]; do head -c 600000 /dev/zero | tr '\\\\0' x; echo; sleep 1; i=$((i+1)); done; echo run-end; exit 1")}
`,
      });
      const uid = await c2.k(["get", "pod", "edge40", "-o", "jsonpath={.metadata.uid}"]);
      const dir = `${c2.dataDir}/logs/pods/default_edge40_${uid}/app`;
      const deadline = Date.now() + 90_000;
      let files: string[] = [];
      for (;;) {
        try {
          files = readdirSync(dir).sort();
        } catch {
          files = [];
        }
        if (files.some((f) => f.endsWith(".gz"))) break;
        if (Date.now() > deadline) throw new Error(`no rotated .gz in ${dir}: ${files.join(", ")}`);
        await new Promise((r) => setTimeout(r, 500));
      }
      const zero = files.filter((f) => f.startsWith("0.log"));
      assert.ok(zero.includes("0.log"), zero.join(", "));
      assert.equal(zero.filter((f) => /^0\.log\.\d{8}-\d{6}$/.test(f)).length, 1, zero.join(", "));
      assert.ok(zero.filter((f) => f.endsWith(".gz")).length <= 1, zero.join(", "));
      assert.ok(zero.length <= 3, zero.join(", "));
      await c2.waitFor("pod/edge40", "{.status.containerStatuses[0].restartCount}", "1", 90_000);
      const prev = await c2.k(["logs", "edge40", "--previous", "--tail", "1"]);
      assert.equal(prev, "run-end\n");
    } finally {
      await c2.stop();
    }
  });
});
