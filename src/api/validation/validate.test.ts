import assert from "node:assert/strict";
import { test } from "node:test";
import type { ConfigMap, Pod, Secret, Service } from "../core.js";
import { formatFieldError, invalid } from "../errors.js";
import type { KubeObject } from "../meta.js";
import { applyDefaults } from "./defaults.js";
import { POD_UPDATE_FORBIDDEN_MESSAGE } from "./pod.js";
import { validateObject, type ValidateOptions } from "./validate.js";

const LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

function basePod(mutate: (p: Pod) => void = () => undefined): Pod {
  const p: Pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web", namespace: "default", labels: { app: "web" } },
    spec: {
      containers: [{ name: "app", image: "nginx", ports: [{ containerPort: 80, name: "http" }] }],
      volumes: [{ name: "data", emptyDir: {} }],
    },
  };
  mutate(p);
  applyDefaults("Pod", "", p);
  return p;
}

function errorsOf(
  kind: string,
  obj: KubeObject,
  old?: KubeObject,
  opts?: ValidateOptions,
): string[] {
  return validateObject(kind, "", obj, old, opts).map(formatFieldError);
}

test("a valid defaulted pod has no errors", () => {
  assert.deepEqual(errorsOf("Pod", basePod()), []);
});

const podCases: { name: string; mutate: (p: Pod) => void; want: string[] }[] = [
  {
    name: "PL-VAL-3 metadata.name must be a DNS-1123 subdomain",
    mutate: (p) => {
      p.metadata.name = "Web_1";
    },
    want: [`metadata.name: Invalid value: "Web_1": ${SUBDOMAIN_MSG}`],
  },
  {
    name: "metadata.name or generateName required",
    mutate: (p) => {
      delete p.metadata.name;
    },
    want: ["metadata.name: Required value: name or generateName is required"],
  },
  {
    name: "metadata.namespace required for namespaced kinds",
    mutate: (p) => {
      delete p.metadata.namespace;
    },
    want: ["metadata.namespace: Required value"],
  },
  {
    name: "label values are validated",
    mutate: (p) => {
      p.metadata.labels = { app: "-bad" };
    },
    want: [
      `metadata.labels: Invalid value: "-bad": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
    ],
  },
  {
    name: "PL-VAL-4 container name must be a DNS-1123 label (double space)",
    mutate: (p) => {
      p.spec.containers[0]!.name = "App";
    },
    want: [`spec.containers[0].name: Invalid value: "App": ${LABEL_MSG}`],
  },
  {
    name: "PL-VAL-4 spec.containers required",
    mutate: (p) => {
      p.spec.containers = [];
    },
    want: ["spec.containers: Required value"],
  },
  {
    name: "PL-VAL-4 image required",
    mutate: (p) => {
      delete p.spec.containers[0]!.image;
    },
    want: ["spec.containers[0].image: Required value"],
  },
  {
    name: "PL-EDGE-34 duplicate names across init and regular containers",
    mutate: (p) => {
      p.spec.initContainers = [{ name: "app", image: "busybox" }];
    },
    want: ['spec.initContainers[0].name: Duplicate value: "app"'],
  },
  {
    name: "PL-INIT-7 regular init container may not have probes or lifecycle",
    mutate: (p) => {
      p.spec.initContainers = [
        {
          name: "init",
          image: "busybox",
          readinessProbe: { exec: { command: ["true"] } },
          lifecycle: { postStart: { exec: { command: ["x"] } } },
        },
      ];
    },
    want: [
      "spec.initContainers[0].lifecycle: Forbidden: may not be set for init containers without restartPolicy=Always",
      "spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always",
    ],
  },
  {
    name: "PL-INIT-8 init container restartPolicy only Always; sidecars may have probes",
    mutate: (p) => {
      p.spec.initContainers = [
        { name: "a", image: "busybox", restartPolicy: "Never" as "Always" },
        {
          name: "s",
          image: "busybox",
          restartPolicy: "Always",
          readinessProbe: { tcpSocket: { port: 80 } },
        },
      ];
    },
    want: [
      'spec.initContainers[0].restartPolicy: Unsupported value: "Never": supported values: "Always"',
    ],
  },
  {
    name: "regular containers may not set restartPolicy",
    mutate: (p) => {
      p.spec.containers[0]!.restartPolicy = "Always";
    },
    want: ["spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers"],
  },
  {
    name: "PL-PROBE handler required",
    mutate: (p) => {
      p.spec.containers[0]!.livenessProbe = { periodSeconds: 5 };
    },
    want: ["spec.containers[0].livenessProbe: Required value: must specify a handler type"],
  },
  {
    name: "PL-PROBE more than one handler",
    mutate: (p) => {
      p.spec.containers[0]!.livenessProbe = {
        exec: { command: ["true"] },
        tcpSocket: { port: 80 },
      };
    },
    want: [
      "spec.containers[0].livenessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type",
    ],
  },
  {
    name: "PL-PROBE liveness successThreshold must be 1; readiness no terminationGracePeriodSeconds",
    mutate: (p) => {
      p.spec.containers[0]!.livenessProbe = { tcpSocket: { port: 80 }, successThreshold: 2 };
      p.spec.containers[0]!.readinessProbe = {
        tcpSocket: { port: "http" },
        terminationGracePeriodSeconds: 10,
      };
    },
    want: [
      "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
      "spec.containers[0].readinessProbe.terminationGracePeriodSeconds: Invalid value: 10: must not be set for readinessProbes",
    ],
  },
  {
    name: "PL-PROBE negative initialDelaySeconds",
    mutate: (p) => {
      p.spec.containers[0]!.startupProbe = { exec: { command: ["x"] }, initialDelaySeconds: -1 };
    },
    want: [
      "spec.containers[0].startupProbe.initialDelaySeconds: Invalid value: -1: must be greater than or equal to 0",
    ],
  },
  {
    name: "PL-HOOK-7 sleep longer than the grace period",
    mutate: (p) => {
      p.spec.containers[0]!.lifecycle = { preStop: { sleep: { seconds: 100 } } };
    },
    want: [
      "spec.containers[0].lifecycle.preStop.sleep: Invalid value: 100: must be non-negative and less than terminationGracePeriodSeconds (30)",
    ],
  },
  {
    name: "PL-EPH-1 ephemeral containers cannot be set on create",
    mutate: (p) => {
      p.spec.ephemeralContainers = [{ name: "dbg", image: "busybox" }];
    },
    want: ["spec.ephemeralContainers: Forbidden: cannot be set on create"],
  },
  {
    name: "PL-VAL-5 port range, protocol and name",
    mutate: (p) => {
      p.spec.containers[0]!.ports = [
        { containerPort: 70000, protocol: "ICMP" as "TCP", name: "Http" },
        { containerPort: 81, name: "http-" },
        { containerPort: 82, name: "web" },
        { containerPort: 83, name: "web" },
      ];
    },
    want: [
      'spec.containers[0].ports[0].name: Invalid value: "Http": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)',
      "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
      'spec.containers[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
      'spec.containers[0].ports[1].name: Invalid value: "http-": must not begin or end with a hyphen',
      'spec.containers[0].ports[3].name: Duplicate value: "web"',
    ],
  },
  {
    name: "PL-VAL-6 restartPolicy and dnsPolicy NotSupported",
    mutate: (p) => {
      p.spec.restartPolicy = "Sometimes" as "Always";
      p.spec.dnsPolicy = "Cluster" as "Default";
    },
    want: [
      'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
      'spec.dnsPolicy: Unsupported value: "Cluster": supported values: "ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"',
    ],
  },
  {
    name: "PL-VAL-6 activeDeadlineSeconds range",
    mutate: (p) => {
      p.spec.activeDeadlineSeconds = 0;
    },
    want: [
      "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive",
    ],
  },
  {
    name: "PL-VAL-7 volume mounts must reference volumes; names unique; mountPath unique",
    mutate: (p) => {
      p.spec.volumes!.push({ name: "data", emptyDir: {} });
      p.spec.containers[0]!.volumeMounts = [
        { name: "nope", mountPath: "/a" },
        { name: "data", mountPath: "/a" },
      ];
    },
    want: [
      'spec.volumes[1].name: Duplicate value: "data"',
      'spec.containers[0].volumeMounts[0].name: Not found: "nope"',
      'spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/a": must be unique',
    ],
  },
  {
    name: "volumes need exactly one source",
    mutate: (p) => {
      p.spec.volumes = [{ name: "two", emptyDir: {}, hostPath: { path: "/tmp" } }];
    },
    want: ["spec.volumes[0].emptyDir: Forbidden: may not specify more than 1 volume type"],
  },
  {
    name: "PL-VAL-10 subPath must be relative without '..'; Bidirectional needs privileged",
    mutate: (p) => {
      p.spec.containers[0]!.volumeMounts = [
        { name: "data", mountPath: "/a", subPath: "../x", mountPropagation: "Bidirectional" },
        { name: "data", mountPath: "/b", subPath: "/abs" },
      ];
    },
    want: [
      `spec.containers[0].volumeMounts[0].subPath: Invalid value: "../x": must not contain '..'`,
      "spec.containers[0].volumeMounts[0].mountPropagation: Forbidden: Bidirectional mount propagation is available only to privileged containers",
      'spec.containers[0].volumeMounts[1].subPath: Invalid value: "/abs": must be a relative path',
    ],
  },
  {
    name: "PL-VAL-10 hostPort conflicts between regular containers",
    mutate: (p) => {
      p.spec.containers = [
        { name: "a", image: "x", ports: [{ containerPort: 80, hostPort: 8080 }] },
        { name: "b", image: "x", ports: [{ containerPort: 81, hostPort: 8080 }] },
      ];
    },
    want: ['spec.containers[1].ports[0].hostPort: Duplicate value: "TCP//8080"'],
  },
  {
    name: "resources: request above limit",
    mutate: (p) => {
      p.spec.containers[0]!.resources = { limits: { cpu: "1000m" }, requests: { cpu: "2" } };
    },
    want: [
      'spec.containers[0].resources.requests[cpu]: Invalid value: "2": must be less than or equal to cpu limit of 1',
    ],
  },
  {
    name: "resources: malformed quantity",
    mutate: (p) => {
      p.spec.containers[0]!.resources = { limits: { memory: "lots" } };
    },
    want: [
      `spec.containers[0].resources.limits[memory]: Invalid value: "lots": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`,
      `spec.containers[0].resources.requests[memory]: Invalid value: "lots": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`,
    ],
  },
  {
    name: "env var names (relaxed) and valueFrom exclusivity",
    mutate: (p) => {
      p.spec.containers[0]!.env = [
        { name: "A=B", value: "x" },
        { name: "OK", value: "v", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
      ];
    },
    want: [
      `spec.containers[0].env[0].name: Invalid value: "A=B": a valid environment variable name must consist only of printable ASCII characters other than '='`,
      'spec.containers[0].env[1].valueFrom: Invalid value: "": may not be specified when `value` is not empty',
    ],
  },
];

for (const c of podCases) {
  test(c.name, () => {
    assert.deepEqual(errorsOf("Pod", basePod(c.mutate)), c.want);
  });
}

test("PL-VAL-2 invalid() renders the 422 message from the field errors", () => {
  const p = basePod((x) => {
    x.spec.containers[0]!.name = "";
  });
  const err = invalid("Pod", "web", validateObject("Pod", "", p, undefined));
  assert.equal(err.code, 422);
  assert.equal(err.message, 'Pod "web" is invalid: spec.containers[0].name: Required value');
});

test("PL-VAL-8 / PL-EDGE-35 changing the command is forbidden with the spec diff", () => {
  const old = basePod();
  const upd = basePod((p) => {
    p.spec.containers[0]!.command = ["sleep", "1"];
  });
  const errs = validateObject("Pod", "", upd, old);
  assert.equal(errs.length, 1);
  const e = errs[0]!;
  assert.equal(e.type, "Forbidden");
  assert.equal(e.field, "spec");
  assert.ok(e.detail?.startsWith(`${POD_UPDATE_FORBIDDEN_MESSAGE}\n`));
  assert.match(e.detail ?? "", /core\.PodSpec\{/);
  assert.match(e.detail ?? "", /\+ containers\[0\]\.command: \["sleep","1"\]/);
});

test("PL-VAL-8 image, tolerations additions, labels may change", () => {
  const old = basePod();
  const upd = structuredClone(old);
  upd.spec.containers[0]!.image = "nginx:1.27";
  upd.metadata.labels = { app: "web", v: "2" };
  upd.spec.tolerations!.push({ key: "k", operator: "Exists", effect: "NoSchedule" });
  assert.deepEqual(errorsOf("Pod", upd, old), []);
  const removed = basePod();
  removed.spec.tolerations = [];
  assert.equal(
    errorsOf("Pod", removed, old)[0]?.startsWith("spec: Forbidden: pod updates may not change"),
    true,
  );
});

test("PL-VAL-8 image cannot be set to empty", () => {
  const old = basePod();
  const upd = structuredClone(old);
  upd.spec.containers[0]!.image = "";
  assert.deepEqual(errorsOf("Pod", upd, old), ["spec.containers[0].image: Required value"]);
});

test("PL-TERM-10 activeDeadlineSeconds may be lowered, not raised or removed", () => {
  const old = basePod((p) => {
    p.spec.activeDeadlineSeconds = 60;
  });
  const lower = basePod((p) => {
    p.spec.activeDeadlineSeconds = 30;
  });
  assert.deepEqual(errorsOf("Pod", lower, old), []);
  const raise = basePod((p) => {
    p.spec.activeDeadlineSeconds = 120;
  });
  assert.deepEqual(errorsOf("Pod", raise, old), [
    "spec.activeDeadlineSeconds: Invalid value: 120: must be less than or equal to previous value",
  ]);
  assert.deepEqual(errorsOf("Pod", basePod(), old), [
    "spec.activeDeadlineSeconds: Invalid value: null: must not update from a positive integer to nil value",
  ]);
  assert.deepEqual(errorsOf("Pod", old, basePod()), []);
});

test("metadata.name is immutable on update", () => {
  const old = basePod();
  const upd = basePod((p) => {
    p.metadata.name = "other";
  });
  assert.deepEqual(errorsOf("Pod", upd, old), [
    'metadata.name: Invalid value: "other": field is immutable',
  ]);
});

test("PL-EPH-2/3 ephemeralcontainers subresource rules", () => {
  const old = basePod();
  const upd = basePod();
  upd.spec.ephemeralContainers = [
    {
      name: "dbg",
      image: "busybox",
      imagePullPolicy: "Always",
      terminationMessagePolicy: "File",
      targetContainerName: "missing",
      ports: [{ containerPort: 80 }],
      volumeMounts: [{ name: "data", mountPath: "/d", subPath: "x" }],
    },
    { name: "app", image: "busybox", imagePullPolicy: "Always", terminationMessagePolicy: "File" },
  ];
  assert.deepEqual(errorsOf("Pod", upd, old, { subresource: "ephemeralcontainers" }), [
    "spec.ephemeralContainers[0].ports: Forbidden: cannot be set for an Ephemeral Container",
    "spec.ephemeralContainers[0].volumeMounts[0].subPath: Forbidden: cannot be set for an Ephemeral Container",
    'spec.ephemeralContainers[0].targetContainerName: Not found: "missing"',
    'spec.ephemeralContainers[1].name: Duplicate value: "app"',
  ]);
  // PL-EPH-1: existing ones may be neither changed nor removed.
  const withOne = basePod();
  withOne.spec.ephemeralContainers = [
    { name: "dbg", image: "busybox", imagePullPolicy: "Always", terminationMessagePolicy: "File" },
  ];
  const changed = structuredClone(withOne);
  changed.spec.ephemeralContainers![0]!.image = "alpine";
  assert.deepEqual(errorsOf("Pod", changed, withOne, { subresource: "ephemeralcontainers" }), [
    'spec.ephemeralContainers[0]: Forbidden: existing ephemeral containers "dbg" may not be changed',
  ]);
  assert.deepEqual(errorsOf("Pod", old, withOne, { subresource: "ephemeralcontainers" }), [
    'spec.ephemeralContainers: Forbidden: existing ephemeral containers "dbg" may not be removed',
  ]);
  // Adding through the main resource is a forbidden spec change.
  const viaUpdate = errorsOf("Pod", withOne, old);
  assert.equal(viaUpdate.length, 1);
  assert.ok(viaUpdate[0]!.startsWith("spec: Forbidden: pod updates may not change fields"));
});

test("status subresource updates skip spec rules", () => {
  const old = basePod();
  const upd = basePod();
  upd.status = { phase: "Running" };
  assert.deepEqual(errorsOf("Pod", upd, old, { subresource: "status" }), []);
});

function svc(mutate: (s: Service) => void = () => undefined): Service {
  const s: Service = {
    metadata: { name: "web", namespace: "default" },
    spec: { selector: { app: "web" }, ports: [{ port: 80 }] },
  };
  mutate(s);
  applyDefaults("Service", "", s);
  return s;
}

test("service validation", () => {
  assert.deepEqual(errorsOf("Service", svc()), []);
  assert.deepEqual(
    errorsOf(
      "Service",
      svc((s) => {
        s.metadata.name = "1web";
        s.spec!.ports = [];
      }),
    ),
    [
      `metadata.name: Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')`,
      "spec.ports: Required value",
    ],
  );
  assert.deepEqual(
    errorsOf(
      "Service",
      svc((s) => {
        s.spec!.type = "NodePort";
        s.spec!.ports = [
          { port: 80, nodePort: 80, name: "a" },
          { port: 0, protocol: "ICMP" as "TCP" },
        ];
      }),
    ),
    [
      "spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767",
      "spec.ports[1].name: Required value",
      "spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive",
      'spec.ports[1].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
      "spec.ports[1].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive",
    ],
  );
  assert.deepEqual(
    errorsOf(
      "Service",
      svc((s) => {
        s.spec!.ports![0]!.nodePort = 30080;
      }),
    ),
    ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"],
  );
  const headless = svc((s) => {
    s.spec!.clusterIP = "None";
    s.spec!.ports = [];
  });
  assert.deepEqual(errorsOf("Service", headless), []);
  const old = svc((s) => {
    s.spec!.clusterIP = "10.96.0.5";
  });
  const moved = svc((s) => {
    s.spec!.clusterIP = "10.96.0.6";
  });
  assert.deepEqual(errorsOf("Service", moved, old), [
    'spec.clusterIPs[0]: Invalid value: ["10.96.0.6"]: may not change once set',
  ]);
});

