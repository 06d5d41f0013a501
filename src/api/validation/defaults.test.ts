import assert from "node:assert/strict";
import { test } from "node:test";
import type { Namespace, Pod, Secret, Service } from "../core.js";
import { applyDefaults, computeQosClass } from "./defaults.js";

function pod(mutate: (p: Pod) => void = () => undefined): Pod {
  const p: Pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web", namespace: "default" },
    spec: { containers: [{ name: "app", image: "nginx" }] },
  };
  mutate(p);
  return p;
}

test("PL-VAL defaults a minimal pod like upstream (§21 table)", () => {
  const p = pod();
  applyDefaults("Pod", "", p);
  assert.deepEqual(p.spec, {
    containers: [
      {
        name: "app",
        image: "nginx",
        imagePullPolicy: "Always",
        terminationMessagePath: "/dev/termination-log",
        terminationMessagePolicy: "File",
        resources: {},
      },
    ],
    restartPolicy: "Always",
    dnsPolicy: "ClusterFirst",
    terminationGracePeriodSeconds: 30,
    enableServiceLinks: true,
    schedulerName: "default-scheduler",
    securityContext: {},
    serviceAccountName: "default",
    serviceAccount: "default",
    priority: 0,
    preemptionPolicy: "PreemptLowerPriority",
    tolerations: [
      {
        key: "node.kubernetes.io/not-ready",
        operator: "Exists",
        effect: "NoExecute",
        tolerationSeconds: 300,
      },
      {
        key: "node.kubernetes.io/unreachable",
        operator: "Exists",
        effect: "NoExecute",
        tolerationSeconds: 300,
      },
    ],
  });
  assert.deepEqual(p.status, { phase: "Pending", qosClass: "BestEffort" });
});

test("applyDefaults is idempotent and keeps explicit values", () => {
  const p = pod((x) => {
    x.spec.restartPolicy = "Never";
    x.spec.terminationGracePeriodSeconds = 0;
    x.spec.enableServiceLinks = false;
  });
  applyDefaults("Pod", "", p);
  const once = JSON.stringify(p);
  applyDefaults("Pod", "", p);
  assert.equal(JSON.stringify(p), once);
  assert.equal(p.spec.restartPolicy, "Never");
  assert.equal(p.spec.terminationGracePeriodSeconds, 0);
  assert.equal(p.spec.enableServiceLinks, false);
});

test("PL-IMG-1 imagePullPolicy defaults per tag for all container lists", () => {
  const digest = `sha256:${"b".repeat(64)}`;
  const p = pod((x) => {
    x.spec.initContainers = [{ name: "i", image: "busybox:1.36" }];
    x.spec.containers = [
      { name: "a", image: "nginx:latest" },
      { name: "b", image: `nginx@${digest}` },
      { name: "c", image: `nginx:latest@${digest}` },
      { name: "d", image: "nginx", imagePullPolicy: "Never" },
    ];
    x.spec.ephemeralContainers = [{ name: "e", image: "busybox" }];
  });
  applyDefaults("Pod", "", p);
  assert.equal(p.spec.initContainers?.[0]?.imagePullPolicy, "IfNotPresent");
  assert.deepEqual(
    p.spec.containers.map((c) => c.imagePullPolicy),
    ["Always", "IfNotPresent", "Always", "Never"],
  );
  assert.equal(p.spec.ephemeralContainers?.[0]?.imagePullPolicy, "Always");
});

test("PL-PROBE probe, httpGet and grpc defaults; hook httpGet defaults", () => {
  const p = pod((x) => {
    const c = x.spec.containers[0]!;
    c.livenessProbe = { httpGet: { port: 8080 } };
    c.readinessProbe = { grpc: { port: 9000 }, periodSeconds: 0 };
    c.lifecycle = { preStop: { httpGet: { port: "http" } } };
  });
  applyDefaults("Pod", "", p);
  const c = p.spec.containers[0]!;
  assert.deepEqual(c.livenessProbe, {
    httpGet: { port: 8080, path: "/", scheme: "HTTP" },
    timeoutSeconds: 1,
    periodSeconds: 10,
    successThreshold: 1,
    failureThreshold: 3,
    initialDelaySeconds: 0,
  });
  assert.deepEqual(c.readinessProbe?.grpc, { port: 9000, service: "" });
  assert.equal(c.readinessProbe.periodSeconds, 10);
  assert.deepEqual(c.lifecycle?.preStop?.httpGet, { port: "http", path: "/", scheme: "HTTP" });
});

test("ports get TCP; hostNetwork copies containerPort to hostPort", () => {
  const p = pod((x) => {
    x.spec.hostNetwork = true;
    x.spec.containers[0]!.ports = [
      { containerPort: 80 },
      { containerPort: 53, protocol: "UDP", hostPort: 5353 },
    ];
  });
  applyDefaults("Pod", "", p);
  assert.deepEqual(p.spec.containers[0]!.ports, [
    { containerPort: 80, protocol: "TCP", hostPort: 80 },
    { containerPort: 53, protocol: "UDP", hostPort: 5353 },
  ]);
});

