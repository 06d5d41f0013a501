import { test } from "node:test";
import assert from "node:assert/strict";
import type { ConfigMap, Container, Pod, Secret, Service } from "../api/index.js";
import type { ImageConfig } from "../runtime/index.js";
import {
  ContainerConfigError,
  containerArgv,
  expandVars,
  resolveContainerEnv,
  type EnvDeps,
} from "./env.js";

function pod(mutate?: (p: Pod) => void): Pod {
  const p: Pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: "web",
      namespace: "team",
      uid: "u-1",
      labels: { b: "2", a: 'x"y' },
      annotations: { note: "hi" },
    },
    spec: { containers: [{ name: "app", image: "busybox" }], serviceAccountName: "default" },
  };
  mutate?.(p);
  return p;
}

function svc(ns: string, name: string, ip: string, ports: Service["spec"] = {}): Service {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { namespace: ns, name },
    spec: { clusterIP: ip, ...ports },
  };
}

function deps(over: Partial<EnvDeps> = {}): EnvDeps {
  const cms: Record<string, ConfigMap> = {
    cfg: {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "cfg" },
      data: { Z: "z", A: "a" },
    },
    cfg2: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "cfg2" }, data: { A: "a2" } },
  };
  const secrets: Record<string, Secret> = {
    sec: {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "sec" },
      data: { password: Buffer.from("hunter2").toString("base64") },
    },
  };
  return {
    getConfigMap: (_ns, name) => Promise.resolve(cms[name]),
    getSecret: (_ns, name) => Promise.resolve(secrets[name]),
    listServices: (ns) =>
      ns === "default"
        ? [svc("default", "kubernetes", "10.96.0.1", { ports: [{ name: "https", port: 443 }] })]
        : [],
    nodeName: "node1",
    hostIPs: ["192.168.1.2"],
    podIPs: ["10.244.0.5", "fd00::5"],
    nodeAllocatable: { cpu: 2, memoryBytes: 4 * 2 ** 30, ephemeralStorageBytes: 10 * 2 ** 30 },
    ...over,
  };
}

const image: ImageConfig = {
  entrypoint: ["/entry"],
  cmd: ["cmd1", "cmd2"],
  env: [],
  workingDir: "",
  user: "",
  stopSignal: "",
  exposedPorts: [],
};

test("PL-ENV-2 expandVars follows upstream expansion", () => {
  const vars = new Map([
    ["A", "x"],
    ["B", "$(A)"],
  ]);
  const cases: [string, string][] = [
    ["$(A)", "x"],
    ["pre-$(A)-post", "pre-x-post"],
    ["$(UNDEF)", "$(UNDEF)"],
    ["$$(A)", "$(A)"],
    ["$$", "$"],
    ["$$$(A)", "$x"],
    ["$x", "$x"],
    ["$", "$"],
    ["a$", "a$"],
    ["$(A", "$(A"],
    ["$(", "$("],
    ["$()", "$()"],
    ["$(B)", "$(A)"],
    ["$(A)$(A)", "xx"],
  ];
  for (const [input, want] of cases) assert.equal(expandVars(input, vars), want, input);
});

test("PL-ENV-1 containerArgv follows the command/args table", () => {
  const cases: [Partial<Container>, string[]][] = [
    [{}, ["/entry", "cmd1", "cmd2"]],
    [{ command: ["/bin/sh"] }, ["/bin/sh"]],
    [{ args: ["x"] }, ["/entry", "x"]],
    [{ command: ["/bin/sh"], args: ["-c", "echo $(V)"] }, ["/bin/sh", "-c", "echo v"]],
    [{ command: [], args: [] }, ["/entry", "cmd1", "cmd2"]],
  ];
  for (const [c, want] of cases) {
    assert.deepEqual(
      containerArgv({ name: "c", ...c }, image, [{ name: "V", value: "v" }]),
      want,
      JSON.stringify(c),
    );
  }
  assert.deepEqual(containerArgv({ name: "c" }, { ...image, entrypoint: [], cmd: [] }, []), []);
});

test("PL-EDGE-32 env values reference only earlier entries", async () => {
  const p = pod((p) => {
    p.spec.enableServiceLinks = false;
  });
  const get = async (env: NonNullable<Container["env"]>): Promise<Record<string, string>> => {
    const out = await resolveContainerEnv(p, { name: "app", env }, deps());
    return Object.fromEntries(out.map((e) => [e.name, e.value]));
  };
  assert.equal(
    (
      await get([
        { name: "A", value: "$(B)" },
        { name: "B", value: "x" },
      ])
    )["A"],
    "$(B)",
  );
  assert.equal(
    (
      await get([
        { name: "B", value: "x" },
        { name: "A", value: "$(B)" },
      ])
    )["A"],
    "x",
  );
  assert.equal((await get([{ name: "A", value: "$$(B)" }]))["A"], "$(B)");
});

