// Issue 5 acceptance: pod features (resources, probes, hooks, env, volumes, ephemeral containers,
// multi-container patterns), observed only through kubectl and the node side of the netns.
// Tests are named after the rules of ../shared/spec/pod-lifecycle.md §22 they prove.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { ROOT, poll, startCluster, type Cluster } from "./harness.js";

const SLEEP = "trap 'exit 0' TERM; while true; do sleep 1; done";
/** A YAML flow sequence (JSON) for `sh -c <script>`. */
const sh = (script: string): string => JSON.stringify(["sh", "-c", script]);
/** A script serving busybox httpd on 8080 with CGI scripts `/cgi-bin/<name>` printing `raw`. */
const httpd = (cgi: Record<string, string>): string =>
  [
    "mkdir -p /www/cgi-bin",
    ...Object.entries(cgi).map(
      ([name, raw]) =>
        `printf '#!/bin/sh\\nprintf "${raw}"\\n' > /www/cgi-bin/${name} && chmod +x /www/cgi-bin/${name}`,
    ),
    "echo ok > /www/index.html",
    "exec httpd -f -p 8080 -h /www",
  ].join("\n");

// Tests use distinct pod names and run three at a time to keep the file's wall time short.
describe("pod features", { concurrency: 3 }, () => {
  let c: Cluster;
  before(async () => {
    // Short crash back-off and a 2 s resync (ConfigMap volume refresh, PL-EDGE-38).
    c = await startCluster({
      args: [
        "--backoff-initial-ms",
        "1000",
        "--backoff-max-ms",
        "4000",
        "--sync-period-ms",
        "2000",
      ],
    });
  });
  after(async () => {
    await c.stop();
  });

  const apply = (yaml: string): Promise<string> => c.k(["apply", "-f", "-"], { input: yaml });
  /** Deletes pods without waiting, so crash-looping pods stop loading the (shared) machine. */
  const drop = (...names: string[]): Promise<string> =>
    c.k(["delete", "pod", ...names, "--wait=false"]);
  const get = (name: string, jsonpath: string): Promise<string> =>
    c.k(["get", "pod", name, "-o", `jsonpath=${jsonpath}`]);
  const row = async (name: string): Promise<string[]> =>
    (await c.k(["get", "pod", name, "--no-headers"])).trim().split(/\s+/);
  const waitStatus = (name: string, want: string | RegExp, timeoutMs = 30_000): Promise<string> =>
    poll(
      `pod ${name} STATUS ${String(want)}`,
      async () => {
        const s = (await row(name))[2] ?? "";
        return (typeof want === "string" ? s === want : want.test(s)) ? s : undefined;
      },
      timeoutMs,
    );
  /** Events of one pod as `type reason message` lines. */
  const events = async (name: string): Promise<string> =>
    c.k([
      "get",
      "events",
      "--field-selector",
      `involvedObject.name=${name}`,
      "-o",
      'jsonpath={range .items[*]}{.type} {.reason} {.message}{"\\n"}{end}',
    ]);
  const waitEvent = (name: string, re: RegExp, timeoutMs = 30_000): Promise<string> =>
    poll(
      `event ${String(re)} of ${name}`,
      async () => {
        const m = re.exec(await events(name));
        return m?.[0];
      },
      timeoutMs,
    );
  const waitLogs = (
    name: string,
    container: string,
    re: RegExp,
    timeoutMs = 30_000,
  ): Promise<string> =>
    poll(
      `logs of ${name}/${container} matching ${String(re)}`,
      async () => {
        const out = await c.k(["logs", name, "-c", container]);
        return re.test(out) ? out : undefined;
      },
      timeoutMs,
    );

  test("PL-EDGE-18: memory limit 16Mi, 64Mi allocated → OOMKilled, exit 137, then CrashLoopBackOff", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: edge18}
spec:
  containers:
  - name: app
    image: busybox:1.28
    command: ${sh("dd if=/dev/zero of=/dev/null bs=64M count=1")}
    resources: {limits: {memory: 16Mi}}
`);
    await waitStatus("edge18", /^(OOMKilled|CrashLoopBackOff)$/);
    await waitStatus("edge18", "CrashLoopBackOff");
    const last = JSON.parse(
      await get("edge18", "{.status.containerStatuses[0].lastState.terminated}"),
    ) as { reason?: string; exitCode?: number };
    assert.equal(last.reason, "OOMKilled");
    assert.equal(last.exitCode, 137);
    await drop("edge18");
  });

  test("PL-EDGE-19: liveness httpGet on a closed port → 3 Unhealthy, Killing, restart", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: edge19}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: busybox:1.28
    command: ${sh(SLEEP)}
    livenessProbe:
      httpGet: {path: /healthz, port: 9999}
      periodSeconds: 1
      failureThreshold: 3
`);
    await waitEvent(
      "edge19",
      /Normal Killing Container app failed liveness probe, will be restarted/,
      45_000,
    );
    const ev = await events("edge19");
    assert.match(
      ev,
      /Warning Unhealthy Liveness probe failed: Get "http:\/\/10\.244\.\d+\.\d+:9999\/healthz": dial tcp 10\.244\.\d+\.\d+:9999: connect: connection refused/,
    );
    await c.waitFor("pod/edge19", "{.status.containerStatuses[0].restartCount}", /^[1-9]/, 30_000);
    await drop("edge19");
  });

  test("PL-EDGE-20: readiness probe answered 500 → not ready, ContainersNotReady, Running, no restarts", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: edge20}
