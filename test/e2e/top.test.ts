// Issue 7 (metrics): metrics.k8s.io for `kubectl top` and Prometheus `/metrics`, against the
// real kubectl (1.27, 1.31, 1.33) and a container burning one core.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startCluster, type Cluster } from "./harness.js";

const VERSIONS = ["1.27", "1.31", "1.33"];

const burner = `
apiVersion: v1
kind: Pod
metadata:
  name: burn
  labels:
    app: burn
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: spin
    image: busybox:1.28
    command: ["sh", "-c", "while :; do :; done"]
`;

/** Millicores from a `kubectl top` CPU column (`998m`, `1`, `0`). */
function millicores(cpu: string): number {
  if (cpu.endsWith("m")) return Number(cpu.slice(0, -1));
  return Number(cpu) * 1000;
}

async function poll<T>(
  what: string,
  timeoutMs: number,
  attempt: () => Promise<T | undefined>,
  lastSeen: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await attempt();
    if (r !== undefined) return r;
    if (Date.now() > deadline) assert.fail(`${what}: gave up; last output: ${lastSeen()}`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

describe("kubectl top and /metrics", () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster();
    await c.k(["apply", "-f", "-"], { input: burner });
    await c.waitFor("pod/burn", "{.status.phase}", "Running", 90_000);
  });
  after(async () => {
    await c.stop();
  });

  test("KA-TOP-1 metrics.k8s.io/v1beta1 is in discovery with nodes and pods", async () => {
    const res = await c.k(["api-resources", "--api-group=metrics.k8s.io"]);
    assert.match(res, /^nodes\s+metrics\.k8s\.io\/v1beta1\s+false\s+NodeMetrics$/m);
    assert.match(res, /^pods\s+metrics\.k8s\.io\/v1beta1\s+true\s+PodMetrics$/m);
  });

  for (const v of VERSIONS) {
    test(`KA-TOP-1 kubectl ${v} top pod shows a busy container at about one core`, async () => {
      let last = "";
      const mc = await poll(
        `top pod (${v})`,
        90_000,
        async () => {
          const r = await c.kubectl(["top", "pod", "burn", "--containers"], { version: v });
          last = r.stdout + r.stderr;
          if (r.code !== 0) return undefined;
          const m = /^burn\s+spin\s+(\d+m?)\s+(\d+)Mi\s*$/m.exec(r.stdout);
          if (m === null) return undefined;
          const value = millicores(m[1] ?? "");
          return value >= 700 && value <= 1300 ? value : undefined;
        },
        () => last,
      );
      assert.ok(mc >= 700 && mc <= 1300, `cpu ${String(mc)}m`);
      const all = await c.k(["top", "pod", "-l", "app=burn"], { version: v });
      assert.match(all, /^NAME\s+CPU\(cores\)\s+MEMORY\(bytes\)\s*$/m);
      assert.match(all, /^burn\s+\d+m?\s+\d+Mi\s*$/m);
    });
  }

  test("KA-TOP-1 kubectl top node prints cpu and memory numbers", async () => {
    for (const v of VERSIONS) {
      let last = "";
      await poll(
        `top node (${v})`,
        60_000,
        async () => {
          const r = await c.kubectl(["top", "node"], { version: v });
          last = r.stdout + r.stderr;
          return r.code === 0 && /^\S+\s+\d+m?\s+\d+%\s+\d+Mi\s+\d+%\s*$/m.test(r.stdout)
            ? true
            : undefined;
        },
        () => last,
      );
    }
  });

  test("metrics.k8s.io answers PodMetrics with nanocore cpu and Ki memory", async () => {
    const raw = await c.k([
      "get",
      "--raw",
      "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/burn",
    ]);
    const pm = JSON.parse(raw) as {
      kind: string;
      metadata: { labels?: Record<string, string> };
      window: string;
      containers: { name: string; usage: { cpu: string; memory: string } }[];
    };
    assert.equal(pm.kind, "PodMetrics");
    assert.equal(pm.metadata.labels?.["app"], "burn");
    assert.match(pm.window, /^\d+(\.\d+)?s$/);
    assert.equal(pm.containers[0]?.name, "spin");
    assert.match(pm.containers[0]?.usage.cpu ?? "", /^\d+[num]?$/);
    assert.match(pm.containers[0]?.usage.memory ?? "", /^\d+(Ki|Mi)?$/);
  });

  test("GET /metrics is Prometheus text with apiserver and kubelet families", async () => {
    const text = await c.k(["get", "--raw", "/metrics"]);
    assert.match(text, /^# TYPE apiserver_request_total counter$/m);
    assert.match(
      text,
      /^apiserver_request_total\{verb="LIST",.*resource="pods".*code="200"\} \d+$/m,
    );
    assert.match(text, /^# TYPE apiserver_request_duration_seconds histogram$/m);
    assert.match(text, /^apiserver_request_duration_seconds_bucket\{.*le="\+Inf"\} \d+$/m);
    assert.match(text, /^process_resident_memory_bytes \d+$/m);
    assert.match(text, /^kubelet_running_pods [1-9]\d*$/m);
    assert.match(text, /^kubelet_running_containers\{container_state="running"\} [1-9]\d*$/m);
  });
});
