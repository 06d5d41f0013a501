import assert from "node:assert/strict";
import { test } from "node:test";
import type { Event, Pod } from "../api/index.js";
import { parseKubeconfig, kubeconfigPath } from "./kubeconfig.js";
import { describePod, humanDuration, printTable, rfc1123z, type Table } from "./printers.js";
import { DESCRIBE_TABWRITER, tabwrite } from "./tabwriter.js";

function col(name: string, priority = 0, format = ""): Table["columnDefinitions"][number] {
  return { name, type: "string", format, description: "", priority };
}

const podTable: Table = {
  kind: "Table",
  apiVersion: "meta.k8s.io/v1",
  metadata: { resourceVersion: "1013" },
  columnDefinitions: [
    col("Name", 0, "name"),
    col("Ready"),
    col("Status"),
    col("Restarts"),
    col("Age"),
    col("IP", 1),
    col("Node", 1),
    col("Nominated Node", 1),
    col("Readiness Gates", 1),
  ],
  rows: [
    {
      cells: ["web", "2/2", "Running", "0", "10m", "10.244.0.5", "node1", "<none>", "<none>"],
      object: { metadata: { name: "web", namespace: "default", labels: { app: "web" } } },
    },
    {
      cells: [
        "batch-job-x",
        "0/1",
        "Init:CrashLoopBackOff",
        "3 (5m ago)",
        "2d",
        "<none>",
        "node1",
        "<none>",
        "<none>",
      ],
      object: { metadata: { name: "batch-job-x", namespace: "kube-system" } },
    },
  ],
};

test("PL-KCTL printTable prints priority-0 columns with kubectl's tabwriter layout", () => {
  assert.equal(
    printTable(podTable, { wide: false, withNamespace: false }),
    "NAME          READY   STATUS                  RESTARTS     AGE\n" +
      "web           2/2     Running                 0            10m\n" +
      "batch-job-x   0/1     Init:CrashLoopBackOff   3 (5m ago)   2d\n",
  );
});

test("PL-KCTL-8 printTable -o wide adds priority-1 columns", () => {
  assert.equal(
    printTable({ ...podTable, rows: [podTable.rows[0]!] }, { wide: true, withNamespace: false }),
    "NAME   READY   STATUS    RESTARTS   AGE   IP           NODE    NOMINATED NODE   READINESS GATES\n" +
      "web    2/2     Running   0          10m   10.244.0.5   node1   <none>           <none>\n",
  );
});

test("printTable -A adds NAMESPACE from row objects, --show-labels adds LABELS", () => {
  assert.equal(
    printTable(podTable, { wide: false, withNamespace: true, showLabels: true }),
    "NAMESPACE     NAME          READY   STATUS                  RESTARTS     AGE   LABELS\n" +
      "default       web           2/2     Running                 0            10m   app=web\n" +
      "kube-system   batch-job-x   0/1     Init:CrashLoopBackOff   3 (5m ago)   2d    <none>\n",
  );
});

test("printTable keeps the minimum column width of 6 and prints non-string cells", () => {
  const t: Table = {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    columnDefinitions: [col("Name", 0, "name"), col("Data"), col("Age")],
    rows: [{ cells: ["a", 3, "5s"] }],
  };
  assert.equal(
    printTable(t, { wide: false, withNamespace: false }),
    "NAME   DATA   AGE\na      3      5s\n",
  );
});

test("tabwrite aligns separate column blocks independently, like Go's text/tabwriter", () => {
  const text = "Name:\tweb\nNamespace:\tdefault\nIPs:\n  IP:\t10.0.0.1\n";
  assert.equal(
    tabwrite(text, DESCRIBE_TABWRITER),
    "Name:       web\nNamespace:  default\nIPs:\n  IP:  10.0.0.1\n",
  );
});

test("PL-KCTL-7 humanDuration follows kubectl's rounding rules", () => {
  const s = 1000;
  const cases: [number, string][] = [
    [-5 * s, "<invalid>"],
    [-500, "0s"],
    [45 * s, "45s"],
    [119 * s, "119s"],
    [150 * s, "2m30s"],
    [5 * 60 * s, "5m"],
    [75 * 60 * s, "75m"],
    [(3 * 60 + 20) * 60 * s, "3h20m"],
    [10 * 3600 * s, "10h"],
    [(3 * 24 + 5) * 3600 * s, "3d5h"],
    [30 * 24 * 3600 * s, "30d"],
    [(3 * 365 + 10) * 24 * 3600 * s, "3y10d"],
    [9 * 365 * 24 * 3600 * s, "9y"],
  ];
  for (const [ms, want] of cases) assert.equal(humanDuration(ms), want, `${ms}ms`);
});

test("rfc1123z formats like Go's time.RFC1123Z in UTC", () => {
  assert.equal(rfc1123z("2025-03-01T08:00:00Z"), "Sat, 01 Mar 2025 08:00:00 +0000");
});