spec:
  containers:
  - name: app
    image: busybox:1.28
    command: ${sh(httpd({ fail: "HTTP/1.0 500 Internal Server Error\\r\\n\\r\\nboom" }))}
    readinessProbe:
      httpGet: {path: /cgi-bin/fail, port: 8080}
      periodSeconds: 1
`);
    await waitEvent(
      "edge20",
      /Warning Unhealthy Readiness probe failed: HTTP probe failed with statuscode: 500/,
    );
    const r = await row("edge20");
    assert.deepEqual(r.slice(1, 4), ["0/1", "Running", "0"]);
    assert.equal(await get("edge20", "{.status.containerStatuses[0].ready}"), "false");
    assert.equal(await get("edge20", '{.status.conditions[?(@.type=="Ready")].status}'), "False");
    assert.equal(
      await get("edge20", '{.status.conditions[?(@.type=="Ready")].reason}'),
      "ContainersNotReady",
    );
    assert.equal(
      await get("edge20", '{.status.conditions[?(@.type=="Ready")].message}'),
      "containers with unready status: [app]",
    );
  });

  test("PL-EDGE-21: httpGet answered 302 to another host → success with a ProbeWarning", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: edge21}
spec:
  containers:
  - name: app
    image: busybox:1.28
    command: ${sh(
      httpd({
        moved:
          "HTTP/1.0 302 Found\\r\\nLocation: http://elsewhere.invalid:81/x\\r\\n\\r\\nmoved away",
      }),
    )}
    readinessProbe:
      httpGet: {path: /cgi-bin/moved, port: 8080}
      periodSeconds: 1
`);
    await c.waitFor("pod/edge21", "{.status.containerStatuses[0].ready}", "true", 30_000);
    await waitEvent(
      "edge21",
      /Warning ProbeWarning Readiness probe warning: Probe terminated redirects, Response body: moved away/,
    );
  });

  test("PL-EDGE-22: exec probe `sleep 5` with timeoutSeconds 1 → command timed out", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: edge22}
spec:
  containers:
  - name: app
    image: busybox:1.28
    command: ${sh(SLEEP)}
    readinessProbe:
      exec: {command: [sleep, "5"]}
      timeoutSeconds: 1
      periodSeconds: 2