test("PL-RES-1 requests default to limits; PL-RES-2 QoS classes", () => {
  const g = pod((x) => {
    x.spec.containers[0]!.resources = { limits: { cpu: "500m", memory: "64Mi" } };
  });
  applyDefaults("Pod", "", g);
  assert.deepEqual(g.spec.containers[0]!.resources, {
    limits: { cpu: "500m", memory: "64Mi" },
    requests: { cpu: "500m", memory: "64Mi" },
  });
  assert.equal(g.status?.qosClass, "Guaranteed");

  const b = pod((x) => {
    x.spec.containers[0]!.resources = { requests: { cpu: "100m" } };
  });
  assert.equal(computeQosClass(b), "Burstable");
  const b2 = pod((x) => {
    x.spec.containers[0]!.resources = {
      limits: { cpu: "1", memory: "1Gi" },
      requests: { cpu: "0.5", memory: "1Gi" },
    };
  });
  assert.equal(computeQosClass(b2), "Burstable");
  const g2 = pod((x) => {
    x.spec.containers[0]!.resources = {
      limits: { cpu: "1", memory: "1Gi" },
      requests: { cpu: "1000m", memory: "1024Mi" },
    };
  });
  assert.equal(computeQosClass(g2), "Guaranteed");
  const b3 = pod((x) => {
    x.spec.initContainers = [{ name: "i", image: "x" }];
    x.spec.containers[0]!.resources = {
      limits: { cpu: "1", memory: "1Gi" },
      requests: { cpu: "1", memory: "1Gi" },
    };
  });
  assert.equal(computeQosClass(b3), "Burstable");
  assert.equal(computeQosClass(pod()), "BestEffort");
});

test("volumes: defaultMode 420, fieldRef apiVersion, empty source becomes emptyDir", () => {
  const p = pod((x) => {
    x.spec.volumes = [
      { name: "cm", configMap: { name: "c" } },
      { name: "s", secret: { secretName: "s" } },
      {
        name: "d",
        downwardAPI: { items: [{ path: "labels", fieldRef: { fieldPath: "metadata.labels" } }] },
      },
      { name: "p", projected: { sources: [] } },
      { name: "e" },
    ];
    x.spec.containers[0]!.env = [
      { name: "N", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
    ];
  });
  applyDefaults("Pod", "", p);
  const v = p.spec.volumes!;
  assert.equal(v[0]!.configMap?.defaultMode, 420);
  assert.equal(v[1]!.secret?.defaultMode, 420);
  assert.equal(v[2]!.downwardAPI?.defaultMode, 420);
  assert.equal(v[2]!.downwardAPI.items![0]!.fieldRef!.apiVersion, "v1");
  assert.equal(v[3]!.projected?.defaultMode, 420);
  assert.deepEqual(v[4], { name: "e", emptyDir: {} });
  assert.equal(p.spec.containers[0]!.env![0]!.valueFrom!.fieldRef!.apiVersion, "v1");
});

test("existing tolerations for the taints are not duplicated", () => {
  const p = pod((x) => {
    x.spec.tolerations = [{ operator: "Exists" }];
  });
  applyDefaults("Pod", "", p);
  assert.deepEqual(p.spec.tolerations, [{ operator: "Exists" }]);
});

test("service defaults", () => {
  const s: Service = {
    metadata: { name: "web" },
    spec: { selector: { app: "web" }, ports: [{ port: 80 }] },
  };
  applyDefaults("Service", "", s);
  assert.deepEqual(s.spec, {
    selector: { app: "web" },
    ports: [{ port: 80, protocol: "TCP", targetPort: 80 }],
    type: "ClusterIP",
    sessionAffinity: "None",
    internalTrafficPolicy: "Cluster",
    ipFamilies: ["IPv4"],
    ipFamilyPolicy: "SingleStack",
  });
  const np: Service = {
    metadata: { name: "np" },
    spec: { type: "NodePort", ports: [{ port: 80, targetPort: "http" }] },
  };
  applyDefaults("Service", "", np);
  assert.equal(np.spec?.externalTrafficPolicy, "Cluster");
  assert.equal(np.spec.ports![0]!.targetPort, "http");
});

test("secret stringData merges into base64 data and is removed", () => {
  const s: Secret = {
    metadata: { name: "s" },
    data: { a: "eA==" },
    stringData: { b: "hello", a: "y" },
  };
  applyDefaults("Secret", "", s);
  assert.deepEqual(s, {
    metadata: { name: "s" },
    type: "Opaque",
    data: { a: "eQ==", b: "aGVsbG8=" },
  });
});

test("namespace defaults", () => {
  const ns: Namespace = { metadata: { name: "team" } };
  applyDefaults("Namespace", "", ns);
  assert.deepEqual(ns.spec, { finalizers: ["kubernetes"] });
  assert.deepEqual(ns.status, { phase: "Active" });
});

test("applyDefaults tolerates wrongly typed bodies", () => {
  const bad = { metadata: { name: "x" }, spec: { containers: "nope" } } as unknown as Pod;
  applyDefaults("Pod", "", bad);
  assert.equal(bad.spec.restartPolicy, "Always");
});

test("service defaults: ClientIP affinity gets a 10800 s timeout, None gets no config", () => {
  const sticky: Service = {
    metadata: { name: "sticky" },
    spec: { sessionAffinity: "ClientIP", ports: [{ port: 80 }] },
  };
  applyDefaults("Service", "", sticky);
  assert.deepEqual(sticky.spec?.sessionAffinityConfig, { clientIP: { timeoutSeconds: 10800 } });
  const chosen: Service = {
    metadata: { name: "chosen" },
    spec: {
      sessionAffinity: "ClientIP",
      sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } },
      ports: [{ port: 80 }],
    },
  };
  applyDefaults("Service", "", chosen);
  assert.deepEqual(chosen.spec?.sessionAffinityConfig, { clientIP: { timeoutSeconds: 60 } });
  const none: Service = { metadata: { name: "none" }, spec: { ports: [{ port: 80 }] } };
  applyDefaults("Service", "", none);
  assert.equal(none.spec?.sessionAffinityConfig, undefined);
  assert.equal(none.spec?.externalTrafficPolicy, undefined);
});
