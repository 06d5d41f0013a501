// Issue 6 acceptance: pod networking — cluster DNS, Services through the proxy (ClusterIP,
// NodePort, headless), hostPort, endpoints that follow readiness, and clusters that keep to
// their own network namespace. Observed only through kubectl and node-side tools.
// Tests are named after the rules of ../shared/spec/pod-lifecycle.md §18 (PL-DNS) where one applies.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { ROOT, must, run, startCluster, type Cluster } from "./harness.js";

/** A YAML flow sequence (JSON) for `sh -c <script>`. */
const sh = (script: string): string => JSON.stringify(["sh", "-c", script]);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns a value (not undefined) or `timeoutMs` passes. */
async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe("networking", () => {
  let c: Cluster;
  // hostPath directories the test controls the web pods' readiness through.
  const readyDir = `/tmp/podrun-e2e-net-${String(process.pid)}`;
  before(async () => {
    await mkdir(readyDir, { recursive: true });
    c = await startCluster({ args: ["--backoff-initial-ms", "1000", "--backoff-max-ms", "4000"] });
  });
  after(async () => {
    await c.stop();
    await rm(readyDir, { recursive: true, force: true });
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
  ): Promise<string> =>
    until(
      `pod ${name} STATUS ${String(want)}`,
      async () => {
        const s = await status(name).catch((e: unknown) => String(e));
        return (typeof want === "string" ? s === want : want.test(s)) ? s : undefined;
      },
      timeoutMs,
    );
  /** Runs `script` in a one-shot busybox pod and returns its output. */
  const inPod = async (name: string, script: string, timeoutMs = 60_000): Promise<string> => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: busybox:1.28, command: ${sh(script)}}
`);
    await c.waitFor(`pod/${name}`, "{.status.phase}", /^(Succeeded|Failed)$/, timeoutMs);
    const out = await c.k(["logs", name]);
    await c.k(["delete", "pod", name, "--wait=false"]);
    return out;
  };
  const nodeIP = async (): Promise<string> =>
    (
      await c.k([
        "get",
        "node",
        "-o",
        'jsonpath={.items[0].status.addresses[?(@.type=="InternalIP")].address}',
      ])
    ).trim();
  const endpointIPs = async (svc: string): Promise<string[]> => {
    const out = await c.k([
      "get",
      "endpoints",
      svc,
      "-o",
      "jsonpath={.subsets[*].addresses[*].ip}",
    ]);
    return out
      .split(/\s+/)
      .filter((s) => s !== "")
      .sort();
  };
  const EP_IPS = 'jsonpath={.subsets[*].addresses[*].ip}{"\\n"}';
  /**
   * Runs `kubectl <args>` (a `-w` watch printing one line per event) in the background;
   * `next(pred)` resolves with the arrival time of the first line after the previous match
   * that satisfies `pred`.
   */
  const watchLines = (
    args: string[],
  ): {
    next(pred: (line: string) => boolean, timeoutMs?: number): Promise<number>;
    stop(): void;
  } => {
    const child = spawn(
      "nsenter",
      [`--net=/run/netns/${c.netns}`, "kubectl", "--kubeconfig", c.kubeconfig, ...args],
      { stdio: ["ignore", "pipe", "ignore"] },
    );
    const lines: { t: number; line: string }[] = [];
    let buf = "";
    child.stdout.on("data", (b: Buffer) => {
      buf += b.toString();
      const parts = buf.split("\n");
      buf = parts.pop() ?? "";
      for (const line of parts) lines.push({ t: Date.now(), line });
    });
    let pos = 0;
    return {
      async next(pred, timeoutMs = 30_000) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          for (; pos < lines.length; pos++) {
            const l = lines[pos];
            if (l !== undefined && pred(l.line)) {
              pos++;
              return l.t;
            }
          }
          if (Date.now() > deadline)
            throw new Error(
              `kubectl ${args.join(" ")}: no matching line in ${JSON.stringify(lines)}`,
            );
          await sleep(10);
        }
      },
      stop() {
        child.kill("SIGKILL");
      },
    };
  };
  const podIP = async (name: string): Promise<string> =>
    c.waitFor(`pod/${name}`, "{.status.podIP}", /^\d+\.\d+\.\d+\.\d+$/);

  test("seed transcript: init containers wait for myservice and mydb through cluster DNS", async () => {
    const pod = await readFile(path.join(ROOT, "examples/01-myapp-pod.yaml"), "utf8");
    const services = await readFile(path.join(ROOT, "examples/02-services.yaml"), "utf8");
    await apply(pod);
    await waitStatus("myapp-pod", "Init:0/2");
    const logs = await until("waiting lines in init-myservice's log", async () => {
      const r = await c.kubectl(["logs", "myapp-pod", "-c", "init-myservice"]);
      return r.code === 0 && /^waiting for myservice$/m.test(r.stdout) ? r.stdout : undefined;
    });
    // nslookup ran for real and failed (NXDOMAIN), it did not crash on a missing file.
    assert.doesNotMatch(logs, /No such file/);
    assert.equal(await status("myapp-pod"), "Init:0/2");
    await apply(services);
    const applied = Date.now();
    await waitStatus("myapp-pod", /^(Init:1\/2|PodInitializing|Running)$/);
    await waitStatus("myapp-pod", "Running", 30_000);
    // Each init container retries every 2 s: Running follows the Services within a few seconds.
    assert.ok(Date.now() - applied < 15_000, `Running ${String(Date.now() - applied)} ms after`);
    assert.match(await c.k(["get", "pod", "myapp-pod"]), /^myapp-pod\s+1\/1\s+Running\s+0\s/m);
    assert.match(
      await c.k(["logs", "myapp-pod", "-c", "init-mydb"]),
      /Name:\s+mydb\.default\.svc\.cluster\.local/,
    );
    assert.equal(await c.k(["logs", "myapp-pod"]), "The app is running!\n");
    await c.k(["delete", "-f", "-", "--wait=false"], { input: services });
    await c.k(["delete", "pod", "myapp-pod", "--wait=false"]);
  });

  // Two httpd backends that serve their own hostname; ready while <readyDir>/<name>/ready exists.
  const webPod = (name: string): string => `
apiVersion: v1
kind: Pod
metadata: {name: ${name}, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: busybox:1.28
    command: ${sh("mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www")}
    ports: [{name: http, containerPort: 8080}]
    readinessProbe:
      exec: {command: [cat, /ctl/ready]}
      periodSeconds: 1
      failureThreshold: 1
    volumeMounts: [{name: ctl, mountPath: /ctl}]
  volumes:
  - name: ctl
    hostPath: {path: ${readyDir}/${name}, type: DirectoryOrCreate}
`;

  test("ClusterIP Service by short and full name reaches both backends; endpoints follow readiness and deletion", async () => {
    for (const n of ["web-1", "web-2"]) {
      await mkdir(path.join(readyDir, n), { recursive: true });
      await writeFile(path.join(readyDir, n, "ready"), "ok\n");
      await apply(webPod(n));
    }
    await apply(`
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
`);
    const ip1 = await podIP("web-1");
    const ip2 = await podIP("web-2");
    await c.waitFor("pod/web-1", '{.status.conditions[?(@.type=="Ready")].status}', "True");
    await c.waitFor("pod/web-2", '{.status.conditions[?(@.type=="Ready")].status}', "True");
    await until("both web endpoints", async () => {
      const ips = await endpointIPs("web");
      return ips.join(" ") === [ip1, ip2].sort().join(" ") ? ips : undefined;
    });

    const out = await inPod(
      "client",
      "for i in $(seq 1 12); do wget -qO- http://web; wget -qO- http://web.default.svc.cluster.local; done",
    );
    const lines = out.split("\n").filter((l) => l !== "");
    assert.equal(lines.length, 24, `every request answered:\n${out}`);
    assert.deepEqual([...new Set(lines)].sort(), ["web-1", "web-2"], out);

    // Unready: the probe fails once the file is gone; the address leaves the endpoints at once.
    // Timing is taken from two kubectl watches (pod and endpoints) over the same connection
    // path, so it does not depend on how long one kubectl invocation takes on a busy machine.
    let pods = watchLines([
      "get",
      "pod",
      "web-1",
      "-w",
      "-o",
      'jsonpath={.status.conditions[?(@.type=="Ready")].status}{"\\n"}',
    ]);
    let eps = watchLines(["get", "endpoints", "web", "-w", "-o", EP_IPS]);
    let lag: number;
    try {
      await eps.next((l) => l.includes(ip1));
      await rm(path.join(readyDir, "web-1", "ready"));
      const unready = await pods.next((l) => l === "False");
      const dropped = await eps.next((l) => !l.includes(ip1));
      lag = dropped - unready;
    } finally {
      pods.stop();
      eps.stop();
    }
    assert.ok(lag < 1000, `unready pod left the endpoints ${String(lag)} ms after Ready=False`);
    assert.deepEqual(await endpointIPs("web"), [ip2]);
    const notReady = await c.k([
      "get",
      "endpoints",
      "web",
      "-o",
      "jsonpath={.subsets[*].notReadyAddresses[*].ip}",
    ]);
    assert.equal(notReady.trim(), ip1);
    // Traffic now only reaches web-2.
    const only2 = await inPod("client2", "for i in $(seq 1 6); do wget -qO- http://web; done");
    assert.deepEqual([...new Set(only2.split("\n").filter((l) => l !== ""))], ["web-2"]);

    // Ready again, then deleted: the address leaves the endpoints within a second.
    await writeFile(path.join(readyDir, "web-1", "ready"), "ok\n");
    await until("web-1 back in the endpoints", async () =>
      (await endpointIPs("web")).includes(ip1) ? true : undefined,
    );
    pods = watchLines([
      "get",
      "pod",
      "web-2",
      "-w",
      "-o",
      'jsonpath={.metadata.deletionTimestamp}{"\\n"}',
    ]);
    eps = watchLines(["get", "endpoints", "web", "-w", "-o", EP_IPS]);
    try {
      await eps.next((l) => l.includes(ip2));
      await pods.next(() => true);
      await c.k(["delete", "pod", "web-2", "--wait=false"]);
      const deleting = await pods.next((l) => l !== "");
      const dropped = await eps.next((l) => !l.includes(ip2));
      lag = dropped - deleting;
    } finally {
      pods.stop();
      eps.stop();
    }
    await c.k(["wait", "--for=delete", "pod/web-2", "--timeout=60s"]);
    await apply(webPod("web-2"));
    await c.waitFor("pod/web-2", '{.status.conditions[?(@.type=="Ready")].status}', "True");
    assert.ok(lag < 1000, `deleted pod left the endpoints ${String(lag)} ms after deletion`);
  });

  test("NodePort Service and hostPort are reachable from the node", async () => {
    await apply(`
apiVersion: v1
kind: Service
metadata: {name: web-np}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}]
---
apiVersion: v1
kind: Pod
metadata: {name: hp}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: web:latest
    imagePullPolicy: IfNotPresent
    ports: [{containerPort: 80, hostPort: 8081}]
`);
    const node = await nodeIP();
    assert.match(node, /^\d+\.\d+\.\d+\.\d+$/);
    const seen = new Set<string>();
    await until(
      "both backends through the NodePort",
      async () => {
        const r = await c.inNetns("curl", ["-sS", "-m", "5", `http://${node}:30080/`]);
        if (r.code === 0) seen.add(r.stdout.trim());
        return seen.size === 2 ? true : undefined;
      },
      30_000,
    );
    assert.deepEqual([...seen].sort(), ["web-1", "web-2"]);
    // The cluster IP answers from the node too (podrun routes the service CIDR if needed).
    const vip = (await c.k(["get", "svc", "web-np", "-o", "jsonpath={.spec.clusterIP}"])).trim();
    const viaVip = await c.inNetns("curl", ["-sS", "-m", "5", `http://${vip}/`]);
    assert.equal(viaVip.code, 0, viaVip.stderr);
    assert.match(viaVip.stdout, /^web-[12]$/m);
    await c.waitFor("pod/hp", "{.status.phase}", "Running");
    const page = await until("the hostPort", async () => {
      const r = await c.inNetns("curl", ["-sS", "-m", "5", `http://${node}:8081/`]);
      return r.code === 0 ? r.stdout : undefined;
    });
    assert.match(page, /It works!/);
    await c.k(["delete", "pod", "hp", "--wait=false"]);
  });

  test("sessionAffinity ClientIP: one client sticks to one of two backends; without affinity both answer", async () => {
    const ready = '{.status.conditions[?(@.type=="Ready")].status}';
    await c.waitFor("pod/web-1", ready, "True");
    await c.waitFor("pod/web-2", ready, "True");
    await apply(`
apiVersion: v1
kind: Service
metadata: {name: web-sticky}
spec:
  selector: {app: web}
  sessionAffinity: ClientIP
  ports: [{port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web-plain}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
`);
    // Defaulted as upstream: the timeout is filled in only for ClientIP.
    const cfg = await c.k([
      "get",
      "svc",
      "web-sticky",
      "-o",
      "jsonpath={.spec.sessionAffinityConfig}",
    ]);
    assert.deepEqual(JSON.parse(cfg), { clientIP: { timeoutSeconds: 10800 } });
    const plainCfg = await c.k([
      "get",
      "svc",
      "web-plain",
      "-o",
      "jsonpath={.spec.sessionAffinityConfig}",
    ]);
    assert.equal(plainCfg.trim(), "");
    const bad = await c.kubectl(["apply", "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "web-bad" },
        spec: {
          selector: { app: "web" },
          sessionAffinity: "ClientIP",
          sessionAffinityConfig: { clientIP: { timeoutSeconds: 0 } },
          ports: [{ port: 80 }],
        },
      }),
    });
    assert.notEqual(bad.code, 0);
    assert.match(
      bad.stderr,
      /spec\.sessionAffinityConfig\.clientIP\.timeoutSeconds: Invalid value: 0: must be greater than 0 and less than 86400/,
    );
    await until("web-sticky and web-plain endpoints", async () => {
      const [a, b] = [await endpointIPs("web-sticky"), await endpointIPs("web-plain")];
      return a.length === 2 && b.length === 2 ? true : undefined;
    });
    const vipOf = async (svc: string): Promise<string> =>
      (await c.k(["get", "svc", svc, "-o", "jsonpath={.spec.clusterIP}"])).trim();
    const plain = await vipOf("web-plain");
    const sticky = await vipOf("web-sticky");
    const seen = new Set<string>();
    await until("both backends without affinity", async () => {
      const r = await c.inNetns("curl", ["-sS", "-m", "5", `http://${plain}/`]);
      if (r.code === 0) seen.add(r.stdout.trim());
      return seen.size === 2 ? true : undefined;
    });
    const first = await until("the sticky Service", async () => {
      const r = await c.inNetns("curl", ["-sS", "-m", "5", `http://${sticky}/`]);
      return r.code === 0 ? r.stdout.trim() : undefined;
    });
    assert.match(first, /^web-[12]$/);
    for (let i = 0; i < 20; i++) {
      const r = await c.inNetns("curl", ["-sS", "-m", "5", `http://${sticky}/`]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), first, `request ${String(i + 1)} went to another backend`);
    }
    await c.k(["delete", "svc", "web-sticky", "web-plain"]);
  });

  test("externalTrafficPolicy Local: a NodePort client's address reaches the backend; Cluster masquerades it", async () => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: src-echo, labels: {app: src-echo}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: busybox:1.28
    command: ${sh(
      [
        "mkdir -p /www/cgi-bin",
        `printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho $REMOTE_ADDR\\n' > /www/cgi-bin/ip`,
        "chmod +x /www/cgi-bin/ip",
        "exec httpd -f -p 8080 -h /www",
      ].join(" && "),
    )}
    ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: src-local}