`);
    await waitEvent(
      "edge22",
      /Warning Unhealthy Readiness probe failed: command "sleep 5" timed out/,
      45_000,
    );
    assert.equal(await get("edge22", "{.status.containerStatuses[0].ready}"), "false");
  });

  test("PL-EDGE-23: startup probe gates liveness; started:false; killed after failureThreshold × period", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: edge23}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: busybox:1.28
    command: ${sh(SLEEP)}
    startupProbe:
      exec: {command: [cat, /tmp/started]}
      periodSeconds: 2
      failureThreshold: 3
    livenessProbe:
      exec: {command: ["false"]}
      periodSeconds: 1
    readinessProbe:
      exec: {command: ["false"]}
      periodSeconds: 1
`);
    await c.waitFor("pod/edge23", "{.status.containerStatuses[0].state.running.startedAt}", /T/);
    assert.equal(await get("edge23", "{.status.containerStatuses[0].started}"), "false");
    await waitEvent(
      "edge23",
      /Normal Killing Container app failed startup probe, will be restarted/,
      45_000,
    );
    const ev = await events("edge23");
    assert.match(ev, /Warning Unhealthy Startup probe failed: cat: can't open '\/tmp\/started'/);
    assert.doesNotMatch(ev, /Liveness probe failed|Readiness probe failed/);
    await c.waitFor("pod/edge23", "{.status.containerStatuses[0].restartCount}", /^[1-9]/, 30_000);
    // Killed after the third failure, probes 2 s apart: about 4–6 s after the start (1 s resolution).
    const term = JSON.parse(
      await get("edge23", "{.status.containerStatuses[0].lastState.terminated}"),
    ) as { startedAt: string; finishedAt: string };
    const lived = (Date.parse(term.finishedAt) - Date.parse(term.startedAt)) / 1000;
    assert.ok(lived >= 3 && lived <= 20, `first instance lived ${String(lived)} s`);
    await drop("edge23");
  });

  test("PL-EDGE-24: postStart exec exits 1 → FailedPostStartHook, PostStartHookError, back-off", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: edge24}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: busybox:1.28
    command: ${sh(SLEEP)}
    lifecycle:
      postStart:
        exec: {command: [sh, -c, "echo hook broke; exit 1"]}
`);
    await waitEvent("edge24", /Warning FailedPostStartHook PostStartHook failed/);
    const reasons = await poll("waiting reason PostStartHookError", async () => {
      const w = await get(
        "edge24",
        "{.status.containerStatuses[0].state.waiting.reason} {.status.containerStatuses[0].state.waiting.message}",
      );
      return w.startsWith("PostStartHookError ") ? w : undefined;
    });
    assert.match(
      reasons,
      /Exec lifecycle hook \(\[sh -c echo hook broke; exit 1\]\) for Container "app" in Pod "edge24_default\(.*\)" failed - error: .*hook broke/,
    );
    await waitStatus("edge24", "CrashLoopBackOff");
    await waitEvent(
      "edge24",
      /Warning BackOff Back-off restarting failed container app in pod edge24_default\(/,
    );
    await c.waitFor("pod/edge24", "{.status.containerStatuses[0].restartCount}", /^[1-9]/);
    await drop("edge24");
  });

  test("PL-EDGE-32: $(VAR) expansion only of earlier variables; $$ escapes", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: edge32}
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: busybox:1.28
    command: ${sh('echo "A1=$A1"; echo "A2=$A2"; echo "A3=$A3"')}
    env:
    - {name: A1, value: "$(B)"}
    - {name: B, value: x}
    - {name: A2, value: "$(B)"}
    - {name: A3, value: "$$(B)"}
`);
    await waitStatus("edge32", "Completed");
    assert.equal(await c.k(["logs", "edge32"]), "A1=$(B)\nA2=x\nA3=$(B)\n");
  });

  test("PL-EDGE-33: secretKeyRef to a missing secret → CreateContainerConfigError; optional → absent", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: edge33}
spec:
  containers:
  - name: app
    image: busybox:1.28
    command: ${sh(SLEEP)}
    env:
    - name: PASSWORD
      valueFrom: {secretKeyRef: {name: nosuch, key: password}}
---
apiVersion: v1
kind: Pod
metadata: {name: edge33b}
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: busybox:1.28
    command: ${sh('echo "PASSWORD=${PASSWORD-unset}"')}
    env:
    - name: PASSWORD
      valueFrom: {secretKeyRef: {name: nosuch, key: password, optional: true}}
`);
    await waitStatus("edge33", "CreateContainerConfigError");
    await waitEvent("edge33", /Warning Failed Error: secret "nosuch" not found/);
    await waitStatus("edge33b", "Completed");
    assert.equal(await c.k(["logs", "edge33b"]), "PASSWORD=unset\n");
  });

  test("PL-EDGE-34: duplicate container names and a readinessProbe on an init container are rejected", async () => {
    const dup = await c.kubectl(["apply", "-f", "-"], {
      input: `
