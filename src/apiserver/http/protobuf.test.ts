import assert from "node:assert/strict";
import { test } from "node:test";
import { hasReason } from "../../api/index.js";
import { decodeBody } from "./body.js";
import { decodeProtobufObject, PROTOBUF_MAGIC, protoRoot } from "./protobuf.js";

function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ""), "hex");
}
function str(s: string): string {
  return Buffer.from(s).toString("hex");
}

/** Wraps an encoded object in the runtime.Unknown envelope with the `k8s\0` prefix. */
function envelope(apiVersion: string, kind: string, raw: Uint8Array): Uint8Array {
  const unknown = protoRoot().lookupType("k8s.Unknown");
  const body = unknown
    .encode(
      unknown.fromObject({
        typeMeta: { apiVersion, kind },
        raw,
        contentEncoding: "",
        contentType: "",
      }),
    )
    .finish();
  return Buffer.concat([PROTOBUF_MAGIC, body]);
}

function encode(message: string, obj: object): Uint8Array {
  const t = protoRoot().lookupType(`k8s.${message}`);
  return t.encode(t.fromObject(obj)).finish();
}

test("KA-PB-2 decodes the observed SelfSubjectAccessReview bytes", () => {
  const bytes = hex(`
    6b387300
    0a32 0a17 ${str("authorization.k8s.io/v1")} 1217 ${str("SelfSubjectAccessReview")}
    123f
      0a10 0a00 1200 1a00 2200 2a00 3200 3800 4200
      1221 0a1f 0a07 ${str("default")} 1206 ${str("create")} 1a00 2200 2a04 ${str("pods")} 3200 3a00
      1a08 0800 1200 1a00 2000
    1a00 2200`);
  assert.deepEqual(decodeProtobufObject(bytes), {
    apiVersion: "authorization.k8s.io/v1",
    kind: "SelfSubjectAccessReview",
    metadata: {},
    spec: { resourceAttributes: { namespace: "default", verb: "create", resource: "pods" } },
    status: {},
  });
});

test("KA-PB-1 decodes a ConfigMap with labels, data and binaryData", () => {
  const raw = encode("ConfigMap", {
    metadata: { name: "cm", namespace: "default", labels: { app: "x" }, creationTimestamp: {} },
    data: { a: "1", b: "two" },
    binaryData: { bin: Buffer.from([0, 1, 2]) },
  });
  assert.deepEqual(decodeProtobufObject(envelope("v1", "ConfigMap", raw)), {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "cm", namespace: "default", labels: { app: "x" } },
    data: { a: "1", b: "two" },
    binaryData: { bin: "AAEC" },
  });
});

test("KA-PB-1 decodes Secret data as base64 and Namespace, ServiceAccount", () => {
  const secret = decodeProtobufObject(
    envelope(
      "v1",
      "Secret",
      encode("Secret", { metadata: { name: "s" }, type: "Opaque", data: { k: Buffer.from("hi") } }),
    ),
  );
  assert.deepEqual(secret, {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "s" },
    type: "Opaque",
    data: { k: "aGk=" },
  });
  const ns = decodeProtobufObject(
    envelope(
      "v1",
      "Namespace",
      encode("Namespace", { metadata: { name: "n" }, spec: {}, status: {} }),
    ),
  );
  assert.deepEqual(ns, {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: "n" },
    spec: {},
    status: {},
  });
  const sa = decodeProtobufObject(
    envelope(
      "v1",
      "ServiceAccount",
      encode("ServiceAccount", { metadata: { name: "sa" }, imagePullSecrets: [{ name: "reg" }] }),
    ),
  );
  assert.deepEqual(sa, {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: { name: "sa" },
    imagePullSecrets: [{ name: "reg" }],
  });
});

