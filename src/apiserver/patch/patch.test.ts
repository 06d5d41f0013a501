import assert from "node:assert/strict";
import { test } from "node:test";
import { isInvalid, hasReason } from "../../api/index.js";
import { applyPatch } from "./apply-patch.js";

const POD = { group: "", kind: "Pod" };
const DEPLOY = { group: "apps", kind: "Deployment" };

function pod(): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web", labels: { app: "web", tier: "fe" }, finalizers: ["a", "b"] },
    spec: {
      containers: [
        { name: "c1", image: "nginx:1.25", ports: [{ containerPort: 80 }], args: ["a", "b"] },
        { name: "c2", image: "busybox", env: [{ name: "X", value: "1" }] },
      ],
      volumes: [{ name: "v", emptyDir: {} }],
      tolerations: [{ key: "k" }],
    },
  };
}

test("KA-PATCH-2 merge patch merges maps, null deletes, lists replace", () => {
  const out = applyPatch(
    "application/merge-patch+json",
    pod(),
    { metadata: { labels: { tier: null, new: "x" } }, spec: { containers: [{ name: "only" }] } },
    POD,
  ) as unknown as Doc;
  assert.deepEqual(out.metadata.labels, { app: "web", new: "x" });
  assert.deepEqual(out.spec.containers, [{ name: "only" }]);
});

test("merge patch does not modify its input", () => {
  const orig = pod();
  const copy = structuredClone(orig);
  applyPatch("application/merge-patch+json", orig, { metadata: { labels: null } }, POD);
  assert.deepEqual(orig, copy);
});

test("KA-PATCH-1 unknown patch content type is 415 UnsupportedMediaType", () => {
  assert.throws(
    () => applyPatch("application/xml", pod(), {}, POD),
    (err: unknown) =>
      hasReason(err, "UnsupportedMediaType") &&
      err.code === 415 &&
      err.message.includes("accepted media types include"),
  );
});

test("json patch add/remove/replace/move/copy/test", () => {
  const out = applyPatch(
    "application/json-patch+json",
    { a: { b: 1 }, list: [1, 2, 3], x: "y" },
    [
      { op: "add", path: "/a/c", value: 2 },
      { op: "add", path: "/list/-", value: 4 },
      { op: "add", path: "/list/0", value: 0 },
      { op: "remove", path: "/list/1" },
      { op: "replace", path: "/x", value: "z" },
      { op: "move", from: "/a/b", path: "/moved" },
      { op: "copy", from: "/a", path: "/copied" },
      { op: "test", path: "/x", value: "z" },
      { op: "add", path: "/esc~1aped", value: true },
    ],
    POD,
  );
  assert.deepEqual(out, {
    a: { c: 2 },
    list: [0, 2, 3, 4],
    x: "z",
    moved: 1,
    copied: { c: 2 },
    "esc/aped": true,
  });
});

test("KA-PATCH-5 json patch test failure is 422 Invalid", () => {
  assert.throws(
    () =>
      applyPatch(
        "application/json-patch+json",
        { x: 1 },
        [{ op: "test", path: "/x", value: 2 }],
        POD,
      ),
    (err: unknown) => isInvalid(err) && err.code === 422 && err.message.includes("test failed"),
  );
});

test("KA-PATCH-5 json patch on a missing path is 422 Invalid", () => {
  for (const op of [
    { op: "replace", path: "/nope", value: 1 },
    { op: "remove", path: "/a/b" },
    { op: "add", path: "/a/b/c", value: 1 },
    { op: "replace", path: "/list/5", value: 1 },
    { op: "frobnicate", path: "/x" },
  ]) {
    assert.throws(
      () => applyPatch("application/json-patch+json", { list: [] }, [op], POD),
      isInvalid,
      JSON.stringify(op),
    );
  }
});

test("json patch body that is not a list is 400 BadRequest", () => {
  assert.throws(
    () => applyPatch("application/json-patch+json", {}, { op: "add" }, POD),
    (err: unknown) => hasReason(err, "BadRequest"),
  );
});

interface C {
  name: string;
  image?: string;
  ports?: unknown;
  env?: unknown;
  args?: unknown;
}
interface Doc {
  metadata: { labels?: unknown; finalizers?: unknown };
  spec: {
    containers: C[];
    tolerations?: unknown;
    volumes?: unknown;
    ports: unknown[];
    template: { spec: { containers: C[] } };
  };
  status: { conditions: unknown };
}

function smp(patch: unknown, orig: object = pod(), target = POD): Doc {
  return applyPatch("application/strategic-merge-patch+json", orig, patch, target) as Doc;
}

test("KA-PATCH-3 SMP merges containers by name and keeps others", () => {
  const out = smp({ spec: { containers: [{ name: "c1", image: "nginx:1.26" }] } });
  assert.equal(out.spec.containers.length, 2);
  assert.equal(out.spec.containers[0]?.image, "nginx:1.26");
  assert.deepEqual(out.spec.containers[0].ports, [{ containerPort: 80 }]);
  assert.equal(out.spec.containers[1]?.image, "busybox");
});