test("configmap keys, size and immutability", () => {
  const cm: ConfigMap = {
    metadata: { name: "c", namespace: "default" },
    data: { "a b": "x", ok: "y" },
  };
  assert.deepEqual(errorsOf("ConfigMap", cm), [
    `data[a b]: Invalid value: "a b": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`,
  ]);
  const big: ConfigMap = {
    metadata: { name: "c", namespace: "default" },
    data: { k: "x".repeat(1024 * 1024) },
  };
  assert.deepEqual(errorsOf("ConfigMap", big), [": Too long: may not be more than 1048576 bytes"]);
  const frozen: ConfigMap = {
    metadata: { name: "c", namespace: "default" },
    data: { k: "1" },
    immutable: true,
  };
  const edited: ConfigMap = { ...frozen, data: { k: "2" } };
  assert.deepEqual(errorsOf("ConfigMap", edited, frozen), [
    "data: Forbidden: field is immutable when `immutable` is set",
  ]);
});

test("secret keys, type immutability, required keys", () => {
  const s: Secret = {
    metadata: { name: "s", namespace: "default" },
    type: "Opaque",
    data: { "..x": "eA==" },
  };
  assert.deepEqual(errorsOf("Secret", s), [
    `data[..x]: Invalid value: "..x": must not start with '..'`,
  ]);
  const tls: Secret = {
    metadata: { name: "s", namespace: "default" },
    type: "kubernetes.io/tls",
    data: { "tls.crt": "eA==" },
  };
  assert.deepEqual(errorsOf("Secret", tls), ["data[tls.key]: Required value"]);
  const old: Secret = { metadata: { name: "s", namespace: "default" }, type: "Opaque", data: {} };
  const upd: Secret = { ...old, type: "kubernetes.io/basic-auth", data: { username: "eA==" } };
  assert.deepEqual(errorsOf("Secret", upd, old), [
    'type: Invalid value: "kubernetes.io/basic-auth": field is immutable',
  ]);
});

