import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeProtobufObject, PROTOBUF_MAGIC, protoRoot } from "./protobuf.js";

function envelope(apiVersion: string, kind: string, message: string, obj: object): Uint8Array {
  const t = protoRoot().lookupType(`k8s.${message}`);
  const raw = t.encode(t.fromObject(obj)).finish();
  const unknown = protoRoot().lookupType("k8s.Unknown");
  const body = unknown.encode(unknown.fromObject({ typeMeta: { apiVersion, kind }, raw })).finish();
  return Buffer.concat([PROTOBUF_MAGIC, body]);
}

test("decodes a protobuf RoleBinding as kubectl create rolebinding sends it", () => {
  const bytes = envelope("rbac.authorization.k8s.io/v1", "RoleBinding", "RoleBinding", {
    metadata: { name: "viewers" },
    subjects: [{ kind: "ServiceAccount", apiGroup: "", name: "robot", namespace: "default" }],
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "view" },
  });
  assert.deepEqual(decodeProtobufObject(bytes), {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name: "viewers" },
    subjects: [{ kind: "ServiceAccount", name: "robot", namespace: "default" }],
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "view" },
  });
});

test("decodes a protobuf ClusterRole with resource and non-resource rules", () => {
  const bytes = envelope("rbac.authorization.k8s.io/v1", "ClusterRole", "ClusterRole", {
    metadata: { name: "reader" },
    rules: [
      { verbs: ["get"], apiGroups: [""], resources: ["pods"], resourceNames: ["a"] },
      { verbs: ["get"], nonResourceURLs: ["/healthz"] },
    ],
  });
  const obj = decodeProtobufObject(bytes) as { rules?: unknown[] };
  assert.deepEqual(obj.rules, [
    { verbs: ["get"], apiGroups: [""], resources: ["pods"], resourceNames: ["a"] },
    { verbs: ["get"], nonResourceURLs: ["/healthz"] },
  ]);
});
