import assert from "node:assert/strict";
import { test } from "node:test";
import { ApiError } from "../errors.js";
import type { KubeObject } from "../meta.js";
import { admissionValidate, apiAdmission } from "./admission.js";

function body(spec: unknown): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web", namespace: "default" },
    spec,
  } as KubeObject;
}

test("KA-CREATE-3 Strict mode rejects unknown fields with 400", () => {
  const obj = body({ containers: [{ name: "app", image: "nginx", bogusField: 1 }] });
  apiAdmission.default("Pod", "", obj);
  assert.throws(
    () => apiAdmission.validate("Pod", "", obj, undefined, { fieldValidation: "Strict" }),
    (err: unknown) =>
      err instanceof ApiError &&
      err.code === 400 &&
      err.message ===
        'Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.containers[0].bogusField"',
  );
  assert.deepEqual(admissionValidate("Pod", "", obj, undefined, { fieldValidation: "Ignore" }), []);
});

test("wrong JSON types are a 400 in every mode, and defaulting does not crash on them", () => {
  const bad: unknown[] = [
    { containers: "nginx" },
    {
      containers: [{ name: "a", image: "x", env: "A=1", ports: "80", resources: "big" }],
      tolerations: "x",
    },
    "spec",
  ];
  for (const spec of bad) {
    const obj = body(spec);
    apiAdmission.default("Pod", "", obj);
    assert.throws(
      () => apiAdmission.validate("Pod", "", obj, undefined, { fieldValidation: "Ignore" }),
      (err: unknown) =>
        err instanceof ApiError &&
        err.reason === "BadRequest" &&
        err.message.includes("json: cannot unmarshal"),
      JSON.stringify(spec),
    );
  }
  const first = body({ containers: "nginx" });
  assert.throws(
    () => admissionValidate("Pod", "", first, undefined, { fieldValidation: "Strict" }),
    {
      message:
        'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal string into Go struct field PodSpec.spec.containers of type []v1.Container',
    },
  );
  const secret = {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "s", namespace: "d" },
    data: "x",
    stringData: { a: "b" },
  } as KubeObject;
  apiAdmission.default("Secret", "", secret);
  assert.throws(
    () => admissionValidate("Secret", "", secret, undefined, { fieldValidation: "Strict" }),
    ApiError,
  );
});

test("valid objects pass through to validateObject", () => {
  const obj = body({ containers: [{ name: "App", image: "nginx" }] });
  apiAdmission.default("Pod", "", obj);
  const errs = admissionValidate("Pod", "", obj, undefined, { fieldValidation: "Strict" });
  assert.equal(errs.length, 1);
  assert.equal(errs[0]?.field, "spec.containers[0].name");
});