test("KA-PB-1 decodes a Service with an IntOrString targetPort", () => {
  const raw = encode("Service", {
    metadata: { name: "svc" },
    spec: {
      ports: [
        { name: "http", protocol: "TCP", port: 80, targetPort: { type: 0, intVal: 8080 } },
        { name: "named", port: 81, targetPort: { type: 1, strVal: "web" } },
      ],
      selector: { app: "svc" },
      type: "ClusterIP",
      sessionAffinity: "ClientIP",
      sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } },
    },
  });
  assert.deepEqual(decodeProtobufObject(envelope("v1", "Service", raw)), {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "svc" },
    spec: {
      ports: [
        { name: "http", protocol: "TCP", port: 80, targetPort: 8080 },
        { name: "named", port: 81, targetPort: "web" },
      ],
      selector: { app: "svc" },
      type: "ClusterIP",
      sessionAffinity: "ClientIP",
      sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } },
    },
  });
});

test("KA-PB-1 decodes a Deployment (kubectl create deployment) with inlined embedded structs", () => {
  const raw = encode("Deployment", {
    metadata: { name: "x", labels: { app: "x" }, creationTimestamp: { seconds: 1700000000 } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: "x" } },
      template: {
        metadata: { labels: { app: "x" } },
        spec: {
          containers: [
            {
              name: "nginx",
              image: "nginx",
              resources: { limits: { cpu: { string: "100m" } } },
              env: [
                {
                  name: "A",
                  valueFrom: {
                    configMapKeyRef: { localObjectReference: { name: "cm" }, key: "k" },
                  },
                },
              ],
              readinessProbe: {
                handler: { httpGet: { path: "/", port: { type: 0, intVal: 80 } } },
                periodSeconds: 5,
              },
            },
          ],
          volumes: [{ name: "v", volumeSource: { emptyDir: {} } }],
        },
      },
      strategy: {},
    },
  });
  assert.deepEqual(decodeProtobufObject(envelope("apps/v1", "Deployment", raw)), {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "x", labels: { app: "x" }, creationTimestamp: "2023-11-14T22:13:20Z" },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: "x" } },
      template: {
        metadata: { labels: { app: "x" } },
        spec: {
          containers: [
            {
              name: "nginx",
              image: "nginx",
              resources: { limits: { cpu: "100m" } },
              env: [{ name: "A", valueFrom: { configMapKeyRef: { name: "cm", key: "k" } } }],
              readinessProbe: { httpGet: { path: "/", port: 80 }, periodSeconds: 5 },
            },
          ],
          volumes: [{ name: "v", emptyDir: {} }],
        },
      },
      strategy: {},
    },
  });
});

test("KA-PB-1 decodes managedFields with FieldsV1 JSON", () => {
  const raw = encode("Pod", {
    metadata: {
      name: "p",
      managedFields: [
        {
          manager: "m",
          operation: "Update",
          fieldsType: "FieldsV1",
          fieldsV1: { Raw: Buffer.from('{"f:spec":{}}') },
        },
      ],
    },
    spec: { containers: [{ name: "c", image: "busybox" }] },
  });
  const pod = decodeProtobufObject(envelope("v1", "Pod", raw));
  assert.deepEqual((pod["metadata"] as { managedFields: unknown }).managedFields, [
    { manager: "m", operation: "Update", fieldsType: "FieldsV1", fieldsV1: { "f:spec": {} } },
  ]);
});

test("unknown protobuf kind is 415, bad magic is 400", () => {
  assert.throws(
    () => decodeProtobufObject(envelope("v1", "Node", new Uint8Array())),
    (err: unknown) => hasReason(err, "UnsupportedMediaType"),
  );
  assert.throws(
    () => decodeProtobufObject(Buffer.from("{}")),
    (err: unknown) => hasReason(err, "BadRequest"),
  );
});

test("decodeBody turns protobuf bodies into JSON objects", () => {
  const raw = envelope("v1", "ConfigMap", encode("ConfigMap", { metadata: { name: "cm" } }));
  const d = decodeBody(raw, "application/vnd.kubernetes.protobuf", { isPatch: false });
  assert.equal(d.contentType, "application/json");
  assert.deepEqual(d.body, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "cm" } });
});