test("PL-ENV-3 PL-ENV-4 envFrom with prefix, env override, deterministic order", async () => {
  const p = pod((p) => {
    p.spec.enableServiceLinks = false;
  });
  const c: Container = {
    name: "app",
    envFrom: [
      { configMapRef: { name: "cfg" } },
      { prefix: "P_", configMapRef: { name: "cfg2" } },
      { configMapRef: { name: "cfg2" } },
    ],
    env: [
      { name: "NEW", value: "$(P_A)-$(Z)-$(KUBERNETES_SERVICE_HOST)" },
      { name: "Z", value: "over" },
    ],
  };
  const out = await resolveContainerEnv(p, c, deps());
  assert.deepEqual(out, [
    { name: "A", value: "a2" },
    { name: "Z", value: "over" },
    { name: "P_A", value: "a2" },
    { name: "NEW", value: "a2-z-10.96.0.1" },
    { name: "KUBERNETES_PORT", value: "tcp://10.96.0.1:443" },
    { name: "KUBERNETES_PORT_443_TCP", value: "tcp://10.96.0.1:443" },
    { name: "KUBERNETES_PORT_443_TCP_ADDR", value: "10.96.0.1" },
    { name: "KUBERNETES_PORT_443_TCP_PORT", value: "443" },
    { name: "KUBERNETES_PORT_443_TCP_PROTO", value: "tcp" },
    { name: "KUBERNETES_SERVICE_HOST", value: "10.96.0.1" },
    { name: "KUBERNETES_SERVICE_PORT", value: "443" },
    { name: "KUBERNETES_SERVICE_PORT_HTTPS", value: "443" },
  ]);
});

test("PL-ENV-7 service link variables for the pod's namespace", async () => {
  const d = deps({
    listServices: (ns) =>
      ns === "default"
        ? [svc("default", "kubernetes", "10.96.0.1", { ports: [{ port: 443 }] })]
        : [
            svc("team", "my-db", "10.96.0.20", {
              ports: [
                { name: "pg-main", port: 5432 },
                { name: "metrics", port: 9187, protocol: "UDP" },
              ],
            }),
            svc("team", "headless", "None", { ports: [{ port: 80 }] }),
            svc("team", "v6", "fd00::1", { ports: [{ port: 80 }] }),
          ],
  });
  const out = await resolveContainerEnv(pod(), { name: "app" }, d);
  const m = new Map(out.map((e) => [e.name, e.value]));
  assert.equal(m.get("MY_DB_SERVICE_HOST"), "10.96.0.20");
  assert.equal(m.get("MY_DB_SERVICE_PORT"), "5432");
  assert.equal(m.get("MY_DB_SERVICE_PORT_PG_MAIN"), "5432");
  assert.equal(m.get("MY_DB_SERVICE_PORT_METRICS"), "9187");
  assert.equal(m.get("MY_DB_PORT"), "tcp://10.96.0.20:5432");
  assert.equal(m.get("MY_DB_PORT_9187_UDP"), "udp://10.96.0.20:9187");
  assert.equal(m.get("MY_DB_PORT_9187_UDP_PROTO"), "udp");
  assert.equal(m.get("V6_PORT"), "tcp://[fd00::1]:80");
  assert.equal(m.get("KUBERNETES_SERVICE_HOST"), "10.96.0.1");
  assert.ok(![...m.keys()].some((k) => k.startsWith("HEADLESS")));
  const names = out.map((e) => e.name);
  assert.deepEqual(names, [...names].sort());

  const noLinks = await resolveContainerEnv(
    pod((p) => {
      p.spec.enableServiceLinks = false;
    }),
    { name: "app" },
    d,
  );
  assert.ok(noLinks.every((e) => e.name.startsWith("KUBERNETES_")));
  assert.ok(noLinks.length > 0);
});

test("PL-ENV-8 unsynced services fail with the upstream message", async () => {
  await assert.rejects(
    resolveContainerEnv(pod(), { name: "app" }, deps({ listServices: () => undefined })),
    (err: unknown) =>
      err instanceof ContainerConfigError &&
      err.message === "services have not yet been read at least once, cannot construct envvars",
  );
});