apiVersion: v1
kind: Pod
metadata: {name: edge34}
spec:
  initContainers: [{name: app, image: busybox:1.28, command: ["true"]}]
  containers: [{name: app, image: busybox:1.28, command: ["true"]}]
`,
    });
    assert.notEqual(dup.code, 0);
    assert.match(dup.stderr, /spec\.initContainers\[0\]\.name: Duplicate value: "app"/);
    const probe = await c.kubectl(["apply", "-f", "-"], {
      input: `
apiVersion: v1
kind: Pod
metadata: {name: edge34b}
spec:
  initContainers:
  - name: init
    image: busybox:1.28
    command: ["true"]
    readinessProbe: {exec: {command: ["true"]}}
  containers: [{name: app, image: busybox:1.28, command: ["true"]}]
`,
    });
    assert.notEqual(probe.code, 0);
    assert.match(
      probe.stderr,
      /spec\.initContainers\[0\]\.readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always/,
    );
  });

  test("PL-EDGE-35: changing spec.containers[0].command is forbidden", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: edge35}
spec:
  containers: [{name: app, image: busybox:1.28, command: ${sh(SLEEP)}}]
`);
    const r = await c.kubectl([
      "patch",
      "pod",
      "edge35",
      "--type=json",
      "-p",
      JSON.stringify([
        { op: "replace", path: "/spec/containers/0/command", value: ["sh", "-c", "sleep 1"] },
      ]),
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /spec: Forbidden: pod updates may not change fields other than /);
  });

  test("PL-EDGE-38: ConfigMap volume follows updates via ..data swap; subPath keeps the old content", async () => {
    await apply(`
apiVersion: v1
kind: ConfigMap
metadata: {name: cm38}
data: {greeting: one}
---
apiVersion: v1
kind: Pod
metadata: {name: edge38}
spec:
  containers:
  - name: app
    image: busybox:1.28
    command: ${sh('while true; do echo "vol=$(cat /cfg/greeting) sub=$(cat /sub/greeting) data=$(readlink /cfg/..data)"; sleep 1; done')}
    volumeMounts:
    - {name: cfg, mountPath: /cfg}
    - {name: cfg, mountPath: /sub/greeting, subPath: greeting}
  volumes:
  - name: cfg
    configMap: {name: cm38}
`);
    const before = await waitLogs("edge38", "app", /vol=one sub=one data=\.\.\S+/);
    const oldData = /vol=one sub=one data=(\S+)/.exec(before)?.[1];
    await c.k(["patch", "configmap", "cm38", "-p", JSON.stringify({ data: { greeting: "two" } })]);
    const afterLogs = await waitLogs("edge38", "app", /vol=two sub=one data=\.\.\S+/, 60_000);
    const newData = /vol=two sub=one data=(\S+)/.exec(afterLogs)?.[1];
    assert.ok(newData !== undefined && newData !== oldData, `..data ${oldData} → ${newData}`);
  });

  test("PL-EDGE-39 / seed: ephemeral debugger via pods/ephemeralcontainers sees app's processes", async () => {
    await c.k(["apply", "-f", path.join(ROOT, "examples/05-demo-pod.yaml")]);
    await c.waitFor("pod/demo-pod", "{.status.containerStatuses[0].ready}", "true");
    await c.k([
      "replace",
      "--raw",
      "/api/v1/namespaces/default/pods/demo-pod/ephemeralcontainers",
      "-f",
      path.join(ROOT, "examples/06-ephemeral-container.json"),
    ]);
    await c.waitFor(
      "pod/demo-pod",
      "{.status.ephemeralContainerStatuses[0].state.running.startedAt}",
      /T/,
    );
    // PID 1 of the shared namespace is the app's process, not the debugger's shell.
    const ps = await waitLogs("demo-pod", "debugger", /^\s*1 \S+\s.*sleep 3600/m);
    assert.doesNotMatch(ps, /^\s*1 .*ps; sleep/m);
    const d = await c.k(["describe", "pod", "demo-pod"]);
    assert.match(d, /Ephemeral Containers:\s*\n\s+debugger:/);
    assert.match(d, /Ephemeral Containers:[\s\S]*Command:\s+sh\s+-c\s+ps; sleep 3600/);

    // A second one that exits: terminated, never restarted, READY unchanged.
    const pod = JSON.parse(await c.k(["get", "pod", "demo-pod", "-o", "json"])) as {
      spec: { ephemeralContainers: object[] };
    };
    pod.spec.ephemeralContainers.push({
      name: "oneshot",
      image: "busybox:1.28",
      command: ["sh", "-c", "echo bye; exit 3"],
      targetContainerName: "app",
    });
    await c.k(
      [
        "replace",
        "--raw",
        "/api/v1/namespaces/default/pods/demo-pod/ephemeralcontainers",
        "-f",
        "-",
      ],
      { input: JSON.stringify(pod) },
    );
    await c.waitFor(
      "pod/demo-pod",
      '{.status.ephemeralContainerStatuses[?(@.name=="oneshot")].state.terminated.exitCode}',
      "3",
    );
    // Several sync periods (2 s) later it is still terminated with no restarts.
    await new Promise((r) => setTimeout(r, 5000));
    assert.equal(
      await get(
        "demo-pod",
        '{.status.ephemeralContainerStatuses[?(@.name=="oneshot")].state.terminated.exitCode} {.status.ephemeralContainerStatuses[?(@.name=="oneshot")].restartCount}',
      ),
      "3 0",
    );
    assert.equal(await get("demo-pod", "{.status.containerStatuses[*].name}"), "app");
    const r = await row("demo-pod");
    assert.deepEqual(r.slice(1, 4), ["1/1", "Running", "0"]);
  });

  test("log sidecar: the app writes to a shared emptyDir, the sidecar ships it to its stdout", async () => {
    await c.k(["apply", "-f", path.join(ROOT, "examples/03-sidecar-pod.yaml")]);
    await waitLogs("sidecar-demo", "logshipper", /app wrote a line\n.*app wrote a line/);
    assert.match((await row("sidecar-demo")).slice(1, 3).join(" "), /^2\/2 Running$/);
  });

  test("reverse proxy: a CGI proxy from a ConfigMap serves the app's page to another pod", async () => {
    await c.k(["apply", "-f", path.join(ROOT, "examples/04-reverse-proxy.yaml")]);
    await c.waitFor("pod/proxy-demo", "{.status.containerStatuses[*].ready}", "true true");
    const ip = await get("proxy-demo", "{.status.podIP}");
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: proxy-client}
spec:
  containers:
  - name: client
    image: busybox:1.28
    command: ${sh(`while true; do wget -qO- http://${ip}/; sleep 1; done`)}
`);
    await waitLogs("proxy-client", "client", /^hello from the app$/m);
    const node = await c.inNetns("curl", ["-s", "--max-time", "5", `http://${ip}/`]);
    assert.equal(node.stdout, "hello from the app\n");
  });

  test("IPC: containers of a pod share /dev/shm (POSIX shared memory)", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: ipc}