test("namespace names are DNS-1123 labels and cluster-scoped", () => {
  assert.deepEqual(errorsOf("Namespace", { metadata: { name: "team.a" } }), [
    `metadata.name: Invalid value: "team.a": ${LABEL_MSG}`,
  ]);
  assert.deepEqual(errorsOf("Namespace", { metadata: { name: "team", namespace: "x" } }), [
    "metadata.namespace: Forbidden: not allowed on this type",
  ]);
});

test("service validation: session affinity config and traffic policies as upstream", () => {
  const cases: [string, (s: Service) => void, string[]][] = [
    ["ClientIP defaulted", (s) => (s.spec!.sessionAffinity = "ClientIP"), []],
    [
      "timeout 0",
      (s) => {
        s.spec!.sessionAffinity = "ClientIP";
        s.spec!.sessionAffinityConfig = { clientIP: { timeoutSeconds: 0 } };
      },
      [
        "spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 0: must be greater than 0 and less than 86400",
      ],
    ],
    [
      "timeout one day",
      (s) => {
        s.spec!.sessionAffinity = "ClientIP";
        s.spec!.sessionAffinityConfig = { clientIP: { timeoutSeconds: 86400 } };
      },
      [],
    ],
    [
      "timeout over a day",
      (s) => {
        s.spec!.sessionAffinity = "ClientIP";
        s.spec!.sessionAffinityConfig = { clientIP: { timeoutSeconds: 86401 } };
      },
      [
        "spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 86401: must be greater than 0 and less than 86400",
      ],
    ],
    [
      "config with None",
      (s) => (s.spec!.sessionAffinityConfig = { clientIP: { timeoutSeconds: 5 } }),
      ["spec.sessionAffinityConfig: Forbidden: must not be set when session affinity is None"],
    ],
    [
      "external policy on a ClusterIP",
      (s) => (s.spec!.externalTrafficPolicy = "Local"),
      [
        'spec.externalTrafficPolicy: Invalid value: "Local": may only be set for externally-accessible services',
      ],
    ],
    [
      "external policy on a NodePort",
      (s) => {
        s.spec!.type = "NodePort";
        s.spec!.externalTrafficPolicy = "Local";
      },
      [],
    ],
    [
      "unknown internal policy",
      (s) => (s.spec!.internalTrafficPolicy = "Node" as "Local"),
      [
        'spec.internalTrafficPolicy: Unsupported value: "Node": supported values: "Cluster", "Local"',
      ],
    ],
  ];
  for (const [name, mutate, want] of cases) {
    assert.deepEqual(errorsOf("Service", svc(mutate)), want, name);
  }
});