test("PL-ENV-5 PL-EDGE-33 missing configmaps, secrets and keys", async () => {
  const p = pod();
  const cases: [NonNullable<Container["env"]>, string | undefined][] = [
    [
      [{ name: "X", valueFrom: { secretKeyRef: { name: "nope", key: "k" } } }],
      'secret "nope" not found',
    ],
    [
      [{ name: "X", valueFrom: { configMapKeyRef: { name: "nope", key: "k" } } }],
      'configmap "nope" not found',
    ],
    [
      [{ name: "X", valueFrom: { configMapKeyRef: { name: "cfg", key: "k" } } }],
      "couldn't find key k in ConfigMap team/cfg",
    ],
    [
      [{ name: "X", valueFrom: { secretKeyRef: { name: "sec", key: "k" } } }],
      "couldn't find key k in Secret team/sec",
    ],
    [
      [{ name: "X", valueFrom: { secretKeyRef: { name: "nope", key: "k", optional: true } } }],
      undefined,
    ],
    [
      [{ name: "X", valueFrom: { configMapKeyRef: { name: "cfg", key: "k", optional: true } } }],
      undefined,
    ],
  ];
  for (const [env, msg] of cases) {
    const run = resolveContainerEnv(p, { name: "app", env }, deps());
    if (msg === undefined) {
      const out = await run;
      assert.ok(!out.some((e) => e.name === "X"));
    } else {
      await assert.rejects(
        run,
        (err: unknown) => err instanceof ContainerConfigError && err.message === msg,
      );
    }
  }
  await assert.rejects(
    resolveContainerEnv(p, { name: "app", envFrom: [{ secretRef: { name: "nope" } }] }, deps()),
    { message: 'secret "nope" not found' },
  );
  const out = await resolveContainerEnv(
    p,
    {
      name: "app",
      envFrom: [{ secretRef: { name: "nope", optional: true } }, { secretRef: { name: "sec" } }],
      env: [{ name: "PW", valueFrom: { secretKeyRef: { name: "sec", key: "password" } } }],
    },
    deps(),
  );
  assert.equal(out.find((e) => e.name === "PW")?.value, "hunter2");
  assert.equal(out.find((e) => e.name === "password")?.value, "hunter2");
});

test("PL-ENV-6 fieldRef paths", async () => {
  const p = pod((p) => {
    p.spec.nodeName = "node1";
    p.spec.enableServiceLinks = false;
  });
  const paths: [string, string][] = [
    ["metadata.name", "web"],
    ["metadata.namespace", "team"],
    ["metadata.uid", "u-1"],
    ["metadata.labels['a']", 'x"y'],
    ["metadata.labels", 'a="x\\"y"\nb="2"'],
    ["metadata.annotations['note']", "hi"],
    ["metadata.annotations['missing']", ""],
    ["spec.nodeName", "node1"],
    ["spec.serviceAccountName", "default"],
    ["status.hostIP", "192.168.1.2"],
    ["status.hostIPs", "192.168.1.2"],
    ["status.podIP", "10.244.0.5"],
    ["status.podIPs", "10.244.0.5,fd00::5"],
  ];
  const env = paths.map(([fieldPath], i) => ({
    name: `V${i}`,
    valueFrom: { fieldRef: { fieldPath } },
  }));
  const out = await resolveContainerEnv(p, { name: "app", env }, deps());
  paths.forEach(([path, want], i) => {
    assert.equal(out.find((e) => e.name === `V${i}`)?.value, want, path);
  });
});

test("PL-ENV-6 resourceFieldRef with divisor, ceil and allocatable fallback", async () => {
  const p = pod((p) => {
    p.spec.enableServiceLinks = false;
  });
  const c: Container = {
    name: "app",
    resources: { limits: { memory: "100Mi", cpu: "250m" }, requests: { cpu: "100m" } },
    env: [
      { name: "CPU_LIM", valueFrom: { resourceFieldRef: { resource: "limits.cpu" } } },
      {
        name: "CPU_LIM_M",
        valueFrom: { resourceFieldRef: { resource: "limits.cpu", divisor: "1m" } },
      },
      {
        name: "CPU_REQ_M",
        valueFrom: { resourceFieldRef: { resource: "requests.cpu", divisor: "1m" } },
      },
      { name: "MEM_LIM", valueFrom: { resourceFieldRef: { resource: "limits.memory" } } },
      {
        name: "MEM_LIM_MI",
        valueFrom: { resourceFieldRef: { resource: "limits.memory", divisor: "1Mi" } },
      },
      {
        name: "MEM_LIM_G",
        valueFrom: { resourceFieldRef: { resource: "limits.memory", divisor: "1G" } },
      },
      {
        name: "EPH",
        valueFrom: { resourceFieldRef: { resource: "limits.ephemeral-storage", divisor: "1Gi" } },
      },
      { name: "MEM_REQ", valueFrom: { resourceFieldRef: { resource: "requests.memory" } } },
    ],
  };
  const out = await resolveContainerEnv(p, c, deps());
  const m = Object.fromEntries(
    out.filter((e) => !e.name.startsWith("KUBERNETES_")).map((e) => [e.name, e.value]),
  );
  assert.deepEqual(m, {
    CPU_LIM: "1",
    CPU_LIM_M: "250",
    CPU_REQ_M: "100",
    MEM_LIM: "104857600",
    MEM_LIM_MI: "100",
    MEM_LIM_G: "1",
    EPH: "10",
    MEM_REQ: "0",
  });
  const noLimit = await resolveContainerEnv(
    p,
    {
      name: "app",
      env: [{ name: "C", valueFrom: { resourceFieldRef: { resource: "limits.cpu" } } }],
    },
    deps(),
  );
  assert.equal(noLimit[0]?.value, "2");
});
