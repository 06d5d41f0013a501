// Issue 4 acceptance: pods come to life as in Kubernetes, observed only through kubectl.
// Tests are named after the rules of ../shared/spec/pod-lifecycle.md they prove.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startCluster, type Cluster } from "./harness.js";

const SLEEP = "trap 'exit 0' TERM; while true; do sleep 1; done";
/** A YAML flow sequence (JSON) for `sh -c <script>`. */
const sh = (script: string): string => JSON.stringify(["sh", "-c", script]);

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
    assert.equal(await c.k(["get", "pod", "edge8", "-o", "jsonpath={.status.phase}"]), "Succeeded");
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
});