spec:
  containers:
  - name: writer
    image: busybox:1.28
    command: ${sh(`echo "shm message from writer" > /dev/shm/msg; ${SLEEP}`)}
  - name: reader
    image: busybox:1.28
    command: ${sh(`until [ -s /dev/shm/msg ]; do sleep 0.2; done; cat /dev/shm/msg; ${SLEEP}`)}
`);
    await waitLogs("ipc", "reader", /^shm message from writer$/m, 60_000);
  });

  test("readiness probe failing for 5 s then succeeding: READY 0/1 → 1/1 at the right time", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: ready5}
spec:
  containers:
  - name: app
    image: busybox:1.28
    command: ${sh(`sleep 5; touch /tmp/ready; ${SLEEP}`)}
    readinessProbe:
      exec: {command: [cat, /tmp/ready]}
      periodSeconds: 1
`);
    await c.waitFor("pod/ready5", "{.status.containerStatuses[0].state.running.startedAt}", /T/);
    assert.equal((await row("ready5"))[1], "0/1");
    await poll("READY 1/1", async () => ((await row("ready5"))[1] === "1/1" ? true : undefined));
    const started = Date.parse(
      await get("ready5", "{.status.containerStatuses[0].state.running.startedAt}"),
    );
    const ready = Date.parse(
      await get("ready5", '{.status.conditions[?(@.type=="Ready")].lastTransitionTime}'),
    );
    const secs = (ready - started) / 1000;
    // Not before the 5 s (timestamps have 1 s resolution); soon after, allowing for a slow machine.
    assert.ok(secs >= 4 && secs <= 15, `ready after ${String(secs)} s`);
  });

  test("postStart hook writes a file the app then reads", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: hook}
