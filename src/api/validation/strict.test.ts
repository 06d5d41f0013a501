import assert from "node:assert/strict";
import { test } from "node:test";
import { checkDecode, findTypeError, findUnknownFields, strictDecodingError } from "./strict.js";

test("KA-CREATE-3 findUnknownFields names unknown fields with indexed paths", () => {
  const body = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "p", labels: { a: "b" }, bogusMeta: 1 },
    spec: {
      containers: [
        { name: "a", image: "x" },
        { name: "b", image: "y", bogusField: true, ports: [{ containerPort: 80, extra: 1 }] },
      ],
      volumes: [{ name: "v", emptyDir: { medium: "", nope: 1 } }],
    },
    topLevel: 1,
  };
  assert.deepEqual(findUnknownFields("Pod", "", body), [
    "metadata.bogusMeta",
    "spec.containers[1].bogusField",
    "spec.containers[1].ports[0].extra",
    "spec.volumes[0].emptyDir.nope",
    "topLevel",
  ]);
});

test("known fields across kinds are accepted", () => {
  const cases: [string, string, unknown][] = [
    [
      "Service",
      "",
      {
        metadata: { name: "s" },
        spec: { ports: [{ port: 80, targetPort: "http" }], selector: { a: "b" } },
      },
    ],
    ["ConfigMap", "", { metadata: { name: "c" }, data: { k: "v" }, immutable: true }],
    ["Secret", "", { metadata: { name: "s" }, stringData: { k: "v" }, type: "Opaque" }],
    [
      "Lease",
      "coordination.k8s.io",
      { metadata: { name: "l" }, spec: { holderIdentity: "n", leaseDurationSeconds: 40 } },
    ],
    ["Namespace", "", { metadata: { name: "n" }, spec: { finalizers: ["kubernetes"] } }],
    ["Unknown", "", { anything: 1 }],
  ];
  for (const [kind, group, body] of cases)
    assert.deepEqual(checkDecode(kind, group, body), { unknownFields: [] }, kind);
});

test("wrong JSON types are reported as Go's decoder words them", () => {
  assert.equal(
    findTypeError("Pod", "", { metadata: { name: "p" }, spec: { containers: "nginx" } }),
    "json: cannot unmarshal string into Go struct field PodSpec.spec.containers of type []v1.Container",
  );
  assert.equal(
    findTypeError("Pod", "", { metadata: { name: "p" }, spec: { containers: [{ name: 5 }] } }),
    "json: cannot unmarshal number into Go struct field Container.spec.containers.name of type string",
  );
  assert.equal(
    findTypeError("Pod", "", { metadata: { name: "p", labels: { a: 1 } } }),
    "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string",
  );
  assert.equal(
    findTypeError("Pod", "", { metadata: { name: "p", labels: "a=b" } }),
    "json: cannot unmarshal string into Go struct field ObjectMeta.metadata.labels of type map[string]string",
  );
  assert.equal(findTypeError("Pod", "", { metadata: null, spec: { containers: null } }), undefined);
});

test("strictDecodingError builds the 400 message", () => {
  const err = strictDecodingError("Pod", "v1", ["spec.containers[0].bogusField"]);
  assert.equal(err.code, 400);
  assert.equal(err.reason, "BadRequest");
  assert.equal(
    err.message,
    'Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.containers[0].bogusField"',
  );
  assert.equal(
    strictDecodingError("Pod", "v1", ["a", "b"]).message,
    'Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "a", unknown field "b"',
  );
});