test("KA-DESC-1 describePod prints pod fields, containers, conditions and events", () => {
  const now = Date.parse("2025-03-01T08:10:00Z");
  const pod: Pod = {
    metadata: {
      name: "web",
      namespace: "default",
      labels: { app: "web", tier: "fe" },
      uid: "u1",
    },
    spec: {
      serviceAccountName: "default",
      nodeName: "node1",
      containers: [{ name: "c1", image: "nginx:1.25", ports: [{ containerPort: 80 }] }],
    },
    status: {
      phase: "Running",
      hostIP: "10.0.0.1",
      podIP: "10.244.0.5",
      podIPs: [{ ip: "10.244.0.5" }],
      startTime: "2025-03-01T08:00:00Z",
      qosClass: "BestEffort",
      conditions: [
        { type: "Ready", status: "True" },
        { type: "PodScheduled", status: "True" },
      ],
      containerStatuses: [
        {
          name: "c1",
          ready: true,
          restartCount: 1,
          image: "nginx:1.25",
          imageID: "sha256:abc",
          containerID: "podrun://123",
          state: { running: { startedAt: "2025-03-01T08:00:05Z" } },
          lastState: { terminated: { exitCode: 1, reason: "Error" } },
        },
      ],
    },
  };
  const events: Event[] = [
    {
      metadata: { name: "web.1", namespace: "default" },
      involvedObject: { kind: "Pod", name: "web" },
      type: "Normal",
      reason: "Scheduled",
      message: "Successfully assigned default/web to node1",
      source: { component: "default-scheduler" },
      firstTimestamp: "2025-03-01T08:00:00Z",
      lastTimestamp: "2025-03-01T08:00:00Z",
      count: 1,
    },
    {
      metadata: { name: "web.2", namespace: "default" },
      involvedObject: { kind: "Pod", name: "web", fieldPath: "spec.containers{c1}" },
      type: "Warning",
      reason: "BackOff",
      message: "Back-off restarting failed container c1 in pod web_default(u1)",
      source: { component: "kubelet", host: "node1" },
      firstTimestamp: "2025-03-01T08:01:00Z",
      lastTimestamp: "2025-03-01T08:09:00Z",
      count: 3,
    },
  ];
  const want = [
    "Name:             web",
    "Namespace:        default",
    "Service Account:  default",
    "Node:             node1/10.0.0.1",
    "Start Time:       Sat, 01 Mar 2025 08:00:00 +0000",
    "Labels:           app=web",
    "                  tier=fe",
    "Annotations:      <none>",
    "Status:           Running",
    "IP:               10.244.0.5",
    "IPs:",
    "  IP:  10.244.0.5",
    "Containers:",
    "  c1:",
    "    Container ID:   podrun://123",
    "    Image:          nginx:1.25",
    "    Image ID:       sha256:abc",
    "    Port:           80/TCP",
    "    Host Port:      0/TCP",
    "    State:          Running",
    "      Started:      Sat, 01 Mar 2025 08:00:05 +0000",
    "    Last State:     Terminated",
    "      Reason:       Error",
    "      Exit Code:    1",
    "    Ready:          True",
    "    Restart Count:  1",
    "    Environment:    <none>",
    "    Mounts:         <none>",
    "Conditions:",
    "  Type           Status",
    "  Ready          True ",
    "  PodScheduled   True ",
    "Volumes:         <none>",
    "QoS Class:       BestEffort",
    "Node-Selectors:  <none>",
    "Tolerations:     <none>",
    "Events:",
    "  Type     Reason     Age               From               Message",
    "  ----     ------     ----              ----               -------",
    "  Normal   Scheduled  10m               default-scheduler  Successfully assigned default/web to node1",
    "  Warning  BackOff    60s (x3 over 9m)  kubelet, node1     Back-off restarting failed container c1 in pod web_default(u1)",
    "",
  ].join("\n");
  assert.equal(describePod(pod, events, now), want);
});

test("parseKubeconfig resolves the current context's server, CA and credentials", async () => {
  const ca = Buffer.from("-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n");
  const text = `
apiVersion: v1
kind: Config
current-context: admin@podrun
clusters:
  - name: other
    cluster: { server: "https://10.0.0.9:6443" }
  - name: podrun
    cluster:
      server: https://127.0.0.1:6443
      certificate-authority-data: ${ca.toString("base64")}
contexts:
  - name: admin@podrun
    context: { cluster: podrun, user: admin, namespace: team }
users:
  - name: admin
    user: { token: abc123 }
`;
  const ctx = await parseKubeconfig(text, () => Promise.reject(new Error("no files")));
  assert.deepEqual(ctx, {
    server: "https://127.0.0.1:6443",
    namespace: "team",
    caPem: ca.toString("utf8"),
    token: "abc123",
  });
  assert.equal(kubeconfigPath(undefined, {}), "/var/lib/podrun/admin.kubeconfig");
  assert.equal(kubeconfigPath(undefined, { KUBECONFIG: "/a:/b" }), "/a");
  assert.equal(kubeconfigPath("/flag", { KUBECONFIG: "/a" }), "/flag");
});