spec:
  containers:
  - name: app
    image: busybox:1.28
    command: ${sh(`until [ -f /tmp/hook ]; do sleep 0.2; done; cat /tmp/hook; ${SLEEP}`)}
    lifecycle:
      postStart:
        exec: {command: [sh, -c, "echo written by postStart > /tmp/hook"]}
`);
    await waitLogs("hook", "app", /^written by postStart$/m);
  });

  test("projected token: lists pods with ca.crt while the pod lives, refused (401) once it is deleted", async () => {
    // RBAC: the pod's ServiceAccount may read pods once bound to `view` in its namespace.
    await c.k([
      "create",
      "rolebinding",
      "tok-default-view",
      "--clusterrole=view",
      "--serviceaccount=default:default",
    ]);
    // busybox wget cannot verify certificates, so the host's curl and its libraries are
    // mounted into the container (hostPath) and run there, against the kubernetes Service.
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: tok}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox:1.28
    command: ${sh(`d=/var/run/secrets/kubernetes.io/serviceaccount; echo "TOKEN=$(cat $d/token)"; echo "NS=$(cat $d/namespace)"; cat $d/ca.crt; ${SLEEP}`)}
    volumeMounts:
    - {name: curl, mountPath: /usr/bin/curl, readOnly: true}
    - {name: libs, mountPath: /lib/x86_64-linux-gnu, readOnly: true}
    - {name: lib64, mountPath: /lib64, readOnly: true}
  volumes:
  - {name: curl, hostPath: {path: /usr/bin/curl, type: File}}
  - {name: libs, hostPath: {path: /usr/lib/x86_64-linux-gnu, type: Directory}}
  - {name: lib64, hostPath: {path: /usr/lib64, type: Directory}}
`);
    const out = await waitLogs("tok", "app", /-----END CERTIFICATE-----/);
    const token = /^TOKEN=(\S+)$/m.exec(out)?.[1] ?? "";
    assert.match(token, /^ey[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.match(out, /^NS=default$/m);
    // Inside the pod: the token file as bearer, certificate verified against ca.crt, both by
    // the Service's DNS name and by its ClusterIP (the serving certificate names both).
    for (const host of ["kubernetes.default.svc", "10.96.0.1"]) {
      const inPod = await c.kubectl([
        "exec",
        "tok",
        "--",
        "sh",
        "-c",
        `d=/var/run/secrets/kubernetes.io/serviceaccount; curl -sS --max-time 10 --cacert $d/ca.crt -H "Authorization: Bearer $(cat $d/token)" -w '\\n%{http_code}' https://${host}/api/v1/namespaces/default/pods`,
      ]);
      assert.equal(inPod.code, 0, `${host}: ${inPod.stderr}`);
      assert.match(inPod.stdout, /"kind":\s*"PodList"[\s\S]*"name":\s*"tok"[\s\S]*\n200$/);
    }
    const ca = out.slice(out.indexOf("-----BEGIN CERTIFICATE-----"));
    const caFile = path.join(c.dataDir, "e2e-token-ca.crt");
    await c.inNetns("sh", ["-c", `cat > ${caFile}`], { input: ca });
    // Once the pod is gone nothing runs inside it: the node side presents the same token. It
    // has no route through the Service VIP, so curl connects to the API server directly while
    // still checking the certificate against the name a pod uses, 10.96.0.1.
    const server = new URL(
      await c.k(["config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"]),
    );
    const curl = (): Promise<{ code: number; stdout: string; stderr: string }> =>
      c.inNetns("curl", [
        "-sS",
        "--connect-to",
        `10.96.0.1:443:${server.hostname}:${server.port}`,
        "--max-time",
        "10",
        "--cacert",
        caFile,
        "-H",
        `Authorization: Bearer ${token}`,
        "-w",
        "\\n%{http_code}",
        "https://10.96.0.1/api/v1/namespaces/default/pods",
      ]);
    const ok = await curl();
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /\n200$/);
    await c.k(["delete", "pod", "tok", "--wait=true"]);
    const denied = await curl();
    assert.match(denied.stdout, /\n401$/);
  });
});