test("KA-PATCH-3 SMP appends a new keyed element and merges env by name", () => {
  const out = smp({
    spec: {
      containers: [
        {
          name: "c2",
          env: [
            { name: "Y", value: "2" },
            { name: "X", value: "9" },
          ],
        },
        { name: "c3", image: "alpine" },
      ],
    },
  });
  assert.deepEqual(out.spec.containers[1]?.env, [
    { name: "X", value: "9" },
    { name: "Y", value: "2" },
  ]);
  assert.deepEqual(out.spec.containers[2], { name: "c3", image: "alpine" });
});

test("KA-APPLY-2 SMP $patch delete removes a keyed element and null deletes a key", () => {
  const out = smp({
    metadata: { labels: null },
    spec: {
      containers: [
        { $patch: "delete", name: "c2" },
        { name: "c1", ports: null },
      ],
    },
  });
  assert.equal(out.metadata.labels, undefined);
  assert.deepEqual(out.spec.containers, [{ name: "c1", image: "nginx:1.25", args: ["a", "b"] }]);
});

test("KA-PATCH-3 SMP replaces lists without merge key (args, tolerations)", () => {
  const out = smp({
    spec: { tolerations: [{ key: "z" }], containers: [{ name: "c1", args: ["z"] }] },
  });
  assert.deepEqual(out.spec.tolerations, [{ key: "z" }]);
  assert.deepEqual(out.spec.containers[0]?.args, ["z"]);
});

test("KA-PATCH-3 SMP $setElementOrder reorders a merge-keyed list", () => {
  const out = smp({
    spec: {
      $setElementOrder: undefined,
      "$setElementOrder/containers": [{ name: "c2" }, { name: "c1" }],
      containers: [{ name: "c1", image: "nginx:1.27" }],
    },
  });
  assert.deepEqual(
    out.spec.containers.map((c: { name: string }) => c.name),
    ["c2", "c1"],
  );
  assert.equal(out.spec.containers[1]?.image, "nginx:1.27");
});

test("KA-PATCH-3 set image on a Deployment merges into spec.template.spec.containers", () => {
  const deploy = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "x" },
    spec: {
      template: {
        spec: { containers: [{ name: "x", image: "nginx:1.25", ports: [{ containerPort: 80 }] }] },
      },
    },
  };
  const out = smp(
    {
      spec: {
        template: {
          spec: {
            "$setElementOrder/containers": [{ name: "x" }],
            containers: [{ image: "nginx:1.27", name: "x" }],
          },
        },
      },
    },
    deploy,
    DEPLOY,
  );
  assert.deepEqual(out.spec.template.spec.containers, [
    { name: "x", image: "nginx:1.27", ports: [{ containerPort: 80 }] },
  ]);
});

test("KA-PATCH-3 SMP finalizers merge as a set; $deleteFromPrimitiveList removes", () => {
  const out = smp({
    metadata: { finalizers: ["b", "c"], "$deleteFromPrimitiveList/finalizers": ["a"] },
  });
  assert.deepEqual(out.metadata.finalizers, ["b", "c"]);
});

test("KA-PATCH-3 SMP $patch replace on a map replaces it", () => {
  const out = smp({ metadata: { labels: { $patch: "replace", only: "x" } } });
  assert.deepEqual(out.metadata.labels, { only: "x" });
});

test("KA-PATCH-3 SMP $patch replace inside a list replaces the list", () => {
  const out = smp({ spec: { containers: [{ $patch: "replace" }, { name: "n", image: "i" }] } });
  assert.deepEqual(out.spec.containers, [{ name: "n", image: "i" }]);
});

test("KA-PATCH-3 SMP $retainKeys on volumes drops keys not listed", () => {
  const out = smp({
    spec: {
      volumes: [{ name: "v", $retainKeys: ["configMap", "name"], configMap: { name: "cm" } }],
    },
  });
  assert.deepEqual(out.spec.volumes, [{ name: "v", configMap: { name: "cm" } }]);
});

test("KA-PATCH-3 SMP merges Service ports by port and pod conditions by type", () => {
  const svc = {
    kind: "Service",
    metadata: {},
    spec: {
      ports: [
        { port: 80, name: "http" },
        { port: 443, name: "https" },
      ],
    },
  };
  const out = smp({ spec: { ports: [{ port: 443, targetPort: 8443 }] } }, svc, {
    group: "",
    kind: "Service",
  });
  assert.deepEqual(out.spec.ports[1], { port: 443, name: "https", targetPort: 8443 });
  const withStatus = {
    ...pod(),
    status: {
      conditions: [
        { type: "Ready", status: "False" },
        { type: "X", status: "True" },
      ],
    },
  };
  const out2 = smp({ status: { conditions: [{ type: "Ready", status: "True" }] } }, withStatus);
  assert.deepEqual(out2.status.conditions, [
    { type: "Ready", status: "True" },
    { type: "X", status: "True" },
  ]);
});

test("SMP element without its merge key is 400 BadRequest", () => {
  assert.throws(
    () => smp({ spec: { containers: [{ image: "x" }] } }),
    (err: unknown) => hasReason(err, "BadRequest") && err.message.includes("merge key"),
  );
});

test("SMP new keyed element with $patch directives nested is stripped", () => {
  const out = smp({ spec: { containers: [{ name: "c9", env: [{ name: "A", value: null }] }] } });
  assert.deepEqual(out.spec.containers[2], { name: "c9", env: [{ name: "A" }] });
});