spec:
  type: NodePort
  externalTrafficPolicy: Local
  selector: {app: src-echo}
  ports: [{port: 80, targetPort: 8080, nodePort: 30091}]
---
apiVersion: v1
kind: Service
metadata: {name: src-cluster}
spec:
  type: NodePort
  selector: {app: src-echo}
  ports: [{port: 80, targetPort: 8080, nodePort: 30092}]
`);
    assert.equal(
      (
        await c.k(["get", "svc", "src-cluster", "-o", "jsonpath={.spec.externalTrafficPolicy}"])
      ).trim(),
      "Cluster",
    );
    const wrong = await c.kubectl(["apply", "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "src-wrong" },
        spec: { externalTrafficPolicy: "Local", ports: [{ port: 80 }] },
      }),
    });
    assert.notEqual(wrong.code, 0);
    assert.match(
      wrong.stderr,
      /spec\.externalTrafficPolicy: Invalid value: "Local": may only be set for externally-accessible services/,
    );
    // An outside client: its own network namespace, wired to the cluster's by a veth pair.
    const tag = randomBytes(3).toString("hex");
    const client = `podrun-e2e-cli-${tag}`;
    const [inner, outer] = [`pdn${tag}`, `pdc${tag}`];
    const ip = async (...args: string[]): Promise<void> => {
      await must("ip", args);
    };
    await ip("netns", "add", client);
    try {
      await ip("link", "add", inner, "type", "veth", "peer", "name", outer);
      await ip("link", "set", inner, "netns", c.netns);
      await ip("link", "set", outer, "netns", client);
      await ip("-n", c.netns, "addr", "add", "192.168.240.1/24", "dev", inner);
      await ip("-n", c.netns, "link", "set", inner, "up");
      await ip("-n", client, "addr", "add", "192.168.240.2/24", "dev", outer);
      await ip("-n", client, "link", "set", outer, "up");
      await ip("-n", client, "link", "set", "lo", "up");
      const fromClient = (port: number): Promise<string> =>
        until(
          `NodePort ${String(port)} from the outside client`,
          async () => {
            const r = await run("nsenter", [
              `--net=/run/netns/${client}`,
              "curl",
              "-sS",
              "-m",
              "5",
              `http://192.168.240.1:${String(port)}/cgi-bin/ip`,
            ]);
            // busybox httpd listens on an IPv6 socket: IPv4 clients show as [::ffff:a.b.c.d].
            const addr = r.stdout.trim().replace(/^\[::ffff:(.*)\]$/, "$1");
            return r.code === 0 && addr !== "" ? addr : undefined;
          },
          60_000,
        );
      assert.equal(await fromClient(30091), "192.168.240.2");
      const masqueraded = await fromClient(30092);
      assert.notEqual(masqueraded, "192.168.240.2");
      assert.match(masqueraded, /^10\.244\.\d+\.\d+$/);
    } finally {
      // Deleting the client namespace destroys the veth pair with it (if it got there).
      await run("ip", ["netns", "del", client]);
      await run("ip", ["link", "del", outer]);
      await c.k(["delete", "svc", "src-local", "src-cluster"]);
      await c.k(["delete", "pod", "src-echo", "--wait=false"]);
    }
  });

  test("headless Service: A records for every ready pod, SRV for a named port", async () => {
    await apply(`
apiVersion: v1
kind: Service
metadata: {name: web-hl}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{name: http, port: 8080, protocol: TCP}]
`);
    const ip1 = await podIP("web-1");
    const ips = [ip1, await podIP("web-2")].sort();
    const dns = "10.244.0.1"; // podrun's DNS server on the bridge gateway
    const name = "web-hl.default.svc.cluster.local";
    // From the node, straight at the cluster DNS server.
    const a = await until("both A records", async () => {
      const r = await c.inNetns("busybox", ["nslookup", name, dns]);
      const got = [...r.stdout.matchAll(/^Address:\s+(\d+\.\d+\.\d+\.\d+)$/gm)]
        .map((m) => m[1] ?? "")
        .filter((ip) => ip !== dns)
        .sort();
      return got.join(" ") === ips.join(" ") ? got : undefined;
    });
    assert.deepEqual(a, ips);
    const srv = await c.inNetns("busybox", ["nslookup", "-type=SRV", `_http._tcp.${name}`, dns]);
    assert.equal(srv.code, 0, srv.stdout + srv.stderr);
    const targets = [...srv.stdout.matchAll(/\s(\d+) (\d+) (\d+) (\S+)$/gm)].map(
      (m) => `${m[3] ?? ""} ${m[4] ?? ""}`,
    );
    assert.equal(targets.length, 2, srv.stdout);
    for (const t of targets) assert.match(t, /^8080 \S+\.web-hl\.default\.svc\.cluster\.local$/);
    // From a pod, through its resolv.conf (search path, ndots:5).
    const fromPod = await inPod("client3", "nslookup web-hl");
    for (const ip of ips)
      assert.match(fromPod, new RegExp(`Address( \\d+)?:\\s+${ip.replace(/\./g, "\\.")}`));
    // An unready pod is not published.
    await rm(path.join(readyDir, "web-1", "ready"));
    await until("web-1 out of the headless records", async () => {
      const r = await c.inNetns("busybox", ["nslookup", name, dns]);
      return r.code === 0 && !r.stdout.includes(ip1) ? true : undefined;
    });
    await writeFile(path.join(readyDir, "web-1", "ready"), "ok\n");
    await until("web-1 back in the endpoints", async () =>
      (await endpointIPs("web-hl")).includes(ip1) ? true : undefined,
    );
  });

  test("kubectl get svc,endpoints,endpointslices -A -o wide prints upstream columns", async () => {
    const r = await c.kubectl(["get", "svc,endpoints,endpointslices", "-A", "-o", "wide"]);
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout;
    assert.match(
      out,
      /^NAMESPACE\s+NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE\s+SELECTOR$/m,
    );
    assert.match(
      out,
      /^default\s+service\/kubernetes\s+ClusterIP\s+10\.96\.0\.1\s+<none>\s+443\/TCP\s+\S+\s+<none>$/m,
    );
    assert.match(
      out,
      /^kube-system\s+service\/kube-dns\s+ClusterIP\s+10\.96\.0\.10\s+<none>\s+53\/UDP,53\/TCP\s+\S+\s+\S+$/m,
    );
    assert.match(
      out,
      /^default\s+service\/web-np\s+NodePort\s+10\.\d+\.\d+\.\d+\s+<none>\s+80:30080\/TCP\s+\S+\s+app=web$/m,
    );
    assert.match(
      out,
      /^default\s+service\/web-hl\s+ClusterIP\s+None\s+<none>\s+8080\/TCP\s+\S+\s+app=web$/m,
    );
    assert.match(out, /^NAMESPACE\s+NAME\s+ENDPOINTS\s+AGE$/m);
    assert.match(
      out,
      /^default\s+endpoints\/web\s+10\.244\.\d+\.\d+:8080,10\.244\.\d+\.\d+:8080\s+\S+$/m,
    );
    assert.match(out, /^NAMESPACE\s+NAME\s+ADDRESSTYPE\s+PORTS\s+ENDPOINTS\s+AGE$/m);
    assert.match(
      out,
      /^default\s+endpointslice\.discovery\.k8s\.io\/web-\w+\s+IPv4\s+8080\s+10\.244\.\d+\.\d+,10\.244\.\d+\.\d+\s+\S+$/m,
    );
    assert.match(
      out,
      /^default\s+endpointslice\.discovery\.k8s\.io\/kubernetes\s+IPv4\s+\d+\s+10\.244\.0\.1\s+\S+$/m,
    );
  });

  test("podrun up creates bridge, rules and DNS, removes its rules on exit; a second cluster is independent", async () => {
    const c2 = await startCluster({ preloadImages: false });
    try {
      const link = await c2.inNetns("ip", ["-o", "addr", "show", "dev", "podrun0"]);
      assert.match(link.stdout, /inet 10\.244\.0\.1\/16/);
      const table = await until("c2's proxy table", async () => {
        const r = await c2.inNetns("nft", ["list", "table", "ip", "podrun"]);
        return r.code === 0 && r.stdout.includes("10.96.0.10") ? r.stdout : undefined;
      });
      assert.match(table, /10\.96\.0\.1 \. tcp \. 443/);
      assert.doesNotMatch(table, /30080/); // c's NodePort lives in c's namespace only
      const q = await until("c2's DNS", async () => {
        const r = await c2.inNetns("busybox", [
          "nslookup",
          "kubernetes.default.svc.cluster.local",
          "10.244.0.1",
        ]);
        return r.code === 0 ? r.stdout : undefined;
      });
      assert.match(q, /Address:\s+10\.96\.0\.1$/m);
      // c2 knows nothing of c's Services.
      const miss = await c2.inNetns("busybox", [
        "nslookup",
        "web.default.svc.cluster.local",
        "10.244.0.1",
      ]);
      assert.notEqual(miss.code, 0);

      await c2.kill("SIGTERM");
      const left = await c2.inNetns("nft", ["list", "tables"]);
      assert.doesNotMatch(left.stdout, /podrun/);
    } finally {
      await c2.stop();
    }
    // c still serves: its rules and DNS are untouched by c2's start and exit.
    const node = await nodeIP();
    const r = await c.inNetns("curl", ["-sS", "-m", "5", `http://${node}:30080/`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^web-\d$/m);
    const t = await c.inNetns("nft", ["list", "table", "ip", "podrun"]);
    assert.equal(t.code, 0);
  });
});
