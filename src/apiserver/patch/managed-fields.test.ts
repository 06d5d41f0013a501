import assert from "node:assert/strict";
import { test } from "node:test";
import { isConflict, type KubeObject } from "../../api/index.js";
import { serverSideApply, updateManagedFields } from "./managed-fields.js";
import { fieldsOf, fromFieldsV1, toFieldsV1 } from "./field-set.js";

const NOW = "2026-01-01T00:00:00Z";
const opts = (manager: string, force = false) => ({
  manager,
  force,
  apiVersion: "v1",
  nowIso: NOW,
});

function applied(image: string, extra: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "p2", namespace: "default", labels: { app: "p2" } },
    spec: { containers: [{ name: "c1", image, ...extra }] },
  } as KubeObject;
}

test("KA-SSA-1 apply to a missing object creates it with an Apply managedFields entry", () => {
  const out = serverSideApply(undefined, applied("nginx:1.25"), opts("kubectl"));
  const mf = out.metadata.managedFields ?? [];
  assert.equal(mf.length, 1);
  assert.deepEqual(
    { ...mf[0], fieldsV1: undefined },
    {
      manager: "kubectl",
      operation: "Apply",
      apiVersion: "v1",
      time: NOW,
      fieldsType: "FieldsV1",
      fieldsV1: undefined,
    },
  );
  assert.deepEqual(mf[0]?.fieldsV1, {
    "f:metadata": { "f:labels": { "f:app": {} } },
    "f:spec": {
      "f:containers": { 'k:{"name":"c1"}': { ".": {}, "f:image": {}, "f:name": {} } },
    },
  });
  assert.equal(
    (out as unknown as { spec: { containers: { image: string }[] } }).spec.containers[0]?.image,
    "nginx:1.25",
  );
});

test("KA-SSA-4 apply conflicting with another manager is 409 with FieldManagerConflict causes", () => {
  const created = updateManagedFields(
    undefined,
    applied("nginx:1.25"),
    "kubectl-client-side-apply",
    NOW,
  );
  assert.throws(
    () => serverSideApply(created, applied("nginx:1.26"), opts("kubectl")),
    (err: unknown) => {
      assert.ok(isConflict(err));
      assert.equal(
        err.message,
        'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using v1: .spec.containers[name="c1"].image',
      );
      assert.deepEqual(err.details?.causes, [
        {
          reason: "FieldManagerConflict",
          message: 'conflict with "kubectl-client-side-apply" using v1',
          field: '.spec.containers[name="c1"].image',
        },
      ]);
      return true;
    },
  );
});

test("KA-SSA-4 same value is shared, not a conflict", () => {
  const created = updateManagedFields(undefined, applied("nginx:1.25"), "other", NOW);
  const out = serverSideApply(created, applied("nginx:1.25"), opts("kubectl"));
  assert.equal(out.metadata.managedFields?.length, 2);
});

test("KA-SSA-3 force moves ownership of conflicting fields", () => {
  const created = updateManagedFields(undefined, applied("nginx:1.25"), "other", NOW);
  const out = serverSideApply(created, applied("nginx:1.26"), opts("kubectl", true));
  const spec = (out as unknown as { spec: { containers: { image: string }[] } }).spec;
  assert.equal(spec.containers[0]?.image, "nginx:1.26");
  const other = out.metadata.managedFields?.find((m) => m.manager === "other");
  const otherFields = fromFieldsV1(other?.fieldsV1);
  assert.ok(
    !otherFields.has(JSON.stringify(["f:spec", "f:containers", 'k:{"name":"c1"}', "f:image"])),
  );
  assert.ok(otherFields.has(JSON.stringify(["f:metadata", "f:labels", "f:app"])));
});

