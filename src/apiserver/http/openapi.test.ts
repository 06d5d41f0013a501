import assert from "node:assert/strict";
import { test } from "node:test";
import { hasReason } from "../../api/index.js";
import { openApiIndex, serveOpenApi } from "./openapi.js";

interface Doc {
  paths: Record<
    string,
    Record<string, { parameters?: { name: string }[]; "x-kubernetes-group-version-kind"?: unknown }>
  >;
  components: {
    schemas: Record<
      string,
      {
        description?: string;
        properties?: Record<
          string,
          { description?: string; "x-kubernetes-patch-merge-key"?: string }
        >;
        "x-kubernetes-group-version-kind"?: unknown;
      }
    >;
  };
}

function fetchDoc(path: string): Doc {
  const r = serveOpenApi({ method: "GET", path, query: { hash: "x" } });
  assert.equal(r.status, 200);
  assert.ok(r.body instanceof Uint8Array);
  return JSON.parse(Buffer.from(r.body).toString()) as Doc;
}

test("KA-OAPI-1 index lists api/v1 with a hashed serverRelativeURL", () => {
  const idx = openApiIndex();
  assert.match(
    idx.paths["api/v1"]?.serverRelativeURL ?? "",
    /^\/openapi\/v3\/api\/v1\?hash=[0-9A-F]{16}$/,
  );
  assert.ok(idx.paths["apis/coordination.k8s.io/v1"]);
});

test("KA-OAPI-2 the pod PATCH operation carries GVK and a fieldValidation parameter", () => {
  const doc = fetchDoc("/openapi/v3/api/v1");
  const patch = doc.paths["/api/v1/namespaces/{namespace}/pods/{name}"]?.["patch"];
  assert.deepEqual(patch?.["x-kubernetes-group-version-kind"], {
    group: "",
    version: "v1",
    kind: "Pod",
  });
  assert.ok(patch.parameters?.some((p) => p.name === "fieldValidation"));
});

test("KA-OAPI-4 schemas carry GVK, descriptions and patch merge keys", () => {
  const doc = fetchDoc("/openapi/v3/api/v1");
  const pod = doc.components.schemas["io.k8s.api.core.v1.Pod"];
  assert.deepEqual(pod?.["x-kubernetes-group-version-kind"], [
    { group: "", version: "v1", kind: "Pod" },
  ]);
  const init = doc.components.schemas["io.k8s.api.core.v1.PodSpec"]?.properties?.["initContainers"];
  assert.match(init?.description ?? "", /^List of initialization containers belonging to the pod/);
  assert.equal(init?.["x-kubernetes-patch-merge-key"], "name");
});

test("KA-OAPI-3 /openapi/v2 is 200 with an empty octet-stream body; unknown docs are 404", () => {
  const r = serveOpenApi({ method: "GET", path: "/openapi/v2" });
  assert.equal(r.contentType, "application/octet-stream");
  assert.deepEqual(r.body, new Uint8Array());
  assert.throws(
    () => serveOpenApi({ method: "GET", path: "/openapi/v3/apis/nope/v1" }),
    (err: unknown) => hasReason(err, "NotFound"),
  );
});