test("apply by the same manager updates without conflict and removes dropped fields", () => {
  const first = serverSideApply(undefined, applied("nginx:1.25", { args: ["x"] }), opts("kubectl"));
  const second = serverSideApply(first, applied("nginx:1.26"), opts("kubectl"));
  const c = (second as unknown as { spec: { containers: Record<string, unknown>[] } }).spec
    .containers[0];
  assert.deepEqual(c, { name: "c1", image: "nginx:1.26" });
  assert.equal(second.metadata.managedFields?.length, 1);
});

test("apply keeps a dropped field that another manager also owns", () => {
  const first = serverSideApply(undefined, applied("nginx:1.25", { args: ["x"] }), opts("a"));
  const both = serverSideApply(first, applied("nginx:1.25", { args: ["x"] }), opts("b"));
  const out = serverSideApply(both, applied("nginx:1.25"), opts("a"));
  const c = (out as unknown as { spec: { containers: Record<string, unknown>[] } }).spec
    .containers[0];
  assert.deepEqual(c?.["args"], ["x"]);
});

test("apply merges into keyed lists and keeps other managers' elements", () => {
  const base = updateManagedFields(
    undefined,
    {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "p2" },
      spec: { containers: [{ name: "c0", image: "busybox" }] },
    } as KubeObject,
    "kubectl-create",
    NOW,
  );
  const out = serverSideApply(base, applied("nginx"), opts("kubectl"));
  const names = (
    out as unknown as { spec: { containers: { name: string }[] } }
  ).spec.containers.map((c) => c.name);
  assert.deepEqual(names, ["c0", "c1"]);
});

test("updateManagedFields moves changed fields to the updater and drops removed ones", () => {
  const created = updateManagedFields(undefined, applied("nginx:1.25"), "creator", NOW);
  const next = structuredClone(created) as unknown as {
    metadata: { labels?: unknown };
    spec: { containers: { image: string }[] };
  };
  next.spec.containers[0]!.image = "nginx:1.26";
  delete next.metadata.labels;
  const out = updateManagedFields(
    created,
    next as unknown as KubeObject,
    "editor",
    "2026-01-02T00:00:00Z",
  );
  const mf = out.metadata.managedFields ?? [];
  assert.deepEqual(
    mf.map((m) => [m.manager, m.operation]),
    [
      ["creator", "Update"],
      ["editor", "Update"],
    ],
  );
  assert.deepEqual(mf[1]?.fieldsV1, {
    "f:spec": { "f:containers": { 'k:{"name":"c1"}': { "f:image": {} } } },
  });
  assert.equal(mf[1].time, "2026-01-02T00:00:00Z");
  assert.deepEqual(mf[0]?.fieldsV1, {
    "f:spec": { "f:containers": { 'k:{"name":"c1"}': { ".": {}, "f:name": {} } } },
  });
});

test("updateManagedFields with no change keeps entries as they were", () => {
  const created = updateManagedFields(undefined, applied("nginx:1.25"), "creator", NOW);
  const out = updateManagedFields(created, structuredClone(created), "editor", "later");
  assert.deepEqual(out.metadata.managedFields, created.metadata.managedFields);
});

test("FieldsV1 round-trips and ignores identity fields", () => {
  const obj = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: "x",
      uid: "u",
      resourceVersion: "1",
      finalizers: ["f1"],
      ownerReferences: [{ uid: "o", name: "n" }],
    },
    spec: { containers: [{ name: "c", ports: [{ containerPort: 80 }] }] },
    status: { phase: "Running" },
  };
  const set = fieldsOf(obj, { group: "", kind: "Pod" });
  const tree = toFieldsV1(set);
  assert.deepEqual(tree, {
    "f:metadata": {
      "f:finalizers": { 'v:"f1"': {} },
      "f:ownerReferences": { 'k:{"uid":"o"}': { ".": {}, "f:name": {}, "f:uid": {} } },
    },
    "f:spec": {
      "f:containers": {
        'k:{"name":"c"}': {
          ".": {},
          "f:name": {},
          "f:ports": { 'k:{"containerPort":80}': { ".": {}, "f:containerPort": {} } },
        },
      },
    },
  });
  assert.deepEqual(fromFieldsV1(tree), set);
});
